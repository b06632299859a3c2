/* Benchmark guest: one statement, so what is measured is the per-migration overhead. */
#include "db_migrate.h"

static int up(dbm_error *err) { return dbm_execute("CREATE TABLE bench_lang (id INTEGER)", NULL, 0, NULL, err); }
static int down(dbm_error *err) { return dbm_execute("DROP TABLE bench_lang", NULL, 0, NULL, err); }

DBM_EXPORT_MIGRATION("one statement", up, down)

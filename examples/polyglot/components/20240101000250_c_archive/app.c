/* C: an archive of the first notes, written through a bulk insert. */
#include "db_migrate.h"

#include <string.h>

static int up(dbm_error *err) {
    if (dbm_execute("CREATE TABLE archive (id INTEGER PRIMARY KEY, body VARCHAR(200) NOT NULL)", NULL, 0, NULL, err)) return 1;
    dbm_rows *notes;
    if (dbm_query("SELECT id, body FROM notes ORDER BY id LIMIT 3", NULL, 0, &notes, err)) return 1;
    size_t n = dbm_rows_count(notes);
    dbm_value values[6];
    int id = dbm_rows_column(notes, "id"), body = dbm_rows_column(notes, "body");
    for (size_t r = 0; r < n; r++) {
        values[r * 2] = dbm_rows_get(notes, r, (size_t)id);
        values[r * 2 + 1] = dbm_rows_get(notes, r, (size_t)body);
    }
    const char *insert = strcmp(dbm_dialect(), "postgres") == 0 ? "INSERT INTO archive (id, body) VALUES ($1, $2)" : "INSERT INTO archive (id, body) VALUES (?, ?)";
    /* A bulk insert (one COPY on PostgreSQL); dbm_execute_batch would do for three rows too. */
    uint64_t written = 0;
    dbm_bulk *bulk = NULL;
    int failed = dbm_bulk_open(insert, &bulk, err);
    if (!failed) {
        failed = dbm_bulk_write(bulk, values, n, 2, err);
        int unfinished = dbm_bulk_finish(bulk, &written, failed ? NULL : err);
        failed = failed || unfinished;
    }
    dbm_rows_free(notes);
    if (failed) return 1;
    if (dbm_execute("INSERT INTO tags (name) VALUES ('c')", NULL, 0, NULL, err)) return 1;
    dbm_log_info("c archived %llu notes", (unsigned long long)written);
    const char *fail = dbm_arg("fail");
    if (fail && strcmp(fail, "c") == 0) return dbm_fail(err, "C failed on purpose");
    return 0;
}

static int down(dbm_error *err) {
    if (dbm_execute("DROP TABLE archive", NULL, 0, NULL, err)) return 1;
    return dbm_execute("DELETE FROM tags WHERE name = 'c'", NULL, 0, NULL, err);
}

DBM_EXPORT_MIGRATION("an archive of the first notes, from C", up, down)

/* db-migrate C SDK: write migrations and seeds in C.
 *
 * A migration implements `up` and `down` and exports them with DBM_EXPORT_MIGRATION; a seed
 * implements `run` and exports it with DBM_EXPORT_SEED (and `world = "seed"` in component.toml).
 * `db-migrate build` generates the WIT bindings (wit-bindgen c), compiles with clang for
 * wasm32-wasi and links the component with wasm-component-ld.
 *
 *   #include "db_migrate.h"
 *
 *   static int up(dbm_error *err) {
 *       dbm_value p[] = { dbm_int(1), dbm_text("hello") };
 *       if (dbm_execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)", NULL, 0, NULL, err)) return 1;
 *       return dbm_execute("INSERT INTO notes VALUES (?, ?)", p, 2, NULL, err);
 *   }
 *   static int down(dbm_error *err) { return dbm_execute("DROP TABLE notes", NULL, 0, NULL, err); }
 *
 *   DBM_EXPORT_MIGRATION("notes, from C", up, down)
 *
 * Every call returns 0 on success and non-zero on failure, with `err` filled in; returning
 * non-zero from `up`, `down` or `run` rolls everything back and db-migrate shows `err->message`.
 */
#ifndef DB_MIGRATE_H
#define DB_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- values ------------------------------------------------------------------------------ */

typedef enum { DBM_NULL, DBM_BOOL, DBM_INT, DBM_FLOAT, DBM_TEXT, DBM_BLOB, DBM_TIMESTAMP, DBM_JSON } dbm_kind;

/* A parameter or a value read from a row. Text and blobs are borrowed, not copied: a value read
 * from a row lives as long as the row set. */
typedef struct {
    dbm_kind kind;
    union {
        bool b;
        int64_t i;
        double f;
        struct { const char *ptr; size_t len; } s;
    } v;
} dbm_value;

static inline dbm_value dbm_null(void) { dbm_value x = { DBM_NULL, { 0 } }; return x; }
static inline dbm_value dbm_bool(bool b) { dbm_value x = { DBM_BOOL, { 0 } }; x.v.b = b; return x; }
static inline dbm_value dbm_int(int64_t i) { dbm_value x = { DBM_INT, { 0 } }; x.v.i = i; return x; }
static inline dbm_value dbm_float(double f) { dbm_value x = { DBM_FLOAT, { 0 } }; x.v.f = f; return x; }
dbm_value dbm_text(const char *s);
dbm_value dbm_text_n(const char *s, size_t len);
dbm_value dbm_timestamp(const char *rfc3339);
dbm_value dbm_json(const char *json);

/* ---- errors ------------------------------------------------------------------------------ */

typedef enum { DBM_OK = 0, DBM_ERR_DENIED, DBM_ERR_INVALID_INPUT, DBM_ERR_DATABASE, DBM_ERR_GUEST } dbm_error_kind;
typedef enum { DBM_DB_UNIQUE_VIOLATION, DBM_DB_FOREIGN_KEY_VIOLATION, DBM_DB_NOT_NULL_VIOLATION, DBM_DB_CHECK_VIOLATION, DBM_DB_SYNTAX, DBM_DB_OTHER } dbm_db_error_kind;

typedef struct {
    dbm_error_kind kind;
    dbm_db_error_kind db_kind; /* for DBM_ERR_DATABASE */
    char code[16];             /* SQLSTATE or the driver's code, "" when unknown */
    char message[512];
} dbm_error;

/* Sets a message of the guest's own (printf-style) and returns 1, for `return dbm_fail(err, ...)`. */
int dbm_fail(dbm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline bool dbm_is_unique_violation(const dbm_error *e) { return e->kind == DBM_ERR_DATABASE && e->db_kind == DBM_DB_UNIQUE_VIOLATION; }

/* ---- SQL --------------------------------------------------------------------------------- */

/* "sqlite", "postgres" or "mysql". */
const char *dbm_dialect(void);
/* Runs one statement; `changed` (may be NULL) gets the rows it changed. */
int dbm_execute(const char *sql, const dbm_value *params, size_t n, uint64_t *changed, dbm_error *err);
/* Runs one statement per row: `values` holds `rows * width` values, row after row. */
int dbm_execute_batch(const char *sql, const dbm_value *values, size_t rows, size_t width, uint64_t *changed, dbm_error *err);

/* Rows streamed into one table through one plain `INSERT INTO t (a, b) VALUES (?, ?)` (`$1, $2`
 * on PostgreSQL), without waiting for the database at each write: one COPY on PostgreSQL. A row
 * the database rejects is reported late (by dbm_bulk_finish, or by any other call) and it ends
 * the run, which rolls back; dbm_execute_batch returns such errors instead. */
typedef struct dbm_bulk dbm_bulk;
int dbm_bulk_open(const char *sql, dbm_bulk **out, dbm_error *err);
/* Hands `rows` rows of `width` values (row after row) to the database. */
int dbm_bulk_write(dbm_bulk *bulk, const dbm_value *values, size_t rows, size_t width, dbm_error *err);
/* Waits until the database has taken every row written; `written` (may be NULL) gets how many
 * were written. Frees the bulk insert, whatever it returns. */
int dbm_bulk_finish(dbm_bulk *bulk, uint64_t *written, dbm_error *err);

typedef struct dbm_rows dbm_rows;
/* Runs a query; free the result with dbm_rows_free. */
int dbm_query(const char *sql, const dbm_value *params, size_t n, dbm_rows **out, dbm_error *err);
size_t dbm_rows_count(const dbm_rows *rows);
size_t dbm_rows_width(const dbm_rows *rows);
/* The index of a column by name, or -1. */
int dbm_rows_column(const dbm_rows *rows, const char *name);
dbm_value dbm_rows_get(const dbm_rows *rows, size_t row, size_t column);
void dbm_rows_free(dbm_rows *rows);

/* ---- log, progress, context ---------------------------------------------------------------- */

void dbm_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dbm_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dbm_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* `total` < 0: unknown. */
void dbm_progress(uint64_t done, int64_t total);
/* An argument (`--arg key=value`) or NULL; the string lives until the component returns. */
const char *dbm_arg(const char *key);
uint64_t dbm_random_seed(void);

/* ---- exports ----------------------------------------------------------------------------- */

typedef int (*dbm_step)(dbm_error *err);

typedef struct {
    const char *description;
    bool reversible;
    bool transactional;
    dbm_step up;
    dbm_step down;
} dbm_migration;

/* Defined by DBM_EXPORT_MIGRATION / DBM_EXPORT_SEED. */
extern const dbm_migration dbm_this_migration;
extern const dbm_step dbm_this_seed;

#define DBM_EXPORT_MIGRATION(desc, up_fn, down_fn) \
    const dbm_migration dbm_this_migration = { (desc), true, true, (up_fn), (down_fn) };
#define DBM_EXPORT_MIGRATION_EX(desc, reversible, transactional, up_fn, down_fn) \
    const dbm_migration dbm_this_migration = { (desc), (reversible), (transactional), (up_fn), (down_fn) };
#define DBM_EXPORT_SEED(run_fn) const dbm_step dbm_this_seed = (run_fn);

#ifdef __cplusplus
}
#endif
#endif

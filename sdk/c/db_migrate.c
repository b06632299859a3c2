/* db-migrate C SDK: the layer over the bindings wit-bindgen generates for the world
 * (migration.h, or seed.h with DBM_SEED defined). */
#include "db_migrate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef DBM_SEED
#include "seed.h"
#define W(x) seed_##x
#else
#include "migration.h"
#define W(x) migration_##x
#endif

typedef db_migrate_runtime_types_value_t wvalue;
typedef W(string_t) wstring;

dbm_value dbm_text_n(const char *s, size_t len) { dbm_value x = { DBM_TEXT, { 0 } }; x.v.s.ptr = s; x.v.s.len = len; return x; }
dbm_value dbm_text(const char *s) { return dbm_text_n(s, strlen(s)); }
dbm_value dbm_timestamp(const char *s) { dbm_value x = dbm_text(s); x.kind = DBM_TIMESTAMP; return x; }
dbm_value dbm_json(const char *s) { dbm_value x = dbm_text(s); x.kind = DBM_JSON; return x; }

static wstring borrow(const char *s) { wstring w = { (uint8_t *)s, strlen(s) }; return w; }

static void copy_str(char *dst, size_t cap, const uint8_t *src, size_t len) {
    if (len >= cap) len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = 0;
}

int dbm_fail(dbm_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    err->kind = DBM_ERR_GUEST;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return 1;
}

/* Fills `err` from the host's error and frees it; returns 1. */
static int take_error(db_migrate_runtime_sql_error_t *e, dbm_error *err) {
    dbm_error tmp;
    if (!err) err = &tmp;
    memset(err, 0, sizeof *err);
    switch (e->tag) {
    case DB_MIGRATE_RUNTIME_TYPES_ERROR_DENIED:
        err->kind = DBM_ERR_DENIED;
        copy_str(err->message, sizeof err->message, e->val.denied.ptr, e->val.denied.len);
        break;
    case DB_MIGRATE_RUNTIME_TYPES_ERROR_INVALID_INPUT:
        err->kind = DBM_ERR_INVALID_INPUT;
        copy_str(err->message, sizeof err->message, e->val.invalid_input.ptr, e->val.invalid_input.len);
        break;
    default:
        err->kind = DBM_ERR_DATABASE;
        err->db_kind = (dbm_db_error_kind)e->val.database.kind;
        copy_str(err->message, sizeof err->message, e->val.database.message.ptr, e->val.database.message.len);
        if (e->val.database.code.is_some) copy_str(err->code, sizeof err->code, e->val.database.code.val.ptr, e->val.database.code.val.len);
        break;
    }
    db_migrate_runtime_sql_error_free(e);
    return 1;
}

static void lower(const dbm_value *v, wvalue *out) {
    memset(out, 0, sizeof *out);
    switch (v->kind) {
    case DBM_NULL: out->tag = DB_MIGRATE_RUNTIME_TYPES_VALUE_NULL; break;
    case DBM_BOOL: out->tag = DB_MIGRATE_RUNTIME_TYPES_VALUE_BOOLEAN; out->val.boolean = v->v.b; break;
    case DBM_INT: out->tag = DB_MIGRATE_RUNTIME_TYPES_VALUE_INT; out->val.int_ = v->v.i; break;
    case DBM_FLOAT: out->tag = DB_MIGRATE_RUNTIME_TYPES_VALUE_FLOAT; out->val.float_ = v->v.f; break;
    case DBM_BLOB: out->tag = DB_MIGRATE_RUNTIME_TYPES_VALUE_BLOB; out->val.blob.ptr = (uint8_t *)v->v.s.ptr; out->val.blob.len = v->v.s.len; break;
    case DBM_TIMESTAMP: out->tag = DB_MIGRATE_RUNTIME_TYPES_VALUE_TIMESTAMP; out->val.timestamp.ptr = (uint8_t *)v->v.s.ptr; out->val.timestamp.len = v->v.s.len; break;
    case DBM_JSON: out->tag = DB_MIGRATE_RUNTIME_TYPES_VALUE_JSON; out->val.json.ptr = (uint8_t *)v->v.s.ptr; out->val.json.len = v->v.s.len; break;
    default: out->tag = DB_MIGRATE_RUNTIME_TYPES_VALUE_TEXT; out->val.text.ptr = (uint8_t *)v->v.s.ptr; out->val.text.len = v->v.s.len; break;
    }
}

static dbm_value raise(const wvalue *w) {
    dbm_value v = dbm_null();
    switch (w->tag) {
    case DB_MIGRATE_RUNTIME_TYPES_VALUE_BOOLEAN: v = dbm_bool(w->val.boolean); break;
    case DB_MIGRATE_RUNTIME_TYPES_VALUE_INT: v = dbm_int(w->val.int_); break;
    case DB_MIGRATE_RUNTIME_TYPES_VALUE_FLOAT: v = dbm_float(w->val.float_); break;
    case DB_MIGRATE_RUNTIME_TYPES_VALUE_TEXT: v = dbm_text_n((const char *)w->val.text.ptr, w->val.text.len); break;
    case DB_MIGRATE_RUNTIME_TYPES_VALUE_BLOB: v = dbm_text_n((const char *)w->val.blob.ptr, w->val.blob.len); v.kind = DBM_BLOB; break;
    case DB_MIGRATE_RUNTIME_TYPES_VALUE_TIMESTAMP: v = dbm_text_n((const char *)w->val.timestamp.ptr, w->val.timestamp.len); v.kind = DBM_TIMESTAMP; break;
    case DB_MIGRATE_RUNTIME_TYPES_VALUE_JSON: v = dbm_text_n((const char *)w->val.json.ptr, w->val.json.len); v.kind = DBM_JSON; break;
    default: break;
    }
    return v;
}

const char *dbm_dialect(void) {
    switch (db_migrate_runtime_sql_dialect()) {
    case DB_MIGRATE_RUNTIME_SQL_SQL_DIALECT_POSTGRES: return "postgres";
    case DB_MIGRATE_RUNTIME_SQL_SQL_DIALECT_MYSQL: return "mysql";
    default: return "sqlite";
    }
}

int dbm_execute(const char *sql, const dbm_value *params, size_t n, uint64_t *changed, dbm_error *err) {
    wvalue stack[16];
    wvalue *vals = n <= 16 ? stack : malloc(n * sizeof *vals);
    for (size_t i = 0; i < n; i++) lower(&params[i], &vals[i]);
    db_migrate_runtime_sql_list_value_t list = { vals, n };
    wstring s = borrow(sql);
    uint64_t ret = 0;
    db_migrate_runtime_sql_error_t e;
    bool ok = db_migrate_runtime_sql_execute(&s, &list, &ret, &e);
    if (vals != stack) free(vals);
    if (!ok) return take_error(&e, err);
    if (changed) *changed = ret;
    return 0;
}

/* `rows * width` values, row after row, as the list of rows a call takes; free it with
 * free_rows. */
static db_migrate_runtime_sql_list_list_value_t lower_rows(const dbm_value *values, size_t rows, size_t width) {
    wvalue *vals = malloc((rows * width + 1) * sizeof *vals);
    db_migrate_runtime_sql_list_value_t *lists = malloc((rows + 1) * sizeof *lists);
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < width; c++) lower(&values[r * width + c], &vals[r * width + c]);
        lists[r].ptr = vals + r * width;
        lists[r].len = width;
    }
    if (rows == 0) {
        lists[0].ptr = vals;
        lists[0].len = 0;
    }
    db_migrate_runtime_sql_list_list_value_t all = { lists, rows };
    return all;
}

/* Frees what lower_rows allocated (the values are one block, starting at the first row's). */
static void free_rows(db_migrate_runtime_sql_list_list_value_t *all) {
    free(all->ptr[0].ptr);
    free(all->ptr);
}

int dbm_execute_batch(const char *sql, const dbm_value *values, size_t rows, size_t width, uint64_t *changed, dbm_error *err) {
    db_migrate_runtime_sql_list_list_value_t all = lower_rows(values, rows, width);
    wstring s = borrow(sql);
    uint64_t ret = 0;
    db_migrate_runtime_sql_error_t e;
    bool ok = db_migrate_runtime_sql_execute_batch(&s, &all, &ret, &e);
    free_rows(&all);
    if (!ok) return take_error(&e, err);
    if (changed) *changed = ret;
    return 0;
}

struct dbm_bulk {
    db_migrate_runtime_sql_own_bulk_insert_t handle;
};

int dbm_bulk_open(const char *sql, dbm_bulk **out, dbm_error *err) {
    wstring s = borrow(sql);
    db_migrate_runtime_sql_own_bulk_insert_t h;
    db_migrate_runtime_sql_error_t e;
    if (!db_migrate_runtime_sql_open_bulk_insert(&s, &h, &e)) return take_error(&e, err);
    *out = malloc(sizeof **out);
    (*out)->handle = h;
    return 0;
}

int dbm_bulk_write(dbm_bulk *bulk, const dbm_value *values, size_t rows, size_t width, dbm_error *err) {
    db_migrate_runtime_sql_list_list_value_t all = lower_rows(values, rows, width);
    db_migrate_runtime_sql_error_t e;
    bool ok = db_migrate_runtime_sql_method_bulk_insert_write(db_migrate_runtime_sql_borrow_bulk_insert(bulk->handle), &all, &e);
    free_rows(&all);
    return ok ? 0 : take_error(&e, err);
}

int dbm_bulk_finish(dbm_bulk *bulk, uint64_t *written, dbm_error *err) {
    uint64_t n = 0;
    db_migrate_runtime_sql_error_t e;
    bool ok = db_migrate_runtime_sql_method_bulk_insert_finish(db_migrate_runtime_sql_borrow_bulk_insert(bulk->handle), &n, &e);
    db_migrate_runtime_sql_bulk_insert_drop_own(bulk->handle);
    free(bulk);
    if (!ok) return take_error(&e, err);
    if (written) *written = n;
    return 0;
}

struct dbm_rows {
    db_migrate_runtime_sql_row_set_t set;
};

int dbm_query(const char *sql, const dbm_value *params, size_t n, dbm_rows **out, dbm_error *err) {
    wvalue stack[16];
    wvalue *vals = n <= 16 ? stack : malloc(n * sizeof *vals);
    for (size_t i = 0; i < n; i++) lower(&params[i], &vals[i]);
    db_migrate_runtime_sql_list_value_t list = { vals, n };
    wstring s = borrow(sql);
    dbm_rows *rows = calloc(1, sizeof *rows);
    db_migrate_runtime_sql_error_t e;
    bool ok = db_migrate_runtime_sql_query(&s, &list, &rows->set, &e);
    if (vals != stack) free(vals);
    if (!ok) {
        free(rows);
        return take_error(&e, err);
    }
    *out = rows;
    return 0;
}

size_t dbm_rows_count(const dbm_rows *rows) { return rows->set.rows.len; }
size_t dbm_rows_width(const dbm_rows *rows) { return rows->set.columns.len; }

int dbm_rows_column(const dbm_rows *rows, const char *name) {
    size_t len = strlen(name);
    for (size_t i = 0; i < rows->set.columns.len; i++) {
        if (rows->set.columns.ptr[i].len == len && memcmp(rows->set.columns.ptr[i].ptr, name, len) == 0) return (int)i;
    }
    return -1;
}

dbm_value dbm_rows_get(const dbm_rows *rows, size_t row, size_t column) {
    if (row >= rows->set.rows.len || column >= rows->set.rows.ptr[row].len) return dbm_null();
    return raise(&rows->set.rows.ptr[row].ptr[column]);
}

void dbm_rows_free(dbm_rows *rows) {
    if (!rows) return;
    db_migrate_runtime_sql_row_set_free(&rows->set);
    free(rows);
}

static void logv(db_migrate_runtime_log_level_t level, const char *fmt, va_list ap) {
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    wstring s = borrow(buf);
    db_migrate_runtime_log_log(level, &s);
}

void dbm_log_info(const char *fmt, ...) { va_list ap; va_start(ap, fmt); logv(DB_MIGRATE_RUNTIME_LOG_LEVEL_INFO, fmt, ap); va_end(ap); }
void dbm_log_warn(const char *fmt, ...) { va_list ap; va_start(ap, fmt); logv(DB_MIGRATE_RUNTIME_LOG_LEVEL_WARN, fmt, ap); va_end(ap); }
void dbm_log_error(const char *fmt, ...) { va_list ap; va_start(ap, fmt); logv(DB_MIGRATE_RUNTIME_LOG_LEVEL_ERROR, fmt, ap); va_end(ap); }

void dbm_progress(uint64_t done, int64_t total) {
    uint64_t t = (uint64_t)total;
    db_migrate_runtime_log_progress(done, total < 0 ? NULL : &t);
}

static W(list_tuple2_string_string_t) args_cache;
static bool args_loaded;
static char *arg_values[64];

const char *dbm_arg(const char *key) {
    if (!args_loaded) {
        db_migrate_runtime_context_args(&args_cache);
        args_loaded = true;
    }
    size_t len = strlen(key);
    for (size_t i = 0; i < args_cache.len && i < 64; i++) {
        W(string_t) *k = &args_cache.ptr[i].f0, *v = &args_cache.ptr[i].f1;
        if (k->len == len && memcmp(k->ptr, key, len) == 0) {
            if (!arg_values[i]) {
                arg_values[i] = malloc(v->len + 1);
                memcpy(arg_values[i], v->ptr, v->len);
                arg_values[i][v->len] = 0;
            }
            return arg_values[i];
        }
    }
    return NULL;
}

uint64_t dbm_random_seed(void) { return db_migrate_runtime_context_random_seed(); }

static bool run_step(dbm_step step, wstring *err_out) {
    dbm_error e;
    memset(&e, 0, sizeof e);
    if (step && step(&e) == 0) return true;
    if (!step) snprintf(e.message, sizeof e.message, "this step is not implemented");
    if (!e.message[0]) snprintf(e.message, sizeof e.message, "the C code returned an error without a message");
    W(string_dup)(err_out, e.message);
    return false;
}

#ifdef DBM_SEED
bool exports_seed_run(seed_string_t *err) { return run_step(dbm_this_seed, err); }
#else
void exports_migration_metadata(migration_metadata_t *ret) {
    migration_string_dup(&ret->description, dbm_this_migration.description ? dbm_this_migration.description : "");
    ret->reversible = dbm_this_migration.reversible;
    ret->transactional = dbm_this_migration.transactional;
}
bool exports_migration_up(migration_string_t *err) { return run_step(dbm_this_migration.up, err); }
bool exports_migration_down(migration_string_t *err) { return run_step(dbm_this_migration.down, err); }
#endif

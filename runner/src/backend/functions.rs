//! The SQL functions a component may call: an allowlist, per dialect.
//!
//! Functions are where SQL reaches outside the statement: reading server files
//! (`pg_read_file`, `LOAD_FILE`), running SQL hidden in a string (`query_to_xml`), changing the
//! session (`set_config`), taking or dropping the run's lock (`pg_advisory_unlock_all`,
//! `RELEASE_ALL_LOCKS`), moving sequences outside the transaction (`setval`), sleeping past the
//! deadline. A denylist of those is a list of what someone thought of; this is the other way
//! round: what is here is plain computation on values, and everything else is refused. A
//! component that needs a function of the user's own names it in `functions = [...]`.
//!
//! Randomness is left out on purpose (`random()`, `gen_random_uuid()`, `RAND()`, `UUID()`):
//! a component's randomness comes from the run's seed, not from the database.

use crate::backend::Dialect;

/// Functions of every dialect.
const COMMON: &[&str] = &[
    "abs", "avg", "ceil", "ceiling", "char_length", "character_length", "coalesce", "concat", "concat_ws", "count",
    "current_date", "current_time", "current_timestamp", "exp", "floor", "greatest", "least", "length", "ln", "log",
    "lower", "lpad", "ltrim", "max", "min", "mod", "nullif", "octet_length", "position", "power", "replace", "reverse",
    "round", "rpad", "rtrim", "sign", "sqrt", "substr", "substring", "sum", "trim", "upper", "localtime",
    "localtimestamp", "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value", "left", "right", "repeat", "md5", "hex", "pi", "cos", "sin", "tan",
    "acos", "asin", "atan", "atan2", "degrees", "radians", "log10", "log2", "trunc",
];

const SQLITE: &[&str] = &[
    "date", "time", "datetime", "julianday", "strftime", "unixepoch", "typeof", "printf", "format", "glob", "like",
    "total", "group_concat", "string_agg", "ifnull", "iif", "instr", "unhex", "zeroblob", "likely", "unlikely",
    "likelihood", "char", "unicode", "quote", "last_insert_rowid", "changes", "total_changes", "soundex", "json",
    "jsonb", "json_array", "json_array_length", "json_extract", "json_insert", "json_object", "json_patch",
    "json_remove", "json_replace", "json_set", "json_type", "json_valid", "json_quote", "json_group_array",
    "json_group_object", "json_each", "json_tree", "jsonb_array", "jsonb_object", "jsonb_extract", "jsonb_set",
];

const POSTGRES: &[&str] = &[
    "now", "age", "date_trunc", "date_part", "to_char", "to_date", "to_timestamp", "to_number", "make_date",
    "make_time", "make_timestamp", "make_timestamptz", "make_interval", "clock_timestamp", "statement_timestamp",
    "transaction_timestamp", "timeofday", "isfinite", "justify_days", "justify_hours", "justify_interval",
    "array_agg", "array_length", "array_to_string", "string_to_array", "array_append", "array_prepend", "array_cat",
    "array_position", "array_positions", "array_remove", "array_replace", "cardinality", "unnest", "generate_series",
    "string_agg", "json_agg", "jsonb_agg", "json_build_object", "jsonb_build_object", "json_build_array",
    "jsonb_build_array", "json_object_agg", "jsonb_object_agg", "to_json", "to_jsonb", "row_to_json",
    "json_array_elements", "jsonb_array_elements", "json_array_elements_text", "jsonb_array_elements_text",
    "json_each", "jsonb_each", "json_each_text", "jsonb_each_text", "jsonb_set", "jsonb_insert",
    "jsonb_extract_path", "jsonb_extract_path_text", "json_extract_path", "json_extract_path_text",
    "jsonb_strip_nulls", "jsonb_pretty", "jsonb_typeof", "json_typeof", "jsonb_array_length", "json_array_length",
    "jsonb_object_keys", "json_object_keys", "format", "regexp_replace", "regexp_match", "regexp_matches",
    "regexp_split_to_array", "regexp_split_to_table", "split_part", "initcap", "btrim", "encode", "decode",
    "sha224", "sha256", "sha384", "sha512", "translate", "starts_with", "strpos", "quote_ident", "quote_literal",
    "quote_nullable", "to_hex", "chr", "ascii", "currval", "lastval", "bool_and", "bool_or", "every",
    "bit_and", "bit_or", "percentile_cont", "percentile_disc", "mode", "stddev", "stddev_pop", "stddev_samp",
    "variance", "var_pop", "var_samp", "corr", "div", "cbrt", "gcd", "lcm", "width_bucket", "num_nonnulls",
    "num_nulls", "lower_inc", "upper_inc", "isempty", "lower_inf", "upper_inf", "extract", "timezone",
];

const MYSQL: &[&str] = &[
    "now", "curdate", "curtime", "date_format", "date_add", "date_sub", "adddate", "subdate",
    "datediff", "timestampdiff", "timestampadd", "unix_timestamp", "from_unixtime", "str_to_date", "date", "time",
    "year", "month", "day", "dayofmonth", "dayofweek", "dayofyear", "hour", "minute", "second", "week", "weekday",
    "last_day", "makedate", "maketime", "utc_timestamp", "utc_date", "sysdate", "if", "ifnull", "isnull",
    "json_object", "json_array", "json_extract", "json_unquote", "json_arrayagg", "json_objectagg", "json_set",
    "json_insert", "json_replace", "json_remove", "json_contains", "json_length", "json_keys", "json_valid",
    "json_type", "json_quote", "json_merge_patch", "group_concat", "last_insert_id", "locate", "instr", "lcase",
    "ucase", "substring_index", "field", "find_in_set", "unhex", "crc32", "sha1", "sha2", "conv", "truncate",
    "format", "char", "ascii", "ord", "bin", "oct", "space", "strcmp", "elt", "make_set", "export_set", "insert",
    "mid", "row_count", "found_rows", "inet_aton", "inet_ntoa", "to_base64", "from_base64", "weight_string",
];

/// Whether a component may call `name` (lower-case, unqualified) on `dialect`.
pub fn allowed(dialect: Dialect, name: &str) -> bool {
    COMMON.contains(&name)
        || match dialect {
            Dialect::Sqlite => SQLITE.contains(&name),
            Dialect::Postgres => POSTGRES.contains(&name),
            Dialect::Mysql => MYSQL.contains(&name),
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaching_out_is_not_on_the_list() {
        for f in [
            "pg_read_file", "query_to_xml", "database_to_xml", "set_config", "pg_advisory_unlock_all", "setval",
            "pg_sleep", "dblink", "lo_import", "current_setting", "pg_terminate_backend", "random", "gen_random_uuid",
            "nextval", "lo_from_bytea", "lo_export",
        ] {
            assert!(!allowed(Dialect::Postgres, f), "{f}");
        }
        for f in ["load_file", "get_lock", "release_all_locks", "sleep", "benchmark", "sys_exec", "rand", "uuid"] {
            assert!(!allowed(Dialect::Mysql, f), "{f}");
        }
        for f in ["load_extension", "readfile", "writefile", "random", "randomblob", "fts3_tokenizer", "sqlite_version"] {
            assert!(!allowed(Dialect::Sqlite, f), "{f}");
        }
        assert!(allowed(Dialect::Sqlite, "lower") && allowed(Dialect::Postgres, "now") && allowed(Dialect::Mysql, "ifnull"));
    }
}

//! The generator on hand-built schemas: the order of what it plans (no database here; the
//! round trips on real databases are in tests/cli/generate.rs).

use super::*;
use crate::schema::model::*;

fn col(name: &str, ty: &str, nullable: bool) -> Column {
    let mut c = Column::new(name, ty);
    c.nullable = nullable;
    c
}

fn pg_table(name: &str, cols: &[(&str, &str)]) -> Table {
    let mut t = Table::new(name);
    t.columns = cols.iter().map(|(n, ty)| col(n, ty, *n != "id")).collect();
    t.primary_key = Some(PrimaryKey { name: Some(format!("{name}_pkey")), columns: vec!["id".into()] });
    t
}

fn fk(name: &str, col: &str, target: &str) -> ForeignKey {
    ForeignKey { name: Some(name.into()), columns: vec![col.into()], ref_table: target.into(), ref_columns: vec!["id".into()], on_update: FkAction::NoAction, on_delete: FkAction::Cascade }
}

fn schema(dialect: SchemaDialect, tables: Vec<Table>) -> Schema {
    let mut s = Schema::new(dialect);
    for t in tables {
        s.tables.insert(t.name.clone(), t);
    }
    s.normalize();
    s
}

fn position(script: &Script, needle: &str) -> usize {
    script.statements.iter().position(|s| s.sql.contains(needle)).unwrap_or_else(|| panic!("no `{needle}` in:\n{}", script.sql()))
}

#[test]
fn a_key_goes_before_the_table_it_points_at_and_comes_after_the_table_it_needs() {
    let users = pg_table("users", &[("id", "integer")]);
    let mut posts = pg_table("posts", &[("id", "integer"), ("user_id", "integer")]);
    posts.foreign_keys.push(fk("posts_user_id_fkey", "user_id", "users"));
    let a = schema(SchemaDialect::Postgres, vec![users.clone(), posts.clone()]);
    let mut posts_b = posts.clone();
    posts_b.foreign_keys.clear();
    let b = schema(SchemaDialect::Postgres, vec![posts_b]);
    let g = generate(&a, &b).unwrap();
    assert!(position(&g.up, "DROP CONSTRAINT \"posts_user_id_fkey\"") < position(&g.up, "DROP TABLE \"users\""), "{}", g.up.sql());
    // The down creates users before it adds the key, NOT VALID and then validated.
    assert!(position(&g.down, "CREATE TABLE \"users\"") < position(&g.down, "FOREIGN KEY"));
    assert!(position(&g.down, "NOT VALID") < position(&g.down, "VALIDATE CONSTRAINT \"posts_user_id_fkey\""));
    assert!(g.up.transactional && g.down.transactional);
}

#[test]
fn an_enum_is_created_before_the_table_using_it_and_dropped_after() {
    let a = schema(SchemaDialect::Postgres, vec![]);
    let mut b = schema(SchemaDialect::Postgres, vec![pg_table("t", &[("id", "integer"), ("m", "mood")])]);
    b.enums.insert("mood".into(), EnumType { name: "mood".into(), values: vec!["sad".into(), "ok".into()] });
    let g = generate(&a, &b).unwrap();
    assert!(position(&g.up, "CREATE TYPE \"mood\"") < position(&g.up, "CREATE TABLE \"t\""));
    assert!(position(&g.down, "DROP TABLE \"t\"") < position(&g.down, "DROP TYPE \"mood\""));
}

#[test]
fn enum_values_are_added_in_place_outside_a_transaction_and_a_removal_rebuilds() {
    let t = pg_table("t", &[("id", "integer"), ("m", "mood")]);
    let mut a = schema(SchemaDialect::Postgres, vec![t.clone()]);
    a.enums.insert("mood".into(), EnumType { name: "mood".into(), values: vec!["sad".into(), "happy".into()] });
    let mut b = a.clone();
    b.enums.get_mut("mood").unwrap().values = vec!["sad".into(), "ok".into(), "happy".into()];
    let g = generate(&a, &b).unwrap();
    assert_eq!(g.up.statements[0].sql, "SET lock_timeout = '5s'", "outside a transaction: a session setting");
    assert_eq!(g.up.statements[1].sql, "ALTER TYPE \"mood\" ADD VALUE 'ok' AFTER 'sad'");
    assert!(!g.up.transactional);
    // The down removes 'ok': a rebuild, flagged.
    assert!(g.down.sql().contains("RENAME TO \"mood__dbm_old\""), "{}", g.down.sql());
    assert!(g.down.sql().contains("USING \"m\"::text::\"mood\""));
    assert!(position(&g.down, "USING \"m\"") < position(&g.down, "DROP TYPE \"mood__dbm_old\""));
    assert!(g.warnings.iter().any(|w| w.kind == WarningKind::EnumRebuilt && w.direction == "down"));
}

#[test]
fn views_are_dropped_before_a_column_they_read_changes_and_created_after() {
    let a_t = pg_table("t", &[("id", "integer"), ("v", "integer")]);
    let b_t = pg_table("t", &[("id", "integer"), ("v", "bigint")]);
    let view = View { name: "tv".into(), definition: "SELECT t.v FROM t".into(), materialized: false };
    let mut a = schema(SchemaDialect::Postgres, vec![a_t]);
    let mut b = schema(SchemaDialect::Postgres, vec![b_t]);
    a.views.insert("tv".into(), view.clone());
    b.views.insert("tv".into(), view);
    let g = generate(&a, &b).unwrap();
    let (drop, alter, create) = (position(&g.up, "DROP VIEW"), position(&g.up, "TYPE bigint"), position(&g.up, "CREATE VIEW"));
    assert!(drop < alter && alter < create, "{}", g.up.sql());
}

#[test]
fn a_column_that_goes_while_one_of_its_type_appears_is_flagged_not_renamed() {
    let a = schema(SchemaDialect::Postgres, vec![pg_table("t", &[("id", "integer"), ("name", "text")])]);
    let b = schema(SchemaDialect::Postgres, vec![pg_table("t", &[("id", "integer"), ("full_name", "text")])]);
    let g = generate(&a, &b).unwrap();
    let drop = &g.up.statements[position(&g.up, "DROP COLUMN \"name\"")];
    assert!(drop.comments.iter().any(|c| c.contains("possible rename")), "{drop:?}");
    assert_eq!(g.warnings.iter().filter(|w| w.kind == WarningKind::PossibleRename).count(), 1, "{:?}", g.warnings);
    assert!(g.up.sql().contains("ADD COLUMN \"full_name\" text"));
}

#[test]
fn postgres_indexes_on_existing_tables_are_concurrent_and_on_new_tables_plain() {
    let mut t = pg_table("t", &[("id", "integer"), ("v", "integer")]);
    let a = schema(SchemaDialect::Postgres, vec![t.clone()]);
    t.indexes.push(Index { name: "t_v".into(), unique: false, parts: vec![IndexPart::column("v")], predicate: Some("(v > 0)".into()), method: None });
    let mut n = pg_table("n", &[("id", "integer")]);
    n.indexes.push(Index { name: "n_id".into(), unique: false, parts: vec![IndexPart::column("id")], predicate: None, method: None });
    let b = schema(SchemaDialect::Postgres, vec![t, n]);
    let g = generate(&a, &b).unwrap();
    assert!(g.up.sql().contains("CREATE INDEX CONCURRENTLY \"t_v\" ON \"t\" (\"v\") WHERE (v > 0)"), "{}", g.up.sql());
    assert!(g.up.sql().contains("CREATE INDEX \"n_id\" ON \"n\""));
    assert!(!g.up.transactional);
    assert!(g.down.sql().contains("DROP INDEX CONCURRENTLY \"t_v\""));
}

#[test]
fn sqlite_rebuilds_what_alter_table_cannot_do_with_foreign_keys_off() {
    let mut a_t = Table::new("t");
    a_t.columns = vec![col("id", "INTEGER", false), col("v", "TEXT", true)];
    a_t.primary_key = Some(PrimaryKey { name: None, columns: vec!["id".into()] });
    let mut b_t = a_t.clone();
    b_t.columns[1].nullable = false;
    let a = schema(SchemaDialect::Sqlite, vec![a_t.clone()]);
    let b = schema(SchemaDialect::Sqlite, vec![b_t]);
    let g = generate(&a, &b).unwrap();
    let order = ["PRAGMA foreign_keys = 0", "BEGIN", "CREATE TABLE \"t__dbm_new\"", "INSERT INTO \"t__dbm_new\"", "DROP TABLE \"t\"", "RENAME TO \"t\"", "pragma_foreign_key_check", "COMMIT"];
    let at: Vec<usize> = order.iter().map(|n| position(&g.up, n)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{}", g.up.sql());
    assert!(!g.up.transactional);
    // Adding a nullable column at the end needs no rebuild.
    let mut c_t = a_t.clone();
    c_t.columns.push(col("w", "INTEGER", true));
    let g = generate(&a, &schema(SchemaDialect::Sqlite, vec![c_t])).unwrap();
    assert_eq!(g.up.sql(), "ALTER TABLE \"t\" ADD COLUMN \"w\" INTEGER;\n");
    assert_eq!(g.down.sql(), "ALTER TABLE \"t\" DROP COLUMN \"w\";\n");
    assert!(g.up.transactional);
}

#[test]
fn mysql_places_a_new_column_after_its_neighbour() {
    let mut a_t = Table::new("t");
    a_t.columns = vec![col("id", "int(11)", false), col("z", "int(11)", true)];
    let mut b_t = a_t.clone();
    b_t.columns.insert(1, col("y", "varchar(10)", true));
    let g = generate(&schema(SchemaDialect::Mysql, vec![a_t]), &schema(SchemaDialect::Mysql, vec![b_t])).unwrap();
    assert_eq!(g.up.sql(), "ALTER TABLE `t` ADD COLUMN `y` varchar(10) NULL AFTER `id`;\n");
}

#[test]
fn equal_schemas_give_nothing_and_dialects_must_match() {
    let a = schema(SchemaDialect::Postgres, vec![pg_table("t", &[("id", "integer")])]);
    let g = generate(&a, &a).unwrap();
    assert!(g.is_empty() && g.up.is_empty() && g.down.is_empty());
    assert!(generate(&a, &Schema::new(SchemaDialect::Sqlite)).is_err());
}

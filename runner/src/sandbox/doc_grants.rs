//! Grants for the `documents` interface: the same classes as for SQL (`read`, `write`, `ddl`),
//! with `tables` naming the collections a component may touch.
//!
//! The typed calls say what they do. `run-command` is checked by its command name against a list
//! of commands whose targets db-migrate knows how to find (including the collections an
//! aggregation reads through `$lookup`/`$unionWith`/`$graphLookup` and writes through
//! `$out`/`$merge`); any other command is refused, as is naming another database.

use mongodb::bson::{Bson, Document};

use super::grants::{Class, Grants};

/// What one call needs: a class on each of some collections.
pub type Needs = Vec<(Class, String)>;

/// Stands for "the database itself" in [`Needs`] (metadata commands): only the class is checked.
pub const DATABASE: &str = "*";

/// Checks that `needs` is granted and touches no reserved collection (`reserved` says which).
/// `collections` are the granted collections as written: MongoDB names are case-sensitive, so
/// they are compared exactly (a grant of `people` does not reach `People`).
pub fn check(grants: &Grants, collections: Option<&std::collections::BTreeSet<String>>, needs: &Needs, reserved: impl Fn(&str) -> bool) -> Result<(), String> {
    for (class, coll) in needs {
        if coll.is_empty() {
            return Err("the collection name is empty".into());
        }
        if coll == DATABASE {
            if !grants.classes.contains(class) {
                return Err(format!("this command is `{class}`, which this component is not granted"));
            }
            // A database-wide command sees every collection; a grant that names collections
            // does not reach it (and `*` is a valid collection name a guest could use).
            if grants.tables.is_some() {
                return Err("this command looks at the whole database; a grant that names collections does not reach it".into());
            }
            continue;
        }
        if reserved(coll) {
            return Err(format!(
                "the collection `{coll}` is db-migrate's own history or lock, or MongoDB's system collection: never a component's to touch"
            ));
        }
        if !grants.classes.contains(class) {
            let granted: Vec<String> = grants.classes.iter().map(|c| c.to_string()).collect();
            return Err(format!(
                "this is `{class}` on `{coll}`, which this component is not granted (it has: {})",
                if granted.is_empty() { "nothing".to_string() } else { granted.join(", ") }
            ));
        }
        if let Some(allowed) = collections {
            if !allowed.contains(coll) {
                let list: Vec<&str> = allowed.iter().map(String::as_str).collect();
                return Err(format!("the collection `{coll}` is not among this component's granted collections ({})", list.join(", ")));
            }
        }
    }
    Ok(())
}

fn string_arg(cmd: &Document, key: &str) -> Result<String, String> {
    match cmd.get(key) {
        Some(Bson::String(s)) => Ok(s.clone()),
        _ => Err(format!("the `{key}` command needs a collection name as its value")),
    }
}

/// `db.coll` as used by `renameCollection`: the collection, if the database is `db`.
fn in_database(ns: &str, db: &str) -> Result<String, String> {
    match ns.split_once('.') {
        Some((d, c)) if d == db => Ok(c.to_string()),
        _ => Err(format!("`{ns}` is outside the migration's database `{db}`")),
    }
}

/// The aggregation stages a component may use: each reads only its input documents (or, for
/// the stages handled by name in [`pipeline_needs`], collections it names). Anything else —
/// `$listCatalog`, `$collStats`, `$indexStats`, `$currentOp`, `$changeStream`, a stage a later
/// server adds — is refused: this is an allowlist.
const STAGES: &[&str] = &[
    "$addFields", "$bucket", "$bucketAuto", "$count", "$densify", "$documents", "$fill", "$geoNear", "$group", "$limit",
    "$match", "$project", "$redact", "$replaceRoot", "$replaceWith", "$sample", "$set", "$setWindowFields", "$skip",
    "$sort", "$sortByCount", "$unset", "$unwind",
];

/// The collections an aggregation pipeline reads or writes besides its own.
fn pipeline_needs(stages: Option<&Bson>, needs: &mut Needs) -> Result<(), String> {
    let Some(Bson::Array(stages)) = stages else {
        return Ok(());
    };
    for stage in stages {
        let Bson::Document(stage) = stage else { continue };
        for (op, arg) in stage {
            match (op.as_str(), arg) {
                ("$lookup" | "$graphLookup", Bson::Document(a)) => {
                    if let Some(Bson::String(from)) = a.get("from") {
                        needs.push((Class::Read, from.clone()));
                    }
                    if let Some(Bson::Document(_)) = a.get("from") {
                        return Err(format!("`{op}` from another database is not allowed"));
                    }
                    pipeline_needs(a.get("pipeline"), needs)?;
                }
                ("$unionWith", Bson::String(c)) => needs.push((Class::Read, c.clone())),
                ("$unionWith", Bson::Document(a)) => {
                    if let Some(Bson::String(c)) = a.get("coll") {
                        needs.push((Class::Read, c.clone()));
                    }
                    pipeline_needs(a.get("pipeline"), needs)?;
                }
                ("$facet", Bson::Document(a)) => {
                    for (_, p) in a {
                        pipeline_needs(Some(p), needs)?;
                    }
                }
                ("$out", Bson::String(c)) => needs.push((Class::Write, c.clone())),
                ("$merge", Bson::String(c)) => needs.push((Class::Write, c.clone())),
                ("$out" | "$merge", Bson::Document(a)) => {
                    let target = a.get("into").or_else(|| a.get("coll"));
                    match target {
                        Some(Bson::String(c)) if a.get("db").is_none() => needs.push((Class::Write, c.clone())),
                        _ => return Err(format!("`{op}` into another database is not allowed")),
                    }
                }
                (op, _) if STAGES.contains(&op) => {}
                (op, _) => {
                    return Err(format!(
                        "the aggregation stage `{op}` is not one db-migrate can check, so components may not use it \
                         (stages that look beyond the migration's data, such as `$listCatalog`, `$currentOp` or `$collStats`, never are)"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The fields each command may carry besides its name: what the command means, never how it
/// runs beyond that (`bypassDocumentValidation`, sessions and transactions — `lsid`,
/// `txnNumber`, `autocommit`, `startTransaction` —, `$db`, `$readPreference`, API or cluster
/// settings are not a component's). An allowlist: a field a later server adds is refused.
fn allowed_fields(command: &str) -> &'static [&'static str] {
    match command {
        "find" => &[
            "filter", "sort", "projection", "hint", "skip", "limit", "batchSize", "singleBatch", "comment", "maxTimeMS", "readConcern",
            "max", "min", "returnKey", "showRecordId", "collation", "allowDiskUse", "let",
        ],
        "count" => &["query", "limit", "skip", "hint", "readConcern", "maxTimeMS", "collation", "comment"],
        "distinct" => &["key", "query", "readConcern", "collation", "comment", "hint", "maxTimeMS"],
        "listIndexes" => &["cursor", "comment"],
        "collStats" => &["scale"],
        "aggregate" => &["pipeline", "allowDiskUse", "cursor", "maxTimeMS", "readConcern", "collation", "hint", "comment", "writeConcern", "let"],
        "listCollections" => &["filter", "nameOnly", "authorizedCollections", "comment"],
        "dbStats" => &["scale", "freeStorage"],
        "buildInfo" | "hello" | "isMaster" | "ping" => &["comment"],
        "insert" => &["documents", "ordered", "maxTimeMS", "writeConcern", "comment"],
        "update" => &["updates", "ordered", "maxTimeMS", "writeConcern", "let", "comment"],
        "delete" => &["deletes", "ordered", "maxTimeMS", "writeConcern", "let", "comment"],
        "findAndModify" => &[
            "query", "sort", "remove", "update", "new", "fields", "upsert", "maxTimeMS", "writeConcern", "collation", "arrayFilters", "hint",
            "comment", "let",
        ],
        "create" => &[
            "capped", "timeseries", "expireAfterSeconds", "clusteredIndex", "changeStreamPreAndPostImages", "size", "max", "validator",
            "validationLevel", "validationAction", "indexOptionDefaults", "viewOn", "pipeline", "collation", "writeConcern", "comment",
        ],
        "drop" => &["writeConcern", "comment"],
        "createIndexes" => &["indexes", "writeConcern", "commitQuorum", "comment"],
        "dropIndexes" => &["index", "writeConcern", "comment"],
        "collMod" => &[
            "index", "validator", "validationLevel", "validationAction", "viewOn", "pipeline", "expireAfterSeconds",
            "changeStreamPreAndPostImages", "timeseries", "writeConcern", "comment",
        ],
        "renameCollection" => &["to", "dropTarget", "writeConcern", "comment"],
        _ => &[],
    }
}

/// What a `run-command` needs, or why it is refused.
pub fn command_needs(cmd: &Document, db: &str) -> Result<Needs, String> {
    let Some(name) = cmd.keys().next().cloned() else {
        return Err("the command is an empty document".into());
    };
    if cmd.contains_key("$db") {
        return Err("commands run on the migration's database; `$db` is not allowed".into());
    }
    let fields = allowed_fields(&name);
    if let Some(other) = cmd.keys().skip(1).find(|k| !fields.contains(&k.as_str())) {
        if !fields.is_empty() {
            return Err(format!("the field `{other}` of `{name}` is not one db-migrate can check, so components may not send it"));
        }
    }
    let mut needs = Needs::new();
    match name.as_str() {
        "find" | "count" | "distinct" | "listIndexes" | "collStats" => needs.push((Class::Read, string_arg(cmd, &name)?)),
        "aggregate" => {
            match cmd.get("aggregate") {
                Some(Bson::String(c)) => needs.push((Class::Read, c.clone())),
                // `aggregate: 1` runs database-level stages ($documents): `read` on the
                // database, and only the stages `pipeline_needs` allows.
                _ => needs.push((Class::Read, DATABASE.into())),
            }
            pipeline_needs(cmd.get("pipeline"), &mut needs)?;
        }
        "listCollections" | "dbStats" | "buildInfo" | "hello" | "isMaster" | "ping" => {
            // Metadata about the migration's own database: allowed to any component with `read`.
            needs.push((Class::Read, DATABASE.into()));
        }
        "insert" | "update" | "delete" | "findAndModify" => needs.push((Class::Write, string_arg(cmd, &name)?)),
        "create" => {
            needs.push((Class::Ddl, string_arg(cmd, &name)?));
            match cmd.get("viewOn") {
                Some(Bson::String(on)) => needs.push((Class::Read, on.clone())),
                Some(_) => return Err("`viewOn` names a collection".into()),
                None => {}
            }
            pipeline_needs(cmd.get("pipeline"), &mut needs)?;
        }
        "drop" | "createIndexes" | "dropIndexes" => needs.push((Class::Ddl, string_arg(cmd, &name)?)),
        "collMod" => {
            needs.push((Class::Ddl, string_arg(cmd, &name)?));
            // `collMod` can point a view at another collection: it then reads that one.
            match cmd.get("viewOn") {
                Some(Bson::String(on)) => needs.push((Class::Read, on.clone())),
                Some(_) => return Err("`viewOn` names a collection".into()),
                None => {}
            }
            pipeline_needs(cmd.get("pipeline"), &mut needs)?;
        }
        "renameCollection" => {
            let from = in_database(&string_arg(cmd, "renameCollection")?, db)?;
            let to = match cmd.get("to") {
                Some(Bson::String(t)) => in_database(t, db)?,
                _ => return Err("`renameCollection` needs `to`".into()),
            };
            needs.push((Class::Ddl, from));
            needs.push((Class::Ddl, to));
        }
        other => {
            return Err(format!(
                "the command `{other}` is not one db-migrate can check, so components may not run it \
                 (allowed: find, count, distinct, aggregate, listIndexes, listCollections, collStats, dbStats, \
                 insert, update, delete, findAndModify, create, drop, createIndexes, dropIndexes, collMod, renameCollection)"
            ));
        }
    }
    Ok(needs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    fn pack(colls: &[&str]) -> Grants {
        Grants { classes: [Class::Read, Class::Write].into(), tables: Some(colls.iter().map(|c| c.to_string()).collect()), functions: Default::default() }
    }

    #[test]
    fn commands_are_classified_with_their_collections() {
        assert_eq!(command_needs(&doc! {"insert": "users", "documents": []}, "app").unwrap(), vec![(Class::Write, "users".into())]);
        assert_eq!(command_needs(&doc! {"collMod": "users"}, "app").unwrap(), vec![(Class::Ddl, "users".into())]);
        let agg = doc! {"aggregate": "orders", "pipeline": [{"$lookup": {"from": "users"}}, {"$out": "report"}], "cursor": {}};
        assert_eq!(
            command_needs(&agg, "app").unwrap(),
            vec![(Class::Read, "orders".into()), (Class::Read, "users".into()), (Class::Write, "report".into())]
        );
        assert!(command_needs(&doc! {"renameCollection": "other.a", "to": "app.b"}, "app").unwrap_err().contains("outside"));
        assert!(command_needs(&doc! {"dropDatabase": 1}, "app").unwrap_err().contains("not one db-migrate can check"));
        assert!(command_needs(&doc! {"find": "a", "$db": "admin"}, "app").unwrap_err().contains("$db"));
        let cross = doc! {"aggregate": "a", "pipeline": [{"$merge": {"into": {"db": "x", "coll": "y"}}}]};
        assert!(command_needs(&cross, "app").is_err());
        // Fields are an allowlist per command.
        assert!(command_needs(&doc! {"insert": "a", "documents": [], "bypassDocumentValidation": true}, "app").unwrap_err().contains("`bypassDocumentValidation`"));
        assert!(command_needs(&doc! {"insert": "a", "documents": [], "lsid": {"id": 1}}, "app").unwrap_err().contains("`lsid`"));
        assert!(command_needs(&doc! {"find": "a", "filter": {}, "limit": 1}, "app").is_ok());
        // Stages are an allowlist; `aggregate: 1` needs `read` on the database.
        assert!(command_needs(&doc! {"aggregate": 1, "pipeline": [{"$listCatalog": {}}]}, "app").unwrap_err().contains("`$listCatalog`"));
        assert_eq!(command_needs(&doc! {"aggregate": 1, "pipeline": [{"$documents": []}]}, "app").unwrap(), vec![(Class::Read, DATABASE.into())]);
        let facet = doc! {"aggregate": "a", "pipeline": [{"$facet": {"x": [{"$collStats": {}}]}}]};
        assert!(command_needs(&facet, "app").is_err());
        let repoint = doc! {"collMod": "v", "viewOn": "secrets", "pipeline": []};
        assert_eq!(command_needs(&repoint, "app").unwrap(), vec![(Class::Ddl, "v".into()), (Class::Read, "secrets".into())]);
    }

    #[test]
    fn grants_apply_by_collection_and_class() {
        let g = pack(&["users"]);
        let none = |_: &str| false;
        assert!(check(&g, g.tables.as_ref(), &vec![(Class::Write, "users".into())], none).is_ok());
        assert!(check(&g, g.tables.as_ref(), &vec![(Class::Write, "orders".into())], none).unwrap_err().contains("not among"));
        assert!(check(&g, g.tables.as_ref(), &vec![(Class::Write, "Users".into())], none).unwrap_err().contains("not among"), "names are case-sensitive");
        assert!(check(&g, g.tables.as_ref(), &vec![(Class::Ddl, "users".into())], none).unwrap_err().contains("not granted"));
        // `*` (database-wide) is not a way around a collection allowlist.
        assert!(check(&g, g.tables.as_ref(), &vec![(Class::Write, DATABASE.into())], none).unwrap_err().contains("whole database"));
        assert!(check(&Grants::default(), None, &vec![(Class::Read, DATABASE.into())], none).is_ok());
        let reserved = |c: &str| c == "db_migrate_history";
        assert!(check(&Grants::default(), None, &vec![(Class::Read, "db_migrate_history".into())], reserved).is_err());
    }
}

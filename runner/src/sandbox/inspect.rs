//! What a component imports and exports: for `db-migrate inspect` and for checking, before
//! running anything, that a `.wasm` in `migrations/` really is a migration.

use serde::Serialize;
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

/// A component's interface, as `inspect` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Description {
    /// `migration`, `document-migration`, `seed`, `document-seed`, or `unknown` when the exports
    /// match no world.
    pub world: String,
    /// Imported names (interfaces, functions) with what they hold.
    pub imports: Vec<Item>,
    /// Exported names.
    pub exports: Vec<Item>,
}

/// One import or export.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// Its name, e.g. `db-migrate:runtime/sql@0.1.0` or `up`.
    pub name: String,
    /// `instance`, `func`, `type`, …
    pub kind: String,
    /// For an instance: its function names.
    pub functions: Vec<String>,
}

fn item(engine: &Engine, name: &str, it: &ComponentItem) -> Item {
    let (kind, functions) = match it {
        ComponentItem::ComponentFunc(_) => ("func", vec![]),
        ComponentItem::CoreFunc(_) => ("core func", vec![]),
        ComponentItem::Module(_) => ("module", vec![]),
        ComponentItem::Component(_) => ("component", vec![]),
        ComponentItem::ComponentInstance(i) => (
            "instance",
            i.exports(engine).filter(|(_, e)| matches!(e.ty, ComponentItem::ComponentFunc(_))).map(|(n, _)| n.to_string()).collect(),
        ),
        ComponentItem::Type(_) => ("type", vec![]),
        ComponentItem::Resource(_) => ("resource", vec![]),
    };
    Item { name: name.to_string(), kind: kind.to_string(), functions }
}

/// Describes a compiled component.
pub fn describe(engine: &Engine, component: &Component) -> Description {
    let ty = component.component_type();
    let imports: Vec<Item> = ty.imports(engine).map(|(n, i)| item(engine, n, &i.ty)).collect();
    let exports: Vec<Item> = ty.exports(engine).map(|(n, i)| item(engine, n, &i.ty)).collect();
    let has = |n: &str| exports.iter().any(|e| e.name == n && e.kind == "func");
    let imports_documents = imports.iter().any(|i| i.name.starts_with("db-migrate:runtime/documents"));
    let world = if has("up") && has("down") && has("metadata") {
        if imports_documents { "document-migration" } else { "migration" }
    } else if has("run") {
        if imports_documents { "document-seed" } else { "seed" }
    } else {
        "unknown"
    };
    Description { world: world.into(), imports, exports }
}

/// Interfaces a guest may import: ours, and the WASI 0.2 packages the host links (whose
/// capabilities are denied by default: no files, network, environment or host entropy).
const OFFERED_PREFIXES: [&str; 7] =
    ["db-migrate:runtime/", "wasi:cli/", "wasi:io/", "wasi:clocks/", "wasi:filesystem/", "wasi:random/", "wasi:sockets/"];

/// Checks that a component implements a migration world that fits the database
/// (`document-migration` for MongoDB, `migration` for SQL) and imports nothing the host does
/// not offer, with a message that says what it is instead.
pub fn check_migration_world(engine: &Engine, component: &Component, database: &str, documents_db: bool) -> Result<(), String> {
    check_migration_described(&describe(engine, component), database, documents_db)
}

/// [`check_migration_world`] of a component described already (a thread that loads components
/// ahead describes them too).
pub fn check_migration_described(d: &Description, database: &str, documents_db: bool) -> Result<(), String> {
    let imports = |what: &str| d.imports.iter().any(|i| i.name.starts_with(what));
    if imports("db-migrate:runtime/sql") && imports("db-migrate:runtime/documents") {
        return Err("the component imports both `sql` and `documents`; a migration is for a SQL database or for MongoDB, not both".into());
    }
    if documents_db && imports("db-migrate:runtime/sql") {
        return Err(format!(
            "the component imports the `sql` interface (world `migration`), but the database is {database}; \
             a MongoDB migration uses `documents` (world `document-migration`)"
        ));
    }
    if !documents_db && imports("db-migrate:runtime/documents") {
        return Err(format!(
            "the component imports the `documents` interface (world `document-migration`, for MongoDB), but the database is {database}; \
             a SQL migration uses `sql` (world `migration`)"
        ));
    }
    if d.world != "migration" && d.world != "document-migration" {
        let exported: Vec<&str> = d.exports.iter().map(|e| e.name.as_str()).collect();
        let hint = if d.world == "seed" { " — it looks like a seed (world `seed`), which belongs in seeds/" } else { "" };
        return Err(format!(
            "the component does not implement the `migration` world (exports `metadata`, `up`, `down`); it exports [{}]{hint}",
            exported.join(", ")
        ));
    }
    let unsupported: Vec<&str> =
        d.imports.iter().map(|i| i.name.as_str()).filter(|n| !OFFERED_PREFIXES.iter().any(|p| n.starts_with(p))).collect();
    if !unsupported.is_empty() {
        return Err(format!(
            "the component imports what db-migrate does not offer, so it was not run: {} (offered: db-migrate:runtime and WASI 0.2 cli, io, clocks, filesystem, random, sockets — all denied unless granted)",
            unsupported.join(", ")
        ));
    }
    Ok(())
}

/// Checks that a component implements a seed world that fits the database (`document-seed`
/// for MongoDB, `seed` for SQL) and imports nothing the host does not offer.
pub fn check_seed_world(engine: &Engine, component: &Component, database: &str, documents_db: bool) -> Result<(), String> {
    let d = describe(engine, component);
    let imports = |what: &str| d.imports.iter().any(|i| i.name.starts_with(what));
    if d.world != "seed" && d.world != "document-seed" {
        let exported: Vec<&str> = d.exports.iter().map(|e| e.name.as_str()).collect();
        let hint = if d.world.ends_with("migration") { " — it looks like a migration, which belongs in migrations/" } else { "" };
        return Err(format!("the component does not implement the `seed` world (exports `run`); it exports [{}]{hint}", exported.join(", ")));
    }
    if imports("db-migrate:runtime/sql") && imports("db-migrate:runtime/documents") {
        return Err("the component imports both `sql` and `documents`; a seed is for a SQL database or for MongoDB, not both".into());
    }
    if documents_db && imports("db-migrate:runtime/sql") {
        return Err(format!(
            "the seed imports the `sql` interface (world `seed`), but the database is {database}; \
             a MongoDB seed uses `documents` (world `document-seed`)"
        ));
    }
    if !documents_db && imports("db-migrate:runtime/documents") {
        return Err(format!(
            "the seed imports the `documents` interface (world `document-seed`, for MongoDB), but the database is {database}; \
             a SQL seed uses `sql` (world `seed`)"
        ));
    }
    let unsupported: Vec<&str> =
        d.imports.iter().map(|i| i.name.as_str()).filter(|n| !OFFERED_PREFIXES.iter().any(|p| n.starts_with(p))).collect();
    if !unsupported.is_empty() {
        return Err(format!("the component imports what a seed is not offered, so it was not run: {}", unsupported.join(", ")));
    }
    Ok(())
}

//! `embed_migrations!`: compiles a folder of db-migrate migrations into the program.
//!
//! Use it through the library, which re-exports it: `db_migrate::embed_migrations!("migrations")`.
#![deny(missing_docs)]

mod expand;

use proc_macro::{TokenStream, TokenTree};

/// Embeds the migrations folder `dir` (relative to the crate's `Cargo.toml`) and evaluates to a
/// `db_migrate::MemorySource` holding every migration file's bytes, components included.
///
/// ```text
/// let migrator = db_migrate::Migrator::with_source(db_migrate::embed_migrations!("migrations"), url);
/// ```
///
/// The files are read with `include_bytes!`, so editing one rebuilds the crate. A file *added*
/// to the folder is only seen after a rebuild: add `build.rs` with
/// `println!("cargo::rerun-if-changed=migrations");` to have cargo watch the folder itself.
///
/// Checked at compile time: every migration name parses (`VERSION_name`), each version is used
/// once, each migration has one form, and a folder migration has its `up.sql`. The files'
/// contents are parsed when the migrator reads the source, by the same rules as a directory.
#[proc_macro]
pub fn embed_migrations(input: TokenStream) -> TokenStream {
    let expanded = match folder_argument(input) {
        Ok(dir) => {
            let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
            expand::expand(std::path::Path::new(&manifest), &dir)
        }
        Err(e) => Err(e),
    };
    let code = match expanded {
        Ok(code) => code,
        Err(message) => format!("::core::compile_error!({})", expand::string_literal(&message)),
    };
    code.parse().unwrap_or_else(|e| format!("::core::compile_error!({})", expand::string_literal(&format!("embed_migrations!: {e}"))).parse().unwrap_or_default())
}

/// The one string literal the macro takes (`"migrations"`); no argument means `"migrations"`.
fn folder_argument(input: TokenStream) -> Result<String, String> {
    let tokens: Vec<TokenTree> = input.into_iter().collect();
    let usage = "embed_migrations! takes the migrations folder as one string literal, relative to Cargo.toml: `embed_migrations!(\"migrations\")`";
    match tokens.as_slice() {
        [] => Ok("migrations".into()),
        [TokenTree::Literal(lit)] => expand::unquote(&lit.to_string()).ok_or_else(|| usage.to_string()),
        // A literal passed through a `macro_rules!` arrives wrapped in an invisible group.
        [TokenTree::Group(g)] if g.delimiter() == proc_macro::Delimiter::None => folder_argument(g.stream()),
        _ => Err(usage.into()),
    }
}

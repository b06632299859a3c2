// `embed_migrations!` includes each migration file, so editing one rebuilds the program; this
// makes cargo also notice a file added to (or removed from) the folder.
fn main() {
    println!("cargo::rerun-if-changed=migrations");
}

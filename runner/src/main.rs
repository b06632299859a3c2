//! The `db-migrate` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    db_migrate::cli::main()
}

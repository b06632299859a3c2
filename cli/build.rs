//! Link options of the `db-migrate` binary.

fn main() {
    // The binary is position-independent (ASLR stays on: it runs untrusted WebAssembly), and its
    // ~54,000 relative relocations were a 1.3 MB table the loader read and applied at every start:
    // about a millisecond and over a megabyte of resident memory per command. Packed (RELR, glibc
    // 2.36+) they take a few kilobytes.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

//! Link options of the `db-migrate` binary.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=symbol-order.txt");
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    // The binary is position-independent (ASLR stays on: it runs untrusted WebAssembly), and its
    // ~54,000 relative relocations were a 1.3 MB table the loader read and applied at every start:
    // about a millisecond and over a megabyte of resident memory per command. Packed (RELR, glibc
    // 2.36+) they take a few kilobytes.
    if linux_gnu {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    // The functions a SQL-only command runs, placed side by side (see bench/symbol_order.py):
    // scattered through ~36 MB of code, they made ~10 MB resident and a page fault each at start.
    // Only lld reads an ordering file; rustc links x86-64 Linux with its own lld unless told to
    // use another linker, so a configured linker turns this off.
    let order = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("symbol-order.txt");
    let own_lld = std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64")
        && std::env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_none()
        && !std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default().contains("link");
    if linux_gnu && own_lld && std::env::var("PROFILE").as_deref() == Ok("release") && order.is_file() {
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}", order.display());
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

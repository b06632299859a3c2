//! Guests in languages other than Rust: what a guest folder holds, and building Python
//! (componentize-py), JavaScript (componentize-js) and C (wit-bindgen c, clang for wasm32-wasi,
//! wasm-component-ld) guests into components.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::Output;
use crate::config::Settings;
use db_migrate::migrate::error::Error;

/// The Python SDK, embedded like the Rust one.
pub const PY_SDK: &str = include_str!("../../../sdk/python/db_migrate/__init__.py");
/// The JavaScript SDK, written next to each JavaScript guest's `app.js`.
pub const JS_SDK: &str = include_str!("../../../sdk/js/db-migrate.js");
/// Its TypeScript declarations, for editors.
pub const JS_SDK_TYPES: &str = include_str!("../../../sdk/js/db-migrate.d.ts");
/// The C SDK: a header and its implementation over the generated bindings.
pub const C_SDK_H: &str = include_str!("../../../sdk/c/db_migrate.h");
/// See [`C_SDK_H`].
pub const C_SDK_C: &str = include_str!("../../../sdk/c/db_migrate.c");

/// A guest's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// A cargo crate using `db-migrate-sdk`.
    Rust,
    /// `app.py`, built with componentize-py.
    Python,
    /// `app.js`, built with componentize-js.
    Js,
    /// `*.c`, built with wit-bindgen c, clang (wasm32-wasi) and wasm-component-ld.
    C,
}

/// The WIT world a guest implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// A SQL migration.
    Migration,
    /// A MongoDB migration.
    DocumentMigration,
    /// A seed.
    Seed,
}

impl World {
    /// Its name in `wit/runtime.wit`.
    pub fn wit_name(self) -> &'static str {
        match self {
            World::Migration => "migration",
            World::DocumentMigration => "document-migration",
            World::Seed => "seed",
        }
    }
}

/// What a guest folder is.
#[derive(Debug, Clone, Copy)]
pub struct Guest {
    /// Its language.
    pub language: Language,
    /// Its world.
    pub world: World,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    language: Language,
    world: Option<World>,
}

/// Reads what `dir` is: `None` when it holds no guest, an error when its `component.toml` is
/// wrong.
pub fn detect(dir: &Path) -> Option<Result<Guest, Error>> {
    if dir.join("Cargo.toml").is_file() {
        let seed = crate::commands::build::is_seed_crate(&dir.join("Cargo.toml"));
        return Some(Ok(Guest { language: Language::Rust, world: if seed { World::Seed } else { World::Migration } }));
    }
    let manifest = dir.join("component.toml");
    if manifest.is_file() {
        let parsed = std::fs::read_to_string(&manifest)
            .map_err(|e| Error::Config(format!("{}: {e}", manifest.display())))
            .and_then(|t| toml::from_str::<Manifest>(&t).map_err(|e| Error::Config(format!("{}: {}", manifest.display(), e.message()))));
        return Some(parsed.map(|m| Guest { language: m.language, world: m.world.unwrap_or(World::Migration) }));
    }
    if dir.join("app.py").is_file() {
        return Some(Ok(Guest { language: Language::Python, world: World::Migration }));
    }
    if dir.join("app.js").is_file() {
        return Some(Ok(Guest { language: Language::Js, world: World::Migration }));
    }
    if dir.join("app.c").is_file() {
        return Some(Ok(Guest { language: Language::C, world: World::Migration }));
    }
    None
}

/// Finds a tool: on PATH, in the project's `.venv/bin` or `node_modules/.bin`, or in the
/// active virtualenv.
pub(crate) fn find_tool(name: &str, project: &Path) -> Option<PathBuf> {
    let mut candidates = vec![project.join(".venv/bin").join(name), project.join("node_modules/.bin").join(name)];
    if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
        candidates.push(PathBuf::from(v).join("bin").join(name));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|p| p.join(name)));
    }
    candidates.into_iter().find(|p| p.is_file())
}

fn missing(language: &str, tool: &str, install: &str) -> Error {
    Error::Config(format!(
        "building {language} components needs `{tool}`, which was not found on PATH, in .venv/bin or in node_modules/.bin: install it with `{install}`"
    ))
}

/// SHA-256 over the guest's sources (every file but build output and the SDK copy), the SDK, the
/// WIT and the world: the build is skipped while it is unchanged.
fn fingerprint(dir: &Path, guest: Guest, sdk: &str) -> String {
    fn walk(dir: &Path, root: &Path, files: &mut Vec<(String, PathBuf)>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || ["node_modules", "__pycache__", "target", "db-migrate.js", "db-migrate.d.ts"].contains(&name.as_str()) {
                continue;
            }
            if p.is_dir() {
                walk(&p, root, files);
            } else {
                files.push((p.strip_prefix(root).unwrap_or(&p).to_string_lossy().into_owned(), p));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    let mut h = Sha256::new();
    h.update(format!("{:?} {:?}\0", guest.language, guest.world));
    h.update(sdk);
    h.update(crate::commands::build::WIT);
    for (rel, p) in files {
        h.update(rel.as_bytes());
        h.update([0]);
        h.update(std::fs::read(&p).unwrap_or_default());
        h.update([0]);
    }
    db_migrate::migrate::source::checksum_bytes(&h.finalize())
}

/// Where a guest's component goes.
pub fn destination(settings: &Settings, dir: &Path, guest: Guest, out: Option<&Path>) -> Result<PathBuf, Error> {
    let stem = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    let out_dir = match (out, guest.world) {
        (Some(o), _) => o.to_path_buf(),
        (None, World::Seed) => settings.seeds_dir.clone(),
        (None, _) => settings.migrations_dir.clone(),
    };
    if out.is_none() && guest.world != World::Seed && !matches!(db_migrate::migrate::source::parse_stem(&stem), Some(Ok(_))) {
        return Err(Error::Config(format!(
            "{}: a component folder is named VERSION_name (it becomes {}/VERSION_name.wasm); rename it or pass --out",
            dir.display(),
            settings.migrations_dir.display()
        )));
    }
    std::fs::create_dir_all(&out_dir).map_err(|e| Error::Io { path: out_dir.clone(), message: e.to_string() })?;
    Ok(out_dir.join(format!("{stem}.wasm")))
}

/// Builds one Python or JavaScript guest; returns its component and whether it was up to date.
fn build_one(settings: &Settings, dir: &Path, guest: Guest, out: Option<&Path>, o: &Output) -> Result<(PathBuf, bool), Error> {
    let project = &settings.project_dir;
    let base = project.join(".db-migrate");
    let dest = destination(settings, dir, guest, out)?;
    let sdk: String = match guest.language {
        Language::Python => PY_SDK.to_string(),
        Language::Js => JS_SDK.to_string(),
        Language::C => format!("{C_SDK_H}{C_SDK_C}"),
        Language::Rust => unreachable!("Rust guests are built by cargo"),
    };
    if guest.language == Language::Js {
        // The SDK sits next to app.js, which imports it as `./db-migrate.js`.
        crate::commands::build::write_if_changed(&dir.join("db-migrate.js"), JS_SDK)?;
        crate::commands::build::write_if_changed(&dir.join("db-migrate.d.ts"), JS_SDK_TYPES)?;
    }
    let stamp_dir = base.join("build");
    let stem = dest.file_stem().and_then(|s| s.to_str()).unwrap_or("guest").to_string();
    let stamp = stamp_dir.join(format!("{stem}.sha256"));
    let print = fingerprint(dir, guest, &sdk);
    if dest.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == print) {
        return Ok((dest, true));
    }
    let wit = base.join("wit");
    let world = guest.world.wit_name();
    let tmp = dest.with_extension("wasm.partial");
    let mut cmd = match guest.language {
        Language::Python => {
            let tool = find_tool("componentize-py", project).ok_or_else(|| missing("Python", "componentize-py", "pip install componentize-py"))?;
            let sdk_dir = base.join("sdk").join("python");
            crate::commands::build::write_if_changed(&sdk_dir.join("db_migrate").join("__init__.py"), PY_SDK)?;
            let mut c = Command::new(tool);
            c.arg("-d").arg(&wit).args(["-w", world]);
            if o.quiet {
                c.arg("--quiet");
            }
            c.args(["componentize", "app", "-p"]).arg(dir).arg("-p").arg(&sdk_dir).arg("-o").arg(&tmp);
            c
        }
        Language::Js => {
            let tool = find_tool("componentize-js", project)
                .ok_or_else(|| missing("JavaScript", "componentize-js", "npm install @bytecodealliance/componentize-js"))?;
            let mut c = Command::new(tool);
            // No wasi:http or fetch: a component imports only what db-migrate offers.
            c.arg(dir.join("app.js")).arg("--wit").arg(&wit).args(["--world-name", world, "--disable", "http", "fetch-event", "-o"]).arg(&tmp);
            c
        }
        Language::C => c_command(project, &base, dir, guest, &tmp)?,
        Language::Rust => unreachable!(),
    };
    o.note(&format!("building {} ({:?}, world {world})", dir.display(), guest.language));
    let output = cmd.output().map_err(|e| Error::Config(format!("cannot run the {:?} build tool: {e}", guest.language)))?;
    let hint = if guest.language == Language::C && !output.status.success() {
        "\n(C guests need clang with wasi-libc and lld: `apt install clang lld wasi-libc libclang-rt-14-dev-wasm32`, or WASI_SDK_PATH pointing at a wasi-sdk)"
    } else {
        ""
    };
    if !output.status.success() || !tmp.is_file() {
        let _ = std::fs::remove_file(&tmp);
        let err = String::from_utf8_lossy(&output.stderr);
        let outp = String::from_utf8_lossy(&output.stdout);
        return Err(Error::Config(format!(
            "building {} failed:\n{}{}{hint}",
            dir.display(),
            outp.trim_end(),
            if err.trim().is_empty() { String::new() } else { format!("\n{}", err.trim_end()) }
        )));
    }
    std::fs::rename(&tmp, &dest).map_err(|e| Error::Io { path: dest.clone(), message: e.to_string() })?;
    std::fs::create_dir_all(&stamp_dir).map_err(|e| Error::Io { path: stamp_dir.clone(), message: e.to_string() })?;
    std::fs::write(&stamp, &print).map_err(|e| Error::Io { path: stamp.clone(), message: e.to_string() })?;
    Ok((dest, false))
}

/// The Rust toolchain's `wasm-component-ld` (rustup installs it with the `wasm32-wasip2` target),
/// or one on PATH.
fn wasm_component_ld(project: &Path) -> Option<PathBuf> {
    let sysroot = Command::new("rustc").args(["--print", "sysroot"]).output().ok()?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    let host = Command::new("rustc").args(["-vV"]).output().ok()?;
    let host = String::from_utf8_lossy(&host.stdout).lines().find_map(|l| l.strip_prefix("host: ").map(str::to_string))?;
    let bundled = sysroot.join("lib/rustlib").join(host).join("bin/wasm-component-ld");
    if bundled.is_file() { Some(bundled) } else { find_tool("wasm-component-ld", project) }
}

/// The compile-and-link command of a C guest: bindings from wit-bindgen, the SDK, every `*.c`
/// of the folder, linked into a component by wasm-component-ld (with the WASI adapter).
fn c_command(project: &Path, base: &Path, dir: &Path, guest: Guest, out: &Path) -> Result<Command, Error> {
    if guest.world == World::DocumentMigration {
        return Err(Error::Config(format!(
            "{}: C guests implement `migration` or `seed`; MongoDB migrations are written as command files, in Rust or in Python",
            dir.display()
        )));
    }
    let world = guest.world.wit_name();
    let wit_bindgen = find_tool("wit-bindgen", project).ok_or_else(|| missing("C", "wit-bindgen", "cargo install wit-bindgen-cli --version 0.61.0"))?;
    let linker = wasm_component_ld(project).ok_or_else(|| missing("C", "wasm-component-ld", "rustup target add wasm32-wasip2 (it ships with the Rust toolchain)"))?;
    let (clang, sysroot) = match std::env::var_os("WASI_SDK_PATH") {
        Some(sdk) => (PathBuf::from(&sdk).join("bin/clang"), Some(PathBuf::from(&sdk).join("share/wasi-sysroot"))),
        None => (
            find_tool("clang", project).ok_or_else(|| missing("C", "clang", "apt install clang lld wasi-libc libclang-rt-14-dev-wasm32 (or set WASI_SDK_PATH)"))?,
            None,
        ),
    };
    let stem = dir.file_name().and_then(|n| n.to_str()).unwrap_or("guest");
    let bindings_dir = base.join("build").join(format!("{stem}-c"));
    let sdk = base.join("sdk").join("c");
    crate::commands::build::write_if_changed(&sdk.join("db_migrate.h"), C_SDK_H)?;
    crate::commands::build::write_if_changed(&sdk.join("db_migrate.c"), C_SDK_C)?;
    let _ = std::fs::remove_dir_all(&bindings_dir);
    let bindings = Command::new(&wit_bindgen)
        .args(["c", "--world", world])
        .arg(base.join("wit"))
        .arg("--out-dir")
        .arg(&bindings_dir)
        .output()
        .map_err(|e| Error::Config(format!("cannot run wit-bindgen: {e}")))?;
    if !bindings.status.success() {
        return Err(Error::Config(format!("wit-bindgen c failed for {}:\n{}", dir.display(), String::from_utf8_lossy(&bindings.stderr).trim_end())));
    }
    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::Io { path: dir.to_path_buf(), message: e.to_string() })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("c"))
        .collect();
    sources.sort();
    let module = world.replace('-', "_");
    let mut c = Command::new(clang);
    c.args(["--target=wasm32-wasi", "-O2", "-mexec-model=reactor", "-Wall"]);
    if let Some(s) = sysroot {
        c.arg(format!("--sysroot={}", s.display()));
    }
    if guest.world == World::Seed {
        c.arg("-DDBM_SEED");
    }
    c.arg("-I").arg(&bindings_dir).arg("-I").arg(&sdk).arg("-I").arg(dir);
    c.arg(format!("-fuse-ld={}", linker.display()));
    c.args(&sources).arg(sdk.join("db_migrate.c")).arg(bindings_dir.join(format!("{module}.c"))).arg(bindings_dir.join(format!("{module}_component_type.o")));
    c.arg("-o").arg(out);
    // clang runs `wasm-opt` after linking when it finds one on PATH (binaryen, which npm tools
    // bring along); it cannot read the component wasm-component-ld produced. Hide it.
    if let Some(path) = std::env::var_os("PATH") {
        let kept: Vec<PathBuf> = std::env::split_paths(&path).filter(|d| !d.join("wasm-opt").is_file()).collect();
        if let Ok(joined) = std::env::join_paths(kept) {
            c.env("PATH", joined);
        }
    }
    Ok(c)
}

/// Builds Python, JavaScript and C guests, two at a time; returns (folder, component, skipped).
pub fn build_all(settings: &Settings, guests: &[&(PathBuf, Guest)], out: Option<&Path>, o: &Output) -> Result<Vec<(PathBuf, PathBuf, bool)>, Error> {
    let mut results = Vec::new();
    for pair in guests.chunks(2) {
        let done: Vec<Result<(PathBuf, bool), Error>> = std::thread::scope(|s| {
            let handles: Vec<_> = pair.iter().map(|(dir, g)| s.spawn(move || build_one(settings, dir, *g, out, o))).collect();
            handles.into_iter().map(|h| h.join().expect("a build thread panicked")).collect()
        });
        for ((dir, _), r) in pair.iter().zip(done) {
            let (dest, skipped) = r?;
            results.push((dir.clone(), dest, skipped));
        }
    }
    Ok(results)
}

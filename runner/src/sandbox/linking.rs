//! The linker a component is instantiated with: the interfaces it imports, and no others.
//!
//! Defining every interface the host offers — WASI 0.2's hundred and fifty-odd functions and
//! ours — costs about as much as the rest of a warm component run together (measured: 0.87 M of
//! the 2.0 M instructions a one-statement Rust migration adds to a run), while a Rust guest
//! imports a dozen small interfaces (no files, no sockets). So a linker is built for each set of
//! imports a run meets and kept for the run: the components one toolchain built share one.
//!
//! What a component may reach does not change: an interface is defined only if the host offers it
//! (the same definitions, with the same denials, as before), and one it does not offer is left
//! undefined, so instantiation refuses the component, as it always did — after
//! [`super::inspect`] refused it first with a clearer message.

use std::sync::{Arc, Mutex};

use wasmtime::Engine;
use wasmtime::component::{Component, HasData, HasSelf, Linker, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings as wasi;
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};

use super::host::{self, HostState};

/// `wasi:io` reaches the guest's resource table.
struct Io;

impl HasData for Io {
    type Data<'a> = &'a mut ResourceTable;
}

fn table(s: &mut HostState) -> &mut ResourceTable {
    s.ctx().table
}

type Add = fn(&mut Linker<HostState>) -> wasmtime::Result<()>;

/// How to define one interface the host offers (named without its version), or `None`.
fn definer(interface: &str) -> Option<Add> {
    let add: Add = match interface {
        "db-migrate:runtime/types" => |l| host::types::add_to_linker::<_, HasSelf<HostState>>(l, |s| s),
        "db-migrate:runtime/sql" => |l| host::sql::add_to_linker::<_, HasSelf<HostState>>(l, |s| s),
        "db-migrate:runtime/log" => |l| host::log::add_to_linker::<_, HasSelf<HostState>>(l, |s| s),
        "db-migrate:runtime/context" => |l| host::context::add_to_linker::<_, HasSelf<HostState>>(l, |s| s),
        // Without MongoDB's driver the host does not offer `documents` (see host.rs).
        #[cfg(feature = "mongodb")]
        "db-migrate:runtime/documents" => |l| host::documents::add_to_linker::<_, HasSelf<HostState>>(l, |s| s),
        "wasi:io/error" => |l| wasi::io::error::add_to_linker::<_, Io>(l, table),
        "wasi:io/poll" => |l| wasi::io::poll::add_to_linker::<_, Io>(l, table),
        "wasi:io/streams" => |l| wasi::io::streams::add_to_linker::<_, Io>(l, table),
        "wasi:clocks/wall-clock" => |l| wasi::clocks::wall_clock::add_to_linker::<_, WasiClocks>(l, HostState::clocks),
        "wasi:clocks/monotonic-clock" => |l| wasi::clocks::monotonic_clock::add_to_linker::<_, WasiClocks>(l, HostState::clocks),
        "wasi:filesystem/types" => |l| wasi::filesystem::types::add_to_linker::<_, WasiFilesystem>(l, HostState::filesystem),
        "wasi:filesystem/preopens" => |l| wasi::filesystem::preopens::add_to_linker::<_, WasiFilesystem>(l, HostState::filesystem),
        "wasi:random/random" => |l| wasi::random::random::add_to_linker::<_, WasiRandom>(l, HostState::random),
        "wasi:random/insecure" => |l| wasi::random::insecure::add_to_linker::<_, WasiRandom>(l, HostState::random),
        "wasi:random/insecure-seed" => |l| wasi::random::insecure_seed::add_to_linker::<_, WasiRandom>(l, HostState::random),
        "wasi:cli/exit" => |l| wasi::cli::exit::add_to_linker::<_, WasiCli>(l, HostState::cli),
        "wasi:cli/environment" => |l| wasi::cli::environment::add_to_linker::<_, WasiCli>(l, HostState::cli),
        "wasi:cli/stdin" => |l| wasi::cli::stdin::add_to_linker::<_, WasiCli>(l, HostState::cli),
        "wasi:cli/stdout" => |l| wasi::cli::stdout::add_to_linker::<_, WasiCli>(l, HostState::cli),
        "wasi:cli/stderr" => |l| wasi::cli::stderr::add_to_linker::<_, WasiCli>(l, HostState::cli),
        "wasi:cli/terminal-input" => |l| wasi::cli::terminal_input::add_to_linker::<_, WasiCli>(l, HostState::cli),
        "wasi:cli/terminal-output" => |l| wasi::cli::terminal_output::add_to_linker::<_, WasiCli>(l, HostState::cli),
        "wasi:cli/terminal-stdin" => |l| wasi::cli::terminal_stdin::add_to_linker::<_, WasiCli>(l, HostState::cli),
        "wasi:cli/terminal-stdout" => |l| wasi::cli::terminal_stdout::add_to_linker::<_, WasiCli>(l, HostState::cli),
        "wasi:cli/terminal-stderr" => |l| wasi::cli::terminal_stderr::add_to_linker::<_, WasiCli>(l, HostState::cli),
        "wasi:sockets/network" => |l| wasi::sockets::network::add_to_linker::<_, WasiSockets>(l, &Default::default(), HostState::sockets),
        "wasi:sockets/instance-network" => |l| wasi::sockets::instance_network::add_to_linker::<_, WasiSockets>(l, HostState::sockets),
        "wasi:sockets/tcp" => |l| wasi::sockets::tcp::add_to_linker::<_, WasiSockets>(l, HostState::sockets),
        "wasi:sockets/tcp-create-socket" => |l| wasi::sockets::tcp_create_socket::add_to_linker::<_, WasiSockets>(l, HostState::sockets),
        "wasi:sockets/udp" => |l| wasi::sockets::udp::add_to_linker::<_, WasiSockets>(l, HostState::sockets),
        "wasi:sockets/udp-create-socket" => |l| wasi::sockets::udp_create_socket::add_to_linker::<_, WasiSockets>(l, HostState::sockets),
        "wasi:sockets/ip-name-lookup" => |l| wasi::sockets::ip_name_lookup::add_to_linker::<_, WasiSockets>(l, HostState::sockets),
        _ => return None,
    };
    Some(add)
}

/// The linkers a run has built, by the (sorted) names a component imports.
#[derive(Default)]
pub(super) struct Linkers {
    built: Mutex<Vec<(Vec<String>, Arc<Linker<HostState>>)>>,
}

impl Linkers {
    /// The linker for `component`'s imports, built on first need.
    pub(super) fn for_component(&self, engine: &Engine, component: &Component) -> Result<Arc<Linker<HostState>>, String> {
        let mut names: Vec<String> = component.component_type().imports(engine).map(|(n, _)| n.to_string()).collect();
        names.sort_unstable();
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, l)) = built.iter().find(|(k, _)| *k == names) {
            return Ok(Arc::clone(l));
        }
        let linker = Arc::new(build(engine, &names)?);
        built.push((names, Arc::clone(&linker)));
        Ok(linker)
    }
}

/// A linker defining the interfaces of `names` (imports, with or without versions) the host
/// offers.
fn build(engine: &Engine, names: &[String]) -> Result<Linker<HostState>, String> {
    let mut linker = Linker::new(engine);
    // Each interface once, whatever versions of it are imported (a composed component can
    // import `wasi:io/streams@0.2.0` and `@0.2.3`; one definition serves both, as in a
    // linker holding everything).
    let interfaces: std::collections::BTreeSet<&str> = names.iter().map(|n| n.split('@').next().unwrap_or(n)).collect();
    for interface in interfaces {
        // An import the host does not offer stays undefined: instantiation refuses it.
        if let Some(add) = definer(interface) {
            add(&mut linker).map_err(|e| format!("cannot link the component's import {interface}: {e:#}"))?;
        }
    }
    Ok(linker)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every interface of the WASI 0.2 packages the host offers (those `add_to_linker_async`
    /// adds), and ours, has a definer that defines it; other names have none.
    #[test]
    fn every_offered_interface_is_defined_and_nothing_else() {
        let engine = super::super::engine().unwrap();
        let offered = [
            "wasi:io/error", "wasi:io/poll", "wasi:io/streams", "wasi:clocks/wall-clock", "wasi:clocks/monotonic-clock",
            "wasi:filesystem/types", "wasi:filesystem/preopens", "wasi:random/random", "wasi:random/insecure",
            "wasi:random/insecure-seed", "wasi:cli/exit", "wasi:cli/environment", "wasi:cli/stdin", "wasi:cli/stdout",
            "wasi:cli/stderr", "wasi:cli/terminal-input", "wasi:cli/terminal-output", "wasi:cli/terminal-stdin",
            "wasi:cli/terminal-stdout", "wasi:cli/terminal-stderr", "wasi:sockets/network", "wasi:sockets/instance-network",
            "wasi:sockets/tcp", "wasi:sockets/tcp-create-socket", "wasi:sockets/udp", "wasi:sockets/udp-create-socket",
            "wasi:sockets/ip-name-lookup", "db-migrate:runtime/types", "db-migrate:runtime/sql", "db-migrate:runtime/log",
            "db-migrate:runtime/context",
        ];
        #[cfg(feature = "mongodb")]
        let offered = [&offered[..], &["db-migrate:runtime/documents"]].concat();
        for name in offered {
            let add = definer(name).unwrap_or_else(|| panic!("{name} has no definer"));
            add(&mut Linker::new(&engine)).unwrap();
        }
        for refused in ["wasi:http/outgoing-handler", "wasi:cli/run", "db-migrate:runtime/other", "wasi:io"] {
            assert!(definer(refused).is_none(), "{refused}");
        }
    }

    /// Two versions of one interface (a composed component's imports) link to one definition.
    #[test]
    fn an_interface_imported_in_two_versions_is_defined_once() {
        let engine = super::super::engine().unwrap();
        let names: Vec<String> = ["wasi:io/streams@0.2.0", "wasi:io/streams@0.2.3", "wasi:io/error@0.2.3", "wasi:http/types@0.2.0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        build(&engine, &names).unwrap();
    }

    /// A sandbox serves a seed only if its engine has what the seed's limits need.
    #[test]
    fn engine_features_cover_and_combine() {
        use super::super::EngineFeatures as F;
        let (none, epoch, fuel) = (F { epoch: false, fuel: false }, F { epoch: true, fuel: false }, F { epoch: false, fuel: true });
        assert!(epoch.covers(none) && epoch.covers(epoch) && !none.covers(epoch) && !epoch.covers(fuel));
        assert_eq!(epoch.union(fuel), F { epoch: true, fuel: true });
        assert!(epoch.union(fuel).covers(epoch) && epoch.union(fuel).covers(fuel));
    }
}

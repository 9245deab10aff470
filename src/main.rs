//! `token2go-server`: parse arguments, load config, take or bind the listener, serve until
//! SIGTERM or SIGINT, stop gracefully. `token2go-server healthcheck` probes a running one.
//! The steps themselves are in [`token2go::server::lifecycle`].

use std::process::ExitCode;

use token2go::server::activation::inherited_listener;
use token2go::server::config::{self, Config};
use token2go::server::healthcheck;
use token2go::server::lifecycle::{Prepared, prepare};

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None => serve(),
        Some("healthcheck") => healthcheck(),
        Some("--help" | "-h") => {
            print!("{}", config::usage());
            ExitCode::SUCCESS
        }
        Some("--version" | "-V") => {
            println!("token2go-server {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!(
                "token2go-server: unknown argument {other:?}; configuration is by T2G_* variables, see --help"
            );
            ExitCode::from(2)
        }
    }
}

/// Prepares (config, passed socket, signal handlers), starts, and serves until a stop signal.
fn serve() -> ExitCode {
    #[allow(unsafe_code)] // the one call into socket activation, before any thread starts
    let prepared = prepare(|| {
        // SAFETY: prepare calls this once, while this is still the only thread (signals are
        // blocked, no handler thread yet, and main starts none before it), as
        // inherited_listener requires; it removes the LISTEN_* variables and takes fd 3.
        unsafe { inherited_listener() }
    });
    match prepared.and_then(Prepared::start) {
        Ok(running) => running.wait(),
        Err(code) => code,
    }
}

/// Exit 0 when `/health` answers 200 on loopback at the configured port, else 1 with one line
/// on stderr; never 2, which Docker reserves in a `HEALTHCHECK`.
fn healthcheck() -> ExitCode {
    let config = match Config::from_env() {
        Ok((config, _)) => config,
        Err(error) => {
            eprintln!("token2go-server healthcheck: {error}");
            return ExitCode::from(1);
        }
    };
    let addr = healthcheck::probe_addr(config.listen);
    match healthcheck::probe(addr, healthcheck::TIMEOUT) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("token2go-server healthcheck: http://{addr}/health: {error}");
            ExitCode::from(1)
        }
    }
}

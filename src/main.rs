//! `token2go-server`: parse arguments, load config, take or bind the listener, serve until
//! SIGTERM or SIGINT, stop gracefully. `token2go-server healthcheck` probes a running one.

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use signal_hook::low_level::signal_name;
use token2go::http::{Limits, Server};
use token2go::log::{
    error as log_error, flush as log_flush, info as log_info, set_format as set_log_format,
    warn as log_warn,
};
use token2go::server::activation::{Inherited, inherited_listener};
use token2go::server::config::{Config, STOP_GRACE, usage as server_usage};
use token2go::server::healthcheck::{TIMEOUT as PROBE_TIMEOUT, probe as probe_health, probe_addr};
use token2go::server::routes::App;
use token2go::sys::{
    block_stop_signals, limit_malloc_arenas, raise_listen_backlog, raise_nofile_limit,
};

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None => serve(),
        Some("healthcheck") => healthcheck(),
        Some("--help" | "-h") => {
            print!("{}", server_usage());
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

fn serve() -> ExitCode {
    // Before any thread exists, so every thread's allocations follow it.
    limit_malloc_arenas();
    let (mut config, inherited, signals) = match prepare() {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    fit_open_files(&mut config);
    let Some((listener, origin)) = listener(&config, inherited) else {
        return ExitCode::from(1);
    };
    let address = listener.local_addr().unwrap_or(config.listen);
    if let Some(warning) = config.fallback_exposure(address) {
        log_warn(&warning);
    }
    let limits = Limits {
        max_connections: config.max_connections,
        ..Limits::default()
    };
    log_info(&format!(
        "token2go-server {} listening on http://{address}{origin} {}",
        env!("CARGO_PKG_VERSION"),
        config.summary()
    ));
    let server = match Server::start(listener, limits, Arc::new(App::new(config))) {
        Ok(server) => server,
        Err(error) => {
            log_error(&format!("cannot start the server: {error}"));
            return ExitCode::from(1);
        }
    };
    stop(server, signals)
}

/// Raises the open-file limit as far as allowed, and fits the connection limit under it.
fn fit_open_files(config: &mut Config) {
    match raise_nofile_limit() {
        Ok(limit) => {
            if let Some(warning) = config.fit_open_files(limit.soft) {
                log_warn(&warning);
            }
        }
        Err(error) => log_warn(&format!("cannot read the open-file limit: {error}")),
    }
}

/// The socket to serve on, the service manager's or our own, and the words that say which
/// for the start line; `None` when binding failed (logged).
fn listener(config: &Config, inherited: Inherited) -> Option<(TcpListener, &'static str)> {
    match inherited {
        Inherited::Listener(listener) => {
            Some((listener, " (socket passed by the service manager)"))
        }
        Inherited::Ignored(warning) => {
            log_warn(&warning);
            bind(config).map(|listener| (listener, ""))
        }
        Inherited::Nothing => bind(config).map(|listener| (listener, "")),
    }
}

/// Waits for a stop signal, then stops the server gracefully: the exit code.
fn stop(server: Server, mut signals: Signals) -> ExitCode {
    // Nothing closes the iterator, so it only ends with a signal.
    let signal = signals.forever().next().unwrap_or(SIGTERM);
    log_info(&format!(
        "{}: stopping: no new connections, requests in flight get up to {} s",
        signal_name(signal).unwrap_or("signal"),
        STOP_GRACE.as_secs()
    ));
    // A second signal (an impatient Ctrl-C, a supervisor's repeat) ends the process at once
    // with 128 + its number, as a shell reports a process that signal killed.
    let second = thread::Builder::new()
        .name("t2g-signals".to_string())
        .spawn(move || {
            if let Some(again) = signals.forever().next() {
                log_warn(&format!(
                    "{} during the stop: exiting without waiting for requests in flight",
                    signal_name(again).unwrap_or("signal")
                ));
                log_flush();
                std::process::exit(128 + again);
            }
        });
    if let Err(error) = second {
        log_warn(&format!(
            "a second signal will not cut the stop short: {error}"
        ));
    }
    let closed = server.shutdown(STOP_GRACE);
    if closed > 0 {
        log_warn(&format!(
            "{closed} connection(s) still busy after {} s; closed",
            STOP_GRACE.as_secs()
        ));
    }
    // The access log is batched: its last lines go out before the process ends.
    log_flush();
    ExitCode::SUCCESS
}

/// The configuration (its warnings logged), the socket a service manager passed, and the stop
/// signals' handlers; the exit code when one of them fails.
///
/// SIGTERM and SIGINT wait, blocked, from the first instruction until their handlers are in
/// place: a signal while a full stderr pipe holds a warning, or while a `.socket` unit's socket
/// already accepts, would otherwise end the process (exit 143, no stop line), and as PID 1 be
/// ignored. The handlers come after `inherited_listener`: signal-hook opens a pipe, which must
/// not take fd 3 before the passed socket is checked.
fn prepare() -> Result<(Config, Inherited, Signals), ExitCode> {
    if let Err(error) = block_stop_signals(true) {
        eprintln!("token2go-server: cannot block SIGTERM and SIGINT: {error}");
        return Err(ExitCode::from(1));
    }
    let (config, warnings) = Config::from_env().map_err(|error| {
        eprintln!("token2go-server: {error}");
        ExitCode::from(2)
    })?;
    set_log_format(config.log_format);
    for warning in &warnings {
        log_warn(warning);
    }
    #[allow(unsafe_code)] // the one call into socket activation, before any thread starts
    // SAFETY: this is still the only thread (signals are blocked, no handler thread yet), as
    // inherited_listener requires; it removes the LISTEN_* variables and takes fd 3.
    let inherited = unsafe { inherited_listener() }.map_err(|error| {
        log_error(&error.to_string());
        ExitCode::from(2)
    })?;
    // Registered while blocked (signal-hook installs its handler before it records what the
    // handler does, and a signal in between would be dropped), then let through: one that came
    // meanwhile arrives now. Before any thread exists, so every thread gets the open mask.
    let signals = Signals::new([SIGTERM, SIGINT]);
    if let Err(error) = block_stop_signals(false) {
        log_error(&format!("cannot unblock SIGTERM and SIGINT: {error}"));
        return Err(ExitCode::from(1));
    }
    let signals = signals.map_err(|error| {
        log_error(&format!("cannot handle SIGTERM and SIGINT: {error}"));
        ExitCode::from(1)
    })?;
    Ok((config, inherited, signals))
}

/// Binds the configured address (a socket passed by systemd keeps the unit's `Backlog=`).
fn bind(config: &Config) -> Option<TcpListener> {
    match TcpListener::bind(config.listen) {
        Ok(listener) => {
            if let Err(error) = raise_listen_backlog(&listener) {
                log_warn(&format!("cannot raise the listen backlog: {error}"));
            }
            Some(listener)
        }
        Err(error) => {
            log_error(&format!("cannot listen on {}: {error}", config.listen));
            None
        }
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
    let addr = probe_addr(config.listen);
    match probe_health(addr, PROBE_TIMEOUT) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("token2go-server healthcheck: http://{addr}/health: {error}");
            ExitCode::from(1)
        }
    }
}

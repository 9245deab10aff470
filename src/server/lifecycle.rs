//! The server process from start to exit, in three steps `src/main.rs` calls in order:
//! [`prepare`] (stop signals held back, configuration, the socket a service manager passed,
//! the signal handlers), [`Prepared::start`] (open-file limit, listener, start line, serving)
//! and [`Running::wait`] (until SIGTERM or SIGINT, then the graceful stop). Each step logs its
//! own failure and hands back the exit code: 2 for a configuration mistake, 1 for the rest.

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use signal_hook::low_level::signal_name;

use crate::http::{Limits, Server};
use crate::log;
use crate::server::activation::{ActivationError, Inherited};
use crate::server::config::{Config, STOP_GRACE};
use crate::server::routes::App;
use crate::sys::{
    block_stop_signals, limit_malloc_arenas, raise_listen_backlog, raise_nofile_limit,
};

/// The configuration, the passed socket and the stop signals' handlers, ready to serve.
pub struct Prepared {
    config: Config,
    inherited: Inherited,
    signals: Signals,
}

/// A serving server and the handlers of the signals that stop it.
pub struct Running {
    server: Server,
    signals: Signals,
}

/// Limits malloc's arenas, loads the configuration (its warnings logged), takes the socket a
/// service manager passed with `take_socket` and registers the stop signals' handlers; the exit
/// code when one of them fails. Call it first, before the process starts any thread.
///
/// SIGTERM and SIGINT wait, blocked, from the start of this function until their handlers are
/// in place: a signal while a full stderr pipe holds a warning, or while a `.socket` unit's socket
/// already accepts, would otherwise end the process (exit 143, no stop line), and as PID 1 be
/// ignored. The handlers come after `take_socket`: signal-hook opens a pipe, which must not
/// take fd 3 before the passed socket is checked.
///
/// `take_socket` is called exactly once, while this is still the only thread (signals
/// blocked, no handler registered, no thread started), so it may call
/// [`inherited_listener`](crate::server::activation::inherited_listener).
pub fn prepare(
    take_socket: impl FnOnce() -> Result<Inherited, ActivationError>,
) -> Result<Prepared, ExitCode> {
    // Before any thread exists, so every thread's allocations follow it.
    limit_malloc_arenas();
    if let Err(error) = block_stop_signals(true) {
        eprintln!("token2go-server: cannot block SIGTERM and SIGINT: {error}");
        return Err(ExitCode::from(1));
    }
    let (config, warnings) = Config::from_env().map_err(|error| {
        eprintln!("token2go-server: {error}");
        ExitCode::from(2)
    })?;
    log::set_format(config.log_format);
    for warning in &warnings {
        log::warn(warning);
    }
    let inherited = take_socket().map_err(|error| {
        log::error(&error.to_string());
        ExitCode::from(2)
    })?;
    // Registered while blocked (signal-hook installs its handler before it records what the
    // handler does, and a signal in between would be dropped), then let through: one that came
    // meanwhile arrives now. Before any thread exists, so every thread gets the open mask.
    let signals = Signals::new([SIGTERM, SIGINT]);
    if let Err(error) = block_stop_signals(false) {
        log::error(&format!("cannot unblock SIGTERM and SIGINT: {error}"));
        return Err(ExitCode::from(1));
    }
    let signals = signals.map_err(|error| {
        log::error(&format!("cannot handle SIGTERM and SIGINT: {error}"));
        ExitCode::from(1)
    })?;
    Ok(Prepared {
        config,
        inherited,
        signals,
    })
}

impl Prepared {
    /// Fits the connection cap to the open-file limit, takes the passed socket or binds the
    /// configured address, logs the start line and starts serving; exit code 1 when binding
    /// or starting failed (logged).
    pub fn start(self) -> Result<Running, ExitCode> {
        let Prepared {
            mut config,
            inherited,
            signals,
        } = self;
        fit_open_files(&mut config);
        let Some((listener, origin)) = listener(&config, inherited) else {
            return Err(ExitCode::from(1));
        };
        let address = listener.local_addr().unwrap_or(config.listen);
        if let Some(warning) = config.fallback_exposure(address) {
            log::warn(&warning);
        }
        let limits = Limits {
            max_connections: config.max_connections,
            ..Limits::default()
        };
        log::info(&format!(
            "token2go-server {} listening on http://{address}{origin} {}",
            env!("CARGO_PKG_VERSION"),
            config.summary()
        ));
        match Server::start(listener, limits, Arc::new(App::new(config))) {
            Ok(server) => Ok(Running { server, signals }),
            Err(error) => {
                log::error(&format!("cannot start the server: {error}"));
                Err(ExitCode::from(1))
            }
        }
    }
}

impl Running {
    /// Waits for a stop signal, then stops the server gracefully: the exit code.
    pub fn wait(self) -> ExitCode {
        let Running {
            server,
            mut signals,
        } = self;
        // Nothing closes the iterator, so it only ends with a signal.
        let signal = signals.forever().next().unwrap_or(SIGTERM);
        log::info(&format!(
            "{}: stopping: no new connections, requests in flight get up to {} s",
            signal_name(signal).unwrap_or("signal"),
            STOP_GRACE.as_secs()
        ));
        exit_on_second_signal(signals);
        let closed = server.shutdown(STOP_GRACE);
        if closed > 0 {
            log::warn(&format!(
                "{closed} connection(s) still busy after {} s; closed",
                STOP_GRACE.as_secs()
            ));
        }
        // The access log is batched: its last lines go out before the process ends.
        log::flush();
        ExitCode::SUCCESS
    }
}

/// A second signal (an impatient Ctrl-C, a supervisor's repeat) ends the process at once with
/// 128 + its number, as a shell reports a process that signal killed.
fn exit_on_second_signal(mut signals: Signals) {
    let second = thread::Builder::new()
        .name("t2g-signals".to_string())
        .spawn(move || {
            if let Some(again) = signals.forever().next() {
                log::warn(&format!(
                    "{} during the stop: exiting without waiting for requests in flight",
                    signal_name(again).unwrap_or("signal")
                ));
                log::flush();
                std::process::exit(128 + again);
            }
        });
    if let Err(error) = second {
        log::warn(&format!(
            "a second signal will not cut the stop short: {error}"
        ));
    }
}

/// Raises the open-file limit as far as allowed, and fits the connection limit under it.
fn fit_open_files(config: &mut Config) {
    match raise_nofile_limit() {
        Ok(limit) => {
            if let Some(warning) = config.fit_open_files(limit.soft) {
                log::warn(&warning);
            }
        }
        Err(error) => log::warn(&format!("cannot read the open-file limit: {error}")),
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
            log::warn(&warning);
            bind(config).map(|listener| (listener, ""))
        }
        Inherited::Nothing => bind(config).map(|listener| (listener, "")),
    }
}

/// Binds the configured address (a socket passed by systemd keeps the unit's `Backlog=`).
fn bind(config: &Config) -> Option<TcpListener> {
    match TcpListener::bind(config.listen) {
        Ok(listener) => {
            if let Err(error) = raise_listen_backlog(&listener) {
                log::warn(&format!("cannot raise the listen backlog: {error}"));
            }
            Some(listener)
        }
        Err(error) => {
            log::error(&format!("cannot listen on {}: {error}", config.listen));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback_config() -> Config {
        let mut config = Config::from_lookup(|_| None).unwrap();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config
    }

    #[test]
    fn a_passed_socket_is_served_as_is_and_the_start_line_says_so() {
        let passed = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = passed.local_addr().unwrap();
        let (listener, origin) = listener(&loopback_config(), Inherited::Listener(passed)).unwrap();
        assert_eq!(listener.local_addr().unwrap(), address);
        assert_eq!(origin, " (socket passed by the service manager)");
    }

    #[test]
    fn without_a_passed_socket_the_configured_address_is_bound() {
        for inherited in [
            Inherited::Nothing,
            Inherited::Ignored("LISTEN_PID is another process".to_string()),
        ] {
            let (listener, origin) = listener(&loopback_config(), inherited).unwrap();
            assert!(listener.local_addr().unwrap().ip().is_loopback());
            assert_eq!(origin, "");
        }
    }

    #[test]
    fn an_address_in_use_is_no_listener() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut config = loopback_config();
        config.listen = taken.local_addr().unwrap();
        assert!(bind(&config).is_none());
    }
}

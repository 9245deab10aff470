//! `token2go-server`: parse arguments, load config, bind, serve until stopped.

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;

use token2go_server::config::{self, Config};
use token2go_server::http::{Limits, Server};
use token2go_server::log;
use token2go_server::routes::App;

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("--help" | "-h") => {
            print!("{}", config::usage());
            return ExitCode::SUCCESS;
        }
        Some("--version" | "-V") => {
            println!("token2go-server {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("token2go-server: unknown argument {other:?}; configuration is by T2G_* variables, see --help");
            return ExitCode::from(2);
        }
    }

    let (config, warnings) = match Config::from_env() {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("token2go-server: {error}");
            return ExitCode::from(2);
        }
    };
    log::set_format(config.log_format);
    for warning in &warnings {
        log::warn(warning);
    }

    let listener = match TcpListener::bind(config.listen) {
        Ok(listener) => listener,
        Err(error) => {
            log::error(&format!("cannot listen on {}: {error}", config.listen));
            return ExitCode::from(1);
        }
    };
    let limits = Limits {
        max_connections: config.max_connections,
        ..Limits::default()
    };
    let address = listener.local_addr().unwrap_or(config.listen);
    log::info(&format!(
        "token2go-server {} listening on http://{address} {}",
        env!("CARGO_PKG_VERSION"),
        config.summary()
    ));

    match Server::start(listener, limits, Arc::new(App::new(config))) {
        Ok(server) => {
            server.wait();
            ExitCode::SUCCESS
        }
        Err(error) => {
            log::error(&format!("cannot start the server: {error}"));
            ExitCode::from(1)
        }
    }
}

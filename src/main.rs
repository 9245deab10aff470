//! `token2go-server`: parse arguments, load config, bind, serve until stopped.

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;

use token2go_server::{
    log_error, log_info, log_warn, server_usage, set_log_format, App, Config, Limits, Server,
};

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("--help" | "-h") => {
            print!("{}", server_usage());
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
    set_log_format(config.log_format);
    for warning in &warnings {
        log_warn(warning);
    }

    let listener = match TcpListener::bind(config.listen) {
        Ok(listener) => listener,
        Err(error) => {
            log_error(&format!("cannot listen on {}: {error}", config.listen));
            return ExitCode::from(1);
        }
    };
    let limits = Limits {
        max_connections: config.max_connections,
        ..Limits::default()
    };
    let address = listener.local_addr().unwrap_or(config.listen);
    log_info(&format!(
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
            log_error(&format!("cannot start the server: {error}"));
            ExitCode::from(1)
        }
    }
}

//! `token2go`: parse the command line, run the flow (or the cache), map the result to an exit
//! status: 0 success, 1 failure, 2 usage error. Everything else lives in the library's `client`.

use std::io::Write;
use std::process::ExitCode;

use token2go_server::{
    client_completions, client_note, client_usage, parse_client_args, quiet_panics, run_client,
    ClientCommand, ClientEnv,
};

fn main() -> ExitCode {
    quiet_panics();
    let env = ClientEnv::from_process();
    match parse_client_args(std::env::args_os().skip(1), &env) {
        Ok(ClientCommand::Help) => print(&client_usage()),
        Ok(ClientCommand::Version) => print(&format!("token2go {}\n", env!("CARGO_PKG_VERSION"))),
        Ok(ClientCommand::Completions(shell)) => print(&client_completions(shell)),
        Ok(command) => match run_client(&command, &env) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                client_note(error);
                ExitCode::from(1)
            }
        },
        Err(usage) => {
            client_note(usage);
            ExitCode::from(2)
        }
    }
}

fn print(text: &str) -> ExitCode {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    }
}

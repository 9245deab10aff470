//! `token2go`: parse the command line, run the flow (or the cache), map the result to an exit
//! status: 0 success, 1 failure, 2 usage error. Everything else lives in the library's `client`.

use std::io::Write;
use std::process::ExitCode;

use token2go::client::{self, Command, Env};

fn main() -> ExitCode {
    client::quiet_panics();
    let env = Env::from_process();
    match client::parse_args(std::env::args_os().skip(1), &env) {
        Ok(Command::Help) => print(&client::usage()),
        Ok(Command::Version) => print(&format!("token2go {}\n", env!("CARGO_PKG_VERSION"))),
        Ok(Command::Completions(shell)) => print(&client::completion_script(shell)),
        Ok(command) => match client::run(&command, &env) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                client::note(error);
                ExitCode::from(1)
            }
        },
        Err(usage) => {
            client::note(usage);
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

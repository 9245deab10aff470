//! The command line, parsed through one table of options ([`OPTIONS`]) which also writes
//! `--help` and the shell completions ([`crate::client::completions`]); `lexopt` only splits
//! the words. A pure function: the environment comes in as an [`Env`](crate::client::Env) value, so tests feed it
//! literals.
//!
//! - `table`: every option, what it sets in the draft of a command, and the defaults;
//! - `values`: the checks of option values (numbers, seconds, the server URL);
//! - `parse`: lexopt's words and options through the table, the errors in our words;
//! - `command`: the [`Command`] the words and the draft make, with the environment's defaults;
//! - `usage`: `--help`, written from the table.
//!
//! The types here are what the rest of the client reads.

mod command;
mod parse;
mod table;
mod usage;
mod values;

use std::fmt;

pub use parse::parse_args;
pub(super) use table::{OPTIONS, Opt};
pub use usage::usage;

// Private: the parts below read them; the rest of the client reads the parsed `Options`.
const DEFAULT_TIMEOUT_SECS: u64 = 180;
const DEFAULT_MIN_INTERVAL_SECS: u64 = 30;
const DEFAULT_MAX_AGE_SECS: u64 = 300;
const KEY_SIZES: [usize; 3] = [2048, 3072, 4096];
/// The subcommands, in `--help` order; the first word that is not an option may name one.
pub(super) const SUBCOMMANDS: [&str; 3] = ["status", "logout", "completions"];
pub(super) const SHELLS: [&str; 3] = ["bash", "zsh", "fish"];

/// What goes to stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The secret.
    Token,
    /// The whole decrypted document.
    Json,
    /// `Authorization: Bearer <secret>`.
    Header,
    /// A Kubernetes `ExecCredential`, for kubectl's credential plugins.
    ExecCredential,
}

impl Format {
    const ALL: [(Format, &'static str); 4] = [
        (Format::Token, "token"),
        (Format::Json, "json"),
        (Format::Header, "header"),
        (Format::ExecCredential, "exec-credential"),
    ];

    fn parse(value: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|(_, name)| *name == value)
            .map(|(format, _)| format)
    }
}

/// What the run does with the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheUse {
    /// Read a valid entry, else fetch and write.
    ReadWrite,
    /// `--no-cache`: neither read nor write.
    Bypass,
    /// `--refresh`: fetch, then write.
    Refresh,
    /// `--forget`: delete the entry, fetch nothing (an alias of `logout SERVER_URL`).
    Forget,
    /// `--cached-only`: a valid entry or failure, never a flow.
    CachedOnly,
}

/// A run's settings, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The server URL with trailing slashes stripped: base of the flow URL and the cache key.
    pub server: String,
    /// How the result is printed.
    pub format: Format,
    /// The RSA key size in bits.
    pub key_size: usize,
    /// Callback port on 127.0.0.1; 0 lets the OS pick.
    pub port: u16,
    /// How long to wait for the callback.
    pub timeout_secs: u64,
    /// Whether to open a browser with the flow URL.
    pub open_browser: bool,
    /// `--paste` / `--no-paste`; `None` lets the environment decide ([`crate::client::Env::paste_by_default`]).
    pub paste: Option<bool>,
    /// Whether the cache is read and written.
    pub cache: CacheUse,
    /// Least time between two browser launches for one server; 0: no limit.
    pub min_interval_secs: u64,
    /// How long a token without an expiry is cached; 0: never.
    pub max_age_secs: u64,
}

#[derive(Debug, PartialEq, Eq)]
/// What the command line asks for.
pub enum Command {
    /// `--help`.
    Help,
    /// `--version`.
    Version,
    /// A flow run (or a cached token) with these settings.
    Run(Options),
    /// `status [SERVER_URL]`: the named server's entry, else every entry.
    Status {
        /// The server URL, if named.
        server: Option<String>,
        /// `--json`: the entries as JSON.
        json: bool,
    },
    /// `logout SERVER_URL`, or `logout --all` (`None`).
    Logout {
        /// The server URL; `None` for `--all`.
        server: Option<String>,
    },
    /// `completions SHELL`.
    Completions(&'static str),
}

/// A bad command line: one line for stderr, exit status 2.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; see --help", self.0)
    }
}

/// Shortcuts the tests of every part use: the whole parser, fed literals.
#[cfg(test)]
mod testing {
    use std::ffi::OsString;

    use super::*;
    use crate::client::env::Env;

    pub(super) fn parse(args: &[&str], env: &Env) -> Result<Command, UsageError> {
        parse_args(args.iter().map(OsString::from), env)
    }

    pub(super) fn run(args: &[&str]) -> Options {
        match parse(args, &Env::default()) {
            Ok(Command::Run(options)) => options,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    pub(super) fn usage_error(args: &[&str]) -> String {
        match parse(args, &Env::default()) {
            Err(error) => error.to_string(),
            other => panic!("{args:?}: {other:?}"),
        }
    }
}

//! `token2go`, the command-line client of the token redirect flow: fetches the user's token
//! through their browser and prints it, for shells, scripts and kubectl. It shares its command
//! line, behaviour, cache and lock with `scripts/token2go_client.py` (README, "Clients").
//!
//! - `options`: the command line, from one table; `completions`: shell scripts from it;
//!   `env`: the environment, read once;
//! - `flow`: the run's key pair, the flow URL, opening the response (no I/O);
//! - `callback`: the loopback listener (start link and callback), on the server's HTTP edge;
//!   `peer`: which local user connects to it;
//! - `reach`: whether the server answers at all, before the browser opens;
//! - `browser`: starting the browser without waiting for it;
//! - `paste`: paste mode's input;
//! - `cache`: the token cache, lock and launch record shared with the Python client;
//! - `status`: `token2go status` and `logout`;
//! - `document`, `output`: the decrypted document and the result line;
//! - `error`: one line per failure.
//!
//! stdout carries the result line and nothing else; everything else goes to stderr.

mod browser;
mod cache;
mod callback;
mod completions;
mod document;
mod env;
mod error;
mod flow;
mod options;
mod output;
mod paste;
mod peer;
mod reach;
mod status;

use std::fmt::Display;
use std::io::{self, Write};
use std::time::Duration;

use zeroize::Zeroizing;

use cache::{Cache, Launch, LockError};
use callback::{Listener, Routes};
use document::TokenDocument;
use flow::{ClientKey, OOB};
use options::{CacheUse, Format};

pub use completions::script as completion_script;
pub use env::Env;
pub use error::ClientError;
pub use options::{parse_args, usage, Command, Options, UsageError};

/// What the server's flow is asked for: the form_post page, whose POST carries tokens of any
/// size past gateways that limit a redirect's `Location` header.
const RESPONSE_MODE: &str = "form_post";
/// A token handed out with less time left than this is refused (contract C3).
const MIN_LIFETIME_SECS: i64 = 30;
/// Clock differences up to this are left alone.
const SKEW_TOLERANCE_SECS: i64 = 30;

/// One line on stderr, prefixed with the program's name. A closed stderr is not an error worth
/// dying for.
pub fn note(message: impl Display) {
    // One write per line: the browser command shares our stderr, and a line written in pieces
    // can get its output in between.
    let line = format!("token2go: {message}\n");
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

/// Makes any panic one line on stderr and exit status 1, like every other failure: no
/// backtrace hint, and no thread left waiting for a listener whose worker died.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("unknown panic");
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        note(format_args!(
            "internal error{place}: {}",
            message.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
        std::process::exit(1);
    }));
}

/// Runs a command other than help, version and completions.
pub fn run(command: &Command, env: &Env) -> Result<(), ClientError> {
    match command {
        Command::Run(options) if options.cache == CacheUse::Forget => {
            status::logout(Some(&options.server), env)
        }
        Command::Run(options) => fetch(options, env),
        Command::Status { server, json } => status::status(server.as_deref(), *json, env),
        Command::Logout { server } => status::logout(server.as_deref(), env),
        Command::Help | Command::Version | Command::Completions(_) => Ok(()),
    }
}

/// The cache directory, if there is one and it may be used; says why not otherwise.
fn usable_cache(env: &Env) -> Result<Option<Cache>, String> {
    match Cache::locate(env) {
        None => Ok(None),
        Some(cache) => cache.check().map(|()| Some(cache)),
    }
}

/// A token: from the cache, else from the one sign-in of this server at a time.
fn fetch(options: &Options, env: &Env) -> Result<(), ClientError> {
    let cache = match (options.cache, usable_cache(env)) {
        (CacheUse::Bypass, _) => None,
        (_, Ok(cache)) => cache,
        (CacheUse::CachedOnly, Err(reason)) => return Err(ClientError::CacheRefused(reason)),
        (_, Err(reason)) => {
            note(reason);
            None
        }
    };
    let reads = matches!(options.cache, CacheUse::ReadWrite | CacheUse::CachedOnly);
    if let (Some(cache), true) = (&cache, reads) {
        if let Some(cached) = read_cache(cache, &options.server) {
            return print(&cached, options.format, env);
        }
    }
    if options.cache == CacheUse::CachedOnly {
        return Err(ClientError::NotCached {
            server: options.server.clone(),
        });
    }
    if env.non_interactive() {
        return Err(ClientError::NonInteractive {
            server: options.server.clone(),
        });
    }
    let Some(cache) = cache else {
        return sign_in(options, env)
            .and_then(|(document, _)| print(&document, options.format, env));
    };
    let server = &options.server;
    let timeout = Duration::from_secs(options.timeout_secs);
    let _lock = match cache.lock(server, timeout, || {
        note(format_args!(
            "waiting for another token2go sign-in for {server} to finish"
        ))
    }) {
        Ok(lock) => Some(lock),
        Err(LockError::TimedOut) => {
            return Err(ClientError::LockTimeout {
                server: server.clone(),
                seconds: options.timeout_secs,
            })
        }
        Err(LockError::Io(error)) => {
            note(format_args!("cannot lock the cache for {server}: {error}"));
            None
        }
    };
    // Another run may have fetched it meanwhile; an unusable entry was named above already.
    if options.cache == CacheUse::ReadWrite {
        if let Ok(Some(cached)) = cache.read(server, now()) {
            return print(&cached.document, options.format, env);
        }
    }
    launch_allowed(&cache, options)?;
    let started_at = now();
    record(&cache, server, started_at, None);
    let fetched = sign_in(options, env);
    match &fetched {
        Ok(_) => record(&cache, server, started_at, Some(Ok(()))),
        Err(error) => record(&cache, server, started_at, Some(Err(error.to_string()))),
    }
    let (document, skew) = fetched?;
    if document.expires_at_unix().is_some() {
        if let Err(error) = cache.write(server, &document, skew, document.max_age_applied()) {
            note(format_args!("could not write the cache entry: {error}"));
        }
    }
    print(&document, options.format, env)
}

/// A valid cached document of `server`; an unusable entry is named on stderr.
fn read_cache(cache: &Cache, server: &str) -> Option<TokenDocument> {
    match cache.read(server, now()) {
        Ok(hit) => hit.map(|cached| cached.document),
        Err(reason) => {
            note(format_args!(
                "ignoring the cache entry {}: {reason}",
                cache.entry(server).display()
            ));
            None
        }
    }
}

/// Whether the launch record lets this run open a browser.
fn launch_allowed(cache: &Cache, options: &Options) -> Result<(), ClientError> {
    if options.cache == CacheUse::Refresh || options.min_interval_secs == 0 {
        return Ok(());
    }
    let Some(launch) = cache.launch(&options.server) else {
        return Ok(());
    };
    let since = now().saturating_sub(launch.started_at);
    let interval = options.min_interval_secs as i64;
    if since >= interval || since < 0 {
        return Ok(());
    }
    Err(ClientError::TooSoon {
        server: options.server.clone(),
        failure: (launch.result == "failed")
            .then_some(launch.error)
            .flatten(),
        retry_in: (interval - since) as u64,
    })
}

/// Writes the launch record: `running` before the sign-in, then its result.
fn record(cache: &Cache, server: &str, started_at: i64, result: Option<Result<(), String>>) {
    let (result, error) = match result {
        None => ("running", None),
        Some(Ok(())) => ("ok", None),
        Some(Err(error)) => ("failed", Some(error)),
    };
    let launch = Launch {
        started_at,
        result: result.into(),
        error,
    };
    if let Err(error) = cache.write_launch(server, &launch) {
        note(format_args!("could not write the launch record: {error}"));
    }
}

/// A sign-in through the browser (loopback callback or paste), then the checks of what came
/// back: the document and the clock skew to store with it.
fn sign_in(options: &Options, env: &Env) -> Result<(TokenDocument, i64), ClientError> {
    let paste = options.paste.unwrap_or_else(|| {
        let paste = env.paste_by_default();
        if paste {
            note("SSH session without a display or BROWSER: using paste mode (--no-paste for the loopback callback)");
        }
        paste
    });
    let document = if paste {
        paste_flow(options, env)?
    } else {
        callback_flow(options, env)?
    };
    received(document, options.max_age_secs, now())
}

/// The checks of a received document at `local` (our clock): the clock skew (said once), the
/// expiry (a token with less than 30 s left is refused), and `--max-age` for a token without
/// one.
fn received(
    mut document: TokenDocument,
    max_age_secs: u64,
    local: i64,
) -> Result<(TokenDocument, i64), ClientError> {
    let skew = document
        .timestamp_unix()
        .map(|server| server - local)
        .filter(|skew| skew.abs() > SKEW_TOLERANCE_SECS)
        .unwrap_or(0);
    if skew != 0 {
        note(format_args!(
            "this machine's clock differs from the server's by {} s; correcting",
            skew.abs()
        ));
    }
    let server_now = local + skew;
    match document.expiry() {
        Some(expiry) if expiry - server_now < MIN_LIFETIME_SECS => {
            return Err(ClientError::Expired)
        }
        Some(_) => {}
        None if max_age_secs > 0 => {
            document.apply_max_age(server_now.saturating_add(max_age_secs as i64))
        }
        None => {}
    }
    Ok((document, skew))
}

/// Reachable server, listener, key, start link, browser, wait: the loopback callback.
fn callback_flow(options: &Options, env: &Env) -> Result<TokenDocument, ClientError> {
    reach::check(&options.server).map_err(|reason| ClientError::Unreachable {
        server: options.server.clone(),
        reason,
    })?;
    let listener = callback::bind(options.port)?;
    let port = listener
        .local_addr()
        .map_err(|error| ClientError::Listen {
            port: options.port,
            error,
        })?
        .port();
    let key = ClientKey::generate(options.key_size)?;
    let state = Zeroizing::new(flow::random_text(32)?);
    let callback = format!("/{}", flow::random_text(16)?);
    let start = format!("/{}", flow::random_text(16)?);
    let target = format!("http://127.0.0.1:{port}{callback}");
    let routes = Routes {
        flow_url: flow::flow_url(&options.server, &target, &state, &key, Some(RESPONSE_MODE)),
        done_url: format!("{}/flow/redirect/done", options.server),
        start: start.clone(),
        callback,
    };
    let opener: callback::Opener =
        Box::new(move |fields| flow::open_callback(&key, &state, fields));
    let waiting = Listener::start(listener, routes, opener)?;
    let link = format!("http://127.0.0.1:{port}{start}");
    show_url(&link, options, env, "to fetch a token");
    note(format_args!(
        "waiting up to {} s for the browser to come back with the token (Ctrl-C cancels)",
        options.timeout_secs
    ));
    waiting.wait(Duration::from_secs(options.timeout_secs))
}

/// Key, URL, browser, then the block from stdin, for as long as the user takes (the human
/// copies it from another machine; Ctrl-C or the end of input stops the wait).
fn paste_flow(options: &Options, env: &Env) -> Result<TokenDocument, ClientError> {
    let key = ClientKey::generate(options.key_size)?;
    let url = flow::flow_url(&options.server, OOB, &flow::random_text(32)?, &key, None);
    show_url(
        &url,
        options,
        env,
        "to fetch a token as a block to paste here",
    );
    note(format_args!(
        "verification code: {} (the page shows a warning and a code first: if it is this \
         code, press \"Show the encrypted token\")",
        key.verification_code()
    ));
    note(format_args!(
        "paste the block here (it ends with {}):",
        paste::PASTE_END
    ));
    key.open(&paste::read_from_stdin()?)
}

/// The URL and a hint on stderr, always; then the browser, if there is one to start.
fn show_url(url: &str, options: &Options, env: &Env, purpose: &str) {
    let command = options
        .open_browser
        .then(|| browser::command_for(url, env))
        .flatten();
    match &command {
        Some(_) => note(format_args!(
            "opening your browser {purpose}; if it does not open, visit this URL:"
        )),
        None => note(format_args!("visit this URL in your browser {purpose}:")),
    }
    let _ = io::stderr().lock().write_all(format!("{url}\n").as_bytes());
    if let Some(command) = command {
        if let Err(error) = browser::spawn(&command) {
            note(format_args!(
                "could not start the browser ({}): {error}; open the URL by hand",
                command.first().map_or("", String::as_str)
            ));
        }
    }
}

fn print(document: &TokenDocument, format: Format, env: &Env) -> Result<(), ClientError> {
    let mut line = Zeroizing::new(output::render(
        document,
        format,
        env.kubernetes_exec_info.as_deref(),
    ));
    line.push('\n');
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(line.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(ClientError::Output)
}

/// Seconds since the epoch on this machine's clock.
fn now() -> i64 {
    crate::time::unix_now() as i64
}

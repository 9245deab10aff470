//! `token2go`, the command-line client of the token redirect flow: fetches the user's token
//! through their browser and prints it, for shells, scripts and kubectl. It shares its command
//! line, behaviour and cache with `scripts/token2go_client.py` (README, "Clients").
//!
//! - `options`: the command line, from one table; `env`: the environment, read once;
//! - `flow`: the run's key pair, the flow URL, opening the response (no I/O);
//! - `callback`: the loopback listener, on the server's HTTP edge;
//! - `browser`: starting the browser without waiting for it;
//! - `paste`: paste mode's input;
//! - `cache`: the token cache shared with the Python client;
//! - `document`, `output`: the decrypted document and the result line;
//! - `error`: one line per failure.
//!
//! stdout carries the result line and nothing else; everything else goes to stderr.

mod browser;
mod cache;
mod callback;
mod document;
mod env;
mod error;
mod flow;
mod options;
mod output;
mod paste;

use std::fmt::Display;
use std::io::{self, Write};
use std::time::Duration;

use zeroize::Zeroizing;

use cache::Cache;
use callback::Listener;
use document::TokenDocument;
use flow::{ClientKey, OOB};
use options::{CacheUse, Format};

pub use env::Env;
pub use error::ClientError;
pub use options::{parse_args, usage, Command, Options, UsageError};

/// What the server's flow is asked for: the form_post page, whose POST carries tokens of any
/// size past gateways that limit a redirect's `Location` header.
const RESPONSE_MODE: &str = "form_post";

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

/// A run: the cache, else a flow; then the result line on stdout.
pub fn run(options: &Options, env: &Env) -> Result<(), ClientError> {
    let cache = match options.cache {
        CacheUse::Bypass => None,
        _ => Cache::locate(env),
    };
    if options.cache == CacheUse::Forget {
        return forget(cache.as_ref(), &options.server);
    }
    if let (Some(cache), CacheUse::ReadWrite) = (&cache, options.cache) {
        match cache.read(&options.server, now()) {
            Ok(Some(document)) => return print(&document, options.format, env),
            Ok(None) => {}
            Err(reason) => note(format_args!(
                "ignoring the cache entry {}: {reason}",
                cache.entry(&options.server).display()
            )),
        }
    }
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
    if let Some(cache) = &cache {
        if document.expires_at_unix().is_some() {
            if let Err(error) = cache.write(&options.server, &document) {
                note(format_args!("could not write the cache entry: {error}"));
            }
        }
    }
    print(&document, options.format, env)
}

fn forget(cache: Option<&Cache>, server: &str) -> Result<(), ClientError> {
    let Some(cache) = cache else {
        note("no cache directory: neither XDG_CACHE_HOME nor HOME is set");
        return Ok(());
    };
    match cache.forget(server) {
        Ok(true) => note("deleted the cached token"),
        Ok(false) => note("no cached token"),
        Err(error) => {
            return Err(ClientError::Forget {
                path: cache.entry(server),
                error,
            })
        }
    }
    Ok(())
}

/// Bind, key, URL, browser, wait: the loopback callback.
fn callback_flow(options: &Options, env: &Env) -> Result<TokenDocument, ClientError> {
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
    let path = format!("/{}", flow::random_text(16)?);
    let target = format!("http://127.0.0.1:{port}{path}");
    let url = flow::flow_url(&options.server, &target, &state, &key, Some(RESPONSE_MODE));
    let opener: callback::Opener =
        Box::new(move |fields| flow::open_callback(&key, &state, fields));
    let done = format!("{}/flow/redirect/done", options.server);
    let waiting = Listener::start(listener, path, done, opener)?;
    show_url(&url, options, env, "to fetch a token");
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

fn now() -> i64 {
    crate::time::unix_now() as i64
}

//! The command line, parsed through one table of options ([`OPTIONS`]) which also writes
//! `--help` and the shell completions ([`crate::client::completions`]); `lexopt` only splits
//! the words. A pure function: the environment comes in as an [`Env`] value, so tests feed it
//! literals.

use std::ffi::OsString;
use std::fmt;

use lexopt::Arg;

use crate::client::env::Env;

pub(super) const DEFAULT_TIMEOUT_SECS: u64 = 180;
pub(super) const DEFAULT_MIN_INTERVAL_SECS: u64 = 30;
pub(super) const DEFAULT_MAX_AGE_SECS: u64 = 300;
pub(super) const KEY_SIZES: [usize; 3] = [2048, 3072, 4096];
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
    /// `--paste` / `--no-paste`; `None` lets the environment decide ([`Env::paste_by_default`]).
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

/// The options while parsing; `server` is still raw.
struct Draft {
    words: Vec<String>,
    format: Option<Format>,
    key_size: usize,
    port: u16,
    timeout_secs: u64,
    open_browser: bool,
    paste: Option<bool>,
    cache: CacheUse,
    min_interval_secs: Option<u64>,
    max_age_secs: Option<u64>,
    all: bool,
    help: bool,
    version: bool,
}

impl Draft {
    /// Nothing given yet: the defaults.
    fn new() -> Draft {
        Draft {
            words: Vec::new(),
            format: None,
            key_size: KEY_SIZES[0],
            port: 0,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            open_browser: true,
            paste: None,
            cache: CacheUse::ReadWrite,
            min_interval_secs: None,
            max_age_secs: None,
            all: false,
            help: false,
            version: false,
        }
    }
}

/// One option: its name, short form, the name of its value (if it takes one) and the values
/// the shell may complete, its help line, the group of options it excludes (options of one
/// group may not be combined), and what it sets.
pub(super) struct Opt {
    pub name: &'static str,
    pub short: Option<char>,
    pub value: Option<&'static str>,
    pub choices: &'static [&'static str],
    pub help: &'static str,
    group: Option<&'static str>,
    apply: fn(&mut Draft, &str) -> Result<(), String>,
}

/// Every option, in `--help` order: the one definition of the command line.
pub(super) const OPTIONS: &[Opt] = &[
    Opt {
        name: "--format",
        short: None,
        value: Some("FORMAT"),
        choices: &["token", "json", "header", "exec-credential"],
        help: "what goes to stdout: token (default), the secret; json, the whole decrypted \
               document; header, Authorization: Bearer <secret>; exec-credential, a Kubernetes \
               ExecCredential (kubectl credential plugin). status takes json",
        group: Some("format"),
        apply: |d, v| {
            d.format = Some(Format::parse(v).ok_or_else(|| {
                format!("--format: must be token, json, header or exec-credential, not {v:?}")
            })?);
            Ok(())
        },
    },
    Opt {
        name: "--json",
        short: None,
        value: None,
        choices: &[],
        help: "same as --format json",
        group: Some("format"),
        apply: |d, _| {
            d.format = Some(Format::Json);
            Ok(())
        },
    },
    Opt {
        name: "--key-size",
        short: None,
        value: Some("BITS"),
        choices: &["2048", "3072", "4096"],
        help: "RSA key size: 2048 (default), 3072 or 4096",
        group: None,
        apply: |d, v| {
            d.key_size = KEY_SIZES
                .into_iter()
                .find(|bits| bits.to_string() == v)
                .ok_or_else(|| format!("--key-size: must be 2048, 3072 or 4096, not {v:?}"))?;
            Ok(())
        },
    },
    Opt {
        name: "--port",
        short: None,
        value: Some("PORT"),
        choices: &[],
        help: "callback port on 127.0.0.1 (default 0: the OS picks one)",
        group: None,
        apply: |d, v| {
            d.port = whole_number(v, 5)
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| format!("--port: must be a port between 0 and 65535, not {v:?}"))?;
            Ok(())
        },
    },
    Opt {
        name: "--timeout",
        short: None,
        value: Some("SECONDS"),
        choices: &[],
        help: "how long to wait for the browser to come back, or for another token2go \
               sign-in for the same server to finish (default 180)",
        group: None,
        apply: |d, v| {
            d.timeout_secs = whole_number(v, 9).filter(|&n| n > 0).ok_or_else(|| {
                format!("--timeout: must be a positive whole number of seconds, not {v:?}")
            })?;
            Ok(())
        },
    },
    Opt {
        name: "--min-interval",
        short: None,
        value: Some("SECONDS"),
        choices: &[],
        help: "open the browser for a server at most once per SECONDS, however many callers \
               (default 30 or $TOKEN2GO_MIN_INTERVAL; 0: no limit)",
        group: None,
        apply: |d, v| {
            d.min_interval_secs = Some(seconds("--min-interval", v)?);
            Ok(())
        },
    },
    Opt {
        name: "--max-age",
        short: None,
        value: Some("SECONDS"),
        choices: &[],
        help: "cache a token that carries no expiry for SECONDS (default 300 or \
               $TOKEN2GO_MAX_AGE; 0: never cache such tokens)",
        group: None,
        apply: |d, v| {
            d.max_age_secs = Some(seconds("--max-age", v)?);
            Ok(())
        },
    },
    Opt {
        name: "--no-browser",
        short: None,
        value: None,
        choices: &[],
        help: "only print the sign-in link, do not open a browser",
        group: None,
        apply: |d, _| {
            d.open_browser = false;
            Ok(())
        },
    },
    Opt {
        name: "--paste",
        short: None,
        value: None,
        choices: &[],
        help: "paste the block the server shows instead of the loopback callback \
               (the default over SSH without a display or BROWSER)",
        group: Some("paste"),
        apply: |d, _| {
            d.paste = Some(true);
            Ok(())
        },
    },
    Opt {
        name: "--no-paste",
        short: None,
        value: None,
        choices: &[],
        help: "use the loopback callback even over SSH without a display",
        group: Some("paste"),
        apply: |d, _| {
            d.paste = Some(false);
            Ok(())
        },
    },
    Opt {
        name: "--no-cache",
        short: None,
        value: None,
        choices: &[],
        help: "neither read nor write the token cache",
        group: Some("cache"),
        apply: |d, _| {
            d.cache = CacheUse::Bypass;
            Ok(())
        },
    },
    Opt {
        name: "--refresh",
        short: None,
        value: None,
        choices: &[],
        help: "fetch a new token even if one is cached or a browser was opened just now, \
               and cache it",
        group: Some("cache"),
        apply: |d, _| {
            d.cache = CacheUse::Refresh;
            Ok(())
        },
    },
    Opt {
        name: "--cached-only",
        short: None,
        value: None,
        choices: &[],
        help: "print a valid cached token or fail (exit 1); never start a sign-in",
        group: Some("cache"),
        apply: |d, _| {
            d.cache = CacheUse::CachedOnly;
            Ok(())
        },
    },
    Opt {
        name: "--forget",
        short: None,
        value: None,
        choices: &[],
        help: "same as logout SERVER_URL",
        group: Some("cache"),
        apply: |d, _| {
            d.cache = CacheUse::Forget;
            Ok(())
        },
    },
    Opt {
        name: "--all",
        short: None,
        value: None,
        choices: &[],
        help: "delete the cached tokens of every server (with logout)",
        group: None,
        apply: |d, _| {
            d.all = true;
            Ok(())
        },
    },
    Opt {
        name: "--help",
        short: Some('h'),
        value: None,
        choices: &[],
        help: "show this help and exit",
        group: None,
        apply: |d, _| {
            d.help = true;
            Ok(())
        },
    },
    Opt {
        name: "--version",
        short: Some('V'),
        value: None,
        choices: &[],
        help: "show the version and exit",
        group: None,
        apply: |d, _| {
            d.version = true;
            Ok(())
        },
    },
];

/// `text` as a number of at most `max_digits` ASCII digits.
fn whole_number(text: &str, max_digits: usize) -> Option<u64> {
    let ok =
        !text.is_empty() && text.len() <= max_digits && text.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| text.parse().ok()).flatten()
}

/// A whole number of seconds, 0 allowed, named `what` when it is not one.
fn seconds(what: &str, text: &str) -> Result<u64, String> {
    whole_number(text, 9)
        .ok_or_else(|| format!("{what}: must be a whole number of seconds, not {text:?}"))
}

/// Parses the arguments (without the program name). `--help` and `--version` win over
/// everything else, as they do in most tools, so `token2go --bogus --help` still helps.
pub fn parse_args<I>(args: I, env: &Env) -> Result<Command, UsageError>
where
    I: IntoIterator<Item = OsString>,
{
    let mut draft = Draft::new();
    let mut first_error: Option<UsageError> = None;
    let mut fail = |error: String| {
        first_error.get_or_insert(UsageError(error));
    };
    let mut seen: Vec<&'static Opt> = Vec::new();
    let mut parser = lexopt::Parser::from_args(args);
    loop {
        let (opt, typed) = match parser.next() {
            Ok(None) => break,
            Ok(Some(Arg::Value(word))) => {
                match word.into_string() {
                    Ok(word) => draft.words.push(word),
                    Err(_) => fail("an argument is not valid UTF-8".into()),
                }
                continue;
            }
            Ok(Some(Arg::Long(name))) => {
                let typed = format!("--{name}");
                (OPTIONS.iter().find(|opt| opt.name == typed), typed)
            }
            Ok(Some(Arg::Short(c))) => (
                OPTIONS.iter().find(|opt| opt.short == Some(c)),
                format!("-{c}"),
            ),
            Err(error) => {
                fail(lexopt_error(error));
                continue;
            }
        };
        let Some(opt) = opt else {
            fail(unknown(&typed));
            if typed.starts_with("--") {
                // Its value, if attached, is not a word of ours.
                let _ = parser.optional_value();
            }
            continue;
        };
        if let Err(error) = take(
            &mut parser,
            opt,
            typed.starts_with("--"),
            &mut seen,
            &mut draft,
        ) {
            fail(error);
        }
    }
    if draft.help {
        return Ok(Command::Help);
    }
    if draft.version {
        return Ok(Command::Version);
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    command(draft, env).map_err(UsageError)
}

/// `opt`'s value read and applied to `draft`; `seen` holds the options before it, for the
/// groups that exclude each other. The first error is the one to show.
fn take(
    parser: &mut lexopt::Parser,
    opt: &'static Opt,
    long: bool,
    seen: &mut Vec<&'static Opt>,
    draft: &mut Draft,
) -> Result<(), String> {
    let value = option_value(parser, opt, long)?;
    let conflict = opt.group.and_then(|group| {
        seen.iter()
            .find(|other| other.group == Some(group) && other.name != opt.name)
            .map(|other| format!("{} and {} exclude each other", other.name, opt.name))
    });
    seen.push(opt);
    let applied = (opt.apply)(draft, &value);
    match conflict {
        Some(error) => Err(error),
        None => applied,
    }
}

/// The value of `opt`: `--opt=value` or the next word for an option that takes one, nothing
/// for a flag (`--flag=value` is refused; `-hV` is two flags).
fn option_value(parser: &mut lexopt::Parser, opt: &Opt, long: bool) -> Result<String, String> {
    match opt.value {
        None if !long => Ok(String::new()),
        None => match parser.optional_value() {
            Some(_) => Err(format!("{} takes no value", opt.name)),
            None => Ok(String::new()),
        },
        Some(what) => match parser.value().map(OsString::into_string) {
            Ok(Ok(value)) => Ok(value),
            _ => Err(format!("{} needs a value: {} {what}", opt.name, opt.name)),
        },
    }
}

/// The command the words and options make.
fn command(mut draft: Draft, env: &Env) -> Result<Command, String> {
    let subcommand = draft
        .words
        .first()
        .and_then(|word| SUBCOMMANDS.iter().find(|name| **name == word.as_str()))
        .copied();
    if subcommand.is_some() {
        draft.words.remove(0);
    }
    if draft.all && subcommand != Some("logout") {
        return Err("--all: only with logout".into());
    }
    match subcommand {
        Some("completions") => {
            let shell = match draft.words.as_slice() {
                [shell] => SHELLS.iter().find(|s| **s == shell.as_str()).copied(),
                _ => None,
            };
            shell
                .map(Command::Completions)
                .ok_or_else(|| "completions: give one of bash, zsh, fish".into())
        }
        Some("status") => {
            let json = match draft.format {
                None => false,
                Some(Format::Json) => true,
                Some(_) => return Err("status: --format must be json".into()),
            };
            Ok(Command::Status {
                server: one_server(&draft.words)?.map(normalized).transpose()?,
                json,
            })
        }
        Some(_) => {
            let named = one_server(&draft.words)?;
            let server = match (named, draft.all) {
                (Some(_), true) => {
                    return Err("logout: SERVER_URL and --all exclude each other".into());
                }
                (None, true) => None,
                (named, false) => Some(
                    named
                        .or(env.token2go_url.as_deref())
                        .ok_or("logout: give SERVER_URL or --all (or set TOKEN2GO_URL)")?,
                ),
            };
            Ok(Command::Logout {
                server: server.map(normalized).transpose()?,
            })
        }
        None => run_options(draft, env).map(Command::Run),
    }
}

/// The one SERVER_URL among `words`, if any.
fn one_server(words: &[String]) -> Result<Option<&str>, String> {
    match words {
        [] => Ok(None),
        [server] => Ok(Some(server)),
        _ => Err("more than one SERVER_URL".into()),
    }
}

fn normalized(url: &str) -> Result<String, String> {
    normalize_server_url(url).map_err(str::to_string)
}

fn run_options(draft: Draft, env: &Env) -> Result<Options, String> {
    let raw = one_server(&draft.words)?
        .or(env.token2go_url.as_deref())
        .ok_or("no server URL: give SERVER_URL or set TOKEN2GO_URL")?;
    let from_env =
        |value: Option<u64>, name: &str, var: &Option<String>, default: u64| match (value, var) {
            (Some(value), _) => Ok(value),
            (None, Some(text)) => seconds(name, text),
            (None, None) => Ok(default),
        };
    Ok(Options {
        server: normalized(raw)?,
        format: draft.format.unwrap_or(Format::Token),
        key_size: draft.key_size,
        port: draft.port,
        timeout_secs: draft.timeout_secs,
        open_browser: draft.open_browser,
        paste: draft.paste,
        cache: draft.cache,
        min_interval_secs: from_env(
            draft.min_interval_secs,
            "TOKEN2GO_MIN_INTERVAL",
            &env.min_interval,
            DEFAULT_MIN_INTERVAL_SECS,
        )?,
        max_age_secs: from_env(
            draft.max_age_secs,
            "TOKEN2GO_MAX_AGE",
            &env.max_age,
            DEFAULT_MAX_AGE_SECS,
        )?,
    })
}

/// lexopt's complaints, in our words (it only reports values where none is taken and
/// non-UTF-8 options here).
fn lexopt_error(error: lexopt::Error) -> String {
    match error {
        lexopt::Error::UnexpectedValue { option, .. } => format!("{option} takes no value"),
        lexopt::Error::MissingValue {
            option: Some(option),
        } => {
            format!("{option} needs a value")
        }
        _ => "an argument is not valid UTF-8".into(),
    }
}

/// "unknown option", with the closest known option when one is near.
fn unknown(typed: &str) -> String {
    let shown = printable(typed);
    let closest = OPTIONS
        .iter()
        .map(|opt| (edit_distance(typed, opt.name), opt.name))
        .filter(|(distance, _)| *distance <= 2)
        .min();
    match closest {
        Some((_, name)) if typed.starts_with("--") => {
            format!("unknown option {shown:?}: did you mean {name}?")
        }
        _ => format!("unknown option {shown:?}"),
    }
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// An unknown option is echoed; keep it short and printable.
fn printable(text: &str) -> String {
    text.chars()
        .take(40)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// The server URL with trailing slashes stripped, checked: `http` or `https`, a host, an
/// optional port and path; no query, fragment, whitespace or control characters (it becomes
/// the start of the flow URL, a `Location` header and the cache key).
pub(super) fn normalize_server_url(url: &str) -> Result<String, &'static str> {
    let normalized = url.trim_end_matches('/');
    if normalized
        .chars()
        .any(|c| c == '?' || c == '#' || c.is_whitespace() || c.is_control())
    {
        return Err("server URL: must be an http(s) URL without query, fragment or whitespace");
    }
    let scheme_end = normalized.find("://").ok_or(SCHEME_AND_HOST)?;
    if !["http", "https"]
        .iter()
        .any(|s| normalized[..scheme_end].eq_ignore_ascii_case(s))
    {
        return Err(SCHEME_AND_HOST);
    }
    let rest = &normalized[scheme_end + 3..];
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']').ok_or(SCHEME_AND_HOST)?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or(SCHEME_AND_HOST)?)),
            }
        }
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err(SCHEME_AND_HOST);
    }
    if let Some(port) = port
        && !port.is_empty()
        && whole_number(port, 5).is_none_or(|p| p > 65535)
    {
        return Err("server URL: invalid port");
    }
    Ok(normalized.to_string())
}

const SCHEME_AND_HOST: &str = "server URL: must start with http:// or https:// and name a host";

/// `--help`, written from the option table the parser reads, so it lists what the parser takes.
pub fn usage() -> String {
    let mut out = String::from(
        "usage: token2go [OPTIONS] [SERVER_URL]\n\
         \x20      token2go status [--format json] [SERVER_URL]\n\
         \x20      token2go logout [SERVER_URL | --all]\n\
         \x20      token2go completions bash|zsh|fish\n\n\
         Fetches your access token from a token2go server through your browser and prints it;\n\
         a valid token is taken from the cache, and concurrent callers share one sign-in.\n\
         stdout carries the result and nothing else; the link, hints and errors go to stderr.\n\n\
         \x20 SERVER_URL              the token2go server, path prefix allowed (default: $TOKEN2GO_URL)\n\
         \x20 status                  the cached tokens (or the named server's): user, expiry, time\n\
         \x20                         left; exit 0 when a valid token is cached for the named server\n\
         \x20 logout                  delete the cached token of SERVER_URL, or of every server (--all)\n\
         \x20 completions SHELL       print the completion script for bash, zsh or fish\n\n",
    );
    for opt in OPTIONS {
        let name = match opt.short {
            Some(short) => format!("-{short}, {}", opt.name),
            None => opt.name.to_string(),
        };
        let head = match opt.value {
            Some(value) => format!("{name} {value}"),
            None => name,
        };
        let mut line = format!("  {head:<24}");
        let mut width = line.len();
        for word in opt.help.split(' ') {
            if width + 1 + word.len() > 100 && width > 26 {
                line.push_str(&format!("\n{:26}", ""));
                width = 26;
            } else if width > 26 {
                line.push(' ');
                width += 1;
            }
            line.push_str(word);
            width += word.len();
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(
        "\nEnvironment: TOKEN2GO_URL (server when SERVER_URL is omitted), BROWSER (command that \
         opens\nthe link; %s is replaced by it, else it is the last argument), XDG_CACHE_HOME \
         (cache location,\nelse ~/.cache), TOKEN2GO_MIN_INTERVAL, TOKEN2GO_MAX_AGE, \
         KUBERNETES_EXEC_INFO (exec-credential\napiVersion; \"interactive\": false never opens \
         a browser).\n\
         Exit status: 0 success, 1 failure, 2 usage error.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::env::test_env as env;

    fn parse(args: &[&str], env: &Env) -> Result<Command, UsageError> {
        parse_args(args.iter().map(OsString::from), env)
    }

    fn run(args: &[&str]) -> Options {
        match parse(args, &Env::default()) {
            Ok(Command::Run(options)) => options,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn usage_error(args: &[&str]) -> String {
        match parse(args, &Env::default()) {
            Err(error) => error.to_string(),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        assert_eq!(
            run(&["https://corp.example/t2g/"]),
            Options {
                server: "https://corp.example/t2g".into(),
                format: Format::Token,
                key_size: 2048,
                port: 0,
                timeout_secs: 180,
                open_browser: true,
                paste: None,
                cache: CacheUse::ReadWrite,
                min_interval_secs: 30,
                max_age_secs: 300,
            }
        );
    }

    #[test]
    fn intervals_from_options_then_environment_then_defaults() {
        let vars = env(&[("TOKEN2GO_MIN_INTERVAL", "0"), ("TOKEN2GO_MAX_AGE", "60")]);
        let parsed = |args: &[&str], env: &Env| match parse(args, env) {
            Ok(Command::Run(options)) => (options.min_interval_secs, options.max_age_secs),
            other => panic!("{other:?}"),
        };
        assert_eq!(parsed(&["http://h"], &vars), (0, 60));
        assert_eq!(
            parsed(&["--min-interval", "5", "--max-age=0", "http://h"], &vars),
            (5, 0)
        );
        assert_eq!(parsed(&["http://h"], &Env::default()), (30, 300));
        assert_eq!(
            parse(&["http://h"], &env(&[("TOKEN2GO_MAX_AGE", "5m")])).unwrap_err(),
            UsageError("TOKEN2GO_MAX_AGE: must be a whole number of seconds, not \"5m\"".into())
        );
        assert_eq!(
            run(&["--cached-only", "http://h"]).cache,
            CacheUse::CachedOnly
        );
    }

    #[test]
    fn subcommands() {
        let none = Env::default();
        assert_eq!(
            parse(&["status"], &none),
            Ok(Command::Status {
                server: None,
                json: false
            })
        );
        assert_eq!(
            parse(&["status", "--format", "json", "http://h/"], &none),
            Ok(Command::Status {
                server: Some("http://h".into()),
                json: true
            })
        );
        assert_eq!(
            parse(&["logout", "http://h"], &none),
            Ok(Command::Logout {
                server: Some("http://h".into())
            })
        );
        assert_eq!(
            parse(&["logout", "--all"], &none),
            Ok(Command::Logout { server: None })
        );
        assert_eq!(
            parse(&["logout"], &env(&[("TOKEN2GO_URL", "http://e")])),
            Ok(Command::Logout {
                server: Some("http://e".into())
            })
        );
        assert_eq!(
            parse(&["completions", "zsh"], &none),
            Ok(Command::Completions("zsh"))
        );
        for (args, want) in [
            (&["logout"][..], "logout: give SERVER_URL or --all"),
            (
                &["logout", "--all", "http://h"],
                "logout: SERVER_URL and --all exclude",
            ),
            (&["--all", "http://h"], "--all: only with logout"),
            (
                &["status", "--format", "token"],
                "status: --format must be json",
            ),
            (
                &["completions", "tcsh"],
                "completions: give one of bash, zsh, fish",
            ),
            (&["completions"], "completions: give one of"),
            (
                &["status", "http://a", "http://b"],
                "more than one SERVER_URL",
            ),
        ] {
            let line = usage_error(args);
            assert!(line.starts_with(want), "{args:?}: {line}");
        }
    }

    #[test]
    fn a_mistyped_option_gets_the_closest_one() {
        assert_eq!(
            usage_error(&["--formt", "json", "http://h"]),
            "unknown option \"--formt\": did you mean --format?; see --help"
        );
        assert_eq!(
            usage_error(&["--no-browsr", "http://h"]),
            "unknown option \"--no-browsr\": did you mean --no-browser?; see --help"
        );
        assert_eq!(
            usage_error(&["--frobnicate", "http://h"]),
            "unknown option \"--frobnicate\"; see --help"
        );
        let none = Env::default();
        assert_eq!(parse(&["-V"], &none), Ok(Command::Version));
        assert_eq!(parse(&["-hV"], &none), Ok(Command::Help));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn every_option() {
        let options = run(&[
            "--format",
            "exec-credential",
            "--key-size=4096",
            "--port",
            "65535",
            "--timeout",
            "7",
            "--no-browser",
            "--paste",
            "--refresh",
            "http://127.0.0.1:8080",
        ]);
        assert_eq!(options.format, Format::ExecCredential);
        assert_eq!(
            (options.key_size, options.port, options.timeout_secs),
            (4096, 65535, 7)
        );
        assert!(!options.open_browser);
        assert_eq!(options.paste, Some(true));
        assert_eq!(options.cache, CacheUse::Refresh);
        assert_eq!(run(&["--json", "http://h"]).format, Format::Json);
        assert_eq!(run(&["--format=header", "http://h"]).format, Format::Header);
        assert_eq!(run(&["--no-paste", "http://h"]).paste, Some(false));
        assert_eq!(run(&["--no-cache", "http://h"]).cache, CacheUse::Bypass);
        assert_eq!(run(&["http://h", "--forget"]).cache, CacheUse::Forget);
        assert_eq!(run(&["--key-size", "3072", "http://h"]).key_size, 3072);
        assert_eq!(run(&["--", "http://h"]).server, "http://h");
        // Repeating an option: the last value wins.
        assert_eq!(
            run(&["--timeout=5", "--timeout=6", "http://h"]).timeout_secs,
            6
        );
    }

    #[test]
    fn help_and_version_win() {
        let none = Env::default();
        assert_eq!(parse(&["--help"], &none), Ok(Command::Help));
        assert_eq!(parse(&["-h"], &none), Ok(Command::Help));
        assert_eq!(parse(&["--bogus", "--help"], &none), Ok(Command::Help));
        assert_eq!(parse(&["--version"], &none), Ok(Command::Version));
    }

    #[test]
    fn server_url_from_the_environment() {
        let with_url = env(&[("TOKEN2GO_URL", "https://env.example/")]);
        match parse(&[], &with_url) {
            Ok(Command::Run(options)) => assert_eq!(options.server, "https://env.example"),
            other => panic!("{other:?}"),
        }
        match parse(&["https://arg.example"], &with_url) {
            Ok(Command::Run(options)) => assert_eq!(options.server, "https://arg.example"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(&[], &env(&[("TOKEN2GO_URL", "")])).unwrap_err(),
            UsageError("no server URL: give SERVER_URL or set TOKEN2GO_URL".into())
        );
    }

    #[test]
    fn bad_command_lines_are_one_line() {
        for (args, want) in [
            (&["--bogus", "http://h"][..], "unknown option \"--bogus\""),
            (&["-x", "http://h"], "unknown option \"-x\""),
            (&["--format", "yaml", "http://h"], "--format: must be token"),
            (&["--format"], "--format needs a value: --format FORMAT"),
            (
                &["--key-size", "1024", "http://h"],
                "--key-size: must be 2048",
            ),
            (&["--port", "65536", "http://h"], "--port: must be a port"),
            (&["--port", "-1", "http://h"], "--port: must be a port"),
            (
                &["--timeout", "0", "http://h"],
                "--timeout: must be a positive",
            ),
            (
                &["--timeout", "1.5", "http://h"],
                "--timeout: must be a positive",
            ),
            (
                &["--timeout", "9999999999", "http://h"],
                "--timeout: must be",
            ),
            (&["--json=yes", "http://h"], "--json takes no value"),
            (
                &["--paste", "--no-paste", "http://h"],
                "--paste and --no-paste exclude",
            ),
            (
                &["--format", "json", "--json", "http://h"],
                "--format and --json exclude",
            ),
            (
                &["--no-cache", "--forget", "http://h"],
                "--no-cache and --forget exclude",
            ),
            (
                &["--refresh", "--no-cache", "http://h"],
                "--refresh and --no-cache",
            ),
            (&["http://a", "http://b"], "more than one SERVER_URL"),
            (&[], "no server URL"),
            (
                &["ftp://h"],
                "server URL: must start with http:// or https://",
            ),
            (
                &["http://h/x?y=1"],
                "server URL: must be an http(s) URL without query",
            ),
            (&["http://h:99999"], "server URL: invalid port"),
            (&["http://h:x"], "server URL: invalid port"),
            (&["http:///path"], "server URL: must start"),
            (&["-"], "server URL: must start"),
        ] {
            let line = usage_error(args);
            assert!(line.starts_with(want), "{args:?}: {line}");
            assert!(
                line.ends_with("; see --help") && !line.contains('\n'),
                "{line}"
            );
        }
        assert_eq!(
            usage_error(&["--\u{1b}[31m", "http://h"]),
            "unknown option \"--?[31m\"; see --help"
        );
    }

    #[test]
    fn server_urls() {
        for (url, want) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://corp.example/t2g/", "https://corp.example/t2g"),
            ("HTTPS://corp.example//", "HTTPS://corp.example"),
            ("http://[::1]:8080/", "http://[::1]:8080"),
            ("http://h:", "http://h:"),
        ] {
            assert_eq!(normalize_server_url(url).as_deref(), Ok(want), "{url}");
        }
        for url in [
            "corp.example",
            "http://",
            "http://[::1",
            "http://[::1]x",
            "http://h/a b",
            "http://h/#x",
            "http://h/\u{7f}",
            "javascript://h",
        ] {
            assert!(normalize_server_url(url).is_err(), "{url}");
        }
    }

    #[test]
    fn usage_lists_every_option() {
        let text = usage();
        for opt in OPTIONS {
            assert!(text.contains(opt.name), "{}", opt.name);
        }
        assert!(text.lines().all(|line| line.len() <= 100), "{text}");
        assert!(text.starts_with("usage: token2go [OPTIONS] [SERVER_URL]\n"));
    }
}

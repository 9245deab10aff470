//! The command line, parsed through one table of options which also writes `--help`. A pure
//! function: the environment comes in as an [`Env`] value, so tests feed it literals.

use std::ffi::OsString;
use std::fmt;

use crate::client::env::Env;

pub const DEFAULT_TIMEOUT_SECS: u64 = 180;
pub const KEY_SIZES: [usize; 3] = [2048, 3072, 4096];

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
    /// `--forget`: delete the entry, fetch nothing.
    Forget,
}

/// A run's settings, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The server URL with trailing slashes stripped: base of the flow URL and the cache key.
    pub server: String,
    pub format: Format,
    pub key_size: usize,
    /// Callback port on 127.0.0.1; 0 lets the OS pick.
    pub port: u16,
    pub timeout_secs: u64,
    pub open_browser: bool,
    /// `--paste` / `--no-paste`; `None` lets the environment decide ([`Env::paste_by_default`]).
    pub paste: Option<bool>,
    pub cache: CacheUse,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    Run(Options),
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
    server: Option<String>,
    format: Format,
    key_size: usize,
    port: u16,
    timeout_secs: u64,
    open_browser: bool,
    paste: Option<bool>,
    cache: CacheUse,
    help: bool,
    version: bool,
}

/// One option: its name, the name of its value (if it takes one), its help line, the group of
/// options it excludes (options of one group may not be combined), and what it sets.
struct Opt {
    name: &'static str,
    value: Option<&'static str>,
    help: &'static str,
    group: Option<&'static str>,
    apply: fn(&mut Draft, &str) -> Result<(), String>,
}

/// Every option, in `--help` order: the one definition of the command line.
const OPTIONS: &[Opt] = &[
    Opt {
        name: "--format",
        value: Some("FORMAT"),
        help: "token (default): the secret; json: the whole decrypted document; \
               header: Authorization: Bearer <secret>; exec-credential: a Kubernetes \
               ExecCredential (kubectl credential plugin)",
        group: Some("format"),
        apply: |d, v| {
            d.format = Format::parse(v).ok_or_else(|| {
                format!("--format: must be token, json, header or exec-credential, not {v:?}")
            })?;
            Ok(())
        },
    },
    Opt {
        name: "--json",
        value: None,
        help: "same as --format json",
        group: Some("format"),
        apply: |d, _| {
            d.format = Format::Json;
            Ok(())
        },
    },
    Opt {
        name: "--key-size",
        value: Some("BITS"),
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
        value: Some("PORT"),
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
        value: Some("SECONDS"),
        help: "how long to wait for the browser to come back (default 180)",
        group: None,
        apply: |d, v| {
            d.timeout_secs = whole_number(v, 9).filter(|&n| n > 0).ok_or_else(|| {
                format!("--timeout: must be a positive whole number of seconds, not {v:?}")
            })?;
            Ok(())
        },
    },
    Opt {
        name: "--no-browser",
        value: None,
        help: "only print the URL, do not open a browser",
        group: None,
        apply: |d, _| {
            d.open_browser = false;
            Ok(())
        },
    },
    Opt {
        name: "--paste",
        value: None,
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
        value: None,
        help: "use the loopback callback even over SSH without a display",
        group: Some("paste"),
        apply: |d, _| {
            d.paste = Some(false);
            Ok(())
        },
    },
    Opt {
        name: "--no-cache",
        value: None,
        help: "neither read nor write the token cache",
        group: Some("cache"),
        apply: |d, _| {
            d.cache = CacheUse::Bypass;
            Ok(())
        },
    },
    Opt {
        name: "--refresh",
        value: None,
        help: "fetch a new token even if one is cached, and cache it",
        group: Some("cache"),
        apply: |d, _| {
            d.cache = CacheUse::Refresh;
            Ok(())
        },
    },
    Opt {
        name: "--forget",
        value: None,
        help: "delete the cached token of the server and exit",
        group: Some("cache"),
        apply: |d, _| {
            d.cache = CacheUse::Forget;
            Ok(())
        },
    },
    Opt {
        name: "--help",
        value: None,
        help: "show this help and exit",
        group: None,
        apply: |d, _| {
            d.help = true;
            Ok(())
        },
    },
    Opt {
        name: "--version",
        value: None,
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

/// Parses the arguments (without the program name). `--help` and `--version` win over
/// everything else, as they do in most tools, so `token2go --bogus --help` still helps.
pub fn parse_args<I>(args: I, env: &Env) -> Result<Command, UsageError>
where
    I: IntoIterator<Item = OsString>,
{
    let mut draft = Draft {
        server: None,
        format: Format::Token,
        key_size: KEY_SIZES[0],
        port: 0,
        timeout_secs: DEFAULT_TIMEOUT_SECS,
        open_browser: true,
        paste: None,
        cache: CacheUse::ReadWrite,
        help: false,
        version: false,
    };
    let mut seen: Vec<&'static Opt> = Vec::new();
    let mut first_error: Option<UsageError> = None;
    let mut fail = |error: String| {
        first_error.get_or_insert(UsageError(error));
    };
    let mut args = args.into_iter();
    let mut only_positional = false;
    while let Some(arg) = args.next() {
        let Ok(arg) = arg.into_string() else {
            fail("an argument is not valid UTF-8".into());
            continue;
        };
        if only_positional || arg == "-" || !arg.starts_with('-') {
            match draft.server {
                None => draft.server = Some(arg),
                Some(_) => fail("more than one SERVER_URL".into()),
            }
            continue;
        }
        if arg == "--" {
            only_positional = true;
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        let name = if name == "-h" { "--help" } else { name };
        let Some(opt) = OPTIONS.iter().find(|opt| opt.name == name) else {
            fail(format!("unknown option {:?}", printable(name)));
            continue;
        };
        let value = match (opt.value, inline) {
            (None, Some(_)) => {
                fail(format!("{} takes no value", opt.name));
                continue;
            }
            (None, None) => String::new(),
            (Some(_), Some(value)) => value,
            (Some(what), None) => match args.next().map(OsString::into_string) {
                Some(Ok(value)) => value,
                _ => {
                    fail(format!("{} needs a value: {} {what}", opt.name, opt.name));
                    continue;
                }
            },
        };
        if let Some(group) = opt.group {
            if let Some(other) = seen
                .iter()
                .find(|other| other.group == Some(group) && other.name != opt.name)
            {
                fail(format!(
                    "{} and {} exclude each other",
                    other.name, opt.name
                ));
            }
        }
        seen.push(opt);
        if let Err(error) = (opt.apply)(&mut draft, &value) {
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
    let raw = match draft.server.or_else(|| env.token2go_url.clone()) {
        Some(url) => url,
        None => {
            return Err(UsageError(
                "no server URL: give SERVER_URL or set TOKEN2GO_URL".into(),
            ))
        }
    };
    Ok(Command::Run(Options {
        server: normalize_server_url(&raw).map_err(|e| UsageError(e.into()))?,
        format: draft.format,
        key_size: draft.key_size,
        port: draft.port,
        timeout_secs: draft.timeout_secs,
        open_browser: draft.open_browser,
        paste: draft.paste,
        cache: draft.cache,
    }))
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
pub fn normalize_server_url(url: &str) -> Result<String, &'static str> {
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
    if let Some(port) = port {
        if !port.is_empty() && whole_number(port, 5).is_none_or(|p| p > 65535) {
            return Err("server URL: invalid port");
        }
    }
    Ok(normalized.to_string())
}

const SCHEME_AND_HOST: &str = "server URL: must start with http:// or https:// and name a host";

/// `--help`, written from [`OPTIONS`].
pub fn usage() -> String {
    let mut out = String::from(
        "usage: token2go [OPTIONS] [SERVER_URL]\n\n\
         Fetches your access token from a token2go server through your browser and prints it.\n\
         stdout carries the result and nothing else; the URL, hints and errors go to stderr.\n\n\
         \x20 SERVER_URL            the token2go server, path prefix allowed (default: $TOKEN2GO_URL)\n",
    );
    for opt in OPTIONS {
        let head = match opt.value {
            Some(value) => format!("{} {value}", opt.name),
            None => opt.name.to_string(),
        };
        let mut line = format!("  {head:<22}");
        let mut width = line.len();
        for word in opt.help.split(' ') {
            if width + 1 + word.len() > 100 && width > 24 {
                line.push_str(&format!("\n{:24}", ""));
                width = 24;
            } else if width > 24 {
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
         opens\nthe URL; %s is replaced by it, else it is the last argument), XDG_CACHE_HOME \
         (cache location,\nelse ~/.cache), KUBERNETES_EXEC_INFO (exec-credential apiVersion).\n\
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
            }
        );
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

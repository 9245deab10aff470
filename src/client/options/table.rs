//! The option table: every option once, with its help line and what it sets, so `--help`, the
//! completions and the parser read one definition.

use crate::client::options::values::{seconds, whole_number};
use crate::client::options::{CacheUse, DEFAULT_TIMEOUT_SECS, Format, KEY_SIZES};

/// The options while parsing; `server` is still raw.
pub(super) struct Draft {
    pub(super) words: Vec<String>,
    pub(super) format: Option<Format>,
    pub(super) key_size: usize,
    pub(super) port: u16,
    pub(super) timeout_secs: u64,
    pub(super) open_browser: bool,
    pub(super) paste: Option<bool>,
    pub(super) cache: CacheUse,
    pub(super) min_interval_secs: Option<u64>,
    pub(super) max_age_secs: Option<u64>,
    pub(super) all: bool,
    pub(super) help: bool,
    pub(super) version: bool,
}

impl Draft {
    /// Nothing given yet: the defaults.
    pub(super) fn new() -> Draft {
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
pub(in crate::client) struct Opt {
    pub name: &'static str,
    pub short: Option<char>,
    pub value: Option<&'static str>,
    pub choices: &'static [&'static str],
    pub help: &'static str,
    pub(super) group: Option<&'static str>,
    pub(super) apply: fn(&mut Draft, &str) -> Result<(), String>,
}

/// Every option, in `--help` order: the one definition of the command line.
pub(in crate::client) const OPTIONS: &[Opt] = &[
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

#[cfg(test)]
mod tests {
    use crate::client::options::testing::run;
    use crate::client::options::{CacheUse, Format};

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
}

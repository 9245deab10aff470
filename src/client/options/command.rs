//! The command the words and options make: a subcommand's rules, the server URL, and the
//! environment's values where the command line gave none.

use crate::client::env::Env;
use crate::client::options::table::Draft;
use crate::client::options::values::{normalize_server_url, seconds};
use crate::client::options::{
    Command, DEFAULT_MAX_AGE_SECS, DEFAULT_MIN_INTERVAL_SECS, Format, Options, SHELLS, SUBCOMMANDS,
};

/// The command the words and options make.
pub(super) fn command(mut draft: Draft, env: &Env) -> Result<Command, String> {
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

#[cfg(test)]
mod tests {
    use crate::client::env::{Env, test_env as env};
    use crate::client::options::testing::{parse, run, usage_error};
    use crate::client::options::{CacheUse, Command, Format, Options, UsageError};

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
}

//! The arguments through the option table: `lexopt` splits them into words and options, each
//! option applies its value to the draft, and the first mistake becomes the one usage line.

use std::ffi::OsString;

use lexopt::Arg;

use crate::client::env::Env;
use crate::client::options::command::command;
use crate::client::options::table::{Draft, OPTIONS, Opt};
use crate::client::options::{Command, UsageError};
use crate::text::{Spaces, edit_distance, printable};

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
    // One word: a space shows as `?` too, as every other non-graphic character does.
    let shown = printable(typed, 40, Spaces::Replace);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::options::testing::{parse, usage_error};

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
    fn help_and_version_win() {
        let none = Env::default();
        assert_eq!(parse(&["--help"], &none), Ok(Command::Help));
        assert_eq!(parse(&["-h"], &none), Ok(Command::Help));
        assert_eq!(parse(&["--bogus", "--help"], &none), Ok(Command::Help));
        assert_eq!(parse(&["--version"], &none), Ok(Command::Version));
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
}

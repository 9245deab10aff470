//! The audit trail: one line per token handed out (`/token` 200, a flow redirect or form_post
//! page, a paste block shown) and per refusal of the flow.
//!
//! A line says who (the user, the peer, `X-Forwarded-For` as given), what (the first 16 hex
//! digits of the token's fingerprint, a JWT's `sub` and `exp`) and where (the flow's target
//! origin and path, the verification code of the client's key). It never holds the token, the
//! `state`, the key, the nonce or the payload: callers have no field to put them in.
//!
//! Text (`TIME audit EVENT name=value ...`, logfmt-style: a value with spaces or quotes is
//! quoted) or JSON (one object), one line each, written with one `write_all` so lines from
//! different threads do not interleave. Every value is escaped against log injection: control
//! characters, ANSI escapes, bidi controls and any other non-ASCII character become `\u{XXXX}`
//! in text and `\uXXXX` in JSON.

use std::borrow::Cow;
use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::OnceLock;
use std::time::SystemTime;

use crate::json::json_str;
use crate::log;
use crate::time::rfc3339;

/// Where audit lines go (`T2G_AUDIT_LOG`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditSink {
    Stderr,
    Stdout,
    Off,
}

impl AuditSink {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditSink::Stderr => "stderr",
            AuditSink::Stdout => "stdout",
            AuditSink::Off => "off",
        }
    }
}

/// Longest value written (user, `X-Forwarded-For`, a JWT's `sub`), in bytes before escaping:
/// a line stays a line, whatever a header carried.
const MAX_VALUE: usize = 256;

/// One audit record. Only non-secret values have a field here.
pub struct Record<'a> {
    /// `token_served` or `flow_refused`.
    pub event: &'static str,
    /// `token`, `flow_redirect`, `flow_form_post`, `flow_paste` or `flow`.
    pub route: &'static str,
    pub user: Option<&'a str>,
    /// The first 16 hex digits of the token's fingerprint.
    pub fingerprint: Option<&'a str>,
    pub sub: Option<&'a str>,
    /// A JWT's `exp`, RFC 3339.
    pub exp: Option<String>,
    /// The flow's target: origin and path, no query (or the paste-mode URN).
    pub target: Option<String>,
    /// The verification code of the client's key.
    pub code: Option<&'a str>,
    /// Why the flow refused: the metrics reason, and the one line the client got.
    pub reason: Option<&'static str>,
    pub detail: Option<&'a str>,
    pub peer: SocketAddr,
    pub forwarded_for: Option<String>,
}

/// The audit writer: a sink and a format.
pub struct Audit {
    sink: AuditSink,
    json: bool,
}

impl Audit {
    pub fn new(sink: AuditSink, json: bool) -> Audit {
        Audit { sink, json }
    }

    pub fn write(&self, record: &Record<'_>) {
        if self.sink == AuditSink::Off {
            return;
        }
        let mut line = render(record, self.json, SystemTime::now());
        line.push('\n');
        // Written now, before the response that hands the token out, and never batched like
        // the access log: a line in the kernel's hands survives a crash of this process.
        // A failed write (closed stream) must not fail the request.
        match self.sink {
            AuditSink::Stdout => log::stdout_now(line.as_bytes()),
            _ => write_stderr(line.as_bytes()),
        }
    }
}

/// Lines up to this size are written whole by one `write` to a pipe (`PIPE_BUF` on Linux), and
/// to a file whatever their size (the kernel serializes writes to one open file).
const ATOMIC_WRITE: usize = 4096;

/// Writes `line` to stderr in one `write`. A line that the kernel writes whole goes through a
/// duplicate of fd 2, without std's lock on stderr: with the lock, a thread waited for another's
/// `write` (two futex calls and a sleep per line under load); a longer line takes the lock.
fn write_stderr(line: &[u8]) {
    static STDERR: OnceLock<Option<File>> = OnceLock::new();
    let unlocked = STDERR.get_or_init(|| {
        let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
        Some(File::from(fd))
    });
    match unlocked {
        Some(file) if line.len() <= ATOMIC_WRITE => {
            let _ = (&*file).write_all(line);
        }
        _ => {
            let _ = std::io::stderr().lock().write_all(line);
        }
    }
}

/// The line without its newline, written into one string.
fn render(record: &Record<'_>, json: bool, now: SystemTime) -> String {
    let mut peer = String::with_capacity(48);
    log::push_peer(&mut peer, record.peer);
    // (name, value, whether the value comes from a client and is clipped)
    let fields: [(&str, Option<&str>, bool); 11] = [
        ("route", Some(record.route), false),
        ("user", record.user, true),
        ("fingerprint", record.fingerprint, false),
        ("sub", record.sub, true),
        ("exp", record.exp.as_deref(), false),
        ("target", record.target.as_deref(), false),
        ("code", record.code, false),
        ("reason", record.reason, false),
        ("detail", record.detail, true),
        ("peer", Some(&peer), false),
        ("forwarded_for", record.forwarded_for.as_deref(), true),
    ];
    let time = rfc3339(now, true);
    let mut line = String::with_capacity(384);
    if json {
        line.push_str("{\"time\":\"");
        line.push_str(&time);
        line.push_str("\",\"log\":\"audit\",\"event\":");
        line.push_str(&json_str(record.event));
    } else {
        line.push_str(&time);
        line.push_str(" audit ");
        line.push_str(&text_value(record.event));
    }
    for (name, value, clipped) in fields {
        let value = if clipped {
            value.map(clip_value)
        } else {
            value
        };
        // Who asked is always there, null or `-` when unknown; the rest only when it applies.
        let absent = matches!(name, "user" | "forwarded_for");
        match (value, json) {
            (Some(value), true) => {
                line.push_str(",\"");
                line.push_str(name);
                line.push_str("\":");
                line.push_str(&json_str(value));
            }
            (Some(value), false) => {
                line.push(' ');
                line.push_str(name);
                line.push('=');
                line.push_str(&text_value(value));
            }
            (None, true) if absent => {
                line.push_str(",\"");
                line.push_str(name);
                line.push_str("\":null");
            }
            (None, false) if absent => {
                line.push(' ');
                line.push_str(name);
                line.push_str("=-");
            }
            (None, _) => {}
        }
    }
    if json {
        line.push('}');
    }
    line
}

/// At most [`MAX_VALUE`] bytes of `value`, cut on a character boundary.
fn clip_value(value: &str) -> &str {
    let mut end = value.len().min(MAX_VALUE);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// A value for a text line: as it is when it is printable ASCII without space, `"` or `\`;
/// else quoted, `"` and `\` escaped with `\`, and every control character (ESC, DEL, CR, LF)
/// and non-ASCII character (bidi controls included) as `\u{XXXX}`.
fn text_value(value: &str) -> Cow<'_, str> {
    let bare = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if bare {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => out.push_str(&format!("\\u{{{:04X}}}", c as u32)),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn served<'a>() -> Record<'a> {
        Record {
            event: "token_served",
            route: "flow_redirect",
            user: Some("alice"),
            fingerprint: Some("0123456789abcdef"),
            sub: Some("u-1"),
            exp: Some("2030-03-17T17:46:40Z".into()),
            target: Some("https://hub.example.com/user/alice/cb".into()),
            code: Some("K3ZQ-7MPA"),
            reason: None,
            detail: None,
            peer: "127.0.0.1:5000".parse().unwrap(),
            forwarded_for: Some("203.0.113.7, 10.0.0.1".into()),
        }
    }

    const NOW: Duration = Duration::from_millis(1_700_000_000_250);

    #[test]
    fn text_line() {
        let line = render(&served(), false, UNIX_EPOCH + NOW);
        assert_eq!(
            line,
            "2023-11-14T22:13:20.250Z audit token_served route=flow_redirect user=alice \
             fingerprint=0123456789abcdef sub=u-1 exp=2030-03-17T17:46:40Z \
             target=https://hub.example.com/user/alice/cb code=K3ZQ-7MPA peer=127.0.0.1:5000 \
             forwarded_for=\"203.0.113.7, 10.0.0.1\""
        );
        let refused = Record {
            event: "flow_refused",
            route: "flow",
            user: None,
            fingerprint: None,
            sub: None,
            exp: None,
            target: None,
            code: None,
            reason: Some("target"),
            detail: Some("target: this target belongs to another user"),
            peer: "[::1]:9".parse().unwrap(),
            forwarded_for: None,
        };
        assert_eq!(
            render(&refused, false, UNIX_EPOCH + NOW),
            "2023-11-14T22:13:20.250Z audit flow_refused route=flow user=- reason=target \
             detail=\"target: this target belongs to another user\" peer=[::1]:9 forwarded_for=-"
        );
    }

    #[test]
    fn json_line() {
        let line = render(&served(), true, UNIX_EPOCH + NOW);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["log"], "audit");
        assert_eq!(v["event"], "token_served");
        assert_eq!(v["time"], "2023-11-14T22:13:20.250Z");
        assert_eq!(v["user"], "alice");
        assert_eq!(v["code"], "K3ZQ-7MPA");
        assert_eq!(v["forwarded_for"], "203.0.113.7, 10.0.0.1");
        assert!(v.get("reason").is_none());
        let anonymous = Record {
            user: None,
            forwarded_for: None,
            ..served()
        };
        let v: serde_json::Value =
            serde_json::from_str(&render(&anonymous, true, UNIX_EPOCH + NOW)).unwrap();
        assert!(v["user"].is_null() && v["forwarded_for"].is_null(), "{v}");
    }

    /// CR, LF, ANSI escapes, bidi controls and other non-ASCII characters never reach the line
    /// raw, in either format.
    #[test]
    fn values_cannot_inject_lines_or_controls() {
        let hostile = "mallory\r\n2023-01-01T00:00:00Z audit token_served user=alice\u{1b}[2J\u{202e}txt.exe\u{7f}é\"\\";
        let record = Record {
            user: Some(hostile),
            forwarded_for: Some(hostile.into()),
            sub: Some(hostile),
            ..served()
        };
        for json in [false, true] {
            let line = render(&record, json, UNIX_EPOCH + NOW);
            assert!(
                line.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "{json}: {line:?}"
            );
            if json {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                assert_eq!(v["user"], hostile);
                assert!(
                    line.contains("\\u202e") || line.contains("\\u202E"),
                    "{line}"
                );
            } else {
                assert!(
                    line.contains("\\u{202E}") && line.contains("\\u{001B}"),
                    "{line}"
                );
                assert!(line.contains("\\u{000D}\\u{000A}"), "{line}");
                // The forged "user=alice" stays inside the quoted value.
                let forged = " user=\"mallory\\u{000D}\\u{000A}2023-01-01T00:00:00Z audit \
                              token_served user=alice\\u{001B}[2J";
                assert!(line.contains(forged), "{line}");
            }
        }
        assert_eq!(text_value("plain-1.2:3/x?y=z"), "plain-1.2:3/x?y=z");
        assert_eq!(text_value("a b\"c\\d"), "\"a b\\\"c\\\\d\"");
        assert_eq!(text_value("😀"), "\"\\u{1F600}\"");
        assert_eq!(text_value(""), "\"\"");
    }

    #[test]
    fn long_values_are_clipped_on_a_character_boundary() {
        let long = "é".repeat(400);
        let record = Record {
            user: Some(&long),
            ..served()
        };
        let v: serde_json::Value =
            serde_json::from_str(&render(&record, true, UNIX_EPOCH + NOW)).unwrap();
        assert_eq!(v["user"].as_str().unwrap().len(), MAX_VALUE);
    }
}

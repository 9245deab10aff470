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
use std::io;
use std::net::SocketAddr;
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

/// Longest value from a request (user, `X-Forwarded-For`, a JWT's `sub`, the target, the
/// refusal's detail) in bytes once escaped. Five of them and the other fields (under 400 bytes:
/// time, event, route, fingerprint, exp, code, reason, peer, names) stay within
/// [`log::MAX_LINE`].
const MAX_VALUE: usize = 600;

/// One audit record. Only non-secret values have a field here.
pub(crate) struct Record<'a> {
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
pub(crate) struct Audit {
    sink: AuditSink,
    json: bool,
}

impl Audit {
    pub(crate) fn new(sink: AuditSink, json: bool) -> Audit {
        Audit { sink, json }
    }

    /// Writes the line before the response that hands the token out, never batched like the
    /// access log: a line in the kernel's hands survives a crash of this process. An error
    /// when the line could not be written (a full disk, a closed pipe or stream); the caller
    /// decides whether the token may still go (`T2G_AUDIT_REQUIRED`).
    pub(crate) fn write(&self, record: &Record<'_>) -> io::Result<()> {
        if self.sink == AuditSink::Off {
            return Ok(());
        }
        let mut line = render(record, self.json, SystemTime::now());
        line.push('\n');
        match self.sink {
            AuditSink::Stdout => log::stdout_now(line.as_bytes()),
            _ => log::stderr_now(line.as_bytes()),
        }
    }
}

/// The line without its newline, written into one string.
fn render(record: &Record<'_>, json: bool, now: SystemTime) -> String {
    let mut peer = String::with_capacity(48);
    log::push_peer(&mut peer, record.peer);
    // (name, value, whether the value comes from a request and may be cut)
    let fields: [(&str, Option<&str>, bool); 11] = [
        ("route", Some(record.route), false),
        ("user", record.user, true),
        ("fingerprint", record.fingerprint, false),
        ("sub", record.sub, true),
        ("exp", record.exp.as_deref(), false),
        ("target", record.target.as_deref(), true),
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
    for (name, value, from_request) in fields {
        let escape: fn(&str) -> Cow<'_, str> = if json { json_value } else { text_value };
        let value = value.map(|v| match from_request {
            true => log::fit(v, MAX_VALUE, escape),
            false => escape(v),
        });
        // Who asked is always there, null or `-` when unknown; the rest only when it applies.
        let absent = matches!(name, "user" | "forwarded_for");
        match (value, json) {
            (Some(value), true) => {
                line.push_str(",\"");
                line.push_str(name);
                line.push_str("\":");
                line.push_str(&value);
            }
            (Some(value), false) => {
                line.push(' ');
                line.push_str(name);
                line.push('=');
                line.push_str(&value);
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

/// A value for a JSON line: a string literal.
fn json_value(value: &str) -> Cow<'_, str> {
    Cow::Owned(json_str(value))
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
    use crate::time::rfc3339_unix;
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

    /// Long values are cut on a character boundary with a visible marker, so that the whole
    /// line stays within `MAX_LINE` and valid in either format, however the values escape.
    #[test]
    fn long_values_are_cut_and_lines_stay_within_max_line() {
        let long = "é".repeat(400);
        let record = Record {
            user: Some(&long),
            ..served()
        };
        let v: serde_json::Value =
            serde_json::from_str(&render(&record, true, UNIX_EPOCH + NOW)).unwrap();
        let user = v["user"].as_str().unwrap();
        let kept = user.strip_suffix(log::CUT).unwrap();
        assert!(long.starts_with(kept) && kept.len() > 100, "{user}");
        // One more `é` (six bytes escaped) would not have fitted.
        assert!((MAX_VALUE - 6..=MAX_VALUE).contains(&json_str(user).len()));
        // Every field from a request at its worst: all of them escape to several bytes.
        let worst = "\u{1}\u{202e}😀\"".repeat(2000);
        let widest_peer = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535";
        let record = Record {
            event: "token_served",
            route: "flow_form_post",
            user: Some(&worst),
            sub: Some(&worst),
            exp: Some(rfc3339_unix(i64::MAX / 1000)),
            target: Some(worst.clone()),
            reason: Some("no_token"),
            detail: Some(&worst),
            peer: widest_peer.parse().unwrap_or("[::1]:1".parse().unwrap()),
            forwarded_for: Some(worst.clone()),
            ..served()
        };
        for json in [false, true] {
            let line = render(&record, json, UNIX_EPOCH + NOW);
            assert!(line.len() < log::MAX_LINE, "{json}: {}", line.len());
            if json {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                assert!(v["detail"].as_str().unwrap().ends_with(log::CUT));
            } else {
                assert!(line.contains("...[cut]\" "), "{line}");
            }
        }
    }
}

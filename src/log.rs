//! Log lines: the access log (stdout) and operational messages (stderr), in text or JSON.
//! Callers pass only non-secret values; nothing here ever sees a header or query value.

use std::borrow::Cow;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime};

use crate::json::json_str;
use crate::time::rfc3339;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
    /// No access log; operational messages still go to stderr as text.
    Off,
}

static FORMAT: AtomicU8 = AtomicU8::new(0);

pub fn set_format(format: LogFormat) {
    FORMAT.store(format as u8, Ordering::Relaxed);
}

fn format() -> LogFormat {
    match FORMAT.load(Ordering::Relaxed) {
        1 => LogFormat::Json,
        2 => LogFormat::Off,
        _ => LogFormat::Text,
    }
}

fn message(level: &str, msg: &str) {
    let now = rfc3339(SystemTime::now(), true);
    let line = match format() {
        LogFormat::Json => format!(
            "{{\"time\":\"{now}\",\"level\":\"{level}\",\"msg\":{}}}",
            json_str(msg)
        ),
        _ => format!("{now} {level} {msg}"),
    };
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

pub fn info(msg: &str) {
    message("info", msg);
}

pub fn warn(msg: &str) {
    message("warn", msg);
}

pub fn error(msg: &str) {
    message("error", msg);
}

/// One access-log line: method, path without query, status, body bytes, duration, peer.
pub fn access(
    method: &str,
    path: &str,
    status: u16,
    bytes: usize,
    duration: Duration,
    peer: SocketAddr,
) {
    let now = rfc3339(SystemTime::now(), true);
    let micros = duration.as_micros();
    let line = match format() {
        LogFormat::Off => return,
        LogFormat::Json => format!(
            "{{\"time\":\"{now}\",\"method\":{},\"path\":{},\"status\":{status},\"bytes\":{bytes},\"duration_us\":{micros},\"peer\":\"{peer}\"}}",
            json_str(method),
            json_str(path),
        ),
        LogFormat::Text => format!(
            "{now} {} {} {status} {bytes}B {micros}us {peer}",
            sanitize(method),
            sanitize(path),
        ),
    };
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Keeps a text log line on one line whatever the client sent.
fn sanitize(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii_graphic()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.escape_default().to_string().replace(' ', "\\x20"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_one_line() {
        assert_eq!(sanitize("/token"), "/token");
        assert!(!sanitize("/a\r\nb c").contains('\n'));
    }
}

//! Log lines: the access log (stdout) and operational messages (stderr), in text or JSON.
//! Callers pass only non-secret values; nothing here ever sees a header or query value.

use std::borrow::Cow;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::http::Exchange;

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

/// A point in time as RFC 3339 UTC, optionally with milliseconds.
pub fn rfc3339(time: SystemTime, with_millis: bool) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let seconds = rfc3339_unix(since.as_secs() as i64);
    if with_millis {
        format!(
            "{}.{:03}Z",
            seconds.trim_end_matches('Z'),
            since.subsec_millis()
        )
    } else {
        seconds
    }
}

/// Seconds since the epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub fn rfc3339_unix(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
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

/// One access-log line: method, path without query, status, bytes, duration, peer.
pub fn access(ex: &Exchange<'_>) {
    let now = rfc3339(SystemTime::now(), true);
    let micros = ex.duration.as_micros();
    let line = match format() {
        LogFormat::Off => return,
        LogFormat::Json => format!(
            "{{\"time\":\"{now}\",\"method\":{},\"path\":{},\"status\":{},\"bytes\":{},\"duration_us\":{micros},\"peer\":\"{}\"}}",
            json_str(ex.method),
            json_str(ex.path),
            ex.status,
            ex.bytes,
            ex.peer
        ),
        LogFormat::Text => format!(
            "{now} {} {} {} {}B {micros}us {}",
            sanitize(ex.method),
            sanitize(ex.path),
            ex.status,
            ex.bytes,
            ex.peer
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
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
    }

    #[test]
    fn rfc3339_known_answers() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t, false), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(t, true), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn sanitize_keeps_one_line() {
        assert_eq!(sanitize("/token"), "/token");
        assert!(!sanitize("/a\r\nb c").contains('\n'));
    }
}

//! Log lines: the access log (stdout) and operational messages (stderr), in text or JSON.
//! Callers pass only non-secret values; nothing here ever sees a header or query value.
//!
//! Access-log lines are batched: a line goes into one shared buffer, and the buffer goes to
//! stdout in one `write` when it holds `BATCH` bytes, at most `FLUSH_AFTER` after its
//! first line (a flusher thread, started with the first line, that sleeps while the buffer
//! is empty), and on [`flush`], which the graceful stop and the exit on a second signal call.
//! A handler's panic is caught by the edge and its line is buffered like any other, so only
//! a crash of the whole process (SIGKILL, abort) can lose lines: those of the last
//! `FLUSH_AFTER`. One `write` per request cost about a fifth of `/token`'s throughput.
//! Operational messages (stderr) and audit lines (`crate::server::audit`) are written at once, one
//! `write` each under std's lock on the stream (so `eprintln!` and panic messages cannot cut
//! into them either); an audit line for stdout first flushes the access lines before it, so
//! stdout keeps the order in which the lines were made.
//!
//! No line is longer than [`MAX_LINE`] bytes, the size a pipe takes whole from one `write`:
//! a value that would make it longer is cut, and ends in [`CUT`].

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::json::json_str;
use crate::sys;
use crate::time::{PerSecond, push_decimal, push_digits, rfc3339, rfc3339_unix};

/// Buffered access-log bytes that trigger a write (about 200 lines).
const BATCH: usize = 16 * 1024;
/// Longest time a line waits in the buffer.
const FLUSH_AFTER: Duration = Duration::from_millis(50);

/// Longest line, newline included: `PIPE_BUF` on Linux, so one `write` puts it in a pipe
/// whole, never between the bytes of another process's line.
pub const MAX_LINE: usize = 4096;
/// Ends a value cut to keep its line within [`MAX_LINE`]; ASCII, so no format escapes it.
pub const CUT: &str = "...[cut]";
/// Longest escaped method and path in an access-log line: with the rest (under 200 bytes)
/// well within [`MAX_LINE`].
const MAX_METHOD: usize = 64;
const MAX_PATH: usize = 2048;

/// `escape(value)` when it has at most `budget` bytes; else `escape` of the longest prefix of
/// `value` (on a character boundary) followed by [`CUT`] that fits, so the result is as valid
/// (JSON, quoted text) as any other escaped value.
pub fn fit<'a>(value: &'a str, budget: usize, escape: fn(&str) -> Cow<'_, str>) -> Cow<'a, str> {
    let whole = escape(value);
    if whole.len() <= budget {
        return whole;
    }
    let cut_at = |end: usize| {
        let mut prefix = value[..end].to_string();
        prefix.push_str(CUT);
        escape(&prefix).into_owned()
    };
    // Escaping is per character, so a longer prefix never escapes shorter: bisect.
    let ends: Vec<usize> = value.char_indices().map(|(i, _)| i).collect();
    let fitting = ends.partition_point(|&end| cut_at(end).len() <= budget);
    Cow::Owned(cut_at(ends[fitting.saturating_sub(1)]))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// How log lines are written.
pub enum LogFormat {
    /// Plain text, one line each.
    Text,
    /// One JSON object per line.
    Json,
    /// No access log; operational messages still go to stderr as text.
    Off,
}

static FORMAT: AtomicU8 = AtomicU8::new(0);

/// Chooses the format of every later line (set once at start, from the config).
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

/// Access-log lines not yet written to stdout.
struct Pending {
    bytes: Vec<u8>,
    /// Whether the flusher thread runs (it is started with the first line).
    flusher: bool,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    bytes: Vec::new(),
    flusher: false,
});
/// Signalled when a line goes into an empty buffer.
static FILLED: Condvar = Condvar::new();

fn pending() -> MutexGuard<'static, Pending> {
    // The lock guards plain bytes: a panic while holding it leaves them usable.
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serializes writes to stdout, so batches go out in the order they were taken.
static WRITING: Mutex<()> = Mutex::new(());

/// Takes the buffered lines and writes them to stdout; the buffer's lock is released before the
/// `write`, so threads adding lines do not wait for it. The write lock is taken before the
/// buffer's is released: batches keep their order.
fn write_out(mut pending: MutexGuard<'_, Pending>) -> io::Result<()> {
    if pending.bytes.is_empty() {
        return Ok(());
    }
    let batch = std::mem::take(&mut pending.bytes);
    let writing = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    drop(pending);
    let stdout = std::io::stdout();
    let held = stdout.lock();
    let written = sys::write_all(stdout.as_fd(), &batch);
    drop(held);
    drop(writing);
    written
}

fn append(line: &[u8]) {
    let mut pending = pending();
    let first = pending.bytes.is_empty();
    if first {
        pending.bytes.reserve(BATCH);
    }
    pending.bytes.extend_from_slice(line);
    if pending.bytes.len() >= BATCH {
        // A closed stdout must not fail requests; its lines are dropped.
        let _ = write_out(pending);
    } else if first {
        if !pending.flusher {
            pending.flusher = thread::Builder::new()
                .name("t2g-log".to_string())
                .stack_size(64 * 1024)
                .spawn(flusher)
                .is_ok();
            if !pending.flusher {
                // Without a flusher every line goes out at once, as before batching.
                let _ = write_out(pending);
                return;
            }
        }
        FILLED.notify_one();
    }
}

fn flusher() {
    let mut pending = pending();
    loop {
        while pending.bytes.is_empty() {
            pending = FILLED.wait(pending).unwrap_or_else(|e| e.into_inner());
        }
        drop(pending);
        thread::sleep(FLUSH_AFTER);
        let _ = write_out(self::pending());
        pending = self::pending();
    }
}

/// Writes the access-log lines still buffered. The graceful stop calls it last.
pub fn flush() {
    let _ = write_out(pending());
}

/// Writes `line` to stdout at once, after the access-log lines buffered before it (an audit
/// line when `T2G_AUDIT_LOG=stdout`); an error when that write failed.
pub fn stdout_now(line: &[u8]) -> io::Result<()> {
    let mut pending = pending();
    pending.bytes.extend_from_slice(line);
    write_out(pending)
}

/// Writes one line to stderr in one `write`, under std's lock on stderr; an error when it
/// could not be written (ENOSPC, EPIPE, a closed stderr).
pub fn stderr_now(line: &[u8]) -> io::Result<()> {
    let stderr = std::io::stderr();
    let _held = stderr.lock();
    sys::write_all(stderr.as_fd(), line)
}

fn message(level: &str, msg: &str) {
    let now = rfc3339(SystemTime::now(), true);
    let line = match format() {
        LogFormat::Json => {
            // {"time":"…","level":"…","msg":…}\n
            let budget = MAX_LINE - now.len() - level.len() - 34;
            let msg = fit(msg, budget, |m| Cow::Owned(json_str(m)));
            format!("{{\"time\":\"{now}\",\"level\":\"{level}\",\"msg\":{msg}}}\n")
        }
        _ => {
            let budget = MAX_LINE - now.len() - level.len() - 3;
            let msg = fit(msg, budget, |m| Cow::Borrowed(m));
            format!("{now} {level} {msg}\n")
        }
    };
    // An operational message that cannot be written has nowhere else to go.
    let _ = stderr_now(line.as_bytes());
}

/// Logs an operational message at level `info`.
pub fn info(msg: &str) {
    message("info", msg);
}

/// Logs an operational message at level `warn`.
pub fn warn(msg: &str) {
    message("warn", msg);
}

/// Logs an operational message at level `error`.
pub fn error(msg: &str) {
    message("error", msg);
}

/// Now as RFC 3339 UTC with milliseconds, the seconds part formatted once per second per
/// thread: the access log asks for it on every request.
fn write_now(out: &mut String) {
    thread_local! {
        static SECONDS: RefCell<PerSecond> = const { RefCell::new(PerSecond::EMPTY) };
    }
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    SECONDS.with(|seconds| {
        // Without its `Z`: the milliseconds go between.
        let mut seconds = seconds.borrow_mut();
        let text = seconds.get(since.as_secs(), |secs| {
            let mut text = rfc3339_unix(secs as i64);
            text.pop();
            text
        });
        out.push_str(text);
    });
    out.push('.');
    push_digits(out, u64::from(since.subsec_millis()), 3);
    out.push('Z');
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
    let format = format();
    if format == LogFormat::Off {
        return;
    }
    let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
    let (status, bytes) = (u64::from(status), bytes as u64);
    // Written piece by piece: this runs for every request, and `format!` cost more than the
    // rest of the line.
    let mut line = String::with_capacity(128 + path.len());
    if format == LogFormat::Json {
        line.push_str("{\"time\":\"");
        write_now(&mut line);
        line.push_str("\",\"method\":");
        line.push_str(&fit(method, MAX_METHOD, |m| Cow::Owned(json_str(m))));
        line.push_str(",\"path\":");
        line.push_str(&fit(path, MAX_PATH, |p| Cow::Owned(json_str(p))));
        line.push_str(",\"status\":");
        push_decimal(&mut line, status);
        line.push_str(",\"bytes\":");
        push_decimal(&mut line, bytes);
        line.push_str(",\"duration_us\":");
        push_decimal(&mut line, micros);
        line.push_str(",\"peer\":\"");
        push_peer(&mut line, peer);
        line.push_str("\"}\n");
    } else {
        write_now(&mut line);
        line.push(' ');
        line.push_str(&fit(method, MAX_METHOD, sanitize));
        line.push(' ');
        line.push_str(&fit(path, MAX_PATH, sanitize));
        line.push(' ');
        push_decimal(&mut line, status);
        line.push(' ');
        push_decimal(&mut line, bytes);
        line.push_str("B ");
        push_decimal(&mut line, micros);
        line.push_str("us ");
        push_peer(&mut line, peer);
        line.push('\n');
    }
    append(line.as_bytes());
}

/// Appends a peer address as `SocketAddr` displays it (IPv4 by hand, the common case).
pub fn push_peer(out: &mut String, peer: SocketAddr) {
    match peer {
        SocketAddr::V4(v4) => {
            for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, u64::from(octet));
            }
            out.push(':');
            push_decimal(out, u64::from(v4.port()));
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{peer}");
        }
    }
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
    fn peers_as_std_displays_them() {
        for peer in [
            "127.0.0.1:5000",
            "10.0.0.255:1",
            "[::1]:8080",
            "[fe80::1%2]:9",
        ] {
            let peer: SocketAddr = peer.parse().unwrap();
            let mut out = String::new();
            push_peer(&mut out, peer);
            assert_eq!(out, peer.to_string());
        }
    }

    #[test]
    fn the_time_prefix_is_rfc3339_with_millis() {
        let mut out = String::new();
        write_now(&mut out);
        assert_eq!(out.len(), 24, "{out}");
        assert!(out.ends_with('Z') && out.as_bytes()[19] == b'.', "{out}");
    }

    #[test]
    fn fit_cuts_on_a_character_boundary_and_keeps_the_escaping_valid() {
        fn json(v: &str) -> Cow<'_, str> {
            Cow::Owned(json_str(v))
        }
        assert_eq!(fit("short", 64, json), "\"short\"");
        let long = "aé\"".repeat(100);
        let cut = fit(&long, 64, json);
        assert!(cut.len() <= 64, "{cut}");
        let value: String = serde_json::from_str(&cut).unwrap();
        let kept = value.strip_suffix(CUT).unwrap();
        assert!(long.starts_with(kept) && !kept.is_empty(), "{value}");
        let text = fit(&long, 50, |v| Cow::Borrowed(v));
        assert!(text.len() <= 50 && text.ends_with(CUT), "{text}");
    }

    #[test]
    fn sanitize_keeps_one_line() {
        assert_eq!(sanitize("/token"), "/token");
        assert!(!sanitize("/a\r\nb c").contains('\n'));
    }
}

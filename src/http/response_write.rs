//! Writing a response: the status line and header section (Date, baseline headers, framing
//! headers owned by the edge), checks on what a service returned, and writing under a deadline.

use std::cell::RefCell;
use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::message::{BASELINE_HEADERS, Response, is_tchar};
use crate::time::{self, PerSecond};

/// Appends the Date header value, formatted once per second per thread.
fn push_date(out: &mut Vec<u8>) {
    thread_local! {
        static DATE: RefCell<PerSecond> = const { RefCell::new(PerSecond::EMPTY) };
    }
    let secs = time::unix_now();
    DATE.with(|date| {
        out.extend_from_slice(date.borrow_mut().get(secs, time::imf_fixdate).as_bytes())
    });
}

/// A header the service set that would break framing or split the response.
fn bad_header(name: &str, value: &str) -> bool {
    name.is_empty()
        || !name.bytes().all(is_tchar)
        || value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// Why a service's response cannot be written as is: a header that could split the response
/// (names are static, so printing them leaks nothing).
pub(super) fn invalid_response(resp: &Response) -> Option<String> {
    let (name, _) = resp.headers.iter().find(|(n, v)| bad_header(n, v))?;
    Some(format!("invalid header {name:?}"))
}

/// The edge owns these; a service's own value is dropped.
fn edge_owned(name: &str) -> bool {
    ["content-length", "connection", "transfer-encoding"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
}

/// What the Connection header says.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Persist {
    Close,
    /// HTTP/1.0 keep-alive, announced.
    KeepAlive,
    /// HTTP/1.1 keep-alive, the default, not announced.
    Default,
}

fn push_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Status line and header section of `resp` whose body has `length` bytes.
pub(super) fn encode_head(resp: &Response, length: usize, persist: Persist) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let status = resp.status;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", status.code(), status.reason());
    if resp.get_header("date").is_none() {
        out.extend_from_slice(b"Date: ");
        push_date(&mut out);
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in BASELINE_HEADERS {
        if resp.get_header(name).is_none() {
            push_field(&mut out, name, value);
        }
    }
    for (name, value) in &resp.headers {
        if !edge_owned(name) {
            push_field(&mut out, name, value);
        }
    }
    let _ = write!(out, "Content-Length: {length}\r\n");
    match persist {
        Persist::Close => push_field(&mut out, "Connection", "close"),
        Persist::KeepAlive => push_field(&mut out, "Connection", "keep-alive"),
        Persist::Default => {}
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The send timeout (`SO_SNDTIMEO`) last set on a connection's socket, so that a response
/// costs a `setsockopt` only when the timeout must change.
#[derive(Default)]
pub(super) struct SendTimeout(Option<Duration>);

/// How far the socket's send timeout may be from the time left before it is set again: each
/// blocking `write` then ends within this of the deadline (the kernel counts in ticks anyway).
const TIMEOUT_SLACK: Duration = Duration::from_millis(10);

impl SendTimeout {
    fn bound(&mut self, stream: &TcpStream, left: Duration) -> io::Result<()> {
        let close = self
            .0
            .is_some_and(|set| set <= left + TIMEOUT_SLACK && set + TIMEOUT_SLACK >= left);
        if !close {
            stream.set_write_timeout(Some(left))?;
            self.0 = Some(left);
        }
        Ok(())
    }
}

/// Writes all of `data` by `deadline`; counts what went out into `sent`.
fn write_by(
    stream: &TcpStream,
    mut data: &[u8],
    deadline: Instant,
    timeout: &mut SendTimeout,
    sent: &mut usize,
) -> io::Result<()> {
    while !data.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        timeout.bound(stream, left)?;
        match (&*stream).write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                data = &data[n..];
                *sent += n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Bodies up to this size are copied behind the head and written with it.
const SMALL_BODY: usize = 16 * 1024;

/// Writes `resp` within `limit`; returns the body bytes sent, also on failure.
pub(super) fn write_response(
    stream: &TcpStream,
    timeout: &mut SendTimeout,
    resp: &Response,
    head_only: bool,
    persist: Persist,
    limit: Duration,
) -> (usize, io::Result<()>) {
    let body: &[u8] = if head_only { &[] } else { &resp.body };
    let mut out = encode_head(resp, resp.body.len(), persist);
    if body.len() <= SMALL_BODY {
        out.reserve_exact(body.len());
    }
    let head_len = out.len();
    let deadline = Instant::now() + limit;
    let mut sent = 0;
    // Small bodies go out with the head in one segment.
    let result = if body.len() <= SMALL_BODY {
        out.extend_from_slice(body);
        write_by(stream, &out, deadline, timeout, &mut sent)
    } else {
        write_by(stream, &out, deadline, timeout, &mut sent)
            .and_then(|()| write_by(stream, body, deadline, timeout, &mut sent))
    };
    (sent.saturating_sub(head_len), result)
}

#[cfg(test)]
mod tests {
    use super::super::message::Status;
    use super::*;

    #[test]
    fn date_is_an_imf_fixdate() {
        let mut date = Vec::new();
        push_date(&mut date);
        assert_eq!(date.len(), 29);
        assert!(date.ends_with(b" GMT"));
    }

    #[test]
    fn head_encoding_order_and_overrides() {
        let resp = Response::text(Status::Ok, "hi")
            .header("X-Frame-Options", "SAMEORIGIN")
            .header("Content-Length", "999")
            .header("X-Own", "1");
        let head = String::from_utf8(encode_head(&resp, 3, Persist::Close)).unwrap();
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert_eq!(lines[0], "HTTP/1.1 200 OK");
        assert!(lines[1].starts_with("Date: "));
        let names: Vec<&str> = lines[2..]
            .iter()
            .map(|l| l.split(':').next().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "X-Content-Type-Options",
                "Referrer-Policy",
                "Content-Security-Policy",
                "Content-Type",
                "X-Frame-Options",
                "X-Own",
                "Content-Length",
                "Connection",
                "",
                ""
            ]
        );
        assert!(
            head.contains("X-Frame-Options: SAMEORIGIN\r\n")
                && head.contains("Content-Length: 3\r\n")
        );
        let keep = String::from_utf8(encode_head(&resp, 3, Persist::Default)).unwrap();
        assert!(!keep.contains("Connection"));
        let old = String::from_utf8(encode_head(&resp, 3, Persist::KeepAlive)).unwrap();
        assert!(old.contains("Connection: keep-alive\r\n"));
    }

    #[test]
    fn invalid_responses_are_caught() {
        assert_eq!(invalid_response(&Response::text(Status::Ok, "ok")), None);
        let split = Response::text(Status::SeeOther, "").header("Location", "/a\nX: y");
        assert_eq!(
            invalid_response(&split).as_deref(),
            Some("invalid header \"Location\"")
        );
    }

    #[test]
    fn invalid_response_headers_are_caught() {
        assert!(!bad_header("Location", "http://127.0.0.1/x?a=b"));
        assert!(bad_header("Location", "/x\r\nSet-Cookie: a=b"));
        assert!(bad_header("Bad Name", "v"));
        assert!(bad_header("", "v"));
    }
}

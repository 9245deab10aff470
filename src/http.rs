//! The message types shared by the HTTP/1.1 edge and the application behind it.
//!
//! INTERFACE CONTRACT (kept by `server.rs`, `request_head.rs` and `response_write.rs`):
//! - `Request`, `Response`, `Method`, `Exchange`, `Service`, `Limits`, `Server` as declared or
//!   re-exported here.
//! - The server applies `BASELINE_HEADERS` to every response it writes (its own errors included),
//!   and adds `Content-Length` and `Connection` itself.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

pub use crate::server::{Server, Stopper};

/// Request methods the service distinguishes; anything else is kept by name for the 405 answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Other(String),
}

impl Method {
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Other(name) => name,
        }
    }
}

/// A parsed request head. No body: the edge refuses requests that announce one.
/// No `Debug`: header values carry tokens.
pub struct Request {
    pub method: Method,
    /// Path as received (still percent-encoded), without the query.
    pub path: String,
    /// Raw query after `?`, without it; empty when absent.
    pub query: String,
    /// Header fields in arrival order, names as received, values with surrounding whitespace trimmed.
    pub headers: Vec<(String, String)>,
    pub peer: SocketAddr,
}

impl Request {
    /// A GET request for unit tests: `target` is a path with an optional `?query`.
    #[cfg(test)]
    pub(crate) fn test_get(target: &str, headers: &[(&str, &str)]) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: Method::Get,
            path: path.to_string(),
            query: query.to_string(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            peer: SocketAddr::from(([127, 0, 0, 1], 5000)),
        }
    }

    /// First value of a header, name matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response value. `Content-Length`, `Connection` and the baseline security headers are added
/// by the server when it writes the response; a header set here wins over a baseline one of the
/// same name.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    pub body: Cow<'static, [u8]>,
    /// Metrics label of the route that answered (`"token"`, `"echo"`, ...; `"none"` for edge errors).
    pub route: &'static str,
}

/// Headers on every response, whoever produced it.
pub const BASELINE_HEADERS: &[(&str, &str)] = &[
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "frame-ancestors 'none'"),
];

/// What the server reports after writing each response: for the access log and metrics.
/// Holds no header or query value.
pub struct Exchange<'a> {
    pub method: &'a str,
    /// Path without the query; `"-"` when the request line could not be parsed.
    pub path: &'a str,
    pub status: u16,
    pub route: &'static str,
    /// Body bytes sent (0 for HEAD).
    pub bytes: usize,
    pub duration: Duration,
    pub peer: SocketAddr,
}

/// The application behind the edge.
pub trait Service: Send + Sync + 'static {
    fn handle(&self, request: &Request) -> Response;
    fn completed(&self, exchange: &Exchange<'_>);
}

impl Response {
    /// A response with a body of the given content type; route label `"none"` until set.
    pub fn new(
        status: u16,
        content_type: &'static str,
        body: impl Into<Cow<'static, [u8]>>,
    ) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", Cow::Borrowed(content_type))],
            body: body.into(),
            route: "none",
        }
    }

    /// A one-line plain-text answer (a newline is appended).
    pub fn text(status: u16, line: impl Into<String>) -> Response {
        let mut body = line.into();
        body.push('\n');
        Response::new(status, "text/plain; charset=utf-8", body.into_bytes())
    }

    pub fn header(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Response {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name, value.into()));
        self
    }

    pub fn route(mut self, route: &'static str) -> Response {
        self.route = route;
        self
    }

    /// Value of a header set on this response, name matched case-insensitively.
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// Bounds of the edge; the defaults are the production values (documented in the README).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections served at once; past it a new connection gets 503 and is closed.
    pub max_connections: usize,
    /// From the first byte of a request head until it is complete; else 408 and close.
    pub head_timeout: Duration,
    /// A fresh or keep-alive connection without a byte of a next request is closed after this.
    pub idle_timeout: Duration,
    /// Writing one whole response; else the connection is closed.
    pub write_timeout: Duration,
    /// Request line in bytes, without its line ending; else 414.
    pub max_request_line: usize,
    /// Whole request head in bytes; else 431.
    pub max_head_bytes: usize,
    /// Header fields per request; else 431.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            head_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_request_line: 16 * 1024,
            max_head_bytes: 64 * 1024,
            max_headers: 100,
        }
    }
}

impl Limits {
    pub(crate) fn check(&self) -> io::Result<()> {
        let counts = [
            self.max_connections,
            self.max_request_line,
            self.max_head_bytes,
            self.max_headers,
        ];
        let times = [self.head_timeout, self.idle_timeout, self.write_timeout];
        if counts.contains(&0) || times.iter().any(Duration::is_zero) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "every http limit must be positive",
            ));
        }
        Ok(())
    }
}

/// Reason phrase of a status line.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        444 => "Token Not Found",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// RFC 9110 token characters (methods, header names).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_phrases() {
        assert_eq!(reason(200), "OK");
        assert_eq!(reason(444), "Token Not Found");
        assert_eq!(reason(431), "Request Header Fields Too Large");
        assert_eq!(reason(599), "Unknown");
    }

    #[test]
    fn limits_must_be_positive() {
        assert!(Limits::default().check().is_ok());
        assert!(Limits {
            max_connections: 0,
            ..Limits::default()
        }
        .check()
        .is_err());
        assert!(Limits {
            head_timeout: Duration::ZERO,
            ..Limits::default()
        }
        .check()
        .is_err());
    }
}

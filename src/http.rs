//! The HTTP/1.1 edge: the only module that touches sockets.
//!
//! INTERFACE CONTRACT (kept by the implementation below):
//! - `Request`, `Response`, `Method`, `Exchange`, `Service`, `Limits`, `Server` as declared here.
//! - The server applies `BASELINE_HEADERS` to every response it writes (its own errors included),
//!   and adds `Content-Length` and `Connection` itself.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

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

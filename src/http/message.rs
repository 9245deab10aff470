//! The message types shared by the edge and the application behind it, and the edge's limits.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Request methods the service distinguishes; anything else is kept by name for the 405 answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`: answered as `GET`, without the body.
    Head,
    /// `POST`: the client's listener takes a form_post callback; the server answers 405.
    Post,
    /// Any other method, by name.
    Other(String),
}

impl Method {
    /// The method's name as on the request line.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Other(name) => name,
        }
    }
}

/// Every status this server sends. A closed set, so each one has its reason phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// 200.
    Ok,
    /// 301.
    MovedPermanently,
    /// 303: the flow's redirect to its target.
    SeeOther,
    /// 308.
    PermanentRedirect,
    /// 400: a bad request, with a one-line reason.
    BadRequest,
    /// A read of the token by another site's page (Fetch Metadata).
    Forbidden,
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 406.
    NotAcceptable,
    /// 408: the request did not arrive in time.
    RequestTimeout,
    /// 413: the body is larger than the limit.
    ContentTooLarge,
    /// 414: the request target is longer than the limit.
    UriTooLong,
    /// A Host this server does not answer for (DNS rebinding defence, RFC 9110 §15.5.20).
    MisdirectedRequest,
    /// 431: the header fields exceed the limits.
    RequestHeaderFieldsTooLarge,
    /// The reference server's answer when no header carries a token.
    TokenNotFound,
    /// 500.
    InternalServerError,
    /// 503: over the connection cap, or the audit trail cannot be written.
    ServiceUnavailable,
    /// 505.
    HttpVersionNotSupported,
}

impl Status {
    /// Every status, in order of code (the metrics' order).
    pub const ALL: [Status; 18] = [
        Status::Ok,
        Status::MovedPermanently,
        Status::SeeOther,
        Status::PermanentRedirect,
        Status::BadRequest,
        Status::Forbidden,
        Status::NotFound,
        Status::MethodNotAllowed,
        Status::NotAcceptable,
        Status::RequestTimeout,
        Status::ContentTooLarge,
        Status::UriTooLong,
        Status::MisdirectedRequest,
        Status::RequestHeaderFieldsTooLarge,
        Status::TokenNotFound,
        Status::InternalServerError,
        Status::ServiceUnavailable,
        Status::HttpVersionNotSupported,
    ];

    /// The numeric status code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::MovedPermanently => 301,
            Status::SeeOther => 303,
            Status::PermanentRedirect => 308,
            Status::BadRequest => 400,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::NotAcceptable => 406,
            Status::RequestTimeout => 408,
            Status::ContentTooLarge => 413,
            Status::UriTooLong => 414,
            Status::MisdirectedRequest => 421,
            Status::RequestHeaderFieldsTooLarge => 431,
            Status::TokenNotFound => 444,
            Status::InternalServerError => 500,
            Status::ServiceUnavailable => 503,
            Status::HttpVersionNotSupported => 505,
        }
    }

    /// The reason phrase of the status line (RFC 9110 §15).
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::MovedPermanently => "Moved Permanently",
            Status::SeeOther => "See Other",
            Status::PermanentRedirect => "Permanent Redirect",
            Status::BadRequest => "Bad Request",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::NotAcceptable => "Not Acceptable",
            Status::RequestTimeout => "Request Timeout",
            Status::ContentTooLarge => "Content Too Large",
            Status::UriTooLong => "URI Too Long",
            Status::MisdirectedRequest => "Misdirected Request",
            Status::RequestHeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::TokenNotFound => "Token Not Found",
            Status::InternalServerError => "Internal Server Error",
            Status::ServiceUnavailable => "Service Unavailable",
            Status::HttpVersionNotSupported => "HTTP Version Not Supported",
        }
    }

    /// The status with this code, if the edge knows it.
    pub fn from_code(code: u16) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// So tests and callers can compare with a plain number: `response.status == 200`.
impl PartialEq<u16> for Status {
    fn eq(&self, code: &u16) -> bool {
        self.code() == *code
    }
}

/// A parsed request: its head and, where the limits allow bodies (`max_body`), its body.
/// No `Debug`: header values carry tokens.
pub struct Request {
    /// The request method.
    pub method: Method,
    /// Path as received (still percent-encoded), without the query.
    pub path: String,
    /// Raw query after `?`, without it; empty when absent.
    pub query: String,
    /// Header fields in arrival order, names as received, values with surrounding whitespace trimmed.
    pub headers: Vec<(String, String)>,
    /// The address the connection came from.
    pub peer: SocketAddr,
    /// The body (`Content-Length` bytes); always empty when `max_body` is 0.
    pub body: Vec<u8>,
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
            body: Vec::new(),
        }
    }

    /// First value of a header, name matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).next()
    }

    /// Every value of a header, in order, name matched case-insensitively.
    pub fn header_values<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response value. `Content-Length`, `Connection` and the baseline security headers are added
/// by the server when it writes the response; a header set here wins over a baseline one of the
/// same name.
pub struct Response {
    /// The status.
    pub status: Status,
    /// Header fields besides the baseline ones the edge adds.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// The body (sent without it for `HEAD`).
    pub body: Cow<'static, [u8]>,
    /// Metrics label of the route that answered (`"token"`, `"echo"`, ...; `"none"` for edge errors).
    pub route: &'static str,
    /// What to do once this response has left ([`Response::after_sent`]); `None` for nearly
    /// every response, so the server's own pay one empty word for it.
    pub(super) after_sent: Option<AfterSent>,
}

/// An action a response carries, for the edge to run once after writing it.
pub(crate) type AfterSent = Box<dyn FnOnce() + Send>;

/// Headers on every response, whoever produced it.
pub(super) const BASELINE_HEADERS: &[(&str, &str)] = &[
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "frame-ancestors 'none'"),
];

/// What the server reports after writing each response: for the access log and metrics.
/// Holds no header or query value.
pub struct Exchange<'a> {
    /// The request method's name; `"-"` when it could not be parsed.
    pub method: &'a str,
    /// Path without the query; `"-"` when the request line could not be parsed.
    pub path: &'a str,
    /// The status sent.
    pub status: Status,
    /// The route label the service set on its response ([`Response::route`]); `"none"` when it
    /// set none and for the edge's own answers. A fixed name, for metrics.
    pub route: &'static str,
    /// Body bytes sent (0 for HEAD).
    pub bytes: usize,
    /// From the first byte of the request to the last of the response.
    pub duration: Duration,
    /// The address the connection came from.
    pub peer: SocketAddr,
}

/// The application behind the edge: the server's routes, the client's callback listener. The
/// edge calls it from several threads at once, so it keeps its state in atomics and locks.
pub trait Service: Send + Sync + 'static {
    /// The response to one request that passed the edge's checks (method, target, Host, head
    /// and body limits, header encoding); runs on a worker, under a panic guard (a panic becomes
    /// a 500). What must wait until the response has left goes with it as
    /// [`Response::after_sent`].
    fn handle(&self, request: &Request) -> Response;
    /// Called once per exchange after its response was written (or writing failed), on the
    /// connection's thread under a panic guard (a panic is logged), also when the edge refused
    /// the request itself: its own 4xx/5xx, which `handle` never saw (route `"none"`; path `"-"`
    /// when the request line could not be parsed).
    ///
    /// For the access log and metrics, and for acting on the edge's refusals by `status` and
    /// `path`: the client's callback listener fails at once when the edge refused the
    /// callback's body as too large, instead of waiting for its timeout.
    fn completed(&self, exchange: &Exchange<'_>);
    /// Whether to serve a connection from `peer` at all; asked on the accept thread before the
    /// connection cap counts it, so a refused peer can hold no slot. `false` closes it at once,
    /// unanswered. Every peer by default (the server); the client's loopback listener serves
    /// only its own user's connections.
    fn accepts(&self, _peer: SocketAddr) -> bool {
        true
    }

    /// The header names (any case) whose values the service reads. A request whose value of
    /// one of them is not UTF-8 is refused (400 naming the header); any other header may carry
    /// obs-text (RFC 9110 §5.5), which the request holds escaped. `None`, the default: every
    /// value must be UTF-8.
    fn utf8_headers(&self) -> Option<&[String]> {
        None
    }
}

impl Response {
    /// A response with a body of the given content type; route label `"none"` until set.
    pub fn new(
        status: Status,
        content_type: &'static str,
        body: impl Into<Cow<'static, [u8]>>,
    ) -> Response {
        Response::with_body(status, content_type, body.into())
    }

    // The generic methods only convert and call these, so each body is compiled once rather
    // than once per argument type (bytes of the static release binary).
    fn with_body(status: Status, content_type: &'static str, body: Cow<'static, [u8]>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", Cow::Borrowed(content_type))],
            body,
            route: "none",
            after_sent: None,
        }
    }

    /// A one-line plain-text answer (a newline is appended).
    pub fn text(status: Status, line: impl Into<String>) -> Response {
        Response::text_line(status, line.into())
    }

    fn text_line(status: Status, mut line: String) -> Response {
        line.push('\n');
        Response::with_body(
            status,
            "text/plain; charset=utf-8",
            line.into_bytes().into(),
        )
    }

    /// Adds a header field.
    pub fn header(self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Response {
        self.set_header(name, value.into())
    }

    fn set_header(mut self, name: &'static str, value: Cow<'static, str>) -> Response {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name, value));
        self
    }

    /// Sets the route label: for the access log and metrics.
    pub fn route(mut self, route: &'static str) -> Response {
        self.route = route;
        self
    }

    /// Gives the response an action the edge runs exactly once, after the response has been
    /// written or writing it failed (the peer gone, the write timeout), and after
    /// [`Service::completed`] has seen the exchange; on the connection's thread, under the
    /// same panic guard as `completed` (a panic is logged, the connection goes on). A response
    /// the edge replaces by a 500 (an invalid header) keeps its action. For what must not
    /// happen before the peer has its answer: the client's listener hands the run its token
    /// only then, since the run stops the listener as soon as it has it.
    pub fn after_sent(mut self, action: impl FnOnce() + Send + 'static) -> Response {
        self.after_sent = Some(Box::new(action));
        self
    }

    /// The action [`Response::after_sent`] gave, taken out: for the edge that runs it (and for
    /// tests that play the edge).
    pub(crate) fn take_after_sent(&mut self) -> Option<AfterSent> {
        self.after_sent.take()
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
    /// Largest request body (`Content-Length`; chunked bodies are refused); more gets 413.
    /// 0, the server's value, refuses every body without reading it.
    pub max_body: usize,
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
            max_body: 0,
        }
    }
}

impl Limits {
    pub(super) fn check(&self) -> io::Result<()> {
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

/// RFC 9110 token characters (methods, header names).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_its_code_and_reason_phrase() {
        let mut codes: Vec<u16> = Status::ALL.iter().map(|s| s.code()).collect();
        for status in Status::ALL {
            let code = status.code();
            assert!((200..=599).contains(&code), "{status:?}");
            let reason = status.reason();
            assert!(
                !reason.is_empty()
                    && reason != "Unknown"
                    && reason
                        .bytes()
                        .all(|b| b == b' ' || b.is_ascii_alphanumeric()),
                "{status:?}: {reason:?}"
            );
            assert_eq!(Status::from_code(code), Some(status));
        }
        codes.dedup();
        assert_eq!(
            codes.len(),
            Status::ALL.len(),
            "codes are distinct and sorted"
        );
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Status::NotAcceptable.reason(), "Not Acceptable");
        assert_eq!(Status::TokenNotFound.reason(), "Token Not Found");
        assert_eq!(Status::MisdirectedRequest.reason(), "Misdirected Request");
        assert_eq!(Status::from_code(599), None);
    }

    #[test]
    fn limits_must_be_positive() {
        assert!(Limits::default().check().is_ok());
        assert!(
            Limits {
                max_connections: 0,
                ..Limits::default()
            }
            .check()
            .is_err()
        );
        assert!(
            Limits {
                head_timeout: Duration::ZERO,
                ..Limits::default()
            }
            .check()
            .is_err()
        );
    }
}

//! The HTTP/1.1 edge: the only module that touches sockets.
//!
//! INTERFACE CONTRACT (kept by the implementation below):
//! - `Request`, `Response`, `Method`, `Exchange`, `Service`, `Limits`, `Server` as declared here.
//! - The server applies `BASELINE_HEADERS` to every response it writes (its own errors included),
//!   and adds `Content-Length` and `Connection` itself.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::log;
use crate::pool::{Pool, PoolConfig};

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
    fn check(&self) -> io::Result<()> {
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

/// Worker stack, explicit: 1024 workers at the 2 MiB default would reserve 2 GiB; RSA-4096 in a
/// handler needs far less than 1 MiB.
const WORKER_STACK: usize = 1024 * 1024;
/// Idle workers kept for the next burst; idle ones beyond it exit after `WORKER_IDLE_EXIT`.
const WORKER_FLOOR: usize = 4;
const WORKER_IDLE_EXIT: Duration = Duration::from_secs(30);
const READ_CHUNK: usize = 8 * 1024;
/// Pause after an accept error such as EMFILE, so a full fd table does not spin the loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// After a response that closes the connection, unread input is drained this long / this much
/// so the close sends FIN rather than a reset that could destroy the response in flight.
const LINGER: Duration = Duration::from_millis(300);
const LINGER_BYTES: usize = 256 * 1024;
/// Empty lines tolerated before a request line (RFC 9112 §2.2), in bytes.
const MAX_LEADING_EMPTY: usize = 64;

/// Why the edge refused a request head. Each refusal closes the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Refusal {
    Malformed,
    Target,
    NoHost,
    ManyHosts,
    /// Carries the header name (never its value).
    NotUtf8(String),
    ContentLength,
    Body,
    Timeout,
    LineTooLong,
    HeadTooLarge,
    TooManyHeaders,
    Version,
}

impl Refusal {
    fn status(&self) -> u16 {
        match self {
            Refusal::Body => 413,
            Refusal::Timeout => 408,
            Refusal::LineTooLong => 414,
            Refusal::HeadTooLarge | Refusal::TooManyHeaders => 431,
            Refusal::Version => 505,
            _ => 400,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Malformed => f.write_str("malformed request head"),
            Refusal::Target => {
                f.write_str("request target must start with / or be an absolute http url")
            }
            Refusal::NoHost => f.write_str("missing Host header"),
            Refusal::ManyHosts => f.write_str("more than one Host header"),
            Refusal::NotUtf8(name) => write!(f, "header {name} is not valid utf-8"),
            Refusal::ContentLength => f.write_str("invalid Content-Length header"),
            Refusal::Body => f.write_str("request bodies are not accepted"),
            Refusal::Timeout => f.write_str("request head not complete in time"),
            Refusal::LineTooLong => f.write_str("request line too long"),
            Refusal::HeadTooLarge => f.write_str("request head too large"),
            Refusal::TooManyHeaders => f.write_str("too many header fields"),
            Refusal::Version => f.write_str("only HTTP/1.0 and HTTP/1.1 are supported"),
        }
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

// ----- reading a request head -----------------------------------------------------------------

/// RFC 9110 token characters (methods, header names).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Judges the HTTP version from the request line alone, so an HTTP/2 preface, `HTTP/1.2` or an
/// HTTP/0.9 line (which waits for an answer after one line) gets 505 at once, never 400 or a hang.
fn check_version(line: &[u8]) -> Result<(), Refusal> {
    let mut parts = line
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|p| !p.is_empty());
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(b"HTTP/1.1" | b"HTTP/1.0"), None) => Ok(()),
        (Some(_), Some(_), Some(version), None) => match version.strip_prefix(b"HTTP/") {
            Some(number) if is_version_number(number) => Err(Refusal::Version),
            _ => Err(Refusal::Malformed),
        },
        (Some(_), Some(target), None, None) if target.starts_with(b"/") => Err(Refusal::Version),
        _ => Err(Refusal::Malformed),
    }
}

/// `DIGIT+ [ "." DIGIT+ ]`
fn is_version_number(n: &[u8]) -> bool {
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    match n.iter().position(|&b| b == b'.') {
        Some(dot) => digits(&n[..dot]) && digits(&n[dot + 1..]),
        None => digits(n),
    }
}

/// Finds the end of a request head as bytes arrive, refusing as early as the bytes allow.
/// Resumes where it stopped, so a client sending one byte at a time costs linear work.
#[derive(Default)]
struct HeadScan {
    pos: usize,
    start: Option<usize>,
    line_done: bool,
    last_nl: usize,
}

impl HeadScan {
    /// `Ok(Some(end))` when `buf[..end]` is a complete head, `Ok(None)` when more is needed.
    fn advance(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, Refusal> {
        let start = match self.start {
            Some(start) => start,
            None => {
                while buf
                    .get(self.pos)
                    .is_some_and(|b| matches!(b, b'\r' | b'\n'))
                {
                    self.pos += 1;
                }
                if self.pos > MAX_LEADING_EMPTY {
                    return Err(Refusal::Malformed);
                }
                match buf.get(self.pos) {
                    None => return Ok(None),
                    // Not a method: e.g. a TLS ClientHello; answer now rather than at the timeout.
                    Some(&b) if !is_tchar(b) => return Err(Refusal::Malformed),
                    Some(_) => {}
                }
                self.start = Some(self.pos);
                self.pos
            }
        };
        if !self.line_done {
            while let Some(&b) = buf.get(self.pos) {
                if b == b'\n' {
                    break;
                }
                if (b < 0x20 && b != b'\r' && b != b'\t') || b == 0x7f {
                    return Err(Refusal::Malformed);
                }
                self.pos += 1;
            }
            if self.pos == buf.len() {
                // +1: the line's CR may be the last byte seen.
                if self.pos - start > limits.max_request_line + 1 {
                    return Err(Refusal::LineTooLong);
                }
                return Ok(None);
            }
            let line = &buf[start..self.pos];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > limits.max_request_line {
                return Err(Refusal::LineTooLong);
            }
            check_version(line)?;
            self.line_done = true;
            self.last_nl = self.pos;
            self.pos += 1;
        }
        while let Some(&b) = buf.get(self.pos) {
            if b == b'\n' {
                let line = &buf[self.last_nl + 1..self.pos];
                if line.is_empty() || line == b"\r" {
                    let end = self.pos + 1;
                    if end - start > limits.max_head_bytes {
                        return Err(Refusal::HeadTooLarge);
                    }
                    return Ok(Some(end));
                }
                self.last_nl = self.pos;
            }
            self.pos += 1;
        }
        if buf.len() - start > limits.max_head_bytes {
            return Err(Refusal::HeadTooLarge);
        }
        Ok(None)
    }
}

/// Parses a complete head; returns the request and the minor version (0 or 1).
fn parse_head(head: &[u8], peer: SocketAddr, limits: &Limits) -> Result<(Request, u8), Refusal> {
    let mut fields = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut parsed = httparse::Request::new(&mut fields);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(Refusal::Malformed),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::TooManyHeaders),
        Err(httparse::Error::Version) => return Err(Refusal::Version),
        Err(_) => return Err(Refusal::Malformed),
    }
    let (Some(method), Some(target), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(Refusal::Malformed);
    };
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        other => Method::Other(other.to_string()),
    };
    let (path, query) = split_target(target)?;
    let mut headers = Vec::with_capacity(parsed.headers.len());
    for field in parsed.headers.iter() {
        let Ok(value) = std::str::from_utf8(field.value) else {
            let name: String = field.name.chars().take(64).collect();
            return Err(Refusal::NotUtf8(name));
        };
        let value = value.trim_matches([' ', '\t']);
        headers.push((field.name.to_string(), value.to_string()));
    }
    let request = Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
        peer,
    };
    Ok((request, minor))
}

/// Origin-form as is; absolute-form reduced to its path and query; anything else refused.
fn split_target(target: &str) -> Result<(&str, &str), Refusal> {
    let rest = if target.starts_with('/') {
        target
    } else {
        let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
        let scheme = ["http://", "https://"]
            .into_iter()
            .find(|s| lower.starts_with(s));
        let after = &target[scheme.ok_or(Refusal::Target)?.len()..];
        let authority = after.find(['/', '?']).unwrap_or(after.len());
        if authority == 0 {
            return Err(Refusal::Target);
        }
        match &after[authority..] {
            "" => "/",
            pq if pq.starts_with('?') => return Ok(("/", &pq[1..])),
            pq => pq,
        }
    };
    Ok(rest.split_once('?').unwrap_or((rest, "")))
}

/// HTTP/1.1 needs exactly one Host (RFC 9112 §3.2); none may announce a body.
fn check_request(request: &Request, minor: u8) -> Result<(), Refusal> {
    let named = |name: &'static str| {
        request
            .headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    match named("host").count() {
        0 if minor == 1 => return Err(Refusal::NoHost),
        0 | 1 => {}
        _ => return Err(Refusal::ManyHosts),
    }
    if named("transfer-encoding").next().is_some() {
        return Err(Refusal::Body);
    }
    let mut body = false;
    for element in named("content-length").flat_map(|v| v.split(',')) {
        let element = element.trim_matches([' ', '\t']);
        if element.is_empty() || !element.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::ContentLength);
        }
        body |= element.bytes().any(|b| b != b'0');
    }
    if body {
        return Err(Refusal::Body);
    }
    Ok(())
}

/// Keep-alive by the rules of the version: 1.1 unless `close`, 1.0 only with `keep-alive`.
fn keep_alive(request: &Request, minor: u8) -> bool {
    let (mut close, mut keep) = (false, false);
    for (name, value) in &request.headers {
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(|t| t.trim_matches([' ', '\t'])) {
                close |= token.eq_ignore_ascii_case("close");
                keep |= token.eq_ignore_ascii_case("keep-alive");
            }
        }
    }
    !close && (minor == 1 || keep)
}

// ----- writing a response ---------------------------------------------------------------------

/// IMF-fixdate (RFC 9110 §5.6.7) of seconds since the epoch.
fn imf_fixdate(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = log::civil_from_days(days as i64);
    let weekday = DAYS[(days % 7) as usize];
    let month = MONTHS[(m as usize).saturating_sub(1) % 12];
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{weekday}, {d:02} {month} {y:04} {hh:02}:{mm:02}:{ss:02} GMT")
}

/// The Date header value, formatted once per second per thread.
fn date_now() -> String {
    thread_local! {
        static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs {
            *cache = (secs, imf_fixdate(secs));
        }
        cache.1.clone()
    })
}

/// A header the service set that would break framing or split the response.
fn bad_header(name: &str, value: &str) -> bool {
    name.is_empty()
        || !name.bytes().all(is_tchar)
        || value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// Why a service's response cannot be written as is: a final status of three digits and headers
/// that cannot split the response (names are static, so printing them leaks nothing).
fn invalid_response(resp: &Response) -> Option<String> {
    if !(200..=999).contains(&resp.status) {
        return Some(format!("status {} is not a final status", resp.status));
    }
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
enum Persist {
    Close,
    /// HTTP/1.0 keep-alive, announced.
    KeepAlive,
    /// HTTP/1.1 keep-alive, the default, not announced.
    Default,
}

/// Status line and header section of `resp` whose body has `length` bytes.
fn encode_head(resp: &Response, length: usize, persist: Persist) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let mut line = |name: &str, value: &str| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    if resp.get_header("date").is_none() {
        line("Date", &date_now());
    }
    for (name, value) in BASELINE_HEADERS {
        if resp.get_header(name).is_none() {
            line(name, value);
        }
    }
    for (name, value) in &resp.headers {
        if !edge_owned(name) {
            line(name, value);
        }
    }
    // 204 carries no Content-Length (RFC 9110 §8.6); 1xx never gets here.
    if resp.status != 204 {
        line("Content-Length", &length.to_string());
    }
    match persist {
        Persist::Close => line("Connection", "close"),
        Persist::KeepAlive => line("Connection", "keep-alive"),
        Persist::Default => {}
    }
    let status = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    out.splice(0..0, status.into_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

/// Writes all of `data` by `deadline`; counts what went out into `sent`.
fn write_by(
    stream: &TcpStream,
    mut data: &[u8],
    deadline: Instant,
    sent: &mut usize,
) -> io::Result<()> {
    while !data.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_write_timeout(Some(left))?;
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

/// Writes `resp` within `limit`; returns the body bytes sent, also on failure.
fn write_response(
    stream: &TcpStream,
    resp: &Response,
    head_only: bool,
    persist: Persist,
    limit: Duration,
) -> (usize, io::Result<()>) {
    let no_body = head_only || resp.status == 204 || resp.status == 304;
    let body: &[u8] = if no_body { &[] } else { &resp.body };
    let mut out = encode_head(resp, resp.body.len(), persist);
    let head_len = out.len();
    let deadline = Instant::now() + limit;
    let mut sent = 0;
    // Small bodies go out with the head in one segment.
    let result = if body.len() <= 16 * 1024 {
        out.extend_from_slice(body);
        write_by(stream, &out, deadline, &mut sent)
    } else {
        write_by(stream, &out, deadline, &mut sent)
            .and_then(|()| write_by(stream, body, deadline, &mut sent))
    };
    (sent.saturating_sub(head_len), result)
}

// ----- connections ----------------------------------------------------------------------------

struct Shared {
    limits: Limits,
    service: Arc<dyn Service>,
    stopping: AtomicBool,
    /// Open connections, so a stop can close the idle ones.
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
}

struct Conn {
    stream: TcpStream,
    /// Waiting for the first byte of a next request (closed at once by a stop).
    idle: Mutex<bool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one still holds consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn report(&self, exchange: &Exchange<'_>) {
        if catch_unwind(AssertUnwindSafe(|| self.service.completed(exchange))).is_err() {
            log::warn("the completed() hook panicked");
        }
    }
}

/// Serves one connection until it closes; runs on a pool worker.
fn serve(shared: &Shared, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let conn = Arc::new(Conn {
        stream,
        idle: Mutex::new(false),
    });
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    lock(&shared.conns).insert(id, Arc::clone(&conn));
    Connection {
        shared,
        conn: &conn,
        peer,
        buf: Vec::new(),
    }
    .run();
    lock(&shared.conns).remove(&id);
}

struct Connection<'a> {
    shared: &'a Shared,
    conn: &'a Conn,
    peer: SocketAddr,
    /// Bytes read and not yet consumed: a partial head or pipelined requests.
    buf: Vec<u8>,
}

enum Head {
    Complete(usize),
    Refused(Refusal),
    Gone,
}

impl Connection<'_> {
    fn run(&mut self) {
        loop {
            if self.buf.is_empty() && !self.await_request() {
                return;
            }
            let started = Instant::now();
            let end = match self.read_head(started) {
                Head::Complete(end) => end,
                Head::Refused(refusal) => return self.refuse(&refusal, None, started),
                Head::Gone => return,
            };
            let keep = self.answer(end, started);
            self.buf.drain(..end);
            // A large head must not pin its buffer for the rest of a long keep-alive.
            self.buf.shrink_to(2 * READ_CHUNK);
            if !keep {
                return;
            }
        }
    }

    /// Waits up to the idle timeout for a first byte; false when the connection should close.
    fn await_request(&mut self) -> bool {
        {
            let mut idle = lock(&self.conn.idle);
            if self.shared.stopping.load(Ordering::SeqCst) {
                return false;
            }
            *idle = true;
        }
        let got = self.read_more(self.shared.limits.idle_timeout);
        *lock(&self.conn.idle) = false;
        matches!(got, Ok(n) if n > 0)
    }

    fn read_more(&mut self, timeout: Duration) -> io::Result<usize> {
        self.conn.stream.set_read_timeout(Some(timeout))?;
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let result = loop {
            match (&self.conn.stream).read(&mut self.buf[old..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        self.buf.truncate(old + *result.as_ref().unwrap_or(&0));
        result
    }

    fn read_head(&mut self, started: Instant) -> Head {
        let limits = &self.shared.limits;
        let mut scan = HeadScan::default();
        loop {
            match scan.advance(&self.buf, limits) {
                Ok(Some(end)) => return Head::Complete(end),
                Ok(None) => {}
                Err(refusal) => return Head::Refused(refusal),
            }
            let left = limits.head_timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Head::Refused(Refusal::Timeout);
            }
            match self.read_more(left) {
                Ok(0) => return Head::Gone,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Head::Refused(Refusal::Timeout)
                }
                Err(_) => return Head::Gone,
            }
        }
    }

    /// Parses and answers the head in `buf[..end]`; true to keep the connection.
    fn answer(&mut self, end: usize, started: Instant) -> bool {
        let (request, minor) = match parse_head(&self.buf[..end], self.peer, &self.shared.limits) {
            Ok(parsed) => parsed,
            Err(refusal) => {
                self.refuse(&refusal, None, started);
                return false;
            }
        };
        if let Err(refusal) = check_request(&request, minor) {
            self.refuse(&refusal, Some(&request), started);
            return false;
        }
        let service = &self.shared.service;
        let mut resp = match catch_unwind(AssertUnwindSafe(|| service.handle(&request))) {
            Ok(resp) => resp,
            Err(_) => {
                log::warn("a request handler panicked; answered 500");
                Response::text(500, "internal server error")
            }
        };
        if let Some(problem) = invalid_response(&resp) {
            log::error(&format!("route {}: {problem}; answered 500", resp.route));
            resp = Response::text(500, "internal server error").route(resp.route);
        }
        let keep = keep_alive(&request, minor) && !self.shared.stopping.load(Ordering::SeqCst);
        let persist = match (keep, minor) {
            (false, _) => Persist::Close,
            (true, 0) => Persist::KeepAlive,
            (true, _) => Persist::Default,
        };
        let head_only = request.method == Method::Head;
        let limit = self.shared.limits.write_timeout;
        let (bytes, written) = write_response(&self.conn.stream, &resp, head_only, persist, limit);
        self.shared.report(&Exchange {
            method: request.method.as_str(),
            path: &request.path,
            status: resp.status,
            route: resp.route,
            bytes,
            duration: started.elapsed(),
            peer: self.peer,
        });
        if written.is_ok() && !keep {
            self.linger();
        }
        written.is_ok() && keep
    }

    /// Answers a refused head with `Connection: close`, then closes.
    fn refuse(&mut self, refusal: &Refusal, request: Option<&Request>, started: Instant) {
        let resp = Response::text(refusal.status(), refusal.to_string());
        let limit = self.shared.limits.write_timeout;
        let (bytes, written) =
            write_response(&self.conn.stream, &resp, false, Persist::Close, limit);
        self.shared.report(&Exchange {
            method: request.map_or("-", |r| r.method.as_str()),
            path: request.map_or("-", |r| r.path.as_str()),
            status: resp.status,
            route: resp.route,
            bytes,
            duration: started.elapsed(),
            peer: self.peer,
        });
        if written.is_ok() {
            self.linger();
        }
    }

    /// Half-closes, then drains what the client still sends for a short while (bounded in time
    /// and bytes), so the close does not reset the connection before the response is read.
    fn linger(&mut self) {
        let stream = &self.conn.stream;
        let _ = stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER;
        let mut scratch = [0u8; 4096];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
                return;
            }
            match (&*stream).read(&mut scratch) {
                Ok(0) => return,
                Ok(n) => drained += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

// ----- the server -----------------------------------------------------------------------------

type Job = (TcpStream, SocketAddr);

/// A running server: an accept loop on its own thread feeding a pool of connection workers.
/// Dropping it stops it (without waiting); `wait` or `shutdown` to wait.
pub struct Server {
    stopper: Stopper,
    accept: Option<JoinHandle<()>>,
}

/// Asks a server to stop, from any thread.
#[derive(Clone)]
pub struct Stopper {
    shared: Arc<Shared>,
    pool: Arc<Pool<Job>>,
    addr: SocketAddr,
}

impl Server {
    /// Spawns the accept loop on its own thread and returns at once.
    pub fn start(
        listener: TcpListener,
        limits: Limits,
        service: Arc<dyn Service>,
    ) -> io::Result<Server> {
        limits.check()?;
        listener.set_nonblocking(false)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            limits,
            service,
            stopping: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let config = PoolConfig {
            max_threads: shared.limits.max_connections,
            floor: WORKER_FLOOR,
            idle_exit: WORKER_IDLE_EXIT,
            stack_size: WORKER_STACK,
            name: "t2g-conn",
        };
        let for_workers = Arc::clone(&shared);
        let pool = Arc::new(Pool::new(config, move |(stream, peer): Job| {
            serve(&for_workers, stream, peer)
        }));
        let (for_accept, pool_for_accept) = (Arc::clone(&shared), Arc::clone(&pool));
        let accept = thread::Builder::new()
            .name("t2g-accept".to_string())
            .spawn(move || accept_loop(&listener, &for_accept, &pool_for_accept))?;
        Ok(Server {
            stopper: Stopper { shared, pool, addr },
            accept: Some(accept),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.stopper.addr
    }

    /// A cloneable handle that can ask the server to stop from another thread.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Blocks until the server has stopped (after a `Stopper::stop`) and in-flight requests
    /// finished.
    pub fn wait(mut self) {
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        self.stopper.pool.wait_finished(None);
    }

    /// Graceful stop: stop accepting, close idle connections, let in-flight requests finish
    /// (their responses say `Connection: close`), waiting at most `grace`; then closes what is
    /// left.
    pub fn shutdown(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        self.stopper.stop();
        let finished = self.stopper.pool.wait_finished(Some(deadline));
        if let Some(accept) = self.accept.take() {
            while !accept.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            if accept.is_finished() {
                let _ = accept.join();
            }
        }
        if !finished {
            let conns = lock(&self.stopper.shared.conns);
            for conn in conns.values() {
                let _ = conn.stream.shutdown(Shutdown::Both);
            }
            log::warn(&format!(
                "{} connection(s) still open after the grace period; closed",
                conns.len()
            ));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopper.stop();
    }
}

impl Stopper {
    /// Stops accepting, closes connections that wait for a next request, and lets the others
    /// finish their current request. Returns at once; idempotent.
    pub fn stop(&self) {
        if self.shared.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        self.pool.close();
        // The accept loop blocks in accept(); a connection of our own wakes it.
        if let Err(e) = TcpStream::connect_timeout(&wake_addr(self.addr), Duration::from_secs(1)) {
            log::warn(&format!("could not wake the accept loop: {e}"));
        }
        for conn in lock(&self.shared.conns).values() {
            if *lock(&conn.idle) {
                let _ = conn.stream.shutdown(Shutdown::Read);
            }
        }
    }
}

/// Where to connect to reach a listener bound to `addr` (a wildcard means loopback).
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

fn accept_loop(listener: &TcpListener, shared: &Shared, pool: &Pool<Job>) {
    let mut last_warn: Option<Instant> = None;
    let mut suppressed = 0u64;
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            return; // dropping the listener closes the port
        }
        match accepted {
            Ok(job) => {
                if let Err((stream, peer)) = pool.submit(job) {
                    refuse_busy(shared, &stream, peer);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Never give up: EMFILE, ENFILE, ENOMEM pass; say so at most once a second.
                if last_warn.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    let more = match suppressed {
                        0 => String::new(),
                        n => format!(" ({n} more since the last report)"),
                    };
                    log::warn(&format!("accept failed: {e}{more}; retrying"));
                    last_warn = Some(Instant::now());
                    suppressed = 0;
                } else {
                    suppressed += 1;
                }
                // An aborted handshake is one client's doing; pausing would only slow the others.
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                ) {
                    thread::sleep(ACCEPT_BACKOFF);
                }
            }
        }
    }
}

/// 503 on the accept thread: never blocks (non-blocking socket, one write attempt).
fn refuse_busy(shared: &Shared, stream: &TcpStream, peer: SocketAddr) {
    let started = Instant::now();
    let _ = stream.set_nonblocking(true);
    // Take what already arrived, so the close sends FIN rather than a reset.
    let mut scratch = [0u8; 4096];
    for _ in 0..4 {
        if !matches!((&*stream).read(&mut scratch), Ok(n) if n > 0) {
            break;
        }
    }
    let resp = Response::text(503, "server busy, retry later").header("Retry-After", "1");
    let mut out = encode_head(&resp, resp.body.len(), Persist::Close);
    let head_len = out.len();
    out.extend_from_slice(&resp.body);
    let sent = (&*stream).write(&out).unwrap_or(0);
    let _ = stream.shutdown(Shutdown::Write);
    shared.report(&Exchange {
        method: "-",
        path: "-",
        status: 503,
        route: resp.route,
        bytes: sent.saturating_sub(head_len),
        duration: started.elapsed(),
        peer,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 4000))
    }

    fn scan_all(input: &[u8], limits: &Limits) -> Result<Option<usize>, Refusal> {
        HeadScan::default().advance(input, limits)
    }

    /// Feeds `input` one byte at a time, as a slow client would.
    fn scan_bytewise(input: &[u8], limits: &Limits) -> Result<Option<usize>, Refusal> {
        let mut scan = HeadScan::default();
        for n in 1..=input.len() {
            if let Some(end) = scan.advance(&input[..n], limits)? {
                return Ok(Some(end));
            }
        }
        Ok(None)
    }

    #[test]
    fn version_is_judged_from_the_request_line() {
        assert_eq!(check_version(b"GET / HTTP/1.1"), Ok(()));
        assert_eq!(check_version(b"GET / HTTP/1.0"), Ok(()));
        for line in [
            &b"PRI * HTTP/2.0"[..],
            b"GET / HTTP/2.0",
            b"GET / HTTP/2",
            b"GET / HTTP/1.2",
            b"GET / HTTP/0.9",
            b"GET / HTTP/3",
            b"GET /",
            b"GET /index.html",
        ] {
            assert_eq!(check_version(line), Err(Refusal::Version), "{line:?}");
        }
        for line in [
            &b"GET / http/1.1"[..],
            b"GET / HTTP/1.x",
            b"GET / HTTP/",
            b"hello",
            b"GET / HTTP/1.1 x",
            b"GET x",
        ] {
            assert_eq!(check_version(line), Err(Refusal::Malformed), "{line:?}");
        }
    }

    #[test]
    fn head_end_is_found_with_crlf_and_bare_lf_also_bytewise() {
        let limits = Limits::default();
        let crlf = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next";
        let lf = b"GET / HTTP/1.1\nHost: a\n\nrest";
        assert_eq!(scan_all(crlf, &limits), Ok(Some(27)));
        assert_eq!(scan_bytewise(crlf, &limits), Ok(Some(27)));
        assert_eq!(scan_all(lf, &limits), Ok(Some(24)));
        assert_eq!(scan_bytewise(lf, &limits), Ok(Some(24)));
        assert_eq!(
            scan_all(b"\r\n\r\nGET / HTTP/1.0\r\n\r\n", &limits),
            Ok(Some(22)),
            "leading empty lines"
        );
        assert_eq!(
            scan_all(b"GET / HTTP/1.1\r\nHost: a\r\n", &limits),
            Ok(None)
        );
    }

    #[test]
    fn scan_refuses_as_early_as_possible() {
        let limits = Limits {
            max_request_line: 20,
            max_head_bytes: 60,
            ..Limits::default()
        };
        assert_eq!(
            scan_all(&[b'G'; 22], &limits),
            Err(Refusal::LineTooLong),
            "no newline needed"
        );
        assert_eq!(
            scan_all(b"GET /aaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n", &limits),
            Err(Refusal::LineTooLong)
        );
        assert_eq!(
            scan_all(b"GET /aaaaaa HTTP/1.1\r\n", &limits),
            Ok(None),
            "20 bytes fit"
        );
        let big = b"GET / HTTP/1.1\r\nA: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        assert_eq!(
            scan_all(big, &limits),
            Err(Refusal::HeadTooLarge),
            "no end needed"
        );
        assert_eq!(
            scan_all(b"\x16\x03\x01\x02\x00\x01", &limits),
            Err(Refusal::Malformed),
            "TLS hello"
        );
        assert_eq!(
            scan_all(b"GET /\x00 HTTP/1.1", &limits),
            Err(Refusal::Malformed)
        );
        assert_eq!(
            scan_all(b"GET /\r\n", &limits),
            Err(Refusal::Version),
            "HTTP/0.9 answered at once"
        );
        assert_eq!(scan_all(&[b'\n'; 65], &limits), Err(Refusal::Malformed));
    }

    #[test]
    fn heads_parse_into_requests() {
        let limits = Limits::default();
        let head = b"GET /a%20b?x=1&y=2 HTTP/1.1\r\nHost: h\r\nX-Tutu:  v 1 \t\r\n\r\n";
        let (req, minor) = parse_head(head, peer(), &limits).unwrap();
        assert_eq!(
            (
                req.method.clone(),
                req.path.as_str(),
                req.query.as_str(),
                minor
            ),
            (Method::Get, "/a%20b", "x=1&y=2", 1)
        );
        assert_eq!(
            req.headers,
            vec![
                ("Host".to_string(), "h".to_string()),
                ("X-Tutu".to_string(), "v 1".to_string())
            ]
        );
        let (req, minor) =
            parse_head(b"DELETE http://h:80/p?q HTTP/1.0\r\n\r\n", peer(), &limits).unwrap();
        assert_eq!(
            (
                req.method.as_str(),
                req.path.as_str(),
                req.query.as_str(),
                minor
            ),
            ("DELETE", "/p", "q", 0)
        );
        let bad = parse_head(b"GET / HTTP/1.1\r\nX: \xff\xfe\r\n\r\n", peer(), &limits);
        assert_eq!(bad.err(), Some(Refusal::NotUtf8("X".to_string())));
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(101));
        assert_eq!(
            parse_head(many.as_bytes(), peer(), &limits).err(),
            Some(Refusal::TooManyHeaders)
        );
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", peer(), &limits).err(),
            Some(Refusal::Malformed)
        );
    }

    #[test]
    fn targets_origin_and_absolute_form_only() {
        assert_eq!(split_target("/p?q=1?2"), Ok(("/p", "q=1?2")));
        assert_eq!(split_target("/"), Ok(("/", "")));
        assert_eq!(split_target("http://h/p?q"), Ok(("/p", "q")));
        assert_eq!(split_target("HTTPS://h:8443"), Ok(("/", "")));
        assert_eq!(split_target("http://h?q"), Ok(("/", "q")));
        for bad in ["*", "h:443", "p", "http:///p", "ftp://h/p", "http:/h"] {
            assert_eq!(split_target(bad), Err(Refusal::Target), "{bad}");
        }
    }

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            method: Method::Get,
            path: "/".to_string(),
            query: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            peer: peer(),
        }
    }

    #[test]
    fn host_and_body_rules() {
        let ok = |h: &[(&str, &str)], minor| check_request(&request(h), minor);
        assert_eq!(ok(&[("Host", "h")], 1), Ok(()));
        assert_eq!(ok(&[], 1), Err(Refusal::NoHost));
        assert_eq!(ok(&[], 0), Ok(()));
        assert_eq!(
            ok(&[("host", "a"), ("HOST", "b")], 1),
            Err(Refusal::ManyHosts)
        );
        assert_eq!(ok(&[("Host", "h"), ("Content-Length", "0")], 1), Ok(()));
        assert_eq!(ok(&[("Host", "h"), ("content-length", "00, 0")], 1), Ok(()));
        assert_eq!(
            ok(
                &[
                    ("Host", "h"),
                    ("Content-Length", "1000000000000000000000000")
                ],
                1
            ),
            Err(Refusal::Body)
        );
        assert_eq!(
            ok(
                &[
                    ("Host", "h"),
                    ("Content-Length", "0"),
                    ("Content-Length", "5")
                ],
                1
            ),
            Err(Refusal::Body)
        );
        assert_eq!(
            ok(&[("Host", "h"), ("Content-Length", "-1")], 1),
            Err(Refusal::ContentLength)
        );
        assert_eq!(
            ok(
                &[
                    ("Host", "h"),
                    ("Content-Length", "5"),
                    ("Content-Length", "x")
                ],
                1
            ),
            Err(Refusal::ContentLength)
        );
        assert_eq!(
            ok(&[("Host", "h"), ("Content-Length", "")], 1),
            Err(Refusal::ContentLength)
        );
        assert_eq!(
            ok(&[("Host", "h"), ("Transfer-Encoding", "identity")], 1),
            Err(Refusal::Body)
        );
    }

    #[test]
    fn keep_alive_rules_per_version() {
        assert!(keep_alive(&request(&[]), 1));
        assert!(!keep_alive(&request(&[("Connection", "Close")]), 1));
        assert!(!keep_alive(&request(&[("Connection", "foo, close")]), 1));
        assert!(!keep_alive(&request(&[]), 0));
        assert!(keep_alive(&request(&[("connection", "Keep-Alive")]), 0));
        assert!(!keep_alive(
            &request(&[("Connection", "keep-alive, close")]),
            0
        ));
    }

    #[test]
    fn imf_fixdate_known_answers() {
        assert_eq!(imf_fixdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT"); // RFC 9110's example
        assert_eq!(imf_fixdate(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(imf_fixdate(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(date_now().len(), 29);
    }

    #[test]
    fn reason_phrases() {
        assert_eq!(reason(200), "OK");
        assert_eq!(reason(444), "Token Not Found");
        assert_eq!(reason(431), "Request Header Fields Too Large");
        assert_eq!(reason(599), "Unknown");
    }

    #[test]
    fn head_encoding_order_and_overrides() {
        let resp = Response::text(200, "hi")
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
        assert_eq!(invalid_response(&Response::text(200, "ok")), None);
        assert_eq!(invalid_response(&Response::text(599, "ok")), None);
        assert!(invalid_response(&Response::text(101, "x")).is_some());
        assert!(invalid_response(&Response::text(1000, "x")).is_some());
        let split = Response::text(303, "").header("Location", "/a\nX: y");
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

    #[test]
    fn wake_address_of_wildcards_is_loopback() {
        assert_eq!(
            wake_addr("0.0.0.0:80".parse().unwrap()),
            "127.0.0.1:80".parse().unwrap()
        );
        assert_eq!(
            wake_addr("[::]:80".parse().unwrap()),
            "[::1]:80".parse().unwrap()
        );
        assert_eq!(
            wake_addr("10.0.0.1:80".parse().unwrap()),
            "10.0.0.1:80".parse().unwrap()
        );
    }
}

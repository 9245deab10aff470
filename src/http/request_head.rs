//! Reading a request head: finding its end as bytes arrive, judging the version, parsing it with
//! httparse and deciding which heads the edge refuses (400/413/414/431/505) before any service
//! sees them.

use std::fmt;
use std::net::SocketAddr;

use super::message::{Limits, Method, Request, Status, is_tchar};

/// Empty lines tolerated before a request line (RFC 9112 §2.2), in bytes.
const MAX_LEADING_EMPTY: usize = 64;

/// Why the edge refused a request head. Each refusal closes the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    Malformed,
    Target,
    NoHost,
    ManyHosts,
    /// A header the edge or the service interprets whose value is not UTF-8; carries the
    /// header name (never its value).
    NotUtf8(String),
    ContentLength,
    /// A body where the limits allow none.
    Body,
    /// A body larger than the limit.
    BodyTooLarge(usize),
    /// A chunked body where bodies are allowed: only `Content-Length` ones are.
    Chunked,
    Timeout,
    LineTooLong,
    HeadTooLarge,
    TooManyHeaders,
    Version,
}

impl Refusal {
    pub(super) fn status(&self) -> Status {
        match self {
            Refusal::Body | Refusal::BodyTooLarge(_) | Refusal::Chunked => Status::ContentTooLarge,
            Refusal::Timeout => Status::RequestTimeout,
            Refusal::LineTooLong => Status::UriTooLong,
            Refusal::HeadTooLarge | Refusal::TooManyHeaders => Status::RequestHeaderFieldsTooLarge,
            Refusal::Version => Status::HttpVersionNotSupported,
            _ => Status::BadRequest,
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
            Refusal::BodyTooLarge(max) => write!(f, "request body larger than {max} bytes"),
            Refusal::Chunked => {
                f.write_str("chunked request bodies are not accepted; send Content-Length")
            }
            Refusal::Timeout => f.write_str("request head not complete in time"),
            Refusal::LineTooLong => f.write_str("request line too long"),
            Refusal::HeadTooLarge => f.write_str("request head too large"),
            Refusal::TooManyHeaders => f.write_str("too many header fields"),
            Refusal::Version => f.write_str("only HTTP/1.0 and HTTP/1.1 are supported"),
        }
    }
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
pub(super) struct HeadScan {
    pos: usize,
    start: Option<usize>,
    line_done: bool,
    last_nl: usize,
}

impl HeadScan {
    /// `Ok(Some(end))` when `buf[..end]` is a complete head, `Ok(None)` when more is needed.
    pub(super) fn advance(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<usize>, Refusal> {
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
                // At every byte, so the first fault in the line decides (414 or 400) however
                // the bytes arrive. +1: the line's CR may be the last byte seen.
                if self.pos - start > limits.max_request_line + 1 {
                    return Err(Refusal::LineTooLong);
                }
            }
            if self.pos == buf.len() {
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

/// Header slots on the stack for the common head.
const FEW_HEADERS: usize = 32;

/// Header fields the edge itself interprets: their values must be UTF-8.
const EDGE_HEADERS: [&str; 4] = ["host", "content-length", "transfer-encoding", "connection"];

/// Parses a complete head; returns the request and the minor version (0 or 1).
///
/// A field value that is not UTF-8 (obs-text, RFC 9110 §5.5: a legacy Latin-1 cookie or user
/// agent) is refused only where it is read: by the edge ([`EDGE_HEADERS`]) or by the service
/// (`utf8`, from [`super::Service::utf8_headers`]; `None`: every field). Any other such value
/// is kept with its valid UTF-8 as it is and each other byte as `\xHH`, for `/echo` to show.
pub(super) fn parse_head(
    head: &[u8],
    peer: SocketAddr,
    limits: &Limits,
    utf8: Option<&[String]>,
) -> Result<(Request, u8), Refusal> {
    // Most heads have a few fields: they are parsed with slots on the stack; only a head with
    // more is parsed again, with as many slots as the limit allows, on the heap.
    let mut few = [httparse::EMPTY_HEADER; FEW_HEADERS];
    let mut many;
    let mut parsed = httparse::Request::new(&mut few[..limits.max_headers.min(FEW_HEADERS)]);
    let mut status = parsed.parse(head);
    if matches!(status, Err(httparse::Error::TooManyHeaders)) && limits.max_headers > FEW_HEADERS {
        many = vec![httparse::EMPTY_HEADER; limits.max_headers];
        parsed = httparse::Request::new(&mut many);
        status = parsed.parse(head);
    }
    match status {
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
        "POST" => Method::Post,
        other => Method::Other(other.to_string()),
    };
    let (authority, path, query) = split_target(target)?;
    let mut headers = Vec::with_capacity(parsed.headers.len());
    for field in parsed.headers.iter() {
        let value = match std::str::from_utf8(field.value) {
            Ok(value) => value.to_string(),
            Err(_) => {
                let read = |name: &str| field.name.eq_ignore_ascii_case(name);
                let interpreted = EDGE_HEADERS.into_iter().any(read)
                    || utf8.is_none_or(|names| names.iter().any(|n| read(n)));
                if interpreted {
                    // Its first 64 characters.
                    let end = field
                        .name
                        .char_indices()
                        .nth(64)
                        .map_or(field.name.len(), |(i, _)| i);
                    return Err(Refusal::NotUtf8(field.name[..end].to_string()));
                }
                escape_obs_text(field.value)
            }
        };
        let value = value.trim_matches([' ', '\t']);
        headers.push((field.name.to_string(), value.to_string()));
    }
    if let Some(authority) = authority {
        use_target_authority(&mut headers, authority);
    }
    let request = Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
        peer,
        body: Vec::new(),
    };
    Ok((request, minor))
}

/// An absolute-form target's authority wins over `Host` (RFC 9112 §3.2.2): every `Host` value
/// becomes the authority, so the Host check and everything after it judge what the target
/// names. A request without `Host` stays without: HTTP/1.1 is refused by [`check_request`], as
/// it must be whatever the target (RFC 9112 §3.2); HTTP/1.0 then names no loopback host, which
/// the Host check treats as any other name (stricter, never looser, than the authority).
fn use_target_authority(headers: &mut [(String, String)], authority: &str) {
    for (name, value) in headers.iter_mut() {
        if name.eq_ignore_ascii_case("host") {
            *value = authority.to_string();
        }
    }
}

/// A field value that is not UTF-8 as text: its valid UTF-8 as it is, every other byte `\xHH`.
fn escape_obs_text(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len() * 2);
    for chunk in value.utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02X}"));
        }
    }
    out
}

/// Origin-form as is; absolute-form split into its authority and its path and query; anything
/// else refused. Returns (authority, path, query).
fn split_target(target: &str) -> Result<(Option<&str>, &str, &str), Refusal> {
    if target.starts_with('/') {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        return Ok((None, path, query));
    }
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let scheme = ["http://", "https://"]
        .into_iter()
        .find(|s| lower.starts_with(s));
    let after = &target[scheme.ok_or(Refusal::Target)?.len()..];
    let end = after.find(['/', '?']).unwrap_or(after.len());
    let authority = &after[..end];
    // Userinfo is deprecated in http(s) URIs and an error to receive (RFC 9110 §4.2.4).
    if authority.is_empty() || authority.contains('@') {
        return Err(Refusal::Target);
    }
    let rest = match &after[end..] {
        "" => "/",
        pq if pq.starts_with('?') => return Ok((Some(authority), "/", &pq[1..])),
        pq => pq,
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    Ok((Some(authority), path, query))
}

/// HTTP/1.1 needs exactly one Host (RFC 9112 §3.2). Returns the body's length: 0 unless
/// `max_body` allows one; `Content-Length` only, every copy of it equal (RFC 9112 §6.3).
pub(super) fn check_request(
    request: &Request,
    minor: u8,
    max_body: usize,
) -> Result<usize, Refusal> {
    let named = |name: &'static str| request.header_values(name);
    match named("host").count() {
        0 if minor == 1 => return Err(Refusal::NoHost),
        0 | 1 => {}
        _ => return Err(Refusal::ManyHosts),
    }
    if named("transfer-encoding").next().is_some() {
        return Err(if max_body == 0 {
            Refusal::Body
        } else {
            Refusal::Chunked
        });
    }
    let mut lengths = Vec::new();
    for element in named("content-length").flat_map(|v| v.split(',')) {
        let element = element.trim_matches([' ', '\t']);
        if element.is_empty() || !element.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::ContentLength);
        }
        lengths.push(element.trim_start_matches('0'));
    }
    let Some(&first) = lengths.first() else {
        return Ok(0);
    };
    if max_body == 0 {
        // Refused unread, whatever else the head says about it.
        return match lengths.iter().all(|digits| digits.is_empty()) {
            true => Ok(0),
            false => Err(Refusal::Body),
        };
    }
    if lengths.iter().any(|digits| *digits != first) {
        return Err(Refusal::ContentLength);
    }
    match first.parse::<usize>() {
        _ if first.is_empty() => Ok(0),
        Ok(len) if len <= max_body => Ok(len),
        _ => Err(Refusal::BodyTooLarge(max_body)),
    }
}

/// Keep-alive by the rules of the version: 1.1 unless `close`, 1.0 only with `keep-alive`.
pub(super) fn keep_alive(request: &Request, minor: u8) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 4000))
    }

    /// Limits small enough that short inputs reach the 414 and 431 paths.
    fn tiny() -> Limits {
        Limits {
            max_request_line: 32,
            max_head_bytes: 96,
            max_headers: 3,
            ..Limits::default()
        }
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
        let (req, minor) = parse_head(head, peer(), &limits, None).unwrap();
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
        let (req, minor) = parse_head(
            b"DELETE http://h:80/p?q HTTP/1.0\r\n\r\n",
            peer(),
            &limits,
            None,
        )
        .unwrap();
        assert_eq!(
            (
                req.method.as_str(),
                req.path.as_str(),
                req.query.as_str(),
                minor
            ),
            ("DELETE", "/p", "q", 0)
        );
        let bad = parse_head(
            b"GET / HTTP/1.1\r\nX: \xff\xfe\r\n\r\n",
            peer(),
            &limits,
            None,
        );
        assert_eq!(bad.err(), Some(Refusal::NotUtf8("X".to_string())));
        // A long name is named by its first 64 characters.
        let long = "N".repeat(70);
        let head = format!("GET / HTTP/1.1\r\n{long}: ");
        let mut head = head.into_bytes();
        head.extend_from_slice(b"\xff\r\n\r\n");
        let wanted = [long.clone()];
        assert_eq!(
            parse_head(&head, peer(), &limits, Some(&wanted)).err(),
            Some(Refusal::NotUtf8(long[..64].to_string()))
        );
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(101));
        assert_eq!(
            parse_head(many.as_bytes(), peer(), &limits, None).err(),
            Some(Refusal::TooManyHeaders)
        );
        assert_eq!(
            parse_head(
                b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                peer(),
                &limits,
                None
            )
            .err(),
            Some(Refusal::Malformed)
        );
    }

    /// RFC 9112 §3.2.2: the authority of an absolute-form target replaces `Host`.
    #[test]
    fn an_absolute_form_target_names_the_host() {
        let limits = Limits::default();
        let parse = |head: &[u8]| {
            let (request, minor) = parse_head(head, peer(), &limits, None).unwrap();
            let hosts: Vec<String> = request.header_values("host").map(str::to_string).collect();
            (hosts, check_request(&request, minor, 0).map(|_| ()))
        };
        let (hosts, checked) =
            parse(b"GET http://evil.com/token HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!((hosts, checked), (vec!["evil.com".to_string()], Ok(())));
        let (hosts, _) =
            parse(b"GET http://localhost:8080/token HTTP/1.1\r\nHost: evil.com\r\n\r\n");
        assert_eq!(hosts, vec!["localhost:8080".to_string()]);
        let (hosts, checked) = parse(b"GET http://evil.com/ HTTP/1.0\r\n\r\n");
        assert_eq!((hosts, checked), (vec![], Ok(())));
        // HTTP/1.1 still needs exactly one Host field.
        let (_, checked) = parse(b"GET http://evil.com/ HTTP/1.1\r\n\r\n");
        assert_eq!(checked, Err(Refusal::NoHost));
        let (_, checked) = parse(b"GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
        assert_eq!(checked, Err(Refusal::ManyHosts));
    }

    /// Obs-text (RFC 9110 §5.5) is refused only in a header the edge or the service reads.
    #[test]
    fn values_that_are_not_utf8_are_refused_only_where_they_are_read() {
        let limits = Limits::default();
        let read = ["X-Token".to_string()];
        let head = |field: &[u8]| {
            let mut head = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
            head.extend_from_slice(field);
            head.extend_from_slice(b"\r\n\r\n");
            head
        };
        let parse = |field: &[u8], utf8| parse_head(&head(field), peer(), &limits, utf8);
        let (request, _) = parse(b"Cookie: lang=fran\xe7ais; \xff", Some(&read)).unwrap();
        assert_eq!(request.header("cookie"), Some("lang=fran\\xE7ais; \\xFF"));
        let (request, _) = parse(b"User-Agent: Caf\xc3\xa9 \xe9", Some(&read)).unwrap();
        assert_eq!(request.header("User-Agent"), Some("Café \\xE9"));
        for field in [
            &b"x-token: \xe9"[..],
            b"Connection: \xe9",
            b"Content-Length: \xe9",
            b"Transfer-Encoding: \xe9",
        ] {
            let name = std::str::from_utf8(field.split(|&b| b == b':').next().unwrap()).unwrap();
            let refusal = parse(field, Some(&read)).err();
            assert_eq!(refusal, Some(Refusal::NotUtf8(name.to_string())), "{name}");
        }
        let refusal = parse_head(
            b"GET / HTTP/1.1\r\nHost: \xe9\r\n\r\n",
            peer(),
            &limits,
            Some(&[]),
        );
        assert_eq!(refusal.err(), Some(Refusal::NotUtf8("Host".to_string())));
        // Without a list, every value must be UTF-8.
        let refusal = parse(b"User-Agent: \xe9", None).err();
        assert_eq!(refusal, Some(Refusal::NotUtf8("User-Agent".to_string())));
    }

    #[test]
    fn targets_origin_and_absolute_form_only() {
        assert_eq!(split_target("/p?q=1?2"), Ok((None, "/p", "q=1?2")));
        assert_eq!(split_target("/"), Ok((None, "/", "")));
        assert_eq!(split_target("http://h/p?q"), Ok((Some("h"), "/p", "q")));
        assert_eq!(
            split_target("HTTPS://h:8443"),
            Ok((Some("h:8443"), "/", ""))
        );
        assert_eq!(split_target("http://h?q"), Ok((Some("h"), "/", "q")));
        for bad in [
            "*",
            "h:443",
            "p",
            "http:///p",
            "ftp://h/p",
            "http:/h",
            "http://u@h/p",
            "http://localhost@evil.example/",
        ] {
            assert_eq!(split_target(bad), Err(Refusal::Target), "{bad}");
        }
    }

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            peer: peer(),
            ..Request::test_get("/", headers)
        }
    }

    #[test]
    fn bodies_where_the_limit_allows_them() {
        let len = |h: &[(&str, &str)]| {
            let mut headers = vec![("Host", "h")];
            headers.extend_from_slice(h);
            check_request(&request(&headers), 1, 100)
        };
        assert_eq!(len(&[]), Ok(0));
        assert_eq!(len(&[("Content-Length", "0")]), Ok(0));
        assert_eq!(len(&[("Content-Length", "42")]), Ok(42));
        assert_eq!(len(&[("Content-Length", "042, 42")]), Ok(42));
        assert_eq!(len(&[("Content-Length", "100")]), Ok(100));
        assert_eq!(
            len(&[("Content-Length", "101")]),
            Err(Refusal::BodyTooLarge(100))
        );
        assert_eq!(
            len(&[("Content-Length", "99999999999999999999999999")]),
            Err(Refusal::BodyTooLarge(100))
        );
        assert_eq!(
            len(&[("Content-Length", "5"), ("Content-Length", "6")]),
            Err(Refusal::ContentLength)
        );
        assert_eq!(
            len(&[("Transfer-Encoding", "chunked")]),
            Err(Refusal::Chunked)
        );
        assert_eq!(Refusal::BodyTooLarge(100).status(), Status::ContentTooLarge);
        assert_eq!(
            Refusal::BodyTooLarge(100).to_string(),
            "request body larger than 100 bytes"
        );
    }

    #[test]
    fn host_and_body_rules() {
        let ok = |h: &[(&str, &str)], minor| check_request(&request(h), minor, 0).map(|_| ());
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

    use proptest::prelude::*;

    /// Bytes shaped like a request head: mostly well-formed parts (so cases get through the
    /// scan and the parser to the checks behind them), sometimes a broken one.
    fn head_like() -> impl Strategy<Value = Vec<u8>> {
        fn mostly(good: &'static str, bad: Vec<&'static str>) -> BoxedStrategy<&'static str> {
            prop_oneof![12 => Just(good), 1 => prop::sample::select(bad)].boxed()
        }
        let method = prop_oneof![
            3 => Just("GET"),
            1 => prop::sample::select(vec!["HEAD", "POST", "PRI", "G T", "", "\x16\x03"]),
        ];
        let target = prop_oneof![
            6 => "/[A-Za-z0-9._~!$&'()*+,;=:@/?%-]{0,40}",
            1 => "(http|HTTPS|ftp)://[a-z:0-9]{0,8}[/?]?[!-~]{0,20}",
            1 => "[ -~]{0,20}",
        ];
        let version = prop_oneof![
            4 => prop::sample::select(vec!["HTTP/1.1", "HTTP/1.0"]),
            1 => prop::sample::select(vec!["HTTP/2.0", "HTTP/1.2", "http/1.1", "", "HTTP/1.1 x"]),
        ];
        let name = prop_oneof![
            8 => prop::sample::select(vec![
                "Host",
                "host",
                "Content-Length",
                "Transfer-Encoding",
                "Connection",
            ])
            .prop_map(str::to_string),
            16 => "[A-Za-z-]{1,12}",
            1 => "[!-~]{0,12}",
        ];
        let value = prop_oneof![
            16 => "[ -~]{0,20}".prop_map(String::into_bytes),
            1 => prop::collection::vec(any::<u8>(), 0..20),
        ];
        let header = (name, mostly(": ", vec![":", " :", ""]), value);
        let eol = || mostly("\r\n", vec!["\n", "\r", ""]);
        (
            method,
            target,
            version,
            any::<bool>(),
            prop::collection::vec((header, eol()), 0..6),
            eol(),
            prop::collection::vec(any::<u8>(), 0..16),
        )
            .prop_map(|(method, target, version, host, headers, end, tail)| {
                let mut out = format!("{method} {target} {version}\r\n").into_bytes();
                if host {
                    out.extend_from_slice(b"Host: h\r\n");
                }
                for ((name, colon, value), eol) in headers {
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(colon.as_bytes());
                    out.extend_from_slice(&value);
                    out.extend_from_slice(eol.as_bytes());
                }
                out.extend_from_slice(end.as_bytes());
                out.extend_from_slice(&tail);
                out
            })
    }

    /// Scan (all at once and byte by byte: they must agree), parse and judge, as the edge does.
    fn read(input: &[u8], limits: &Limits) -> Result<Option<(Request, u8, usize)>, Refusal> {
        let whole = scan_all(input, limits);
        assert_eq!(whole, scan_bytewise(input, limits), "{input:?}");
        let Some(end) = whole? else {
            return Ok(None);
        };
        let (request, minor) = parse_head(&input[..end], peer(), limits, None)?;
        let body = check_request(&request, minor, limits.max_body)?;
        Ok(Some((request, minor, body)))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn any_bytes_give_a_request_or_a_refusal(
            input in prop_oneof![1 => prop::collection::vec(any::<u8>(), 0..512), 3 => head_like()],
        ) {
            for limits in [Limits::default(), tiny()] {
                match read(&input, &limits) {
                    Ok(None) => {}
                    Ok(Some((request, minor, body))) => {
                        prop_assert!(minor <= 1 && body == 0);
                        prop_assert!(request.path.starts_with('/'));
                        prop_assert!(request.headers.len() <= limits.max_headers);
                        let _ = keep_alive(&request, minor);
                    }
                    Err(refusal) => {
                        let code = refusal.status().code();
                        prop_assert!([400, 413, 414, 431, 505].contains(&code), "{}", code);
                    }
                }
            }
        }
    }

    /// Found by the property test above: an HTTP/1.0 absolute-form request with three header
    /// fields and no Host, under the tiny limits. Adding the target's authority as a Host field
    /// made a fourth field, past `max_headers`; none is added, so the head stays within it.
    #[test]
    fn an_http_1_0_absolute_form_request_without_host_stays_within_the_field_limit() {
        let input = b"GET http://a HTTP/1.0\r\nA: \r\n-: \r\nConnection: \r\n\r\n";
        for limits in [Limits::default(), tiny()] {
            match read(input, &limits) {
                Ok(Some((request, minor, _))) => {
                    assert_eq!(minor, 0);
                    assert!(request.headers.len() <= limits.max_headers);
                }
                Ok(None) => panic!("a whole head"),
                Err(refusal) => {
                    assert!([400, 413, 414, 431, 505].contains(&refusal.status().code()));
                }
            }
        }
    }

    /// Found by the request_head fuzz target: a request line both too long and holding a DEL
    /// byte after the limit got 400 when it arrived at once and 414 when it arrived slowly.
    #[test]
    fn the_first_fault_decides_however_the_bytes_arrive() {
        let limits = Limits {
            max_request_line: 20,
            ..Limits::default()
        };
        let line = b"GET /aaaaaaaaaaaaaaaaaaaa\x7f HTTP/1.1\r\n\r\n";
        assert_eq!(scan_all(line, &limits), Err(Refusal::LineTooLong));
        assert_eq!(scan_bytewise(line, &limits), Err(Refusal::LineTooLong));
        let early = b"GET /aaa\x7faaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n";
        assert_eq!(scan_all(early, &limits), Err(Refusal::Malformed));
        assert_eq!(scan_bytewise(early, &limits), Err(Refusal::Malformed));
    }
}

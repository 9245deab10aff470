//! The HTTP edge over raw sockets: every limit, timeout and refusal, keep-alive, pipelining,
//! panics, the connection cap, the slow client, graceful stop and accept errors (EMFILE).
//! The server runs in-process with a small test service and short limits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Client, Reply};
use token2go::http::{Exchange, Limits, Request, Response, Server, Service, Status};

// ----- the test service -----------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
struct Record {
    method: String,
    path: String,
    status: u16,
    route: &'static str,
    bytes: usize,
}

#[derive(Default)]
struct TestService {
    done: Mutex<Vec<Record>>,
    sleeping: AtomicUsize,
}

const BIG: usize = 32 << 20;

/// Larger than loopback socket buffers, so a client that does not read blocks the write.
fn big_body() -> &'static [u8] {
    static BODY: OnceLock<Vec<u8>> = OnceLock::new();
    BODY.get_or_init(|| vec![b'x'; BIG])
}

impl Service for TestService {
    fn handle(&self, req: &Request) -> Response {
        match req.path.as_str() {
            "/echo" => {
                let line = format!("{} {} {}", req.method.as_str(), req.path, req.query);
                Response::text(Status::Ok, line).route("echo")
            }
            "/body" => {
                let line = format!("{} {}", req.body.len(), String::from_utf8_lossy(&req.body));
                Response::text(Status::Ok, line).route("body")
            }
            "/jwt" => {
                let len = req.header("x-jwt").map_or(0, str::len);
                Response::text(Status::Ok, len.to_string()).route("jwt")
            }
            "/panic" => panic!("test route panics on purpose"),
            "/sleep" => {
                self.sleeping.fetch_add(1, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(400));
                Response::text(Status::Ok, "slept").route("sleep")
            }
            "/big" => {
                Response::new(Status::Ok, "application/octet-stream", big_body()).route("big")
            }
            "/frame" => Response::text(Status::Ok, "own")
                .header("X-Frame-Options", "SAMEORIGIN")
                .route("frame"),
            "/thread" => {
                let name = thread::current().name().unwrap_or("").to_string();
                Response::text(Status::Ok, name).route("thread")
            }
            "/split" => Response::text(Status::Ok, "x").header("Location", "/a\r\nSet-Cookie: a=b"),
            path => match path
                .strip_prefix("/status/")
                .and_then(|s| s.parse().ok())
                .and_then(Status::from_code)
            {
                Some(status) => Response::text(status, "status").route("status"),
                None => Response::text(Status::NotFound, "not found"),
            },
        }
    }

    fn completed(&self, ex: &Exchange<'_>) {
        self.done.lock().unwrap().push(Record {
            method: ex.method.to_string(),
            path: ex.path.to_string(),
            status: ex.status.code(),
            route: ex.route,
            bytes: ex.bytes,
        });
    }
}

impl TestService {
    fn records(&self) -> Vec<Record> {
        self.done.lock().unwrap().clone()
    }

    /// Waits (bounded) for a record with `status`; completed() runs after the write.
    fn record_with(&self, status: u16) -> Record {
        for _ in 0..100 {
            if let Some(r) = self.records().into_iter().find(|r| r.status == status) {
                return r;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("no record with status {status}: {:?}", self.records());
    }

    /// Waits (bounded) until `n` exchanges were reported.
    fn wait_records(&self, n: usize) -> Vec<Record> {
        for _ in 0..100 {
            let records = self.records();
            if records.len() >= n {
                return records;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("fewer than {n} records: {:?}", self.records());
    }
}

fn fast() -> Limits {
    Limits {
        max_connections: 64,
        head_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(800),
        write_timeout: Duration::from_millis(1000),
        ..Limits::default()
    }
}

/// For tests of answers that must come at once, not at the head timeout: a timeout far above
/// what a busy machine adds, so "at once" is told apart from "at the timeout" with a wide margin.
fn patient() -> Limits {
    Limits {
        head_timeout: Duration::from_secs(3),
        ..fast()
    }
}

/// Well under [`patient`]'s head timeout.
const AT_ONCE: Duration = Duration::from_millis(1500);

fn start(limits: Limits) -> (Server, Arc<TestService>, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let service = Arc::new(TestService::default());
    let server = Server::start(listener, limits, service.clone()).unwrap();
    let addr = server.local_addr();
    (server, service, addr)
}

fn exchange(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut client = Client::connect(addr);
    client.send(raw);
    client.reply()
}

/// Sends `raw`, expects `status` with `Connection: close`, then the close.
fn refused(addr: SocketAddr, raw: &[u8], status: u16) -> Reply {
    let mut client = Client::connect(addr);
    client.send(raw);
    let reply = client.reply();
    assert_eq!(
        reply.status,
        status,
        "{:?}: {}",
        String::from_utf8_lossy(raw),
        reply.text()
    );
    assert!(reply.closes(), "Connection: close on {status}");
    assert!(client.closed(), "closed after {status}");
    reply
}

// ----- parsing and answering ------------------------------------------------------------------

#[test]
fn get_echoes_method_path_and_query_with_baseline_headers() {
    let (server, service, addr) = start(fast());
    let reply = exchange(addr, b"GET /echo?a=1&b=%20 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((reply.status, reply.reason.as_str()), (200, "OK"));
    assert_eq!(reply.text(), "GET /echo a=1&b=%20\n");
    assert_eq!(reply.header("content-length"), Some("20"));
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    assert_eq!(
        reply.header("content-security-policy"),
        Some("frame-ancestors 'none'")
    );
    assert_eq!(
        reply.header("connection"),
        None,
        "HTTP/1.1 keep-alive is not announced"
    );
    let date = reply.header("date").unwrap();
    assert!(
        date.len() == 29 && date.ends_with(" GMT") && date.as_bytes()[3] == b',',
        "{date}"
    );
    let record = service.record_with(200);
    let expected = Record {
        method: "GET".into(),
        path: "/echo".into(),
        status: 200,
        route: "echo",
        bytes: 20,
    };
    assert_eq!(record, expected);
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn absolute_form_target_uses_its_path_and_query() {
    let (server, _, addr) = start(fast());
    let reply = exchange(
        addr,
        b"GET http://example.com:8080/echo?x=y HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    assert_eq!(reply.text(), "GET /echo x=y\n");
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn bad_targets_get_400_and_close() {
    let (server, service, addr) = start(fast());
    for target in [
        "*",
        "echo",
        "example.com:443",
        "ftp://h/echo",
        "http:///echo",
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
        refused(addr, raw.as_bytes(), 400);
    }
    let record = service.record_with(400);
    assert_eq!(
        (record.method.as_str(), record.path.as_str(), record.route),
        ("-", "-", "none")
    );
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn header_values_that_are_not_utf8_get_400() {
    let (server, _, addr) = start(fast());
    let reply = refused(
        addr,
        b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Bin: \xc3\x28\r\n\r\n",
        400,
    );
    assert_eq!(reply.text(), "header X-Bin is not valid utf-8\n");
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn host_is_required_once_in_http_1_1() {
    let (server, _, addr) = start(fast());
    let reply = refused(addr, b"GET /echo HTTP/1.1\r\n\r\n", 400);
    assert_eq!(reply.text(), "missing Host header\n");
    refused(
        addr,
        b"GET /echo HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
        400,
    );
    assert_eq!(exchange(addr, b"GET /echo HTTP/1.0\r\n\r\n").status, 200);
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn other_protocol_versions_get_505_at_once() {
    let (server, _, addr) = start(patient());
    let cases: [&[u8]; 6] = [
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
        b"GET / HTTP/2.0\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.2\r\nHost: t\r\n\r\n",
        b"GET / HTTP/3\r\nHost: t\r\n\r\n",
        b"GET / HTTP/0.9\r\n\r\n",
        // HTTP/0.9 sends one line and waits: it must be answered without a blank line.
        b"GET /echo\r\n",
    ];
    for raw in cases {
        let begun = Instant::now();
        let reply = refused(addr, raw, 505);
        assert_eq!(reply.reason, "HTTP Version Not Supported");
        assert!(
            begun.elapsed() < AT_ONCE,
            "answered before the head timeout"
        );
    }
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn malformed_heads_get_400_and_close() {
    let (server, service, addr) = start(patient());
    let cases: [&[u8]; 6] = [
        b"GET /echo HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost : t\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n",
        b"GET /echo HTTP/1.x\r\nHost: t\r\n\r\n",
        b"GET /e\x01cho HTTP/1.1\r\nHost: t\r\n\r\n",
        // A TLS ClientHello: refused on its first byte, not at the head timeout.
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
    ];
    for raw in cases {
        let begun = Instant::now();
        let reply = refused(addr, raw, 400);
        assert_eq!(reply.text(), "malformed request head\n");
        assert!(begun.elapsed() < AT_ONCE);
    }
    let record = service.record_with(400);
    let expected = Record {
        method: "-".into(),
        path: "-".into(),
        status: 400,
        route: "none",
        bytes: "malformed request head\n".len(),
    };
    assert_eq!(record, expected);
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn bare_lf_line_endings_are_accepted() {
    let (server, _, addr) = start(fast());
    let reply = exchange(addr, b"GET /echo?lf HTTP/1.1\nHost: t\n\n");
    assert_eq!(reply.text(), "GET /echo lf\n");
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn a_request_split_across_many_writes_is_assembled() {
    let (server, _, addr) = start(fast());
    let mut client = Client::connect(addr);
    client.stream().set_nodelay(true).unwrap();
    for byte in b"GET /echo?split=1 HTTP/1.1\r\nHost: t\r\n\r\n" {
        client.send(&[*byte]);
        thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(client.reply().text(), "GET /echo split=1\n");
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn other_methods_reach_the_service() {
    let (server, _, addr) = start(fast());
    for method in ["DELETE", "OPTIONS", "PUT", "PATCH"] {
        let reply = exchange(
            addr,
            format!("{method} /echo HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
        );
        assert_eq!(reply.text(), format!("{method} /echo \n"));
    }
    let reply = exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(reply.text(), "POST /echo \n");
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn reason_phrases_follow_the_status() {
    let (server, _, addr) = start(fast());
    let mut client = Client::connect(addr);
    for status in Status::ALL {
        let reply = client.get(&format!("/status/{}", status.code()));
        assert_eq!(
            (reply.status, reply.reason.as_str()),
            (status.code(), status.reason())
        );
    }
    let reply = client.get("/status/406");
    assert_eq!(reply.reason, "Not Acceptable");
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn a_header_set_by_the_response_replaces_the_baseline_one() {
    let (server, _, addr) = start(fast());
    let reply = Client::connect(addr).get("/frame");
    assert_eq!(reply.header("x-frame-options"), Some("SAMEORIGIN"));
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn a_response_header_with_crlf_becomes_500() {
    let (server, _, addr) = start(fast());
    let mut client = Client::connect(addr);
    let reply = client.get("/split");
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (500, "internal server error\n")
    );
    assert_eq!(reply.header("set-cookie"), None);
    assert_eq!(client.get("/echo").status, 200, "the connection goes on");
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn a_panicking_handler_gives_500_and_the_thread_serves_on() {
    let (server, service, addr) = start(fast());
    let mut client = Client::connect(addr);
    let reply = client.get("/panic");
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (500, "internal server error\n")
    );
    let name = client.get("/thread").text();
    assert!(name.starts_with("t2g-conn-"), "{name}");
    assert_eq!(Client::connect(addr).get("/echo").status, 200);
    let record = service.record_with(500);
    assert_eq!((record.path.as_str(), record.route), ("/panic", "none"));
    server.shutdown(Duration::from_secs(2));
}

// ----- keep-alive, pipelining, HEAD -----------------------------------------------------------

#[test]
fn keep_alive_follows_the_version_rules() {
    let (server, _, addr) = start(fast());
    // HTTP/1.1: kept unless `Connection: close`.
    let mut client = Client::connect(addr);
    assert_eq!(client.get("/echo?n=1").text(), "GET /echo n=1\n");
    assert_eq!(client.get("/echo?n=2").text(), "GET /echo n=2\n");
    client.send(b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: Close\r\n\r\n");
    assert!(client.reply().closes());
    assert!(client.closed());
    // HTTP/1.0: closed unless `Connection: keep-alive`, which is answered in kind.
    let mut client = Client::connect(addr);
    client.send(b"GET /echo HTTP/1.0\r\n\r\n");
    assert!(client.reply().closes());
    assert!(client.closed());
    let mut client = Client::connect(addr);
    for _ in 0..2 {
        client.send(b"GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(client.reply().header("connection"), Some("keep-alive"));
    }
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (server, _, addr) = start(fast());
    let mut client = Client::connect(addr);
    client.send(
        b"GET /echo?n=1 HTTP/1.1\r\nHost: t\r\n\r\n\
          HEAD /frame HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /echo?n=3 HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /echo?n=4 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(client.reply().text(), "GET /echo n=1\n");
    assert_eq!(client.reply_to_head().header("content-length"), Some("4"));
    assert_eq!(client.reply().text(), "GET /echo n=3\n");
    let last = client.reply();
    assert_eq!(last.text(), "GET /echo n=4\n");
    assert!(last.closes() && client.closed());
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn head_carries_the_get_length_but_no_body() {
    let (server, service, addr) = start(fast());
    let mut client = Client::connect(addr);
    client.send(b"HEAD /frame HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = client.reply_to_head();
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("4"))
    );
    // Were a body sent, it would show up in front of this reply.
    assert_eq!(client.get("/frame").text(), "own\n");
    let records = service.wait_records(2);
    assert_eq!((records[0].method.as_str(), records[0].bytes), ("HEAD", 0));
    assert_eq!(records[1].bytes, 4);
    server.shutdown(Duration::from_secs(2));
}

// ----- size bounds and bodies -----------------------------------------------------------------

#[test]
fn a_long_query_and_a_jwt_sized_header_fit() {
    let (server, _, addr) = start(fast());
    let query = "k=".to_string() + &"%2F".repeat(4000); // ~12 KB, a percent-encoded PEM key and more
    let reply = exchange(
        addr,
        format!("GET /echo?{query} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
    );
    assert_eq!(reply.text(), format!("GET /echo {query}\n"));
    let jwt = "e".repeat(16 * 1024);
    let raw = format!("GET /jwt HTTP/1.1\r\nHost: t\r\nX-Jwt: {jwt}\r\n\r\n");
    assert_eq!(exchange(addr, raw.as_bytes()).text(), "16384\n");
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn a_request_line_over_the_limit_gets_414() {
    let (server, _, addr) = start(patient());
    let target = "/echo?".to_string() + &"a".repeat(16 * 1024);
    refused(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
        414,
    );
    // Known before the line ends: no wait for the head timeout.
    let begun = Instant::now();
    let reply = refused(addr, format!("GET {target}{target}").as_bytes(), 414);
    assert_eq!(reply.reason, "URI Too Long");
    assert!(begun.elapsed() < AT_ONCE);
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn a_head_over_the_limits_gets_431() {
    let (server, _, addr) = start(fast());
    let field = format!("X-Big: {}\r\n", "b".repeat(15 * 1024));
    let raw = format!("GET /echo HTTP/1.1\r\nHost: t\r\n{}\r\n", field.repeat(5));
    refused(addr, raw.as_bytes(), 431);
    let hundred = format!(
        "GET /echo HTTP/1.1\r\nHost: t\r\n{}\r\n",
        "A: b\r\n".repeat(99)
    );
    assert_eq!(
        exchange(addr, hundred.as_bytes()).status,
        200,
        "100 header fields fit"
    );
    let too_many = format!(
        "GET /echo HTTP/1.1\r\nHost: t\r\n{}\r\n",
        "A: b\r\n".repeat(100)
    );
    let reply = refused(addr, too_many.as_bytes(), 431);
    assert_eq!(reply.reason, "Request Header Fields Too Large");
    server.shutdown(Duration::from_secs(2));
}

/// Heads with more fields than the edge keeps slots for on the stack (32) are parsed again with
/// as many slots as the limit allows: every field reaches the service.
#[test]
fn fields_beyond_the_first_thirty_two_reach_the_service() {
    let (server, _, addr) = start(fast());
    let jwt = "e".repeat(100);
    let raw = format!(
        "GET /jwt HTTP/1.1\r\nHost: t\r\n{}X-Jwt: {jwt}\r\n\r\n",
        "A: b\r\n".repeat(40)
    );
    assert_eq!(exchange(addr, raw.as_bytes()).text(), "100\n");
    server.shutdown(Duration::from_secs(2));
}

/// The client's callback listener runs this edge with a body limit: bodies up to it are read
/// (within the head timeout) and handed to the service; the connection goes on after them.
#[test]
fn bodies_up_to_the_limit_are_read_when_the_limit_allows_them() {
    let (server, _, addr) = start(Limits {
        max_body: 64,
        ..patient()
    });
    let mut client = Client::connect(addr);
    let reply = client.request("POST", "/body", &[], b"key=a%2Bb&state=s");
    assert_eq!(reply.text(), "17 key=a%2Bb&state=s\n");
    // Pipelined after a body: the next request starts right after it.
    client.send(b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcGET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.reply().text(), "3 abc\n");
    assert_eq!(client.reply().text(), "GET /echo \n");
    assert_eq!(
        client.request("POST", "/body", &[], &[b'x'; 64]).status,
        200
    );

    let reply = refused(
        addr,
        b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 65\r\n\r\n",
        413,
    );
    assert_eq!(reply.text(), "request body larger than 64 bytes\n");
    let reply = refused(
        addr,
        b"POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        413,
    );
    assert!(
        reply
            .text()
            .starts_with("chunked request bodies are not accepted")
    );
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn a_body_that_does_not_arrive_gets_408_at_the_head_timeout() {
    let (server, service, addr) = start(Limits {
        max_body: 64,
        ..fast()
    });
    let begun = Instant::now();
    refused(
        addr,
        b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc",
        408,
    );
    assert!(begun.elapsed() >= Duration::from_millis(450));
    assert_eq!(service.record_with(408).path, "/body");
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn bodies_are_refused_without_reading_them() {
    let (server, service, addr) = start(patient());
    let begun = Instant::now();
    let huge = b"GET /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000000\r\n\r\nabcdef";
    let reply = refused(addr, huge, 413);
    assert_eq!(reply.text(), "request bodies are not accepted\n");
    assert!(begun.elapsed() < AT_ONCE, "answered at once");
    let record = service.record_with(413);
    assert_eq!(
        (record.method.as_str(), record.path.as_str()),
        ("GET", "/echo")
    );
    refused(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        413,
    );
    refused(addr, b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 413);
    refused(
        addr,
        b"GET /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 7\r\n\r\n",
        413,
    );
    let reply = refused(
        addr,
        b"GET /echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
        400,
    );
    assert_eq!(reply.text(), "invalid Content-Length header\n");
    let zero = exchange(
        addr,
        b"GET /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(zero.status, 200);
    assert_eq!(
        Client::connect(addr).get("/echo").status,
        200,
        "the server keeps serving"
    );
    server.shutdown(Duration::from_secs(2));
}

// ----- time bounds ----------------------------------------------------------------------------

#[test]
fn an_incomplete_head_gets_408_at_the_head_timeout() {
    let (server, service, addr) = start(fast());
    let begun = Instant::now();
    let reply = refused(addr, b"GET /echo HTTP/1.1\r\nHost", 408);
    let took = begun.elapsed();
    assert_eq!(reply.reason, "Request Timeout");
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    assert_eq!(service.record_with(408).path, "-");
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout() {
    let (server, _, addr) = start(fast());
    // A fresh connection that never sends a byte: closed without an answer.
    let begun = Instant::now();
    let mut fresh = Client::connect(addr);
    assert!(fresh.closed());
    let took = begun.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    // A keep-alive connection after its response.
    let mut kept = Client::connect(addr);
    assert_eq!(kept.get("/echo").status, 200);
    let begun = Instant::now();
    assert!(kept.closed());
    let took = begun.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn a_slow_client_does_not_delay_others() {
    let limits = Limits {
        head_timeout: Duration::from_millis(1200),
        ..fast()
    };
    let (server, _, addr) = start(limits);
    let (started_tx, started_rx) = mpsc::channel();
    let slow = thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        let head = b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Slow: 1\r\n\r\n";
        let begun = Instant::now();
        let mut got = Vec::new();
        // One byte per 200 ms; between bytes, look for the answer.
        for (n, byte) in head.iter().enumerate() {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            if n == 0 {
                started_tx.send(()).unwrap();
            }
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut chunk = [0u8; 1024];
            if let Ok(n) = stream.read(&mut chunk) {
                got.extend_from_slice(&chunk[..n]);
                break;
            }
        }
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let _ = stream.read_to_end(&mut got);
        (begun.elapsed(), String::from_utf8_lossy(&got).into_owned())
    });
    started_rx.recv_timeout(Duration::from_secs(2)).unwrap();
    for n in 0..8 {
        let begun = Instant::now();
        let reply = Client::connect(addr).get(&format!("/echo?fast={n}"));
        assert_eq!(reply.status, 200);
        assert!(
            // The slow client holds its own worker until its 408 at 1.2 s.
            begun.elapsed() < Duration::from_millis(1000),
            "fast client waited {:?}",
            begun.elapsed()
        );
        thread::sleep(Duration::from_millis(50));
    }
    let (took, answer) = slow.join().unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
    assert!(answer.contains("\r\nConnection: close\r\n"));
    assert!(
        took >= Duration::from_millis(1100) && took < Duration::from_millis(3000),
        "{took:?}"
    );
    server.shutdown(Duration::from_secs(2));
}

/// One worker, a 300 ms write timeout.
fn one_worker_cutting_writes() -> Limits {
    Limits {
        max_connections: 1,
        write_timeout: Duration::from_millis(300),
        ..fast()
    }
}

/// Waits (3 s at most) until a fresh connection is served again, then checks that the big
/// response was cut.
fn assert_freed_by_the_write_timeout(addr: SocketAddr, service: &TestService) {
    let begun = Instant::now();
    let mut served = false;
    while !served && begun.elapsed() < Duration::from_secs(3) {
        thread::sleep(Duration::from_millis(50));
        served = exchange(addr, b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n").status == 200;
    }
    assert!(served, "the worker was freed by the write timeout");
    let big = service
        .records()
        .into_iter()
        .find(|r| r.route == "big")
        .unwrap();
    assert!(big.bytes < BIG, "the body was cut: {} bytes", big.bytes);
}

#[test]
fn a_client_that_does_not_read_is_cut_at_the_write_timeout() {
    let (server, service, addr) = start(one_worker_cutting_writes());
    let mut stuck = Client::connect(addr);
    stuck.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    thread::sleep(Duration::from_millis(50));
    let busy = exchange(addr, b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(busy.status, 503, "the only connection is busy writing");
    assert_freed_by_the_write_timeout(addr, &service);
    drop(stuck);
    server.shutdown(Duration::from_secs(2));
}

/// The socket's send timeout is set once and kept while it fits the deadline: a second
/// response on a kept-alive connection is still cut at the write timeout.
#[test]
fn the_write_timeout_holds_for_a_later_response_on_the_same_connection() {
    let (server, service, addr) = start(one_worker_cutting_writes());
    let mut client = Client::connect(addr);
    assert_eq!(client.get("/echo").status, 200);
    client.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_freed_by_the_write_timeout(addr, &service);
    drop(client);
    server.shutdown(Duration::from_secs(2));
}

// ----- concurrency and the cap ----------------------------------------------------------------

#[test]
fn two_hundred_concurrent_connections_are_all_served() {
    let limits = Limits {
        max_connections: 256,
        idle_timeout: Duration::from_secs(5),
        ..fast()
    };
    let (server, _, addr) = start(limits);
    let begun = Instant::now();
    let mut clients: Vec<Client> = (0..200).map(|_| Client::connect(addr)).collect();
    for client in &mut clients {
        client.send(b"GET /thread HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    let mut names: Vec<String> = clients.iter_mut().map(|c| c.reply().text()).collect();
    names.sort();
    names.dedup();
    // How many threads is the pool's business (its unit tests): idle connections are parked.
    eprintln!(
        "200 connections served in {:?} by {} threads",
        begun.elapsed(),
        names.len()
    );
    for client in &mut clients {
        assert_eq!(
            client.get("/echo").status,
            200,
            "still served on the same connections"
        );
    }
    server.shutdown(Duration::from_secs(2));
}

/// A head that trickles in holds a worker until it is complete or times out. More slow
/// clients than the pool starts on demand must not starve a fast one: when connections stay
/// queued, threads are added up to the connection cap.
#[test]
fn more_slow_clients_than_workers_do_not_starve_a_fast_one() {
    // More than the pool's on-demand workers (4 per online processor, at least 8; see
    // `src/http/server.rs`).
    let getconf = Command::new("getconf")
        .arg("_NPROCESSORS_ONLN")
        .output()
        .expect("getconf");
    let cores: usize = String::from_utf8_lossy(&getconf.stdout)
        .trim()
        .parse()
        .expect("processors online");
    let slow_count = (cores * 4).max(8) + 40;
    let limits = Limits {
        max_connections: slow_count + 8,
        ..patient()
    };
    let (server, service, addr) = start(limits);
    let mut slow: Vec<TcpStream> = (0..slow_count)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    for stream in &mut slow {
        stream
            .write_all(b"GET /echo HTTP/1.1\r\nHost: t\r\n")
            .unwrap();
    }
    thread::sleep(Duration::from_millis(300));
    let begun = Instant::now();
    let reply = Client::connect(addr).get("/echo?fast");
    assert_eq!(reply.status, 200);
    assert!(
        begun.elapsed() < Duration::from_millis(1000),
        "the fast client waited {:?} behind {slow_count} slow ones",
        begun.elapsed()
    );
    assert!(
        service.records().iter().all(|r| r.status != 408),
        "the slow ones are still within their head timeout"
    );
    drop(slow);
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn connections_past_the_cap_get_503_with_retry_after() {
    let limits = Limits {
        max_connections: 2,
        idle_timeout: Duration::from_secs(3),
        ..fast()
    };
    let (server, service, addr) = start(limits);
    let mut first = Client::connect(addr);
    let mut second = Client::connect(addr);
    assert_eq!(first.get("/echo").status, 200);
    assert_eq!(second.get("/echo").status, 200);
    let reply = refused(addr, b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", 503);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.text(), "server busy, retry later\n");
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    assert_eq!(service.record_with(503).path, "-");
    drop(first);
    let begun = Instant::now();
    let mut served = false;
    while !served && begun.elapsed() < Duration::from_secs(2) {
        thread::sleep(Duration::from_millis(20));
        served = exchange(addr, b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n").status == 200;
    }
    assert!(served, "a freed slot serves again");
    assert_eq!(second.get("/echo").status, 200);
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn worker_threads_are_named_and_reused() {
    let (server, _, addr) = start(fast());
    let mut names = Vec::new();
    for _ in 0..10 {
        let mut client = Client::connect(addr);
        client.send(b"GET /thread HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        names.push(client.reply().text());
        assert!(client.closed());
        drop(client);
        thread::sleep(Duration::from_millis(30));
    }
    assert!(
        names.iter().all(|n| n.starts_with("t2g-conn-")),
        "{names:?}"
    );
    names.sort();
    names.dedup();
    assert!(
        names.len() < 10,
        "sequential connections reuse threads: {names:?}"
    );
    server.shutdown(Duration::from_secs(2));
}

// ----- graceful stop --------------------------------------------------------------------------

#[test]
fn shutdown_closes_idle_connections_and_returns_at_once() {
    let limits = Limits {
        idle_timeout: Duration::from_secs(5),
        ..fast()
    };
    let (server, _, addr) = start(limits);
    let mut kept = Client::connect(addr);
    assert_eq!(kept.get("/echo").status, 200);
    let mut fresh = Client::connect(addr);
    thread::sleep(Duration::from_millis(50));
    let begun = Instant::now();
    server.shutdown(Duration::from_secs(4));
    assert!(
        begun.elapsed() < Duration::from_secs(1),
        "took {:?}",
        begun.elapsed()
    );
    assert!(kept.closed(), "the idle keep-alive connection was closed");
    assert!(fresh.closed(), "the fresh connection was closed");
    assert!(TcpStream::connect(addr).is_err(), "the port is closed");
}

#[test]
fn shutdown_lets_an_in_flight_request_finish_with_connection_close() {
    let (server, service, addr) = start(fast());
    let mut client = Client::connect(addr);
    client.send(b"GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n");
    for _ in 0..200 {
        if service.sleeping.load(Ordering::SeqCst) > 0 {
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(service.sleeping.load(Ordering::SeqCst), 1);
    let begun = Instant::now();
    server.shutdown(Duration::from_secs(4));
    let took = begun.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "{took:?}"
    );
    let reply = client.reply();
    assert_eq!((reply.status, reply.text().as_str()), (200, "slept\n"));
    assert!(reply.closes());
    assert!(client.closed());
}

#[test]
fn a_stopper_stops_the_server_from_another_thread() {
    let (server, _, addr) = start(Limits {
        idle_timeout: Duration::from_secs(5),
        ..fast()
    });
    let mut kept = Client::connect(addr);
    assert_eq!(kept.get("/echo").status, 200);
    let stopper = server.stopper();
    let begun = Instant::now();
    let stopping = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        stopper.stop();
        stopper.stop(); // idempotent
    });
    server.wait();
    assert!(
        begun.elapsed() < Duration::from_secs(2),
        "took {:?}",
        begun.elapsed()
    );
    stopping.join().unwrap();
    assert!(kept.closed());
    assert!(TcpStream::connect(addr).is_err());
}

// ----- accept errors ----------------------------------------------------------------------------

const EMFILE_CHILD: &str = "T2G_HTTP_EDGE_EMFILE_CHILD";

/// Runs this test binary again under `prlimit --nofile=48` as a server, exhausts its file
/// descriptors with held connections, and checks that accepting resumes once they close and
/// that the accept error is logged at most once a second.
#[test]
fn accept_survives_emfile() {
    if std::env::var_os(EMFILE_CHILD).is_some() {
        return emfile_child();
    }
    let mut child = Command::new("prlimit")
        .args(["--nofile=48:48", "--"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "http_edge::accept_survives_emfile",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(EMFILE_CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prlimit (util-linux) runs the server with a small descriptor limit");
    let (port_tx, port_rx) = mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            // libtest may have printed the test name on the same line.
            if let Some((_, port)) = line.split_once("PORT ") {
                let _ = port_tx.send(port.trim().parse::<u16>().unwrap());
            }
        }
    });
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let sink = warnings.clone();
    thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("accept failed") {
                sink.lock().unwrap().push(line);
            }
        }
    });
    let port = port_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the child server's port");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // More connections than descriptors: the rest wait in the backlog while accept fails.
    let held: Vec<TcpStream> = (0..80).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let begun = Instant::now();
    while warnings.lock().unwrap().is_empty() && begun.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(20));
    }
    let first = warnings
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("an accept failure was logged");
    assert!(first.contains("Too many open files"), "{first}");
    thread::sleep(Duration::from_millis(1500)); // the loop keeps failing meanwhile
    drop(held);

    let mut client = Client::connect(addr);
    assert_eq!(
        client.get("/echo?after=emfile").text(),
        "GET /echo after=emfile\n"
    );
    let logged = warnings.lock().unwrap().len();
    let seconds = begun.elapsed().as_secs_f64();
    assert!(
        logged >= 2 && (logged as f64) <= seconds + 1.0,
        "{logged} warnings in {seconds:.1} s"
    );

    drop(child.stdin.take()); // tells the child to stop
    let begun = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if begun.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the child server did not stop");
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "child: {status}");
}

fn emfile_child() {
    let limits = Limits {
        idle_timeout: Duration::from_secs(10),
        ..Limits::default()
    };
    let (server, _, addr) = start(limits);
    println!("PORT {}", addr.port());
    std::io::stdout().flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    server.shutdown(Duration::from_secs(2));
}

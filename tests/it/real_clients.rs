//! Issue 16 §4 against the real binary: inputs that real clients send and the Go server
//! accepts. Here header values that are not UTF-8 (obs-text: a legacy Latin-1 cookie or user
//! agent); public keys wrapped any way RFC 7468 allows need Python's keys: tests/tools/real_clients.rs.

use crate::harness::{Client, Reply, TestServer};

/// A raw request whose head carries `extra` header lines (bytes, not necessarily UTF-8).
fn raw_get(s: &TestServer, target: &str, extra: &[u8]) -> Reply {
    let mut client = Client::connect(s.addr);
    let mut head = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        client.host()
    )
    .into_bytes();
    head.extend_from_slice(extra);
    head.extend_from_slice(b"\r\n");
    client.send(&head);
    client.reply()
}

/// Today every request with a Latin-1 cookie or user agent got 400. Such values pass now where
/// nothing reads them, and `/echo` shows their bytes escaped; only a header the server reads
/// refuses, naming itself.
#[test]
fn header_values_that_are_not_utf8_are_accepted_unless_the_server_reads_them() {
    let s = TestServer::start(&[]);
    let latin1 = b"Cookie: lang=fran\xe7ais; sid=secret-Cookie-9e1\r\nUser-Agent: Navigateur/1.0 (\xe9t\xe9)\r\n";
    let mut token = b"X-Forwarded-Access-Token: t0k3n\r\n".to_vec();
    token.extend_from_slice(latin1);
    let r = raw_get(&s, "/token", &token);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["secret"], "t0k3n");
    let r = raw_get(&s, "/echo", latin1);
    assert_eq!(r.status, 200, "{}", r.text());
    let echo = r.json();
    assert_eq!(
        echo["headers"]["User-Agent"][0],
        "Navigateur/1.0 (\\xE9t\\xE9)"
    );
    assert_eq!(
        echo["headers"]["Cookie"][0],
        "lang=<redacted>; sid=<redacted>"
    );
    assert!(!r.text().contains("secret-Cookie"));
    for (field, name) in [
        (
            &b"X-Forwarded-Access-Token: t\xe9\r\n"[..],
            "X-Forwarded-Access-Token",
        ),
        (b"X-Forwarded-User: Ren\xe9\r\n", "X-Forwarded-User"),
        (b"X-Forwarded-For: \xe9\r\n", "X-Forwarded-For"),
    ] {
        let r = raw_get(&s, "/token", field);
        assert_eq!(r.status, 400, "{name}");
        assert_eq!(r.text(), format!("header {name} is not valid utf-8\n"));
    }
    // The access log stays one line per request (an edge refusal's line has no method or path).
    let out = s.wait_for_output("GET /echo 200");
    assert!(out.contains(" GET /token 200 "), "{out}");
    assert_eq!(out.matches(" - - 400 ").count(), 3, "{out}");
}

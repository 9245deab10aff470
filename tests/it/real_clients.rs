//! Issue 16 §4 against the real binary: inputs that real clients send and the Go server
//! accepts. Public keys wrapped any way RFC 7468 allows, and header values that are not UTF-8
//! (obs-text: a legacy Latin-1 cookie or user agent).

use crate::harness::{Client, Reply, TempDir, TestServer, enc, python_keypair};

const KEY_TYPE: &str = "rsa2048-rfc5280-x509-pem";

fn flow(pem: &str) -> String {
    format!(
        "/flow/redirect/token?target={}&state=s1&publicKeyType={KEY_TYPE}&publicKey={}",
        enc("http://127.0.0.1:9/cb"),
        enc(pem)
    )
}

#[test]
fn public_keys_wrapped_as_real_clients_wrap_them_are_accepted() {
    let dir = TempDir::new("real-clients");
    let (_private, pem) = python_keypair(&dir, 2048, "spki");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let wrapped = |width: usize, eol: &str| {
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(width)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----{eol}{}{eol}-----END PUBLIC KEY-----{eol}",
            lines.join(eol)
        )
    };
    let s = TestServer::start(&[]);
    let token = [("X-Forwarded-Access-Token", "t")];
    for (what, variant) in [
        ("one line (JavaScript)", wrapped(body.len(), "\n")),
        ("76 columns (Java's MIME encoder)", wrapped(76, "\r\n")),
        (
            "text before BEGIN",
            format!("Public key of my laptop\n{pem}"),
        ),
        ("text after END", format!("{pem}\nmade with openssl\n")),
        (
            "trailing whitespace",
            pem.lines().map(|l| format!("{l}  \t\n")).collect(),
        ),
    ] {
        let r = s.get(&flow(&variant), &token);
        assert_eq!(r.status, 303, "{what}: {}", r.text());
    }
    // The base64 itself stays strict, with its exact message.
    let broken = pem.replacen("MII", "M*I", 1);
    let r = s.get(&flow(&broken), &token);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "publicKey: expected a 2048-bit RSA public key in PEM form \"-----BEGIN PUBLIC KEY-----\" \
         (SubjectPublicKeyInfo); bad base64\n"
    );
}

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

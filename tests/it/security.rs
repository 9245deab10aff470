//! Issue 9 against the real binary, the part that needs no outside tool: the warning about a shared
//! prefix at start, where the audit trail goes, the JSON access log's escaping, the DNS-rebinding
//! check, another site's reads and the `/echo` redaction. The flow tests (keys from Python
//! `cryptography`, pages in Chromium) are in tests/tools/security.rs.

use serde_json::json;

use crate::harness::{Client, Reply, TestServer};

const PER_USER: &str = "https://hub.example.com/user/{user}/";
const SHARED: &str = "https://hub.example.com/shared/";

// ----- who is asking, and per-user prefixes ---------------------------------------------------

#[test]
fn a_shared_prefix_is_warned_about_at_start() {
    let s = TestServer::start(&[(
        "T2G_REDIRECT_ALLOWED_TARGETS",
        &format!("{SHARED}, {PER_USER}, https://localhost:8443/"),
    )]);
    let out = s.wait_for_output("has no {user}");
    let warnings: Vec<&str> = out.lines().filter(|l| l.contains(" warn ")).collect();
    assert_eq!(warnings.len(), 1, "{out}");
    assert!(
        warnings[0].contains(&format!(
            "redirect prefix {SHARED} has no {{user}}: every user"
        )),
        "{out}"
    );
}

// ----- the audit trail ------------------------------------------------------------------------

#[test]
fn audit_goes_to_stderr_stdout_or_nowhere() {
    for (sink, lines, on_stdout) in [("stderr", 1, 0), ("stdout", 1, 1), ("off", 0, 0)] {
        let s = TestServer::start(&[("T2G_AUDIT_LOG", sink), ("T2G_FALLBACK_TOKEN", "t")]);
        assert_eq!(s.get("/token", &[]).status, 200);
        // The audit line is written before the answer, the access line after it.
        let out = s.wait_for_output("/token");
        let audit = |text: &str| text.matches(" audit token_served route=token ").count();
        assert_eq!(audit(&out), lines, "{sink}: {out}");
        assert_eq!(audit(&s.stdout()), on_stdout, "{sink}: {out}");
        assert!(out.contains(&format!("audit_log={sink}")), "{out}");
    }
}

#[test]
fn the_json_access_log_escapes_non_ascii_paths() {
    let s = TestServer::start(&[("T2G_LOG_FORMAT", "json")]);
    let mut client = Client::connect(s.addr);
    client.send(
        format!(
            "GET /x\u{202e}gpj.exe HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            client.host()
        )
        .as_bytes(),
    );
    assert_eq!(client.reply().status, 404);
    let out = s.wait_for_output("gpj.exe");
    let line = out.lines().find(|l| l.contains("gpj.exe")).unwrap();
    assert!(line.contains("\"path\":\"/x\\u202egpj.exe\""), "{line}");
    assert!(line.is_ascii(), "{line:?}");
}

// ----- DNS rebinding and /echo ----------------------------------------------------------------

#[test]
fn with_a_fallback_token_only_loopback_host_names_are_answered() {
    let s = TestServer::start(&[("T2G_FALLBACK_TOKEN", "rebinding-canary")]);
    let port = s.addr.port();
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "[::1]:1".to_string(),
        "localhost".to_string(),
    ] {
        let r = s.get("/token", &[("Host", &host)]);
        assert_eq!(r.status, 200, "{host}");
    }
    for host in [format!("rebind.example:{port}"), "127.0.0.1.nip.io".into()] {
        for path in ["/token", "/", "/echo", "/flow/redirect/token", "/nope"] {
            let r = s.get(path, &[("Host", &host)]);
            assert_eq!(
                (r.status, r.reason.as_str()),
                (421, "Misdirected Request"),
                "{path}"
            );
            assert_eq!(r.text().lines().count(), 1);
            assert!(r.text().contains("loopback") && !r.text().contains("rebinding-canary"));
            assert_eq!(r.header("Cache-Control"), Some("no-store"));
        }
    }
    // Health probes name the pod's address; the answer holds nothing.
    assert_eq!(s.get("/health", &[("Host", "10.0.0.7:8080")]).status, 200);
    let misdirected = "token2go_http_requests_total{route=\"misdirected\",status=\"421\"} 10\n";
    let m = s.wait_for_metrics(misdirected);
    assert!(m.contains(misdirected), "{m}");

    // T2G_ALLOWED_HOSTS adds names, and applies without a fallback token too.
    let s = TestServer::start(&[
        ("T2G_FALLBACK_TOKEN", "t"),
        ("T2G_ALLOWED_HOSTS", "dev.example.com"),
    ]);
    assert_eq!(
        s.get("/token", &[("Host", "dev.example.com:8080")]).status,
        200
    );
    assert_eq!(s.get("/token", &[("Host", "rebind.example")]).status, 421);
    let s = TestServer::start(&[("T2G_ALLOWED_HOSTS", "token2go.example.com")]);
    let token = [("Token", "t")];
    let with_host = |host: &'static str| [token[0], ("Host", host)];
    assert_eq!(
        s.get("/token", &with_host("token2go.example.com")).status,
        200
    );
    assert_eq!(s.get("/token", &with_host("other.example.com")).status, 421);
}

/// Issue 16: an absolute-form target names the host (RFC 9112 §3.2.2), whatever `Host` says;
/// it used to be judged by `Host` alone.
#[test]
fn an_absolute_form_target_is_judged_by_its_authority() {
    let s = TestServer::start(&[("T2G_FALLBACK_TOKEN", "absolute-canary")]);
    let port = s.addr.port();
    for (target, host, status) in [
        ("http://evil.example/token", "localhost", 421),
        ("http://evil.example:80/token", "127.0.0.1", 421),
        ("https://127.0.0.1.nip.io/token?x", "localhost", 421),
        ("http://localhost/token", "evil.example", 200),
        ("http://127.0.0.1:1/token", "evil.example", 200),
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let reply = Reply::parse(&s.raw(raw.as_bytes())).unwrap();
        assert_eq!(
            reply.status,
            status,
            "{target} with Host: {host}: {}",
            reply.text()
        );
        assert_eq!(reply.text().contains("absolute-canary"), status == 200);
    }
    // Userinfo in the target is refused outright.
    let raw = format!(
        "GET http://localhost:{port}@evil.example/token HTTP/1.1\r\nHost: localhost\r\n\r\n"
    );
    let reply = Reply::parse(&s.raw(raw.as_bytes())).unwrap();
    assert_eq!(reply.status, 400);
}

#[test]
fn without_a_fallback_token_every_host_is_answered() {
    // oauth2-proxy passes the public name to an upstream on 127.0.0.1 by default.
    let s = TestServer::start(&[]);
    let r = s.get(
        "/token",
        &[("Host", "token2go.example.com"), ("Token", "t")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(s.get("/", &[("Host", "anything.example")]).status, 200);
}

#[test]
fn echo_shows_cookie_names_but_not_their_values() {
    let s = TestServer::start(&[]);
    let r = s.get(
        "/echo",
        &[("Cookie", "_oauth2_proxy=c2Vzc2lvbi1jYW5hcnk; theme=dark")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["headers"]["Cookie"],
        json!(["_oauth2_proxy=<redacted>; theme=<redacted>"])
    );
    assert!(!r.text().contains("c2Vzc2lvbi1jYW5hcnk") && !r.text().contains("dark"));
}

#[test]
fn the_page_says_who_is_signed_in() {
    let s = TestServer::start(&[]);
    let page = s.get("/", &[("X-Forwarded-User", "<b>alice</b>")]).text();
    assert!(
        page.contains("Signed in as <strong>&lt;b&gt;alice&lt;/b&gt;</strong>"),
        "{page}"
    );
    let page = s.get("/", &[]).text();
    assert!(!page.contains("Signed in as"));
}

/// Issue 16 §1: `/token` and `/echo` refuse another site's reads (anything but a navigation)
/// with 403: not served, not counted or audited as a hand-out.
#[test]
fn another_sites_reads_of_token_and_echo_get_403() {
    let token = "canary-CrossSiteRead-91c2";
    let s = TestServer::start(&[]);
    for path in ["/token", "/echo"] {
        for mode in ["cors", "no-cors", "same-origin"] {
            let r = s.get(
                path,
                &[
                    ("Authorization", token),
                    ("Sec-Fetch-Site", "cross-site"),
                    ("Sec-Fetch-Mode", mode),
                ],
            );
            assert_eq!(r.status, 403, "{path} {mode}");
            assert_eq!(r.text().lines().count(), 1, "{}", r.text());
            assert!(r.text().contains("cross-site"), "{}", r.text());
            assert!(!r.text().contains(token));
            assert_eq!(r.header("Cache-Control"), Some("no-store"));
        }
        let r = s.get(
            path,
            &[
                ("Authorization", token),
                ("Sec-Fetch-Site", "cross-site"),
                ("Sec-Fetch-Mode", "navigate"),
            ],
        );
        assert_eq!(r.status, 200, "{path}: a navigation is the person's");
        let r = s.get(
            path,
            &[
                ("Authorization", token),
                ("Sec-Fetch-Site", "same-origin"),
                ("Sec-Fetch-Mode", "cors"),
            ],
        );
        assert_eq!(r.status, 200, "{path}: the page's own fetch");
    }
    // Each count is waited for: an exchange is counted after its response was written, so a
    // busy machine may count an earlier request after a later one.
    for line in [
        "token2go_http_requests_total{route=\"echo\",status=\"200\"} 2\n",
        "token2go_http_requests_total{route=\"token\",status=\"403\"} 3\n",
        "token2go_http_requests_total{route=\"echo\",status=\"403\"} 3\n",
        "token2go_tokens_served_total{route=\"token\"} 2\n",
    ] {
        let m = s.wait_for_metrics(line);
        assert!(m.contains(line), "{line} in {m}");
    }
    let out = s.output();
    assert_eq!(out.matches("audit token_served").count(), 2, "{out}");
    assert!(!out.contains(token));
}

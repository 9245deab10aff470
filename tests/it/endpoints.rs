//! Every endpoint of the reference API against the real binary, over raw HTTP.

use crate::harness::{Reply, TestServer, unsigned_jwt};

fn jwt_expiring_at(exp: i64) -> String {
    unsigned_jwt(&format!(r#"{{"sub":"u","exp":{exp}}}"#), "c2lnbmF0dXJl")
}

const CANARY: &str = "canary-Secret-7f3a9c1e-do-not-log";

fn assert_security_headers(r: &Reply, what: &str) {
    assert_eq!(
        r.header("X-Content-Type-Options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("Referrer-Policy"), Some("no-referrer"), "{what}");
    assert_eq!(r.header("X-Frame-Options"), Some("DENY"), "{what}");
    let csp = r.header("Content-Security-Policy").unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(r.header("Content-Length").is_some(), "{what}");
}

#[test]
fn token_from_headers_fallback_and_444() {
    let s = TestServer::start(&[("T2G_ADD_TOKEN_HEADER_NAMES", "X-Extra")]);
    let r = s.get("/token", &[("authorization", "Bearer abc.def")]);
    assert_eq!(r.status, 200);
    assert_security_headers(&r, "/token");
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert!(
        r.header("Content-Type")
            .unwrap()
            .starts_with("application/json")
    );
    let v = r.json();
    assert_eq!(v["secret"], "abc.def");
    assert_eq!(
        v["fingerprint"].as_str().unwrap(),
        token2go::server::token::fingerprint("abc.def")
    );
    let ts = v["timestamp"].as_str().unwrap();
    assert!(
        ts.len() == 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "{ts}"
    );
    assert!(v.get("expiresAt").is_none());

    // The first configured header wins; added names come after the configured ones.
    let r = s.get("/token", &[("X-Extra", "late"), ("token", "early")]);
    assert_eq!(r.json()["secret"], "early");
    let r = s.get("/token", &[("x-extra", "late")]);
    assert_eq!(r.json()["secret"], "late");

    // A JWT with exp gets expiresAt.
    let jwt = jwt_expiring_at(1_900_000_000);
    let r = s.get("/token", &[("X-Forwarded-Access-Token", &jwt)]);
    assert_eq!(r.json()["expiresAt"], "2030-03-17T17:46:40Z");

    let r = s.get("/token", &[]);
    assert_eq!(r.status, 444);
    assert_security_headers(&r, "444");
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert_eq!(
        r.text(),
        "Token not found. Looking for: Access-Token, Authorization, Token, \
         X-Auth-Request-Access-Token, X-Forwarded-Access-Token, OIDC_access_token, X-Extra\n"
    );

    let s = TestServer::start(&[("T2G_FALLBACK_TOKEN", "fallback-xyz")]);
    assert_eq!(s.get("/token", &[]).json()["secret"], "fallback-xyz");
    assert_eq!(s.get("/token", &[("Token", "hdr")]).json()["secret"], "hdr");
}

/// What Apache `mod_auth_openidc` passes by default: an opaque token, its expiry in Unix
/// seconds and the user's claims, under `OIDC_*` names.
#[test]
fn mod_auth_openidc_headers_and_the_expiry_header() {
    let s = TestServer::start(&[]);
    let opaque = ("OIDC_access_token", CANARY);
    let user = ("OIDC_CLAIM_preferred_username", "ann");
    let r = s.get(
        "/token",
        &[opaque, user, ("OIDC_access_token_expires", "1900000000")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["secret"], CANARY);
    assert_eq!(r.json()["expiresAt"], "2030-03-17T17:46:40Z");
    let audit = s.wait_for_output("audit token_served route=token user=ann");
    assert!(audit.contains(" exp=2030-03-17T17:46:40Z "), "{audit}");
    // RFC 3339 too; the email claim names the user when preferred_username is absent.
    let r = s.get(
        "/",
        &[
            opaque,
            ("OIDC_CLAIM_email", "bo@example.com"),
            ("OIDC_access_token_expires", "2030-03-17T18:46:40+01:00"),
        ],
    );
    assert!(
        r.text()
            .contains("Signed in as <strong>bo@example.com</strong>")
    );
    let r = s.get(
        "/token",
        &[
            opaque,
            ("OIDC_access_token_expires", "2030-03-17T18:46:40+01:00"),
        ],
    );
    assert_eq!(r.json()["expiresAt"], "2030-03-17T17:46:40Z");
    // A JWT's own exp wins over the header.
    let jwt = jwt_expiring_at(1_800_000_000);
    let r = s.get(
        "/token",
        &[
            ("OIDC_access_token", &jwt),
            ("OIDC_access_token_expires", "1900000000"),
        ],
    );
    assert_eq!(r.json()["expiresAt"], "2027-01-15T08:00:00Z");
    // Garbage is ignored: 200 without expiresAt, counted, logged by name, never by value.
    let garbage = "canary-Expiry-5e1f";
    for _ in 0..3 {
        let r = s.get("/token", &[opaque, ("OIDC_access_token_expires", garbage)]);
        assert_eq!(r.status, 200);
        assert!(r.json().get("expiresAt").is_none(), "{}", r.text());
    }
    let m = s.wait_for_metrics("token2go_expiry_header_invalid_total 3");
    assert!(m.contains("# TYPE token2go_expiry_header_invalid_total counter"));
    let out = s.wait_for_output("expiry header OIDC_access_token_expires: not Unix seconds");
    // Logged the 1st and 2nd time, the 3rd only counted (then the 4th, 8th, ...).
    let logged = out
        .matches("expiry header OIDC_access_token_expires")
        .count();
    assert_eq!(logged, 2, "{out}");
    assert!(out.contains("ignored (2 so far)"), "{out}");
    assert!(!out.contains(garbage) && !out.contains(CANARY), "{out}");
    // The fallback token is not the gateway's: the header says nothing about it.
    let s = TestServer::start(&[("T2G_FALLBACK_TOKEN", "fallback-xyz")]);
    let r = s.get("/token", &[("OIDC_access_token_expires", "1900000000")]);
    assert_eq!(r.json()["secret"], "fallback-xyz");
    assert!(r.json().get("expiresAt").is_none(), "{}", r.text());
}

#[test]
fn a_16k_jwt_in_a_header_fits() {
    let s = TestServer::start(&[]);
    let big = format!(
        "{}{}",
        jwt_expiring_at(2_000_000_000),
        "s".repeat(16 * 1024)
    );
    let r = s.get("/token", &[("Authorization", &format!("Bearer {big}"))]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["secret"].as_str().unwrap().len(), big.len());
}

#[test]
fn health_echo_and_head() {
    let s = TestServer::start(&[]);
    let r = s.get("/health", &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "{\"status\": \"OK.\"}\n")
    );
    assert_security_headers(&r, "/health");
    assert_eq!(r.header("Cache-Control"), Some("no-store"));

    let r = s.get("/echo?b=x+y%21&a=1&a=2", &[("x-tutu", "v")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let v = r.json();
    assert_eq!(v["parameters"]["a"], serde_json::json!(["1", "2"]));
    assert_eq!(v["parameters"]["b"], serde_json::json!(["x y!"]));
    assert_eq!(v["headers"]["X-Tutu"], serde_json::json!(["v"]));
    let remote = v["remoteAddr"].as_str().unwrap();
    assert!(remote.starts_with("127.0.0.1:"), "{remote}");
    assert!(!r.text().contains("\n  "));
    let pretty = s.get("/echo?pretty", &[]).text();
    assert!(
        pretty.contains("\n  \"parameters\": {\n    \"pretty\""),
        "{pretty}"
    );

    let r = s.request("HEAD", "/health", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("18"));
    let raw = s.raw(b"HEAD /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert!(raw.ends_with(b"\r\n\r\n"), "HEAD carries no body");

    let off = TestServer::start(&[("T2G_ECHO_ENABLED", "false")]);
    assert_eq!(off.get("/echo", &[]).status, 404);
}

#[test]
fn methods_and_unknown_paths() {
    let s = TestServer::start(&[]);
    for path in ["/token", "/", "/health", "/nope"] {
        let r = s.request("DELETE", path, &[]);
        if path == "/nope" {
            assert_eq!(r.status, 404);
        } else {
            assert_eq!(r.status, 405, "{path}");
            assert_eq!(r.header("Allow"), Some("GET, HEAD"));
        }
        assert_security_headers(&r, path);
    }
    for path in [
        "/nope",
        "/static/../Cargo.toml",
        "/%2e%2e/etc/passwd",
        "/swagger-ui/../../x",
    ] {
        assert_eq!(s.get(path, &[]).status, 404, "{path}");
    }
    let r = s.request("POST", "/token", &[("Content-Length", "0")]);
    assert_eq!(r.status, 405);
}

#[test]
fn page_with_ui_settings_and_strict_csp() {
    let s = TestServer::start(&[
        ("T2G_UI_TARGET", "Prod <API> & co"),
        (
            "T2G_UI_DESC2",
            "<p class=\"extra\">Operator <em>HTML</em></p>",
        ),
        ("T2G_UI_MISC", "<section id=\"misc\">Misc</section>"),
    ]);
    for path in ["/", "/index.html"] {
        let r = s.get(path, &[]);
        assert_eq!(r.status, 200);
        assert_security_headers(&r, path);
        assert!(r.header("Content-Type").unwrap().starts_with("text/html"));
        let csp = r.header("Content-Security-Policy").unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        let body = r.text();
        assert!(
            body.contains("<title>Token2go | Prod &lt;API&gt; &amp; co</title>"),
            "{body}"
        );
        assert!(
            body.contains("Get a token for Prod &lt;API&gt; &amp; co with the Token2go service")
        );
        assert!(body.contains("<p class=\"extra\">Operator <em>HTML</em></p>"));
        assert!(body.contains("<section id=\"misc\">Misc</section>"));
    }
    let s = TestServer::start(&[("T2G_UI_TARGET", "X"), ("T2G_UI_TITLE", "Own <title>")]);
    let body = s.get("/", &[]).text();
    assert!(body.contains("<title>Own &lt;title&gt;</title>"), "{body}");
}

#[test]
fn static_files_swagger_and_metrics() {
    let s = TestServer::start(&[]);
    for (path, kind) in [
        ("/favicon.ico", "image/"),
        ("/favicon.svg", "image/svg+xml"),
        ("/favicon-16x16.png", "image/png"),
        ("/favicon-32x32.png", "image/png"),
        ("/apple-touch-icon.png", "image/png"),
        ("/swagger.yaml", "yaml"),
        ("/swagger-ui/", "text/html"),
    ] {
        let r = s.get(path, &[]);
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("Content-Type").unwrap().contains(kind), "{path}");
        assert!(!r.body.is_empty(), "{path}");
        assert_security_headers(&r, path);
    }
    let yaml = s.get("/swagger.yaml", &[]).text();
    for path in [
        "/token:",
        "/health:",
        "/echo:",
        "/metrics:",
        "/flow/redirect/token:",
    ] {
        assert!(yaml.contains(path), "swagger.yaml lacks {path}");
    }
    let r = s.get("/swagger-ui", &[]);
    assert_eq!(
        (r.status, r.header("Location")),
        (308, Some("/swagger-ui/"))
    );

    let r = s.get("/metrics", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert!(
        r.header("Content-Type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text();
    assert!(text.contains("token2go_build_info{version=\""), "{text}");
    assert!(
        text.contains("token2go_http_requests_total{route=\"asset\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("token2go_flow_rejections_total{reason=\"target\"} 0"),
        "{text}"
    );
    assert!(!text.contains("favicon"), "no raw path in a label");
}

#[test]
fn swagger_ui_bundle_is_served_gzip_encoded() {
    let s = TestServer::start(&[]);
    let page = s.get("/swagger-ui/", &[]).text();
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        assert!(page.contains(asset), "{page}");
        let path = format!("/swagger-ui/{asset}");
        let r = s.get(&path, &[("Accept-Encoding", "gzip, deflate, br")]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("Content-Encoding"), Some("gzip"));
        assert_eq!(r.header("Vary"), Some("Accept-Encoding"));
        assert_eq!(&r.body[..2], &[0x1f, 0x8b], "{path} is gzip");
        let r = s.get(&path, &[]);
        assert_eq!(r.status, 406, "{path} without gzip");
    }
}

/// Our own text files are stored gzipped: as stored to a client that accepts gzip, decoded (by
/// the server's own inflater) for one that does not; the same file either way.
#[test]
fn own_files_are_sent_gzipped_or_decoded_as_the_client_accepts() {
    use std::io::Read;
    let s = TestServer::start(&[]);
    let sources: [(&str, &[u8]); 3] = [
        ("/static/page.js", include_bytes!("../../assets/page.js")),
        ("/static/page.css", include_bytes!("../../assets/page.css")),
        ("/swagger.yaml", include_bytes!("../../assets/swagger.yaml")),
    ];
    for (path, source) in sources {
        let gzipped = s.get(path, &[("Accept-Encoding", "gzip")]);
        assert_eq!(gzipped.status, 200, "{path}");
        assert_eq!(gzipped.header("Content-Encoding"), Some("gzip"), "{path}");
        assert_eq!(gzipped.header("Vary"), Some("Accept-Encoding"), "{path}");
        assert!(
            gzipped.body.len() < source.len(),
            "{path} is sent compressed"
        );
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&gzipped.body[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, source, "{path} decodes to its source (zlib)");
        for accept in [None, Some("identity"), Some("gzip;q=0, br")] {
            let headers: Vec<(&str, &str)> =
                accept.map(|a| ("Accept-Encoding", a)).into_iter().collect();
            let plain = s.get(path, &headers);
            assert_eq!(plain.status, 200, "{path} {accept:?}");
            assert_eq!(plain.header("Content-Encoding"), None, "{path} {accept:?}");
            assert_eq!(plain.header("Vary"), Some("Accept-Encoding"), "{path}");
            assert_eq!(plain.body, source, "{path} {accept:?}");
        }
    }
}

#[test]
fn access_log_text_and_json_never_hold_secrets() {
    for format in ["text", "json"] {
        let s = TestServer::start(&[("T2G_LOG_FORMAT", format), ("T2G_FALLBACK_TOKEN", CANARY)]);
        assert_eq!(
            s.get("/token?q=query-canary", &[("Cookie", "c=cookie-canary")])
                .status,
            200
        );
        s.get(
            &format!("/echo?x={CANARY}"),
            &[("Authorization", &format!("Bearer {CANARY}"))],
        );
        // Each line is written after its answer, by whichever worker served it: wait for both.
        s.wait_for_output("/token");
        let out = s.wait_for_output("/echo");
        assert!(!out.contains(CANARY), "{format}: {out}");
        assert!(
            !out.contains("query-canary") && !out.contains("cookie-canary"),
            "{out}"
        );
        assert!(out.contains("fallback_token=set"), "{out}");
        let line = out.lines().find(|l| l.contains("/token")).unwrap();
        if format == "json" {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["method"], "GET");
            assert_eq!(v["path"], "/token");
            assert_eq!(v["status"], 200);
            assert!(v["bytes"].as_u64().unwrap() > 0);
            assert!(v["duration_us"].is_number());
            assert!(v["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
        } else {
            assert!(line.contains("GET /token 200"), "{line}");
            assert!(line.contains("127.0.0.1:"), "{line}");
        }
    }
    let s = TestServer::start(&[("T2G_LOG_FORMAT", "off")]);
    s.get("/health", &[]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!s.output().contains("/health"));
}

#[test]
fn binds_ipv6_loopback_and_wildcard() {
    let s = TestServer::start_on("::1", &[]);
    assert_eq!(s.get("/health", &[]).status, 200);
    assert!(s.output().contains("[::1]"), "{}", s.output());
    // `::` takes connections on loopback (the test never leaves the machine).
    let s = TestServer::start_on("::", &[]);
    assert_eq!(s.get("/health", &[]).status, 200);
    let r = s.get("/echo", &[]);
    assert!(
        r.json()["remoteAddr"]
            .as_str()
            .unwrap()
            .starts_with("[::1]:"),
        "{}",
        r.text()
    );
}

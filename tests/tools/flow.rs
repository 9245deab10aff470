//! The token redirect flow against the real binary; redirects and paste blocks are decrypted by
//! an independent implementation (Python `cryptography`, i.e. OpenSSL).

use std::path::PathBuf;

use crate::harness::{
    DECRYPT_PY, Reply, TempDir, TestServer, confirm_link, enc, flow_url, python_decrypt,
    python_keypair, python_ok, unix_now, unsigned_jwt,
};

const CANARY: &str = "canary-FlowSecret-41d7e0b2";
const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";

/// A key pair made by Python; its private key lives in `_dir`, removed with the pair.
struct KeyPair {
    private: PathBuf,
    public_pem: String,
    public_path: PathBuf,
    _dir: TempDir,
}

fn keypair(bits: usize, form: &str) -> KeyPair {
    let dir = TempDir::new("flow");
    let (private, public_pem) = python_keypair(&dir, bits, form);
    KeyPair {
        private,
        public_pem,
        public_path: dir.join(&format!("{bits}-{form}.pub")),
        _dir: dir,
    }
}

fn python(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    python_ok(DECRYPT_PY, args, stdin.unwrap_or_default())
}

fn decrypt_location(pair: &KeyPair, location: &str) -> serde_json::Value {
    let plain = python_decrypt(&pair.private, &["--url", location], b"");
    serde_json::from_str(&plain).expect("decrypted payload is the /token JSON")
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

#[test]
fn redirects_decrypt_with_openssl_for_every_key_type() {
    let s = TestServer::start(&[]);
    for bits in [2048, 3072, 4096] {
        for (form, names) in [("spki", vec!["x509"]), ("pkcs1", vec!["pksc1", "pkcs1"])] {
            let pair = keypair(bits, form);
            for name in names {
                let key_type = format!(
                    "rsa{bits}-{}-pem",
                    if name == "x509" {
                        "rfc5280-x509".to_string()
                    } else {
                        format!("rfc8017-{name}")
                    }
                );
                let target = "http://127.0.0.1:43210/callback?existing=1&x=a%20b";
                let state = "st@te/ü";
                let url = flow_url(target, state, &key_type, &pair.public_pem);
                let r = s.get(&url, &[("Authorization", &format!("Bearer {CANARY}"))]);
                assert_eq!(r.status, 303, "{key_type}: {}", r.text());
                assert_eq!(r.header("Cache-Control"), Some("no-store"));
                assert_eq!(r.header("Referrer-Policy"), Some("no-referrer"));
                let location = r.header("Location").unwrap().to_string();
                assert!(
                    location.starts_with("http://127.0.0.1:43210/callback?existing=1&x=a%20b&key="),
                    "{location}"
                );
                assert_eq!(
                    query_param(&location, "state").as_deref(),
                    Some(enc(state).as_str())
                );
                let doc = decrypt_location(&pair, &location);
                assert_eq!(doc["secret"], CANARY, "{key_type}");
                assert_eq!(
                    doc["fingerprint"].as_str().unwrap(),
                    token2go::server::token::fingerprint(CANARY)
                );
                assert!(doc["timestamp"].is_string());
            }
        }
    }
    let out = s.wait_for_output("/flow/redirect/token");
    assert!(!out.contains(CANARY), "{out}");
}

#[test]
fn fresh_key_and_nonce_per_request_and_loopback_forms() {
    let s = TestServer::start(&[("T2G_FALLBACK_TOKEN", CANARY)]);
    let pair = keypair(2048, "spki");
    let mut seen = Vec::new();
    for target in [
        "http://localhost:8000/",
        "http://[::1]:9/cb",
        "http://127.0.0.1/",
    ] {
        let r = s.get(
            &flow_url(target, "", "rsa2048-rfc5280-x509-pem", &pair.public_pem),
            &[],
        );
        assert_eq!(r.status, 303, "{target}: {}", r.text());
        let location = r.header("Location").unwrap().to_string();
        assert!(
            location.starts_with(&format!("{target}?key=")),
            "{location}"
        );
        assert_eq!(query_param(&location, "state").as_deref(), Some(""));
        assert_eq!(decrypt_location(&pair, &location)["secret"], CANARY);
        seen.push((
            query_param(&location, "key").unwrap(),
            query_param(&location, "nonce").unwrap(),
        ));
    }
    for (i, a) in seen.iter().enumerate() {
        for b in &seen[i + 1..] {
            assert_ne!(a.0, b.0, "fresh key");
            assert_ne!(a.1, b.1, "fresh nonce");
        }
    }
}

#[test]
fn paste_mode_page_decrypts_and_shows_the_verification_code() {
    let s = TestServer::start(&[]);
    let pair = keypair(4096, "pkcs1");
    let big_jwt = format!(
        "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE5MDAwMDAwMDB9.{}",
        "A".repeat(6000)
    );
    let url = flow_url(
        "urn:ietf:wg:oauth:2.0:oob",
        "s1",
        "rsa4096-rfc8017-pkcs1-pem",
        &pair.public_pem,
    );
    let token_header = [("X-Forwarded-Access-Token", big_jwt.as_str())];
    // First the warning with the code and no block; its button shows the block.
    let warning = s.get(&url, &token_header);
    assert_eq!(warning.status, 200, "{}", warning.text());
    assert!(!warning.text().contains("-----BEGIN TOKEN2GO RESPONSE-----"));
    let r = s.get(&confirm_link(&warning.text()), &token_header);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("Content-Type").unwrap().starts_with("text/html"));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let csp = r.header("Content-Security-Policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(r.header("Location").is_none());
    let page = r.text();
    let begin = page
        .find("-----BEGIN TOKEN2GO RESPONSE-----")
        .expect("block begins");
    let end_marker = "-----END TOKEN2GO RESPONSE-----";
    let end = page.find(end_marker).expect("block ends") + end_marker.len();
    let block = &page[begin..end];
    assert!(block.lines().all(|l| l.len() <= 64), "wrapped at 64");
    assert!(block.lines().count() > 100, "a large JWT makes many lines");
    let plain = python_decrypt(&pair.private, &["--paste", "-"], block.as_bytes());
    let doc: serde_json::Value = serde_json::from_str(&plain).unwrap();
    assert_eq!(doc["secret"], big_jwt.as_str());
    assert_eq!(doc["expiresAt"], "2030-03-17T17:46:40Z");
    let code = String::from_utf8(python(
        &["code", "--public", pair.public_path.to_str().unwrap()],
        None,
    ))
    .unwrap();
    assert!(
        page.contains(code.trim()),
        "verification code {code} on the page"
    );
    assert!(
        page.contains("started yourself"),
        "the warning is on the page"
    );
}

fn refused(r: &Reply, status: u16, text: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.text().lines().count(), 1, "one line: {}", r.text());
    assert!(
        r.text().contains(text),
        "expected {text:?} in {:?}",
        r.text()
    );
    assert!(r.header("Location").is_none(), "never redirect on error");
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert!(r.header("Content-Type").unwrap().starts_with("text/plain"));
}

#[test]
fn errors_are_one_line_and_never_redirect() {
    let s = TestServer::start(&[("T2G_FALLBACK_TOKEN", CANARY)]);
    let pair = keypair(2048, "spki");
    let pem = &pair.public_pem;
    let ok_type = "rsa2048-rfc5280-x509-pem";
    let get = |q: &str| s.get(&format!("/flow/redirect/token?{q}"), &[]);

    refused(
        &get(""),
        400,
        "Missing query parameters: target, state, publicKeyType, publicKey",
    );
    refused(
        &get(&format!("publicKeyType={ok_type}&publicKey={}", enc(pem))),
        400,
        "Missing query parameters: target, state",
    );
    // state may be empty but must be present; an empty target is refused.
    refused(
        &get(&format!(
            "target=&state=&publicKeyType={ok_type}&publicKey={}",
            enc(pem)
        )),
        400,
        "target",
    );
    refused(
        &get(&format!(
            "target=http://127.0.0.1/&state=1&state=2&publicKeyType={ok_type}&publicKey={}",
            enc(pem)
        )),
        400,
        "state: given more than once",
    );
    let r = s.get(
        &flow_url("http://127.0.0.1/", "", "rsa1024-rfc5280-x509-pem", pem),
        &[],
    );
    refused(
        &r,
        400,
        "publicKeyType: must be one of rsa2048-rfc5280-x509-pem",
    );
    assert!(r.text().contains("rsa4096-rfc8017-pkcs1-pem"));

    for (target, why) in [
        ("https://evil.example/", "target"),
        ("http://127.0.0.1@evil.example/", "userinfo"),
        ("http://127.0.0.1/#frag", "fragment"),
        ("http://127.0.0.1/a/../b", "dot"),
        ("http://127.0.0.1:70000/", "port"),
        ("javascript:alert(1)", "target"),
        ("http://127.0.0.1/\r\nSet-Cookie: x", "target"),
    ] {
        let r = s.get(&flow_url(target, "", ok_type, pem), &[]);
        refused(&r, 400, why);
        assert!(r.text().starts_with("target: "), "{}", r.text());
    }

    // Keys: what was expected, never the key itself.
    let pkcs1 = keypair(2048, "pkcs1");
    for (key_type, key, why) in [
        (ok_type, "not a pem", "publicKey"),
        ("rsa4096-rfc5280-x509-pem", pem.as_str(), "publicKey"),
        (
            "rsa4096-rfc8017-pksc1-pem",
            pkcs1.public_pem.as_str(),
            "key has 2048 bits, publicKeyType says 4096",
        ),
        (
            ok_type,
            &std::fs::read_to_string(&pair.private).unwrap(),
            "private key",
        ),
    ] {
        let r = s.get(&flow_url("http://127.0.0.1/", "", key_type, key), &[]);
        refused(&r, 400, why);
        let body_line = pem.lines().nth(1).unwrap();
        assert!(!r.text().contains(body_line), "key echoed: {}", r.text());
    }

    // A request line past the documented 16 KiB limit.
    let long_state = "s".repeat(17 * 1024);
    let r = s.get(
        &flow_url("http://127.0.0.1/", &long_state, ok_type, pem),
        &[],
    );
    assert_eq!(r.status, 414);

    // No token in paste mode: nowhere to send the error, so a page for the person.
    let no_token = TestServer::start(&[]);
    let r = no_token.get(&flow_url(OOB, "", ok_type, pem), &[]);
    assert_eq!(r.status, 444, "{}", r.text());
    assert!(r.header("Content-Type").unwrap().starts_with("text/html"));
    assert!(r.header("Location").is_none());
    assert!(r.text().contains("the gateway passed no access token"));
    assert!(
        r.text().contains("Ask the gateway&#39;s operator."),
        "{}",
        r.text()
    );

    let metrics = s.get("/metrics", &[]).text();
    for reason in ["params", "target", "key"] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "token2go_flow_rejections_total{{reason=\"{reason}\"}}"
                ))
            })
            .unwrap();
        assert!(!line.ends_with(" 0"), "{line}");
    }
    let m = no_token.get("/metrics", &[]).text();
    assert!(
        m.contains("token2go_flow_rejections_total{reason=\"no_token\"} 1"),
        "{m}"
    );
    assert!(!s.output().contains(CANARY));
}

/// Clients of the reference server send a PKCS#1 block under an x509 type and the reverse; the
/// reference tries both forms, and so do we.
#[test]
fn either_pem_form_is_accepted_whatever_form_is_declared() {
    let s = TestServer::start(&[("T2G_FALLBACK_TOKEN", CANARY)]);
    for (form, key_type) in [
        ("pkcs1", "rsa2048-rfc5280-x509-pem"),
        ("spki", "rsa2048-rfc8017-pksc1-pem"),
        ("spki", "rsa2048-rfc8017-pkcs1-pem"),
    ] {
        let pair = keypair(2048, form);
        let url = flow_url("http://127.0.0.1:9/cb", "s", key_type, &pair.public_pem);
        let r = s.get(&url, &[]);
        assert_eq!(r.status, 303, "{form} as {key_type}: {}", r.text());
        let doc = decrypt_location(&pair, r.header("Location").unwrap());
        assert_eq!(doc["secret"], CANARY);
    }
}

#[test]
fn a_4096_bit_key_with_long_target_and_state_fits() {
    let s = TestServer::start(&[("T2G_FALLBACK_TOKEN", CANARY)]);
    let pair = keypair(4096, "spki");
    let target = format!("http://127.0.0.1:5000/{}", "p/".repeat(500));
    let state = "S".repeat(2000);
    let url = flow_url(
        &target,
        &state,
        "rsa4096-rfc5280-x509-pem",
        &pair.public_pem,
    );
    assert!(url.len() > 4000);
    let r = s.get(&url, &[]);
    assert_eq!(r.status, 303, "{}", r.text());
    let location = r.header("Location").unwrap();
    assert_eq!(decrypt_location(&pair, location)["secret"], CANARY);
    let m = s.get("/metrics", &[]).text();
    assert!(
        m.contains("token2go_tokens_served_total{route=\"flow_redirect\"} 1"),
        "{m}"
    );
}

#[test]
fn allowed_targets_extend_loopback() {
    let s = TestServer::start(&[
        ("T2G_FALLBACK_TOKEN", CANARY),
        (
            "T2G_REDIRECT_ALLOWED_TARGETS",
            "https://hub.example.com/user/",
        ),
    ]);
    let pair = keypair(2048, "spki");
    let ok_type = "rsa2048-rfc5280-x509-pem";
    // A prefix without {user} is shared by all users: the warning first, then the redirect.
    let warning = s.get(
        &flow_url(
            "https://hub.example.com/user/ann/cb",
            "",
            ok_type,
            &pair.public_pem,
        ),
        &[],
    );
    assert_eq!(warning.status, 200, "{}", warning.text());
    let r = s.get(&confirm_link(&warning.text()), &[]);
    assert_eq!(r.status, 303, "{}", r.text());
    for bad in [
        "https://hub.example.com/users/x",
        "https://hub.example.com:8443/user/x",
        "http://hub.example.com/user/x",
        "https://hub.example.com.evil.example/user/x",
    ] {
        let r = s.get(&flow_url(bad, "", ok_type, &pair.public_pem), &[]);
        refused(&r, 400, "target");
    }
    let r = s.get(
        &flow_url("http://127.0.0.1:1234/", "", ok_type, &pair.public_pem),
        &[],
    );
    assert_eq!(r.status, 303, "loopback stays allowed");
}

/// An opaque token's expiry comes from the gateway's header (`mod_auth_openidc`'s default name)
/// into the encrypted document.
#[test]
fn the_payload_carries_the_expiry_header_of_an_opaque_token() {
    let s = TestServer::start(&[]);
    let pair = keypair(2048, "spki");
    let url = flow_url(
        "http://127.0.0.1:9/cb",
        "s",
        "rsa2048-rfc5280-x509-pem",
        &pair.public_pem,
    );
    let r = s.get(
        &url,
        &[
            ("OIDC_access_token", CANARY),
            ("OIDC_access_token_expires", "1900000000"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let doc = decrypt_location(&pair, r.header("Location").unwrap());
    assert_eq!(doc["secret"], CANARY);
    assert_eq!(doc["expiresAt"], "2030-03-17T17:46:40Z");
}

/// The decoded query of a redirect's `Location` after `target`.
fn added_params(location: &str, target: &str) -> Vec<(String, String)> {
    let added = location
        .strip_prefix(target)
        .unwrap_or_else(|| panic!("{location} does not start with {target}"));
    added
        .trim_start_matches(['?', '&'])
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap();
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The hidden fields of a form_post page, in order, HTML-unescaped.
fn form_fields(page: &str) -> Vec<(String, String)> {
    let unescape = |v: &str| {
        v.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    page.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"").unwrap();
            let value = rest.split_once('"').unwrap().0;
            (name.to_string(), unescape(value))
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// C1: a flow that passed every check but cannot deliver tells the client why, as an OAuth 2.0
/// authorization error response, in both response modes; paste mode tells the person.
#[test]
fn flow_errors_reach_the_client() {
    let reauth = "https://corp.example/oauth2/sign_in?rd={url}";
    let s = TestServer::start(&[("T2G_REAUTH_URL", reauth)]);
    let pair = keypair(2048, "spki");
    let ok_type = "rsa2048-rfc5280-x509-pem";
    let target = "http://127.0.0.1:43210/cb?existing=1";
    let state = "st&te=ü +/";
    let url = |mode: &str| {
        format!(
            "{}&responseMode={mode}",
            flow_url(target, state, ok_type, &pair.public_pem)
        )
    };
    let no_token = "the gateway passed no access token";
    let expired = "the access token expires in less than 30 s: sign in again through the \
                   gateway at https://corp.example/oauth2/sign_in?rd=%2F";
    let soon = unsigned_jwt(&format!(r#"{{"exp":{}}}"#, unix_now() + 10), "c2ln");
    let jwt = [("Authorization", format!("Bearer {soon}"))];
    let header_expiry = [
        ("OIDC_access_token", CANARY.to_string()),
        ("OIDC_access_token_expires", (unix_now() - 5).to_string()),
    ];
    for (headers, error, description) in [
        (&[][..], "no_token", no_token),
        (&jwt[..], "token_expired", expired),
        (&header_expiry[..], "token_expired", expired),
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let want = pairs(&[
            ("error", error),
            ("error_description", description),
            ("state", state),
        ]);
        let r = s.get(&url("query"), &headers);
        assert_eq!(r.status, 303, "{error}: {}", r.text());
        assert_eq!(r.header("Cache-Control"), Some("no-store"));
        let location = r.header("Location").unwrap();
        assert!(
            location.starts_with(&format!("{target}&error=")),
            "{location}"
        );
        assert_eq!(added_params(location, target), want, "{error}");

        let r = s.get(&url("form_post"), &headers);
        assert_eq!(r.status, 200, "{error}: {}", r.text());
        assert_eq!(form_fields(&r.text()), want, "{error}");
        let csp = r.header("Content-Security-Policy").unwrap();
        assert!(
            csp.contains("form-action http://127.0.0.1:43210 'self'"),
            "{csp}"
        );
        assert!(
            r.text()
                .contains("action=\"http://127.0.0.1:43210/cb?existing=1\"")
        );
        assert!(r.text().contains("The server could not hand out a token"));
        assert_eq!(
            r.text().contains("id=\"reauth\""),
            error == "token_expired",
            "{}",
            r.text()
        );
    }
    // Paste mode: the page, at once, with the link back to this flow after signing in.
    let paste = flow_url(OOB, "s", ok_type, &pair.public_pem);
    let r = s.get(
        &paste,
        &jwt.iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect::<Vec<_>>(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    assert!(
        page.contains("the access token expires in less than 30 s"),
        "{page}"
    );
    assert!(!page.contains("BEGIN TOKEN2GO") && !page.contains("id=\"continue\""));
    let back = format!(
        "href=\"https://corp.example/oauth2/sign_in?rd={}\"",
        enc(&paste).replace('&', "&amp;")
    );
    assert!(page.contains(&back), "{back} in {page}");
    // Refused targets get nothing, whatever the token.
    for headers in [vec![], vec![("Authorization", jwt[0].1.as_str())]] {
        let r = s.get(
            &flow_url("https://evil.example/cb", state, ok_type, &pair.public_pem),
            &headers,
        );
        refused(&r, 400, "target: ");
    }
    let m = s.get("/metrics", &[]).text();
    for line in [
        "token2go_flow_rejections_total{reason=\"no_token\"} 2",
        "token2go_flow_rejections_total{reason=\"token_expired\"} 5",
        "token2go_flow_rejections_total{reason=\"target\"} 2",
    ] {
        assert!(m.contains(line), "{line} in {m}");
    }
    assert!(
        !m.contains("token2go_tokens_served_total{route=\"flow"),
        "{m}"
    );
    let out = s.wait_for_output("reason=token_expired");
    assert!(
        out.contains("audit flow_refused route=flow user=- reason=no_token"),
        "{out}"
    );
    assert!(!out.contains(CANARY) && !out.contains("st&te"), "{out}");
}

/// A token with 31 s left is still handed out; the limit is the 30 s the clients need.
#[test]
fn a_token_with_more_than_30_s_left_is_delivered() {
    let s = TestServer::start(&[]);
    let pair = keypair(2048, "spki");
    let jwt = unsigned_jwt(&format!(r#"{{"exp":{}}}"#, unix_now() + 45), "c2ln");
    let r = s.get(
        &flow_url(
            "http://127.0.0.1:9/cb",
            "s",
            "rsa2048-rfc5280-x509-pem",
            &pair.public_pem,
        ),
        &[("Authorization", &jwt)],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let doc = decrypt_location(&pair, r.header("Location").unwrap());
    assert_eq!(doc["secret"], jwt.as_str());
}

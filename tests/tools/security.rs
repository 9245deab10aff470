//! Issue 9 against the real binary: whose token goes where. Per-user redirect prefixes, the
//! refusal of servlet-normalised paths, paste mode off, the warning page before a paste block
//! or a shared target (over raw HTTP and in Chromium, with and without JavaScript), the audit
//! trail in both formats with canaries. Keys come from Python `cryptography`; the tests that need
//! no tool are in tests/it/security.rs.

use std::path::PathBuf;

use serde_json::json;

use crate::harness::{
    DECRYPT_PY, Reply, TempDir, TestServer, confirm_link, enc, python_decrypt, python_keypair,
    python_ok, unsigned_jwt,
};
use crate::webdriver::{Browser, one_browser_at_a_time};

const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";
const KEY_TYPE: &str = "rsa2048-rfc5280-x509-pem";
const PER_USER: &str = "https://hub.example.com/user/{user}/";
const SHARED: &str = "https://hub.example.com/shared/";

/// A key pair made by Python; the private key is removed with `_dir`.
struct KeyPair {
    private: PathBuf,
    public_pem: String,
    dir: TempDir,
}

fn keypair() -> KeyPair {
    let dir = TempDir::new("security");
    let (private, public_pem) = python_keypair(&dir, 2048, "spki");
    KeyPair {
        private,
        public_pem,
        dir,
    }
}

fn flow(target: &str, state: &str, pem: &str) -> String {
    format!(
        "/flow/redirect/token?target={}&state={}&publicKeyType={KEY_TYPE}&publicKey={}",
        enc(target),
        enc(state),
        enc(pem)
    )
}

/// What a gateway adds for an authenticated user: the token and the user's name.
fn as_user<'a>(token: &'a str, user: &'a str) -> [(&'a str, &'a str); 2] {
    [
        ("X-Forwarded-Access-Token", token),
        ("X-Forwarded-User", user),
    ]
}

fn refused(r: &Reply, text: &str) {
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.text().lines().count(), 1, "{}", r.text());
    assert!(
        r.text().contains(text),
        "expected {text:?} in {:?}",
        r.text()
    );
    assert!(r.header("Location").is_none());
}

#[test]
fn mallorys_target_is_refused_for_alice_and_accepted_for_mallory() {
    let s = TestServer::start(&[("T2G_REDIRECT_ALLOWED_TARGETS", PER_USER)]);
    let mallory = keypair();
    let link = flow(
        "https://hub.example.com/user/mallory/oauth_callback",
        "s",
        &mallory.public_pem,
    );
    // The link Mallory sends Alice: Alice's gateway adds Alice's name and token.
    let r = s.get(&link, &as_user("alice-token", "alice"));
    refused(&r, "target: this target belongs to another user");
    // Mallory's own request goes straight through: no warning, the token stays with its owner.
    let r = s.get(&link, &as_user("mallory-token", "mallory"));
    assert_eq!(r.status, 303, "{}", r.text());
    let location = r.header("Location").unwrap();
    assert!(
        location.starts_with("https://hub.example.com/user/mallory/oauth_callback?key="),
        "{location}"
    );
    // Alice's own place works for Alice; her name may come from the token's claims alone.
    let alices = flow(
        "https://hub.example.com/user/alice/cb",
        "s",
        &mallory.public_pem,
    );
    let token = unsigned_jwt(r#"{"preferred_username":"alice","sub":"a-1"}"#, "c2ln");
    let r = s.get(&alices, &[("Authorization", &format!("Bearer {token}"))]);
    assert_eq!(r.status, 303, "{}", r.text());
    let r = s.get(&alices, &as_user("mallory-token", "mallory"));
    refused(&r, "belongs to another user");
    // A name is one percent-encoded segment, as JupyterHub escapes it.
    let r = s.get(
        &flow(
            "https://hub.example.com/user/a%20b@example.com/cb",
            "s",
            &mallory.public_pem,
        ),
        &as_user("t", "a b@example.com"),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let m = s.get("/metrics", &[]).text();
    assert!(!m.contains("alice") && !m.contains("mallory"), "{m}");
    assert!(
        m.contains("token2go_tokens_served_total{route=\"flow_redirect\"} 3"),
        "{m}"
    );
}

#[test]
fn unknown_user_is_refused_under_a_user_prefix() {
    let s = TestServer::start(&[
        ("T2G_REDIRECT_ALLOWED_TARGETS", PER_USER),
        ("T2G_FALLBACK_TOKEN", "opaque-no-user"),
    ]);
    let pair = keypair();
    let r = s.get(
        &flow(
            "https://hub.example.com/user/alice/cb",
            "s",
            &pair.public_pem,
        ),
        &[],
    );
    refused(&r, "an authenticated user is needed");
    // Loopback needs no user.
    let r = s.get(&flow("http://127.0.0.1:9/cb", "s", &pair.public_pem), &[]);
    assert_eq!(r.status, 303, "{}", r.text());
    // Only the configured header names count.
    let s = TestServer::start(&[
        ("T2G_REDIRECT_ALLOWED_TARGETS", PER_USER),
        ("T2G_USER_HEADER_NAMES", "X-Remote-User"),
    ]);
    let target = flow(
        "https://hub.example.com/user/alice/cb",
        "s",
        &pair.public_pem,
    );
    let r = s.get(&target, &as_user("t", "alice"));
    refused(&r, "an authenticated user is needed");
    let r = s.get(&target, &[("Token", "t"), ("X-Remote-User", "alice")]);
    assert_eq!(r.status, 303, "{}", r.text());
}

#[test]
fn every_path_parameter_and_double_encoding_form_is_refused() {
    let s = TestServer::start(&[(
        "T2G_REDIRECT_ALLOWED_TARGETS",
        &format!("https://hub.example.com/user/, {PER_USER}"),
    )]);
    let pair = keypair();
    for (target, why) in [
        ("https://hub.example.com/user/..;/admin", "path parameters"),
        ("https://hub.example.com/user/.;/admin", "path parameters"),
        (
            "https://hub.example.com/user/alice;jsessionid=1/",
            "path parameters",
        ),
        (
            "https://hub.example.com/user/alice/..;/bob/",
            "path parameters",
        ),
        (
            "https://hub.example.com/user/..%3B/admin",
            "path parameters",
        ),
        (
            "https://hub.example.com/user/..%3b/admin",
            "path parameters",
        ),
        ("https://hub.example.com/user/%252e%252e/admin", "(%25)"),
        ("https://hub.example.com/user/%C0%AE%C0%AE/admin", "UTF-8"),
        ("https://hub.example.com/user/%E0%80%AE/admin", "UTF-8"),
        ("https://hub.example.com/user/%C0%AF/admin", "UTF-8"),
    ] {
        let r = s.get(&flow(target, "s", &pair.public_pem), &as_user("t", "alice"));
        refused(&r, why);
        assert!(r.text().starts_with("target: "), "{}", r.text());
    }
    let m = s.get("/metrics", &[]).text();
    assert!(
        m.contains("token2go_flow_rejections_total{reason=\"target\"} 10"),
        "{m}"
    );
    assert!(
        m.contains("token2go_tokens_served_total") && !m.contains("route=\"flow_"),
        "{m}"
    );
}

/// Issue 16: segments that Unicode (NFKC) or Windows normalisation makes `.` or `..` passed
/// under an allowed prefix; outside the user's own segment they are refused now.
#[test]
fn unicode_and_windows_dot_segments_are_refused_under_a_prefix() {
    let s = TestServer::start(&[(
        "T2G_REDIRECT_ALLOWED_TARGETS",
        &format!("https://hub.example.com/shared/, {PER_USER}"),
    )]);
    let pair = keypair();
    let non_ascii = "percent-encoded non-ASCII";
    let dotted = "ending in '.' or a space";
    for (tail, why) in [
        ("%ef%bc%8e%ef%bc%8e/admin", non_ascii),
        ("%e2%80%a4%e2%80%a4/admin", non_ascii),
        (".../admin", dotted),
        ("..%20/admin", dotted),
        ("admin./x", dotted),
        ("admin%20/x", dotted),
    ] {
        for base in [
            "https://hub.example.com/shared/",
            "https://hub.example.com/user/alice/",
        ] {
            let target = format!("{base}{tail}");
            let r = s.get(
                &flow(&target, "s", &pair.public_pem),
                &as_user("t", "alice"),
            );
            refused(&r, why);
            assert!(r.text().starts_with("target: "), "{target}: {}", r.text());
        }
    }
    // The user's own segment may hold any name, escaped as JupyterHub does.
    let own = "https://hub.example.com/user/j%C3%BCrgen/cb";
    let r = s.get(&flow(own, "s", &pair.public_pem), &as_user("t", "jürgen"));
    assert_eq!(r.status, 303, "{}", r.text());
}

#[test]
fn paste_mode_off_refuses_the_urn_like_any_other_target() {
    let s = TestServer::start(&[("T2G_PASTE_MODE", "off"), ("T2G_FALLBACK_TOKEN", "t")]);
    let pair = keypair();
    let r = s.get(&flow(OOB, "s", &pair.public_pem), &[]);
    refused(&r, "target: paste mode is turned off on this server");
    let m = s.get("/metrics", &[]).text();
    assert!(
        m.contains("token2go_flow_rejections_total{reason=\"target\"} 1"),
        "{m}"
    );
    assert!(s.output().contains("paste_mode=off"));
}

const PASTE_WARNING: &str = "Continue only if you started <span class=\"inline-code\">token2go \
    --paste</span> (or a notebook) yourself just now and it shows this code. If someone sent you \
    this link, close this page.";

fn code_of(pair: &KeyPair) -> String {
    let public = pair.dir.join("2048-spki.pub");
    let out = python_ok(
        DECRYPT_PY,
        &["code", "--public", public.to_str().unwrap()],
        b"",
    );
    String::from_utf8(out).unwrap().trim().to_string()
}

#[test]
fn the_warning_comes_before_the_paste_block_and_cannot_be_skipped_by_a_link() {
    let s = TestServer::start(&[]);
    let pair = keypair();
    let code = code_of(&pair);
    let url = flow(OOB, "s", &pair.public_pem);
    let alice = as_user("alice-token", "alice");
    let warning = s.get(&url, &alice);
    assert_eq!(warning.status, 200);
    assert_eq!(warning.header("Cache-Control"), Some("no-store"));
    let page = warning.text();
    assert!(page.contains(PASTE_WARNING), "{page}");
    assert!(page.contains(&format!("<p class=\"vcode\" id=\"vcode\">{code}</p>")));
    assert!(page.contains("Signed in as <strong>alice</strong>"));
    assert!(!page.contains("BEGIN TOKEN2GO") && !page.contains("<textarea"));
    // The button shows the block.
    let link = confirm_link(&page);
    let block_page = s.get(&link, &alice);
    assert!(
        block_page
            .text()
            .contains("-----BEGIN TOKEN2GO RESPONSE-----")
    );
    assert!(!block_page.text().contains("useless"));
    // A link someone else confirmed, or one that claims confirm=1, only shows the warning again.
    for (link, headers) in [
        (link.clone(), as_user("mallory-token", "mallory")),
        (format!("{url}&confirm=1"), alice),
    ] {
        let r = s.get(&link, &headers);
        assert_eq!(r.status, 200);
        assert!(r.text().contains(PASTE_WARNING) && r.text().contains("id=\"mismatch\""));
        assert!(!r.text().contains("BEGIN TOKEN2GO"));
    }
    // confirm given twice is refused, as every flow parameter.
    refused(
        &s.get(&format!("{link}&confirm=x"), &alice),
        "confirm: given more than once",
    );
    let m = s.get("/metrics", &[]).text();
    assert!(
        m.contains("token2go_tokens_served_total{route=\"flow_paste\"} 1"),
        "{m}"
    );
}

#[test]
fn a_shared_target_gets_the_warning_a_user_target_does_not() {
    let s = TestServer::start(&[(
        "T2G_REDIRECT_ALLOWED_TARGETS",
        &format!("{SHARED}, {PER_USER}"),
    )]);
    let pair = keypair();
    let alice = as_user("alice-token", "alice");
    for mode in ["", "&responseMode=form_post"] {
        let url = format!(
            "{}{mode}",
            flow(
                "https://hub.example.com/shared/nb/cb?x=1",
                "s",
                &pair.public_pem
            )
        );
        let warning = s.get(&url, &alice);
        assert_eq!(warning.status, 200, "{}", warning.text());
        let page = warning.text();
        assert!(
            page.contains("<span class=\"inline-code\">hub.example.com</span>"),
            "{page}"
        );
        assert!(
            page.contains("<span class=\"inline-code\">/shared/nb/cb</span>"),
            "{page}"
        );
        assert!(page.contains("every user of this server") && !page.contains("key="));
        let r = s.get(&confirm_link(&page), &alice);
        if mode.is_empty() {
            assert_eq!(r.status, 303, "{}", r.text());
            let location = r.header("Location").unwrap();
            assert!(location.starts_with("https://hub.example.com/shared/nb/cb?x=1&key="));
        } else {
            assert_eq!(r.status, 200);
            assert!(r.text().contains("<form id=\"deliver\" method=\"post\""));
            let csp = r.header("Content-Security-Policy").unwrap();
            assert!(
                csp.contains("form-action https://hub.example.com 'self'"),
                "{csp}"
            );
        }
    }
    // Per-user and loopback targets go straight through.
    for target in [
        "https://hub.example.com/user/alice/cb",
        "http://127.0.0.1:9/cb",
    ] {
        let r = s.get(&flow(target, "s", &pair.public_pem), &alice);
        assert_eq!(r.status, 303, "{target}: {}", r.text());
    }
}

/// The warning page and its button in Chromium, with JavaScript and without it (the
/// `scriptEnabled=false` Blink setting): the first page shows the code and no block; the
/// button (a link) shows the block, which decrypts with the client's key.
#[test]
fn the_warning_page_works_in_chromium_with_and_without_javascript() {
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", "browser-warning-canary")]);
    let pair = keypair();
    let code = code_of(&pair);
    let url = server.url(&flow(OOB, "s", &pair.public_pem));
    let _one = one_browser_at_a_time();
    for (scripts, args) in [
        (true, &[][..]),
        (false, &["--blink-settings=scriptEnabled=false"][..]),
    ] {
        let browser = Browser::start_with(args);
        // Proof of the setting: page.js fills the token page's status only with scripts on.
        browser.goto(&server.url("/"));
        if scripts {
            browser.wait_until(
                "page.js",
                std::time::Duration::from_secs(10),
                "return document.getElementById('status').textContent === 'Token loaded.';",
            );
        } else {
            std::thread::sleep(std::time::Duration::from_millis(500));
            let status = browser.execute(
                "return document.getElementById('status').textContent;",
                json!([]),
            );
            assert_eq!(
                status,
                json!("Loading the token\u{2026}"),
                "scripts are off"
            );
        }
        browser.goto(&url);
        let shown = browser.execute(
            "return [document.getElementById('vcode').textContent,
                     document.getElementById('block') === null,
                     document.getElementById('warning').textContent.replace(/\\s+/g, ' ').trim()];",
            json!([]),
        );
        assert_eq!(shown[0], json!(code), "{scripts}");
        assert_eq!(
            shown[1],
            json!(true),
            "no block before the button: {scripts}"
        );
        assert!(
            shown[2].as_str().unwrap().starts_with(
                "Continue only if you started token2go --paste (or a notebook) yourself just now"
            ),
            "{shown}"
        );
        browser.click("#continue");
        let block = browser.wait_until(
            "the block",
            std::time::Duration::from_secs(10),
            "const b = document.getElementById('block'); return b ? b.value : null;",
        );
        let plain = python_decrypt(
            &pair.private,
            &["--paste", "-"],
            block.as_str().unwrap().as_bytes(),
        );
        let doc: serde_json::Value = serde_json::from_str(&plain).unwrap();
        assert_eq!(doc["secret"], "browser-warning-canary", "{scripts}");
    }
}

/// Values that must never reach a log line.
struct Canaries {
    token: String,
    state: &'static str,
    key_line: String,
}

fn audit_lines(out: &str, json: bool) -> Vec<String> {
    out.lines()
        .filter(|l| {
            if json {
                l.contains("\"log\":\"audit\"")
            } else {
                l.split(' ').nth(1) == Some("audit")
            }
        })
        .map(str::to_string)
        .collect()
}

/// One line's fields: the JSON object, or the text line's `name=value` pairs (a quoted value
/// without its quotes, escapes kept as written) with `time` and `event` for the first words.
fn fields(line: &str, json: bool) -> serde_json::Map<String, serde_json::Value> {
    if json {
        return serde_json::from_str::<serde_json::Value>(line)
            .unwrap()
            .as_object()
            .unwrap()
            .clone();
    }
    let mut map = serde_json::Map::new();
    let mut words = line.splitn(4, ' ');
    map.insert("time".into(), json!(words.next().unwrap()));
    assert_eq!(words.next(), Some("audit"));
    map.insert("event".into(), json!(words.next().unwrap()));
    let mut rest = words.next().unwrap_or_default();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=').unwrap();
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => {
                let mut end = 0;
                let bytes = quoted.as_bytes();
                while bytes[end] != b'"' {
                    end += if bytes[end] == b'\\' { 2 } else { 1 };
                }
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_at(after.find(' ').unwrap_or(after.len())),
        };
        map.insert(name.into(), json!(value));
        rest = after.trim_start_matches(' ');
    }
    map
}

#[test]
fn audit_lines_for_each_event_in_both_formats_without_secrets() {
    let pair = keypair();
    for format in ["text", "json"] {
        let is_json = format == "json";
        let s = TestServer::start(&[
            ("T2G_LOG_FORMAT", format),
            ("T2G_REDIRECT_ALLOWED_TARGETS", PER_USER),
        ]);
        let canaries = Canaries {
            token: unsigned_jwt(
                r#"{"sub":"sub-7","exp":1900000000,"email":"e@example.com"}"#,
                "canaryTokenSignature4f1d",
            ),
            state: "canary-state-93ab",
            key_line: pair.public_pem.lines().nth(2).unwrap().to_string(),
        };
        let fp = token2go::server::token::fingerprint(&canaries.token)[..16].to_string();
        let gateway = [
            ("X-Forwarded-Access-Token", canaries.token.as_str()),
            ("X-Forwarded-User", "al\u{202e}ice"),
            ("X-Forwarded-For", "203.0.113.9, \u{2066}proxy"),
        ];
        let pem = &pair.public_pem;
        let mut secrets: Vec<String> = Vec::new();

        // /token: one line.
        assert_eq!(s.get("/token", &gateway).status, 200);
        // A redirect and a form_post page to Alice's own place... as al<RLO>ice.
        let own = "https://hub.example.com/user/al%E2%80%AEice/cb";
        let r = s.get(&flow(own, canaries.state, pem), &gateway);
        assert_eq!(r.status, 303, "{}", r.text());
        let location = r.header("Location").unwrap().to_string();
        for name in ["key", "nonce", "payload"] {
            let value = location
                .split(['?', '&'])
                .find_map(|p| p.strip_prefix(&format!("{name}=")))
                .unwrap();
            secrets.push(value.to_string());
        }
        let r = s.get(
            &format!("{}&responseMode=form_post", flow(own, canaries.state, pem)),
            &gateway,
        );
        assert_eq!(r.status, 200);
        let page = r.text();
        for name in ["key", "nonce", "payload"] {
            let marker = format!("name=\"{name}\" value=\"");
            let at = page.find(&marker).unwrap() + marker.len();
            secrets.push(page[at..at + page[at..].find('"').unwrap()].to_string());
        }
        // Paste mode: the warning is no hand-out; the block is.
        let warning = s.get(&flow(OOB, canaries.state, pem), &gateway);
        let block = s.get(&confirm_link(&warning.text()), &gateway).text();
        let block_start = block.find("-----BEGIN TOKEN2GO RESPONSE-----\n").unwrap() + 34;
        secrets.push(block[block_start..block_start + 40].to_string());
        // Refusals: another user's place, and no token at all.
        let r = s.get(
            &flow("https://hub.example.com/user/bob/cb", canaries.state, pem),
            &gateway,
        );
        assert_eq!(r.status, 400);
        let r = s.get(
            &flow("http://127.0.0.1:9/cb", canaries.state, pem),
            &[("X-Forwarded-User", "carol")],
        );
        assert_eq!(r.status, 303, "the no_token flow error");
        assert!(r.header("Location").unwrap().contains("?error=no_token&"));

        let out = s.wait_for_output("no_token");
        let lines = audit_lines(&out, is_json);
        assert_eq!(lines.len(), 6, "{format}: {out}");
        for line in &lines {
            assert!(line.bytes().all(|b| (0x20..0x7f).contains(&b)), "{line:?}");
        }
        let all = lines.join("\n");
        for secret in [
            canaries.token.as_str(),
            "canaryTokenSignature4f1d",
            canaries.state,
            canaries.key_line.as_str(),
        ]
        .into_iter()
        .chain(secrets.iter().map(String::as_str))
        {
            assert!(!out.contains(secret), "{format}: {secret} in {out}");
        }
        let f: Vec<_> = lines.iter().map(|l| fields(l, is_json)).collect();
        let (user, xff) = if is_json {
            ("al\u{202e}ice", "203.0.113.9, \u{2066}proxy")
        } else {
            ("al\\u{202E}ice", "203.0.113.9, \\u{2066}proxy")
        };
        let routes: Vec<&str> = f.iter().map(|m| m["route"].as_str().unwrap()).collect();
        assert_eq!(
            routes,
            [
                "token",
                "flow_redirect",
                "flow_form_post",
                "flow_paste",
                "flow",
                "flow"
            ]
        );
        for (i, m) in f.iter().enumerate().take(4) {
            assert_eq!(m["event"], "token_served", "{all}");
            assert_eq!(m["user"], user, "{all}");
            assert_eq!(m["fingerprint"], fp.as_str());
            assert_eq!(m["sub"], "sub-7");
            assert_eq!(m["exp"], "2030-03-17T17:46:40Z");
            assert_eq!(m["forwarded_for"], xff, "{all}");
            assert!(m["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
            if i > 0 {
                assert_eq!(m["code"].as_str().unwrap().len(), 9, "{all}");
            }
        }
        let own_target = "https://hub.example.com/user/al%E2%80%AEice/cb";
        assert_eq!(f[1]["target"], own_target);
        assert_eq!(f[2]["target"], own_target);
        assert_eq!(f[3]["target"], OOB);
        assert_eq!(f[4]["event"], "flow_refused");
        assert_eq!(f[4]["reason"], "target");
        assert!(f[4].get("fingerprint").is_none() && f[4].get("target").is_none());
        assert_eq!(f[5]["reason"], "no_token");
        assert_eq!(f[5]["user"], "carol");
        let absent = if is_json { json!(null) } else { json!("-") };
        assert_eq!(f[5]["forwarded_for"], absent);
        let detail = f[4]["detail"].as_str().unwrap();
        assert!(
            detail.contains("belongs") && detail.contains("user"),
            "{detail}"
        );
    }
}

/// Issue 16: a client that does not encode `&` in `state` makes the tail of the state a
/// parameter name; a bad escape there used to put up to 40 characters of it in the refusal's
/// audit detail. Unknown names are never repeated, to the client or in any log line.
#[test]
fn a_refused_flow_never_repeats_an_unknown_parameter_name() {
    let pair = keypair();
    let s = TestServer::start(&[]);
    let tail = "stateTail-7c2e91";
    for bad in [
        format!("{tail}%zz=1"),
        format!("{tail}=%zz"),
        format!("{tail}=%ff"),
    ] {
        let path = format!(
            "/flow/redirect/token?target={}&state=head&{bad}&publicKeyType={KEY_TYPE}&publicKey={}",
            enc("http://127.0.0.1:9/cb"),
            enc(&pair.public_pem)
        );
        let r = s.get(&path, &[("X-Forwarded-Access-Token", "t")]);
        refused(&r, "query: ");
        assert!(r.text().contains("unknown parameter"), "{}", r.text());
        assert!(!r.text().contains("stateTail"), "{}", r.text());
    }
    let out = s.wait_for_output("audit flow_refused");
    assert_eq!(out.matches(" audit flow_refused ").count(), 3, "{out}");
    assert!(!out.contains("stateTail"), "{out}");
    // A known name is still named.
    let r = s.get("/flow/redirect/token?target=%zz", &[]);
    refused(&r, "target: invalid percent-encoding");
}

/// Issue 16 §1: a page of another site navigates the signed-in user's browser to a flow link
/// whose loopback target is another local account's listener. Fetch Metadata names such a
/// request; it gets the warning page, whatever the target, before any token leaves.
#[test]
fn a_flow_request_another_site_started_gets_the_warning_first() {
    let token = "canary-FetchMetadata-6b0e";
    let s = TestServer::start(&[]);
    let pair = keypair();
    let target = "http://127.0.0.1:18999/x";
    let url = format!(
        "{}&responseMode=form_post",
        flow(target, "st", &pair.public_pem)
    );
    let with = |site: Option<&str>| {
        let mut headers = vec![("Authorization", token), ("Sec-Fetch-Mode", "navigate")];
        headers.extend(site.map(|site| ("Sec-Fetch-Site", site)));
        s.get(&url, &headers)
    };
    for site in ["cross-site", "same-site"] {
        let r = with(Some(site));
        assert_eq!(r.status, 200, "{site}: {}", r.text());
        let page = r.text();
        assert!(page.contains("id=\"cross-site\""), "{site}: {page}");
        assert!(
            page.contains(&code_of(&pair)),
            "{site}: the verification code"
        );
        assert!(page.contains("127.0.0.1:18999"), "{site}: the target");
        assert!(
            !page.contains("name=\"payload\"") && !page.contains("<form"),
            "{site}: no token on the warning page: {page}"
        );
        assert_eq!(
            r.header("Content-Security-Policy"),
            Some(PAGE_CSP),
            "{site}: the strict policy, no form-action to the target"
        );
        // The person's click on the page's button is a same-origin navigation: delivered.
        let link = confirm_link(&page);
        let r = s.get(
            &link,
            &[
                ("Authorization", token),
                ("Sec-Fetch-Site", "same-origin"),
                ("Sec-Fetch-Mode", "navigate"),
            ],
        );
        assert_eq!(r.status, 200, "{site}: {}", r.text());
        assert!(r.text().contains("name=\"payload\""), "{site}: delivered");
    }
    // The program opened it (none), a page of this server did (same-origin), or no Fetch
    // Metadata at all (older browsers, scripts): straight through, as before.
    for site in [Some("none"), Some("same-origin"), None] {
        let r = with(site);
        assert_eq!(r.status, 200, "{site:?}: {}", r.text());
        assert!(r.text().contains("name=\"payload\""), "{site:?}: delivered");
    }
    // Query mode too: the warning, never a redirect.
    let r = s.get(
        &flow(target, "st", &pair.public_pem),
        &[("Authorization", token), ("Sec-Fetch-Site", "cross-site")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("Location").is_none());
    // Without any token: nothing to confirm with, nothing sent; the person reads why.
    let r = s.get(&url, &[("Sec-Fetch-Site", "cross-site")]);
    assert_eq!(r.status, 444, "{}", r.text());
    assert!(r.header("Location").is_none() && !r.text().contains("<form"));
    // 2 confirmed + 3 direct deliveries; the warnings are no hand-out.
    let m = s.get("/metrics", &[]).text();
    assert!(
        m.contains("token2go_tokens_served_total{route=\"flow_form_post\"} 5\n"),
        "{m}"
    );
    assert!(!m.contains("route=\"flow_redirect\""), "{m}");
    assert!(!s.output().contains(token));
}

const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// The same in Chromium, whose Fetch Metadata the rule reads: a link on another site's page
/// (`localhost` is another site than `127.0.0.1`) leads to the warning page and nothing reaches
/// the listener; the person's click on the button delivers.
#[test]
fn in_chromium_a_link_from_another_site_costs_one_click() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!(
        "http://127.0.0.1:{}/cb",
        listener.local_addr().unwrap().port()
    );
    listener.set_nonblocking(true).unwrap();
    let received = std::thread::spawn(move || {
        // Polled, so a test that fails does not hang on accept.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                Err(e) => return format!("no request: {e}"),
            }
        };
        stream.set_nonblocking(false).unwrap();
        let mut head = [0u8; 4096];
        let n = stream.read(&mut head).unwrap_or(0);
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        String::from_utf8_lossy(&head[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    });
    let victim = TestServer::start(&[("T2G_FALLBACK_TOKEN", "chromium-cross-site-canary")]);
    let pair = keypair();
    let link = victim.url(&flow(&target, "st", &pair.public_pem));
    let misc = format!(
        "<a id=\"evil\" href=\"{}\">win a prize</a>",
        link.replace('&', "&amp;")
    );
    let attacker = TestServer::start(&[("T2G_UI_MISC", misc.as_str())]);
    let attacker_page = attacker.url("/").replace("127.0.0.1", "localhost");

    let _one = one_browser_at_a_time();
    let browser = Browser::start();
    browser.goto(&attacker_page);
    browser.click("#evil");
    let code = browser.wait_until(
        "the warning page",
        std::time::Duration::from_secs(10),
        "const c = document.getElementById('vcode');
         return c && document.getElementById('cross-site') ? c.textContent : null;",
    );
    assert_eq!(code, json!(code_of(&pair)));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !received.is_finished(),
        "nothing reached the listener before the click"
    );
    browser.click("#continue");
    let line = received.join().unwrap();
    assert!(
        line.starts_with("GET /cb?key=") && line.contains("&payload="),
        "{line}"
    );
}

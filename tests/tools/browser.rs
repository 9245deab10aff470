//! The pages in a real browser: headless Chromium driven over WebDriver (chromedriver) against
//! the real binary. Checks what page.js puts in the DOM, the Copy buttons through the real
//! (headless) clipboard, and that no page logs a CSP violation or a console error.
//! Needs `chromium` and `chromedriver`; the tests fail when either is missing.

use std::sync::OnceLock;
use std::time::Duration;

use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::json;

use crate::harness::{TestServer, confirm_link, enc, unix_now, unsigned_jwt};

/// A token expiring at `exp`.
fn jwt(exp: u64) -> String {
    unsigned_jwt(
        &format!(r#"{{"sub":"browser-test","exp":{exp}}}"#),
        "c2lnbmF0dXJl",
    )
}
use crate::webdriver::{
    Browser, LogEntry, WAIT, one_browser_at_a_time, problems, wait_for_token_requests,
};
use token2go::flow::crypto::{open, parse_paste_block};
use token2go::flow::pubkey::{KeyType, parse_public_key, verification_code};
use token2go::server::token::fingerprint;

const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";
const KEY_TYPE: &str = "rsa2048-rfc5280-x509-pem";

fn client_key() -> &'static rsa::PrivateKey {
    static KEY: OnceLock<rsa::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("RSA key generation")
    })
}

/// The flow URL in paste mode for the client key, and the verification code the page must show.
fn paste_flow(server: &TestServer) -> (String, String) {
    let pem = client_key()
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let public = parse_public_key(KeyType::parse(KEY_TYPE).unwrap(), &pem)
        .expect("the generated key is accepted");
    let path = format!(
        "/flow/redirect/token?target={}&state=x&publicKeyType={KEY_TYPE}&publicKey={}",
        enc(OOB),
        enc(&pem)
    );
    (server.url(&path), verification_code(&public))
}

/// The paste page itself: the warning page's confirmed link, fetched as the browser would.
fn confirmed_url(server: &TestServer, warning_url: &str) -> String {
    let path = warning_url.strip_prefix(&server.url("")).unwrap();
    let warning = server.get(path, &[]);
    assert_eq!(warning.status, 200, "{}", warning.text());
    server.url(&confirm_link(&warning.text()))
}

/// Every resource the page loaded (document, scripts, styles, fetches) answered 200.
fn assert_resources_ok(browser: &Browser, page: &str) {
    let failed = browser.execute(
        "return performance.getEntriesByType('navigation')
             .concat(performance.getEntriesByType('resource'))
             .filter((e) => e.responseStatus !== 200)
             .map((e) => e.name + ' ' + e.responseStatus);",
        json!([]),
    );
    assert_eq!(failed, json!([]), "{page}: resources not answered 200");
}

/// PNG signature and the IHDR width and height of a screenshot.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn index_shows_token_fingerprint_expiry_and_title() {
    let exp = unix_now() + 2 * 3600 + 600;
    let token = jwt(exp);
    let server = TestServer::start(&[
        ("T2G_FALLBACK_TOKEN", &token),
        ("T2G_UI_TARGET", "Acme Data"),
    ]);
    let _one = one_browser_at_a_time();
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    assert_eq!(browser.wait_for_token(), token);

    assert_eq!(
        browser.execute("return document.title;", json!([])),
        "Token2go | Acme Data"
    );
    assert_eq!(
        browser.execute(
            "return document.querySelector('h1').textContent;",
            json!([])
        ),
        "Token2go | Acme Data"
    );
    assert_eq!(
        browser.execute(
            "return document.querySelector('.lead').textContent;",
            json!([])
        ),
        "Get a token for Acme Data with the Token2go service"
    );
    assert_eq!(browser.text_of("fingerprint"), fingerprint(&token));
    assert_eq!(browser.text_of("status"), "Token loaded.");
    assert!(!browser.text_of("timestamp").is_empty());

    // The expiry comes from the JWT's exp through /token's expiresAt; formatted by the browser's
    // locale, so the expected text is formatted there too.
    let expected = browser.execute(
        "return new Date(arguments[0] * 1000).toLocaleString() + ' (' +
             new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }).format(2, 'hour') + ')';",
        json!([exp]),
    );
    assert_eq!(json!(browser.text_of("expires")), expected);
    assert!(browser.text_of("expires").contains("in 2 hours"));
    assert_eq!(
        browser.execute(
            "return document.getElementById('expires').classList.contains('expired');",
            json!([])
        ),
        false
    );
    assert_eq!(
        browser.execute(
            "return ['copy', 'reload', 'delete'].map((id) => document.getElementById(id).disabled);",
            json!([])
        ),
        json!([false, false, false])
    );
    assert_eq!(
        browser.execute("return document.getElementById('error').hidden;", json!([])),
        true
    );

    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("t2g-browser-index.png");
    let png = browser.screenshot(&path);
    let (width, height) = png_size(&png);
    assert!(width >= 800 && height >= 600, "screenshot {width}x{height}");
    println!("index page screenshot: {}", path.display());
}

#[test]
fn copy_puts_the_token_on_the_clipboard() {
    let token = jwt(unix_now() + 3600);
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", &token)]);
    let _one = one_browser_at_a_time();
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    browser.grant("clipboard-read");
    browser.grant("clipboard-write");
    assert_eq!(browser.wait_for_token(), token);
    // Something else first, so reading the token back proves the button wrote it.
    browser.set_clipboard_text("not the token");
    assert_eq!(browser.clipboard_text(), "not the token");

    browser.click("#copy");
    browser.wait_until(
        "the copied message",
        WAIT,
        "return document.getElementById('status').textContent === 'Token copied to the clipboard.'
             && document.getElementById('status').classList.contains('ok');",
    );
    assert_eq!(browser.clipboard_text(), token);
    // The field is not left selected (the legacy path selects it; the async one must not).
    assert_eq!(
        browser.execute(
            "const f = document.getElementById('secret'); return f.selectionEnd - f.selectionStart;",
            json!([])
        ),
        0
    );
}

/// Where the asynchronous clipboard API is missing (plain http on a non-loopback host is not a
/// secure context) page.js falls back to selecting the field and `execCommand("copy")`. The
/// page is opened as `http://t2g.test:<port>/`, a name Chromium maps to 127.0.0.1 itself; the
/// clipboard is read back from a second tab on the secure loopback origin. With a fallback token
/// the server answers that name only because `T2G_ALLOWED_HOSTS` lists it (DNS rebinding).
#[test]
fn copy_falls_back_to_exec_command_outside_a_secure_context() {
    let token = jwt(unix_now() + 3600);
    let server = TestServer::start(&[
        ("T2G_FALLBACK_TOKEN", &token),
        ("T2G_ALLOWED_HOSTS", "t2g.test"),
    ]);
    let _one = one_browser_at_a_time();
    let browser = Browser::start_with(&[
        "--host-resolver-rules=MAP t2g.test 127.0.0.1",
        "--proxy-bypass-list=t2g.test",
    ]);
    browser.goto(&server.url("/health"));
    browser.grant("clipboard-read");
    browser.grant("clipboard-write");
    browser.set_clipboard_text("not the token");
    let secure_tab = browser.current_tab();

    browser.open_tab();
    browser.goto(&format!("http://t2g.test:{}/", server.addr.port()));
    assert_eq!(browser.wait_for_token(), token);
    assert_eq!(
        browser.execute(
            "return [window.isSecureContext, navigator.clipboard === undefined];",
            json!([])
        ),
        json!([false, true])
    );
    browser.click("#copy");
    browser.wait_until(
        "the copied message",
        WAIT,
        "return document.getElementById('status').textContent === 'Token copied to the clipboard.';",
    );
    // The fallback selected the field to copy it, then collapsed the selection again.
    assert_eq!(
        browser.execute(
            "const f = document.getElementById('secret'); return f.selectionEnd - f.selectionStart;",
            json!([])
        ),
        0
    );

    browser.switch_to(&secure_tab);
    assert_eq!(browser.clipboard_text(), token);
}

#[test]
fn delete_clears_and_reload_fetches_again() {
    let token = jwt(unix_now() + 3600);
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", &token)]);
    let _one = one_browser_at_a_time();
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    assert_eq!(browser.wait_for_token(), token);
    // The access log line is written just after the answer: wait for it.
    let fetched = wait_for_token_requests(&server, 1);

    browser.click("#delete");
    let state = browser.execute(
        "const $ = (id) => document.getElementById(id);
         return [$('secret').value, $('fingerprint').textContent, $('timestamp').textContent,
                 $('token').hidden, $('copy').disabled, $('delete').disabled, $('reload').disabled,
                 $('status').textContent];",
        json!([]),
    );
    assert_eq!(
        state,
        json!([
            "",
            "",
            "",
            true,
            true,
            true,
            false,
            "Token removed from this page. Reload fetches it again."
        ])
    );
    assert!(
        !browser
            .execute("return document.body.innerText;", json!([]))
            .as_str()
            .unwrap()
            .contains(&token)
    );

    browser.click("#reload");
    assert_eq!(browser.wait_for_token(), token);
    assert_eq!(browser.text_of("fingerprint"), fingerprint(&token));
    assert_eq!(browser.text_of("status"), "Token loaded.");
    wait_for_token_requests(&server, fetched + 1);
}

#[test]
fn no_token_shows_the_444_reason() {
    let server = TestServer::start(&[("T2G_ADD_TOKEN_HEADER_NAMES", "X-Browser-Test-Token")]);
    let reason = server.get("/token", &[]);
    assert_eq!(reason.status, 444);
    let reason = reason.text().trim().to_string();
    assert!(
        reason.starts_with("Token not found. Looking for: Access-Token, Authorization")
            && reason.ends_with("X-Browser-Test-Token"),
        "{reason}"
    );
    let _one = one_browser_at_a_time();
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    browser.wait_until(
        "the error box",
        WAIT,
        "return !document.getElementById('error').hidden;",
    );
    assert_eq!(browser.text_of("error-text"), reason);
    // The one console error is the failed load of /token itself; nothing else, no CSP report.
    let found = problems(browser.take_log());
    assert!(
        found.len() == 1
            && found[0].source == "network"
            && found[0].message.ends_with(
                "/token - Failed to load resource: the server responded with a status of 444 \
                 (Token Not Found)"
            ),
        "{found:#?}"
    );
    let state = browser.execute(
        "const $ = (id) => document.getElementById(id);
         return [$('token').hidden, $('secret').value, $('copy').disabled, $('delete').disabled,
                 $('reload').disabled, $('status').textContent];",
        json!([]),
    );
    assert_eq!(state, json!([true, "", true, true, false, ""]));
    assert!(
        browser
            .execute("return document.body.innerText;", json!([]))
            .as_str()
            .unwrap()
            .contains("No token available.")
    );
}

#[test]
fn pages_log_no_csp_violation_or_console_error() {
    let token = jwt(unix_now() + 3600);
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", &token)]);
    let (warning_url, _) = paste_flow(&server);
    let paste_url = confirmed_url(&server, &warning_url);
    let _one = one_browser_at_a_time();
    let browser = Browser::start();
    let ready = "return document.readyState === 'complete';";
    let pages = [
        (
            "/",
            server.url("/"),
            "return document.getElementById('status').textContent === 'Token loaded.';",
        ),
        ("warning page", warning_url, ready),
        ("paste page", paste_url, ready),
        (
            "/flow/redirect/done",
            server.url("/flow/redirect/done"),
            ready,
        ),
        (
            "/swagger-ui/",
            server.url("/swagger-ui/"),
            "return Array.from(document.querySelectorAll('.opblock .opblock-summary-path'))
                 .some((e) => e.textContent.trim() === '/token');",
        ),
    ];
    for (name, page_url, condition) in &pages {
        browser.take_log();
        browser.goto(page_url);
        browser.wait_until(name, WAIT, condition);
        // Late console messages (a failed icon, a rejected promise) have a moment to arrive.
        std::thread::sleep(Duration::from_millis(300));
        let found = problems(browser.take_log());
        assert!(found.is_empty(), "{name}: {found:#?}");
        assert_resources_ok(&browser, name);
    }
    // The Swagger UI page rendered the API, not an error.
    assert_eq!(
        browser.execute(
            "return [document.querySelectorAll('.opblock').length > 5,
                     document.querySelector('.errors-wrapper') === null,
                     document.body.innerText.includes('Failed to load')];",
            json!([])
        ),
        json!([true, true, false])
    );
    assert!(
        browser
            .execute("return document.body.innerText;", json!([]))
            .as_str()
            .unwrap()
            .contains("/flow/redirect/token")
    );
}

/// The README's promise for `T2G_UI_DESC2`/`T2G_UI_MISC` (trusted HTML, inserted as is): the
/// CSP still blocks inline script and inline style, and the browser log reports both, which
/// also shows that the log check above can see a violation.
#[test]
fn operator_inline_script_and_style_are_blocked_and_reported() {
    let server = TestServer::start(&[
        ("T2G_FALLBACK_TOKEN", "operator-html-test"),
        (
            "T2G_UI_DESC2",
            "<b id=\"desc2\">Docs</b><script>window.inlineRan = true;</script>",
        ),
        (
            "T2G_UI_MISC",
            "<p id=\"styled\" style=\"color: rgb(255, 0, 0)\">Support</p>",
        ),
    ]);
    let _one = one_browser_at_a_time();
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    assert_eq!(browser.wait_for_token(), "operator-html-test");
    assert_eq!(
        browser.execute(
            "return [document.getElementById('desc2').textContent,
                     document.getElementById('styled').textContent,
                     window.inlineRan === undefined,
                     getComputedStyle(document.getElementById('styled')).color !== 'rgb(255, 0, 0)'];",
            json!([])
        ),
        json!(["Docs", "Support", true, true])
    );
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        seen.extend(problems(browser.take_log()));
        let reported = |what: &str| {
            seen.iter().any(|e: &LogEntry| {
                e.source == "security"
                    && e.message.contains(what)
                    && e.message.contains("Content Security Policy")
            })
        };
        if reported("inline script") && reported("inline style") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the browser log did not report both violations: {seen:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn paste_page_copies_the_block_and_shows_the_code() {
    let token = jwt(unix_now() + 3600);
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", &token)]);
    let (paste_url, code) = paste_flow(&server);
    let _one = one_browser_at_a_time();
    let browser = Browser::start();
    browser.goto(&paste_url);
    // The warning page first: the code, no block; its button shows the block.
    assert_eq!(browser.text_of("vcode"), code);
    browser.click("#continue");
    browser.wait_until(
        "the paste page",
        WAIT,
        "return document.getElementById('block') !== null && document.readyState === 'complete';",
    );
    browser.grant("clipboard-read");
    browser.grant("clipboard-write");
    assert_eq!(browser.text_of("vcode"), code);
    assert!(
        browser
            .execute(
                "return document.querySelector('.warning').textContent;",
                json!([])
            )
            .as_str()
            .unwrap()
            .contains(&format!(
                "only if it shows the same verification code: {code}."
            ))
    );
    browser.set_clipboard_text("not the block");
    assert_eq!(browser.clipboard_text(), "not the block");

    browser.click("#copy");
    browser.wait_until(
        "the copied message",
        WAIT,
        "return document.getElementById('status').textContent === 'Copied. Paste it into your program.';",
    );
    let copied = browser.clipboard_text();
    assert!(
        copied.starts_with("-----BEGIN TOKEN2GO RESPONSE-----\n")
            && copied.ends_with("\n-----END TOKEN2GO RESPONSE-----"),
        "{copied}"
    );
    assert!(copied.lines().all(|line| line.len() <= 64), "{copied}");
    assert_eq!(
        json!(copied),
        browser.execute("return document.getElementById('block').value;", json!([]))
    );
    // What was copied is the token, encrypted for the client's key.
    let sealed = parse_paste_block(&copied).expect("the block parses");
    let plain = open(client_key(), &sealed).expect("the block decrypts");
    let doc: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(doc["secret"], token.as_str());
    assert_eq!(doc["fingerprint"], fingerprint(&token).as_str());

    // The click scrolled to the button; the screenshot shows the page from its top.
    browser.execute("window.scrollTo(0, 0);", json!([]));
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("t2g-browser-paste.png");
    let png = browser.screenshot(&path);
    let (width, height) = png_size(&png);
    assert!(width >= 800 && height >= 600, "screenshot {width}x{height}");
    println!("paste page screenshot: {}", path.display());
}

/// A stand-in for a client's loopback listener: takes one POST, keeps its body, and answers
/// 303 to `done` as the clients do.
fn one_post_listener(done: String) -> (String, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!("http://{}/cb?from=test", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        loop {
            let (stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(WAIT)).unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let answer = if line.starts_with("POST /cb?from=test ") {
                format!(
                    "HTTP/1.1 303 See Other\r\nLocation: {done}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            };
            reader.get_mut().write_all(answer.as_bytes()).unwrap();
            if line.starts_with("POST ") {
                return String::from_utf8(body).unwrap();
            }
        }
    });
    (target, handle)
}

#[test]
fn form_post_page_delivers_the_token_and_follows_the_clients_redirect() {
    let token = jwt(unix_now() + 3600);
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", &token)]);
    let done = server.url("/flow/redirect/done");
    let (target, listener) = one_post_listener(done.clone());
    let pem = client_key()
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let url = server.url(&format!(
        "/flow/redirect/token?target={}&state=st%2Bate&publicKeyType={KEY_TYPE}&publicKey={}&responseMode=form_post",
        enc(&target),
        enc(&pem)
    ));
    let _one = one_browser_at_a_time();
    let browser = Browser::start();
    browser.take_log();
    browser.goto(&url);
    browser.wait_until(
        "the client's redirect to the done page",
        WAIT,
        "return location.pathname === '/flow/redirect/done' && document.readyState === 'complete';",
    );
    let body = listener.join().unwrap();
    let fields: Vec<(String, String)> = body
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap();
            let decode = |s: &str| {
                let bytes = s.replace('+', " ");
                let mut out = Vec::new();
                let mut it = bytes.bytes();
                while let Some(b) = it.next() {
                    if b == b'%' {
                        let hex: String = [it.next().unwrap(), it.next().unwrap()]
                            .iter()
                            .map(|&c| c as char)
                            .collect();
                        out.push(u8::from_str_radix(&hex, 16).unwrap());
                    } else {
                        out.push(b);
                    }
                }
                String::from_utf8(out).unwrap()
            };
            (decode(name), decode(value))
        })
        .collect();
    let get = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{name} missing from {body}"))
    };
    assert_eq!(get("state"), "st+ate");
    let sealed =
        token2go::flow::crypto::sealed_from_params(get("key"), get("nonce"), get("payload"))
            .expect("the fields are the redirect's values");
    let plain = open(client_key(), &sealed).expect("the fields decrypt");
    let doc: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(doc["secret"], token.as_str());
    let found = problems(browser.take_log());
    assert!(found.is_empty(), "{found:#?}");
}

//! The token page in real headless Chromium (WebDriver, plus CDP through chromedriver for
//! emulation and the accessibility tree) against the real binary: JWT claims and the expiry
//! countdown, every copy form read back from the clipboard, auto-copy and auto-delete with their
//! saved preferences, the 444 and network-error states, what a gateway may answer instead of the
//! token (through a stand-in gateway), dark mode, a 360 px phone, keyboard use, accessible
//! names, no layout shift, no console error and no CSP violation on any page. Writes
//! screenshots to `target/screenshots/` (`scripts/screenshots.sh` copies the light one into the
//! README). Needs `chromium` and `chromedriver`; the tests fail when either is missing.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{TestServer, enc, unix_now, unsigned_jwt};

fn jwt(claims: &Value) -> String {
    unsigned_jwt(&claims.to_string(), "c2lnbmF0dXJl")
}
use crate::webdriver::{
    Browser, LogEntry, WAIT, one_browser_at_a_time, problems, wait_for_token_requests,
};

const EXAMPLE_URL: &str = "https://api.example.com/v1/items";
const PUBLIC_KEY: &str = include_str!("../support/public-key-rsa2048.pem");

/// A token as a gateway in front of an API would pass it: the claims people look at.
fn demo_jwt(exp: u64) -> String {
    jwt(&json!({
        "iss": "https://login.example.com/realms/acme",
        "sub": "7f3a9c1e-42b8-4d1a-9e55-0c6d2b8f1a23",
        "preferred_username": "jane.doe",
        "aud": ["acme-api", "reports"],
        "scope": "openid profile reports:read",
        "realm_access": {"roles": ["analyst", "viewer"]},
        "iat": exp - 3600,
        "exp": exp,
    }))
}

/// Where the test run leaves its screenshots: `target/screenshots/`.
fn screenshot_path(name: &str) -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent()
        .expect("CARGO_TARGET_TMPDIR is inside target/")
        .join("screenshots")
        .join(name)
}

fn hidden(browser: &Browser, id: &str) -> bool {
    browser
        .execute(
            "return document.getElementById(arguments[0]).hidden;",
            json!([id]),
        )
        .as_bool()
        .unwrap()
}

fn wait_for_status(browser: &Browser, status: &str) {
    browser.wait_until(
        &format!("status {status:?}"),
        WAIT,
        &format!(
            "return document.getElementById('status').textContent === {};",
            json!(status)
        ),
    );
}

/// Whether the page can be scrolled sideways, and the widest element when it can.
fn horizontal_overflow(browser: &Browser) -> Value {
    browser.execute(
        "const root = document.documentElement;
         if (root.scrollWidth <= root.clientWidth) return null;
         let widest = null;
         for (const e of document.querySelectorAll('body *')) {
           const r = e.getBoundingClientRect();
           if (r.right > root.clientWidth + 0.5 && (!widest || r.right > widest[1])) {
             widest = [e.tagName + '#' + e.id + '.' + e.className, r.right];
           }
         }
         return [root.scrollWidth, root.clientWidth, widest];",
        json!([]),
    )
}

#[test]
fn screenshots_light_dark_phone_and_444() {
    let _one = one_browser_at_a_time();
    let exp = unix_now() + 42 * 60 + 30;
    let token = demo_jwt(exp);
    let server = TestServer::start(&[
        ("T2G_FALLBACK_TOKEN", &token),
        ("T2G_UI_TARGET", "Acme Data"),
        ("T2G_UI_EXAMPLE_URL", EXAMPLE_URL),
    ]);
    let no_token = TestServer::start(&[("T2G_UI_TARGET", "Acme Data")]);
    let browser = Browser::start();

    browser.goto(&server.url("/"));
    assert_eq!(browser.wait_for_token(), token);
    let png = browser.screenshot_full_page(&screenshot_path("page-light.png"));
    assert!(png.len() > 10_000);

    browser.set_color_scheme("dark");
    browser.goto(&server.url("/"));
    assert_eq!(browser.wait_for_token(), token);
    browser.screenshot_full_page(&screenshot_path("page-dark.png"));

    browser.set_viewport(360, 780, true);
    browser.goto(&server.url("/"));
    assert_eq!(browser.wait_for_token(), token);
    browser.screenshot_full_page(&screenshot_path("page-phone-dark.png"));
    browser.set_color_scheme("light");
    browser.goto(&server.url("/"));
    assert_eq!(browser.wait_for_token(), token);
    browser.screenshot_full_page(&screenshot_path("page-phone-light.png"));
    browser.reset_viewport();

    browser.goto(&no_token.url("/"));
    browser.wait_until(
        "the 444 box",
        WAIT,
        "return !document.getElementById('error').hidden;",
    );
    browser.screenshot_full_page(&screenshot_path("page-444.png"));

    // An expired token, and a pending auto-delete.
    let expired = TestServer::start(&[("T2G_FALLBACK_TOKEN", &demo_jwt(unix_now() - 90))]);
    browser.goto(&expired.url("/"));
    browser.execute(
        "localStorage.setItem('autoDelete', 'true'); localStorage.setItem('autoDeleteDelay', '60');",
        json!([]),
    );
    browser.goto(&expired.url("/"));
    browser.wait_until(
        "the expired countdown",
        WAIT,
        "return document.getElementById('countdown').textContent === 'expired';",
    );
    browser.screenshot_full_page(&screenshot_path("page-expired-auto-delete.png"));
    println!("screenshots in {}", screenshot_path("").display());
}

#[test]
fn jwt_claims_countdown_and_every_copy_form() {
    let _one = one_browser_at_a_time();
    let exp = unix_now() + 42 * 60 + 30;
    let token = demo_jwt(exp);
    let server = TestServer::start(&[
        ("T2G_FALLBACK_TOKEN", &token),
        ("T2G_UI_EXAMPLE_URL", EXAMPLE_URL),
    ]);
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    browser.grant("clipboard-read");
    browser.grant("clipboard-write");
    assert_eq!(browser.wait_for_token(), token);

    assert_eq!(
        browser.text_of("claim-sub"),
        "7f3a9c1e-42b8-4d1a-9e55-0c6d2b8f1a23 (jane.doe)"
    );
    assert_eq!(browser.text_of("claim-aud"), "acme-api, reports");
    assert_eq!(
        browser.text_of("claim-iss"),
        "https://login.example.com/realms/acme"
    );
    let chips = |id: &str| {
        browser.execute(
            "return Array.from(document.querySelectorAll('#' + arguments[0] + ' li'))
                 .map((li) => li.textContent);",
            json!([id]),
        )
    };
    assert_eq!(
        chips("claim-scope"),
        json!(["openid", "profile", "reports:read"])
    );
    assert_eq!(chips("claim-roles"), json!(["analyst", "viewer"]));
    assert!(browser.text_of("claim-iat").ends_with(" minutes ago)"));
    assert!(browser.text_of("claim-exp").ends_with("(in 42 minutes)"));
    assert_eq!(
        browser.execute(
            "return JSON.parse(document.getElementById('claims-json').textContent).sub;",
            json!([])
        ),
        "7f3a9c1e-42b8-4d1a-9e55-0c6d2b8f1a23"
    );
    assert!(
        browser
            .text_of("claims-note")
            .contains("nothing is verified")
    );

    assert_eq!(browser.text_of("countdown"), "expires in 42 min");
    assert!(!hidden(&browser, "countdown"));
    assert!(hidden(&browser, "reload-expired"));

    let server_url = server.url("/");
    let forms = [
        ("#copy", token.clone(), "Token copied to the clipboard."),
        (
            "#copy-header",
            format!("Authorization: Bearer {token}"),
            "Header line copied to the clipboard.",
        ),
        (
            "#copy-curl",
            format!("curl -H 'Authorization: Bearer {token}' '{EXAMPLE_URL}'"),
            "curl command copied to the clipboard.",
        ),
        (
            "#copy-client",
            format!("token2go {server_url}"),
            "Client command copied to the clipboard.",
        ),
    ];
    for (button, expected, message) in &forms {
        browser.set_clipboard_text("not it");
        browser.click(button);
        wait_for_status(&browser, message);
        assert_eq!(&browser.clipboard_text(), expected, "{button}");
    }
    // On screen the forms show the token shortened, and the whole command around it.
    assert_eq!(
        browser.text_of("form-curl"),
        format!(
            "curl -H 'Authorization: Bearer {}\u{2026}{}' '{EXAMPLE_URL}'",
            &token[..16],
            &token[token.len() - 8..]
        )
    );
    assert_eq!(
        browser.text_of("form-client"),
        format!("token2go {server_url}")
    );
    assert!(problems(browser.take_log()).is_empty());
}

/// Without `T2G_UI_EXAMPLE_URL` the curl line calls a placeholder and says so; a token that is
/// not a JWT has no claims and no countdown.
#[test]
fn opaque_token_and_placeholder_url() {
    let _one = one_browser_at_a_time();
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", "opaque-token-1234")]);
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    browser.grant("clipboard-read");
    browser.grant("clipboard-write");
    assert_eq!(browser.wait_for_token(), "opaque-token-1234");
    assert!(hidden(&browser, "countdown"));
    assert_eq!(browser.text_of("expires"), "not stated by the token");
    assert_eq!(
        browser.text_of("claims-note"),
        "This token is not a JWT: it carries no claims that a page can read."
    );
    assert_eq!(browser.text_of("claim-sub"), "\u{2014}");
    assert!(
        browser
            .text_of("forms-hint")
            .ends_with("The curl line calls an example URL: put your API's in its place.")
    );
    browser.click("#copy-curl");
    wait_for_status(&browser, "curl command copied to the clipboard.");
    assert_eq!(
        browser.clipboard_text(),
        "curl -H 'Authorization: Bearer opaque-token-1234' 'https://api.example.com/'"
    );
}

/// The client command is this server's URL as the page sees it, so a gateway's path prefix
/// stays in it. The gateway is simulated with `<base href>`-free means: the page is opened at
/// `/index.html?x#y`, whose folder is `/`.
#[test]
fn client_command_is_relative_to_the_page() {
    let _one = one_browser_at_a_time();
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", "t")]);
    let browser = Browser::start();
    browser.goto(&server.url("/index.html?from=bookmark#top"));
    assert_eq!(browser.wait_for_token(), "t");
    assert_eq!(
        browser.text_of("form-client"),
        format!("token2go {}", server.url("/"))
    );
    // The same computation under a prefix, as page.js does it.
    assert_eq!(
        browser.execute(
            "return new URL('.', 'https://gw.example.com/tools/token2go/index.html?a=1').href;",
            json!([])
        ),
        "https://gw.example.com/tools/token2go/"
    );
}

#[test]
fn expiry_turns_to_expired_and_offers_reload() {
    let _one = one_browser_at_a_time();
    let token = demo_jwt(unix_now() + 8);
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", &token)]);
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    assert_eq!(browser.wait_for_token(), token);
    let left = browser.text_of("countdown");
    assert!(
        left.starts_with("expires in ") && left.ends_with(" s"),
        "{left}"
    );
    assert_eq!(
        browser.execute(
            "return document.getElementById('countdown').classList.contains('soon');",
            json!([])
        ),
        true
    );
    browser.wait_until(
        "the countdown to say expired",
        Duration::from_secs(15),
        "return document.getElementById('countdown').textContent === 'expired';",
    );
    assert_eq!(
        browser.execute(
            "const c = document.getElementById('countdown');
             return [c.classList.contains('expired'), getComputedStyle(c).color,
                     document.getElementById('expires').classList.contains('expired')];",
            json!([])
        ),
        json!([true, "rgb(164, 14, 38)", true])
    );
    assert!(!hidden(&browser, "reload-expired"));
    let fetched = server.output().matches(" /token ").count();
    browser.click("#reload-expired");
    wait_for_status(&browser, "Token loaded, but it has expired.");
    wait_for_token_requests(&server, fetched + 1);
    assert!(problems(browser.take_log()).is_empty());
}

fn switch_state(browser: &Browser) -> Value {
    browser.execute(
        "return [document.getElementById('auto-copy').checked,
                 document.getElementById('auto-delete').checked,
                 document.getElementById('auto-delete-delay').value,
                 localStorage.getItem('autoCopy'), localStorage.getItem('autoDelete'),
                 localStorage.getItem('autoDeleteDelay')];",
        json!([]),
    )
}

#[test]
fn auto_copy_and_auto_delete_with_saved_preferences() {
    let _one = one_browser_at_a_time();
    let token = demo_jwt(unix_now() + 3600);
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", &token)]);
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    browser.grant("clipboard-read");
    browser.grant("clipboard-write");
    assert_eq!(browser.wait_for_token(), token);
    // Both off by default: nothing copied, nothing pending.
    assert_eq!(
        switch_state(&browser),
        json!([false, false, "10", null, null, null])
    );
    assert_eq!(browser.text_of("status"), "Token loaded.");
    assert!(hidden(&browser, "cancel-delete"));

    // Switched on by clicking their labels, as a person would.
    browser.click("label[for=auto-copy]");
    browser.click("label[for=auto-delete]");
    browser.execute(
        "const s = document.getElementById('auto-delete-delay');
         s.value = '5'; s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    assert_eq!(
        switch_state(&browser),
        json!([true, true, "5", "true", "true", "5"])
    );

    // Next load: copied without a click, then deleted after 5 s unless cancelled.
    browser.set_clipboard_text("not the token");
    browser.goto(&server.url("/"));
    wait_for_status(&browser, "Token loaded and copied to the clipboard.");
    assert_eq!(browser.clipboard_text(), token);
    assert_eq!(
        switch_state(&browser),
        json!([true, true, "5", "true", "true", "5"])
    );
    let pending = browser.text_of("auto-delete-status");
    assert!(
        pending.starts_with("Deleting the token from this page in "),
        "{pending}"
    );
    assert!(!hidden(&browser, "cancel-delete"));
    browser.click("#cancel-delete");
    wait_for_status(&browser, "Automatic deletion cancelled for this token.");
    assert_eq!(
        browser.text_of("auto-delete-status"),
        "Both switches are saved in this browser only."
    );
    std::thread::sleep(Duration::from_millis(5_500));
    assert_eq!(browser.wait_for_token(), token, "cancelled: still shown");

    // Not cancelled: the token goes after 5 s.
    browser.goto(&server.url("/"));
    assert_eq!(browser.wait_for_token(), token);
    let started = std::time::Instant::now();
    browser.wait_until(
        "the automatic deletion",
        Duration::from_secs(15),
        "return document.getElementById('token').hidden;",
    );
    let took = started.elapsed();
    assert!(
        took > Duration::from_secs(3) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert_eq!(
        browser.text_of("status"),
        "Token deleted from this page after 5 s. Reload fetches it again."
    );
    assert_eq!(
        browser.execute(
            "return [document.getElementById('secret').value,
                     document.body.innerText.includes(arguments[0])];",
            json!([token])
        ),
        json!(["", false])
    );

    // Switched off again: remembered too.
    browser.click("label[for=auto-copy]");
    browser.click("label[for=auto-delete]");
    browser.goto(&server.url("/"));
    assert_eq!(browser.wait_for_token(), token);
    assert_eq!(
        switch_state(&browser),
        json!([false, false, "5", "false", "false", "5"])
    );
    assert_eq!(browser.text_of("status"), "Token loaded.");
    assert!(problems(browser.take_log()).is_empty());
}

/// When the browser refuses to copy without a click (here: the clipboard permission denied),
/// auto-copy says "Click Copy to copy" and nothing reaches the console.
#[test]
fn refused_auto_copy_asks_for_the_click() {
    let _one = one_browser_at_a_time();
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", "refused-copy-token")]);
    let browser = Browser::start();
    browser.goto(&server.url("/health"));
    browser.set_permission("clipboard-write", "denied");
    browser.execute("localStorage.setItem('autoCopy', 'true');", json!([]));
    browser.take_log();
    browser.goto(&server.url("/"));
    wait_for_status(&browser, "Token loaded. Click Copy to copy.");
    assert_eq!(
        browser.execute(
            "return document.getElementById('status').classList.contains('warn');",
            json!([])
        ),
        true
    );
    std::thread::sleep(Duration::from_millis(300));
    let found = problems(browser.take_log());
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn no_token_shows_the_header_names_and_the_echo_hint() {
    let _one = one_browser_at_a_time();
    let server = TestServer::start(&[("T2G_TOKEN_HEADER_NAMES", "X-Token, Authorization")]);
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    browser.wait_until(
        "the 444 box",
        WAIT,
        "return !document.getElementById('error').hidden;",
    );
    assert_eq!(
        browser.execute(
            "return Array.from(document.querySelectorAll('#error-headers li'))
                 .map((li) => li.textContent);",
            json!([])
        ),
        json!(["X-Token", "Authorization"])
    );
    assert_eq!(browser.text_of("error-title"), "No token available.");
    assert!(!hidden(&browser, "echo-hint"));
    assert_eq!(
        browser.execute(
            "return document.querySelector('#echo-hint a').href;",
            json!([])
        ),
        server.url("/echo?pretty")
    );
    // The cards about using a token are hidden while there is none.
    assert!(hidden(&browser, "use") && hidden(&browser, "claims-card"));
    // The echo link works.
    browser.click("#echo-hint a");
    browser.wait_until(
        "the echo page",
        WAIT,
        "return document.body.innerText.includes('remoteAddr');",
    );

    let off = TestServer::start(&[("T2G_ECHO_ENABLED", "false")]);
    browser.goto(&off.url("/"));
    browser.wait_until(
        "the 444 box",
        WAIT,
        "return !document.getElementById('error').hidden;",
    );
    assert!(hidden(&browser, "echo-hint"));
    // Every default header name, as the server's 444 lists them (issue 15 made them six).
    let said = off.get("/token", &[]).text();
    let names: Vec<&str> = said
        .split_once("Looking for:")
        .unwrap()
        .1
        .split(',')
        .map(str::trim)
        .collect();
    assert_eq!(names.len(), 6, "{said}");
    assert_eq!(
        browser.execute(
            "return Array.from(document.querySelectorAll('#error-headers li'))
                 .map((li) => li.textContent);",
            json!([])
        ),
        json!(names)
    );
}

/// Reload keeps the token on screen until a new one arrives; when the service cannot be
/// reached the page says so and still shows the old one.
#[test]
fn network_error_keeps_the_old_token_and_says_so() {
    let _one = one_browser_at_a_time();
    let token = demo_jwt(unix_now() + 3600);
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", &token)]);
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    assert_eq!(browser.wait_for_token(), token);
    drop(server);
    browser.take_log();
    browser.click("#reload");
    browser.wait_until(
        "the network error",
        WAIT,
        "return !document.getElementById('error').hidden;",
    );
    assert_eq!(
        browser.text_of("error-title"),
        "Could not reach the service."
    );
    assert!(
        browser
            .text_of("status")
            .starts_with("Still showing the token fetched at ")
    );
    assert_eq!(browser.wait_for_token(), token);
    assert!(hidden(&browser, "echo-hint") && hidden(&browser, "error-headers"));
    assert_eq!(
        browser.execute(
            "return document.getElementById('reload').disabled;",
            json!([])
        ),
        false
    );
    // The failed fetch itself is logged by the browser (network); no script error.
    let found: Vec<LogEntry> = problems(browser.take_log())
        .into_iter()
        .filter(|e| e.source != "network")
        .collect();
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn dark_mode_and_a_360_px_phone() {
    let _one = one_browser_at_a_time();
    let token = demo_jwt(unix_now() + 3600);
    let server = TestServer::start(&[
        ("T2G_FALLBACK_TOKEN", &token),
        ("T2G_UI_TARGET", "A rather long product name for a phone"),
        ("T2G_UI_EXAMPLE_URL", EXAMPLE_URL),
    ]);
    let no_token = TestServer::start(&[]);
    let browser = Browser::start();
    let colours = "const b = getComputedStyle(document.body);
                   const c = getComputedStyle(document.querySelector('.card'));
                   return [b.backgroundColor, b.color, c.backgroundColor];";

    browser.goto(&server.url("/"));
    assert_eq!(browser.wait_for_token(), token);
    assert_eq!(
        browser.execute(colours, json!([])),
        json!([
            "rgb(243, 245, 248)",
            "rgb(27, 31, 36)",
            "rgb(255, 255, 255)"
        ])
    );
    browser.set_color_scheme("dark");
    assert_eq!(
        browser.execute(colours, json!([])),
        json!(["rgb(13, 17, 23)", "rgb(230, 237, 243)", "rgb(22, 27, 34)"])
    );
    assert_eq!(
        browser.execute(
            "return matchMedia('(prefers-color-scheme: dark)').matches;",
            json!([])
        ),
        true
    );

    browser.set_viewport(360, 740, true);
    for (name, page) in [("token", server.url("/")), ("444", no_token.url("/"))] {
        for scheme in ["dark", "light"] {
            browser.set_color_scheme(scheme);
            browser.goto(&page);
            browser.wait_until(
                "the token or the error",
                WAIT,
                "return !document.getElementById('error').hidden
                     || document.getElementById('secret').value !== '';",
            );
            assert_eq!(browser.execute("return window.innerWidth;", json!([])), 360);
            assert_eq!(
                horizontal_overflow(&browser),
                Value::Null,
                "{name} {scheme}"
            );
        }
    }
    browser.reset_viewport();
    browser.set_color_scheme("");
}

/// Layout Instability API: no element moves when the token arrives (from the complete DOM on),
/// on a wide window and on a phone.
#[test]
fn no_layout_shift_when_the_token_loads() {
    let _one = one_browser_at_a_time();
    let token = demo_jwt(unix_now() + 3600);
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", &token)]);
    let browser = Browser::start();
    for phone in [false, true] {
        if phone {
            browser.set_viewport(360, 740, true);
        }
        browser.goto(&server.url("/"));
        assert_eq!(browser.wait_for_token(), token);
        // Claims and countdown are filled in the same task as the token; give any late
        // change a moment to be recorded.
        std::thread::sleep(Duration::from_millis(300));
        // Shifts while the HTML is still being parsed (a slow machine paints a half-parsed
        // page) are not the token's doing: only those after the DOM was complete count.
        let shifts = browser.execute_async(
            "const done = arguments[arguments.length - 1];
             const found = [];
             const parsed = performance.getEntriesByType('navigation')[0].domInteractive;
             new PerformanceObserver((list) => {
               for (const e of list.getEntries().filter((e) => e.startTime >= parsed)) {
                 found.push([e.value, e.sources.map((s) => [s.node ? s.node.id || s.node.className || s.node.nodeName : '?', JSON.stringify(s.previousRect), JSON.stringify(s.currentRect)])]);
               }
             }).observe({ type: 'layout-shift', buffered: true });
             setTimeout(() => done(found), 200);",
            json!([]),
        );
        assert_eq!(shifts, json!([]), "phone: {phone}");
    }
}

/// Keyboard: Tab reaches every control in order with a visible focus ring, Space toggles a
/// switch and Enter presses a button.
#[test]
fn keyboard_and_focus_ring() {
    let _one = one_browser_at_a_time();
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", "keyboard-token")]);
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    browser.grant("clipboard-read");
    browser.grant("clipboard-write");
    assert_eq!(browser.wait_for_token(), "keyboard-token");
    browser.execute("document.activeElement.blur();", json!([]));
    let mut order = Vec::new();
    for _ in 0..13 {
        browser.keys("\u{E004}"); // Tab
        let focused = browser.execute(
            "const e = document.activeElement;
             const s = getComputedStyle(e);
             return [e.id || e.textContent.trim(), s.outlineStyle, s.outlineWidth];",
            json!([]),
        );
        assert_eq!(focused[1], "solid", "focus ring on {focused}");
        assert_eq!(focused[2], "3px", "focus ring on {focused}");
        order.push(focused[0].as_str().unwrap().to_string());
    }
    assert_eq!(
        order,
        [
            "secret",
            "copy",
            "reload",
            "delete",
            "auto-copy",
            "auto-delete",
            "auto-delete-delay",
            "copy-header",
            "copy-curl",
            "copy-client",
            "All claims",
            "API documentation",
            "OpenAPI document",
        ]
    );
    // Space on the switch, Enter on a button.
    browser.execute("document.getElementById('auto-copy').focus();", json!([]));
    browser.keys(" ");
    assert_eq!(
        browser.execute(
            "return [document.getElementById('auto-copy').checked, localStorage.getItem('autoCopy')];",
            json!([])
        ),
        json!([true, "true"])
    );
    browser.execute("document.getElementById('copy-header').focus();", json!([]));
    browser.keys("\u{E007}"); // Enter
    wait_for_status(&browser, "Header line copied to the clipboard.");
    assert_eq!(
        browser.clipboard_text(),
        "Authorization: Bearer keyboard-token"
    );
}

/// Chromium's accessibility tree names every button, switch, select and link; the copy buttons
/// have names of their own.
#[test]
fn accessibility_tree_names_every_control() {
    let _one = one_browser_at_a_time();
    let token = demo_jwt(unix_now() + 3600);
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", &token)]);
    let no_token = TestServer::start(&[]);
    let browser = Browser::start();
    for (page, ready) in [
        (
            server.url("/"),
            "return document.getElementById('status').textContent === 'Token loaded.';",
        ),
        (
            no_token.url("/"),
            "return !document.getElementById('error').hidden;",
        ),
    ] {
        browser.goto(&page);
        browser.wait_until("the page", WAIT, ready);
        let tree = browser.accessibility_tree();
        let controls: Vec<&(String, String, bool)> = tree
            .iter()
            .filter(|(role, _, ignored)| {
                !ignored
                    && [
                        "button", "switch", "checkbox", "combobox", "link", "textbox",
                    ]
                    .contains(&role.as_str())
            })
            .collect();
        let unnamed: Vec<_> = controls
            .iter()
            .filter(|(_, name, _)| name.trim().is_empty())
            .collect();
        assert!(
            unnamed.is_empty(),
            "{page}: unnamed controls {unnamed:?} in {controls:#?}"
        );
        let named =
            |role: &str, name: &str| controls.iter().any(|(r, n, _)| r == role && n == name);
        for (role, name) in [
            ("button", "Reload"),
            ("switch", "Copy the token when the page loads"),
            ("switch", "Delete it from the page after"),
            ("combobox", "Delay before deleting"),
        ] {
            assert!(
                named(role, name),
                "{page}: no {role} named {name:?} in {controls:#?}"
            );
        }
        if page.ends_with(&format!("{}/", server.addr)) {
            for name in [
                "Copy token",
                "Delete",
                "Copy header line",
                "Copy curl command",
                "Copy client command",
            ] {
                assert!(named("button", name), "no button {name:?} in {controls:#?}");
            }
            assert!(named("textbox", "Token"), "{controls:#?}");
        }
    }
}

/// No console error and no CSP violation on any page, with every feature of the token page in
/// use (JWT, auto-copy, auto-delete, countdown).
#[test]
fn every_page_logs_no_console_error_or_csp_violation() {
    let _one = one_browser_at_a_time();
    let token = demo_jwt(unix_now() + 3600);
    let server = TestServer::start(&[
        ("T2G_FALLBACK_TOKEN", &token),
        ("T2G_UI_EXAMPLE_URL", EXAMPLE_URL),
    ]);
    let paste = format!(
        "/flow/redirect/token?target={}&state=s&publicKeyType=rsa2048-rfc5280-x509-pem&publicKey={}",
        enc("urn:ietf:wg:oauth:2.0:oob"),
        enc(PUBLIC_KEY)
    );
    let browser = Browser::start();
    browser.goto(&server.url("/health"));
    browser.grant("clipboard-read");
    browser.grant("clipboard-write");
    browser.execute(
        "localStorage.setItem('autoCopy', 'true'); localStorage.setItem('autoDelete', 'true');
         localStorage.setItem('autoDeleteDelay', '5');",
        json!([]),
    );
    let pages = [
        (
            "/",
            "return document.getElementById('status').textContent
                 === 'Token loaded and copied to the clipboard.';",
        ),
        (
            "/swagger-ui/",
            "return Array.from(document.querySelectorAll('.opblock .opblock-summary-path'))
                 .some((e) => e.textContent.trim() === '/token');",
        ),
        (
            paste.as_str(),
            "return document.getElementById('vcode').textContent.length === 9;",
        ),
        (
            "/flow/redirect/done",
            "return document.readyState === 'complete';",
        ),
    ];
    for (path, ready) in pages {
        browser.take_log();
        browser.goto(&server.url(path));
        browser.wait_until(path, WAIT, ready);
        // Late messages (a rejected promise, a blocked style) have a moment to arrive.
        std::thread::sleep(Duration::from_millis(500));
        let found = problems(browser.take_log());
        assert!(found.is_empty(), "{path}: {found:#?}");
    }
    // The token page through its auto-delete, a Reload and a Delete: still nothing.
    browser.goto(&server.url("/"));
    browser.wait_until(
        "the automatic deletion",
        Duration::from_secs(15),
        "return document.getElementById('token').hidden;",
    );
    browser.click("#reload");
    assert_eq!(browser.wait_for_token(), token);
    browser.click("#cancel-delete");
    browser.click("#delete");
    std::thread::sleep(Duration::from_millis(300));
    let found = problems(browser.take_log());
    assert!(found.is_empty(), "{found:#?}");
}

/// The switches say what they saved; switching auto-delete off stops a running countdown and
/// keeps the token; a Copy button reads "Copied" for a moment.
#[test]
fn switch_messages_copied_flash_and_auto_delete_switched_off() {
    let _one = one_browser_at_a_time();
    let server = TestServer::start(&[("T2G_FALLBACK_TOKEN", "switch-token")]);
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    browser.grant("clipboard-read");
    browser.grant("clipboard-write");
    assert_eq!(browser.wait_for_token(), "switch-token");

    browser.click("#copy");
    wait_for_status(&browser, "Token copied to the clipboard.");
    let label = "const b = document.getElementById('copy');
                 return [b.textContent, b.classList.contains('copied')];";
    assert_eq!(browser.execute(label, json!([])), json!(["Copied", true]));
    browser.wait_until(
        "the Copy label back",
        WAIT,
        "const b = document.getElementById('copy');
         return b.textContent === 'Copy' && !b.classList.contains('copied');",
    );

    browser.click("label[for=auto-copy]");
    wait_for_status(&browser, "Saved: the token is copied whenever it loads.");
    browser.click("label[for=auto-copy]");
    wait_for_status(
        &browser,
        "Saved: the token is copied only when you click Copy.",
    );
    browser.execute(
        "const s = document.getElementById('auto-delete-delay');
         s.value = '30'; s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    wait_for_status(&browser, "Saved: 30 s before the token is deleted.");
    browser.click("label[for=auto-delete]");
    wait_for_status(
        &browser,
        "Saved: the token is deleted from the page 30 s after it loads, from the next load on.",
    );
    assert!(
        hidden(&browser, "cancel-delete"),
        "not before the next load"
    );

    browser.click("#reload");
    wait_for_status(&browser, "Token loaded.");
    assert!(
        browser
            .text_of("auto-delete-status")
            .starts_with("Deleting the token from this page in ")
    );
    assert!(!hidden(&browser, "cancel-delete"));
    browser.click("label[for=auto-delete]");
    wait_for_status(
        &browser,
        "Saved: the token stays on the page until you delete it.",
    );
    assert_eq!(
        browser.text_of("auto-delete-status"),
        "Both switches are saved in this browser only."
    );
    assert!(hidden(&browser, "cancel-delete"));
    assert_eq!(browser.wait_for_token(), "switch-token");
    assert!(problems(browser.take_log()).is_empty());
}

/// A stand-in for a gateway in front of the server: passes each request through, except
/// `GET /token`, which it answers with the next of its answers (raw HTTP), so that the page
/// meets what a gateway may send: a redirect to its sign-in, a sign-in page, an error, an
/// answer cut short. One request per connection, each on a thread of its own (Chromium may
/// open a connection it never uses). Stops accepting when dropped.
struct StandInGateway {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// An answer of the stand-in gateway: the bytes, sent in parts with a pause between them, then
/// the connection closes.
type GatewayAnswer = Vec<Vec<u8>>;

impl StandInGateway {
    fn start(server: &TestServer, answers: Vec<GatewayAnswer>) -> StandInGateway {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(std::collections::VecDeque::from(answers)));
        let (upstream, stopped) = (server.addr, stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let answers = answers.clone();
                std::thread::spawn(move || Self::serve(stream, upstream, &answers));
            }
        });
        StandInGateway { addr, stop }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn serve(
        mut stream: std::net::TcpStream,
        upstream: std::net::SocketAddr,
        answers: &std::sync::Mutex<std::collections::VecDeque<GatewayAnswer>>,
    ) -> std::io::Result<()> {
        use std::io::{Read, Write};
        stream.set_read_timeout(Some(WAIT))?;
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte)? == 0 {
                return Ok(());
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let parts: GatewayAnswer = if head.starts_with("GET /token ") {
            let next = answers.lock().unwrap().pop_front();
            next.unwrap_or_else(|| vec![b"HTTP/1.1 599 No more answers\r\n\r\n".to_vec()])
        } else {
            // Passed through on a connection of its own that the server closes after answering.
            let kept: Vec<&str> = head
                .trim_end()
                .lines()
                .filter(|l| {
                    let l = l.to_ascii_lowercase();
                    !l.starts_with("connection:") && !l.starts_with("keep-alive:")
                })
                .collect();
            let mut up = std::net::TcpStream::connect(upstream)?;
            up.set_read_timeout(Some(WAIT))?;
            up.write_all(format!("{}\r\nConnection: close\r\n\r\n", kept.join("\r\n")).as_bytes())?;
            let mut answer = Vec::new();
            up.read_to_end(&mut answer)?;
            vec![answer]
        };
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(200));
            }
            stream.write_all(part)?;
            stream.flush()?;
        }
        Ok(())
    }
}

impl Drop for StandInGateway {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accepting thread, which then sees the flag.
        let _ = std::net::TcpStream::connect(self.addr);
    }
}

/// A whole answer of the stand-in gateway: status line, headers besides the framing, body.
fn answer(status: &str, headers: &[(&str, &str)], body: &str) -> GatewayAnswer {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    let framing = format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    vec![format!("{head}{framing}{body}").into_bytes()]
}

/// `/token`'s JSON for this secret.
fn token_answer(secret: &str) -> GatewayAnswer {
    let body = json!({
        "timestamp": "2026-01-02T15:04:05Z",
        "fingerprint": "ab".repeat(32),
        "secret": secret,
    });
    answer(
        "200 OK",
        &[("Content-Type", "application/json")],
        &body.to_string(),
    )
}

/// What the token page does with each answer a gateway may give on Reload: claims in their
/// other spellings (email, a single audience, `scp`, `roles`, a time that is not a number); a
/// redirect, a sign-in page and an answer cut short keep the old token and say why; an error
/// status drops the token and shows the server's words; an encrypted JWT has no claims to show.
#[test]
fn every_answer_a_gateway_may_give() {
    let _one = one_browser_at_a_time();
    let server = TestServer::start(&[]);
    let first = jwt(&json!({
        "sub": "svc-42", "email": "ops@example.com", "aud": "single-aud",
        "scp": ["read", "write"], "roles": ["admin"], "iat": "yesterday",
    }));
    let jwe = "eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn";
    let gateway = StandInGateway::start(
        &server,
        vec![
            token_answer(&first),
            answer("302 Found", &[("Location", "/sign-in")], ""),
            answer("200 OK", &[("Content-Type", "text/html")], "<!doctype html><title>Sign in</title>"),
            answer("503 Service Unavailable", &[("Content-Type", "text/plain")], "upstream is down\n"),
            token_answer(jwe),
            vec![
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 100\r\nConnection: close\r\n\r\n".to_vec(),
                b"cut short".to_vec(),
            ],
        ],
    );
    let browser = Browser::start();
    browser.goto(&gateway.url("/"));
    assert_eq!(browser.wait_for_token(), first);
    let chips = |id: &str| {
        browser.execute(
            "return Array.from(document.querySelectorAll('#' + arguments[0] + ' li'))
                 .map((li) => li.textContent);",
            json!([id]),
        )
    };
    assert_eq!(browser.text_of("claim-sub"), "svc-42 (ops@example.com)");
    assert_eq!(browser.text_of("claim-aud"), "single-aud");
    assert_eq!(browser.text_of("claim-iss"), "\u{2014}");
    assert_eq!(chips("claim-scope"), json!(["read", "write"]));
    assert_eq!(chips("claim-roles"), json!(["admin"]));
    assert_eq!(browser.text_of("claim-iat"), "yesterday");
    assert_eq!(browser.text_of("claim-exp"), "\u{2014}");
    assert_eq!(browser.text_of("expires"), "not stated by the token");
    assert_eq!(browser.text_of("fingerprint"), "ab".repeat(32));

    let reload_to = |title: &str| {
        browser.click("#reload");
        browser.wait_until(
            title,
            WAIT,
            &format!(
                "return !document.getElementById('error').hidden
                     && document.getElementById('error-title').textContent === {}
                     && !document.getElementById('reload').disabled;",
                json!(title)
            ),
        );
    };
    let kept = |help: &str| {
        assert_eq!(browser.text_of("error-help"), help);
        assert!(
            browser
                .text_of("status")
                .starts_with("Still showing the token fetched at ")
        );
        assert!(hidden(&browser, "error-headers") && hidden(&browser, "echo-hint"));
        assert_eq!(
            browser.execute(
                "return document.getElementById('error-text').parentElement.hidden;",
                json!([])
            ),
            true,
            "no words of the server"
        );
    };

    reload_to("The gateway wants you to sign in again.");
    kept(
        "It answered with a redirect instead of the token. Reload this whole page (F5) to sign in.",
    );
    assert_eq!(browser.wait_for_token(), first);

    reload_to("The answer was not a token.");
    kept(
        "Something between you and the service answered in its place, perhaps a sign-in page. Reload this whole page (F5).",
    );
    assert_eq!(browser.wait_for_token(), first);

    reload_to("The service answered with an error (HTTP 503).");
    assert!(hidden(&browser, "error-help"));
    assert_eq!(browser.text_of("error-text"), "upstream is down");
    assert_eq!(browser.text_of("status"), "");
    assert!(
        hidden(&browser, "token") && hidden(&browser, "use") && hidden(&browser, "claims-card")
    );
    assert_eq!(
        browser.execute(
            "return [document.getElementById('secret').value,
                     document.getElementById('copy').disabled,
                     document.getElementById('claim-sub').textContent];",
            json!([])
        ),
        json!(["", true, "\u{2014}"])
    );

    browser.click("#reload");
    wait_for_status(&browser, "Token loaded.");
    assert_eq!(browser.wait_for_token(), jwe);
    assert!(hidden(&browser, "error"));
    assert!(!hidden(&browser, "use") && !hidden(&browser, "claims-card"));
    assert_eq!(
        browser.text_of("claims-note"),
        "This token is an encrypted JWT (JWE): only its audience can read its claims."
    );
    assert_eq!(browser.text_of("claim-sub"), "\u{2014}");
    assert_eq!(browser.text_of("claims-json"), "\u{2014}");

    reload_to("The answer could not be read.");
    kept("Try Reload.");
    assert_eq!(browser.wait_for_token(), jwe);

    // The browser logs the error statuses and the cut answer (network); no script error.
    let found: Vec<LogEntry> = problems(browser.take_log())
        .into_iter()
        .filter(|e| e.source != "network")
        .collect();
    assert!(found.is_empty(), "{found:#?}");
}

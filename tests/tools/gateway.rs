//! End to end through a real gateway: Debian's nginx with its default buffer sizes in front of
//! the real server, injecting the token header with `proxy_set_header` as an authenticating
//! proxy would, and real headless Chromium as the browser (`tests/support/chromium_browser.py`
//! through `BROWSER`). A 16 KB JWT: the plain `303` carries it in its `Location` header and
//! nginx refuses that (`502 upstream sent too big header`); `responseMode=form_post`, which both
//! clients ask for, carries it in a POST body and passes.
//!
//! nginx runs as the current user in the foreground, with every path (config, pid, logs, temp
//! directories) in a temp dir (`nginx.rs`): nothing under /etc or /var is read or written.

use std::net::SocketAddr;

use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::Value;

use crate::clients::{Sandbox, TOKEN_HEADER, Which, jwt, run};
use crate::harness::{TestServer, enc, free_port, python_exe};
use crate::nginx::Nginx;
use crate::webdriver::{closed_records, one_browser_at_a_time};

const CHROMIUM_BROWSER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/chromium_browser.py"
);
/// Where the gateway mounts the server, so the clients also get a URL with a path prefix.
const PREFIX: &str = "/t2g/";
/// nginx reads its configuration in 4 KiB pieces and refuses longer parameters, so a long token
/// is set in pieces and joined in the header value.
const CONFIG_PIECE: usize = 3000;

/// nginx on a free loopback port, proxying `PREFIX` to `upstream` and adding the token header.
fn start_gateway(upstream: SocketAddr, token: &str) -> Nginx {
    let port = free_port();
    let pieces: Vec<&str> = token
        .as_bytes()
        .chunks(CONFIG_PIECE)
        .map(|chunk| std::str::from_utf8(chunk).expect("an ASCII token"))
        .collect();
    let sets: String = pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| format!("        set $token{i} \"{piece}\";\n"))
        .collect();
    let joined: String = (0..pieces.len()).map(|i| format!("$token{i}")).collect();
    // Default buffer sizes throughout: proxy_buffer_size is one memory page (4 KiB here).
    let site = format!(
        "server {{\n\
         \x20   listen 127.0.0.1:{port};\n\
         \x20   location {PREFIX} {{\n\
         {sets}\
         \x20       proxy_pass http://{upstream}/;\n\
         \x20       proxy_set_header {TOKEN_HEADER} \"{joined}\";\n\
         \x20   }}\n\
         }}\n"
    );
    Nginx::start(port, &site)
}

/// The server's URL behind the gateway, with the prefix and its trailing slash.
fn url(gateway: &Nginx) -> String {
    format!("http://{}{PREFIX}", gateway.addr())
}

fn flow_path(prefix: &str, response_mode: Option<&str>) -> String {
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("RSA key generation");
    let pem = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let mut path = format!(
        "{prefix}flow/redirect/token?target={}&state=s&publicKeyType=rsa2048-rfc5280-x509-pem&publicKey={}",
        enc("http://127.0.0.1:9/callback"),
        enc(&pem)
    );
    if let Some(mode) = response_mode {
        path.push_str(&format!("&responseMode={mode}"));
    }
    path
}

#[test]
fn the_plain_303_of_a_16_kb_jwt_fails_behind_nginx_and_form_post_passes() {
    let server = TestServer::start(&[]);
    let big = jwt("gateway-303", 16 * 1024, 3600);
    let gateway = start_gateway(server.addr, &big);
    let plain = flow_path(PREFIX, None);

    // Straight to the server, the redirect carries the token in a Location of over 20 KB.
    let direct = server.get(plain.strip_prefix("/t2g").unwrap(), &[(TOKEN_HEADER, &big)]);
    assert_eq!(direct.status, 303, "{}", direct.text());
    assert!(direct.header("Location").unwrap().len() > 20_000);

    // Through nginx's default buffers, that header is too big: 502.
    let through = gateway.get(&plain, &[]);
    assert_eq!(through.status, 502, "{}", through.text());
    assert!(
        gateway.logs().contains("upstream sent too big header"),
        "{}",
        gateway.logs()
    );

    // form_post: the same token in the body of a 200 page, which nginx passes.
    let form = gateway.get(&flow_path(PREFIX, Some("form_post")), &[]);
    assert_eq!(form.status, 200, "{}", gateway.logs());
    let page = form.text();
    assert!(
        page.contains("action=\"http://127.0.0.1:9/callback\""),
        "{page}"
    );
    assert!(page.len() > 20_000 && !page.contains(&big));

    // A small token's 303 passes the same gateway: it is the size that fails.
    let small = jwt("gateway-small", 1000, 3600);
    let small_gateway = start_gateway(server.addr, &small);
    let through = small_gateway.get(&flow_path(PREFIX, None), &[]);
    assert_eq!(through.status, 303, "{}", small_gateway.logs());
}

/// The Chromium wrapper's records, once its last one (written after it cleaned up) is there.
fn browser_records(sandbox: &Sandbox) -> Vec<Value> {
    closed_records(
        &sandbox.path("chromium.jsonl"),
        "the Chromium wrapper",
        false,
    )
}

fn through_nginx_and_chromium(which: Which) {
    let _one = one_browser_at_a_time();
    let server = TestServer::start(&[]);
    let big = jwt(&format!("gateway-{which:?}"), 16 * 1024, 3600);
    let gateway = start_gateway(server.addr, &big);
    let sandbox = Sandbox::new();
    let mut env = sandbox.env();
    env.push((
        "BROWSER".into(),
        format!("{} {CHROMIUM_BROWSER}", python_exe()),
    ));
    env.push((
        "CHROMIUM_BROWSER_LOG".into(),
        sandbox.path("chromium.jsonl").display().to_string(),
    ));
    // The test run's own temp dir, which scripts/test.sh requires empty at the end.
    env.push(("TMPDIR".into(), std::env::temp_dir().display().to_string()));
    let done = run(
        which,
        &["--timeout", "60", "--format", "json", &url(&gateway)],
        &env,
    );
    let records = browser_records(&sandbox);
    assert_eq!(
        done.code,
        Some(0),
        "{}\nbrowser: {records:?}\nnginx: {}",
        done.describe(),
        gateway.logs()
    );
    let doc: Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(doc["secret"], big.as_str());
    assert!(doc["expiresAt"].is_string());
    assert!(!done.stderr.contains(&big), "token on stderr");
    let reached = records
        .iter()
        .find(|r| r["event"] == "done")
        .unwrap_or_else(|| panic!("Chromium did not reach the done page: {records:?}"));
    assert_eq!(
        reached["url"],
        format!("{}flow/redirect/done", url(&gateway)).as_str(),
        "{records:?}"
    );
    assert!(
        reached["text"]
            .as_str()
            .unwrap()
            .contains("Token delivered"),
        "{reached}"
    );
    let seen = std::fs::read_to_string(sandbox.path("chromium.jsonl")).unwrap();
    assert!(!seen.contains(&big), "the browser showed the token");
    let browser_dir = records
        .iter()
        .find_map(|r| r["dir"].as_str())
        .unwrap_or_else(|| panic!("no temp dir in {records:?}"));
    assert!(
        !std::path::Path::new(browser_dir).exists(),
        "the Chromium wrapper left {browser_dir} behind"
    );
    let access = gateway.access_log();
    assert!(access.contains("GET /t2g/flow/redirect/token?"), "{access}");
    assert!(access.contains("GET /t2g/flow/redirect/done"), "{access}");
}

#[test]
fn rust_client_through_nginx_and_chromium_with_a_16_kb_jwt() {
    through_nginx_and_chromium(Which::Rust);
}

#[test]
fn python_client_through_nginx_and_chromium_with_a_16_kb_jwt() {
    through_nginx_and_chromium(Which::Python);
}

//! nginx with the recipe `assets/nginx/token2go.conf` as it is, in front of the real server and
//! an oauth2-proxy stand-in (`tests/support/oauth2_proxy_standin.py`, its behaviour cited from
//! oauth2-proxy's documentation; real oauth2-proxy is in no package registry reachable here)
//! that signs the user in with a real OIDC code flow at the real identity provider
//! (`realparts.rs`). Real Chromium signs in inside both clients' flows; the stand-in's callback
//! answers with a 4 KB session cookie and the whole flow URL in `Location`, which the recipe's
//! buffers on `/oauth2/` must let through, and the audit line must show the browser's address.

use std::net::SocketAddr;
use std::process::Command;

use crate::clients::{Sandbox, Which, run};
use crate::harness::{TempDir, TestServer, free_port, python_exe};
use crate::nginx::Nginx;
use crate::realparts::{
    CLIENT_ID, CLIENT_SECRET, Format, Idp, replace_once, repo_file, secret_of, self_signed,
    signed_in_get, signin_env, signin_records,
};
use crate::webdriver::one_browser_at_a_time;

const NGINX_RECIPE: &str = "assets/nginx/token2go.conf";
const OAUTH2_PROXY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/oauth2_proxy_standin.py"
);

struct Bed {
    idp: Idp,
    proxy: TestServer,
    server: TestServer,
    recipe: String,
    url: String,
    port: u16,
    dir: TempDir,
}

impl Bed {
    fn start() -> Bed {
        let dir = TempDir::new("nginx-bed");
        let port = free_port();
        let url = format!("https://127.0.0.1:{port}/");
        let callback = format!("{url}oauth2/callback");
        let idp = Idp::start(Format::Opaque, 3600, std::slice::from_ref(&callback));
        let proxy_port = free_port();
        let mut command = Command::new(python_exe());
        command
            .arg(OAUTH2_PROXY)
            .arg(proxy_port.to_string())
            .arg(&idp.issuer)
            .arg(CLIENT_ID)
            .arg(CLIENT_SECRET)
            .arg(&callback)
            .arg(dir.join("proxy.jsonl"));
        let proxy = TestServer::spawn(command, SocketAddr::from(([127, 0, 0, 1], proxy_port)));
        // The settings the recipe's header comment gives.
        let server = TestServer::start(&[
            ("T2G_TOKEN_HEADER_NAMES", "X-Forwarded-Access-Token"),
            (
                "T2G_USER_HEADER_NAMES",
                "X-Forwarded-Preferred-Username,X-Forwarded-User,X-Forwarded-Email",
            ),
        ]);
        let (cert, key) = self_signed(&dir, "127.0.0.1");
        let recipe = replace_once(
            NGINX_RECIPE,
            &repo_file(NGINX_RECIPE),
            &[
                ("server 127.0.0.1:8080;", format!("server {};", server.addr)),
                ("server 127.0.0.1:4180;", format!("server {};", proxy.addr)),
                ("listen 443 ssl;", format!("listen 127.0.0.1:{port} ssl;")),
                (
                    "server_name token2go.example.com;",
                    "server_name 127.0.0.1;".into(),
                ),
                (
                    "/etc/ssl/certs/token2go.example.com.pem",
                    cert.display().to_string(),
                ),
                (
                    "/etc/ssl/private/token2go.example.com.key",
                    key.display().to_string(),
                ),
            ],
        );
        Bed {
            idp,
            proxy,
            server,
            recipe,
            url,
            port,
            dir,
        }
    }

    fn logs(&self, nginx: &Nginx) -> String {
        format!(
            "nginx: {}\noauth2-proxy stand-in: {}\n{}\nserver: {}\nprovider: {}",
            nginx.logs(),
            self.proxy.output(),
            std::fs::read_to_string(self.dir.join("proxy.jsonl")).unwrap_or_default(),
            self.server.output(),
            self.idp.output()
        )
    }
}

fn through_nginx(which: Which) {
    let _one = one_browser_at_a_time();
    let bed = Bed::start();
    let nginx = Nginx::start(bed.port, &bed.recipe);
    let user = format!("{which:?}-via-nginx").to_lowercase();
    let sandbox = Sandbox::new();
    let done = run(
        which,
        &["--timeout", "90", "--format", "json", &bed.url],
        &signin_env(&sandbox, &user),
    );
    let records = signin_records(&sandbox);
    assert_eq!(
        done.code,
        Some(0),
        "{}\nbrowser: {records:?}\n{}",
        done.describe(),
        bed.logs(&nginx)
    );
    assert!(
        records
            .iter()
            .any(|r| r["action"] == format!("signed in as {user}").as_str()),
        "{records:?}"
    );
    let (secret, _) = secret_of(&done.stdout);
    // The proof: the provider's userinfo endpoint accepts the printed token.
    let claims = bed.idp.vouches_for(&secret);
    assert_eq!(claims["preferred_username"], user.as_str(), "{claims}");
    // The callback's 4 KB cookie and flow URL passed /oauth2/'s buffers.
    let proxy_log = std::fs::read_to_string(bed.dir.join("proxy.jsonl")).unwrap();
    assert!(
        proxy_log.contains("{\"path\": \"/oauth2/callback\", \"status\": 302}"),
        "{proxy_log}"
    );
    assert!(
        !nginx.error_log().contains("too big header"),
        "{}",
        bed.logs(&nginx)
    );
    // The audit line names the user and the browser's address from X-Forwarded-For.
    let audit = bed.server.output();
    let line = audit
        .lines()
        .find(|l| l.contains(" audit ") && l.contains("route=flow"))
        .unwrap_or_else(|| panic!("no flow audit line: {audit}"));
    assert!(line.contains(&format!("user={user}")), "{line}");
    assert!(line.contains("forwarded_for=127.0.0.1"), "{line}");
    assert!(!audit.contains(&secret), "token in the server's log");
    println!("audit line behind the nginx recipe: {line}");
}

#[test]
fn rust_client_through_the_nginx_recipe_and_an_oauth2_proxy_stand_in() {
    through_nginx(Which::Rust);
}

#[test]
fn python_client_through_the_nginx_recipe_and_an_oauth2_proxy_stand_in() {
    through_nginx(Which::Python);
}

#[test]
fn the_sign_in_callback_needs_the_recipes_oauth2_buffers() {
    let bed = Bed::start();
    // The recipe as it was: nginx's default buffers on /oauth2/.
    let mut in_oauth2 = false;
    let bare: String = bed
        .recipe
        .lines()
        .filter(|l| {
            if l.contains("location /oauth2/ {") {
                in_oauth2 = true;
            } else if l.trim() == "}" {
                in_oauth2 = false;
            }
            !(in_oauth2 && l.trim_start().starts_with("proxy_buffer"))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let nginx = Nginx::start(bed.port, &bare);
    let token = format!("{}token", bed.url);
    let answer = signed_in_get("frank", &token, &token, &[]);
    assert_ne!(answer.status, 200);
    assert!(
        nginx.error_log().contains("upstream sent too big header"),
        "{}",
        bed.logs(&nginx)
    );
    drop(nginx);
    // The recipe as it is: the same sign-in passes, and client-sent copies of the headers
    // token2go reads do not get through.
    let nginx = Nginx::start(bed.port, &bed.recipe);
    let forged = [
        ("X-Forwarded-Access-Token", "forged-1"),
        ("Authorization", "Bearer forged-2"),
        ("X-Auth-Request-Access-Token", "forged-3"),
        ("X-Forwarded-User", "mallory"),
        ("X-Forwarded-Preferred-Username", "mallory"),
        ("X-Auth-Request-Preferred-Username", "mallory"),
        ("X-Forwarded-For", "203.0.113.9"),
    ];
    let answer = signed_in_get("frank", &token, &token, &forged);
    assert_eq!(answer.status, 200, "{}\n{}", answer.body, bed.logs(&nginx));
    let (secret, _) = secret_of(&answer.body);
    assert_eq!(bed.idp.vouches_for(&secret)["preferred_username"], "frank");
    let audit = bed.server.output();
    assert!(
        !audit.contains("mallory") && !audit.contains("203.0.113.9"),
        "{audit}"
    );
    assert!(audit.contains("user=frank"), "{audit}");
}

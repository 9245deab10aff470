//! Apache httpd with `mod_auth_openidc` (Debian's packages) and the recipe
//! `assets/apache/token2go.conf` as it is, in front of the real server, with the real identity
//! provider and real Chromium signing in at its login form inside the flows that both clients
//! start (`realparts.rs`). Each token a client prints must be one the provider vouches for.

use serde_json::Value;

use crate::clients::{Sandbox, Which, run};
use crate::harness::{TempDir, TestServer, flow_url, free_port, python_keypair};
use crate::realparts::{
    Apache, CLIENT_ID, CLIENT_SECRET, Format, Idp, replace_once, repo_file, secret_of, self_signed,
    signed_in_get, signin_env, signin_records,
};
use crate::webdriver::one_browser_at_a_time;

const APACHE_RECIPE: &str = "assets/apache/token2go.conf";

/// The provider, the server, and Apache with the recipe, all on loopback.
pub(crate) struct Bed {
    pub idp: Idp,
    pub server: TestServer,
    pub apache: Apache,
    /// The server as the browser reaches it, through Apache.
    pub url: String,
    dir: TempDir,
}

impl Bed {
    pub(crate) fn start(format: Format, ttl: u64) -> Bed {
        let dir = TempDir::new("apache-bed");
        let port = free_port();
        let url = format!("https://127.0.0.1:{port}/");
        let callback = format!("{url}oidc-callback");
        let idp = Idp::start(format, ttl, std::slice::from_ref(&callback));
        // The server's defaults name mod_auth_openidc's headers.
        let server = TestServer::start(&[]);
        let (cert, key) = self_signed(&dir, "127.0.0.1");
        let site = replace_once(
            APACHE_RECIPE,
            &repo_file(APACHE_RECIPE),
            &[
                (
                    "<VirtualHost *:443>",
                    format!("<VirtualHost 127.0.0.1:{port}>"),
                ),
                (
                    "ServerName token2go.example.com",
                    "ServerName 127.0.0.1".into(),
                ),
                (
                    "/etc/ssl/certs/token2go.example.com.pem",
                    cert.display().to_string(),
                ),
                (
                    "/etc/ssl/private/token2go.example.com.key",
                    key.display().to_string(),
                ),
                ("https://idp.example.com", idp.issuer.clone()),
                (
                    "OIDCClientID            token2go",
                    format!("OIDCClientID {CLIENT_ID}"),
                ),
                ("REPLACE-ME-client-secret", CLIENT_SECRET.into()),
                ("https://token2go.example.com/oidc-callback", callback),
                (
                    "REPLACE-ME-random-passphrase",
                    "a-passphrase-of-this-test-run".into(),
                ),
                (
                    "ProxyPass        / http://127.0.0.1:8080/",
                    format!("ProxyPass        / http://{}/", server.addr),
                ),
                (
                    "ProxyPassReverse / http://127.0.0.1:8080/",
                    format!("ProxyPassReverse / http://{}/", server.addr),
                ),
                // What the browser said about each request's origin, for the Fetch Metadata
                // tests (the path only: a query may carry a flow's state).
                (
                    "</VirtualHost>",
                    format!(
                        "    CustomLog {} \"%m %U %{{Sec-Fetch-Site}}i %{{Sec-Fetch-Mode}}i %>s\"\n</VirtualHost>",
                        dir.join("fetch.log").display()
                    ),
                ),
            ],
        );
        let apache = Apache::start(port, &site);
        Bed {
            idp,
            server,
            apache,
            url,
            dir,
        }
    }

    /// Apache's record of each request: method, path, `Sec-Fetch-Site`, `Sec-Fetch-Mode`, status.
    pub(crate) fn fetch_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("fetch.log")).unwrap_or_default()
    }

    pub(crate) fn logs(&self) -> String {
        format!(
            "apache: {}\nserver: {}\nprovider: {}",
            self.apache.logs(),
            self.server.output(),
            self.idp.output()
        )
    }

    /// A client run through Chromium signing in as `user`; its `--format json` document.
    fn client_signs_in(&self, which: Which, sandbox: &Sandbox, user: &str) -> Value {
        let done = run(
            which,
            &["--timeout", "90", "--format", "json", &self.url],
            &signin_env(sandbox, user),
        );
        let records = signin_records(sandbox);
        assert_eq!(
            done.code,
            Some(0),
            "{}\nbrowser: {records:?}\n{}",
            done.describe(),
            self.logs()
        );
        assert!(records.iter().any(|r| r["event"] == "done"), "{records:?}");
        assert!(
            records
                .iter()
                .any(|r| r["action"] == format!("signed in as {user}").as_str()),
            "Chromium did not sign in at the provider's form: {records:?}"
        );
        let (secret, doc) = secret_of(&done.stdout);
        assert!(!done.stderr.contains(&secret), "token on stderr");
        doc
    }
}

fn through_apache(which: Which) {
    let _one = one_browser_at_a_time();
    let bed = Bed::start(Format::Opaque, 3600);
    let user = format!("{which:?}-user").to_lowercase();
    let sandbox = Sandbox::new();
    let doc = bed.client_signs_in(which, &sandbox, &user);
    let secret = doc["secret"].as_str().unwrap();
    // The end-to-end proof: the provider's userinfo endpoint accepts the printed token.
    let claims = bed.idp.vouches_for(secret);
    assert_eq!(claims["preferred_username"], user.as_str(), "{claims}");
    // An opaque token's expiry comes from OIDC_access_token_expires: about an hour.
    let expires = doc["expiresAt"]
        .as_str()
        .unwrap_or_else(|| panic!("no expiresAt from the gateway's header: {doc}"));
    assert!(expires.ends_with('Z'), "{expires}");
    let audit = bed.server.output();
    assert!(audit.contains(&format!("user={user}")), "{audit}");
    assert!(audit.contains("forwarded_for=127.0.0.1"), "{audit}");
    assert!(!audit.contains(secret), "token in the server's log");
    assert!(
        !bed.apache.error_log().contains(secret),
        "token in Apache's log"
    );
    // Cached: a second run needs no browser.
    let again = run(
        which,
        &["--format", "token", &bed.url],
        &sandbox.refusing_browser_env(),
    );
    assert_eq!(again.code, Some(0), "{}", again.describe());
    assert_eq!(again.stdout.trim(), secret);
    assert!(!sandbox.browser_mark().exists(), "a browser was launched");
}

#[test]
fn rust_client_through_apache_mod_auth_openidc_gets_a_token_the_provider_accepts() {
    through_apache(Which::Rust);
}

#[test]
fn python_client_through_apache_mod_auth_openidc_gets_a_token_the_provider_accepts() {
    through_apache(Which::Python);
}

#[test]
fn apache_recipe_with_short_lived_jwt_access_tokens() {
    let _one = one_browser_at_a_time();
    let ttl = 120;
    let bed = Bed::start(Format::Jwt, ttl);
    let sandbox = Sandbox::new();
    let doc = bed.client_signs_in(Which::Rust, &sandbox, "carol");
    let secret = doc["secret"].as_str().unwrap();
    assert!(secret.starts_with("eyJ"), "not a JWT: {doc}");
    // userinfo refuses a JWT for a resource by design: the signature against the JWKS is the
    // proof here.
    let claims = bed.idp.vouches_for(secret);
    assert_eq!(claims["sub"], "carol", "{claims}");
    let exp = claims["exp"].as_i64().unwrap();
    let expires = doc["expiresAt"].as_str().expect("expiresAt");
    let stamp = |unix: i64| {
        let out = std::process::Command::new("date")
            .args(["-u", "-d", &format!("@{unix}"), "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(expires, stamp(exp), "expiresAt is not the JWT's exp");
    assert!(
        bed.idp
            .refuses("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjYXJvbCJ9.AAAA")
    );
}

#[test]
fn apache_recipe_strips_client_sent_copies_of_every_header_token2go_reads() {
    let bed = Bed::start(Format::Opaque, 3600);
    let forged = [
        ("OIDC_access_token", "forged-1"),
        ("OIDC-access-token", "forged-2"),
        ("OIDC_access_token_expires", "1"),
        ("OIDC_CLAIM_preferred_username", "mallory"),
        ("OIDC-CLAIM-preferred-username", "mallory"),
        ("Authorization", "Bearer forged-3"),
        ("Access-Token", "forged-4"),
        ("Token", "forged-5"),
        ("X-Auth-Request-Access-Token", "forged-6"),
        ("X-Forwarded-Access-Token", "forged-7"),
        ("X-Auth-Request-User", "mallory"),
        ("X-Forwarded-User", "mallory"),
        ("X-Forwarded-Preferred-Username", "mallory"),
        ("X-Forwarded-Email", "mallory@example.test"),
        ("X-Forwarded-For", "203.0.113.9"),
    ];
    let token = format!("{}token", bed.url);
    let answer = signed_in_get("dave", &token, &token, &forged);
    assert_eq!(answer.status, 200, "{}\n{}", answer.body, bed.logs());
    let doc: Value = serde_json::from_str(&answer.body).expect("JSON");
    let secret = doc["secret"].as_str().unwrap();
    assert!(!secret.starts_with("forged"), "{doc}");
    // The expiry from OIDC_access_token_expires, not the forged one (1970).
    let expires = doc["expiresAt"].as_str().expect("expiresAt");
    assert!(expires.starts_with("20"), "{doc}");
    assert_eq!(bed.idp.vouches_for(secret)["sub"], "dave");
    let echo = format!("{}echo", bed.url);
    let answer = signed_in_get("dave", &echo, &echo, &forged);
    let echo = answer.body;
    assert_eq!(answer.status, 200, "{echo}");
    assert!(
        !echo.contains("forged") && !echo.contains("mallory"),
        "{echo}"
    );
    assert!(
        echo.contains("\"OIDC_CLAIM_preferred_username\":[\"dave\"]"),
        "{echo}"
    );
    let audit = bed.server.output();
    assert!(audit.contains("user=dave"), "{audit}");
    assert!(audit.contains("forwarded_for=127.0.0.1"), "{audit}");
    assert!(
        !audit.contains("mallory") && !audit.contains("203.0.113.9"),
        "{audit}"
    );
}

#[test]
fn apache_recipe_with_a_token_about_to_expire_the_flow_answers_token_expired() {
    // A 20 s token: less than the 30 s the flow requires, from OIDC_access_token_expires.
    let bed = Bed::start(Format::Opaque, 20);
    let dir = TempDir::new("expiring");
    let (_private, pem) = python_keypair(&dir, 2048, "spki");
    let target = "http://127.0.0.1:9/callback";
    let flow = flow_url(target, "st-1", "rsa2048-rfc5280-x509-pem", &pem);
    let token = format!("{}token", bed.url);
    let answer = signed_in_get("gina", &token, &format!("{}{}", bed.url, &flow[1..]), &[]);
    assert_eq!(answer.status, 303, "{}\n{}", answer.body, bed.logs());
    let location = answer.location.expect("Location");
    assert!(location.starts_with(&format!("{target}?")), "{location}");
    assert!(location.contains("error=token_expired"), "{location}");
    assert!(location.contains("state=st-1"), "{location}");
    let audit = bed.server.output();
    assert!(audit.contains("token_expired"), "{audit}");
}

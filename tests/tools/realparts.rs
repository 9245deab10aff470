//! The test bed of real parts (issue 15), shared by `realparts_*.rs`: a real identity provider
//! (panva's `oidc-provider`, OpenID Certified, on Node, pinned by
//! `tests/support/idp/package-lock.json`, configured by `tests/support/idp/provider.js`), Debian's
//! Apache with `mod_auth_openidc` run as the current user in the foreground with every path in a
//! temp dir, self-signed certificates, and real headless Chromium signing in at the provider's
//! login form (`tests/support/signin_browser.py` as `BROWSER`).
//!
//! The proof that a token a client prints is the real one: the provider vouches for it
//! (`tests/support/idp_token.py`): its userinfo endpoint accepts an opaque token; a JWT access
//! token (issued for a resource indicator) is refused by userinfo by design and by introspection
//! (oidc-provider introspects opaque tokens only), so its signature is verified against the
//! provider's JWKS, with its issuer and expiry.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::clients::Sandbox;
use crate::harness::{TempDir, TestServer, free_port, python_exe, send_signal, tool};
use crate::webdriver::closed_records;

const IDP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/idp");
const IDP_TOKEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/idp_token.py");
pub(crate) const SIGNIN_BROWSER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/signin_browser.py"
);
/// The gateway's client at the provider.
pub(crate) const CLIENT_ID: &str = "token2go-gateway";
pub(crate) const CLIENT_SECRET: &str = "gateway-client-secret-of-the-tests";

/// The access tokens the provider issues.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Format {
    /// Opaque, readable only by the provider (its userinfo endpoint accepts them).
    Opaque,
    /// A JWT for a resource indicator, signed with the provider's key.
    Jwt,
}

pub(crate) struct Idp {
    process: TestServer,
    pub issuer: String,
}

impl Idp {
    /// Starts the provider on a free loopback port with the gateway's `redirect_uris` and access
    /// tokens of `format` living `ttl` seconds.
    pub(crate) fn start(format: Format, ttl: u64, redirect_uris: &[String]) -> Idp {
        let modules = Path::new(IDP_DIR).join("node_modules/oidc-provider");
        assert!(
            modules.is_dir(),
            "{} is missing: run `npm ci` in {IDP_DIR} (scripts/test.sh does)",
            modules.display()
        );
        let port = free_port();
        let mut command = Command::new(tool("node"));
        command
            .current_dir(IDP_DIR)
            .arg("provider.js")
            .env("IDP_PORT", port.to_string())
            .env("IDP_CLIENT_ID", CLIENT_ID)
            .env("IDP_CLIENT_SECRET", CLIENT_SECRET)
            .env("IDP_REDIRECT_URIS", redirect_uris.join(","))
            .env("IDP_TOKEN_TTL", ttl.to_string())
            .env(
                "IDP_TOKEN_FORMAT",
                match format {
                    Format::Opaque => "opaque",
                    Format::Jwt => "jwt",
                },
            );
        let process = TestServer::spawn(command, SocketAddr::from(([127, 0, 0, 1], port)));
        Idp {
            process,
            issuer: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The claims the provider vouches for `token` with; panics when it refuses it.
    pub(crate) fn vouches_for(&self, token: &str) -> Value {
        let out = self.check(token);
        assert!(
            out.status.success(),
            "the provider refuses the token: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.process.output()
        );
        serde_json::from_slice(&out.stdout).expect("claims as JSON")
    }

    /// Whether the provider refuses `token`.
    pub(crate) fn refuses(&self, token: &str) -> bool {
        !self.check(token).status.success()
    }

    fn check(&self, token: &str) -> Output {
        Command::new(python_exe())
            .arg(IDP_TOKEN)
            .arg(&self.issuer)
            .arg(token)
            .output()
            .expect("run idp_token.py")
    }

    pub(crate) fn output(&self) -> String {
        self.process.output()
    }
}

/// A self-signed certificate and its key for `name` (a host name or an IP address).
pub(crate) fn self_signed(dir: &TempDir, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let san = if name.parse::<std::net::IpAddr>().is_ok() {
        format!("subjectAltName=IP:{name}")
    } else {
        format!("subjectAltName=DNS:{name}")
    };
    let out = Command::new(tool("openssl"))
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", &format!("/CN={name}"), "-addext", &san, "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// Replaces each needle of a recipe, which must occur exactly once.
pub(crate) fn replace_once(recipe: &str, text: &str, replacements: &[(&str, String)]) -> String {
    let mut out = text.to_string();
    for (needle, with) in replacements {
        assert_eq!(out.matches(needle).count(), 1, "{recipe}: `{needle}` once");
        out = out.replace(needle, with);
    }
    out
}

pub(crate) fn repo_file(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// [`Sandbox::env`] with Chromium signing in as `user` for BROWSER, logging to
/// `signin.jsonl` in the sandbox.
pub(crate) fn signin_env(sandbox: &Sandbox, user: &str) -> Vec<(String, String)> {
    let mut env = sandbox.env();
    env.push((
        "BROWSER".into(),
        format!("{} {SIGNIN_BROWSER}", python_exe()),
    ));
    env.push(("SIGNIN_USER".into(), user.into()));
    env.push((
        "SIGNIN_BROWSER_LOG".into(),
        sandbox.path("signin.jsonl").display().to_string(),
    ));
    // The test run's own temp dir, which scripts/test.sh requires empty at the end.
    env.push(("TMPDIR".into(), std::env::temp_dir().display().to_string()));
    env
}

/// The sign-in browser's records, once its last one (written after it cleaned up) is there;
/// empty when it never ran.
pub(crate) fn signin_records(sandbox: &Sandbox) -> Vec<Value> {
    closed_records(&sandbox.path("signin.jsonl"), "the sign-in browser", true)
}

/// The secret of a `--format json` document a client printed, and the whole document.
pub(crate) fn secret_of(stdout: &str) -> (String, Value) {
    let doc: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not a JSON document ({e}): {stdout}"));
    let secret = doc["secret"].as_str().expect("secret").to_string();
    (secret, doc)
}

/// Debian's Apache httpd as the current user (or `nobody` when that is root, which Apache
/// refuses to serve as), in the foreground, one server with every path in a temp dir and only
/// the modules the recipe needs; stopped on drop.
pub(crate) struct Apache {
    process: TestServer,
    dir: TempDir,
}

const APACHE_MODULES: &[&str] = &[
    "mpm_event",
    "authn_core",
    "authz_core",
    "authz_user",
    "headers",
    "proxy",
    "proxy_http",
    "socache_shmcb",
    "ssl",
    "auth_openidc",
];

impl Apache {
    /// Starts Apache with `site` (what goes in a file of sites-enabled/; it must listen on
    /// 127.0.0.1:`port`).
    pub(crate) fn start(port: u16, site: &str) -> Apache {
        let dir = TempDir::new("apache");
        let d = dir.join("");
        let d = d.display();
        std::fs::write(dir.join("site.conf"), site).expect("write site.conf");
        let modules: String = APACHE_MODULES
            .iter()
            .map(|m| format!("LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n"))
            .collect();
        // The effective uid, from the proc filesystem.
        let root = std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
        let user = if root {
            "User nobody\nGroup nogroup\n"
        } else {
            ""
        };
        let main = format!(
            "ServerRoot {d}\n\
             ServerName 127.0.0.1\n\
             Listen 127.0.0.1:{port}\n\
             PidFile {d}httpd.pid\n\
             DefaultRuntimeDir {d}\n\
             Mutex file:{d}\n\
             ErrorLog {d}error.log\n\
             LogLevel info\n\
             LogFormat \"%h %r %>s\" short\n\
             CustomLog {d}access.log short\n\
             {user}{modules}\
             SSLSessionCache shmcb:{d}ssl_scache(51200)\n\
             Include {d}site.conf\n"
        );
        std::fs::write(dir.join("httpd.conf"), main).expect("write httpd.conf");
        if root {
            // Its workers (nobody) write the session cache's files in here.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.join(""), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let mut command = Command::new(tool("apache2"));
        command
            .arg("-f")
            .arg(dir.join("httpd.conf"))
            .arg("-DFOREGROUND");
        let process = TestServer::spawn(command, SocketAddr::from(([127, 0, 0, 1], port)));
        Apache { process, dir }
    }

    pub(crate) fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// What Apache printed, its error log and its access log, for a failure message.
    pub(crate) fn logs(&self) -> String {
        let access = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
        format!("{}\n{}\n{access}", self.process.output(), self.error_log())
    }
}

impl Drop for Apache {
    /// A graceless kill of the parent would leave its worker processes behind: TERM first.
    fn drop(&mut self) {
        send_signal(self.process.pid(), "TERM");
        let _ = self.process.wait_exit(Duration::from_secs(10));
    }
}

const FORM_SIGNIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/form_signin.py");

/// What [`signed_in_get`] got.
pub(crate) struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

/// Signs in as `user` at `url` through a gateway without a browser
/// (`tests/support/form_signin.py`), then GETs `request` (not following a redirect) with the
/// `forged` headers.
pub(crate) fn signed_in_get(
    user: &str,
    url: &str,
    request: &str,
    forged: &[(&str, &str)],
) -> Answer {
    let mut command = Command::new(python_exe());
    command.arg(FORM_SIGNIN).arg(user).arg(url).arg(request);
    for (name, value) in forged {
        command.arg(format!("{name}={value}"));
    }
    let out = command.output().expect("run form_signin.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    Answer {
        status: answer["status"].as_u64().expect("status") as u16,
        location: answer["location"].as_str().map(String::from),
        body: answer["body"].as_str().expect("body").to_string(),
    }
}

//! Both clients, `token2go` (Rust) and `scripts/token2go_client.py`, end to end against the real
//! server binary, with the stand-in browser (`tests/support/standin_browser.py`) as `BROWSER`:
//! it opens the client's start link, plays the gateway (adds the token header), follows the 303
//! or submits the form_post form, and logs what it received. It waits for every answer before it exits, so a client that waited
//! for its browser command would deadlock and fail here.
//!
//! Every client run gets a fresh HOME and XDG_CACHE_HOME and only the variables it needs.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rsa::sha2::{Digest, Sha256};
use serde_json::Value;

use crate::harness::{TempDir, TestServer, confirm_link, python_exe, unix_now, unsigned_jwt};

pub(crate) const RUST_CLIENT: &str = env!("CARGO_BIN_EXE_token2go");
pub(crate) const PY_CLIENT: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/token2go_client.py");
const STANDIN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/standin_browser.py"
);
const AUTH_TEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/test_python_auth.py"
);
/// The header the stand-in browser adds, as a gateway would; in the server's default list.
pub(crate) const TOKEN_HEADER: &str = "X-Forwarded-Access-Token";
/// Longest a client run may take: RSA-4096 generation in a debug build takes up to ~20 s.
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// The two clients under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Which {
    Rust,
    Python,
}

// ----- tokens ---------------------------------------------------------------------------------

/// An unsigned JWT (the server decodes, never verifies) of about `size` bytes, expiring in
/// `valid_for` seconds; `tag` makes it unique.
pub(crate) fn jwt(tag: &str, size: usize, valid_for: u64) -> String {
    let token = |pad: usize| {
        let claims = format!(
            r#"{{"sub":"{tag}","exp":{},"groups":"{}"}}"#,
            unix_now() + valid_for,
            "g".repeat(pad)
        );
        unsigned_jwt(&claims, "c2lnbmF0dXJl")
    };
    let pad = size.saturating_sub(token(0).len()) * 3 / 4;
    token(pad)
}

// ----- a sandbox per client run: HOME, cache, stand-in log --------------------------------------

pub(crate) struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    pub(crate) fn new() -> Sandbox {
        let dir = TempDir::new("client");
        std::fs::create_dir(dir.join("home")).unwrap();
        Sandbox { dir }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The cache directory both clients use here (`$XDG_CACHE_HOME/token2go`).
    pub(crate) fn cache_dir(&self) -> PathBuf {
        self.path("cache").join("token2go")
    }

    /// The cache entry of a server, computed independently of both clients.
    pub(crate) fn cache_entry(&self, server: &str) -> PathBuf {
        let normalized = server.trim_end_matches('/');
        let hex: String = Sha256::digest(normalized.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.cache_dir().join(format!("{}.json", &hex[..32]))
    }

    /// The base environment of a client run: nothing but PATH, HOME and XDG_CACHE_HOME.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), self.path("home").display().to_string()),
            (
                "XDG_CACHE_HOME".into(),
                self.path("cache").display().to_string(),
            ),
        ]
    }

    /// [`Sandbox::env`] with the stand-in browser as BROWSER, sending `token`.
    pub(crate) fn standin_env(&self, token: &str) -> Vec<(String, String)> {
        let mut env = self.env();
        env.push(("BROWSER".into(), format!("{} {STANDIN}", python_exe())));
        env.push(("STANDIN_TOKEN".into(), token.into()));
        env.push(("STANDIN_HEADER_NAME".into(), TOKEN_HEADER.into()));
        env.push(("STANDIN_LOG".into(), self.log_path().display().to_string()));
        env
    }

    /// [`Sandbox::env`] with a BROWSER that only leaves a mark: the test fails if it ran.
    pub(crate) fn refusing_browser_env(&self) -> Vec<(String, String)> {
        let script = self.path("refusing-browser");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\ntouch '{}'\nexit 1\n",
                self.browser_mark().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut env = self.env();
        env.push(("BROWSER".into(), script.display().to_string()));
        env
    }

    pub(crate) fn browser_mark(&self) -> PathBuf {
        self.path("browser-was-opened")
    }

    pub(crate) fn log_path(&self) -> PathBuf {
        self.path("standin.jsonl")
    }

    /// What the stand-in browser logged: one record per request it made.
    pub(crate) fn standin_log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// The flow URL the client's start link led the stand-in browser to (the last one).
    pub(crate) fn flow_url(&self) -> String {
        self.standin_log()
            .iter()
            .rev()
            .filter(|r| r["kind"] == "start")
            .find_map(|r| {
                r["headers"].as_array()?.iter().find_map(|h| {
                    let pair = h.as_array()?;
                    let name = pair.first()?.as_str()?;
                    name.eq_ignore_ascii_case("location")
                        .then(|| pair.get(1)?.as_str().map(str::to_string))
                        .flatten()
                })
            })
            .unwrap_or_else(|| panic!("no start link followed: {:?}", self.standin_log()))
    }

    /// How many flows the stand-in browser started.
    pub(crate) fn flows(&self) -> usize {
        self.standin_log()
            .iter()
            .filter(|r| {
                r["url"]
                    .as_str()
                    .unwrap_or("")
                    .contains("/flow/redirect/token")
            })
            .count()
    }
}

// ----- running a client -------------------------------------------------------------------------

/// A client process; killed on drop if still running.
pub(crate) struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    started: Instant,
    description: String,
}

/// A finished client run.
pub(crate) struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// When the process was seen to exit, on the wall clock (the stand-in logs Unix times).
    pub ended: std::time::SystemTime,
    pub description: String,
}

impl Finished {
    /// stdout of a run that must have succeeded.
    pub(crate) fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "{}", self.describe());
        &self.stdout
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "{}\nexit {:?} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.description, self.code, self.elapsed, self.stdout, self.stderr
        )
    }

    /// A failure as both clients must report it: exit 1, nothing on stdout, no traceback or
    /// panic, and a last line of the client's own that contains `needle`. Returns that line.
    /// (The browser command shares the client's stderr; its lines may come later.)
    pub(crate) fn failed_with(&self, needle: &str) -> String {
        assert_eq!(self.code, Some(1), "{}", self.describe());
        assert_eq!(self.stdout, "", "{}", self.describe());
        assert_no_crash(&self.stderr);
        let last = self
            .stderr
            .lines()
            .rev()
            .find(|line| !line.starts_with("standin_browser: "))
            .unwrap_or_default()
            .to_string();
        assert!(
            last.starts_with("token2go: ") && last.contains(needle),
            "{}",
            self.describe()
        );
        last
    }

    /// The flow URL (paste mode) or start link the client printed on stderr.
    pub(crate) fn url(&self) -> String {
        self.stderr
            .lines()
            .find(|line| line.starts_with("http"))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no URL: {}", self.describe()))
    }
}

pub(crate) fn assert_no_crash(stderr: &str) {
    for sign in ["Traceback", "panicked", "RUST_BACKTRACE", "internal error"] {
        assert!(!stderr.contains(sign), "{sign} on stderr:\n{stderr}");
    }
}

pub(crate) fn flow_url_in(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .find(|line| line.starts_with("http") && line.contains("/flow/redirect/token?"))
        .map(str::to_string)
}

pub(crate) fn spawn(which: Which, args: &[&str], env: &[(String, String)]) -> Running {
    let mut command = match which {
        Which::Rust => Command::new(RUST_CLIENT),
        Which::Python => {
            let mut command = Command::new(python_exe());
            command.arg(PY_CLIENT);
            command
        }
    };
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let description = format!(
        "{which:?} client {args:?} with {:?}",
        env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()
    );
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{description}: {e}"));
    let stdin = child.stdin.take();
    let (out, err) = (Arc::default(), Arc::default());
    let readers = vec![
        collect(child.stdout.take().unwrap(), Arc::clone(&out)),
        collect(child.stderr.take().unwrap(), Arc::clone(&err)),
    ];
    Running {
        child,
        stdin,
        out,
        err,
        readers,
        started: Instant::now(),
        description,
    }
}

fn collect(mut pipe: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

/// Runs a client to its end with nothing on stdin.
pub(crate) fn run(which: Which, args: &[&str], env: &[(String, String)]) -> Finished {
    let mut running = spawn(which, args, env);
    running.close_stdin();
    running.finish()
}

impl Running {
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// Waits until stderr contains `needle`; fails the test if the client exits first.
    pub(crate) fn wait_for_stderr(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + RUN_LIMIT;
        loop {
            let text = self.stderr();
            if text.contains(needle) {
                return text;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before {needle:?}:\n{text}",
                    self.description
                );
            }
            assert!(
                Instant::now() < deadline,
                "{}: no {needle:?}:\n{text}",
                self.description
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        let mut stdin = self.stdin.take().expect("stdin still open");
        stdin.write_all(bytes).expect("write the client's stdin");
    }

    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the client to exit (without waiting for its pipes to close); its pid.
    pub(crate) fn wait_for_exit(&mut self) -> u32 {
        let deadline = self.started + RUN_LIMIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "{} did not exit:\n{}",
                self.description,
                self.stderr()
            );
            thread::sleep(Duration::from_millis(10));
        }
        self.child.id()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn finish(mut self) -> Finished {
        self.close_stdin();
        let deadline = self.started + RUN_LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} did not exit:\n{}", self.description, self.stderr());
            }
            thread::sleep(Duration::from_millis(10));
        };
        let elapsed = self.started.elapsed();
        let ended = std::time::SystemTime::now();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let text =
            |buf: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
        Finished {
            code: status.code(),
            stdout: text(&self.out),
            stderr: text(&self.err),
            elapsed,
            ended,
            description: self.description.clone(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ----- checks shared by the tests ----------------------------------------------------------------

/// A successful run: exactly `secret` and a newline on stdout (unless `format` says otherwise),
/// the secret nowhere on stderr nor in anything the stand-in browser received.
pub(crate) fn assert_delivered(done: &Finished, sandbox: &Sandbox, secret: &str) {
    done.ok();
    assert_no_crash(&done.stderr);
    assert!(
        !done.stderr.contains(secret),
        "token on stderr: {}",
        done.describe()
    );
    let log = std::fs::read_to_string(sandbox.log_path()).unwrap_or_default();
    assert!(
        !log.contains(secret),
        "the stand-in browser received the token"
    );
}

pub(crate) fn server_url(server: &TestServer) -> String {
    server.url("")
}

/// The document `/token` serves for `secret`, as the flow delivers it (without `timestamp`).
fn expected_document(server: &TestServer, secret: &str) -> Value {
    let mut doc = server.get("/token", &[(TOKEN_HEADER, secret)]).json();
    doc.as_object_mut().unwrap().remove("timestamp");
    doc
}

fn without_timestamp(mut doc: Value) -> Value {
    assert!(doc["timestamp"].is_string(), "{doc}");
    doc.as_object_mut().unwrap().remove("timestamp");
    doc
}

pub(crate) fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Runs `test` once per client, as two tests, so each client's failures show separately.
/// (`Which` must be in scope where it is used.)
macro_rules! for_both_clients {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn rust() {
                    super::$name(super::Which::Rust);
                }
                #[test]
                fn python() {
                    super::$name(super::Which::Python);
                }
            }
        )*
    };
}

pub(crate) use for_both_clients;

for_both_clients!(
    every_output_format,
    every_key_size,
    paste_mode_with_a_16_kb_jwt,
    paste_mode_is_the_default_over_ssh,
    server_url_from_token2go_url,
    a_tampered_state_is_refused,
    probes_and_a_foreign_host_are_ignored,
    timeout_is_one_line_and_exit_1,
    cache_hit_opens_no_browser,
    corrupt_foreign_and_world_readable_cache_entries_are_replaced,
    a_16_kb_jwt_through_form_post,
    a_browser_that_stays_open_is_not_waited_for,
    usage_help_and_version,
);

fn every_output_format(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let secret = jwt("formats", 600, 3600);
    let expected = expected_document(&server, &secret);
    assert!(expected["expiresAt"].is_string(), "{expected}");
    let sandbox = Sandbox::new();
    let env = sandbox.standin_env(&secret);
    let fetch = |args: &[&str], extra: &[(&str, &str)]| {
        let mut env = env.clone();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut all = vec!["--no-cache"];
        all.extend_from_slice(args);
        all.push(&url);
        let done = run(which, &all, &env);
        assert_delivered(&done, &sandbox, &secret);
        done.stdout
    };
    assert_eq!(fetch(&[], &[]), format!("{secret}\n"));
    assert_eq!(fetch(&["--format", "token"], &[]), format!("{secret}\n"));
    assert_eq!(
        fetch(&["--format", "header"], &[]),
        format!("Authorization: Bearer {secret}\n")
    );
    for json_args in [&["--format", "json"][..], &["--json"]] {
        let out = fetch(json_args, &[]);
        assert!(
            out.ends_with('\n') && out.trim_end().lines().count() == 1,
            "{out}"
        );
        let doc: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(without_timestamp(doc), expected);
    }
    let credential: Value =
        serde_json::from_str(&fetch(&["--format", "exec-credential"], &[])).unwrap();
    assert_eq!(
        credential,
        serde_json::json!({
            "apiVersion": "client.authentication.k8s.io/v1",
            "kind": "ExecCredential",
            "status": {"token": secret, "expirationTimestamp": expected["expiresAt"]},
        })
    );
    let exec_info = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":true}}"#;
    let credential: Value = serde_json::from_str(&fetch(
        &["--format=exec-credential"],
        &[("KUBERNETES_EXEC_INFO", exec_info)],
    ))
    .unwrap();
    assert_eq!(
        credential["apiVersion"],
        "client.authentication.k8s.io/v1beta1"
    );
    assert_eq!(credential["status"]["token"], secret.as_str());
    assert_eq!(sandbox.flows(), 7, "one flow per run");

    // A token without expiry and --max-age 0: no expiresAt, no expirationTimestamp, and never
    // cached (--min-interval 0: the second run may open the browser again at once).
    let opaque = format!("opaque-token-{which:?}-not-a-jwt");
    let sandbox = Sandbox::new();
    let env = sandbox.standin_env(&opaque);
    let never = ["--max-age", "0", "--min-interval", "0"];
    let done = run(
        which,
        &[&never[..], &["--format", "exec-credential", &url]].concat(),
        &env,
    );
    assert_delivered(&done, &sandbox, &opaque);
    let credential: Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(credential["status"], serde_json::json!({"token": opaque}));
    let done = run(which, &[&never[..], &["--json", &url]].concat(), &env);
    assert_delivered(&done, &sandbox, &opaque);
    let doc: Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(without_timestamp(doc), expected_document(&server, &opaque));
    assert_eq!(
        sandbox.flows(),
        2,
        "a token without expiry is fetched every time"
    );
    assert!(!sandbox.cache_entry(&url).exists());
}

fn every_key_size(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let secret = jwt("key-sizes", 500, 3600);
    let sandbox = Sandbox::new();
    for bits in ["2048", "3072", "4096"] {
        let done = run(
            which,
            &["--no-cache", "--key-size", bits, &url],
            &sandbox.standin_env(&secret),
        );
        assert_delivered(&done, &sandbox, &secret);
        assert_eq!(done.stdout, format!("{secret}\n"));
        assert!(
            sandbox
                .flow_url()
                .contains(&format!("&publicKeyType=rsa{bits}-rfc5280-x509-pem&")),
            "{}",
            done.describe()
        );
    }
}

/// The text between `start` and the next `end` in `page`.
fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let from = page
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in the page"))
        + start.len();
    let to = page[from..].find(end).unwrap() + from;
    &page[from..to]
}

fn paste_mode_with_a_16_kb_jwt(which: Which) {
    let server = TestServer::start(&[]);
    let url = format!("{}/", server_url(&server));
    let secret = jwt("paste", 16 * 1024, 3600);
    let sandbox = Sandbox::new();
    let mut client = spawn(
        which,
        &["--paste", "--no-browser", "--no-cache", &url],
        &sandbox.env(),
    );
    let stderr = client.wait_for_stderr("-----END TOKEN2GO RESPONSE-----):");
    let flow = flow_url_in(&stderr).expect("the flow URL on stderr");
    assert!(
        flow.contains("target=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob&"),
        "{flow}"
    );
    let code_line = stderr
        .lines()
        .find(|l| l.contains("verification code: "))
        .expect("the verification code on stderr");
    let code = between(code_line, "verification code: ", " ");
    assert!(code.len() == 9 && code.as_bytes()[4] == b'-', "{code_line}");

    // The test is the browser: it fetches the page through the "gateway" (with the header).
    let path = flow.strip_prefix(&server_url(&server)).unwrap();
    let page = server.get(path, &[(TOKEN_HEADER, &secret)]);
    assert_eq!(page.status, 200, "{}", page.text());
    let warning = page.text();
    assert_eq!(
        between(&warning, "id=\"vcode\">", "<"),
        code,
        "same code on the warning page and the client"
    );
    assert!(!warning.contains("-----BEGIN TOKEN2GO RESPONSE-----"));
    // The user checks the code and presses the button: the same request, confirmed.
    let page = server.get(&confirm_link(&warning), &[(TOKEN_HEADER, &secret)]);
    assert_eq!(page.status, 200, "{}", page.text());
    let page = page.text();
    assert!(!page.contains(&secret));
    assert_eq!(
        between(&page, "id=\"vcode\">", "<"),
        code,
        "same code on page and client"
    );
    let block = between(
        &page,
        "spellcheck=\"false\" autocomplete=\"off\" autocapitalize=\"off\">",
        "</textarea>",
    );
    assert!(block.starts_with("-----BEGIN TOKEN2GO RESPONSE-----\n") && block.len() > 20_000);
    // Pasted from a terminal elsewhere: CRLF, blank lines, indentation.
    let pasted = format!("\r\n  {}\r\n\r\n", block.replace('\n', "\r\n\r\n  "));
    client.feed(pasted.as_bytes());
    let done = client.finish();
    assert_delivered(&done, &sandbox, &secret);
    assert_eq!(done.stdout, format!("{secret}\n"));
}

fn paste_mode_is_the_default_over_ssh(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let sandbox = Sandbox::new();
    let mut ssh = sandbox.env();
    ssh.push((
        "SSH_CONNECTION".into(),
        "192.0.2.1 50000 192.0.2.2 22".into(),
    ));
    let mut client = spawn(which, &["--no-cache", &url], &ssh);
    let stderr = client.wait_for_stderr("-----END TOKEN2GO RESPONSE-----):");
    assert!(stderr.contains("paste mode"), "{stderr}");
    assert!(
        flow_url_in(&stderr).unwrap().contains("target=urn%3Aietf"),
        "{stderr}"
    );
    client.feed(b"not a block\n");
    let done = client.finish();
    done.failed_with("-----END TOKEN2GO RESPONSE-----");

    // --no-paste keeps the loopback callback, even over SSH.
    let done = run(
        which,
        &["--no-cache", "--no-paste", "--timeout", "1", &url],
        &ssh,
    );
    done.failed_with("no token within 1");
    assert!(!done.stderr.contains("paste mode"), "{}", done.describe());
    assert!(
        done.url().starts_with("http://127.0.0.1:") && !done.url().contains("/flow/"),
        "the start link: {}",
        done.describe()
    );
}

fn server_url_from_token2go_url(which: Which) {
    let server = TestServer::start(&[]);
    let secret = jwt("env-url", 500, 3600);
    let sandbox = Sandbox::new();
    let mut env = sandbox.standin_env(&secret);
    env.push(("TOKEN2GO_URL".into(), format!("{}/", server_url(&server))));
    let done = run(which, &["--no-cache"], &env);
    assert_delivered(&done, &sandbox, &secret);
    assert_eq!(done.stdout, format!("{secret}\n"));
    assert!(
        sandbox
            .flow_url()
            .starts_with(&format!("{}/flow/redirect/token?", server_url(&server)))
    );

    let done = run(which, &[], &sandbox.env());
    assert_eq!(done.code, Some(2), "{}", done.describe());
    assert_eq!(done.stdout, "");
    assert_eq!(done.stderr.lines().count(), 1, "{}", done.describe());
    assert!(done.stderr.contains("TOKEN2GO_URL"), "{}", done.describe());
}

fn a_tampered_state_is_refused(which: Which) {
    let server = TestServer::start(&[]);
    let secret = jwt("tampered", 500, 3600);
    let sandbox = Sandbox::new();
    let mut env = sandbox.standin_env(&secret);
    env.push(("STANDIN_TAMPER_STATE".into(), "1".into()));
    let done = run(which, &[&server_url(&server)], &env);
    done.failed_with("state");
    assert!(!done.stderr.contains(&secret));
    let log = sandbox.standin_log();
    let delivery = log
        .iter()
        .find(|r| r["kind"] == "submit" || r["kind"] == "deliver")
        .unwrap_or_else(|| panic!("no delivery in {log:?}"));
    assert_eq!(delivery["status"], 400, "{delivery}");
    assert!(
        !std::fs::read_to_string(sandbox.log_path())
            .unwrap()
            .contains(&secret)
    );
    assert!(!sandbox.cache_entry(&server_url(&server)).exists());
}

fn probes_and_a_foreign_host_are_ignored(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let secret = jwt("probes", 500, 3600);
    let sandbox = Sandbox::new();
    let mut env = sandbox.standin_env(&secret);
    env.push((
        "STANDIN_EXTRA_PATHS".into(),
        "/favicon.ico,/,/probe?state=x".into(),
    ));
    let done = run(which, &["--no-cache", &url], &env);
    assert_delivered(&done, &sandbox, &secret);
    let log = sandbox.standin_log();
    let probes: Vec<&Value> = log.iter().filter(|r| r["kind"] == "extra").collect();
    assert_eq!(probes.len(), 3, "{log:?}");
    for probe in probes {
        assert_eq!(probe["status"], 404, "{probe}");
    }

    // A page reaching the listener by another host name (DNS rebinding) gets 404 and
    // delivers nothing: the client waits on, and gives up at its timeout.
    let sandbox = Sandbox::new();
    let mut env = sandbox.standin_env(&secret);
    env.push(("STANDIN_HOST_HEADER".into(), "rebound.example".into()));
    let done = run(which, &["--no-cache", "--timeout", "3", &url], &env);
    done.failed_with("no token within 3");
    let log = sandbox.standin_log();
    let delivery = log
        .iter()
        .find(|r| r["kind"] == "submit")
        .unwrap_or_else(|| panic!("no delivery in {log:?}"));
    assert_eq!(delivery["status"], 404, "{delivery}");
}

fn timeout_is_one_line_and_exit_1(which: Which) {
    let server = TestServer::start(&[]);
    let sandbox = Sandbox::new();
    let done = run(
        which,
        &["--no-browser", "--timeout", "2", &server_url(&server)],
        &sandbox.env(),
    );
    done.failed_with("no token within 2");
    assert!(
        done.elapsed >= Duration::from_secs(2) && done.elapsed < Duration::from_secs(20),
        "{}",
        done.describe()
    );
    // The hint, the start link, what it waits for, the failure: nothing else.
    assert_eq!(done.stderr.lines().count(), 4, "{}", done.describe());
    assert!(done.stderr.contains("Ctrl-C"), "{}", done.describe());
    assert!(!sandbox.browser_mark().exists());
}

fn cache_hit_opens_no_browser(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let secret = jwt("cache", 500, 3600);
    let sandbox = Sandbox::new();
    let first = run(which, &[&url], &sandbox.standin_env(&secret));
    assert_delivered(&first, &sandbox, &secret);
    let entry = sandbox.cache_entry(&url);
    assert_eq!(mode(&sandbox.cache_dir()), 0o700);
    assert_eq!(mode(&entry), 0o600);
    let stored: Value = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
    assert_eq!(stored["version"], 1);
    assert_eq!(stored["server"], url.as_str());
    assert_eq!(stored["token"]["secret"], secret.as_str());
    // The entry, the lock and the launch record; no temp file left.
    let mut names: Vec<String> = std::fs::read_dir(sandbox.cache_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let stem = entry.file_stem().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        names,
        [
            format!("{stem}.json"),
            format!("{stem}.launch"),
            format!("{stem}.lock")
        ]
    );

    // Again, with a trailing slash (same entry) and a BROWSER that must not run.
    for args in [
        vec![url.clone()],
        vec![format!("{url}/"), "--format".into(), "header".into()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let again = run(which, &args, &sandbox.refusing_browser_env());
        assert!(again.ok().contains(&secret), "{}", again.describe());
        assert_eq!(again.stderr, "", "a cache hit prints nothing else");
        assert!(
            !sandbox.browser_mark().exists(),
            "the browser was opened on a cache hit"
        );
    }

    // --refresh runs the flow and rewrites the entry; --no-cache neither reads nor writes;
    // --forget deletes it.
    let fresh = jwt("cache-refreshed", 500, 3600);
    let done = run(which, &["--refresh", &url], &sandbox.standin_env(&fresh));
    assert_delivered(&done, &sandbox, &fresh);
    assert_eq!(done.stdout, format!("{fresh}\n"));
    let stored: Value = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
    assert_eq!(stored["token"]["secret"], fresh.as_str());
    let other = jwt("cache-bypassed", 500, 3600);
    let done = run(which, &["--no-cache", &url], &sandbox.standin_env(&other));
    assert_eq!(done.ok(), format!("{other}\n"));
    let stored: Value = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
    assert_eq!(stored["token"]["secret"], fresh.as_str());
    assert_eq!(sandbox.flows(), 3);
    let done = run(which, &["--forget", &url], &sandbox.refusing_browser_env());
    assert_eq!(done.ok(), "");
    assert!(!entry.exists());
    assert!(!sandbox.browser_mark().exists());
    let done = run(which, &["--forget", &url], &sandbox.refusing_browser_env());
    assert_eq!(done.ok(), "", "forgetting nothing is fine");
}

#[test]
fn cache_shared_between_the_clients_both_ways() {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    for (first, second) in [(Which::Rust, Which::Python), (Which::Python, Which::Rust)] {
        let secret = jwt(&format!("shared-{first:?}"), 500, 3600);
        let sandbox = Sandbox::new();
        let fetched = run(
            first,
            &["--format", "json", &url],
            &sandbox.standin_env(&secret),
        );
        assert_delivered(&fetched, &sandbox, &secret);
        let reused = run(
            second,
            &["--format", "json", &url],
            &sandbox.refusing_browser_env(),
        );
        assert!(
            !sandbox.browser_mark().exists(),
            "{second:?} opened a browser"
        );
        let (a, b): (Value, Value) = (
            serde_json::from_str(fetched.ok()).unwrap(),
            serde_json::from_str(reused.ok()).unwrap(),
        );
        assert_eq!(a, b, "{first:?} then {second:?}");
        assert_eq!(b["secret"], secret.as_str());
    }
}

fn corrupt_foreign_and_world_readable_cache_entries_are_replaced(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let secret = jwt("corrupt", 500, 3600);
    let sandbox = Sandbox::new();
    let entry = sandbox.cache_entry(&url);
    std::fs::create_dir_all(sandbox.cache_dir()).unwrap();
    std::fs::set_permissions(sandbox.cache_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let foreign = serde_json::json!({
        "version": 1,
        "server": "https://elsewhere.example",
        "token": {"secret": "foreign-secret", "expiresAt": "2999-01-01T00:00:00Z"},
    })
    .to_string();
    let mut flows = 0;
    for (content, loose) in [
        ("{\"version\": 1, \"serv".to_string(), false),
        ("\u{0}\u{1}binary".to_string(), false),
        (foreign, false),
        (String::new(), true),
    ] {
        if loose {
            // The good entry of the previous round, made readable by others.
            std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o644)).unwrap();
        } else {
            std::fs::write(&entry, &content).unwrap();
            std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        // --min-interval 0: each round opens the browser again at once.
        let done = run(
            which,
            &["--min-interval", "0", &url],
            &sandbox.standin_env(&secret),
        );
        assert_delivered(&done, &sandbox, &secret);
        assert_eq!(done.stdout, format!("{secret}\n"), "not the foreign secret");
        assert!(
            done.stderr.contains("ignoring the cache entry"),
            "{}",
            done.describe()
        );
        flows += 1;
        assert_eq!(sandbox.flows(), flows, "the bad entry was not used");
        assert_eq!(mode(&entry), 0o600, "replaced by a private entry");
        let stored: Value = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
        assert_eq!(stored["token"]["secret"], secret.as_str());
    }
    let again = run(which, &[&url], &sandbox.refusing_browser_env());
    assert_eq!(again.ok(), format!("{secret}\n"));
    assert!(!sandbox.browser_mark().exists());
}

fn a_16_kb_jwt_through_form_post(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let secret = jwt("big", 16 * 1024, 3600);
    assert!(secret.len() >= 16 * 1024 - 64 && secret.len() <= 16 * 1024 + 64);
    let sandbox = Sandbox::new();
    let done = run(which, &["--json", &url], &sandbox.standin_env(&secret));
    assert_delivered(&done, &sandbox, &secret);
    let doc: Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(doc["secret"], secret.as_str());
    let log = sandbox.standin_log();
    let log: Vec<&Value> = log.iter().filter(|r| r["kind"] != "argv").collect();
    let kinds: Vec<(&str, &str, u64)> = log
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or(""),
                r["method"].as_str().unwrap_or(""),
                r["status"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    // The start link (303), the flow page (200, the form), its POST to the listener (303), the
    // done page (200).
    assert_eq!(
        kinds,
        [
            ("start", "GET", 303),
            ("navigate", "GET", 200),
            ("submit", "POST", 303),
            ("navigate", "GET", 200)
        ],
        "{log:?}"
    );
    assert!(
        log[3]["url"]
            .as_str()
            .unwrap()
            .ends_with("/flow/redirect/done")
    );
    assert_eq!(
        mode(&sandbox.cache_entry(&url)),
        0o600,
        "a 16 KB token is cached too"
    );
}

/// A browser command that delivers, then stays until its window would be closed (30 s): the
/// client answers, prints and exits long before; `$(token2go)` does not wait for the browser
/// either, since the browser does not hold the client's stdout.
fn a_browser_that_stays_open_is_not_waited_for(which: Which) {
    let server = TestServer::start(&[]);
    let url = server_url(&server);
    let secret = jwt("stays-open", 500, 3600);
    let sandbox = Sandbox::new();
    let script = sandbox.path("lingering-browser");
    let pid_file = sandbox.path("browser.pid");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ > '{}'\n{} {STANDIN} \"$@\"\nexec sleep 30\n",
            pid_file.display(),
            python_exe()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut env = sandbox.standin_env(&secret);
    env.retain(|(k, _)| k != "BROWSER");
    env.push(("BROWSER".into(), script.display().to_string()));
    let mut client = spawn(which, &["--no-cache", &url], &env);
    client.close_stdin();
    client.wait_for_exit();
    let lingering: i32 = std::fs::read_to_string(&pid_file)
        .expect("the browser command ran")
        .trim()
        .parse()
        .unwrap();
    let still_there = Path::new(&format!("/proc/{lingering}")).exists();
    // The browser command still holds the client's stderr; end it before reading that to its end.
    let _ = Command::new("kill").arg(lingering.to_string()).status();
    let done = client.finish();
    assert!(
        still_there,
        "the browser command ended before the client: nothing was shown"
    );
    assert!(
        done.elapsed < Duration::from_secs(20),
        "{}",
        done.describe()
    );
    assert_delivered(&done, &sandbox, &secret);
    assert_eq!(done.stdout, format!("{secret}\n"));
}

/// The Rust client reaps a browser command that exits while it waits: no zombie child.
#[test]
fn the_rust_client_leaves_no_zombie_browser() {
    let server = TestServer::start(&[]);
    let sandbox = Sandbox::new();
    let mut env = sandbox.env();
    env.push(("BROWSER".into(), "true".into()));
    let mut client = spawn(
        Which::Rust,
        &["--no-cache", "--timeout", "3", &server_url(&server)],
        &env,
    );
    client.wait_for_stderr("Ctrl-C");
    let parent = client.pid().to_string();
    let zombie_children = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("stat")).ok())
            .filter(|stat| {
                // pid (comm) state ppid ...: the fields after the command's closing parenthesis.
                let fields: Vec<&str> = stat
                    .rsplit_once(") ")
                    .map_or("", |(_, rest)| rest)
                    .split(' ')
                    .collect();
                fields.len() > 1 && fields[0] == "Z" && fields[1] == parent
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut zombies = zombie_children();
    while zombies > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
        zombies = zombie_children();
    }
    assert_eq!(zombies, 0, "the finished browser command was not reaped");
    client.finish().failed_with("no token within 3");
}

fn usage_help_and_version(which: Which) {
    let sandbox = Sandbox::new();
    for args in [
        &["--bogus", "http://127.0.0.1:9"][..],
        &["--key-size", "1024", "http://127.0.0.1:9"],
        &["--format", "yaml", "http://127.0.0.1:9"],
        &["--timeout", "0", "http://127.0.0.1:9"],
        &["--paste", "--no-paste", "http://127.0.0.1:9"],
        &["ftp://127.0.0.1:9"],
    ] {
        let done = run(which, args, &sandbox.env());
        assert_eq!(done.code, Some(2), "{}", done.describe());
        assert_eq!(done.stdout, "");
        assert_eq!(done.stderr.lines().count(), 1, "{}", done.describe());
        assert_no_crash(&done.stderr);
    }
    let help = run(which, &["--help"], &sandbox.env());
    for option in [
        "--format",
        "--json",
        "--key-size",
        "--port",
        "--timeout",
        "--no-browser",
        "--paste",
        "--no-paste",
        "--no-cache",
        "--refresh",
        "--forget",
        "--version",
        "SERVER_URL",
    ] {
        assert!(
            help.ok().contains(option),
            "{option} missing: {}",
            help.describe()
        );
    }
    let version = run(which, &["--version"], &sandbox.env());
    assert!(version.ok().contains("0.1.0"), "{}", version.describe());
}

#[test]
fn python_token2goauth_on_a_requests_session() {
    let server = TestServer::start(&[]);
    let secret = jwt("requests-auth", 800, 3600);
    let sandbox = Sandbox::new();
    let mut env = sandbox.env();
    env.push(("STANDIN_TOKEN".into(), secret.clone()));
    // It imports the client from scripts/: no bytecode cache in the source tree.
    env.push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
    let out = Command::new(python_exe())
        .arg(AUTH_TEST)
        .arg(server_url(&server))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .expect("run test_python_auth.py");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains(" passed, 0 failed"),
        "test_python_auth.py failed:\n{stdout}\n{stderr}"
    );
    assert!(!stdout.contains(&secret) && !stderr.contains(&secret));
}

#[test]
fn the_rust_client_listens_on_the_port_it_is_given() {
    let server = TestServer::start(&[]);
    let sandbox = Sandbox::new();
    let port = crate::harness::free_port().to_string();
    let done = run(
        Which::Rust,
        &[
            "--no-browser",
            "--timeout",
            "1",
            "--port",
            &port,
            &server_url(&server),
        ],
        &sandbox.env(),
    );
    done.failed_with("no token within 1");
    assert!(
        done.url().starts_with(&format!("http://127.0.0.1:{port}/")),
        "{}",
        done.describe()
    );
    // A port in use is one line, exit 1.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let done = run(
        Which::Rust,
        &[
            "--no-browser",
            "--no-cache",
            "--port",
            &port,
            &server_url(&server),
        ],
        &sandbox.env(),
    );
    done.failed_with(&format!("cannot listen on 127.0.0.1:{port}"));
}

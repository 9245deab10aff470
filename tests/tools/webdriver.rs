//! A small W3C WebDriver client for the browser tests: starts `chromedriver` on a free loopback
//! port, opens one headless Chromium session with a fresh profile, and speaks JSON over HTTP/1.1
//! on a raw `TcpStream` (one connection per command, `Connection: close`). Dropping a [`Browser`]
//! deletes the session (Chromium exits), kills chromedriver and removes the profile.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Client, TempDir, TestServer, free_port, tool};

const INSTALL_HINT: &str = "the browser tests need Chromium and ChromeDriver: scripts/test.sh installs them \
     (apt-get install chromium chromium-driver)";

/// One browser at a time, for every test module: the machine is small, and parallel Chromium
/// starts make timing noisy. Tests take it before anything time-bound (tokens with `exp`), so
/// their times count from when they really start.
pub(crate) fn one_browser_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How long a page may take to show what a test waits for.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Console entries that are errors or CSP reports (enforced violations are SEVERE `security`).
pub(crate) fn problems(log: Vec<LogEntry>) -> Vec<LogEntry> {
    log.into_iter()
        .filter(|e| e.level == "SEVERE" || e.source == "security")
        .collect()
}

/// The W3C key of an element reference in WebDriver JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Longest wait for one WebDriver command; page loads and scripts have shorter own limits.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// One message of the browser's console log (`goog:loggingPrefs` `browser`).
#[derive(Debug)]
pub(crate) struct LogEntry {
    pub level: String,
    pub source: String,
    pub message: String,
}

/// A WebDriver error answer, or a transport failure.
#[derive(Debug)]
pub(crate) struct WdError(pub String);

pub(crate) struct Browser {
    driver: Child,
    port: u16,
    session: String,
    /// Holds the Chromium profile and chromedriver's log; removed when the browser is dropped.
    dir: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; panics (never skips) when either
    /// program is missing.
    pub(crate) fn start() -> Browser {
        Browser::start_with(&[])
    }

    /// [`Browser::start`] with extra Chromium switches.
    pub(crate) fn start_with(extra_args: &[&str]) -> Browser {
        let chromedriver = tool("chromedriver");
        let chromium = tool("chromium");
        let port = free_port();
        let dir = TempDir::new("browser");
        std::fs::create_dir(dir.join("profile")).expect("create the Chromium profile directory");
        let log_file = std::fs::File::create(dir.join("chromedriver.log"))
            .expect("create the chromedriver log");
        std::fs::create_dir(dir.join("tmp")).expect("create Chromium's temp directory");
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            // Chromium's own scratch directories land in ours and go with it.
            .env("TMPDIR", dir.join("tmp"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {}: {e}: {INSTALL_HINT}", chromedriver.display())
            });
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
            dir,
        };
        browser.wait_for_driver();
        browser.session = browser.new_session(&chromium, extra_args);
        browser
            .command(
                "POST",
                "timeouts",
                json!({"pageLoad": 15_000, "script": 10_000, "implicit": 0}),
            )
            .unwrap();
        browser
            .command(
                "POST",
                "window/rect",
                json!({"width": 1000, "height": 1300}),
            )
            .unwrap();
        browser
    }

    fn wait_for_driver(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!(
                    "chromedriver exited with {status}: {}",
                    self.driver_output()
                );
            }
            if let Ok(status) = self.http("GET", "/status", None)
                && status["value"]["ready"] == true
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready on port {} within 10 s: {}",
                self.port,
                self.driver_output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn new_session(&self, chromium: &Path, extra_args: &[&str]) -> String {
        let mut args = [
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--disable-extensions".to_string(),
            "--disable-default-apps".to_string(),
            // Loopback bypasses any proxy; everything else would go to a closed loopback port,
            // so nothing can leave the machine even if Chromium tried.
            "--proxy-server=http://127.0.0.1:9".to_string(),
            "--lang=en-US".to_string(),
            format!("--user-data-dir={}", self.dir.join("profile").display()),
        ]
        .to_vec();
        args.extend(extra_args.iter().map(|arg| arg.to_string()));
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:loggingPrefs": {"browser": "ALL"},
                    "goog:chromeOptions": {
                        "binary": chromium.to_string_lossy(),
                        "args": args,
                    },
                }
            }
        });
        let answer = self
            .http("POST", "/session", Some(&capabilities))
            .unwrap_or_else(|e| {
                panic!(
                    "could not start headless Chromium ({}): {}: {}\n{INSTALL_HINT}",
                    chromium.display(),
                    e.0,
                    self.driver_output()
                )
            });
        answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {answer}"))
            .to_string()
    }

    fn driver_output(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("chromedriver.log")).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// One HTTP exchange with chromedriver; the JSON answer, or the WebDriver error it carries.
    fn http(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, WdError> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let io = |e: std::io::Error| WdError(format!("{method} {path}: {e}"));
        let driver = SocketAddr::from(([127, 0, 0, 1], self.port));
        let host = format!("127.0.0.1:{}", self.port);
        let reply = Client::try_connect(driver, COMMAND_TIMEOUT)
            .and_then(|mut client| {
                client.try_request(
                    method,
                    path,
                    &[
                        ("Host", &host),
                        ("Content-Type", "application/json; charset=utf-8"),
                        ("Connection", "close"),
                    ],
                    body.as_bytes(),
                )
            })
            .map_err(io)?;
        let (status, body) = (reply.status, reply.body);
        let value: Value = serde_json::from_slice(&body).map_err(|e| {
            WdError(format!(
                "{method} {path}: answer {status} is not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            ))
        })?;
        if status == 200 {
            Ok(value)
        } else {
            Err(WdError(format!(
                "{method} {path}: {status} {}: {}",
                value["value"]["error"].as_str().unwrap_or("?"),
                value["value"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default()
            )))
        }
    }

    /// A command of the session (`path` relative to `/session/{id}/`); returns its `value`.
    pub(crate) fn command(&self, method: &str, path: &str, body: Value) -> Result<Value, WdError> {
        let body = (method == "POST").then_some(&body);
        self.http(method, &format!("/session/{}/{path}", self.session), body)
            .map(|mut answer| answer["value"].take())
    }

    /// Navigates and waits for the load event (up to the 15 s page-load timeout).
    pub(crate) fn goto(&self, url: &str) {
        self.command("POST", "url", json!({ "url": url }))
            .unwrap_or_else(|e| panic!("navigate to {url}: {}", e.0));
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns what it returns.
    pub(crate) fn execute(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "execute/sync",
            json!({ "script": script, "args": args }),
        )
        .unwrap_or_else(|e| panic!("script failed: {}\n{script}", e.0))
    }

    /// Runs `script` whose last argument is the callback that ends it (10 s script timeout).
    pub(crate) fn execute_async(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "execute/async",
            json!({ "script": script, "args": args }),
        )
        .unwrap_or_else(|e| panic!("async script failed: {}\n{script}", e.0))
    }

    /// Polls `script` every 50 ms until it returns something truthy (not false, null, 0 or
    /// ""); panics after `timeout` naming `what` and the last value.
    pub(crate) fn wait_until(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.execute(script, json!([]));
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; last value {value}; page: {}",
                self.execute(
                    "return document.body ? document.body.innerText : ''",
                    json!([])
                )
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks the element `css` selects, as a user would (WebDriver Element Click).
    pub(crate) fn click(&self, css: &str) {
        let element = self
            .command(
                "POST",
                "element",
                json!({"using": "css selector", "value": css}),
            )
            .unwrap_or_else(|e| panic!("find {css}: {}", e.0));
        let id = element[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element reference for {css}: {element}"));
        self.command("POST", &format!("element/{id}/click"), json!({}))
            .unwrap_or_else(|e| panic!("click {css}: {}", e.0));
    }

    /// The handle of the current tab.
    pub(crate) fn current_tab(&self) -> String {
        let handle = self.command("GET", "window", Value::Null).unwrap();
        handle.as_str().expect("a window handle").to_string()
    }

    /// Opens a new tab and switches to it; returns its handle.
    pub(crate) fn open_tab(&self) -> String {
        let tab = self
            .command("POST", "window/new", json!({"type": "tab"}))
            .unwrap_or_else(|e| panic!("open a tab: {}", e.0));
        let handle = tab["handle"].as_str().expect("a tab handle").to_string();
        self.switch_to(&handle);
        handle
    }

    pub(crate) fn switch_to(&self, handle: &str) {
        self.command("POST", "window", json!({ "handle": handle }))
            .unwrap_or_else(|e| panic!("switch to tab {handle}: {}", e.0));
    }

    /// Grants a permission (`clipboard-read`, …) to the current origin: WebDriver Permissions.
    pub(crate) fn grant(&self, permission: &str) {
        self.command(
            "POST",
            "permissions",
            json!({"descriptor": {"name": permission}, "state": "granted"}),
        )
        .unwrap_or_else(|e| panic!("grant {permission}: {}", e.0));
    }

    /// The clipboard's text as the page reads it (`navigator.clipboard.readText()`).
    pub(crate) fn clipboard_text(&self) -> String {
        let answer = self.execute_async(
            "const done = arguments[arguments.length - 1];
             navigator.clipboard.readText().then(
               (text) => done({ text }),
               (error) => done({ error: String(error) }));",
            json!([]),
        );
        match answer["text"].as_str() {
            Some(text) => text.to_string(),
            None => panic!("cannot read the clipboard: {}", answer["error"]),
        }
    }

    /// Puts `text` on the clipboard (so a later read proves that something replaced it).
    pub(crate) fn set_clipboard_text(&self, text: &str) {
        let answer = self.execute_async(
            "const done = arguments[arguments.length - 1];
             navigator.clipboard.writeText(arguments[0]).then(
               () => done(null), (error) => done(String(error)));",
            json!([text]),
        );
        assert!(answer.is_null(), "cannot write the clipboard: {answer}");
    }

    /// The console messages since the last call (chromedriver hands each one out once).
    pub(crate) fn take_log(&self) -> Vec<LogEntry> {
        let value = self
            .command("POST", "se/log", json!({"type": "browser"}))
            .unwrap_or_else(|e| panic!("read the browser log: {}", e.0));
        value
            .as_array()
            .unwrap_or_else(|| panic!("browser log is not a list: {value}"))
            .iter()
            .map(|entry| LogEntry {
                level: entry["level"].as_str().unwrap_or_default().to_string(),
                source: entry["source"].as_str().unwrap_or_default().to_string(),
                message: entry["message"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }

    /// Saves a PNG screenshot of the viewport and returns its bytes.
    pub(crate) fn screenshot(&self, path: &Path) -> Vec<u8> {
        use base64::Engine;
        let value = self
            .command("GET", "screenshot", Value::Null)
            .unwrap_or_else(|e| panic!("screenshot: {}", e.0));
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().expect("screenshot is a base64 string"))
            .expect("screenshot is valid base64");
        std::fs::write(path, &png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        png
    }
}

/// Chrome DevTools Protocol commands through chromedriver (`goog/cdp/execute`): emulation,
/// the accessibility tree, full-page screenshots. Used by `tests/page_browser.rs`.
impl Browser {
    /// Runs one CDP command on the current tab; returns its result.
    pub(crate) fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.command(
            "POST",
            "goog/cdp/execute",
            json!({ "cmd": cmd, "params": params }),
        )
        .unwrap_or_else(|e| panic!("CDP {cmd}: {}", e.0))
    }

    /// Emulates a viewport of `width` x `height` CSS pixels (a phone when `mobile`: the page's
    /// `<meta name="viewport">` applies).
    pub(crate) fn set_viewport(&self, width: u32, height: u32, mobile: bool) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        );
    }

    /// Sets a permission (`clipboard-write`, …) of the current origin to `state`
    /// (`granted`, `denied`, `prompt`): WebDriver Permissions.
    pub(crate) fn set_permission(&self, permission: &str, state: &str) {
        self.command(
            "POST",
            "permissions",
            json!({"descriptor": {"name": permission}, "state": state}),
        )
        .unwrap_or_else(|e| panic!("set {permission} to {state}: {}", e.0));
    }

    /// Types `text` into whatever has the focus, one key press per character (WebDriver
    /// Actions); WebDriver key codes such as `"\u{E004}"` (Tab) and `"\u{E007}"` (Enter) work.
    pub(crate) fn keys(&self, text: &str) {
        let mut actions = Vec::new();
        for key in text.chars() {
            actions.push(json!({"type": "keyDown", "value": key.to_string()}));
            actions.push(json!({"type": "keyUp", "value": key.to_string()}));
        }
        self.command(
            "POST",
            "actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .unwrap_or_else(|e| panic!("type {text:?}: {}", e.0));
    }

    /// Back to the window's own viewport.
    pub(crate) fn reset_viewport(&self) {
        self.cdp("Emulation.clearDeviceMetricsOverride", json!({}));
    }

    /// Emulates `prefers-color-scheme` (`"dark"`, `"light"`, or `""` for the browser's own).
    pub(crate) fn set_color_scheme(&self, scheme: &str) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        );
    }

    /// Chromium's accessibility tree of the page: (role, name, ignored) of every node.
    pub(crate) fn accessibility_tree(&self) -> Vec<(String, String, bool)> {
        let tree = self.cdp("Accessibility.getFullAXTree", json!({}));
        tree["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("no nodes in the accessibility tree: {tree}"))
            .iter()
            .map(|node| {
                (
                    node["role"]["value"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    node["name"]["value"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    node["ignored"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    }

    /// Saves a PNG of the whole page (not only the viewport) and returns its bytes.
    pub(crate) fn screenshot_full_page(&self, path: &Path) -> Vec<u8> {
        use base64::Engine;
        let size = self.execute(
            "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight];",
            json!([]),
        );
        let (width, height) = (size[0].as_f64().unwrap(), size[1].as_f64().unwrap());
        let shot = self.cdp(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            }),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("screenshot is valid base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        }
        std::fs::write(path, &png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        png
    }
}

/// What the tests read off our pages.
impl Browser {
    /// The text of the element with this id; fails the test when there is none.
    pub(crate) fn text_of(&self, id: &str) -> String {
        self.execute(
            "const e = document.getElementById(arguments[0]); return e ? e.textContent : null;",
            json!([id]),
        )
        .as_str()
        .unwrap_or_else(|| panic!("no element #{id}"))
        .to_string()
    }

    /// Waits until the token page shows a token (page.js fetched `token`); returns it.
    pub(crate) fn wait_for_token(&self) -> String {
        self.wait_until(
            "the token page to show the token",
            WAIT,
            "return document.getElementById('token').hidden ? null
                 : document.getElementById('secret').value;",
        )
        .as_str()
        .unwrap()
        .to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Ends Chromium; chromedriver alone would leave it running.
            let _ = self.http("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Waits until the access log shows at least `n` requests of `/token`; returns how many.
pub(crate) fn wait_for_token_requests(server: &TestServer, n: usize) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let count = server.output().matches(" /token ").count();
        if count >= n {
            return count;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} requests of /token in the access log:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The JSON lines a browser driver (`tests/support/chromium_browser.py`, `signin_browser.py`)
/// logged to `log`, once its last one is `{"event": "closed"}` (written after it cleaned up);
/// with `empty_ok`, also an empty log (the driver never ran). Fails after 60 s naming `driver`.
pub(crate) fn closed_records(log: &Path, driver: &str, empty_ok: bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let records: Vec<Value> = std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect();
        let closed = records.last().is_some_and(|r| r["event"] == "closed");
        if closed || (empty_ok && records.is_empty()) {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "{driver} did not finish: {records:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

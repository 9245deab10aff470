//! The test harness: one raw HTTP client, the real `token2go-server` binary on a free port, one
//! temp-dir helper that removes itself, one Python runner, one way to find the tools tests run.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub(crate) const SERVER_BIN: &str = env!("CARGO_BIN_EXE_token2go-server");
/// Python helpers of the tests (decryption with `cryptography`, i.e. OpenSSL).
pub(crate) const DECRYPT_PY: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/t2g_decrypt.py");

/// The path of a program a test runs, from `PATH` or the sbin directories (root's tools such as
/// `chroot` and `nginx` live there, and a test runner's `PATH` may lack them); a missing program
/// fails the test (never skips it).
pub(crate) fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let sbin = ["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(sbin)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .unwrap_or_else(|| panic!("{name} is required for this test: scripts/test.sh installs it"))
}

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

// ----- temporary directories ------------------------------------------------------------------

/// A fresh directory under the system's temp dir, removed with everything in it when dropped
/// (key files above all).
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("t2g-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ----- the raw HTTP client --------------------------------------------------------------------

/// One HTTP/1.1 response as it came over the wire.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The value of a header sent once (a second copy fails the test).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let mut found = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = found.next().map(|(_, v)| v.as_str());
        assert!(found.next().is_none(), "header {name} sent twice");
        first
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub(crate) fn closes(&self) -> bool {
        self.header("connection") == Some("close")
    }

    /// One whole response as it came over the wire, from bytes (such as what `curl --include
    /// --raw` saved).
    pub(crate) fn parse(raw: &[u8]) -> io::Result<Reply> {
        read_reply(&mut &raw[..], true)
    }
}

/// One line of a response head, without its CRLF.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    match line.strip_suffix("\r\n") {
        Some(line) => Ok(line.to_string()),
        None => Err(io::Error::other(format!("response line {line:?}"))),
    }
}

/// Reads one response (its body framed by `Content-Length` or chunked, unless `with_body` is
/// false, as for HEAD).
fn read_reply(reader: &mut impl BufRead, with_body: bool) -> io::Result<Reply> {
    let bad = |what: &str| io::Error::other(what.to_string());
    let status_line = read_line(reader)?;
    let mut parts = status_line.splitn(3, ' ');
    if parts.next() != Some("HTTP/1.1") {
        return Err(bad(&format!("status line {status_line:?}")));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(&format!("header line {line:?}")))?;
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut reply = Reply {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    if !with_body {
        return Ok(reply);
    }
    if reply
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let size_line = read_line(reader)?;
            let size = size_line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| bad("chunk size"))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            reply.body.extend_from_slice(&chunk[..size]);
        }
    } else {
        let length: usize = reply
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("no valid Content-Length"))?;
        reply.body = vec![0; length];
        reader.read_exact(&mut reply.body)?;
    }
    Ok(reply)
}

/// A client on one connection: sends raw bytes or requests, reads replies one by one
/// (`Content-Length` or chunked), so keep-alive and pipelining can be tested.
pub(crate) struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub(crate) fn connect(addr: SocketAddr) -> Client {
        Client::try_connect(addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"))
    }

    /// A connection whose reads and writes give up after `timeout`.
    pub(crate) fn try_connect(addr: SocketAddr, timeout: Duration) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Client {
            reader: BufReader::new(stream),
        })
    }

    pub(crate) fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    pub(crate) fn send(&mut self, raw: &[u8]) {
        self.reader.get_mut().write_all(raw).unwrap();
    }

    pub(crate) fn get(&mut self, target: &str) -> Reply {
        let host = self.host();
        self.send(format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        self.reply()
    }

    /// The `Host` a browser would send: the address connected to. The server answers only
    /// loopback names while a fallback token is set (DNS rebinding).
    pub(crate) fn host(&self) -> String {
        self.stream()
            .peer_addr()
            .map_or_else(|_| "localhost".to_string(), |a| a.to_string())
    }

    /// Sends one request with `Host` (unless given; see [`Client::host`]) and `Content-Length`
    /// (when there is a body) added, and reads its reply (without a body for HEAD).
    pub(crate) fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        self.try_request(method, target, headers, body)
            .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
    }

    /// [`Client::request`] that reports transport failures instead of failing the test.
    pub(crate) fn try_request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Reply> {
        let mut head = format!("{method} {target} HTTP/1.1\r\n");
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            head.push_str(&format!("Host: {}\r\n", self.host()));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        self.read_reply(method != "HEAD")
    }

    pub(crate) fn reply(&mut self) -> Reply {
        self.read_reply(true)
            .unwrap_or_else(|e| panic!("reading a reply: {e}"))
    }

    pub(crate) fn reply_to_head(&mut self) -> Reply {
        self.read_reply(false)
            .unwrap_or_else(|e| panic!("reading a reply: {e}"))
    }

    fn read_reply(&mut self, with_body: bool) -> io::Result<Reply> {
        read_reply(&mut self.reader, with_body)
    }

    /// True when the server closed: EOF (or a reset) with no further bytes.
    pub(crate) fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.reader.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
        }
    }
}

// ----- the real server binary -----------------------------------------------------------------

/// The real binary on a free port; killed on drop. Its stdout and stderr go to files in its own
/// temp dir, so tests can read them and failures can show them.
pub(crate) struct TestServer {
    child: Child,
    pub addr: SocketAddr,
    dir: TempDir,
    command: String,
    /// How long each of its requests may take to connect, send and answer.
    timeout: Duration,
}

impl TestServer {
    /// Starts the server on 127.0.0.1 with only the given `T2G_*` variables.
    pub(crate) fn start(vars: &[(&str, &str)]) -> TestServer {
        TestServer::start_on("127.0.0.1", vars)
    }

    pub(crate) fn start_on(host: &str, vars: &[(&str, &str)]) -> TestServer {
        TestServer::start_program(Path::new(SERVER_BIN), host, vars)
    }

    /// [`TestServer::start_on`] with another build of the server, such as the static release
    /// binary of the deployment tests.
    pub(crate) fn start_program(program: &Path, host: &str, vars: &[(&str, &str)]) -> TestServer {
        let port = free_port();
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("T2G_SERVER_HOST", host)
            .env("T2G_SERVER_PORT", port.to_string());
        for (k, v) in vars {
            command.env(k, v);
        }
        // Wildcard binds are reached over loopback.
        let reach = match host {
            "::" => "::1",
            "0.0.0.0" => "127.0.0.1",
            other => other,
        };
        let ip = if reach.contains(':') {
            format!("[{reach}]")
        } else {
            reach.to_string()
        };
        let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
        TestServer::spawn(command, addr)
    }

    /// Spawns `command` (the server, a program that ends in exec'ing it, such as `prlimit`,
    /// `unshare`, `chroot` or `strace`, or another server a test needs, such as nginx) with its
    /// output going to files, and waits until `addr` accepts.
    pub(crate) fn spawn(mut command: Command, addr: SocketAddr) -> TestServer {
        let dir = TempDir::new("server");
        command
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("out")).unwrap())
            .stderr(std::fs::File::create(dir.join("err")).unwrap());
        let description = format!("{command:?} on {addr}");
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {description}: {e}"));
        let mut server = TestServer {
            child,
            addr,
            dir,
            command: description,
            timeout: Duration::from_secs(5),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "server exited with {status}: {}\n{}",
                    server.command,
                    server.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "server did not listen: {}",
                server.command
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Gives each request up to `timeout` (5 s unless set), for a server that answers slowly
    /// (traced, or under load).
    pub(crate) fn with_timeout(mut self, timeout: Duration) -> TestServer {
        self.timeout = timeout;
        self
    }

    /// `http://ADDR` followed by `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything the server printed so far (stdout then stderr).
    pub(crate) fn output(&self) -> String {
        let out = std::fs::read_to_string(self.dir.join("out")).unwrap_or_default();
        let err = std::fs::read_to_string(self.dir.join("err")).unwrap_or_default();
        format!("{out}{err}")
    }

    /// What the server wrote to stdout so far.
    pub(crate) fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("out")).unwrap_or_default()
    }

    /// Waits (up to 5 s) until the output contains `needle`; returns the output either way.
    pub(crate) fn wait_for_output(&self, needle: &str) -> String {
        wait_for_text(needle, || self.output())
    }

    /// Waits (up to 5 s) until `/metrics` contains `needle`; returns the last exposition either way.
    /// Request counters are recorded after the response is written, so a client can read its
    /// answer before the counter moves.
    pub(crate) fn wait_for_metrics(&self, needle: &str) -> String {
        wait_for_text(needle, || self.get("/metrics", &[]).text())
    }

    pub(crate) fn get(&self, target: &str, headers: &[(&str, &str)]) -> Reply {
        self.request("GET", target, headers)
    }

    /// One request on its own connection (`Connection: close`).
    pub(crate) fn request(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
        let mut all = vec![("Connection", "close")];
        all.extend_from_slice(headers);
        Client::try_connect(self.addr, self.timeout)
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.addr))
            .request(method, target, &all, b"")
    }

    /// Sends bytes, reads until the server closes (or the timeout, 5 s unless set, passes).
    pub(crate) fn raw(&self, bytes: &[u8]) -> Vec<u8> {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(self.timeout)).unwrap();
        stream.write_all(bytes).expect("write request");
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        raw
    }
}

/// Fetches `text` every 20 ms until it contains `needle` or 5 s have passed; the last text.
fn wait_for_text(needle: &str, text: impl Fn() -> String) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = text();
        if got.contains(needle) || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl TestServer {
    /// The process id of what was spawned.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (a name such as `TERM`) to what was spawned.
    pub(crate) fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// Waits up to `limit` for the process to exit: its status, or `None` if it still runs.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The command line and output, for a failure message.
    pub(crate) fn describe(&self) -> String {
        format!("{}\n{}", self.command, self.output())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` (a name such as `TERM`) to process `pid`, with the shell's `kill` builtin
/// (no procps needed, no unsafe code in the tests).
pub(crate) fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("sh")
        .args([
            "-c",
            "kill -s \"$1\" \"$2\"",
            "sh",
            signal,
            &pid.to_string(),
        ])
        .status()
        .expect("sh is installed");
    assert!(status.success(), "kill -s {signal} {pid}");
}

/// Runs the server binary to completion with only the given variables and arguments.
pub(crate) fn run_to_exit(vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(SERVER_BIN);
    command.env_clear().args(args).stdin(Stdio::null());
    for (k, v) in vars {
        command.env(k, v);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn token2go-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("token2go-server {args:?} with {vars:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

// ----- Python ---------------------------------------------------------------------------------

/// Runs `python3 SCRIPT ARGS` with `stdin`; fails the test when python3 is missing.
pub(crate) fn python(script: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is required (scripts/test.sh installs it)");
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// [`python`] that must succeed; its stdout.
pub(crate) fn python_ok(script: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let out = python(script, args, stdin);
    assert!(
        out.status.success(),
        "{script} {:?} failed: {}",
        args.first(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The Python interpreter `python3` on PATH resolves to, by its real path: a client runs with
/// a cleared environment, in which a version manager's shim could not find its interpreter, and
/// a traced process must not go through a wrapper that might fork on the way.
pub(crate) fn python_exe() -> &'static str {
    static EXE: OnceLock<String> = OnceLock::new();
    EXE.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 is required (scripts/test.sh installs it)");
        let exe = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            out.status.success() && !exe.is_empty(),
            "python3 -c sys.executable failed"
        );
        exe
    })
}

/// A key pair made by Python `cryptography` in `dir`: the private key's path and the public PEM.
pub(crate) fn python_keypair(dir: &TempDir, bits: usize, form: &str) -> (PathBuf, String) {
    let private = dir.join(&format!("{bits}-{form}.key"));
    let public = dir.join(&format!("{bits}-{form}.pub"));
    python_ok(
        DECRYPT_PY,
        &[
            "genkey",
            "--bits",
            &bits.to_string(),
            "--form",
            form,
            "--private",
            private.to_str().unwrap(),
            "--public",
            public.to_str().unwrap(),
        ],
        b"",
    );
    let pem = std::fs::read_to_string(&public).unwrap();
    (private, pem)
}

/// A flow's payload decrypted by Python `cryptography` with the private key at `private`;
/// `from` is how it came: `["--url", LOCATION]`, or `["--paste", "-"]` with the block as `stdin`.
pub(crate) fn python_decrypt(private: &Path, from: &[&str], stdin: &[u8]) -> String {
    let mut args = vec!["decrypt", "--private", private.to_str().unwrap()];
    args.extend_from_slice(from);
    String::from_utf8(python_ok(DECRYPT_PY, &args, stdin)).expect("a UTF-8 payload")
}

/// Seconds since the epoch now.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An unsigned JWT (`alg: none`; the server decodes, never verifies) with these claims (JSON)
/// and this signature part.
pub(crate) fn unsigned_jwt(claims: &str, signature: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The path of a redirect-flow request.
pub(crate) fn flow_url(target: &str, state: &str, key_type: &str, pem: &str) -> String {
    format!(
        "/flow/redirect/token?target={}&state={}&publicKeyType={}&publicKey={}",
        enc(target),
        enc(state),
        enc(key_type),
        enc(pem)
    )
}

/// The warning page's button: the same request with `confirm`, as a path for the same server
/// (the page links to `?query`, relative to the flow's path).
pub(crate) fn confirm_link(page: &str) -> String {
    let start = page
        .find("id=\"continue\" href=\"?")
        .unwrap_or_else(|| panic!("no confirm link on the page: {page}"))
        + "id=\"continue\" href=\"".len();
    let end = start + page[start..].find('"').unwrap();
    format!(
        "/flow/redirect/token{}",
        page[start..end].replace("&amp;", "&")
    )
}

/// `127.0.0.1:port`.
pub(crate) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
/// The server binary with only the given variables, listening on 127.0.0.1:`port`, started
/// through `wrapper` (a program that ends in exec'ing or forking it).
pub(crate) fn wrapped(wrapper: &[&str], port: u16, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(wrapper[0]);
    command
        .args(&wrapper[1..])
        .arg(SERVER_BIN)
        .env_clear()
        .env("T2G_SERVER_HOST", "127.0.0.1")
        .env("T2G_SERVER_PORT", port.to_string());
    for (k, v) in vars {
        command.env(k, v);
    }
    command
}

/// The `token2go` client with only `PATH` from the environment.
pub(crate) fn client(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_token2go"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run token2go")
}

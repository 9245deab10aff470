//! Test harness: runs the real `token2go-server` binary on a free port and talks raw HTTP.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_token2go-server");

/// A running server; killed on drop. Its stdout and stderr go to files so tests can read them.
pub struct TestServer {
    child: Child,
    pub addr: SocketAddr,
    out_path: PathBuf,
    err_path: PathBuf,
    command: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

fn temp_path(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!("t2g-{}-{tag}-{nanos}", std::process::id()))
}

impl TestServer {
    /// Starts the server on 127.0.0.1 with only the given `T2G_*` variables.
    pub fn start(vars: &[(&str, &str)]) -> TestServer {
        TestServer::start_on("127.0.0.1", vars)
    }

    pub fn start_on(host: &str, vars: &[(&str, &str)]) -> TestServer {
        let port = free_port();
        let out_path = temp_path("out");
        let err_path = temp_path("err");
        let mut command = Command::new(BIN);
        command
            .env_clear()
            .env("T2G_SERVER_HOST", host)
            .env("T2G_SERVER_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap());
        for (k, v) in vars {
            command.env(k, v);
        }
        let description = format!("{BIN} with {vars:?} on {host}:{port}");
        let child = command.spawn().expect("spawn token2go-server");
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
        let mut server = TestServer {
            child,
            addr,
            out_path,
            err_path,
            command: description,
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

    /// Everything the server printed so far (stdout then stderr).
    pub fn output(&self) -> String {
        let out = std::fs::read_to_string(&self.out_path).unwrap_or_default();
        let err = std::fs::read_to_string(&self.err_path).unwrap_or_default();
        format!("{out}{err}")
    }

    /// Waits until the access log has at least `n` lines (it is written after each response).
    pub fn wait_for_output(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = self.output();
            if out.contains(needle) || Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn get(&self, target: &str, headers: &[(&str, &str)]) -> HttpResponse {
        self.request("GET", target, headers)
    }

    pub fn request(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> HttpResponse {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let raw = self.raw(head.as_bytes());
        HttpResponse::parse(&raw, method == "HEAD").unwrap_or_else(|| {
            panic!(
                "unparseable response to {method} {target}: {raw:?}\n{}",
                self.output()
            )
        })
    }

    /// Sends bytes, reads until the server closes (or 5 s pass).
    pub fn raw(&self, bytes: &[u8]) -> Vec<u8> {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(bytes).expect("write request");
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        raw
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out_path);
        let _ = std::fs::remove_file(&self.err_path);
    }
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// Parses one response; the body is `Content-Length` bytes (none for HEAD).
    pub fn parse(raw: &[u8], head_request: bool) -> Option<HttpResponse> {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&raw[..end]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect();
        let mut response = HttpResponse {
            status,
            headers,
            body: Vec::new(),
        };
        let length: usize = response.header("Content-Length")?.parse().ok()?;
        if !head_request {
            response.body = raw.get(end + 4..end + 4 + length)?.to_vec();
        }
        Some(response)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Runs the binary to completion with only the given variables and arguments.
pub fn run_to_exit(vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
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

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

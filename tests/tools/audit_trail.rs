//! Issue 16 §3 against the real binary: audit lines stay whole and within 4,096 bytes when many
//! requests with long values write them at once to a pipe, and `T2G_AUDIT_REQUIRED` withholds
//! every token whose audit line cannot be written. Flow keys come from Python `cryptography`.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Client, Reply, SERVER_BIN, TempDir, enc, free_port, python_keypair};

const KEY_TYPE: &str = "rsa2048-rfc5280-x509-pem";
const TOKEN: &str = "canary-AuditTrail-5f0c19d3";
const MAX_LINE: usize = 4096;

/// The server with `stdout` and `stderr` as given (a pipe, `/dev/full`), killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(vars: &[(&str, &str)], stdout: Stdio, stderr: Stdio) -> Server {
        let port = free_port();
        let mut command = Command::new(SERVER_BIN);
        command
            .env_clear()
            .env("T2G_SERVER_HOST", "127.0.0.1")
            .env("T2G_SERVER_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        for (name, value) in vars {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn token2go-server");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(child.try_wait().unwrap().is_none(), "server exited");
            assert!(Instant::now() < deadline, "server did not listen");
            thread::sleep(Duration::from_millis(20));
        }
        Server { child, addr }
    }

    fn get(&self, target: &str, headers: &[(&str, &str)]) -> Reply {
        Probe(self.addr).get(target, headers)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn flow(target: &str, pem: &str) -> String {
    format!(
        "/flow/redirect/token?target={}&state=s1&publicKeyType={KEY_TYPE}&publicKey={}",
        enc(target),
        enc(pem)
    )
}

/// A user name of about 6 KB whose escaped form is longer still: quotes, backslashes,
/// non-ASCII and astral characters, distinct per request.
fn long_user(n: usize) -> String {
    format!("u{n}-{}", "é\"\\😀ab".repeat(1000))
}

/// Today's defect: lines over 4 KiB (a long target, long user names) took std's lock while
/// shorter ones went through an unlocked copy of fd 2; a slowly read pipe split them.
#[test]
fn audit_lines_stay_whole_and_within_4096_bytes_under_concurrency() {
    let dir = TempDir::new("audit-trail");
    let (_private, pem) = python_keypair(&dir, 2048, "spki");
    let mut server = Server::start(&[("T2G_LOG_FORMAT", "json")], Stdio::null(), Stdio::piped());
    let mut stderr = server.child.stderr.take().unwrap();
    // A slow reader keeps the pipe full, where a write of more than PIPE_BUF bytes is split.
    let reader = thread::spawn(move || {
        let mut all = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            match stderr.read(&mut chunk) {
                Ok(0) | Err(_) => return all,
                Ok(n) => all.extend_from_slice(&chunk[..n]),
            }
            thread::sleep(Duration::from_micros(300));
        }
    });
    let long_target = format!("http://127.0.0.1:9/{}", "p".repeat(9000));
    let (threads, each) = (6, 20);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (addr, pem, long_target) = (server.addr, pem.clone(), long_target.clone());
            thread::spawn(move || {
                let server = Probe(addr);
                for i in 0..each {
                    let user = long_user(t * 1000 + i);
                    let headers = [
                        ("X-Forwarded-Access-Token", TOKEN),
                        ("X-Forwarded-User", user.as_str()),
                        ("X-Forwarded-For", "203.0.113.7"),
                    ];
                    let r = if i % 2 == 0 {
                        server.get(&flow(&long_target, &pem), &headers)
                    } else {
                        server.get("/token", &headers)
                    };
                    assert!([200, 303].contains(&r.status), "{}", r.text());
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    crate::harness::send_signal(server.child.id(), "TERM");
    let _ = server.child.wait();
    let out = reader.join().unwrap();
    let text = String::from_utf8(out).expect("stderr is UTF-8");
    let mut audit = 0;
    for line in text.split_inclusive('\n') {
        assert!(line.ends_with('\n'), "a cut-off last line: {line:.200}");
        assert!(line.len() <= MAX_LINE, "{} bytes: {line:.200}", line.len());
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line:.300}"));
        if v["log"] == "audit" {
            audit += 1;
            let user = v["user"].as_str().unwrap();
            assert!(
                user.starts_with('u') && user.ends_with("...[cut]"),
                "{user:.80}"
            );
            if v["route"] == "flow_redirect" {
                let target = v["target"].as_str().unwrap();
                assert!(target.starts_with("http://127.0.0.1:9/ppp"), "{target:.80}");
                assert!(target.ends_with("...[cut]"), "{target:.80}");
            }
        }
    }
    assert_eq!(audit, threads * each, "one audit line per hand-out");
    assert!(!text.contains(TOKEN));
}

/// A connection per request to a server the test does not own.
struct Probe(SocketAddr);

impl Probe {
    fn get(&self, target: &str, headers: &[(&str, &str)]) -> Reply {
        let mut all = vec![("Connection", "close")];
        all.extend_from_slice(headers);
        Client::try_connect(self.0, Duration::from_secs(20))
            .expect("connect")
            .request("GET", target, &all, b"")
    }
}

fn dev_full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

fn withheld(r: &Reply) {
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(
        r.text(),
        "service unavailable: the audit trail cannot be written, so no token is handed out\n"
    );
    assert!(r.header("Location").is_none());
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
}

/// Today a server whose stderr is `/dev/full` hands out tokens with no record.
#[test]
fn with_audit_required_no_token_leaves_when_its_line_cannot_be_written() {
    let dir = TempDir::new("audit-required");
    let (_private, pem) = python_keypair(&dir, 2048, "spki");
    let target = "http://127.0.0.1:9/cb";
    let gateway = [("X-Forwarded-Access-Token", TOKEN)];

    let s = Server::start(&[("T2G_AUDIT_REQUIRED", "true")], Stdio::null(), dev_full());
    for path in [
        "/token".to_string(),
        flow(target, &pem),
        format!("{}&responseMode=form_post", flow(target, &pem)),
    ] {
        let r = s.get(&path, &gateway);
        withheld(&r);
        assert!(!r.text().contains(TOKEN));
    }
    let m = s.get("/metrics", &[]).text();
    assert!(m.contains("token2go_audit_write_failures_total 3\n"), "{m}");
    assert!(!m.contains("token2go_tokens_served_total{"), "{m}");
    // Refusals and pages without a token are answered as usual.
    assert_eq!(s.get("/token", &[]).status, 444);
    assert_eq!(s.get("/health", &[]).status, 200);

    // Audit lines on stdout, stdout full: the same, and the operational log says why.
    let log = dir.join("stderr");
    let s = Server::start(
        &[("T2G_AUDIT_REQUIRED", "true"), ("T2G_AUDIT_LOG", "stdout")],
        dev_full(),
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    withheld(&s.get("/token", &gateway));
    let err = std::fs::read_to_string(&log).unwrap();
    assert!(
        err.contains(
            "error audit line not written: No space left on device (os error 28); \
             no token handed out (T2G_AUDIT_REQUIRED)"
        ),
        "{err}"
    );

    // Without the variable: as before, the token goes.
    let s = Server::start(&[], Stdio::null(), dev_full());
    let r = s.get("/token", &gateway);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["secret"], TOKEN);
    assert_eq!(s.get(&flow(target, &pem), &gateway).status, 303);
    let m = s.get("/metrics", &[]).text();
    assert!(m.contains("token2go_audit_write_failures_total 2\n"), "{m}");
}

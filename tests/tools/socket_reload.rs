//! systemd socket activation under load (issue 15): the promise of `token2go-server.socket` is
//! that a server restart refuses no connection, because the socket unit, not the server, owns
//! the listening socket and connections wait in its backlog. tests/support/socket_holder.py
//! holds the socket as systemd does and starts the server on it as fd 3; the test kills the
//! server with SIGKILL while loopback clients keep connecting, starts a new one on the same
//! socket, and counts what the clients saw.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{SERVER_BIN, TempDir, free_port, python_exe, send_signal};

const HOLDER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/socket_holder.py"
);
/// Load generator bounds: clients, connections in all, and time.
const CLIENTS: usize = 4;
const MAX_CONNECTIONS: usize = 20_000;
const MAX_LOAD_TIME: Duration = Duration::from_secs(20);
/// How long a client waits for an answer: generous, a connection waits in the backlog while no
/// server runs.
const PATIENCE: Duration = Duration::from_secs(10);

/// The holder and every server it started; all killed on drop.
struct Holder {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    servers: Vec<u32>,
    dir: TempDir,
}

impl Holder {
    fn start(port: u16) -> Holder {
        let dir = TempDir::new("holder");
        let log = std::fs::File::create(dir.join("log")).expect("holder log");
        let mut child = Command::new(python_exe())
            .arg(HOLDER)
            .arg(port.to_string())
            .arg(SERVER_BIN)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start socket_holder.py");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut holder = Holder {
            child,
            stdin,
            stdout,
            servers: Vec::new(),
            dir,
        };
        assert_eq!(holder.line(), "listening", "{}", holder.log());
        holder
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read holder");
        line.trim().to_string()
    }

    /// Starts a server on the held socket; its pid.
    fn start_server(&mut self) -> u32 {
        self.stdin.write_all(b"start\n").expect("tell holder");
        let line = self.line();
        let pid = line
            .parse()
            .unwrap_or_else(|_| panic!("holder said {line:?}: {}", self.log()));
        self.servers.push(pid);
        pid
    }

    /// The holder's and the servers' output.
    fn log(&self) -> String {
        std::fs::read_to_string(Path::new(&self.dir.join("log"))).unwrap_or_default()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        for pid in &self.servers {
            // The shell's kill: no procps needed; a server already gone is no error here.
            let _ = Command::new("sh")
                .args(["-c", "kill -9 \"$1\" 2>/dev/null", "sh", &pid.to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the clients saw, counted.
#[derive(Default)]
struct Counts {
    ok: AtomicUsize,
    /// ECONNREFUSED: nobody listened. The one outcome socket activation rules out.
    refused: AtomicUsize,
    /// Reset, or closed without an answer: accepted by the killed server, which the kernel
    /// closed.
    cut: AtomicUsize,
    /// Anything else (a timeout, another status).
    other: AtomicUsize,
}

/// One connection with one request; which outcome it had.
fn one_request(addr: SocketAddr, counts: &Counts) {
    let stream = match TcpStream::connect(addr) {
        Ok(stream) => stream,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
            counts.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Err(_) => {
            counts.other.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mut stream = stream;
    let _ = stream.set_read_timeout(Some(PATIENCE));
    let mut answer = Vec::new();
    let result = stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .and_then(|()| stream.read_to_end(&mut answer));
    let counter = match result {
        Ok(_) if answer.starts_with(b"HTTP/1.1 200 ") => &counts.ok,
        Ok(_) if answer.is_empty() => &counts.cut,
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
            &counts.cut
        }
        _ => &counts.other,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Waits (10 s at most) until `counter` has grown by `more`; whether it has.
fn wait_for(counter: &AtomicUsize, more: usize) -> bool {
    let target = counter.load(Ordering::Relaxed) + more;
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter.load(Ordering::Relaxed) < target {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
    true
}

#[test]
fn a_killed_server_restarted_on_the_held_socket_refuses_no_connection_under_load() {
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut holder = Holder::start(port);
    let first = holder.start_server();

    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicUsize::new(0));
    let begun = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (counts, stop, started) = (counts.clone(), stop.clone(), started.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed)
                    && begun.elapsed() < MAX_LOAD_TIME
                    && started.fetch_add(1, Ordering::Relaxed) < MAX_CONNECTIONS
                {
                    one_request(addr, &counts);
                }
            })
        })
        .collect();

    // Load on the first server, then SIGKILL in the middle of it, then the next server on the
    // same socket while the clients keep connecting.
    assert!(wait_for(&counts.ok, 200), "{}", holder.log());
    send_signal(first, "KILL");
    let ok_at_kill = counts.ok.load(Ordering::Relaxed);
    // The kill is done when the process is gone (a zombie until the holder reaps it).
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{first}/stat"))
        .is_ok_and(|stat| !stat.contains(") Z "))
    {
        assert!(Instant::now() < deadline, "server {first} survives SIGKILL");
        thread::sleep(Duration::from_millis(1));
    }
    // Clients keep connecting into the backlog while no server runs.
    thread::sleep(Duration::from_millis(200));
    holder.start_server();
    wait_for(&counts.ok, 200);
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client thread");
    }

    let total = started.load(Ordering::Relaxed).min(MAX_CONNECTIONS);
    let [ok, refused, cut, other] = [&counts.ok, &counts.refused, &counts.cut, &counts.other]
        .map(|c| c.load(Ordering::Relaxed));
    let summary = format!(
        "{total} connections in {:?}: {ok} answered (200; {} after the kill), {refused} refused, \
         {cut} cut by the killed server, {other} other",
        begun.elapsed(),
        ok - ok_at_kill
    );
    println!("socket reload: {summary}");
    assert_eq!(refused, 0, "{summary}\n{}", holder.log());
    assert_eq!(other, 0, "{summary}\n{}", holder.log());
    assert!(ok - ok_at_kill >= 200, "{summary}");
    assert_eq!(ok + refused + cut + other, total, "{summary}");
}

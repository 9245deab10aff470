//! The process lifecycle of the real binary: SIGTERM and SIGINT, the open-file limit (with
//! `prlimit`, util-linux), the fallback-token warning and `healthcheck`. As PID 1 (`unshare --pid`,
//! which needs root) and systemd socket activation (Python) are in tests/tools/lifecycle.rs.

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{
    Client, SERVER_BIN, TestServer, free_port, loopback, run_to_exit, send_signal, wrapped,
};

/// Sends the first line of a request, so the server is reading a request head when the test
/// signals it.
fn request_in_flight(server: &TestServer) -> Client {
    let mut client = Client::connect(server.addr);
    client.send(b"GET /health HTTP/1.1\r\n");
    thread::sleep(Duration::from_millis(150));
    client
}

// ----- signals --------------------------------------------------------------------------------

#[test]
fn sigterm_lets_a_request_in_flight_finish_then_exits_0() {
    let mut server = TestServer::start(&[]);
    let mut client = request_in_flight(&server);
    server.signal("TERM");
    thread::sleep(Duration::from_millis(300));
    assert!(
        server.wait_exit(Duration::ZERO).is_none(),
        "exited with a request in flight: {}",
        server.describe()
    );
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "still accepting after SIGTERM"
    );
    client.send(b"Host: t\r\n\r\n");
    let reply = client.reply();
    assert_eq!(reply.status, 200, "{}", server.describe());
    assert!(reply.closes(), "the last answer closes the connection");
    let status = server.wait_exit(Duration::from_secs(2));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {}",
        server.describe()
    );
    let out = server.output();
    let stops: Vec<&str> = out.lines().filter(|l| l.contains("stopping")).collect();
    assert_eq!(stops.len(), 1, "one line on stop: {out}");
    assert!(stops[0].contains("SIGTERM"), "{out}");
}

#[test]
fn an_idle_server_exits_0_within_a_second_of_sigterm_or_sigint() {
    for signal in ["TERM", "INT"] {
        let mut server = TestServer::start(&[]);
        // An idle keep-alive connection must not hold the stop up.
        let mut kept = Client::connect(server.addr);
        assert_eq!(kept.get("/health").status, 200);
        let begun = Instant::now();
        server.signal(signal);
        let status = server.wait_exit(Duration::from_secs(1));
        assert!(
            status.is_some_and(|s| s.success()),
            "SIG{signal}: {status:?} after {:?}: {}",
            begun.elapsed(),
            server.describe()
        );
        assert!(kept.closed(), "the idle connection was closed");
        assert!(server.output().contains(&format!("SIG{signal}: stopping")));
    }
}

/// Issue 16: a SIGTERM soon after start must always be a graceful stop. The handlers are in
/// place before anything else, so however soon the signal comes after the listening line,
/// the server exits 0 with its stop line.
#[test]
fn sigterm_right_after_the_listening_line_stops_gracefully_every_time() {
    for start in 0..30 {
        let mut server = TestServer::start(&[]);
        server.wait_for_output("listening on");
        server.signal("TERM");
        let status = server.wait_exit(Duration::from_secs(5));
        assert!(
            status.is_some_and(|s| s.success()),
            "start {start}: {status:?}: {}",
            server.describe()
        );
        assert!(
            server.output().contains("SIGTERM: stopping"),
            "start {start}: {}",
            server.describe()
        );
    }
}

/// Before the fix the handlers came after the configuration was read and its warnings
/// written: a SIGTERM while a warning waited on a full stderr pipe (a stalled log collector),
/// or while a service manager's socket already accepted, ended the process (exit 143, no stop
/// line). Here stderr is a full pipe, so the server waits in its first warning.
#[test]
fn sigterm_while_the_first_log_line_waits_on_a_full_pipe_is_a_graceful_stop() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let (mut read, write) = std::io::pipe().unwrap();
    // Fill the pipe: a thread writes until a write blocks, then stops once it is released.
    let (filled, released) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let filler = {
        let (mut write, filled, released) =
            (write.try_clone().unwrap(), filled.clone(), released.clone());
        thread::spawn(move || {
            use std::io::Write;
            while !released.load(Ordering::SeqCst) {
                write.write_all(&[b'\n'; 512]).unwrap();
                filled.fetch_add(512, Ordering::SeqCst);
            }
        })
    };
    let mut last = usize::MAX;
    while filled.load(Ordering::SeqCst) != last {
        last = filled.load(Ordering::SeqCst);
        thread::sleep(Duration::from_millis(100));
    }
    let port = free_port();
    let mut command = Command::new(SERVER_BIN);
    command
        .env_clear()
        .env("T2G_SERVER_HOST", "127.0.0.1")
        .env("T2G_SERVER_PORT", port.to_string())
        // An unknown variable: the server's first line is a warning about it.
        .env("T2G_SERVER_PROT", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(write));
    let mut child = command.spawn().expect("spawn");
    drop(command);
    thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "exited early");
    send_signal(child.id(), "TERM");
    thread::sleep(Duration::from_millis(100));
    released.store(true, Ordering::SeqCst);
    let drain = thread::spawn(move || {
        let mut all = Vec::new();
        let _ = read.read_to_end(&mut all);
        String::from_utf8_lossy(&all).into_owned()
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not stop after SIGTERM");
        }
        thread::sleep(Duration::from_millis(10));
    };
    filler.join().unwrap();
    let err = drain.join().unwrap();
    assert!(status.success(), "{status:?}: {}", err.trim());
    assert!(
        err.contains("unknown variable T2G_SERVER_PROT"),
        "{}",
        err.trim()
    );
    assert!(err.contains("SIGTERM: stopping"), "{}", err.trim());
}

#[test]
fn a_second_signal_during_the_stop_exits_at_once() {
    let mut server = TestServer::start(&[]);
    let _client = request_in_flight(&server);
    server.signal("TERM");
    thread::sleep(Duration::from_millis(200));
    assert!(server.wait_exit(Duration::ZERO).is_none());
    server.signal("INT");
    let status = server.wait_exit(Duration::from_secs(1));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(128 + 2),
        "{}",
        server.describe()
    );
    assert!(server.output().contains("SIGINT during the stop"));
}

// ----- open files -----------------------------------------------------------------------------

#[test]
fn an_open_file_limit_below_the_cap_lowers_it_and_answers_503() {
    let port = free_port();
    let command = wrapped(&["prlimit", "--nofile=64:64", "--"], port, &[]);
    let server = TestServer::spawn(command, loopback(port));
    let out = server.wait_for_output("listening");
    let warning = out
        .lines()
        .find(|l| l.contains("RLIMIT_NOFILE"))
        .unwrap_or_else(|| panic!("no warning: {out}"));
    for needle in [
        "is 64",
        "T2G_MAX_CONNECTIONS=1024",
        "at most 48 connections",
    ] {
        assert!(warning.contains(needle), "{needle}: {warning}");
    }
    assert!(out.contains("max_connections=48"), "{out}");

    // Let the harness's readiness connection end, so it holds no worker.
    thread::sleep(Duration::from_millis(300));
    // 48 connections that have sent nothing hold their workers (for the 5 s idle timeout).
    let held: Vec<TcpStream> = (0..48)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(200));
    for stream in &held {
        stream.set_nonblocking(true).unwrap();
        let got = (&*stream).read(&mut [0u8; 1]);
        assert!(
            got.is_err_and(|e| e.kind() == ErrorKind::WouldBlock),
            "a held connection got an answer: {}",
            server.describe()
        );
    }
    let mut extra = Client::connect(server.addr);
    let reply = extra.get("/health");
    assert_eq!(reply.status, 503, "{}", server.describe());
    assert_eq!(reply.header("retry-after"), Some("1"));
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let reply = Client::connect(server.addr).get("/health");
        if reply.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still {}", reply.status);
        thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !server.output().contains("accept failed"),
        "ran into EMFILE: {}",
        server.describe()
    );
}

#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_one() {
    let port = free_port();
    let command = wrapped(&["prlimit", "--nofile=64:4096", "--"], port, &[]);
    let server = TestServer::spawn(command, loopback(port));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(open_files[3..5], ["4096", "4096"], "{limits}");
    let out = server.wait_for_output("listening");
    assert!(!out.contains("RLIMIT_NOFILE"), "{out}");
    assert!(out.contains("max_connections=1024"), "{out}");
}

// ----- the fallback token ---------------------------------------------------------------------

#[test]
fn a_fallback_token_off_loopback_is_a_warning_that_hides_the_token() {
    let token = ("T2G_FALLBACK_TOKEN", "canary-lifecycle-token");
    let wide = TestServer::start_on("0.0.0.0", &[token]);
    let out = wide.wait_for_output("listening");
    let warning = out
        .lines()
        .find(|l| l.contains("anyone who reaches this port"))
        .unwrap_or_else(|| panic!("no warning: {out}"));
    assert!(warning.contains("0.0.0.0:"), "{warning}");
    assert!(!out.contains("canary-lifecycle-token"), "{out}");

    let local = TestServer::start(&[token]);
    let out = local.wait_for_output("listening");
    assert!(!out.contains("anyone who reaches"), "{out}");
}

// ----- healthcheck ----------------------------------------------------------------------------

fn healthcheck(port: u16) -> (Output, Duration) {
    let begun = Instant::now();
    let out = run_to_exit(&[("T2G_SERVER_PORT", &port.to_string())], &["healthcheck"]);
    (out, begun.elapsed())
}

fn one_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    stderr
}

#[test]
fn healthcheck_passes_against_a_running_server() {
    let server = TestServer::start(&[]);
    let (out, _) = healthcheck(server.addr.port());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    assert!(
        server
            .wait_for_output("GET /health 200")
            .contains("GET /health 200")
    );
}

#[test]
fn healthcheck_fails_against_a_closed_port() {
    let (out, took) = healthcheck(free_port());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(one_line(&out).contains("cannot connect"), "{out:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn healthcheck_fails_within_3_s_against_a_port_that_never_answers() {
    // The kernel completes the handshake into the backlog; nobody ever reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let (out, took) = healthcheck(silent.local_addr().unwrap().port());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(one_line(&out).contains("no answer within 3s"), "{out:?}");
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_millis(3500),
        "{took:?}"
    );
}

#[test]
fn help_mentions_healthcheck_and_the_stop() {
    let out = run_to_exit(&[], &["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("healthcheck"), "{help}");
    assert!(help.contains("SIGTERM"), "{help}");
}

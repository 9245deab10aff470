//! The process lifecycle of the real binary with outside tools: SIGTERM as PID 1 of its own PID
//! namespace (`unshare --pid`, as root) and systemd socket activation
//! (`tests/support/socket_activate.py`).

use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{SERVER_BIN, TestServer, free_port, loopback, send_signal, wrapped};

const SOCKET_ACTIVATE_PY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/socket_activate.py"
);

/// Runs `command` to its end (killed after 10 s) and returns its output.
fn run(mut command: Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{command:?} did not exit");
        }
        thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn as_pid_1_of_its_own_pid_namespace_sigterm_stops_it() {
    // The kernel drops signals to a namespace's PID 1 that has no handler for them, so without
    // one this server would ignore SIGTERM here.
    let port = free_port();
    let unshare = ["unshare", "--pid", "--fork", "--kill-child"];
    let mut server = TestServer::spawn(wrapped(&unshare, port, &[]), loopback(port));
    let unshare_pid = server.pid();
    let children =
        std::fs::read_to_string(format!("/proc/{unshare_pid}/task/{unshare_pid}/children"))
            .unwrap();
    let pid: u32 = children.trim().parse().expect("unshare has one child");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert!(
        nspid.ends_with("\t1"),
        "not PID 1 in its namespace: {nspid}"
    );
    assert_eq!(server.get("/health", &[]).status, 200);

    let begun = Instant::now();
    send_signal(pid, "TERM");
    // unshare exits with its child's status.
    let exit = server.wait_exit(Duration::from_secs(1));
    assert!(
        exit.is_some_and(|s| s.success()),
        "{exit:?} after {:?}: {}",
        begun.elapsed(),
        server.describe()
    );
    assert!(server.output().contains("SIGTERM: stopping"));
}

/// The server started by `socket_activate.py` with fd 3 of `kind` on 127.0.0.1:`port`, with
/// only the given variables and `T2G_SERVER_HOST=127.0.0.1`.
fn activated(kind: &str, port: u16, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new("python3");
    command
        .arg(SOCKET_ACTIVATE_PY)
        .arg(kind)
        .arg(port.to_string())
        .arg(SERVER_BIN)
        .arg("T2G_SERVER_HOST=127.0.0.1");
    for (k, v) in vars {
        command.arg(format!("{k}={v}"));
    }
    command
}

#[test]
fn socket_activated_it_serves_on_fd_3_instead_of_binding() {
    let (passed, configured) = (free_port(), free_port());
    let configured_port = configured.to_string();
    let command = activated(
        "listening",
        passed,
        &[("T2G_SERVER_PORT", &configured_port)],
    );
    let mut server = TestServer::spawn(command, loopback(passed));
    assert_eq!(
        server.get("/health", &[]).status,
        200,
        "{}",
        server.describe()
    );
    let out = server.wait_for_output("listening");
    assert!(
        out.contains(&format!(
            "listening on http://127.0.0.1:{passed} (socket passed by the service manager)"
        )),
        "{out}"
    );
    assert!(
        TcpStream::connect(loopback(configured)).is_err(),
        "bound T2G_SERVER_PORT as well"
    );
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(1));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

#[test]
fn listen_pid_of_another_process_is_ignored() {
    let (passed, configured) = (free_port(), free_port());
    let configured_port = configured.to_string();
    let command = activated(
        "other-pid",
        passed,
        &[("T2G_SERVER_PORT", &configured_port)],
    );
    let server = TestServer::spawn(command, loopback(configured));
    assert_eq!(server.get("/health", &[]).status, 200);
    let out = server.wait_for_output("listening");
    assert!(out.contains("LISTEN_PID=1 names another process"), "{out}");
    assert!(
        out.contains(&format!("listening on http://127.0.0.1:{configured} ")),
        "{out}"
    );
}

#[test]
fn a_fd_3_that_is_not_a_listening_tcp_socket_is_a_one_line_error() {
    let cases = [
        ("bound", "is a TCP socket that is not listening"),
        ("udp", "is not a TCP socket"),
        ("unix", "is not an IPv4 or IPv6 socket"),
        ("file", "is not a socket"),
        ("closed", "is not open"),
    ];
    for (kind, needle) in cases {
        let out = run(activated(
            kind,
            free_port(),
            &[("T2G_FALLBACK_TOKEN", "canary-activation")],
        ));
        assert_eq!(out.status.code(), Some(2), "{kind}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{kind}: one line: {stderr}");
        assert!(
            stderr.contains(&format!("socket activation: fd 3 {needle}")),
            "{kind}: {stderr}"
        );
        assert!(!stderr.contains("canary-activation"), "{stderr}");
        assert!(out.stdout.is_empty(), "{kind}: {out:?}");
    }
}

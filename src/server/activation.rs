//! systemd socket activation (`sd_listen_fds(3)`): taking over the listening socket a service
//! manager passed as fd 3.
//!
//! `LISTEN_PID`/`LISTEN_FDS`/`LISTEN_FDNAMES` are read here, not in the `config` module: they
//! are not configuration but systemd's hand-over protocol for file descriptors, valid only together
//! with this process's pid and fd table, and they must be removed from the environment once
//! read (as `sd_listen_fds(1)` does). Keeping reading, checking and removing in one place keeps
//! that protocol auditable; the `config` module stays the only reader of `T2G_*`.

use std::fmt;
use std::io;
use std::mem;
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The first passed file descriptor (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;
const LISTEN_VARIABLES: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// Why a socket-activated start cannot go on: one line for the operator.
#[derive(Debug, PartialEq, Eq)]
pub struct ActivationError(String);

impl fmt::Display for ActivationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "socket activation: {}", self.0)
    }
}

impl std::error::Error for ActivationError {}

/// What the `LISTEN_*` variables say, by `sd_listen_fds`' rules.
#[derive(Debug, PartialEq, Eq)]
enum Activation {
    /// No `LISTEN_PID`: bind as configured.
    Absent,
    /// `LISTEN_PID` names another process (the variables leaked through a parent): ignored.
    OtherProcess(String),
    /// One socket for us, as fd 3.
    OneSocket,
}

/// Reads the variables through `lookup`; `pid` is this process's id.
fn parse_activation(
    lookup: impl Fn(&str) -> Option<String>,
    pid: u32,
) -> Result<Activation, ActivationError> {
    let Some(listen_pid) = lookup("LISTEN_PID") else {
        return Ok(Activation::Absent);
    };
    let target: u32 = listen_pid
        .trim()
        .parse()
        .map_err(|_| ActivationError(format!("LISTEN_PID={listen_pid:?} is not a process id")))?;
    if target != pid {
        return Ok(Activation::OtherProcess(listen_pid));
    }
    match lookup("LISTEN_FDS").as_deref().map(str::trim) {
        Some("1") => Ok(Activation::OneSocket),
        Some(n) if n.parse::<u32>().is_ok() => Err(ActivationError(format!(
            "LISTEN_FDS={n} but token2go-server takes exactly one socket \
             (one ListenStream= in the .socket unit)"
        ))),
        Some(other) => Err(ActivationError(format!(
            "LISTEN_FDS={other:?} is not a number"
        ))),
        None => Err(ActivationError(
            "LISTEN_PID is set but LISTEN_FDS is not".to_string(),
        )),
    }
}

/// What a service manager passed, as [`inherited_listener`] found it.
pub enum Inherited {
    /// Nothing: bind as configured.
    Nothing,
    /// `LISTEN_*` variables meant for another process, ignored; the warning to log.
    Ignored(String),
    /// The listening socket passed as fd 3.
    Listener(TcpListener),
}

/// The listening socket a service manager passed as fd 3, when `LISTEN_PID` is this process
/// and `LISTEN_FDS=1`. Removes the `LISTEN_*` variables in every case (as
/// `sd_listen_fds(1)` does), so they cannot mislead a later reader or a child.
///
/// # Safety
///
/// Call it once, before the process starts any thread: removing environment variables is sound
/// only while no other thread can read the environment (Rust 2024 marks `remove_var` unsafe for
/// that reason). Fd 3 is taken as this process's own on the word of `LISTEN_PID`/`LISTEN_FDS`:
/// nothing else in the process may own or close it.
pub unsafe fn inherited_listener() -> Result<Inherited, ActivationError> {
    let activation = parse_activation(
        |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()),
        std::process::id(),
    );
    for name in LISTEN_VARIABLES {
        // SAFETY: the caller promises no other thread exists (this fn's # Safety).
        unsafe { std::env::remove_var(name) };
    }
    Ok(match activation? {
        Activation::Absent => Inherited::Nothing,
        Activation::OtherProcess(pid) => Inherited::Ignored(format!(
            "LISTEN_PID={pid} names another process; ignoring LISTEN_FDS and binding as configured"
        )),
        Activation::OneSocket => Inherited::Listener(take_listening_tcp_socket(LISTEN_FDS_START)?),
    })
}

/// Takes ownership of `fd` once it is known to be an open, listening TCP socket.
fn take_listening_tcp_socket(fd: RawFd) -> Result<TcpListener, ActivationError> {
    let fail = |what: &str| ActivationError(format!("fd {fd} {what}"));
    // SAFETY: F_GETFD takes no pointer; on a closed fd it fails with EBADF and changes nothing.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(fail("is not open (LISTEN_FDS=1 promised a socket there)"));
    }
    // SAFETY: fd is open (checked just above) and, by the LISTEN_FDS protocol, handed to this
    // process for its own use; nothing else in this process owns or closes it, and this runs
    // once (the variables are gone afterwards), so the OwnedFd is its only owner.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let borrowed = owned.as_fd();
    // As sd_listen_fds does: the socket must not leak into programs we might ever exec.
    // SAFETY: F_SETFD takes an int, no pointer; fd is open and ours.
    let rc = unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) };
    if rc < 0 {
        return Err(fail(&format!(
            "cannot be marked close-on-exec: {}",
            io::Error::last_os_error()
        )));
    }
    let socket_type = socket_option(borrowed, libc::SO_TYPE).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOTSOCK) {
            fail("is not a socket")
        } else {
            fail(&format!("cannot be inspected: {e}"))
        }
    })?;
    let domain = socket_option(borrowed, libc::SO_DOMAIN)
        .map_err(|e| fail(&format!("cannot be inspected: {e}")))?;
    let protocol = socket_option(borrowed, libc::SO_PROTOCOL)
        .map_err(|e| fail(&format!("cannot be inspected: {e}")))?;
    if !matches!(domain, libc::AF_INET | libc::AF_INET6) {
        return Err(fail(&format!(
            "is not an IPv4 or IPv6 socket (address family {domain}, e.g. a Unix socket); \
             use ListenStream=PORT or ADDRESS:PORT"
        )));
    }
    if socket_type != libc::SOCK_STREAM || protocol != libc::IPPROTO_TCP {
        return Err(fail(
            "is not a TCP socket (e.g. ListenDatagram= instead of ListenStream=)",
        ));
    }
    let listening = socket_option(borrowed, libc::SO_ACCEPTCONN)
        .map_err(|e| fail(&format!("cannot be inspected: {e}")))?;
    if listening == 0 {
        return Err(fail(
            "is a TCP socket that is not listening (Accept=yes passes connections; use Accept=no)",
        ));
    }
    Ok(TcpListener::from(owned))
}

/// One integer socket option at `SOL_SOCKET`.
fn socket_option(fd: BorrowedFd<'_>, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are live locals; len holds value's size, so getsockopt writes at
    // most that many bytes; fd is borrowed, so it stays open for the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::UdpSocket;
    use std::os::fd::IntoRawFd;

    fn parse(pairs: &[(&str, &str)], pid: u32) -> Result<Activation, ActivationError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        parse_activation(|name| map.get(name).map(|v| v.to_string()), pid)
    }

    #[test]
    fn activation_follows_sd_listen_fds() {
        assert_eq!(parse(&[], 42), Ok(Activation::Absent));
        assert_eq!(parse(&[("LISTEN_FDS", "1")], 42), Ok(Activation::Absent));
        assert_eq!(
            parse(&[("LISTEN_PID", "42"), ("LISTEN_FDS", "1")], 42),
            Ok(Activation::OneSocket)
        );
        assert_eq!(
            parse(&[("LISTEN_PID", "7"), ("LISTEN_FDS", "1")], 42),
            Ok(Activation::OtherProcess("7".to_string()))
        );
        for (fds, needle) in [
            (Some("2"), "exactly one socket"),
            (Some("0"), "exactly one socket"),
            (Some("x"), "not a number"),
            (None, "LISTEN_FDS is not"),
        ] {
            let mut pairs = vec![("LISTEN_PID", "42")];
            pairs.extend(fds.map(|v| ("LISTEN_FDS", v)));
            let e = parse(&pairs, 42).unwrap_err().to_string();
            assert!(e.contains(needle), "{fds:?}: {e}");
        }
        let e = parse(&[("LISTEN_PID", "me")], 42).unwrap_err();
        assert!(e.to_string().contains("not a process id"), "{e}");
    }

    // The checks on live descriptors: each test creates its socket and hands its number in;
    // the checked fd is consumed (closed) either way, as it would be in production.

    fn check(fd: OwnedFd) -> Result<TcpListener, ActivationError> {
        take_listening_tcp_socket(fd.into_raw_fd())
    }

    #[test]
    fn a_listening_tcp_socket_is_taken() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let taken = check(OwnedFd::from(listener)).unwrap();
        assert_eq!(taken.local_addr().unwrap(), addr);
    }

    #[test]
    fn other_descriptors_are_refused_by_name() {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let e = check(OwnedFd::from(udp)).unwrap_err().to_string();
        assert!(e.contains("is not a TCP socket"), "{e}");

        let file = std::fs::File::open("/dev/null").unwrap();
        let e = check(OwnedFd::from(file)).unwrap_err().to_string();
        assert!(e.contains("is not a socket"), "{e}");

        let (unix, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let e = check(OwnedFd::from(unix)).unwrap_err().to_string();
        assert!(e.contains("not an IPv4 or IPv6 socket"), "{e}");

        // A connected TCP socket: a stream, but not listening.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let e = check(OwnedFd::from(stream)).unwrap_err().to_string();
        assert!(e.contains("not listening"), "{e}");
    }
}

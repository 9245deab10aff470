//! The few OS calls std does not offer (with `readiness`, the only `unsafe` code): the open-file
//! limit (`RLIMIT_NOFILE`), taking over a listening socket passed by a service manager
//! (systemd socket activation, `sd_listen_fds(3)`), the client's effective user id (the
//! owner check of its cache), the listen backlog, two settings of glibc's allocator
//! (arenas, trimming), the number of processors, log lines written with `write(2)`, and the
//! signal mask around the registration of the stop signals' handlers.
//!
//! `LISTEN_PID`/`LISTEN_FDS`/`LISTEN_FDNAMES` are read here, not in `config.rs`: they are not
//! configuration but systemd's hand-over protocol for file descriptors, valid only together
//! with this process's pid and fd table, and they must be removed from the environment once
//! read (as `sd_listen_fds(1)` does). Keeping reading, checking and removing in one place keeps
//! that protocol auditable; `config.rs` stays the only reader of `T2G_*`.

use std::fmt;
use std::io;
use std::mem;
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The first passed file descriptor (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;
const LISTEN_VARIABLES: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// The open-file limits after [`raise_nofile_limit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoFile {
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as Go's runtime does at start: the soft
/// limit (often 1024) is a compatibility default for `select(2)`, which this server does not
/// use. Returns the limits in force afterwards (the old soft limit when raising fails).
pub fn raise_nofile_limit() -> io::Result<NoFile> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a pointer to a live local of that type.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one `rlimit` through a pointer to a live local of that type.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    Ok(NoFile {
        soft: limit.rlim_cur,
        hard: limit.rlim_max,
    })
}

/// Writes all of `bytes` to `fd` with `write(2)`, again after a partial write or EINTR.
/// Not through std's `Stdout`/`Stderr`: they report a closed descriptor (EBADF) as success,
/// and the audit trail must know when its line was not written. A line of at most `PIPE_BUF`
/// (4,096 bytes on Linux) goes to a pipe in one piece.
pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe the live slice `bytes`, which write only
        // reads; fd is borrowed, so it stays open for the call.
        let n = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        match usize::try_from(n) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n.min(bytes.len())..],
            Err(_) => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
    Ok(())
}

/// Blocks or unblocks SIGTERM and SIGINT for the calling thread (and the threads it starts
/// later). `main` blocks them from its start until their handlers are registered: a signal
/// meanwhile waits, and arrives once everything is in place.
pub fn block_stop_signals(block: bool) -> io::Result<()> {
    // SAFETY: the set is a live local that sigemptyset initialises before sigaddset and
    // pthread_sigmask read it; the old-mask pointer may be null.
    let rc = unsafe {
        let mut set: libc::sigset_t = mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let how = if block {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        libc::pthread_sigmask(how, &set, std::ptr::null_mut())
    };
    match rc {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// Connections the kernel completes and queues for `accept` (the listen backlog); the kernel
/// caps it at `net.core.somaxconn` (4096 by default since Linux 5.4).
const LISTEN_BACKLOG: libc::c_int = 4096;

/// Raises the listen backlog of a socket bound with `TcpListener::bind`, which listens with
/// 128. A burst of more connections than that (1,000 clients starting at once) overflowed the
/// queue: the kernel dropped their handshakes, and their first requests waited for TCP's
/// retransmissions (200 ms and more), the p99 of the first seconds of a fresh server.
/// `listen` on a listening socket only changes its backlog (Linux).
pub fn raise_listen_backlog(listener: &TcpListener) -> io::Result<()> {
    // SAFETY: listen takes the fd and an int, no pointer; the fd is borrowed from a live
    // listener, so it is open and ours for the call.
    if unsafe { libc::listen(listener.as_raw_fd(), LISTEN_BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Malloc arenas glibc may create: two per core of this machine's kind. Two in all made the
/// workers wait on the arenas' locks under load (futex waits in a profile of `/token`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_ARENAS: libc::c_int = 4;

/// Caps glibc's malloc arenas. By default glibc gives threads up to 8 arenas per core, and
/// each keeps pages after a burst of connections that `malloc_trim` does not give back: RSS
/// stayed at about 10 MB once a burst of 1,000 connections was over, 4 MB with four arenas.
/// Call before the first thread starts. A no-op where the C library is not glibc.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes two ints and no pointer; M_ARENA_MAX only bounds arenas created
    // later, which is always sound. Its result (1 on success) needs no check: on failure the
    // default stays, which only costs memory.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
    }
}

/// Gives the free pages of the allocator back to the kernel (glibc's `malloc_trim`), for when a
/// burst of connections is over: free memory inside an arena otherwise stays resident.
/// A no-op where the C library is not glibc.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes a size and no pointer, and only returns free pages of the
    // allocator's own arenas to the kernel (madvise); memory in use is not touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Processors online, at least 1. Not `std::thread::available_parallelism`: its cgroup
/// quota parsing adds about 9 KB to a binary that must stay under 2 MiB, for a number that
/// only sizes the worker pool.
pub fn online_cpus() -> usize {
    // SAFETY: sysconf takes an int and no pointer; -1 (unknown) is handled below.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

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
/// Must run before the process starts a thread: removing variables is sound only while no
/// other thread can read the environment (which is why Rust 2024 marks `remove_var` unsafe).
pub fn inherited_listener() -> Result<Inherited, ActivationError> {
    let activation = parse_activation(
        |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()),
        std::process::id(),
    );
    for name in LISTEN_VARIABLES {
        // Sound here: main calls this before it spawns any thread (see above).
        std::env::remove_var(name);
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

/// The effective user id: who owns the files this process creates.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory of ours and cannot fail (POSIX).
    unsafe { libc::geteuid() }
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

    #[test]
    fn the_listen_backlog_can_be_raised() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        raise_listen_backlog(&listener).unwrap();
        let addr = listener.local_addr().unwrap();
        // Still listening, on the same address.
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        drop(accepted);
    }

    #[test]
    fn effective_uid_owns_what_we_create() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("t2g-sys-uid-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let owner = std::fs::metadata(&dir).unwrap().uid();
        std::fs::remove_dir(&dir).unwrap();
        assert_eq!(effective_uid(), owner);
    }
}

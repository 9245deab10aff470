//! The few OS calls std does not offer (with `http/readiness.rs` and `server/activation.rs`,
//! the only `unsafe` code): the open-file limit (`RLIMIT_NOFILE`), the client's effective user
//! id (the owner check of its cache), the listen backlog, two settings of glibc's allocator
//! (arenas, trimming), the number of processors, log lines written with `write(2)`, and the
//! signal mask around the registration of the stop signals' handlers.

use std::io;
use std::mem;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The open-file limits after [`raise_nofile_limit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoFile {
    /// The soft limit, in force.
    pub soft: u64,
    /// The hard limit, the ceiling of the soft one.
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
/// later). The server blocks them first thing (`server::lifecycle::prepare`, the first call of
/// `main`'s serve path) until their handlers are registered: a signal meanwhile waits, and
/// arrives once everything is in place.
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

/// Malloc arenas glibc may create: two per core of this machine's kind; fewer made the workers
/// wait on the arenas' locks under load (README, Performance).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_ARENAS: libc::c_int = 4;

/// Caps glibc's malloc arenas. By default glibc gives threads up to 8 arenas per core, and
/// each keeps pages after a burst of connections that `malloc_trim` does not give back
/// (README, Performance).
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
/// quota parsing adds code to a binary that aims at 2 MiB, for a number that only
/// sizes the worker pool.
pub fn online_cpus() -> usize {
    // SAFETY: sysconf takes an int and no pointer; -1 (unknown) is handled below.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// The effective user id: who owns the files this process creates.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory of ours and cannot fail (POSIX).
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! Readiness of sockets for the HTTP edge, with `unsafe` libc calls std does not offer (each
//! with a SAFETY comment): one epoll set where idle connections wait for their next request
//! without holding a thread, and a bounded wait for one socket.
//!
//! Written here rather than taken from the `polling` or `mio` crates: the edge needs four
//! calls, and either crate would pull in another system-call layer (not measured here) into a
//! binary that aims at 2 MiB.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Events taken from the kernel per wait.
const EVENTS_PER_WAIT: usize = 256;

/// An epoll set in which each socket is armed for one readable event at a time.
pub(super) struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub(super) fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes a flag and no pointer; it returns a new descriptor or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created by the kernel for us and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd })
    }

    /// Arms `socket` for one event (readable, or the peer hung up or reset), reported by `wait`
    /// with `key`; it is disarmed after that event until armed again. `added`: the socket is
    /// already in the set (armed before); closing a socket removes it from the set.
    pub(super) fn arm_once(&self, socket: BorrowedFd<'_>, key: u64, added: bool) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32,
            u64: key,
        };
        let op = if added {
            libc::EPOLL_CTL_MOD
        } else {
            libc::EPOLL_CTL_ADD
        };
        // SAFETY: both descriptors are open for the whole call (one owned, one borrowed), and
        // `event` is a valid epoll_event the kernel only reads during the call.
        let rc =
            unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, socket.as_raw_fd(), &mut event) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` for events and appends their keys to `keys`; an interrupted
    /// wait returns no keys.
    pub(super) fn wait(&self, keys: &mut Vec<u64>, timeout: Duration) -> io::Result<()> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_WAIT];
        let ms = timeout_ms(timeout);
        // SAFETY: `events` is a writable array of EVENTS_PER_WAIT epoll_events that outlives
        // the call; the kernel writes at most that many and returns how many it wrote.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                events.as_mut_ptr(),
                EVENTS_PER_WAIT as libc::c_int,
                ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::Interrupted => Ok(()),
                _ => Err(e),
            };
        }
        // A copy of each key: epoll_event is packed on x86_64, so no reference into it.
        keys.extend(events[..n as usize].iter().map(|event| event.u64));
        Ok(())
    }
}

/// Waits up to `timeout` (0: only looks) until `socket` has bytes to read or the peer closed
/// or reset it; true when a read would not block. An interrupted wait counts as not ready.
pub(super) fn readable_within(socket: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut poll = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `poll` is one valid pollfd for an open (borrowed) descriptor, writable for the
    // whole call; the count passed is 1.
    let n = unsafe { libc::poll(&mut poll, 1, timeout_ms(timeout)) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::Interrupted => Ok(false),
            _ => Err(e),
        };
    }
    Ok(n > 0)
}

/// Milliseconds for poll/epoll_wait, rounded up so a short wait does not become a busy loop.
fn timeout_ms(timeout: Duration) -> libc::c_int {
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    ms.min(libc::c_int::MAX as u128) as libc::c_int
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;
    use std::time::Instant;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(timeout_ms(Duration::ZERO), 0);
        assert_eq!(timeout_ms(Duration::from_micros(1)), 1);
        assert_eq!(timeout_ms(Duration::from_millis(50)), 50);
        assert_eq!(timeout_ms(Duration::from_secs(u64::MAX)), libc::c_int::MAX);
    }

    #[test]
    fn readable_within_sees_bytes_and_a_close() {
        let (mut client, server) = pair();
        assert!(!readable_within(server.as_fd(), Duration::ZERO).unwrap());
        let begun = Instant::now();
        assert!(!readable_within(server.as_fd(), Duration::from_millis(30)).unwrap());
        assert!(begun.elapsed() >= Duration::from_millis(25));
        client.write_all(b"x").unwrap();
        assert!(readable_within(server.as_fd(), Duration::from_secs(2)).unwrap());
        let (client2, server2) = pair();
        drop(client2);
        assert!(readable_within(server2.as_fd(), Duration::from_secs(2)).unwrap());
    }

    #[test]
    fn an_armed_socket_reports_its_key_once() {
        let epoll = Epoll::new().unwrap();
        let (mut client, server) = pair();
        epoll.arm_once(server.as_fd(), 7, false).unwrap();
        let mut keys = Vec::new();
        epoll.wait(&mut keys, Duration::from_millis(10)).unwrap();
        assert!(keys.is_empty(), "nothing to read yet");
        client.write_all(b"x").unwrap();
        epoll.wait(&mut keys, Duration::from_secs(2)).unwrap();
        assert_eq!(keys, [7]);
        keys.clear();
        client.write_all(b"y").unwrap();
        epoll.wait(&mut keys, Duration::from_millis(20)).unwrap();
        assert!(keys.is_empty(), "disarmed after one event");
        epoll.arm_once(server.as_fd(), 8, true).unwrap();
        epoll.wait(&mut keys, Duration::from_secs(2)).unwrap();
        assert_eq!(keys, [8], "re-armed with a new key, still readable");
        assert!(
            epoll.arm_once(server.as_fd(), 9, false).is_err(),
            "already added"
        );
    }
}

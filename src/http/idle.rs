//! Open connections and the idle ones among them.
//!
//! Every accepted connection is registered, so the cap counts open connections and a stop
//! can close them all. A connection without a byte of a next request waiting (fresh, or kept
//! alive between requests) does not hold a worker: it is parked in one epoll set until bytes
//! arrive (then it goes back to the pool), its idle timeout passes, or the server stops (then
//! it is closed). This is what lets 1,000 keep-alive connections share a few threads, as in
//! Apache's event MPM.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::readiness::Epoll;
use super::response_write::SendTimeout;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one still holds consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sockets of all open connections, in slots reused after a close (a slab rather than a
/// hash map: smaller code, no hashing, and a slot index is the key in the epoll set).
#[derive(Default)]
pub(super) struct Registry {
    slots: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    sockets: Vec<Option<Arc<TcpStream>>>,
    free: Vec<usize>,
    open: usize,
    /// Counts admissions: the high half of a key, so a reused slot never repeats a key.
    admitted: u32,
}

impl Registry {
    /// Registers `stream` unless `cap` connections are open already (then hands it back).
    pub(super) fn admit(
        self: &Arc<Registry>,
        stream: TcpStream,
        peer: SocketAddr,
        cap: usize,
    ) -> Result<OpenConn, TcpStream> {
        let mut slots = lock(&self.slots);
        if slots.open >= cap {
            return Err(stream);
        }
        let stream = Arc::new(stream);
        let slot = match slots.free.pop() {
            Some(slot) => {
                slots.sockets[slot] = Some(Arc::clone(&stream));
                slot
            }
            None => {
                slots.sockets.push(Some(Arc::clone(&stream)));
                slots.sockets.len() - 1
            }
        };
        slots.open += 1;
        slots.admitted = slots.admitted.wrapping_add(1);
        Ok(OpenConn {
            key: (u64::from(slots.admitted) << 32) | slot as u64,
            stream,
            peer,
            read_timeout: None,
            send_timeout: SendTimeout::default(),
            in_epoll: false,
            readable: false,
            registry: Arc::clone(self),
        })
    }

    /// Shuts every open connection down; returns how many there were.
    pub(super) fn close_all(&self) -> usize {
        let slots = lock(&self.slots);
        for stream in slots.sockets.iter().flatten() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        slots.open
    }
}

/// One open connection between requests or on a worker; dropping it closes the socket and
/// frees its place under the cap.
pub(super) struct OpenConn {
    key: u64,
    pub(super) stream: Arc<TcpStream>,
    pub(super) peer: SocketAddr,
    /// The receive timeout last set on the socket, so it is set again only when it changes.
    pub(super) read_timeout: Option<Duration>,
    pub(super) send_timeout: SendTimeout,
    /// Added to the epoll set once (then only re-armed).
    in_epoll: bool,
    /// Woken by the poller: a read will not block (no need to look first).
    pub(super) readable: bool,
    registry: Arc<Registry>,
}

impl OpenConn {
    fn slot(&self) -> usize {
        slot_of(self.key)
    }
}

fn slot_of(key: u64) -> usize {
    (key & u64::from(u32::MAX)) as usize
}

impl Drop for OpenConn {
    fn drop(&mut self) {
        let mut slots = lock(&self.registry.slots);
        let slot = self.slot();
        slots.sockets[slot] = None;
        slots.free.push(slot);
        slots.open -= 1;
    }
}

/// Parked connections: an epoll set and the connections armed in it, with their deadlines.
pub(super) struct IdleSet {
    epoll: Epoll,
    parked: Mutex<Parked>,
}

#[derive(Default)]
struct Parked {
    /// By registry slot.
    conns: Vec<Option<(OpenConn, Instant)>>,
    /// After `close`, a connection offered for parking is closed instead.
    closed: bool,
}

impl IdleSet {
    pub(super) fn new() -> io::Result<IdleSet> {
        Ok(IdleSet {
            epoll: Epoll::new()?,
            parked: Mutex::new(Parked::default()),
        })
    }

    /// Parks `conn` until a byte arrives or `deadline`; closes it when the set is closed or
    /// the socket cannot be armed.
    pub(super) fn park(&self, mut conn: OpenConn, deadline: Instant) {
        let mut parked = lock(&self.parked);
        if parked.closed {
            return;
        }
        // Armed under the lock: the event can only be taken after the insert, and `close`
        // cannot close the socket in between.
        let armed = self
            .epoll
            .arm_once(conn.stream.as_fd(), conn.key, conn.in_epoll);
        if armed.is_ok() {
            conn.in_epoll = true;
            let slot = conn.slot();
            if parked.conns.len() <= slot {
                parked.conns.resize_with(slot + 1, || None);
            }
            parked.conns[slot] = Some((conn, deadline));
        }
    }

    /// Waits up to `timeout` for parked connections with bytes (or a close) waiting and moves
    /// them to `woken`.
    pub(super) fn wait(
        &self,
        keys: &mut Vec<u64>,
        woken: &mut Vec<OpenConn>,
        timeout: Duration,
    ) -> io::Result<()> {
        keys.clear();
        self.epoll.wait(keys, timeout)?;
        if !keys.is_empty() {
            let mut parked = lock(&self.parked);
            for &key in keys.iter() {
                // The key must match too: a slot is reused by later connections.
                if let Some(entry) = parked.conns.get_mut(slot_of(key))
                    && entry.as_ref().is_some_and(|(conn, _)| conn.key == key)
                {
                    woken.extend(entry.take().map(|(mut conn, _)| {
                        conn.readable = true;
                        conn
                    }));
                }
            }
        }
        Ok(())
    }

    /// Closes the parked connections whose idle timeout has passed; returns how many.
    pub(super) fn expire(&self, now: Instant) -> usize {
        let mut parked = lock(&self.parked);
        let mut closed = 0;
        for entry in parked.conns.iter_mut() {
            if entry.as_ref().is_some_and(|(_, deadline)| *deadline <= now) {
                *entry = None;
                closed += 1;
            }
        }
        closed
    }

    /// Closes every parked connection and every one offered later.
    pub(super) fn close(&self) {
        let mut parked = lock(&self.parked);
        parked.closed = true;
        let conns = std::mem::take(&mut parked.conns);
        drop(parked);
        drop(conns);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        lock(&self.parked).conns.iter().flatten().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn connected(registry: &Arc<Registry>, listener: &TcpListener) -> (TcpStream, OpenConn) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, peer) = listener.accept().unwrap();
        (client, registry.admit(stream, peer, 8).ok().unwrap())
    }

    fn closed_by_server(client: &mut TcpStream) -> bool {
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        // A reset when the server closed with our bytes unread.
        match client.read(&mut [0u8; 16]) {
            Ok(n) => n == 0,
            Err(e) => e.kind() == io::ErrorKind::ConnectionReset,
        }
    }

    #[test]
    fn the_registry_counts_open_connections_against_the_cap() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let registry = Arc::new(Registry::default());
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, peer) = listener.accept().unwrap();
        let first = registry.admit(stream, peer, 1).ok().unwrap();
        let _second_client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, peer) = listener.accept().unwrap();
        let refused = registry.admit(stream, peer, 1);
        assert!(refused.is_err(), "one open connection is the cap");
        drop(first);
        let (stream, _) = (refused.err().unwrap(), ());
        assert!(
            registry.admit(stream, peer, 1).is_ok(),
            "a closed one frees its place"
        );
        drop(client);
    }

    #[test]
    fn a_parked_connection_wakes_with_bytes_and_is_closed_at_its_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let registry = Arc::new(Registry::default());
        let idle = IdleSet::new().unwrap();
        let (mut active, conn) = connected(&registry, &listener);
        idle.park(conn, Instant::now() + Duration::from_secs(60));
        let (mut quiet, conn) = connected(&registry, &listener);
        idle.park(conn, Instant::now() + Duration::from_millis(1));
        assert_eq!(idle.len(), 2);
        let (mut keys, mut woken) = (Vec::new(), Vec::new());
        idle.wait(&mut keys, &mut woken, Duration::from_millis(10))
            .unwrap();
        assert!(woken.is_empty(), "no bytes yet");
        active.write_all(b"GET").unwrap();
        for _ in 0..100 {
            idle.wait(&mut keys, &mut woken, Duration::from_millis(20))
                .unwrap();
            if !woken.is_empty() {
                break;
            }
        }
        assert_eq!(woken.len(), 1);
        assert_eq!(idle.expire(Instant::now()), 1, "the quiet one expired");
        assert!(closed_by_server(&mut quiet));
        assert_eq!(idle.len(), 0);
        let conn = woken.pop().unwrap();
        idle.park(conn, Instant::now() + Duration::from_secs(60));
        assert_eq!(idle.len(), 1, "parked again (re-armed)");
        idle.close();
        assert!(closed_by_server(&mut active), "a stop closes parked ones");
        let (mut late, conn) = connected(&registry, &listener);
        idle.park(conn, Instant::now() + Duration::from_secs(60));
        assert!(closed_by_server(&mut late), "parked after the stop: closed");
        assert_eq!(registry.close_all(), 0, "every one left the registry");
    }
}

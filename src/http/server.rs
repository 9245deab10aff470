//! The accept loop feeding connections to the worker pool, the connection cap (503 on the
//! accept thread), the poller that hands parked connections back to the pool when bytes
//! arrive, and the graceful stop.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::connection::{Shared, serve};
use super::idle::OpenConn;
use super::message::{Exchange, Limits, Response, Service, Status};
use super::pool::{Pool, PoolConfig};
use super::response_write::{Persist, encode_head};
use crate::log;

/// Worker stack, explicit: 1024 workers at the 2 MiB default would reserve 2 GiB; RSA-4096 in a
/// handler needs far less than 1 MiB.
const WORKER_STACK: usize = 1024 * 1024;
/// Idle workers kept for the next burst; idle ones beyond it exit after `WORKER_IDLE_EXIT`.
const WORKER_FLOOR: usize = 4;
const WORKER_IDLE_EXIT: Duration = Duration::from_secs(30);
/// Workers spawned on demand: 4 per processor, at least 8. Enough to keep the processors busy
/// while some workers wait on a socket or the audit file; with more, they only contend
/// (README, Performance).
const WORKERS_PER_CORE: usize = 4;
const MIN_WORKERS: usize = 8;
/// The poller's longest sleep: idle timeouts are enforced at most this late, and queued
/// connections are checked this often.
const SWEEP: Duration = Duration::from_millis(50);
/// A connection queued this long while no worker finished a job means the workers are held
/// by slow clients: add threads (up to one per open connection). Queued for `RESCUE_LIMIT`,
/// threads are added even while jobs finish (a few workers held, the others overloaded).
const RESCUE_AFTER: Duration = Duration::from_millis(100);
const RESCUE_LIMIT: Duration = Duration::from_secs(1);
/// Pause after an accept error such as EMFILE, so a full fd table does not spin the loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

type Job = OpenConn;

/// A running server: an accept loop and a poller, each on its own thread, feeding a pool of
/// connection workers. Dropping it stops it (without waiting); `wait` or `shutdown` to wait.
pub struct Server {
    stopper: Stopper,
    accept: Option<JoinHandle<()>>,
    poller: Option<JoinHandle<()>>,
}

/// Asks a server to stop, from any thread.
#[derive(Clone)]
pub struct Stopper {
    shared: Arc<Shared>,
    pool: Arc<Pool<Job>>,
    addr: SocketAddr,
}

impl Server {
    /// Spawns the accept loop on its own thread and returns at once.
    pub fn start(
        listener: TcpListener,
        limits: Limits,
        service: Arc<dyn Service>,
    ) -> io::Result<Server> {
        limits.check()?;
        listener.set_nonblocking(false)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(limits, service)?);
        let cores = crate::sys::online_cpus();
        let config = PoolConfig {
            soft_threads: (cores * WORKERS_PER_CORE).max(MIN_WORKERS),
            max_threads: shared.limits.max_connections,
            floor: WORKER_FLOOR,
            idle_exit: WORKER_IDLE_EXIT,
            stack_size: WORKER_STACK,
            name: "t2g-conn",
        };
        let for_workers = Arc::clone(&shared);
        let pool = Arc::new(Pool::new(config, move |conn: Job, backlog| {
            serve(&for_workers, conn, backlog)
        }));
        let (for_poller, pool_for_poller) = (Arc::clone(&shared), Arc::clone(&pool));
        let poller = thread::Builder::new()
            .name("t2g-poller".to_string())
            .spawn(move || poll_loop(&for_poller, &pool_for_poller))?;
        let (for_accept, pool_for_accept) = (Arc::clone(&shared), Arc::clone(&pool));
        let accept = thread::Builder::new()
            .name("t2g-accept".to_string())
            .spawn(move || accept_loop(&listener, &for_accept, &pool_for_accept));
        let stopper = Stopper { shared, pool, addr };
        let accept = match accept {
            Ok(accept) => accept,
            Err(e) => {
                stopper.stop();
                return Err(e);
            }
        };
        Ok(Server {
            stopper,
            accept: Some(accept),
            poller: Some(poller),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.stopper.addr
    }

    /// A cloneable handle that can ask the server to stop from another thread.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Blocks until the server has stopped (after a `Stopper::stop`) and in-flight requests
    /// finished.
    pub fn wait(mut self) {
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        self.stopper.pool.wait_finished(None);
        if let Some(poller) = self.poller.take() {
            let _ = poller.join();
        }
    }

    /// Graceful stop: stop accepting, close idle connections, let in-flight requests finish
    /// (their responses say `Connection: close`), waiting at most `grace`; then closes what is
    /// left. Returns how many connections it had to close that way (0: all finished in time).
    pub fn shutdown(mut self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        self.stopper.stop();
        let finished = self.stopper.pool.wait_finished(Some(deadline));
        for thread in [self.accept.take(), self.poller.take()]
            .into_iter()
            .flatten()
        {
            while !thread.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
        if finished {
            0
        } else {
            self.stopper.shared.open.close_all()
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopper.stop();
    }
}

impl Stopper {
    /// Stops accepting, closes connections that wait for a next request, and lets the others
    /// finish their current request. Returns at once; idempotent.
    pub fn stop(&self) {
        if !self.shared.begin_stop() {
            return;
        }
        self.pool.close();
        // The accept loop blocks in accept(); a connection of our own wakes it.
        if let Err(e) = TcpStream::connect_timeout(&wake_addr(self.addr), Duration::from_secs(1)) {
            log::warn(&format!("could not wake the accept loop: {e}"));
        }
    }
}

/// Where to connect to reach a listener bound to `addr` (a wildcard means loopback).
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    crate::text::loopback_for(addr)
}

fn accept_loop(listener: &TcpListener, shared: &Shared, pool: &Pool<Job>) {
    let mut last_warn: Option<Instant> = None;
    let mut suppressed = 0u64;
    let mut admitted = Vec::with_capacity(1);
    loop {
        let accepted = listener.accept();
        if shared.stopping() {
            return; // dropping the listener closes the port
        }
        match accepted {
            Ok((_, peer)) if !shared.accepts(peer) => {} // dropped: closed, never counted
            Ok((stream, peer)) => {
                let cap = shared.limits.max_connections;
                match shared.open.admit(stream, peer, cap) {
                    Ok(conn) => {
                        let _ = conn.stream.set_nodelay(true);
                        admitted.push(conn);
                        pool.submit(&mut admitted);
                    }
                    Err(stream) => refuse_busy(shared, &stream, peer),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Never give up: EMFILE, ENFILE, ENOMEM pass; say so at most once a second.
                if last_warn.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    let more = match suppressed {
                        0 => String::new(),
                        n => format!(" ({n} more since the last report)"),
                    };
                    log::warn(&format!("accept failed: {e}{more}; retrying"));
                    last_warn = Some(Instant::now());
                    suppressed = 0;
                } else {
                    suppressed += 1;
                }
                // An aborted handshake is one client's doing; pausing would only slow the others.
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                ) {
                    thread::sleep(ACCEPT_BACKOFF);
                }
            }
        }
    }
}

/// Hands parked connections with bytes waiting to the pool, closes those past their idle
/// timeout, and rescues queued connections from workers held by slow clients; until a stop.
fn poll_loop(shared: &Shared, pool: &Pool<Job>) {
    let (mut keys, mut woken) = (Vec::new(), Vec::new());
    let mut swept = Instant::now();
    while !shared.stopping() {
        if let Err(e) = shared.idle.wait(&mut keys, &mut woken, SWEEP) {
            log::warn(&format!("waiting for idle connections failed: {e}"));
            thread::sleep(SWEEP);
        }
        // Dropped (closed) only once the pool is closed, at a stop.
        pool.submit(&mut woken);
        if swept.elapsed() >= SWEEP {
            swept = Instant::now();
            shared.idle.expire(swept);
            pool.rescue(RESCUE_AFTER, RESCUE_LIMIT);
        }
    }
}

/// 503 on the accept thread: never blocks (non-blocking socket, one write attempt).
fn refuse_busy(shared: &Shared, stream: &TcpStream, peer: SocketAddr) {
    let started = Instant::now();
    let _ = stream.set_nonblocking(true);
    // Take what already arrived, so the close sends FIN rather than a reset.
    let mut scratch = [0u8; 4096];
    for _ in 0..4 {
        if !matches!((&*stream).read(&mut scratch), Ok(n) if n > 0) {
            break;
        }
    }
    let resp = Response::text(Status::ServiceUnavailable, "server busy, retry later")
        .header("Retry-After", "1");
    let mut out = encode_head(&resp, resp.body.len(), Persist::Close);
    let head_len = out.len();
    out.extend_from_slice(&resp.body);
    let sent = (&*stream).write(&out).unwrap_or(0);
    let _ = stream.shutdown(Shutdown::Write);
    shared.report(&Exchange {
        method: "-",
        path: "-",
        status: resp.status,
        route: resp.route,
        bytes: sent.saturating_sub(head_len),
        duration: started.elapsed(),
        peer,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Request, eventually};

    struct Hello;

    impl Service for Hello {
        fn handle(&self, _: &Request) -> Response {
            Response::text(Status::Ok, "hello")
        }
        fn completed(&self, _: &Exchange<'_>) {}
    }

    #[test]
    fn idle_keep_alive_connections_wait_in_the_poller_not_on_threads() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let limits = Limits {
            idle_timeout: Duration::from_secs(30),
            ..Limits::default()
        };
        let server = Server::start(listener, limits, Arc::new(Hello)).unwrap();
        let addr = server.local_addr();
        let mut clients: Vec<TcpStream> = (0..300)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        for client in &mut clients {
            client
                .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
        }
        for client in &mut clients {
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut got = [0u8; 512];
            let n = client.read(&mut got).unwrap();
            assert!(got[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
        }
        let stopper = server.stopper();
        assert!(
            eventually(Duration::from_secs(5), || stopper.shared.idle.len() == 300),
            "all 300 parked: {}",
            stopper.shared.idle.len()
        );
        assert!(
            stopper.pool.busy() == 0,
            "no worker holds an idle connection"
        );
        assert!(
            stopper.pool.threads() < 300,
            "fewer threads than connections: {}",
            stopper.pool.threads()
        );
        let begun = Instant::now();
        assert_eq!(server.shutdown(Duration::from_secs(2)), 0);
        assert!(
            begun.elapsed() < Duration::from_secs(1),
            "idle ones close at once"
        );
        for client in &mut clients {
            assert!(
                matches!(client.read(&mut [0u8; 16]), Ok(0)),
                "closed by the stop"
            );
        }
    }

    #[test]
    fn wake_address_of_wildcards_is_loopback() {
        assert_eq!(
            wake_addr("0.0.0.0:80".parse().unwrap()),
            "127.0.0.1:80".parse().unwrap()
        );
        assert_eq!(
            wake_addr("[::]:80".parse().unwrap()),
            "[::1]:80".parse().unwrap()
        );
        assert_eq!(
            wake_addr("10.0.0.1:80".parse().unwrap()),
            "10.0.0.1:80".parse().unwrap()
        );
    }
}

//! The HTTP/1.1 edge at work: the accept loop, one connection per pool worker (keep-alive,
//! timeouts, refusals, lingering close) and the graceful shutdown.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::http::{Exchange, Limits, Method, Request, Response, Service};
use crate::log;
use crate::pool::{Pool, PoolConfig};
use crate::request_head::{check_request, keep_alive, parse_head, HeadScan, Refusal};
use crate::response_write::{encode_head, invalid_response, write_response, Persist};

/// Worker stack, explicit: 1024 workers at the 2 MiB default would reserve 2 GiB; RSA-4096 in a
/// handler needs far less than 1 MiB.
const WORKER_STACK: usize = 1024 * 1024;
/// Idle workers kept for the next burst; idle ones beyond it exit after `WORKER_IDLE_EXIT`.
const WORKER_FLOOR: usize = 4;
const WORKER_IDLE_EXIT: Duration = Duration::from_secs(30);
const READ_CHUNK: usize = 8 * 1024;
/// Pause after an accept error such as EMFILE, so a full fd table does not spin the loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// After a response that closes the connection, unread input is drained this long / this much
/// so the close sends FIN rather than a reset that could destroy the response in flight.
const LINGER: Duration = Duration::from_millis(300);
const LINGER_BYTES: usize = 256 * 1024;

// ----- connections ----------------------------------------------------------------------------

struct Shared {
    limits: Limits,
    service: Arc<dyn Service>,
    stopping: AtomicBool,
    /// Open connections, so a stop can close the idle ones.
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
}

struct Conn {
    stream: TcpStream,
    /// Waiting for the first byte of a next request (closed at once by a stop).
    idle: Mutex<bool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one still holds consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn report(&self, exchange: &Exchange<'_>) {
        if catch_unwind(AssertUnwindSafe(|| self.service.completed(exchange))).is_err() {
            log::warn("the completed() hook panicked");
        }
    }
}

/// Serves one connection until it closes; runs on a pool worker.
fn serve(shared: &Shared, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let conn = Arc::new(Conn {
        stream,
        idle: Mutex::new(false),
    });
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    lock(&shared.conns).insert(id, Arc::clone(&conn));
    Connection {
        shared,
        conn: &conn,
        peer,
        buf: Vec::new(),
    }
    .run();
    lock(&shared.conns).remove(&id);
}

struct Connection<'a> {
    shared: &'a Shared,
    conn: &'a Conn,
    peer: SocketAddr,
    /// Bytes read and not yet consumed: a partial head or pipelined requests.
    buf: Vec<u8>,
}

enum Head {
    Complete(usize),
    Refused(Refusal),
    Gone,
}

impl Connection<'_> {
    fn run(&mut self) {
        loop {
            if self.buf.is_empty() && !self.await_request() {
                return;
            }
            let started = Instant::now();
            let end = match self.read_head(started) {
                Head::Complete(end) => end,
                Head::Refused(refusal) => return self.refuse(&refusal, None, started),
                Head::Gone => return,
            };
            let keep = self.answer(end, started);
            self.buf.drain(..end);
            // A large head must not pin its buffer for the rest of a long keep-alive.
            self.buf.shrink_to(2 * READ_CHUNK);
            if !keep {
                return;
            }
        }
    }

    /// Waits up to the idle timeout for a first byte; false when the connection should close.
    fn await_request(&mut self) -> bool {
        {
            let mut idle = lock(&self.conn.idle);
            if self.shared.stopping.load(Ordering::SeqCst) {
                return false;
            }
            *idle = true;
        }
        let got = self.read_more(self.shared.limits.idle_timeout);
        *lock(&self.conn.idle) = false;
        matches!(got, Ok(n) if n > 0)
    }

    fn read_more(&mut self, timeout: Duration) -> io::Result<usize> {
        self.conn.stream.set_read_timeout(Some(timeout))?;
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let result = loop {
            match (&self.conn.stream).read(&mut self.buf[old..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        self.buf.truncate(old + *result.as_ref().unwrap_or(&0));
        result
    }

    fn read_head(&mut self, started: Instant) -> Head {
        let limits = &self.shared.limits;
        let mut scan = HeadScan::default();
        loop {
            match scan.advance(&self.buf, limits) {
                Ok(Some(end)) => return Head::Complete(end),
                Ok(None) => {}
                Err(refusal) => return Head::Refused(refusal),
            }
            let left = limits.head_timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Head::Refused(Refusal::Timeout);
            }
            match self.read_more(left) {
                Ok(0) => return Head::Gone,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Head::Refused(Refusal::Timeout)
                }
                Err(_) => return Head::Gone,
            }
        }
    }

    /// Parses and answers the head in `buf[..end]`; true to keep the connection.
    fn answer(&mut self, end: usize, started: Instant) -> bool {
        let (request, minor) = match parse_head(&self.buf[..end], self.peer, &self.shared.limits) {
            Ok(parsed) => parsed,
            Err(refusal) => {
                self.refuse(&refusal, None, started);
                return false;
            }
        };
        if let Err(refusal) = check_request(&request, minor) {
            self.refuse(&refusal, Some(&request), started);
            return false;
        }
        let service = &self.shared.service;
        let mut resp = match catch_unwind(AssertUnwindSafe(|| service.handle(&request))) {
            Ok(resp) => resp,
            Err(_) => {
                log::warn("a request handler panicked; answered 500");
                Response::text(500, "internal server error")
            }
        };
        if let Some(problem) = invalid_response(&resp) {
            log::error(&format!("route {}: {problem}; answered 500", resp.route));
            resp = Response::text(500, "internal server error").route(resp.route);
        }
        let keep = keep_alive(&request, minor) && !self.shared.stopping.load(Ordering::SeqCst);
        let persist = match (keep, minor) {
            (false, _) => Persist::Close,
            (true, 0) => Persist::KeepAlive,
            (true, _) => Persist::Default,
        };
        let head_only = request.method == Method::Head;
        let limit = self.shared.limits.write_timeout;
        let (bytes, written) = write_response(&self.conn.stream, &resp, head_only, persist, limit);
        self.shared.report(&Exchange {
            method: request.method.as_str(),
            path: &request.path,
            status: resp.status,
            route: resp.route,
            bytes,
            duration: started.elapsed(),
            peer: self.peer,
        });
        if written.is_ok() && !keep {
            self.linger();
        }
        written.is_ok() && keep
    }

    /// Answers a refused head with `Connection: close`, then closes.
    fn refuse(&mut self, refusal: &Refusal, request: Option<&Request>, started: Instant) {
        let resp = Response::text(refusal.status(), refusal.to_string());
        let limit = self.shared.limits.write_timeout;
        let (bytes, written) =
            write_response(&self.conn.stream, &resp, false, Persist::Close, limit);
        self.shared.report(&Exchange {
            method: request.map_or("-", |r| r.method.as_str()),
            path: request.map_or("-", |r| r.path.as_str()),
            status: resp.status,
            route: resp.route,
            bytes,
            duration: started.elapsed(),
            peer: self.peer,
        });
        if written.is_ok() {
            self.linger();
        }
    }

    /// Half-closes, then drains what the client still sends for a short while (bounded in time
    /// and bytes), so the close does not reset the connection before the response is read.
    fn linger(&mut self) {
        let stream = &self.conn.stream;
        let _ = stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER;
        let mut scratch = [0u8; 4096];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
                return;
            }
            match (&*stream).read(&mut scratch) {
                Ok(0) => return,
                Ok(n) => drained += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

// ----- the server -----------------------------------------------------------------------------

type Job = (TcpStream, SocketAddr);

/// A running server: an accept loop on its own thread feeding a pool of connection workers.
/// Dropping it stops it (without waiting); `wait` or `shutdown` to wait.
pub struct Server {
    stopper: Stopper,
    accept: Option<JoinHandle<()>>,
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
        let shared = Arc::new(Shared {
            limits,
            service,
            stopping: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let config = PoolConfig {
            max_threads: shared.limits.max_connections,
            floor: WORKER_FLOOR,
            idle_exit: WORKER_IDLE_EXIT,
            stack_size: WORKER_STACK,
            name: "t2g-conn",
        };
        let for_workers = Arc::clone(&shared);
        let pool = Arc::new(Pool::new(config, move |(stream, peer): Job| {
            serve(&for_workers, stream, peer)
        }));
        let (for_accept, pool_for_accept) = (Arc::clone(&shared), Arc::clone(&pool));
        let accept = thread::Builder::new()
            .name("t2g-accept".to_string())
            .spawn(move || accept_loop(&listener, &for_accept, &pool_for_accept))?;
        Ok(Server {
            stopper: Stopper { shared, pool, addr },
            accept: Some(accept),
        })
    }

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
    }

    /// Graceful stop: stop accepting, close idle connections, let in-flight requests finish
    /// (their responses say `Connection: close`), waiting at most `grace`; then closes what is
    /// left.
    pub fn shutdown(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        self.stopper.stop();
        let finished = self.stopper.pool.wait_finished(Some(deadline));
        if let Some(accept) = self.accept.take() {
            while !accept.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            if accept.is_finished() {
                let _ = accept.join();
            }
        }
        if !finished {
            let conns = lock(&self.stopper.shared.conns);
            for conn in conns.values() {
                let _ = conn.stream.shutdown(Shutdown::Both);
            }
            log::warn(&format!(
                "{} connection(s) still open after the grace period; closed",
                conns.len()
            ));
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
        if self.shared.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        self.pool.close();
        // The accept loop blocks in accept(); a connection of our own wakes it.
        if let Err(e) = TcpStream::connect_timeout(&wake_addr(self.addr), Duration::from_secs(1)) {
            log::warn(&format!("could not wake the accept loop: {e}"));
        }
        for conn in lock(&self.shared.conns).values() {
            if *lock(&conn.idle) {
                let _ = conn.stream.shutdown(Shutdown::Read);
            }
        }
    }
}

/// Where to connect to reach a listener bound to `addr` (a wildcard means loopback).
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

fn accept_loop(listener: &TcpListener, shared: &Shared, pool: &Pool<Job>) {
    let mut last_warn: Option<Instant> = None;
    let mut suppressed = 0u64;
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            return; // dropping the listener closes the port
        }
        match accepted {
            Ok(job) => {
                if let Err((stream, peer)) = pool.submit(job) {
                    refuse_busy(shared, &stream, peer);
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
    let resp = Response::text(503, "server busy, retry later").header("Retry-After", "1");
    let mut out = encode_head(&resp, resp.body.len(), Persist::Close);
    let head_len = out.len();
    out.extend_from_slice(&resp.body);
    let sent = (&*stream).write(&out).unwrap_or(0);
    let _ = stream.shutdown(Shutdown::Write);
    shared.report(&Exchange {
        method: "-",
        path: "-",
        status: 503,
        route: resp.route,
        bytes: sent.saturating_sub(head_len),
        duration: started.elapsed(),
        peer,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

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

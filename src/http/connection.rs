//! One connection on a pool worker: reads request heads, answers them through the service,
//! keeps the connection alive by the version's rules, refuses what the edge does not take, and
//! closes with a short linger so the last response is not reset away.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::message::{Exchange, Limits, Method, Request, Response, Service, Status};
use super::request_head::{check_request, keep_alive, parse_head, HeadScan, Refusal};
use super::response_write::{invalid_response, write_response, Persist, SendTimeout};
use crate::log;

/// Bytes read at a time: a browser's request head fits, a larger one takes more reads. Each
/// worker holds this much on its stack.
const READ_CHUNK: usize = 4 * 1024;
/// After a response that closes the connection, unread input is drained this long / this much
/// so the close sends FIN rather than a reset that could destroy the response in flight.
const LINGER: Duration = Duration::from_millis(300);
const LINGER_BYTES: usize = 256 * 1024;

/// What the accept loop and every connection share.
pub(super) struct Shared {
    pub(super) limits: Limits,
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
    pub(super) fn new(limits: Limits, service: Arc<dyn Service>) -> Shared {
        Shared {
            limits,
            service,
            stopping: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }

    pub(super) fn report(&self, exchange: &Exchange<'_>) {
        if catch_unwind(AssertUnwindSafe(|| self.service.completed(exchange))).is_err() {
            log::warn("the completed() hook panicked");
        }
    }

    pub(super) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Marks the server as stopping and closes the connections that wait for a next request;
    /// false when it was already stopping.
    pub(super) fn begin_stop(&self) -> bool {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return false;
        }
        for conn in lock(&self.conns).values() {
            if *lock(&conn.idle) {
                let _ = conn.stream.shutdown(Shutdown::Read);
            }
        }
        true
    }

    /// Closes every connection still open; returns how many there were.
    pub(super) fn close_all(&self) -> usize {
        let conns = lock(&self.conns);
        for conn in conns.values() {
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
        conns.len()
    }
}

/// Serves one connection until it closes; runs on a pool worker.
pub(super) fn serve(shared: &Shared, stream: TcpStream, peer: SocketAddr) {
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
        scratch: [0; READ_CHUNK],
        read_timeout: None,
        send_timeout: SendTimeout::default(),
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
    /// Where each read lands before its bytes join `buf`.
    scratch: [u8; READ_CHUNK],
    /// The receive timeout last set on the socket: the idle timeout is set once, not per read.
    read_timeout: Option<Duration>,
    send_timeout: SendTimeout,
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
            let Some(consumed) = self.answer(end, started) else {
                return;
            };
            self.buf.drain(..consumed);
            // A large head must not pin its buffer for the rest of a long keep-alive.
            self.buf.shrink_to(READ_CHUNK);
        }
    }

    /// Waits up to the idle timeout for a first byte; false when the connection should close.
    fn await_request(&mut self) -> bool {
        {
            let mut idle = lock(&self.conn.idle);
            if self.shared.stopping() {
                return false;
            }
            *idle = true;
        }
        let got = self.read_more(self.shared.limits.idle_timeout);
        *lock(&self.conn.idle) = false;
        matches!(got, Ok(n) if n > 0)
    }

    fn read_more(&mut self, timeout: Duration) -> io::Result<usize> {
        if self.read_timeout != Some(timeout) {
            self.conn.stream.set_read_timeout(Some(timeout))?;
            self.read_timeout = Some(timeout);
        }
        // Into a buffer zeroed once per connection, then only what arrived is copied: growing
        // `buf` by a chunk zeroed it again on every read.
        let result = loop {
            match (&self.conn.stream).read(&mut self.scratch[..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        if let Ok(n) = result {
            self.buf.extend_from_slice(&self.scratch[..n]);
        }
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
            if let Err(head) = self.read_by_deadline(started) {
                return head;
            }
        }
    }

    /// Reads until `buf` holds `len` bytes: a request body after its head.
    fn read_body(&mut self, len: usize, started: Instant) -> Result<(), Head> {
        while self.buf.len() < len {
            self.read_by_deadline(started)?;
        }
        Ok(())
    }

    /// Reads more, within the head timeout counted from the request's first byte (which also
    /// bounds its body); a timeout is a refusal, an end of stream or error is `Gone`.
    fn read_by_deadline(&mut self, started: Instant) -> Result<(), Head> {
        let left = self
            .shared
            .limits
            .head_timeout
            .saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(Head::Refused(Refusal::Timeout));
        }
        match self.read_more(left) {
            Ok(0) => Err(Head::Gone),
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(Head::Refused(Refusal::Timeout))
            }
            Err(_) => Err(Head::Gone),
        }
    }

    /// Parses and answers the head in `buf[..end]` (reading its body, if the limits allow one);
    /// the bytes the request took when the connection stays open.
    fn answer(&mut self, end: usize, started: Instant) -> Option<usize> {
        let limits = &self.shared.limits;
        let (mut request, minor) = match parse_head(&self.buf[..end], self.peer, limits) {
            Ok(parsed) => parsed,
            Err(refusal) => {
                self.refuse(&refusal, None, started);
                return None;
            }
        };
        let body_len = match check_request(&request, minor, limits.max_body) {
            Ok(len) => len,
            Err(refusal) => {
                self.refuse(&refusal, Some(&request), started);
                return None;
            }
        };
        if body_len > 0 {
            match self.read_body(end + body_len, started) {
                Ok(()) => request.body = self.buf[end..end + body_len].to_vec(),
                Err(Head::Refused(refusal)) => {
                    self.refuse(&refusal, Some(&request), started);
                    return None;
                }
                Err(_) => return None,
            }
        }
        let service = &self.shared.service;
        let mut resp = match catch_unwind(AssertUnwindSafe(|| service.handle(&request))) {
            Ok(resp) => resp,
            Err(_) => {
                log::warn("a request handler panicked; answered 500");
                Response::text(Status::InternalServerError, "internal server error")
            }
        };
        if let Some(problem) = invalid_response(&resp) {
            log::error(&format!("route {}: {problem}; answered 500", resp.route));
            resp = Response::text(Status::InternalServerError, "internal server error")
                .route(resp.route);
        }
        let keep = keep_alive(&request, minor) && !self.shared.stopping();
        let persist = match (keep, minor) {
            (false, _) => Persist::Close,
            (true, 0) => Persist::KeepAlive,
            (true, _) => Persist::Default,
        };
        let head_only = request.method == Method::Head;
        let limit = self.shared.limits.write_timeout;
        let (bytes, written) = write_response(
            &self.conn.stream,
            &mut self.send_timeout,
            &resp,
            head_only,
            persist,
            limit,
        );
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
        (written.is_ok() && keep).then_some(end + body_len)
    }

    /// Answers a refused head with `Connection: close`, then closes.
    fn refuse(&mut self, refusal: &Refusal, request: Option<&Request>, started: Instant) {
        let resp = Response::text(refusal.status(), refusal.to_string());
        let limit = self.shared.limits.write_timeout;
        let (bytes, written) = write_response(
            &self.conn.stream,
            &mut self.send_timeout,
            &resp,
            false,
            Persist::Close,
            limit,
        );
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

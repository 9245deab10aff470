//! One connection on a pool worker: reads request heads, answers them through the service,
//! keeps the connection alive by the version's rules, refuses what the edge does not take, and
//! closes with a short linger so the last response is not reset away. Between requests, an
//! idle connection is parked (see `idle`) rather than holding its worker.

use std::io::{self, Read};
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::idle::{IdleSet, OpenConn, Registry};
use super::message::{AfterSent, Exchange, Limits, Method, Request, Response, Service, Status};
use super::pool::Backlog;
use super::readiness::readable_within;
use super::request_head::{HeadScan, Refusal, check_request, keep_alive, parse_head};
use super::response_write::{Persist, invalid_response, write_response};
use crate::log;

/// Bytes read at a time: a browser's request head fits, a larger one takes more reads. Each
/// worker holds this much on its stack.
const READ_CHUNK: usize = 4 * 1024;
/// After a response that closes the connection, unread input is drained this long / this much
/// so the close sends FIN rather than a reset that could destroy the response in flight.
const LINGER: Duration = Duration::from_millis(300);
const LINGER_BYTES: usize = 256 * 1024;
/// How long a worker with no other job waiting keeps its connection after a response before
/// parking it: a busy client's next request usually comes within this, and is then read at
/// once instead of through the poller.
const KEEP_WAITING: Duration = Duration::from_millis(2);

/// What the accept loop, the workers and the poller share.
pub(super) struct Shared {
    pub(super) limits: Limits,
    service: Arc<dyn Service>,
    stopping: AtomicBool,
    /// Every open connection, so the cap counts them and a late stop can close them.
    pub(super) open: Arc<Registry>,
    /// Connections waiting for a next request.
    pub(super) idle: IdleSet,
}

impl Shared {
    pub(super) fn new(limits: Limits, service: Arc<dyn Service>) -> io::Result<Shared> {
        Ok(Shared {
            limits,
            service,
            stopping: AtomicBool::new(false),
            open: Arc::new(Registry::default()),
            idle: IdleSet::new()?,
        })
    }

    pub(super) fn report(&self, exchange: &Exchange<'_>) {
        if catch_unwind(AssertUnwindSafe(|| self.service.completed(exchange))).is_err() {
            log::warn("the completed() hook panicked");
        }
    }

    /// Runs a response's [`Response::after_sent`] action, under the guard `report` uses.
    fn run_after_sent(&self, action: Option<AfterSent>) {
        if let Some(action) = action
            && catch_unwind(AssertUnwindSafe(action)).is_err()
        {
            log::warn("a response's after-sent action panicked");
        }
    }

    /// [`Service::accepts`]; a panic in it refuses the peer.
    pub(super) fn accepts(&self, peer: std::net::SocketAddr) -> bool {
        catch_unwind(AssertUnwindSafe(|| self.service.accepts(peer))).unwrap_or(false)
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
        self.idle.close();
        true
    }
}

/// Serves a connection while requests for it are waiting, then parks it (or closes it);
/// runs on a pool worker. `backlog` tells whether other connections wait for a worker.
pub(super) fn serve(shared: &Shared, conn: OpenConn, backlog: Backlog<'_>) {
    let mut connection = Connection {
        shared,
        conn,
        buf: Vec::new(),
        scratch: [0; READ_CHUNK],
    };
    if connection.run(&backlog) == End::Idle {
        let deadline = Instant::now() + shared.limits.idle_timeout;
        shared.idle.park(connection.conn, deadline);
    }
}

struct Connection<'a> {
    shared: &'a Shared,
    conn: OpenConn,
    /// Bytes read and not yet consumed: a partial head or pipelined requests.
    buf: Vec<u8>,
    /// Where each read lands before its bytes join `buf`.
    scratch: [u8; READ_CHUNK],
}

/// Why a connection left its worker.
#[derive(PartialEq, Eq)]
enum End {
    /// No byte of a next request yet: park it.
    Idle,
    Close,
}

enum Head {
    Complete(usize),
    Refused(Refusal),
    Gone,
}

impl Connection<'_> {
    fn run(&mut self, backlog: &Backlog<'_>) -> End {
        loop {
            if self.buf.is_empty()
                && let Some(end) = self.await_request(backlog)
            {
                return end;
            }
            let started = Instant::now();
            let end = match self.read_head(started) {
                Head::Complete(end) => end,
                Head::Refused(refusal) => {
                    self.refuse(&refusal, None, started);
                    return End::Close;
                }
                Head::Gone => return End::Close,
            };
            let Some(consumed) = self.answer(end, started) else {
                return End::Close;
            };
            self.buf.drain(..consumed);
            // A large head must not pin its buffer for the rest of a long keep-alive.
            self.buf.shrink_to(READ_CHUNK);
        }
    }

    /// Reads the first bytes of a next request if they are there (waiting a moment when no
    /// other connection needs this worker; one the poller woke has them); else says how the
    /// connection leaves the worker.
    fn await_request(&mut self, backlog: &Backlog<'_>) -> Option<End> {
        if self.shared.stopping() {
            return Some(End::Close);
        }
        if !std::mem::take(&mut self.conn.readable) {
            let wait = match backlog.is_empty() {
                true => KEEP_WAITING,
                false => Duration::ZERO,
            };
            match readable_within(self.conn.stream.as_fd(), wait) {
                Ok(true) => {}
                Ok(false) => return Some(End::Idle),
                Err(_) => return Some(End::Close),
            }
        }
        // Readable, so the read returns at once; the timeout is set only when it changes.
        match self.read_more(self.shared.limits.head_timeout) {
            Ok(n) if n > 0 => None,
            _ => Some(End::Close),
        }
    }

    fn read_more(&mut self, timeout: Duration) -> io::Result<usize> {
        if self.conn.read_timeout != Some(timeout) {
            self.conn.stream.set_read_timeout(Some(timeout))?;
            self.conn.read_timeout = Some(timeout);
        }
        // Into a buffer zeroed once per stay on a worker, then only what arrived is copied:
        // growing `buf` by a chunk zeroed it again on every read.
        let result = loop {
            match (&*self.conn.stream).read(&mut self.scratch[..]) {
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
        let utf8 = self.shared.service.utf8_headers();
        let (mut request, minor) = match parse_head(&self.buf[..end], self.conn.peer, limits, utf8)
        {
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
        // Taken out before a 500 may replace the response: the action runs either way.
        let after_sent = resp.take_after_sent();
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
            &mut self.conn.send_timeout,
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
            peer: self.conn.peer,
        });
        self.shared.run_after_sent(after_sent);
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
            &mut self.conn.send_timeout,
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
            peer: self.conn.peer,
        });
        if written.is_ok() {
            self.linger();
        }
    }

    /// Half-closes, then drains what the client still sends for a short while (bounded in time
    /// and bytes), so the close does not reset the connection before the response is read.
    fn linger(&mut self) {
        let stream = &*self.conn.stream;
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Mutex, mpsc};

    use super::*;
    use crate::http::{Server, eventually};

    /// Answers `/wait` with an action that waits for the test's go-ahead, `/big` with a body
    /// larger than the socket buffers, `/panic` with an action that panics, anything else
    /// without an action. Counts the actions that ran to their end.
    struct Actions {
        ran: Arc<AtomicUsize>,
        go: Arc<Mutex<mpsc::Receiver<()>>>,
    }

    impl Service for Actions {
        fn handle(&self, request: &Request) -> Response {
            let ran = Arc::clone(&self.ran);
            let count = move || {
                ran.fetch_add(1, Ordering::SeqCst);
            };
            match request.path.as_str() {
                "/wait" => {
                    let go = Arc::clone(&self.go);
                    Response::text(Status::Ok, "ok").after_sent(move || {
                        let _ = go.lock().unwrap().recv_timeout(Duration::from_secs(10));
                        count();
                    })
                }
                "/big" => {
                    Response::new(Status::Ok, "text/plain", vec![b'x'; 32 << 20]).after_sent(count)
                }
                "/panic" => Response::text(Status::Ok, "ok").after_sent(|| panic!("after-sent")),
                _ => Response::text(Status::Ok, "plain"),
            }
        }
        fn completed(&self, _: &Exchange<'_>) {}
    }

    fn start(limits: Limits) -> (Server, Arc<AtomicUsize>, mpsc::Sender<()>) {
        let (go, waiting) = mpsc::channel();
        let ran = Arc::new(AtomicUsize::new(0));
        let service = Actions {
            ran: Arc::clone(&ran),
            go: Arc::new(Mutex::new(waiting)),
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = Server::start(listener, limits, Arc::new(service)).unwrap();
        (server, ran, go)
    }

    /// Sends a GET for `path` and reads its whole response (a short text body ending in `\n`).
    fn get(client: &mut TcpStream, path: &str) -> String {
        write!(client, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 1024];
        let complete = |got: &[u8]| {
            [&b"\r\n\r\nok\n"[..], b"\r\n\r\nplain\n"]
                .iter()
                .any(|end| got.ends_with(end))
        };
        while !complete(&got) {
            let n = client.read(&mut chunk).expect("the response in time");
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8(got).unwrap()
    }

    #[test]
    fn an_after_sent_action_runs_once_after_the_response_is_written() {
        let (server, ran, go) = start(Limits::default());
        let mut client = TcpStream::connect(server.local_addr()).unwrap();
        // The action waits for `go`, which comes only once the whole response is here: had the
        // edge run it before writing, the read would time out.
        assert!(get(&mut client, "/wait").starts_with("HTTP/1.1 200 OK\r\n"));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        go.send(()).unwrap();
        assert!(eventually(Duration::from_secs(5), || ran
            .load(Ordering::SeqCst)
            == 1));
        // Later exchanges on the connection do not run it again.
        assert!(get(&mut client, "/plain").starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(get(&mut client, "/other").starts_with("HTTP/1.1 200 OK\r\n"));
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_eq!(server.shutdown(Duration::from_secs(2)), 0);
    }

    #[test]
    fn an_after_sent_action_runs_when_the_write_fails() {
        let limits = Limits {
            write_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let (server, ran, _go) = start(limits);
        let mut client = TcpStream::connect(server.local_addr()).unwrap();
        // 32 MiB that nobody reads: the write runs into its timeout.
        client
            .write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        assert!(
            eventually(Duration::from_secs(10), || ran.load(Ordering::SeqCst) == 1),
            "the action ran after the failed write"
        );
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(ran.load(Ordering::SeqCst), 1, "exactly once");
        drop(client);
        server.shutdown(Duration::from_secs(2));
    }

    #[test]
    fn a_panicking_after_sent_action_is_contained() {
        let (server, _ran, _go) = start(Limits::default());
        let mut client = TcpStream::connect(server.local_addr()).unwrap();
        assert!(get(&mut client, "/panic").starts_with("HTTP/1.1 200 OK\r\n"));
        // The same connection, on the same thread, serves on.
        assert!(get(&mut client, "/plain").starts_with("HTTP/1.1 200 OK\r\n"));
        let mut other = TcpStream::connect(server.local_addr()).unwrap();
        assert!(get(&mut other, "/plain").starts_with("HTTP/1.1 200 OK\r\n"));
        assert_eq!(server.shutdown(Duration::from_secs(2)), 0);
    }
}

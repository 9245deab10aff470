//! `token2go-server healthcheck`: one `GET /health` over loopback for a container's
//! `HEALTHCHECK` or a probe. Only std: no DNS, no shell, no curl, no file read, so it works in
//! an empty root (`FROM scratch`).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::time::duration_text;

/// The whole probe (connect, send, receive) ends within this.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// A status line longer than this is not from token2go.
const MAX_STATUS_LINE: usize = 1024;

/// Where a server configured to listen on `listen` answers from inside its own host or
/// container: a wildcard address over loopback of its family (`0.0.0.0` → `127.0.0.1`,
/// `::` → `::1`); an address of its own as it is.
pub fn probe_addr(listen: SocketAddr) -> SocketAddr {
    crate::text::loopback_for(listen)
}

/// Why the probe failed; one line each.
#[derive(Debug)]
pub enum ProbeError {
    /// Connecting failed.
    Connect(io::Error),
    /// Sending the request failed.
    Send(io::Error),
    /// Reading the answer failed.
    Receive(io::Error),
    /// No answer within this time.
    TimedOut(Duration),
    /// The server closed before a whole status line arrived.
    Closed,
    /// An answer other than `200`: its status line.
    Status(String),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Connect(e) => write!(f, "cannot connect: {e}"),
            ProbeError::Send(e) => write!(f, "cannot send the request: {e}"),
            ProbeError::Receive(e) => write!(f, "cannot read the answer: {e}"),
            ProbeError::TimedOut(limit) => {
                write!(f, "no answer within {}", duration_text(*limit))
            }
            ProbeError::Closed => write!(f, "connection closed without an answer"),
            ProbeError::Status(line) => write!(f, "answered {line:?}, not 200"),
        }
    }
}

impl std::error::Error for ProbeError {}

/// `GET /health` on `addr`: Ok on a `200` status line, within `timeout` overall.
pub fn probe(addr: SocketAddr, timeout: Duration) -> Result<(), ProbeError> {
    let deadline = Instant::now() + timeout;
    // Each step gets what is left of the overall budget.
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(ProbeError::TimedOut(timeout))
    };
    let timed_out = |e: &io::Error| {
        matches!(
            e.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        )
    };
    let mut stream = TcpStream::connect_timeout(&addr, left()?).map_err(|e| {
        if timed_out(&e) {
            ProbeError::TimedOut(timeout)
        } else {
            ProbeError::Connect(e)
        }
    })?;
    stream
        .set_write_timeout(Some(left()?))
        .map_err(ProbeError::Send)?;
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: token2go-healthcheck\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(|e| {
        if timed_out(&e) {
            ProbeError::TimedOut(timeout)
        } else {
            ProbeError::Send(e)
        }
    })?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 256];
    let line_end = loop {
        if let Some(end) = answer.windows(2).position(|w| w == b"\r\n") {
            break end;
        }
        if answer.len() > MAX_STATUS_LINE {
            return Err(ProbeError::Status(
                String::from_utf8_lossy(&answer[..80]).into_owned() + "...",
            ));
        }
        stream
            .set_read_timeout(Some(left()?))
            .map_err(ProbeError::Receive)?;
        match stream.read(&mut chunk) {
            Ok(0) => return Err(ProbeError::Closed),
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if timed_out(&e) => return Err(ProbeError::TimedOut(timeout)),
            Err(e) => return Err(ProbeError::Receive(e)),
        }
    };
    let line = String::from_utf8_lossy(&answer[..line_end]).into_owned();
    let mut parts = line.split(' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().unwrap_or_default();
    if matches!(version, "HTTP/1.1" | "HTTP/1.0") && status == "200" {
        Ok(())
    } else {
        Err(ProbeError::Status(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    #[test]
    fn wildcards_are_probed_over_loopback() {
        let p = |s: &str| probe_addr(s.parse().unwrap()).to_string();
        assert_eq!(p("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(p("[::]:8080"), "[::1]:8080");
        assert_eq!(p("127.0.0.1:9"), "127.0.0.1:9");
        assert_eq!(p("[::1]:9"), "[::1]:9");
    }

    /// A one-shot server that reads the request head, then writes `answer` and closes.
    fn answering(answer: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            assert!(head.starts_with(b"GET /health HTTP/1.1\r\n"));
            let _ = conn.write_all(answer);
        });
        addr
    }

    #[test]
    fn a_200_passes_anything_else_fails() {
        let ok = answering(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(probe(ok, TIMEOUT).is_ok());
        let busy = answering(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
        let e = probe(busy, TIMEOUT).unwrap_err();
        assert!(e.to_string().contains("503"), "{e}");
        let short = answering(b"HTTP/1.1 20");
        assert!(matches!(probe(short, TIMEOUT), Err(ProbeError::Closed)));
        let other = answering(b"SSH-2.0-OpenSSH\r\n");
        assert!(matches!(probe(other, TIMEOUT), Err(ProbeError::Status(_))));
    }

    #[test]
    fn a_silent_server_times_out_on_time() {
        // Accepted by the kernel (the backlog), never answered.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let begun = Instant::now();
        let e = probe(addr, Duration::from_millis(300)).unwrap_err();
        let took = begun.elapsed();
        assert!(matches!(e, ProbeError::TimedOut(_)), "{e}");
        assert!(took < Duration::from_secs(1), "{took:?}");
        drop(listener);
    }

    #[test]
    fn a_closed_port_fails_to_connect() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = probe(addr, TIMEOUT).unwrap_err();
        assert!(matches!(e, ProbeError::Connect(_)), "{e}");
    }
}

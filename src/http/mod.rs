//! The HTTP/1.1 edge: the code that serves on sockets, read as one unit. (Others touch sockets
//! too: socket activation checks fd 3, the health check and the client connect.)
//!
//! - `message`: the request and response values, statuses, the service trait, the limits;
//! - `request_head`: finding, parsing and judging a request head (400/413/414/431/505);
//! - `response_write`: the status line and headers, writing under a deadline;
//! - `connection`: one connection on a worker (keep-alive, timeouts, refusals, lingering close);
//! - `idle`: the open connections, and the idle ones parked in one epoll set between requests;
//! - `server`: the accept loop, the connection cap (503), the poller and the graceful stop;
//! - `pool`: the reused worker threads and their queue;
//! - `readiness`: epoll and poll, the OS calls that wait for a socket to become readable.
//!
//! Every response the edge writes (its own refusals included) carries `BASELINE_HEADERS`,
//! `Date`, `Content-Length` and, when closing, `Connection: close`.

mod connection;
mod idle;
mod message;
mod pool;
#[allow(unsafe_code)] // epoll and poll for idle connections, each call with a SAFETY comment
mod readiness;
mod request_head;
mod response_write;
mod server;

pub use message::{Exchange, Limits, Method, Request, Response, Service, Status, is_tchar};
pub use server::{Server, Stopper};

/// Polls `cond` every 10 ms for up to `within`: the edge's unit tests wait on threads with it.
#[cfg(test)]
fn eventually(within: std::time::Duration, cond: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    cond()
}

/// One request head read as `connection` reads it, for `crate::fuzzing`: the bytes are offered
/// `chunk` more at a time (as a slow client sends them) to one `HeadScan`, then the head is parsed
/// and judged. `Ok(None)`: more bytes needed; `Err`: the refusal's status and line; `Ok(Some)`:
/// the request the service would see and the bytes it took.
#[cfg(feature = "fuzzing")]
pub(crate) fn read_request(
    bytes: &[u8],
    limits: &Limits,
    chunk: usize,
) -> Result<Option<(Request, usize)>, (Status, String)> {
    let refused = |r: request_head::Refusal| (r.status(), r.to_string());
    let mut scan = request_head::HeadScan::default();
    let mut seen = 0;
    let end = loop {
        seen = (seen + chunk.max(1)).min(bytes.len());
        match scan.advance(&bytes[..seen], limits).map_err(refused)? {
            Some(end) => break end,
            None if seen == bytes.len() => return Ok(None),
            None => {}
        }
    };
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
    let (mut request, minor) =
        request_head::parse_head(&bytes[..end], peer, limits, Some(&[])).map_err(refused)?;
    let body = request_head::check_request(&request, minor, limits.max_body).map_err(refused)?;
    let Some(body_bytes) = bytes.get(end..end + body) else {
        return Ok(None);
    };
    request.body = body_bytes.to_vec();
    Ok(Some((request, end + body)))
}

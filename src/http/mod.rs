//! The HTTP/1.1 edge: the only code that touches sockets, read as one unit.
//!
//! - `message`: the request and response values, statuses, the service trait, the limits;
//! - `request_head`: finding, parsing and judging a request head (400/413/414/431/505);
//! - `response_write`: the status line and headers, writing under a deadline;
//! - `connection`: one connection on a worker (keep-alive, timeouts, refusals, lingering close);
//! - `server`: the accept loop, the connection cap (503) and the graceful stop;
//! - `pool`: the reused worker threads.
//!
//! Every response the edge writes (its own refusals included) carries `BASELINE_HEADERS`,
//! `Date`, `Content-Length` and, when closing, `Connection: close`.

mod connection;
mod message;
mod pool;
mod request_head;
mod response_write;
mod server;

pub use message::{is_tchar, Exchange, Limits, Method, Request, Response, Service, Status};
pub use server::{Server, Stopper};

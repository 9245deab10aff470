//! The loopback listener that starts the flow in the user's browser and receives the encrypted
//! token back: the server's own HTTP edge ([`crate::http`]) with a service that knows two paths.
//!
//! - Connections from another local user are closed unanswered before the edge counts them
//!   ([`crate::client::peer`]): such a user could read the start link from the browser's
//!   command line, and 32 connections held open would otherwise take every slot.
//! - Only `Host: 127.0.0.1:PORT` and the two random paths count; anything else (favicon,
//!   probes, a page reaching us through DNS rebinding with its own host name) gets 404 and
//!   changes nothing.
//! - The start path: the browser is given `http://127.0.0.1:PORT/<start>`, never the flow URL
//!   with its state and key. The first `GET` answers `303` to the flow URL; a second request
//!   for it ends the run: someone else opened the link.
//! - The callback path: `GET` carries the fields in the query (the `303` of the server, or the
//!   Go server), `POST` in an `application/x-www-form-urlencoded` body of at most 64 KiB
//!   (`responseMode=form_post`); other methods get 405.
//! - The first deciding request (a callback, or the start link's second request) decides: its
//!   outcome (a token, or why not) is handed to the waiting run once its response is written
//!   (the response's [`Response::after_sent`] action), a `303` to the server's done page or a
//!   `400` naming the failure. Later requests get 404.
//! - A callback body the edge refuses as too large, which `handle` never sees, fails the run at
//!   once ([`Service::completed`]).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use ctutils::CtEq;

use crate::client::document::TokenDocument;
use crate::client::error::ClientError;
use crate::client::{note, peer};
use crate::flow::query::parse_strict;
use crate::http::{Exchange, Limits, Method, Request, Response, Server, Service, Status};

/// Largest callback body: a form_post of a 16 KB JWT is about 23 KB.
pub(super) const MAX_BODY: usize = 64 * 1024;
const FORM: &str = "application/x-www-form-urlencoded";

type Outcome = Result<TokenDocument, ClientError>;
/// Checks and decrypts a callback's decoded fields.
pub(super) type Opener = Box<dyn Fn(&[(String, String)]) -> Outcome + Send + Sync>;

/// The edge's limits for the listener: bodies allowed (form_post), and a request line long
/// enough for a `GET` callback carrying a large token in its query; few connections.
fn limits() -> Limits {
    Limits {
        max_connections: 32,
        max_request_line: 64 * 1024,
        max_head_bytes: 96 * 1024,
        max_body: MAX_BODY,
        ..Limits::default()
    }
}

/// Binds 127.0.0.1:`port` (0: the OS picks); the first thing a callback run does.
pub(super) fn bind(port: u16) -> Result<TcpListener, ClientError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .map_err(|error| ClientError::Listen { port, error })
}

/// What the listener serves: its two random paths, where the start link leads and where a
/// browser that delivered goes next.
pub(super) struct Routes {
    pub start: String,
    pub callback: String,
    pub flow_url: String,
    pub done_url: String,
}

/// A running listener waiting for its one callback.
pub(super) struct Listener {
    server: Server,
    outcomes: Receiver<Outcome>,
}

impl Listener {
    /// Serves `listener` with the start link and the callback service.
    pub(super) fn start(
        listener: TcpListener,
        routes: Routes,
        open: Opener,
    ) -> Result<Listener, ClientError> {
        let ours = listener
            .local_addr()
            .map_err(|error| ClientError::Listen { port: 0, error })?;
        let (sender, outcomes) = mpsc::sync_channel(1);
        let service = Callback {
            host: format!("127.0.0.1:{}", ours.port()),
            ours,
            uid: crate::sys::effective_uid(),
            routes,
            open,
            started: AtomicBool::new(false),
            claimed: AtomicBool::new(false),
            unchecked_noted: AtomicBool::new(false),
            sender,
        };
        let server = Server::start(listener, limits(), Arc::new(service)).map_err(|error| {
            ClientError::Listen {
                port: ours.port(),
                error,
            }
        })?;
        Ok(Listener { server, outcomes })
    }

    /// Waits for the callback's outcome; after it, lets the listener finish (idle browser
    /// connections are closed, a response in flight is completed) for at most a second.
    pub(super) fn wait(self, timeout: Duration) -> Outcome {
        match self.outcomes.recv_timeout(timeout) {
            Ok(outcome) => {
                self.server.shutdown(Duration::from_secs(1));
                outcome
            }
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                Err(ClientError::Timeout(timeout.as_secs()))
            }
        }
    }
}

struct Callback {
    /// `127.0.0.1:PORT`, the only Host accepted.
    host: String,
    /// The listener's address, the remote address of every peer socket.
    ours: SocketAddr,
    /// Our effective uid: the only owner of peer sockets served.
    uid: u32,
    routes: Routes,
    open: Opener,
    /// Set by the first request for the start link.
    started: AtomicBool,
    /// Set by the first deciding request; later ones change nothing.
    claimed: AtomicBool,
    /// Set once the user was told that peers cannot be checked here.
    unchecked_noted: AtomicBool,
    /// Where the deciding response's after-sent action hands the outcome to the waiting run.
    sender: SyncSender<Outcome>,
}

impl Callback {
    /// Whether the request is for `path` on our host.
    fn addressed_to(&self, request: &Request, path: &str) -> bool {
        let mut hosts = request.header_values("host");
        let host_ok =
            matches!((hosts.next(), hosts.next()), (Some(host), None) if host == self.host);
        let path_ok: bool = request.path.as_bytes().ct_eq(path.as_bytes()).into();
        host_ok && path_ok
    }

    /// The deciding response; the outcome goes to the waiting run once the browser has this
    /// answer, since the run stops the listener as soon as it has the outcome.
    fn deliver(&self, outcome: Outcome) -> Response {
        let response = match &outcome {
            Ok(_) => Response::text(Status::SeeOther, "Token received.")
                .header("Location", self.routes.done_url.clone()),
            Err(error) => Response::text(Status::BadRequest, format!("token2go: {error}")),
        };
        let sender = self.sender.clone();
        response
            .header("Cache-Control", "no-store")
            .after_sent(move || finish(&sender, outcome))
    }

    /// The start link: the first GET goes on to the flow URL, a second one ends the run.
    fn start(&self, request: &Request) -> Response {
        if request.method != Method::Get {
            return Response::text(Status::MethodNotAllowed, "method not allowed")
                .header("Allow", "GET");
        }
        if !self.started.swap(true, Ordering::SeqCst) {
            return Response::text(Status::SeeOther, "Continue to the sign-in.")
                .header("Location", self.routes.flow_url.clone())
                .header("Cache-Control", "no-store")
                .header("Referrer-Policy", "no-referrer");
        }
        if self.claimed.swap(true, Ordering::SeqCst) {
            return not_found();
        }
        self.deliver(Err(ClientError::StartedTwice))
    }
}

impl Service for Callback {
    fn handle(&self, request: &Request) -> Response {
        if self.addressed_to(request, &self.routes.start) {
            return self.start(request);
        }
        if !self.addressed_to(request, &self.routes.callback) {
            return not_found();
        }
        let fields = match &request.method {
            Method::Get => fields_of(&request.query, "query"),
            Method::Post => form_fields(request),
            _ => {
                return Response::text(Status::MethodNotAllowed, "method not allowed")
                    .header("Allow", "GET, POST");
            }
        };
        if self.claimed.swap(true, Ordering::SeqCst) {
            return not_found();
        }
        self.deliver(fields.and_then(|fields| (self.open)(&fields)))
    }

    /// The edge refused the callback's body before `handle` saw it: the run fails now, not at
    /// its timeout. (No access log here; the deciding response carries its own action.)
    fn completed(&self, exchange: &Exchange<'_>) {
        if exchange.status == Status::ContentTooLarge
            && exchange.path == self.routes.callback
            && !self.claimed.swap(true, Ordering::SeqCst)
        {
            finish(
                &self.sender,
                Err(ClientError::Callback(format!(
                    "the callback's body is larger than {} KiB",
                    MAX_BODY / 1024
                ))),
            );
        }
    }

    fn accepts(&self, peer: SocketAddr) -> bool {
        match peer::owner(peer, self.ours) {
            Ok(owner) => owner == Some(self.uid),
            Err(_) => {
                if !self.unchecked_noted.swap(true, Ordering::SeqCst) {
                    note(
                        "cannot check which local user connects to the callback; \
                         any local account could reach it",
                    );
                }
                true
            }
        }
    }
}

/// Hands the run its outcome. The channel holds one, and only the first deciding request (or
/// the edge's refusal of its body) makes one.
fn finish(sender: &SyncSender<Outcome>, outcome: Outcome) {
    let _ = sender.try_send(outcome);
}

fn not_found() -> Response {
    Response::text(Status::NotFound, "not found")
}

fn fields_of(encoded: &str, what: &str) -> Result<Vec<(String, String)>, ClientError> {
    parse_strict(encoded).map_err(|error| {
        ClientError::Callback(format!("the callback's {what} is malformed: {error}"))
    })
}

fn form_fields(request: &Request) -> Result<Vec<(String, String)>, ClientError> {
    let media_type = request
        .header("content-type")
        .and_then(|value| value.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if !media_type.eq_ignore_ascii_case(FORM) {
        return Err(ClientError::Callback(format!(
            "the callback's body is not {FORM}"
        )));
    }
    let body = std::str::from_utf8(&request.body)
        .map_err(|_| ClientError::Callback("the callback's body is not UTF-8".into()))?;
    fields_of(body, "body")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn service() -> (Callback, Receiver<Outcome>) {
        let (sender, receiver) = mpsc::sync_channel(1);
        let open: Opener = Box::new(|fields: &[(String, String)]| {
            let state = fields.iter().rev().find(|(n, _)| n == "state");
            match state {
                Some((_, s)) if s == "good" => TokenDocument::from_json(br#"{"secret":"tok"}"#)
                    .map_err(|_| ClientError::Document("?")),
                _ => Err(ClientError::State),
            }
        });
        let callback = Callback {
            host: "127.0.0.1:4000".into(),
            ours: SocketAddr::from(([127, 0, 0, 1], 4000)),
            uid: 0,
            routes: Routes {
                start: "/st4rt".into(),
                callback: "/p4th".into(),
                flow_url: "http://server/t2g/flow/redirect/token?state=good".into(),
                done_url: "http://server/t2g/flow/redirect/done".into(),
            },
            open,
            started: AtomicBool::new(false),
            claimed: AtomicBool::new(false),
            unchecked_noted: AtomicBool::new(false),
            sender,
        };
        (callback, receiver)
    }

    fn request(method: Method, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method,
            path: path.into(),
            query: query.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            peer: SocketAddr::from(([127, 0, 0, 1], 5000)),
            body: body.to_vec(),
        }
    }

    fn exchange<'a>(response: &Response, path: &'a str) -> Exchange<'a> {
        Exchange {
            method: "GET",
            path,
            status: response.status,
            route: response.route,
            bytes: 0,
            duration: Duration::ZERO,
            peer: SocketAddr::from(([127, 0, 0, 1], 5000)),
        }
    }

    /// What the edge does once it has written `response` for a request for `path`: reports the
    /// exchange, then runs the response's after-sent action.
    fn written(callback: &Callback, mut response: Response, path: &str) {
        callback.completed(&exchange(&response, path));
        if let Some(action) = response.take_after_sent() {
            action();
        }
    }

    const HOST: (&str, &str) = ("Host", "127.0.0.1:4000");

    #[test]
    fn a_get_delivers_once_its_response_is_written() {
        let (callback, outcomes) = service();
        let req = request(Method::Get, "/p4th?key=k&state=good", &[HOST], b"");
        let response = callback.handle(&req);
        assert_eq!(response.status, 303);
        assert_eq!(
            response.get_header("Location"),
            Some("http://server/t2g/flow/redirect/done")
        );
        assert_eq!(response.get_header("Cache-Control"), Some("no-store"));
        assert!(
            outcomes.try_recv().is_err(),
            "not before the response is written"
        );
        written(&callback, response, "/p4th");
        assert_eq!(outcomes.try_recv().unwrap().unwrap().secret(), "tok");
        // The first request decided; the path is used up.
        assert_eq!(callback.handle(&req).status, 404);
    }

    #[test]
    fn a_form_post_delivers_and_its_content_type_is_checked() {
        for content_type in [FORM, "Application/X-WWW-Form-Urlencoded; charset=UTF-8"] {
            let (callback, outcomes) = service();
            let req = request(
                Method::Post,
                "/p4th",
                &[HOST, ("Content-Type", content_type)],
                b"state=bad&state=good",
            );
            let response = callback.handle(&req);
            assert_eq!(response.status, 303, "{content_type}");
            written(&callback, response, "/p4th");
            assert!(outcomes.try_recv().unwrap().is_ok());
        }
        for (content_type, body) in [
            ("text/plain", &b"state=good"[..]),
            ("multipart/form-data; boundary=x", b"state=good"),
            (FORM, b"state=%zz"),
            (FORM, b"state=\xff"),
        ] {
            let (callback, outcomes) = service();
            let req = request(
                Method::Post,
                "/p4th",
                &[HOST, ("Content-Type", content_type)],
                body,
            );
            let response = callback.handle(&req);
            assert_eq!(response.status, 400, "{content_type}");
            written(&callback, response, "/p4th");
            let error = outcomes.try_recv().unwrap().err().unwrap().to_string();
            assert!(error.starts_with("the callback's "), "{error}");
        }
    }

    #[test]
    fn a_wrong_state_is_answered_400_and_ends_the_wait() {
        let (callback, outcomes) = service();
        let response = callback.handle(&request(Method::Get, "/p4th?state=evil", &[HOST], b""));
        assert_eq!(response.status, 400);
        let body = String::from_utf8(response.body.to_vec()).unwrap();
        assert!(body.starts_with("token2go: state mismatch"), "{body}");
        written(&callback, response, "/p4th");
        assert!(matches!(
            outcomes.try_recv().unwrap(),
            Err(ClientError::State)
        ));
    }

    #[test]
    fn other_paths_hosts_and_methods_change_nothing() {
        let (callback, outcomes) = service();
        let cases: Vec<(Request, u16)> = vec![
            (request(Method::Get, "/favicon.ico", &[HOST], b""), 404),
            (request(Method::Get, "/", &[HOST], b""), 404),
            (request(Method::Get, "/p4th/", &[HOST], b""), 404),
            (request(Method::Get, "/P4TH?state=good", &[HOST], b""), 404),
            (request(Method::Get, "/p4t?state=good", &[HOST], b""), 404),
            (
                request(
                    Method::Get,
                    "/p4th?state=good",
                    &[("Host", "evil.example:4000")],
                    b"",
                ),
                404,
            ),
            (
                request(
                    Method::Get,
                    "/p4th?state=good",
                    &[("Host", "localhost:4000")],
                    b"",
                ),
                404,
            ),
            (
                request(
                    Method::Get,
                    "/p4th?state=good",
                    &[("Host", "127.0.0.1")],
                    b"",
                ),
                404,
            ),
            (
                request(Method::Get, "/p4th?state=good", &[HOST, HOST], b""),
                404,
            ),
            (request(Method::Get, "/p4th?state=good", &[], b""), 404),
            (request(Method::Head, "/p4th?state=good", &[HOST], b""), 405),
            (
                request(Method::Other("PUT".into()), "/p4th", &[HOST], b""),
                405,
            ),
        ];
        for (req, status) in &cases {
            let response = callback.handle(req);
            assert_eq!(
                response.status,
                *status,
                "{} {}",
                req.method.as_str(),
                req.path
            );
            written(&callback, response, &req.path);
        }
        assert!(outcomes.try_recv().is_err());
        let response = callback.handle(&request(Method::Get, "/p4th?state=good", &[HOST], b""));
        assert_eq!(response.status, 303);
    }

    #[test]
    fn a_body_the_edge_refused_ends_the_wait() {
        let (callback, outcomes) = service();
        let refused = Response::text(Status::ContentTooLarge, "too large");
        callback.completed(&exchange(&refused, "/elsewhere"));
        assert!(outcomes.try_recv().is_err());
        callback.completed(&exchange(&refused, "/p4th"));
        assert_eq!(
            outcomes.try_recv().unwrap().err().unwrap().to_string(),
            "the callback's body is larger than 64 KiB"
        );
    }

    #[test]
    fn the_start_link_leads_on_once_and_a_second_request_ends_the_run() {
        let (callback, outcomes) = service();
        let post = request(Method::Post, "/st4rt", &[HOST], b"");
        assert_eq!(callback.handle(&post).status, 405);
        let foreign = request(Method::Get, "/st4rt", &[("Host", "evil.example:4000")], b"");
        assert_eq!(callback.handle(&foreign).status, 404);
        let start = request(Method::Get, "/st4rt", &[HOST], b"");
        let response = callback.handle(&start);
        assert_eq!(response.status, 303);
        assert_eq!(
            response.get_header("Location"),
            Some("http://server/t2g/flow/redirect/token?state=good")
        );
        assert_eq!(response.get_header("Cache-Control"), Some("no-store"));
        assert_eq!(response.get_header("Referrer-Policy"), Some("no-referrer"));
        written(&callback, response, "/st4rt");
        assert!(outcomes.try_recv().is_err());
        let again = callback.handle(&start);
        assert_eq!(again.status, 400);
        written(&callback, again, "/st4rt");
        let error = outcomes.try_recv().unwrap().err().unwrap().to_string();
        assert!(
            error.starts_with("the sign-in link was opened twice"),
            "{error}"
        );
        // The run is decided: the callback changes nothing any more.
        let late = request(Method::Get, "/p4th?state=good", &[HOST], b"");
        assert_eq!(callback.handle(&late).status, 404);
    }

    #[test]
    fn only_our_own_user_is_served() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut callback, _outcomes) = service();
        callback.ours = listener.local_addr().unwrap();
        callback.uid = crate::sys::effective_uid();
        let client = std::net::TcpStream::connect(callback.ours).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert!(callback.accepts(peer));
        callback.uid = callback.uid.wrapping_add(1);
        assert!(!callback.accepts(peer));
        drop(client);
    }
}

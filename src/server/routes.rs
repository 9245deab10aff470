//! Routing on (method, path), the Host check, the small handlers, and the flow's outcome turned
//! into a response, counted and written to the audit trail.

use std::time::SystemTime;

use crate::flow::Rejection;
use crate::flow::query;
use crate::flow::redirect_target::{AllowedPrefix, OOB};
use crate::flow::{self, Confirmation, FlowError, FlowRequest, FlowToken, Outcome, Refusal, Reply};
use crate::http::{Exchange, Method, Request, Response, Service, Status};
use crate::log::{self, LogFormat};
use crate::server::assets::{self, Asset, Coding};
use crate::server::audit::{Audit, Record};
use crate::server::config::Config;
use crate::server::echo;
use crate::server::inflate;
use crate::server::metrics::Metrics;
use crate::server::page::{self, ErrorNotice, IndexPage, Ui, Warning};
use crate::server::token::{self, TokenInfo, TokenSource};
use crate::time::rfc3339_unix;

const JSON: &str = "application/json";
/// Token-bearing and live answers must never be stored by a browser or a proxy.
const NO_STORE: &str = "no-store";

/// The application: configuration turned into ready-to-serve state.
pub struct App {
    tokens: TokenSource,
    echo_enabled: bool,
    ui: Ui,
    metrics: Metrics,
    /// Redirect-flow targets allowed beyond loopback.
    allowed_targets: Vec<AllowedPrefix>,
    paste_mode: bool,
    /// Where to sign in again (`T2G_REAUTH_URL`), a template with `{url}`.
    reauth_url: Option<String>,
    /// That template with `{url}` the token page (`/`): for the clients, which stop at an error
    /// and are started again after signing in.
    reauth_home: Option<String>,
    /// Host names answered besides loopback; `None`: every Host is answered.
    served_hosts: Option<Vec<String>>,
    audit: Audit,
    /// `T2G_AUDIT_REQUIRED`: no hand-out without its audit line.
    audit_required: bool,
    /// The headers this application reads, whose values must be UTF-8 (any other may carry
    /// obs-text): the token and user headers, and [`READ_HEADERS`].
    utf8_headers: Vec<String>,
    /// The token page around the place of the user's name, and whole for an unknown user.
    index: IndexPage,
    index_anonymous: &'static [u8],
    /// Rendered once at start: its inputs never change while running.
    done_html: &'static [u8],
}

/// What the audit line of a hand-out says about the token: its fingerprint, a JWT's claims and
/// its expiry (the JWT's, else the gateway's header).
#[derive(Clone, Copy)]
struct Served<'a> {
    fingerprint: &'a str,
    claims: Option<&'a token::Claims>,
    expiry: Option<i64>,
}

/// One token handed out: what its audit line and its metric record, made once per hand-out.
struct HandOut<'a> {
    route: &'static str,
    served: Served<'a>,
    user: Option<&'a str>,
    target: Option<String>,
    code: Option<&'a str>,
}

/// Headers read besides the configured token and user headers: the Host check, the audit's
/// `X-Forwarded-For`, asset encoding, and Fetch Metadata.
const READ_HEADERS: [&str; 5] = [
    "Host",
    "X-Forwarded-For",
    "Accept-Encoding",
    "Sec-Fetch-Site",
    "Sec-Fetch-Mode",
];

/// `Host` names that always mean this machine.
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

type Handler = fn(&App, &Request) -> Response;

/// What a path leads to.
enum Destination {
    Handler(&'static str, Handler),
    Asset(&'static Asset),
}

impl App {
    /// The application for this configuration: pages rendered and templates decoded once.
    pub fn new(config: Config) -> App {
        page::decode_templates();
        let ui = Ui::new(&config.ui, config.echo_enabled);
        // Leaked once per App (one per process): the pages live as long as the server.
        let leak =
            |page: String| -> &'static [u8] { Box::leak(page.into_bytes().into_boxed_slice()) };
        let index = IndexPage::new(&ui);
        let index_anonymous = leak(index.render(None));
        let done_html = leak(page::render_done(&ui));
        // A fallback token is served without any gateway: a page of another site whose name
        // resolves to this machine (DNS rebinding) must not read it, so only loopback names
        // (and the operator's list) are answered then.
        let served_hosts = match (config.allowed_hosts, &config.fallback_token) {
            (Some(hosts), _) => Some(hosts),
            (None, Some(_)) => Some(Vec::new()),
            (None, None) => None,
        };
        let utf8_headers = (config.header_names.iter())
            .chain(&config.user_header_names)
            .chain(&config.expiry_header_names)
            .cloned()
            .chain(READ_HEADERS.map(String::from))
            .collect();
        let reauth_home = config
            .reauth_url
            .as_deref()
            .map(|template| fill_reauth(template, "/"));
        App {
            tokens: TokenSource {
                header_names: config.header_names,
                fallback: config.fallback_token,
                user_header_names: config.user_header_names,
                expiry_header_names: config.expiry_header_names,
            },
            echo_enabled: config.echo_enabled,
            ui,
            metrics: Metrics::new(),
            allowed_targets: config.allowed_targets,
            paste_mode: config.paste_mode,
            reauth_url: config.reauth_url,
            reauth_home,
            served_hosts,
            audit: Audit::new(config.audit_log, config.log_format == LogFormat::Json),
            audit_required: config.audit_required,
            utf8_headers,
            index,
            index_anonymous,
            done_html,
        }
    }

    /// The token's expiry: a JWT's `exp`, else what the gateway's expiry header says. A header
    /// that is garbage is ignored: counted, and logged (its name, never its value).
    fn expiry(&self, request: &Request, claims: Option<&token::Claims>) -> Option<i64> {
        if let Some(exp) = claims.and_then(token::claims_expiry) {
            return Some(exp);
        }
        match self.tokens.header_expiry(request) {
            Ok(expiry) => expiry,
            Err(bad) => {
                // A misconfigured gateway sends it with every request: the metric counts each,
                // the log says it the 1st, 2nd, 4th, 8th, ... time.
                let count = self.metrics.expiry_header_invalid();
                if count.is_power_of_two() {
                    log::warn(&format!("expiry header {bad} ({count} so far)"));
                }
                None
            }
        }
    }

    /// Whether the request's `Host` is one this server answers for: any while no list applies;
    /// else a loopback name or a listed one, any port. A missing or malformed `Host` is not.
    fn host_served(&self, request: &Request) -> bool {
        let Some(listed) = &self.served_hosts else {
            return true;
        };
        match request.header("Host").and_then(host_name) {
            Some(host) => LOOPBACK_HOSTS.contains(&host.as_str()) || listed.contains(&host),
            None => false,
        }
    }

    /// Picks the handler for a path, then checks the method; unknown paths are 404 whatever
    /// the method.
    pub fn route(&self, request: &Request) -> Response {
        // Health probes of orchestrators name the pod's address; the answer holds nothing.
        if request.path != "/health" && !self.host_served(request) {
            return Response::text(
                Status::MisdirectedRequest,
                "misdirected request: this server answers only loopback Host names and T2G_ALLOWED_HOSTS",
            )
            .header("Cache-Control", NO_STORE)
            .route("misdirected");
        }
        let destination = match request.path.as_str() {
            "/" | "/index.html" => Destination::Handler("index", App::index),
            "/token" => Destination::Handler("token", App::token),
            "/health" => Destination::Handler("health", App::health),
            "/echo" if self.echo_enabled => Destination::Handler("echo", App::echo),
            "/metrics" => Destination::Handler("metrics", App::metrics),
            "/flow/redirect/token" => Destination::Handler("flow", App::flow),
            "/flow/redirect/done" => Destination::Handler("flow_done", App::flow_done),
            "/swagger-ui" => Destination::Handler("asset", App::swagger_ui_slash),
            "/swagger-ui/index.html" => Destination::Handler("asset", App::swagger_ui_index),
            path => match assets::lookup(path) {
                Some(asset) => Destination::Asset(asset),
                None => return Response::text(Status::NotFound, "not found").route("not_found"),
            },
        };
        let route = match destination {
            Destination::Handler(route, _) => route,
            Destination::Asset(_) => "asset",
        };
        let response = match (&request.method, destination) {
            (Method::Post | Method::Other(_), _) => Response::text(
                Status::MethodNotAllowed,
                "method not allowed: only GET and HEAD",
            )
            .header("Allow", "GET, HEAD"),
            (_, Destination::Handler(_, handler)) => handler(self, request),
            (_, Destination::Asset(asset)) => serve_asset(asset, request),
        };
        response.route(route)
    }

    /// The token page; with "Signed in as" when the user is known.
    fn index(&self, request: &Request) -> Response {
        match self.tokens.user(request, self.tokens.extract(request)) {
            Some(user) => html(self.index.render(Some(&user)).into_bytes()),
            None => html(self.index_anonymous),
        }
    }

    fn token(&self, request: &Request) -> Response {
        if let Some(refused) = cross_site_read(request) {
            return refused;
        }
        match self.tokens.extract(request) {
            Some(secret) => {
                // Decoded and hashed once, for the user, the audit line and the answer.
                let claims = token::jwt_claims(secret);
                let fingerprint = token::fingerprint(secret);
                let user = self.tokens.user_with_claims(request, claims.as_ref());
                let expiry = self.expiry(request, claims.as_ref());
                let served = Served {
                    fingerprint: &fingerprint,
                    claims: claims.as_ref(),
                    expiry,
                };
                let hand_out = HandOut {
                    route: "token",
                    served,
                    user: user.as_deref(),
                    target: None,
                    code: None,
                };
                if !self.hand_out(request, hand_out) {
                    return audit_unavailable();
                }
                let body =
                    TokenInfo::with(secret, SystemTime::now(), fingerprint, expiry).to_json();
                Response::new(Status::Ok, JSON, body).header("Cache-Control", NO_STORE)
            }
            None => self.token_not_found(),
        }
    }

    /// Records a token about to be handed out: its audit line first, then its metric. `false`
    /// when the line could not be written and `T2G_AUDIT_REQUIRED` holds the token back (then
    /// nothing is counted as served and nothing may be sent).
    fn hand_out(&self, request: &Request, hand_out: HandOut<'_>) -> bool {
        let HandOut {
            route,
            served,
            user,
            target,
            code,
        } = hand_out;
        let written = self.audit.write(&Record {
            event: "token_served",
            route,
            user,
            fingerprint: served.fingerprint.get(..16),
            sub: served.claims.and_then(|c| token::claim_str(c, "sub")),
            exp: served.expiry.map(rfc3339_unix),
            target,
            code,
            reason: None,
            detail: None,
            peer: request.peer,
            forwarded_for: forwarded_for(request),
        });
        if !self.audit_outcome(written, true) {
            return false;
        }
        self.metrics.token_served(route);
        true
    }

    /// Records a refused flow request, once: its metric and its audit line (the reason and the
    /// line the client got).
    fn refused(&self, request: &Request, user: Option<&str>, reason: Rejection, line: &str) {
        self.metrics.flow_rejected(reason);
        let written = self.audit.write(&Record {
            event: "flow_refused",
            route: "flow",
            user,
            fingerprint: None,
            sub: None,
            exp: None,
            target: None,
            code: None,
            reason: Some(reason.label()),
            detail: Some(line),
            peer: request.peer,
            forwarded_for: forwarded_for(request),
        });
        self.audit_outcome(written, false);
    }

    /// Counts and logs an audit line that could not be written; whether a token may go.
    fn audit_outcome(&self, written: std::io::Result<()>, hand_out: bool) -> bool {
        let Err(error) = written else {
            return true;
        };
        self.metrics.audit_failed();
        let withheld = hand_out && self.audit_required;
        let consequence = if withheld {
            "no token handed out (T2G_AUDIT_REQUIRED)"
        } else {
            "request answered as usual"
        };
        log::error(&format!("audit line not written: {error}; {consequence}"));
        !withheld
    }

    fn token_not_found(&self) -> Response {
        Response::text(Status::TokenNotFound, self.tokens.not_found_message())
            .header("Cache-Control", NO_STORE)
    }

    fn flow(&self, request: &Request) -> Response {
        let token = self.tokens.extract(request);
        // Decoded and hashed once, for the user, the encrypted document and the audit line.
        let claims = token.and_then(token::jwt_claims);
        let fingerprint = token.map(token::fingerprint).unwrap_or_default();
        let user = self.tokens.user_with_claims(request, claims.as_ref());
        let user = user.as_deref();
        let expiry = token.and_then(|_| self.expiry(request, claims.as_ref()));
        let flow_token = token.map(|secret| FlowToken {
            secret,
            fingerprint: &fingerprint,
            expiry,
        });
        let outcome = self.flow_outcome(request, flow_token, user);
        // Only a hand-out reaches the audit, and every hand-out had a token.
        let served = Served {
            fingerprint: &fingerprint,
            claims: claims.as_ref(),
            expiry,
        };
        self.flow_response(request, outcome, served, user)
    }

    /// The flow's decision for this request's query, `token` as found.
    fn flow_outcome(
        &self,
        request: &Request,
        token: Option<FlowToken<'_>>,
        user: Option<&str>,
    ) -> Outcome {
        match query::parse_strict(&request.query) {
            Ok(query) => flow::run(&FlowRequest {
                query: &query,
                token,
                user,
                allowed_targets: &self.allowed_targets,
                paste_mode: self.paste_mode,
                now: SystemTime::now(),
                reauth: self.reauth_home.as_deref(),
                cross_site: started_elsewhere(request),
            }),
            Err(e) => Outcome::Refused(Refusal::Invalid(Rejection::Params, e.to_string())),
        }
    }

    /// The flow's `outcome` as a response, its hand-out audited and counted, its refusal
    /// counted.
    fn flow_response(
        &self,
        request: &Request,
        outcome: Outcome,
        served: Served<'_>,
        user: Option<&str>,
    ) -> Response {
        match outcome {
            Outcome::Deliver { reply, delivery } => {
                let route = match reply {
                    Reply::Redirect { .. } => "flow_redirect",
                    Reply::FormPost { .. } => "flow_form_post",
                };
                let hand_out = HandOut {
                    route,
                    served,
                    user,
                    target: Some(delivery.target),
                    code: Some(delivery.code.as_str()),
                };
                if !self.hand_out(request, hand_out) {
                    return audit_unavailable();
                }
                self.to_target(reply, None)
            }
            Outcome::Paste { block, code } => {
                let hand_out = HandOut {
                    route: "flow_paste",
                    served,
                    user,
                    target: Some(OOB.to_string()),
                    code: Some(&code),
                };
                if !self.hand_out(request, hand_out) {
                    return audit_unavailable();
                }
                html(page::render_paste(&self.ui, &block, &code, user).into_bytes())
            }
            Outcome::Confirm(confirmation) => self.confirm_page(&confirmation, user),
            Outcome::Error {
                error,
                description,
                reply,
            } => {
                self.refused(request, user, error.rejection(), &description);
                self.flow_error(request, error, &description, reply, user)
            }
            Outcome::Refused(Refusal::Invalid(reason, line)) => {
                self.refused(request, user, reason, &line);
                Response::text(Status::BadRequest, line).header("Cache-Control", NO_STORE)
            }
            Outcome::Refused(Refusal::Encryption(e)) => {
                log::error(&format!("flow: encryption failed: {e}"));
                Response::text(Status::InternalServerError, e.client_message())
                    .header("Cache-Control", NO_STORE)
            }
        }
    }

    /// The warning page for `confirmation`.
    fn confirm_page(&self, confirmation: &Confirmation, user: Option<&str>) -> Response {
        let warning = Warning {
            destination: confirmation
                .destination
                .as_ref()
                .map(|(host, path)| (host.as_str(), path.as_str())),
            shared: confirmation.shared,
            cross_site: confirmation.cross_site,
            code: &confirmation.code,
            query: &confirmation.query,
            mismatch: confirmation.mismatch,
        };
        html(page::render_confirm(&self.ui, &warning, user).into_bytes())
    }

    /// Values for a URL target: the `303`, or the form_post page (with `notice`, a flow error's
    /// page, which tells the person why too).
    fn to_target(&self, reply: Reply, notice: Option<&ErrorNotice<'_>>) -> Response {
        match reply {
            Reply::Redirect { location } => Response::text(Status::SeeOther, "See Other")
                .header("Location", location)
                .header("Cache-Control", NO_STORE),
            Reply::FormPost {
                action,
                origin,
                fields,
            } => {
                let fields: Vec<(&str, &str)> =
                    fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
                let page = page::render_form_post(&self.ui, &action, &origin, &fields, notice);
                html(page.into_bytes())
                    .header("Content-Security-Policy", page::form_post_csp(&origin))
            }
        }
    }

    /// A flow error as the client gets it (C1): `error`, `error_description` and `state` to the
    /// target, or (`reply` is `None`) a page for the person.
    fn flow_error(
        &self,
        request: &Request,
        error: FlowError,
        description: &str,
        reply: Option<Reply>,
        user: Option<&str>,
    ) -> Response {
        const AGAIN: &str = "Sign in again at the gateway, then start your program again.";
        const NO_TOKEN: &str = "Ask the gateway's operator.";
        let expired = error == FlowError::TokenExpired;
        if let Some(reply) = reply {
            let notice = ErrorNotice {
                description,
                hint: if expired { AGAIN } else { NO_TOKEN },
                reauth: self.reauth_home.as_deref().filter(|_| expired),
            };
            return self.to_target(reply, Some(&notice));
        }
        // Paste mode: signing in again comes back to this flow, where the program waits.
        let here = format!("{}?{}", request.path, request.query);
        let reauth = self.reauth_url.as_deref().map(|t| fill_reauth(t, &here));
        let notice = ErrorNotice {
            description,
            hint: match (expired, &reauth) {
                (false, _) => NO_TOKEN,
                (true, Some(_)) => "Sign in again: you come back here; your program waits.",
                (true, None) => AGAIN,
            },
            reauth: reauth.as_deref().filter(|_| expired),
        };
        let mut response = html(page::render_flow_error(&self.ui, &notice, user).into_bytes());
        if !expired {
            response.status = Status::TokenNotFound;
        }
        response
    }

    fn health(&self, _: &Request) -> Response {
        Response::new(Status::Ok, JSON, &b"{\"status\": \"OK.\"}\n"[..])
            .header("Cache-Control", NO_STORE)
    }

    fn echo(&self, request: &Request) -> Response {
        if let Some(refused) = cross_site_read(request) {
            return refused;
        }
        Response::new(Status::Ok, JSON, echo::render(request)).header("Cache-Control", NO_STORE)
    }

    fn metrics(&self, _: &Request) -> Response {
        Response::new(
            Status::Ok,
            "text/plain; version=0.0.4; charset=utf-8",
            self.metrics.render().into_bytes(),
        )
        .header("Cache-Control", NO_STORE)
    }

    fn flow_done(&self, _: &Request) -> Response {
        html(self.done_html)
    }

    fn swagger_ui_slash(&self, _: &Request) -> Response {
        Response::text(Status::PermanentRedirect, "see /swagger-ui/")
            .header("Location", "/swagger-ui/")
    }

    /// As the reference (Go's file server) does: the index is served at the folder's URL.
    fn swagger_ui_index(&self, _: &Request) -> Response {
        Response::text(Status::MovedPermanently, "see ./").header("Location", "./")
    }
}

/// Whether the browser says another site started this request (Fetch Metadata): a
/// `Sec-Fetch-Site` that is present and neither `none` (the user, or a program, opened it) nor
/// `same-origin` (a page of this server). Without the header (older browsers, scripts) `false`.
fn started_elsewhere(request: &Request) -> bool {
    request
        .header("Sec-Fetch-Site")
        .is_some_and(|site| !matches!(site.trim(), "none" | "same-origin"))
}

/// `403` for a read of `/token` or `/echo` by another site's page (`Sec-Fetch-Site:
/// cross-site`, any `Sec-Fetch-Mode` but `navigate`): CORS already keeps it from reading the
/// answer, and this keeps it from being served (counted and audited as a hand-out) at all.
fn cross_site_read(request: &Request) -> Option<Response> {
    let cross_site = request.header("Sec-Fetch-Site").map(str::trim) == Some("cross-site");
    let navigate = request.header("Sec-Fetch-Mode").map(str::trim) == Some("navigate");
    (cross_site && !navigate).then(|| {
        Response::text(
            Status::Forbidden,
            "Sec-Fetch-Site: cross-site: only navigations are answered",
        )
        .header("Cache-Control", NO_STORE)
    })
}

/// The answer instead of a token whose audit line could not be written.
fn audit_unavailable() -> Response {
    Response::text(
        Status::ServiceUnavailable,
        "service unavailable: the audit trail cannot be written, so no token is handed out",
    )
    .header("Cache-Control", NO_STORE)
}

/// `template` (`T2G_REAUTH_URL`) with its `{url}` (at most one) replaced by `url` percent-encoded.
fn fill_reauth(template: &str, url: &str) -> String {
    match template.split_once("{url}") {
        Some((before, after)) => format!("{before}{}{after}", query::percent_encode(url)),
        None => template.to_string(),
    }
}

/// The host of a `Host` value, lower-cased, without its port; `None` when malformed.
fn host_name(value: &str) -> Option<String> {
    let value = value.trim();
    let (host, port) = if value.starts_with('[') {
        value.split_at(value.find(']')? + 1)
    } else {
        value.split_at(value.find(':').unwrap_or(value.len()))
    };
    let port_ok = match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit()),
    };
    (port_ok && !host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Every `X-Forwarded-For` value as given, joined with `, `; `None` when there is none.
fn forwarded_for(request: &Request) -> Option<String> {
    let values: Vec<&str> = request.header_values("X-Forwarded-For").collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// An embedded file: a compressed one as stored to clients that accept gzip, decoded (ours) or
/// refused with 406 (Swagger UI's) to the others.
fn serve_asset(asset: &'static Asset, request: &Request) -> Response {
    let accepts_gzip = || assets::accepts_gzip(request.header("Accept-Encoding"));
    let response = match asset.coding {
        Coding::Identity => Response::new(Status::Ok, asset.content_type, asset.body),
        Coding::Gzip | Coding::GzipOnly if accepts_gzip() => {
            Response::new(Status::Ok, asset.content_type, asset.body)
                .header("Content-Encoding", "gzip")
                .header("Vary", "Accept-Encoding")
        }
        Coding::Gzip => match inflate::gunzip(asset.body) {
            Ok(plain) => Response::new(Status::Ok, asset.content_type, plain)
                .header("Vary", "Accept-Encoding"),
            Err(error) => {
                log::error(&format!(
                    "{}: embedded file does not decode: {error}",
                    request.path
                ));
                return Response::text(Status::InternalServerError, "internal server error");
            }
        },
        Coding::GzipOnly => return Response::text(
            Status::NotAcceptable,
            "Accept-Encoding: this file is only served gzip-encoded; send Accept-Encoding: gzip",
        )
        .header("Vary", "Accept-Encoding"),
    };
    let response = response.header("Cache-Control", asset.cache_control);
    match asset.csp {
        Some(csp) => response.header("Content-Security-Policy", csp),
        None => response,
    }
}

/// An HTML page under the strict policy; pages never go stale in a cache.
fn html(body: impl Into<std::borrow::Cow<'static, [u8]>>) -> Response {
    Response::new(Status::Ok, "text/html; charset=utf-8", body)
        .header("Content-Security-Policy", page::PAGE_CSP)
        .header("Cache-Control", NO_STORE)
}

impl Service for App {
    fn handle(&self, request: &Request) -> Response {
        self.route(request)
    }

    fn utf8_headers(&self) -> Option<&[String]> {
        Some(&self.utf8_headers)
    }

    fn completed(&self, exchange: &Exchange<'_>) {
        let status = exchange.status.code();
        self.metrics
            .observe_request(exchange.route, status, exchange.duration);
        log::access(
            exchange.method,
            exchange.path,
            status,
            exchange.bytes,
            exchange.duration,
            exchange.peer,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn app(vars: &[(&str, &str)]) -> App {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        App::new(Config::from_lookup(|n| map.get(n).cloned()).unwrap())
    }

    fn get(target: &str, headers: &[(&str, &str)]) -> Request {
        Request::test_get(target, headers)
    }

    #[test]
    fn token_found_and_not_found() {
        let a = app(&[]);
        let r = a.route(&get("/token", &[("authorization", "Bearer abc")]));
        assert_eq!((r.status, r.route), (Status::Ok, "token"));
        assert_eq!(r.get_header("Cache-Control"), Some("no-store"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["secret"], "abc");
        let r = a.route(&get("/token", &[]));
        assert_eq!(r.status, 444);
        assert!(
            String::from_utf8_lossy(&r.body)
                .starts_with("Token not found. Looking for: Access-Token, Authorization")
        );
    }

    #[test]
    fn expires_at_from_the_jwt_then_the_gateway_header() {
        let a = app(&[]);
        let json = |headers: &[(&str, &str)]| -> serde_json::Value {
            let r = a.route(&get("/token", headers));
            assert_eq!(r.status, Status::Ok);
            serde_json::from_slice(&r.body).unwrap()
        };
        let opaque = ("OIDC_access_token", "opaque-token");
        let v = json(&[opaque, ("OIDC_access_token_expires", "1700000000")]);
        assert_eq!(v["secret"], "opaque-token");
        assert_eq!(v["expiresAt"], "2023-11-14T22:13:20Z");
        let v = json(&[
            opaque,
            ("OIDC_access_token_expires", "2023-11-14T23:13:20+01:00"),
        ]);
        assert_eq!(v["expiresAt"], "2023-11-14T22:13:20Z");
        // The JWT's own exp wins over the header.
        let jwt = "e30.eyJleHAiOjE5MDAwMDAwMDB9.c2ln";
        let v = json(&[
            ("Authorization", jwt),
            ("OIDC_access_token_expires", "1700000000"),
        ]);
        assert_eq!(v["expiresAt"], "2030-03-17T17:46:40Z");
        // Garbage: no expiresAt, counted, still 200.
        let v = json(&[opaque, ("OIDC_access_token_expires", "tomorrow")]);
        assert!(v.get("expiresAt").is_none(), "{v}");
        assert!(
            a.metrics
                .render()
                .contains("\ntoken2go_expiry_header_invalid_total 1\n")
        );
    }

    #[test]
    fn another_sites_reads_of_token_and_echo_are_refused() {
        let a = app(&[]);
        for path in ["/token", "/echo"] {
            for mode in [Some("cors"), Some("no-cors"), None] {
                let mut headers = vec![("Sec-Fetch-Site", "cross-site"), ("Token", "canary-3")];
                headers.extend(mode.map(|m| ("Sec-Fetch-Mode", m)));
                let r = a.route(&get(path, &headers));
                assert_eq!(
                    (r.status, r.route),
                    (Status::Forbidden, &path[1..]),
                    "{mode:?}"
                );
                assert!(!String::from_utf8_lossy(&r.body).contains("canary"));
            }
            for headers in [
                &[
                    ("Sec-Fetch-Site", "cross-site"),
                    ("Sec-Fetch-Mode", "navigate"),
                ][..],
                &[
                    ("Sec-Fetch-Site", "same-origin"),
                    ("Sec-Fetch-Mode", "cors"),
                ],
                &[("Sec-Fetch-Site", "same-site"), ("Sec-Fetch-Mode", "cors")],
                &[("Sec-Fetch-Site", "none")],
                &[],
            ] {
                let headers = &[headers, &[("Token", "canary-3")]].concat();
                assert_eq!(
                    a.route(&get(path, headers)).status,
                    Status::Ok,
                    "{headers:?}"
                );
            }
        }
        // Refused before the hand-out: not counted as one.
        let text = a.metrics.render();
        assert!(
            text.contains("token2go_tokens_served_total{route=\"token\"} 5\n"),
            "{text}"
        );
    }

    #[test]
    fn methods_and_unknown_paths() {
        let a = app(&[]);
        let mut r = get("/token", &[]);
        r.method = Method::Post;
        let resp = a.route(&r);
        assert_eq!(resp.status, 405);
        assert_eq!(resp.get_header("Allow"), Some("GET, HEAD"));
        assert_eq!(a.route(&get("/nope", &[])).status, 404);
        assert_eq!(a.route(&get("/../etc/passwd", &[])).status, 404);
        let mut r = get("/health", &[]);
        r.method = Method::Head;
        assert_eq!(a.route(&r).status, 200);
    }

    #[test]
    fn echo_can_be_disabled() {
        assert_eq!(app(&[]).route(&get("/echo", &[])).status, 200);
        let off = app(&[("T2G_ECHO_ENABLED", "false")]);
        assert_eq!(off.route(&get("/echo", &[])).status, 404);
    }

    #[test]
    fn swagger_ui_index_redirects_to_its_folder() {
        let a = app(&[]);
        let r = a.route(&get("/swagger-ui/index.html", &[]));
        assert_eq!(
            (r.status, r.get_header("Location")),
            (Status::MovedPermanently, Some("./"))
        );
        let r = a.route(&get("/swagger-ui", &[]));
        assert_eq!(r.get_header("Location"), Some("/swagger-ui/"));
    }

    #[test]
    fn flow_outcomes_become_responses() {
        let a = app(&[]);
        let r = a.route(&get("/flow/redirect/token?target=x", &[]));
        assert_eq!((r.status, r.route), (Status::BadRequest, "flow"));
        assert!(String::from_utf8_lossy(&r.body).starts_with("Missing query parameters: state"));
        let r = a.route(&get("/flow/redirect/token?target=%zz", &[]));
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            "target: invalid percent-encoding\n"
        );
        assert_eq!(r.get_header("Cache-Control"), Some("no-store"));
        assert!(
            a.metrics
                .render()
                .contains("token2go_flow_rejections_total{reason=\"params\"} 2\n")
        );
    }

    #[test]
    fn host_names() {
        for (value, want) in [
            ("localhost", Some("localhost")),
            ("LocalHost:8080", Some("localhost")),
            ("127.0.0.1:1", Some("127.0.0.1")),
            ("[::1]:8080", Some("[::1]")),
            ("[::1]", Some("[::1]")),
            (" token2go.example.com ", Some("token2go.example.com")),
            ("localhost:80x", None),
            ("localhost:123456", None),
            ("::1", None),
            ("[::1", None),
            ("", None),
            (":80", None),
        ] {
            assert_eq!(host_name(value).as_deref(), want, "{value:?}");
        }
    }

    #[test]
    fn with_a_fallback_token_only_loopback_hosts_are_answered() {
        let a = app(&[("T2G_FALLBACK_TOKEN", "fb")]);
        for host in ["localhost:8080", "127.0.0.1", "[::1]:9", "LOCALHOST"] {
            let r = a.route(&get("/token", &[("Host", host)]));
            assert_eq!(r.status, Status::Ok, "{host}");
        }
        for host in ["rebind.example", "127.0.0.2", "localhost.", "0.0.0.0:8080"] {
            let r = a.route(&get("/token", &[("Host", host)]));
            assert_eq!(
                (r.status, r.route),
                (Status::MisdirectedRequest, "misdirected"),
                "{host}"
            );
            assert!(!String::from_utf8_lossy(&r.body).contains("fb"));
            assert_eq!(a.route(&get("/nope", &[("Host", host)])).status, 421);
        }
        // No Host (HTTP/1.0) names no loopback; health probes pass whatever they name.
        assert_eq!(a.route(&get("/", &[])).status, 421);
        let r = a.route(&get("/health", &[("Host", "10.1.2.3:8080")]));
        assert_eq!(r.status, Status::Ok);
        // The operator's list adds names.
        let a = app(&[
            ("T2G_FALLBACK_TOKEN", "fb"),
            ("T2G_ALLOWED_HOSTS", "dev.example.com"),
        ]);
        assert_eq!(
            a.route(&get("/token", &[("Host", "Dev.Example.com:8443")]))
                .status,
            200
        );
        assert_eq!(
            a.route(&get("/token", &[("Host", "localhost")])).status,
            200
        );
        assert_eq!(
            a.route(&get("/token", &[("Host", "other.example.com")]))
                .status,
            421
        );
    }

    #[test]
    fn without_a_fallback_token_every_host_is_answered_unless_listed() {
        let a = app(&[]);
        let r = a.route(&get(
            "/token",
            &[("Host", "public.example"), ("Token", "t")],
        ));
        assert_eq!(r.status, 200);
        assert_eq!(a.route(&get("/", &[])).status, 200);
        let a = app(&[("T2G_ALLOWED_HOSTS", "public.example")]);
        assert_eq!(
            a.route(&get("/", &[("Host", "public.example")])).status,
            200
        );
        assert_eq!(a.route(&get("/", &[("Host", "other.example")])).status, 421);
    }

    #[test]
    fn index_says_who_is_signed_in() {
        let a = app(&[]);
        let body = |r: Response| String::from_utf8_lossy(&r.body).into_owned();
        let anonymous = body(a.route(&get("/", &[])));
        assert!(!anonymous.contains("Signed in as"));
        let page = body(a.route(&get("/", &[("X-Forwarded-User", "<alice>")])));
        assert!(
            page.contains("Signed in as <strong>&lt;alice&gt;</strong>"),
            "{page}"
        );
        // From the token's claims when no header names the user.
        let jwt = "e30.eyJwcmVmZXJyZWRfdXNlcm5hbWUiOiJib2IifQ.c2ln";
        let page = body(a.route(&get("/", &[("Authorization", &format!("Bearer {jwt}"))])));
        assert!(page.contains("Signed in as <strong>bob</strong>"), "{page}");
    }

    #[test]
    fn pages_get_the_strict_policy() {
        let a = app(&[("T2G_UI_TARGET", "<Prod>")]);
        let r = a.route(&get("/", &[]));
        assert_eq!(
            r.get_header("Content-Security-Policy"),
            Some(page::PAGE_CSP)
        );
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert!(body.contains("&lt;Prod&gt;") && !body.contains("<Prod>"));
    }
}

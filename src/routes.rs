//! Routing on (method, path), the small handlers, and the flow's outcome turned into a response.

use std::time::SystemTime;

use crate::assets::{self, Asset};
use crate::config::Config;
use crate::echo;
use crate::flow::{self, FlowRequest, Outcome, Refusal};
use crate::http::{Exchange, Method, Request, Response, Service, Status};
use crate::log;
use crate::metrics::{Metrics, Rejection};
use crate::page::{self, Ui};
use crate::query;
use crate::redirect_target::AllowedPrefix;
use crate::token::{TokenInfo, TokenSource};

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
    /// Pages rendered once at start: their inputs never change while running.
    index_html: &'static [u8],
    done_html: &'static [u8],
}

type Handler = fn(&App, &Request) -> Response;

/// What a path leads to.
enum Destination {
    Handler(&'static str, Handler),
    Asset(&'static Asset),
}

impl App {
    pub fn new(config: Config) -> App {
        let ui = Ui::new(&config.ui, config.echo_enabled);
        // Leaked once per App (one per process): the pages live as long as the server.
        let leak =
            |page: String| -> &'static [u8] { Box::leak(page.into_bytes().into_boxed_slice()) };
        let index_html = leak(page::render_index(&ui));
        let done_html = leak(page::render_done(&ui));
        App {
            tokens: TokenSource {
                header_names: config.header_names,
                fallback: config.fallback_token,
            },
            echo_enabled: config.echo_enabled,
            ui,
            metrics: Metrics::new(),
            allowed_targets: config.allowed_targets,
            index_html,
            done_html,
        }
    }

    /// Picks the handler for a path, then checks the method; unknown paths are 404 whatever
    /// the method.
    pub fn route(&self, request: &Request) -> Response {
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
            (Method::Other(_), _) => Response::text(
                Status::MethodNotAllowed,
                "method not allowed: only GET and HEAD",
            )
            .header("Allow", "GET, HEAD"),
            (_, Destination::Handler(_, handler)) => handler(self, request),
            (_, Destination::Asset(asset)) => serve_asset(asset, request),
        };
        response.route(route)
    }

    fn index(&self, _: &Request) -> Response {
        html(self.index_html)
    }

    fn token(&self, request: &Request) -> Response {
        match self.tokens.extract(request) {
            Some(secret) => {
                self.metrics.token_served("token");
                let body = TokenInfo::new(secret, SystemTime::now()).to_json();
                Response::new(Status::Ok, JSON, body).header("Cache-Control", NO_STORE)
            }
            None => self.token_not_found(),
        }
    }

    fn token_not_found(&self) -> Response {
        Response::text(Status::TokenNotFound, self.tokens.not_found_message())
            .header("Cache-Control", NO_STORE)
    }

    fn flow(&self, request: &Request) -> Response {
        let outcome = match query::parse_strict(&request.query) {
            Ok(query) => flow::run(&FlowRequest {
                query: &query,
                token: self.tokens.extract(request),
                allowed_targets: &self.allowed_targets,
                now: SystemTime::now(),
            }),
            Err(e) => Outcome::Refused(Refusal::Invalid(Rejection::Params, e.to_string())),
        };
        match outcome {
            Outcome::Redirect { location } => {
                self.metrics.token_served("flow_redirect");
                Response::text(Status::SeeOther, "See Other")
                    .header("Location", location)
                    .header("Cache-Control", NO_STORE)
            }
            Outcome::FormPost {
                action,
                origin,
                fields,
            } => {
                self.metrics.token_served("flow_form_post");
                let fields = fields
                    .each_ref()
                    .map(|(name, value)| (*name, value.as_str()));
                let page = page::render_form_post(&self.ui, &action, &origin, &fields);
                html(page.into_bytes())
                    .header("Content-Security-Policy", page::form_post_csp(&origin))
            }
            Outcome::Paste { block, code } => {
                self.metrics.token_served("flow_paste");
                html(page::render_paste(&self.ui, &block, &code).into_bytes())
            }
            Outcome::Refused(Refusal::Invalid(reason, line)) => {
                self.metrics.flow_rejected(reason);
                Response::text(Status::BadRequest, line).header("Cache-Control", NO_STORE)
            }
            Outcome::Refused(Refusal::NoToken) => {
                self.metrics.flow_rejected(Rejection::NoToken);
                self.token_not_found()
            }
            Outcome::Refused(Refusal::Encryption(e)) => {
                log::error(&format!("flow: encryption failed: {e}"));
                Response::text(Status::InternalServerError, e.client_message())
                    .header("Cache-Control", NO_STORE)
            }
        }
    }

    fn health(&self, _: &Request) -> Response {
        Response::new(Status::Ok, JSON, &b"{\"status\": \"OK.\"}\n"[..])
            .header("Cache-Control", NO_STORE)
    }

    fn echo(&self, request: &Request) -> Response {
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

/// An embedded file; gzip-stored ones only to clients that accept gzip.
fn serve_asset(asset: &'static Asset, request: &Request) -> Response {
    let mut response = Response::new(Status::Ok, asset.content_type, asset.body)
        .header("Cache-Control", asset.cache_control);
    if asset.gzip {
        if !assets::accepts_gzip(request.header("Accept-Encoding")) {
            return Response::text(
                Status::NotAcceptable,
                "Accept-Encoding: this file is only served gzip-encoded; send Accept-Encoding: gzip",
            )
            .header("Vary", "Accept-Encoding");
        }
        response = response
            .header("Content-Encoding", "gzip")
            .header("Vary", "Accept-Encoding");
    }
    if let Some(csp) = asset.csp {
        response = response.header("Content-Security-Policy", csp);
    }
    response
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
        assert!(String::from_utf8_lossy(&r.body)
            .starts_with("Token not found. Looking for: Access-Token, Authorization"));
    }

    #[test]
    fn methods_and_unknown_paths() {
        let a = app(&[]);
        let mut r = get("/token", &[]);
        r.method = Method::Other("POST".into());
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
        assert!(a
            .metrics
            .render()
            .contains("token2go_flow_rejections_total{reason=\"params\"} 2\n"));
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

//! Routing on (method, path) and the small handlers; the flow has its own module.

use std::time::SystemTime;

use crate::assets::{self, Asset};
use crate::config::Config;
use crate::echo;
use crate::flow::{self, FlowSettings};
use crate::http::{Exchange, Method, Request, Response, Service};
use crate::log;
use crate::metrics::Metrics;
use crate::page::{self, Ui};
use crate::token::{TokenInfo, TokenSource};

const JSON: &str = "application/json";
const NO_STORE: &str = "no-store";

/// The application: configuration turned into ready-to-serve state.
pub struct App {
    pub tokens: TokenSource,
    pub echo_enabled: bool,
    pub ui: Ui,
    pub metrics: Metrics,
    pub flow: FlowSettings,
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
        let ui = Ui::new(
            config.ui.target.as_deref(),
            config.ui.title.as_deref(),
            config.ui.desc1.as_deref(),
            config.ui.desc2_html.as_deref(),
            config.ui.misc_html.as_deref(),
        )
        .with_page_settings(config.ui.example_url.as_deref(), config.echo_enabled);
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
            flow: FlowSettings {
                allowed_targets: config.allowed_targets,
            },
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
            "/flow/redirect/token" => Destination::Handler("flow", flow::handle),
            "/flow/redirect/done" => Destination::Handler("flow_done", App::flow_done),
            "/swagger-ui" => Destination::Handler("asset", App::swagger_ui_slash),
            path => match assets::lookup(path) {
                Some(asset) => Destination::Asset(asset),
                None => return Response::text(404, "not found").route("not_found"),
            },
        };
        let route = match destination {
            Destination::Handler(route, _) => route,
            Destination::Asset(_) => "asset",
        };
        let response = match (&request.method, destination) {
            (Method::Other(_), _) => Response::text(405, "method not allowed: only GET and HEAD")
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
                Response::new(200, JSON, body).header("Cache-Control", NO_STORE)
            }
            None => Response::text(444, self.tokens.not_found_message())
                .header("Cache-Control", NO_STORE),
        }
    }

    fn health(&self, _: &Request) -> Response {
        Response::new(200, JSON, &b"{\"status\": \"OK.\"}\n"[..]).header("Cache-Control", NO_STORE)
    }

    fn echo(&self, request: &Request) -> Response {
        Response::new(200, JSON, echo::render(request)).header("Cache-Control", NO_STORE)
    }

    fn metrics(&self, _: &Request) -> Response {
        Response::new(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            self.metrics.render().into_bytes(),
        )
        .header("Cache-Control", NO_STORE)
    }

    fn flow_done(&self, _: &Request) -> Response {
        html(self.done_html)
    }

    fn swagger_ui_slash(&self, _: &Request) -> Response {
        Response::text(308, "see /swagger-ui/").header("Location", "/swagger-ui/")
    }
}

/// An embedded file; gzip-stored ones only to clients that accept gzip.
fn serve_asset(asset: &'static Asset, request: &Request) -> Response {
    let mut response = Response::new(200, asset.content_type, asset.body)
        .header("Cache-Control", asset.cache_control);
    if asset.gzip {
        if !assets::accepts_gzip(request.header("Accept-Encoding")) {
            return Response::text(
                406,
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
pub fn html(body: impl Into<std::borrow::Cow<'static, [u8]>>) -> Response {
    Response::new(200, "text/html; charset=utf-8", body)
        .header("Content-Security-Policy", page::PAGE_CSP)
        .header("Cache-Control", NO_STORE)
}

impl Service for App {
    fn handle(&self, request: &Request) -> Response {
        self.route(request)
    }

    fn completed(&self, exchange: &Exchange<'_>) {
        self.metrics
            .observe_request(exchange.route, exchange.status, exchange.duration);
        log::access(exchange);
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
        assert_eq!((r.status, r.route), (200, "token"));
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

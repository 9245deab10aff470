//! The application: [`App`], built once from the [`Config`], routes each request on its path
//! (after the Host check) to a handler, a plain function from the [`Request`] value to a
//! [`Response`] value, and records each finished exchange in the access log and the metrics.
//!
//! The handlers that need more than a few lines live in the files below: `/token`
//! (`token_route`), the redirect flow (`flow_route`), the embedded files (`asset_route`). Every
//! token they hand out is audited, then counted, in one place (`hand_out`); the Host check
//! (`host`) and the Fetch Metadata checks (`fetch_metadata`) are rules of their own.

mod asset_route;
mod fetch_metadata;
mod flow_route;
mod hand_out;
mod host;
mod token_route;

use std::borrow::Cow;

use crate::flow::redirect_target::AllowedPrefix;
use crate::http::{Exchange, Method, Request, Response, Service, Status};
use crate::log::{self, LogFormat};
use crate::server::assets::{self, Asset};
use crate::server::audit::Audit;
use crate::server::config::Config;
use crate::server::echo;
use crate::server::metrics::Metrics;
use crate::server::page::{self, IndexPage, Ui};
use crate::server::token::TokenSource;

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

/// Headers read besides the configured token and user headers: the Host check, the audit's
/// `X-Forwarded-For`, asset encoding, and Fetch Metadata.
const READ_HEADERS: [&str; 5] = [
    "Host",
    "X-Forwarded-For",
    "Accept-Encoding",
    "Sec-Fetch-Site",
    "Sec-Fetch-Mode",
];

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
            .map(|template| flow_route::fill_reauth(template, "/"));
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

    /// Picks the handler for a path, then checks the method; unknown paths are 404 whatever
    /// the method.
    pub fn route(&self, request: &Request) -> Response {
        // Health probes of orchestrators name the pod's address; the answer holds nothing.
        if request.path != "/health" && !self.host_served(request) {
            return host::misdirected();
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
            (_, Destination::Asset(asset)) => asset_route::serve_asset(asset, request),
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

    fn health(&self, _: &Request) -> Response {
        Response::new(Status::Ok, JSON, &b"{\"status\": \"OK.\"}\n"[..])
            .header("Cache-Control", NO_STORE)
    }

    fn echo(&self, request: &Request) -> Response {
        if let Some(refused) = fetch_metadata::cross_site_read(request) {
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
}

/// An HTML page under the strict policy; pages never go stale in a cache.
fn html(body: impl Into<Cow<'static, [u8]>>) -> Response {
    html_page(body.into())
}

// Compiled once rather than once per body type (bytes of the static release binary).
fn html_page(body: Cow<'static, [u8]>) -> Response {
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

    /// The application for these `T2G_*` variables; the other route files' tests use it too.
    pub(super) fn app(vars: &[(&str, &str)]) -> App {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        App::new(Config::from_lookup(|n| map.get(n).cloned()).unwrap())
    }

    /// A `GET` of `target` with these headers.
    pub(super) fn get(target: &str, headers: &[(&str, &str)]) -> Request {
        Request::test_get(target, headers)
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

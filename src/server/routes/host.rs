//! The Host check: which `Host` names this server answers for. With a fallback token (served
//! without any gateway) or `T2G_ALLOWED_HOSTS`, only loopback names and the listed ones are, so a
//! page of another site whose name resolves to this machine (DNS rebinding) gets nothing.

use super::{App, NO_STORE};
use crate::http::{Request, Response, Status};

/// `Host` names that always mean this machine.
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

impl App {
    /// Whether the request's `Host` is one this server answers for: any while no list applies;
    /// else a loopback name or a listed one, any port. A missing or malformed `Host` is not.
    pub(super) fn host_served(&self, request: &Request) -> bool {
        let Some(listed) = &self.served_hosts else {
            return true;
        };
        match request.header("Host").and_then(host_name) {
            Some(host) => LOOPBACK_HOSTS.contains(&host.as_str()) || listed.contains(&host),
            None => false,
        }
    }
}

/// The answer to a request whose `Host` is not served, whatever its path.
pub(super) fn misdirected() -> Response {
    Response::text(
        Status::MisdirectedRequest,
        "misdirected request: this server answers only loopback Host names and T2G_ALLOWED_HOSTS",
    )
    .header("Cache-Control", NO_STORE)
    .route("misdirected")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::routes::tests::{app, get};

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
}

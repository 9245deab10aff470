//! `/token`: the gateway's token as JSON (its secret, fingerprint and expiry), handed out once
//! its audit line is written; `444` with the headers looked for when there is none. Also the
//! token's expiry, which the flow's answers carry too.

use std::time::SystemTime;

use super::hand_out::{HandOut, Served, audit_unavailable};
use super::{App, JSON, NO_STORE, fetch_metadata};
use crate::http::{Request, Response, Status};
use crate::log;
use crate::server::token::{self, TokenInfo};

impl App {
    /// The token as JSON; another site's read of it is refused before anything is recorded.
    pub(super) fn token(&self, request: &Request) -> Response {
        if let Some(refused) = fetch_metadata::cross_site_read(request) {
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

    /// The token's expiry: a JWT's `exp`, else what the gateway's expiry header says. A header
    /// that is garbage is ignored: counted, and logged (its name, never its value).
    pub(super) fn expiry(&self, request: &Request, claims: Option<&token::Claims>) -> Option<i64> {
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

    fn token_not_found(&self) -> Response {
        Response::text(Status::TokenNotFound, self.tokens.not_found_message())
            .header("Cache-Control", NO_STORE)
    }
}

#[cfg(test)]
mod tests {
    use crate::http::Status;
    use crate::server::routes::tests::{app, get};

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
}

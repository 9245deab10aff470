//! The record of a token handed out (`/token`, a flow redirect, form_post or paste page) and of
//! a flow refused: the audit line first, then the metric, each made in one place. With
//! `T2G_AUDIT_REQUIRED` a hand-out whose line cannot be written is not made at all.

use super::{App, NO_STORE};
use crate::flow::Rejection;
use crate::http::{Request, Response, Status};
use crate::log;
use crate::server::audit::Record;
use crate::server::token;
use crate::time::rfc3339_unix;

/// What the audit line of a hand-out says about the token: its fingerprint, a JWT's claims and
/// its expiry (the JWT's, else the gateway's header).
#[derive(Clone, Copy)]
pub(super) struct Served<'a> {
    /// The token's fingerprint in hex; its first 16 digits go to the audit line.
    pub(super) fingerprint: &'a str,
    /// A JWT's claims, for its `sub`.
    pub(super) claims: Option<&'a token::Claims>,
    /// Unix seconds.
    pub(super) expiry: Option<i64>,
}

/// One token handed out: what its audit line and its metric record, made once per hand-out.
pub(super) struct HandOut<'a> {
    /// The metric's and the audit line's route label.
    pub(super) route: &'static str,
    /// What the audit line says about the token.
    pub(super) served: Served<'a>,
    /// Who the gateway or the token says the user is.
    pub(super) user: Option<&'a str>,
    /// The flow's target (origin and path), or `oob` for a paste block.
    pub(super) target: Option<String>,
    /// The verification code of the flow client's key.
    pub(super) code: Option<&'a str>,
}

impl App {
    /// Records a token about to be handed out: its audit line first, then its metric. `false`
    /// when the line could not be written and `T2G_AUDIT_REQUIRED` holds the token back (then
    /// nothing is counted as served and nothing may be sent).
    pub(super) fn hand_out(&self, request: &Request, hand_out: HandOut<'_>) -> bool {
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
    pub(super) fn refused(
        &self,
        request: &Request,
        user: Option<&str>,
        reason: Rejection,
        line: &str,
    ) {
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
}

/// The answer instead of a token whose audit line could not be written.
pub(super) fn audit_unavailable() -> Response {
    Response::text(
        Status::ServiceUnavailable,
        "service unavailable: the audit trail cannot be written, so no token is handed out",
    )
    .header("Cache-Control", NO_STORE)
}

/// Every `X-Forwarded-For` value as given, joined with `, `; `None` when there is none.
fn forwarded_for(request: &Request) -> Option<String> {
    let values: Vec<&str> = request.header_values("X-Forwarded-For").collect();
    (!values.is_empty()).then(|| values.join(", "))
}

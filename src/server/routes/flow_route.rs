//! `/flow/redirect/token` and `/flow/redirect/done`: the redirect flow's request decided by
//! [`crate::flow`], and its outcome turned into a response (a `303` or form_post page to the
//! target, a paste block, the warning page, a flow error, a refusal), every hand-out and refusal
//! recorded through `hand_out`.

use std::time::SystemTime;

use super::hand_out::{HandOut, Served, audit_unavailable};
use super::{App, NO_STORE, fetch_metadata, html};
use crate::flow::Rejection;
use crate::flow::query;
use crate::flow::redirect_target::OOB;
use crate::flow::{self, Confirmation, FlowError, FlowRequest, FlowToken, Outcome, Refusal, Reply};
use crate::http::{Request, Response, Status};
use crate::log;
use crate::server::page::{self, ErrorNotice, Warning};
use crate::server::token;

impl App {
    /// The flow's answer to this request, with the gateway's token if there is one.
    pub(super) fn flow(&self, request: &Request) -> Response {
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

    /// "Token delivered": where the client sends the browser once it holds the token.
    pub(super) fn flow_done(&self, _: &Request) -> Response {
        html(self.done_html)
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
                cross_site: fetch_metadata::started_elsewhere(request),
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
}

/// `template` (`T2G_REAUTH_URL`) with its `{url}` (at most one) replaced by `url` percent-encoded.
pub(super) fn fill_reauth(template: &str, url: &str) -> String {
    match template.split_once("{url}") {
        Some((before, after)) => format!("{before}{}{after}", query::percent_encode(url)),
        None => template.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::http::Status;
    use crate::server::routes::tests::{app, get};

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
}

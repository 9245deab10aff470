//! The token redirect flow (`GET /flow/redirect/token`) as a pure decision: from the decoded
//! query, the token, the user and the allowed targets to an [`Outcome`]. No HTTP here: `routes`
//! turns the outcome into a response, counts it and writes its audit line.
//!
//! Every parameter is checked before any crypto, in this order: parameters, key type, target,
//! public key, token; then, where the user must confirm first, the warning page; then the
//! `/token` document is encrypted for the client's key.
//!
//! `responseMode` (optional) chooses how an encrypted token reaches a URL target: `query` (the
//! default, as the reference does) redirects with the values in the query; `form_post` (as
//! OpenID's Form Post Response Mode) shows a page whose form POSTs them, because gateways
//! limit the size of a redirect's `Location` header and tokens with many claims exceed it.
//!
//! Confirmation: paste mode, targets under a prefix every user shares (no `{user}`), and any
//! request another site started (Fetch Metadata: `Sec-Fetch-Site` present and neither `none`
//! nor `same-origin`) first get a warning page with the verification code and no token; its
//! button repeats the request with `confirm`, a value only the token's owner can make
//! ([`crate::flow::confirm`]). A missing or wrong `confirm` shows the warning again and is never a
//! refusal. Otherwise loopback and `{user}` targets need none, since the token stays on the
//! user's own machine or server; but a page of another site can navigate the user's browser to
//! a flow link naming a port another local account listens on, so such a request is confirmed
//! first whatever its target. The button's link is a same-origin navigation, which passes.
//!
//! Flow errors: a request that passed every check (and the warning page where it applies) but
//! cannot be served, because the gateway passed no token or the token expires within
//! [`MIN_LIFETIME`] seconds, is answered as an OAuth 2.0 authorization error response (RFC 6749
//! §4.1.2.1): `error`, `error_description` and `state` go to the target, by redirect or form,
//! so the client stops at once instead of waiting. In paste mode, and where the warning page
//! applies but no token exists to confirm it with, the person reads the error on a page instead
//! and nothing goes to the target.

use std::ops::ControlFlow;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::flow::Rejection;
use crate::flow::crypto;
use crate::flow::pubkey::{self, ALLOWED_KEY_TYPES, KeyType, PublicKey};
use crate::flow::redirect_target::{self, Allowed, AllowedPrefix, OOB, Reach, Target, TargetError};
use crate::flow::rejection::{Refusal, invalid};
use crate::flow::token::TokenInfo;

use super::params::{Parameters, REQUIRED};

/// A token whose known expiry is fewer seconds away than this is not handed out by the flow:
/// the client could not use it, and would cache it.
pub(super) const MIN_LIFETIME: i64 = 30;

/// What the flow decided.
pub(crate) enum Outcome {
    /// Hand the encrypted token (`key`, `nonce`, `payload`, `state`) to a URL target.
    Deliver {
        reply: Reply,
        delivery: Delivery,
    },
    /// Show the paste page with the armoured `block` and the key's verification `code`.
    Paste {
        block: String,
        code: String,
    },
    /// Show the warning page first: nothing encrypted, nothing handed out.
    Confirm(Confirmation),
    /// No token to hand out, for a request that passed every check: `error`,
    /// `error_description` and `state` go to the target by `reply`; with `None` (paste mode, or
    /// no token to confirm the warning page with) a page tells the person instead.
    Error {
        error: FlowError,
        /// One printable ASCII line without secrets (`error_description`).
        description: String,
        reply: Option<Reply>,
    },
    Refused(Refusal),
}

/// How values reach a URL target.
pub(crate) enum Reply {
    /// `303` to the target with the values added to its query.
    Redirect { location: String },
    /// A page whose form POSTs `fields` to `action`, the target, whose `origin` the page's CSP
    /// allows as the form's only destination.
    FormPost {
        action: String,
        origin: String,
        fields: Vec<(&'static str, String)>,
    },
}

/// `fields` for `target`: the form_post page when asked for, else (and for an IPv6 target,
/// which a CSP source cannot name) the redirect.
fn reply(target: &Target, form_post: bool, fields: Vec<(&'static str, String)>) -> Reply {
    if form_post && !target.is_ipv6() {
        return Reply::FormPost {
            action: target.as_str().to_string(),
            origin: target.origin(),
            fields,
        };
    }
    let params: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
    Reply::Redirect {
        location: redirect_target::with_params(target, &params),
    }
}

/// Why a flow that passed every check hands out no token: the `error` code it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlowError {
    /// No header carried a token and there is no fallback.
    NoToken,
    /// The token's known expiry is less than [`MIN_LIFETIME`] seconds away, or past.
    TokenExpired,
}

impl FlowError {
    pub(crate) fn code(self) -> &'static str {
        match self {
            FlowError::NoToken => "no_token",
            FlowError::TokenExpired => "token_expired",
        }
    }

    pub(crate) fn rejection(self) -> Rejection {
        match self {
            FlowError::NoToken => Rejection::NoToken,
            FlowError::TokenExpired => Rejection::TokenExpired,
        }
    }

    /// The `error_description`: `reauth` is where to sign in again, when the operator set one.
    fn description(self, reauth: Option<&str>) -> String {
        if self == FlowError::NoToken {
            return "the gateway passed no access token".to_string();
        }
        let mut line = format!(
            "the access token expires in less than {MIN_LIFETIME} s: sign in again through the \
             gateway"
        );
        if let Some(url) = reauth {
            line.push_str(" at ");
            line.push_str(url);
        }
        line
    }
}

/// Where a token went, for the audit line: the target's origin and path (never its query) and
/// the verification code of the client's key.
pub(crate) struct Delivery {
    pub target: String,
    pub code: String,
}

/// The warning page's contents.
pub(crate) struct Confirmation {
    /// `None` for paste mode; else the target's `host[:port]` and path, to show.
    pub destination: Option<(String, String)>,
    /// Whether every user of the server may receive tokens at the target (no `{user}`).
    pub shared: bool,
    /// Whether another site started the request (Fetch Metadata).
    pub cross_site: bool,
    /// The verification code of the client's key.
    pub code: String,
    /// The query of the same request with `confirm` (percent-encoded), for a relative link.
    pub query: String,
    /// Whether the request carried a `confirm` that is not this user's for this request.
    pub mismatch: bool,
}

/// One flow request: the decoded query pairs in order, the token and the user, if any was
/// found, and the server's rules.
pub(crate) struct FlowRequest<'a> {
    pub query: &'a [(String, String)],
    pub token: Option<FlowToken<'a>>,
    pub user: Option<&'a str>,
    pub allowed_targets: &'a [AllowedPrefix],
    pub paste_mode: bool,
    pub now: SystemTime,
    /// Where to sign in again, for the `error_description` of an expired token.
    pub reauth: Option<&'a str>,
    /// Whether the browser said another site started this request (`Sec-Fetch-Site` present
    /// and neither `none` nor `same-origin`); `false` without Fetch Metadata.
    pub cross_site: bool,
}

/// The token to hand out, with what the caller worked out from it already (it needed both for
/// the user and the audit line too).
#[derive(Clone, Copy)]
pub(crate) struct FlowToken<'a> {
    pub secret: &'a str,
    pub fingerprint: &'a str,
    /// The token's expiry (a JWT's `exp`, else the gateway's header), seconds since the epoch.
    pub expiry: Option<i64>,
}

pub(crate) fn run(request: &FlowRequest<'_>) -> Outcome {
    match decide(request) {
        Ok(outcome) => outcome,
        Err(refusal) => Outcome::Refused(refusal),
    }
}

/// The decision in its three steps: input checks, confirmation (or a flow error), sealing.
fn decide(request: &FlowRequest<'_>) -> Result<Outcome, Refusal> {
    let checked = check_inputs(request)?;
    let code = pubkey::verification_code(&checked.public_key);
    match confirm_first(&checked, request, &code) {
        ControlFlow::Break(outcome) => Ok(outcome),
        ControlFlow::Continue(token) => seal(checked, request, token, code),
    }
}

/// What the input checks established, for the rest of the decision.
struct Checked<'q> {
    params: Parameters<'q>,
    form_post: bool,
    /// `None` in paste mode.
    target: Option<Allowed>,
    public_key: PublicKey,
}

/// Every parameter checked before any crypto, in this order: parameters, response mode, key
/// type, target, public key.
fn check_inputs<'q>(request: &FlowRequest<'q>) -> Result<Checked<'q>, Refusal> {
    let params = Parameters::from_query(request.query)?;
    let form_post = match params.given[REQUIRED] {
        None | Some("query") => false,
        Some("form_post") => true,
        Some(_) => {
            return Err(invalid(
                Rejection::Params,
                "responseMode: must be query or form_post",
            ));
        }
    };
    let key_type = KeyType::parse(params.key_type).ok_or_else(|| {
        invalid(
            Rejection::Key,
            format!(
                "publicKeyType: must be one of {}",
                ALLOWED_KEY_TYPES.join(", ")
            ),
        )
    })?;
    let target_refused = |e: TargetError| invalid(Rejection::Target, e.to_string());
    let target = if params.target == OOB {
        if !request.paste_mode {
            return Err(target_refused(TargetError::PasteModeOff));
        }
        None
    } else {
        let checked = redirect_target::check(params.target, request.allowed_targets, request.user)
            .map_err(target_refused)?;
        Some(checked)
    };
    let public_key = pubkey::parse_public_key(key_type, params.public_key)
        .map_err(|e| invalid(Rejection::Key, e.to_string()))?;
    Ok(Checked {
        params,
        form_post,
        target,
        public_key,
    })
}

impl Checked<'_> {
    /// Whether every user of the server may receive tokens at the target (no `{user}`).
    fn shared(&self) -> bool {
        self.target
            .as_ref()
            .is_some_and(|allowed| allowed.reach == Reach::Shared)
    }

    /// The flow error `error`: to the target when `to_target` and there is one; else a page
    /// (paste mode, or where nothing may go to the target unconfirmed).
    fn error(&self, request: &FlowRequest<'_>, error: FlowError, to_target: bool) -> Outcome {
        let description = error.description(request.reauth);
        let reply = self.target.as_ref().filter(|_| to_target).map(|allowed| {
            let fields = vec![
                ("error", error.code().to_string()),
                ("error_description", description.clone()),
                ("state", self.params.state.to_string()),
            ];
            reply(&allowed.target, self.form_post, fields)
        });
        Outcome::Error {
            error,
            description,
            reply,
        }
    }
}

/// After the input checks: the warning page where the user must confirm first, or a flow
/// error (no token, or one about to expire); else the token to seal.
fn confirm_first<'a>(
    checked: &Checked<'_>,
    request: &FlowRequest<'a>,
    code: &str,
) -> ControlFlow<Outcome, FlowToken<'a>> {
    let shared = checked.shared();
    let must_confirm = checked.target.is_none() || shared || request.cross_site;
    let Some(token) = request.token else {
        // The confirm value is keyed with the token: without one the warning page cannot be
        // passed, so nothing goes to such a target and the person reads why.
        return ControlFlow::Break(checked.error(request, FlowError::NoToken, !must_confirm));
    };
    let now = request
        .now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let expired = token
        .expiry
        .is_some_and(|exp| exp < now.saturating_add(MIN_LIFETIME));
    // In paste mode the error is a page for the person: nothing leaves, no warning needed.
    if expired && checked.target.is_none() {
        return ControlFlow::Break(checked.error(request, FlowError::TokenExpired, false));
    }
    if must_confirm && let Some((query, mismatch)) = checked.params.unconfirmed(token.secret) {
        return ControlFlow::Break(Outcome::Confirm(Confirmation {
            destination: checked
                .target
                .as_ref()
                .map(|a| (a.target.host_port(), a.target.path().to_string())),
            shared,
            cross_site: request.cross_site,
            code: code.to_string(),
            query,
            mismatch,
        }));
    }
    if expired {
        return ControlFlow::Break(checked.error(request, FlowError::TokenExpired, true));
    }
    ControlFlow::Continue(token)
}

/// The `/token` document encrypted for the client's key: the paste block, or the values for
/// the URL target.
fn seal(
    checked: Checked<'_>,
    request: &FlowRequest<'_>,
    token: FlowToken<'_>,
    code: String,
) -> Result<Outcome, Refusal> {
    let fingerprint = token.fingerprint.to_string();
    let document = TokenInfo::with(token.secret, request.now, fingerprint, token.expiry).to_json();
    let sealed = crypto::seal(&checked.public_key, &document).map_err(Refusal::Encryption)?;
    let Some(allowed) = checked.target else {
        let block = crypto::paste_block(&sealed);
        return Ok(Outcome::Paste { block, code });
    };
    let target = allowed.target;
    let delivery = Delivery {
        target: format!("{}{}", target.origin(), target.path()),
        code,
    };
    let mut fields = Vec::from(crypto::redirect_params(&sealed));
    fields.push(("state", checked.params.state.to_string()));
    Ok(Outcome::Deliver {
        reply: reply(&target, checked.form_post, fields),
        delivery,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::query;
    use crate::test_keys::private_key;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};

    const TOKEN: &str = "canary-flow-unit-7f3a";

    fn pem() -> String {
        private_key(2048)
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    }

    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    fn query(target: &str, state: &str) -> Vec<(String, String)> {
        let raw = format!(
            "target={}&state={}&publicKeyType=rsa2048-rfc5280-x509-pem&publicKey={}",
            enc(target),
            enc(state),
            enc(&pem())
        );
        query::parse_strict(&raw).unwrap()
    }

    fn run_with(query: &[(String, String)], token: Option<&str>) -> Outcome {
        run_as(query, token, None, &[])
    }

    fn run_as(
        query: &[(String, String)],
        token: Option<&str>,
        user: Option<&str>,
        allowed_targets: &[AllowedPrefix],
    ) -> Outcome {
        let fingerprint = token
            .map(crate::flow::token::fingerprint)
            .unwrap_or_default();
        run(&FlowRequest {
            query,
            token: token.map(|secret| flow_token(secret, &fingerprint)),
            user,
            allowed_targets,
            paste_mode: true,
            now: SystemTime::now(),
            reauth: None,
            cross_site: false,
        })
    }

    /// `secret` as the server hands it to the flow, its fingerprint worked out by the caller.
    fn flow_token<'a>(secret: &'a str, fingerprint: &'a str) -> FlowToken<'a> {
        FlowToken {
            secret,
            fingerprint,
            expiry: crate::flow::token::jwt_expiry(secret),
        }
    }

    /// The query of the warning page's link, decoded: what the browser sends when the user
    /// presses the button.
    fn confirmed(outcome: Outcome) -> Vec<(String, String)> {
        let Outcome::Confirm(confirmation) = outcome else {
            panic!("expected the warning page");
        };
        query::parse_strict(&confirmation.query).unwrap()
    }

    fn decrypt(key: &str, nonce: &str, payload: &str) -> serde_json::Value {
        let sealed = crypto::sealed_from_params(key, nonce, payload).unwrap();
        serde_json::from_slice(&crypto::open(private_key(2048), &sealed).unwrap()).unwrap()
    }

    #[test]
    fn redirect_carries_the_encrypted_token_and_the_state() {
        let outcome = run_with(
            &query("http://127.0.0.1:8000/cb?x=1", "st&ate"),
            Some(TOKEN),
        );
        let Outcome::Deliver {
            reply: Reply::Redirect { location },
            delivery,
        } = outcome
        else {
            panic!("expected a redirect");
        };
        assert_eq!(delivery.target, "http://127.0.0.1:8000/cb");
        assert_eq!(delivery.code.len(), 9);
        let (base, params) = location.split_once('?').unwrap();
        assert_eq!(base, "http://127.0.0.1:8000/cb");
        let params = query::parse_strict(params).unwrap();
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .unwrap()
        };
        assert_eq!(get("x"), "1");
        assert_eq!(get("state"), "st&ate");
        assert!(!location.contains(TOKEN));
        let payload = decrypt(get("key"), get("nonce"), get("payload"));
        assert_eq!(payload["secret"], TOKEN);
        assert_eq!(
            payload["fingerprint"],
            crate::flow::token::fingerprint(TOKEN).as_str()
        );
    }

    #[test]
    fn paste_mode_gives_a_block_and_the_code() {
        let first = run_with(&query(OOB, ""), Some(TOKEN));
        let Outcome::Paste { block, code } = run_with(&confirmed(first), Some(TOKEN)) else {
            panic!("expected the paste page");
        };
        let key = pubkey::parse_public_key(KeyType::Rsa2048X509, &pem()).unwrap();
        assert_eq!(code, pubkey::verification_code(&key));
        let sealed = crypto::parse_paste_block(&block).unwrap();
        let payload: serde_json::Value =
            serde_json::from_slice(&crypto::open(private_key(2048), &sealed).unwrap()).unwrap();
        assert_eq!(payload["secret"], TOKEN);
    }

    fn refusal(outcome: Outcome) -> Refusal {
        match outcome {
            Outcome::Refused(refusal) => refusal,
            _ => panic!("expected a refusal"),
        }
    }

    fn invalid_line(outcome: Outcome) -> (Rejection, String) {
        match refusal(outcome) {
            Refusal::Invalid(reason, line) => (reason, line),
            _ => panic!("expected an invalid request"),
        }
    }

    #[test]
    fn refusals_in_the_order_of_the_checks() {
        let (reason, line) = invalid_line(run_with(&[], Some(TOKEN)));
        assert_eq!(reason, Rejection::Params);
        assert_eq!(
            line,
            "Missing query parameters: target, state, publicKeyType, publicKey"
        );
        let mut twice = query("http://127.0.0.1/", "s");
        twice.push(("state".into(), "again".into()));
        assert_eq!(
            invalid_line(run_with(&twice, Some(TOKEN))),
            (Rejection::Params, "state: given more than once".into())
        );
        let mut bad_type = query("https://evil.example/", "s");
        bad_type[2].1 = "rsa1024".into();
        assert_eq!(invalid_line(run_with(&bad_type, None)).0, Rejection::Key);
        let off_list = query("https://evil.example/", "s");
        let (reason, line) = invalid_line(run_with(&off_list, None));
        assert_eq!(reason, Rejection::Target);
        assert!(line.starts_with("target: "), "{line}");
        let mut bad_key = query("http://127.0.0.1/", "s");
        bad_key[3].1 = "not a key".into();
        assert_eq!(invalid_line(run_with(&bad_key, None)).0, Rejection::Key);
        assert!(matches!(
            run_with(&query("http://127.0.0.1/", "s"), None),
            Outcome::Error {
                error: FlowError::NoToken,
                ..
            }
        ));
    }

    fn with_mode(mut query: Vec<(String, String)>, mode: &str) -> Vec<(String, String)> {
        query.push(("responseMode".into(), mode.into()));
        query
    }

    #[test]
    fn form_post_carries_the_same_values_in_fields() {
        let q = with_mode(query("http://127.0.0.1:8765/cb?x=1", "s&t"), "form_post");
        let Outcome::Deliver {
            reply:
                Reply::FormPost {
                    action,
                    origin,
                    fields,
                },
            ..
        } = run_with(&q, Some(TOKEN))
        else {
            panic!("expected the form_post page");
        };
        assert_eq!(action, "http://127.0.0.1:8765/cb?x=1");
        assert_eq!(origin, "http://127.0.0.1:8765");
        let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["key", "nonce", "payload", "state"]);
        assert_eq!(fields[3].1, "s&t");
        let payload = decrypt(&fields[0].1, &fields[1].1, &fields[2].1);
        assert_eq!(payload["secret"], TOKEN);
    }

    #[test]
    fn response_modes_query_ipv6_and_unknown() {
        let q = with_mode(query("http://127.0.0.1:8765/cb", "s"), "query");
        assert!(matches!(
            run_with(&q, Some(TOKEN)),
            Outcome::Deliver {
                reply: Reply::Redirect { .. },
                ..
            }
        ));
        let q = with_mode(query("http://[::1]:8765/cb", "s"), "form_post");
        assert!(matches!(
            run_with(&q, Some(TOKEN)),
            Outcome::Deliver {
                reply: Reply::Redirect { .. },
                ..
            }
        ));
        let q = with_mode(query(OOB, "s"), "form_post");
        let q = confirmed(run_with(&q, Some(TOKEN)));
        assert!(matches!(run_with(&q, Some(TOKEN)), Outcome::Paste { .. }));
        let q = with_mode(query("http://127.0.0.1:8765/cb", "s"), "fragment");
        assert_eq!(
            invalid_line(run_with(&q, Some(TOKEN))),
            (
                Rejection::Params,
                "responseMode: must be query or form_post".into()
            )
        );
        let q = with_mode(with_mode(query("http://127.0.0.1/", "s"), "query"), "query");
        assert_eq!(
            invalid_line(run_with(&q, Some(TOKEN))).1,
            "responseMode: given more than once"
        );
    }

    #[test]
    fn allowed_prefixes_extend_the_targets() {
        let allowed = AllowedPrefix::parse_list("https://hub.example.com/user/").unwrap();
        let q = query("https://hub.example.com/user/alice/cb", "s");
        // Shared by all users: the warning first, then the redirect.
        let q = confirmed(run_as(&q, Some(TOKEN), None, &allowed));
        let outcome = run_as(&q, Some(TOKEN), None, &allowed);
        assert!(
            matches!(outcome, Outcome::Deliver { reply: Reply::Redirect { location }, .. } if location.starts_with("https://hub.example.com/user/alice/cb?key="))
        );
    }

    #[test]
    fn per_user_prefixes_bind_the_target_to_the_user() {
        let allowed = AllowedPrefix::parse_list("https://hub.example.com/user/{user}/").unwrap();
        let mallorys = query("https://hub.example.com/user/mallory/oauth_callback", "s");
        // Mallory's target for Mallory: straight through, no warning.
        let outcome = run_as(&mallorys, Some(TOKEN), Some("mallory"), &allowed);
        assert!(matches!(
            outcome,
            Outcome::Deliver {
                reply: Reply::Redirect { .. },
                ..
            }
        ));
        // The same link opened by Alice: refused, and the line says why.
        let outcome = run_as(&mallorys, Some(TOKEN), Some("alice"), &allowed);
        assert_eq!(
            invalid_line(outcome),
            (
                Rejection::Target,
                "target: this target belongs to another user".into()
            )
        );
        // No user known: refused, an authenticated user is needed.
        let (reason, line) = invalid_line(run_as(&mallorys, Some(TOKEN), None, &allowed));
        assert_eq!(reason, Rejection::Target);
        assert!(line.contains("authenticated user"), "{line}");
        // The user's name is one percent-encoded path segment, as JupyterHub writes it.
        let q = query("https://hub.example.com/user/a%20b@example.com/", "s");
        let outcome = run_as(&q, Some(TOKEN), Some("a b@example.com"), &allowed);
        assert!(matches!(
            outcome,
            Outcome::Deliver {
                reply: Reply::Redirect { .. },
                ..
            }
        ));
    }

    #[test]
    fn confirmation_is_bound_to_the_token_and_the_request() {
        let q = query(OOB, "s");
        let Outcome::Confirm(c) = run_with(&q, Some(TOKEN)) else {
            panic!("expected the warning page");
        };
        assert!(!c.mismatch && c.destination.is_none());
        let key = pubkey::parse_public_key(KeyType::Rsa2048X509, &pem()).unwrap();
        assert_eq!(c.code, pubkey::verification_code(&key));
        let link = query::parse_strict(&c.query).unwrap();
        let names: Vec<&str> = link.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["target", "state", "publicKeyType", "publicKey", "confirm"]
        );
        // The link's confirm, carried by someone else's request (another token), does not count.
        let outcome = run_with(&link, Some("mallory-token"));
        assert!(matches!(
            outcome,
            Outcome::Confirm(Confirmation { mismatch: true, .. })
        ));
        // A made-up one, such as confirm=1 in a phishing link, neither.
        let mut made_up = q.clone();
        made_up.push(("confirm".into(), "1".into()));
        assert!(matches!(
            run_with(&made_up, Some(TOKEN)),
            Outcome::Confirm(Confirmation { mismatch: true, .. })
        ));
        // Another state (another request) with the same confirm value neither.
        let mut other = link.clone();
        other[1].1 = "other".into();
        assert!(matches!(run_with(&other, Some(TOKEN)), Outcome::Confirm(_)));
        // Given twice: refused, as every flow parameter.
        let mut twice = link.clone();
        twice.push(("confirm".into(), "x".into()));
        assert_eq!(
            invalid_line(run_with(&twice, Some(TOKEN))).1,
            "confirm: given more than once"
        );
        // Loopback needs none: confirm is ignored there.
        let mut loopback = query("http://127.0.0.1:9/cb", "s");
        loopback.push(("confirm".into(), "anything".into()));
        assert!(matches!(
            run_with(&loopback, Some(TOKEN)),
            Outcome::Deliver {
                reply: Reply::Redirect { .. },
                ..
            }
        ));
        // Without a token there is nothing to confirm: the person reads why, nothing is sent.
        assert!(matches!(
            run_with(&q, None),
            Outcome::Error {
                error: FlowError::NoToken,
                reply: None,
                ..
            }
        ));
    }

    /// A JWT expiring `seconds` from now.
    fn expiring_in(seconds: i64) -> String {
        use base64::Engine;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let claims = format!(r#"{{"exp":{}}}"#, now + seconds);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("e30.{}.c2ln", b64.encode(claims))
    }

    /// The error response's three values, from a redirect (its query after the target) or a
    /// form_post page's fields.
    fn error_params(outcome: Outcome, target: &str) -> (FlowError, [(String, String); 3]) {
        let Outcome::Error { error, reply, .. } = outcome else {
            panic!("expected a flow error");
        };
        let params = match reply {
            Some(Reply::Redirect { location }) => {
                let suffix = location[target.len()..].trim_start_matches(['?', '&']);
                query::parse_strict(suffix).unwrap().try_into().unwrap()
            }
            Some(Reply::FormPost { action, fields, .. }) => {
                assert_eq!(action, target);
                let fields: Vec<_> = fields
                    .into_iter()
                    .map(|(n, v)| (n.to_string(), v))
                    .collect();
                fields.try_into().unwrap()
            }
            None => panic!("expected the error to go to the target"),
        };
        (error, params)
    }

    #[test]
    fn flow_errors_go_to_a_target_that_passed_every_check() {
        let target = "http://127.0.0.1:8765/cb?x=1";
        for mode in ["query", "form_post"] {
            let q = with_mode(query(target, "s&t"), mode);
            let (error, params) = error_params(run_with(&q, None), target);
            assert_eq!(error, FlowError::NoToken);
            assert_eq!(
                params.map(|(n, v)| format!("{n}={v}")),
                [
                    "error=no_token",
                    "error_description=the gateway passed no access token",
                    "state=s&t"
                ]
            );
            let expired = expiring_in(29);
            let (error, params) = error_params(run_with(&q, Some(&expired)), target);
            assert_eq!(error, FlowError::TokenExpired);
            assert_eq!(params[0].1, "token_expired");
            assert_eq!(
                params[1].1,
                "the access token expires in less than 30 s: sign in again through the gateway"
            );
            assert_eq!(params[2].1, "s&t");
        }
        // Long enough, and long past: delivered, and refused.
        let q = query(target, "s");
        assert!(matches!(
            run_with(&q, Some(&expiring_in(31))),
            Outcome::Deliver {
                reply: Reply::Redirect { .. },
                ..
            }
        ));
        assert_eq!(
            error_params(run_with(&q, Some(&expiring_in(-3600))), target).0,
            FlowError::TokenExpired
        );
        // The operator's sign-in URL is named.
        let fingerprint = crate::flow::token::fingerprint(TOKEN);
        let outcome = run(&FlowRequest {
            query: &q,
            token: Some(FlowToken {
                expiry: Some(0),
                ..flow_token(TOKEN, &fingerprint)
            }),
            user: None,
            allowed_targets: &[],
            paste_mode: true,
            now: SystemTime::now(),
            reauth: Some("https://corp.example/oauth2/sign_in?rd=%2F"),
            cross_site: false,
        });
        assert!(error_params(outcome, target).1[1].1.ends_with(
            "sign in again through the gateway at https://corp.example/oauth2/sign_in?rd=%2F"
        ));
        // A refused target gets nothing, with or without a token.
        for token in [None, Some(expiring_in(0))] {
            let q = query("https://evil.example/cb", "s");
            assert_eq!(
                invalid_line(run_with(&q, token.as_deref())).0,
                Rejection::Target
            );
        }
    }

    #[test]
    fn flow_errors_where_nothing_may_go_to_the_target_are_pages() {
        // Paste mode: the page, at once; an expired token needs no warning first.
        for token in [None, Some(expiring_in(10))] {
            let outcome = run_with(&query(OOB, "s"), token.as_deref());
            assert!(
                matches!(outcome, Outcome::Error { reply: None, .. }),
                "{token:?}"
            );
        }
        // A shared prefix: without a token the warning cannot be confirmed, so a page; with an
        // expired one, the warning first, then the error goes to the confirmed target.
        let allowed = AllowedPrefix::parse_list("https://hub.example.com/user/").unwrap();
        let target = "https://hub.example.com/user/ann/cb";
        let q = query(target, "s");
        assert!(matches!(
            run_as(&q, None, None, &allowed),
            Outcome::Error {
                error: FlowError::NoToken,
                reply: None,
                ..
            }
        ));
        let expired = expiring_in(5);
        let q = confirmed(run_as(&q, Some(&expired), None, &allowed));
        let (error, params) = error_params(run_as(&q, Some(&expired), None, &allowed), target);
        assert_eq!(
            (error, params[2].1.as_str()),
            (FlowError::TokenExpired, "s")
        );
    }

    #[test]
    fn a_request_another_site_started_is_confirmed_first_whatever_the_target() {
        let fingerprint = crate::flow::token::fingerprint(TOKEN);
        let run_from = |query: &[(String, String)], cross_site: bool, token: Option<&str>| {
            run(&FlowRequest {
                query,
                token: token.map(|t| flow_token(t, &fingerprint)),
                user: None,
                allowed_targets: &[],
                paste_mode: true,
                now: SystemTime::now(),
                reauth: None,
                cross_site,
            })
        };
        let q = with_mode(query("http://127.0.0.1:18999/x", "s"), "form_post");
        let Outcome::Confirm(c) = run_from(&q, true, Some(TOKEN)) else {
            panic!("expected the warning page");
        };
        assert!(c.cross_site && !c.shared && !c.mismatch);
        assert_eq!(
            c.destination,
            Some(("127.0.0.1:18999".to_string(), "/x".to_string()))
        );
        // The button's link, followed by the user (a same-origin navigation), delivers.
        let link = query::parse_strict(&c.query).unwrap();
        assert!(matches!(
            run_from(&link, false, Some(TOKEN)),
            Outcome::Deliver {
                reply: Reply::FormPost { .. },
                ..
            }
        ));
        // A confirm value another site made up: the warning again, never a token.
        let mut made_up = q.clone();
        made_up.push(("confirm".into(), "AAAAAAAAAAAAAAAAAAAAAA".into()));
        assert!(matches!(
            run_from(&made_up, true, Some(TOKEN)),
            Outcome::Confirm(Confirmation { mismatch: true, .. })
        ));
        // Without a token there is nothing to confirm with: a page, nothing sent.
        assert!(matches!(
            run_from(&q, true, None),
            Outcome::Error { reply: None, .. }
        ));
        // Without Fetch Metadata, as today: straight through.
        assert!(matches!(
            run_from(&q, false, Some(TOKEN)),
            Outcome::Deliver {
                reply: Reply::FormPost { .. },
                ..
            }
        ));
    }

    #[test]
    fn paste_mode_off_refuses_the_urn() {
        let q = query(OOB, "s");
        let fingerprint = crate::flow::token::fingerprint(TOKEN);
        let outcome = run(&FlowRequest {
            query: &q,
            token: Some(flow_token(TOKEN, &fingerprint)),
            user: None,
            allowed_targets: &[],
            paste_mode: false,
            now: SystemTime::now(),
            reauth: None,
            cross_site: false,
        });
        assert_eq!(
            invalid_line(outcome),
            (
                Rejection::Target,
                "target: paste mode is turned off on this server".into()
            )
        );
    }

    use proptest::prelude::*;

    /// Loopback targets with random ports, paths and queries (the full grammar is exercised in
    /// `redirect_target`'s properties; here the flow around it).
    fn allowed_target() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["127.0.0.1", "[::1]", "localhost"]),
            prop::option::of(1..=65535u16),
            "(/[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,6}){0,3}/?",
            prop::option::of("[A-Za-z0-9=&/?._~-]{0,12}"),
        )
            .prop_map(|(host, port, path, query)| {
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                let query = query.map(|q| format!("?{q}")).unwrap_or_default();
                format!("http://{host}{port}{path}{query}")
            })
    }

    /// The four values a client gets back, from a redirect's `Location` after the target.
    fn returned_params(location: &str, target: &str) -> [(String, String); 4] {
        let suffix = location[target.len()..].trim_start_matches(['?', '&']);
        let params = query::parse_strict(suffix).unwrap();
        let params: [(String, String); 4] = params.try_into().unwrap();
        let names = params.each_ref().map(|(name, _)| name.as_str());
        assert_eq!(names, ["key", "nonce", "payload", "state"]);
        params
    }

    proptest! {
        // Each case is an RSA-OAEP encryption and decryption with a 2048-bit key.
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn any_state_to_any_allowed_target_comes_back_with_the_token(
            target in allowed_target(),
            state in ".{0,24}",
            mode in prop::sample::select(vec![None, Some("query"), Some("form_post")]),
        ) {
            let mut q = query(&target, &state);
            if let Some(mode) = mode {
                q = with_mode(q, mode);
            }
            let [key, nonce, payload, returned] = match run_with(&q, Some(TOKEN)) {
                Outcome::Deliver { reply: Reply::Redirect { location }, .. } => {
                    let ipv6 = target.starts_with("http://[::1]");
                    prop_assert!(mode != Some("form_post") || ipv6);
                    prop_assert!(location.starts_with(&target), "{}", location);
                    returned_params(&location, &target)
                }
                Outcome::Deliver { reply: Reply::FormPost { action, fields, .. }, .. } => {
                    prop_assert_eq!(mode, Some("form_post"));
                    prop_assert_eq!(&action, &target);
                    let fields: Vec<_> =
                        fields.into_iter().map(|(n, v)| (n.to_string(), v)).collect();
                    fields.try_into().unwrap()
                }
                _ => return Err(TestCaseError::fail(format!("{target}: no redirect"))),
            };
            prop_assert_eq!(returned.1, state);
            let payload = decrypt(&key.1, &nonce.1, &payload.1);
            prop_assert_eq!(&payload["secret"], TOKEN);
        }
    }

    /// Any text, and allowed targets with one piece inserted that breaks them.
    fn refused_target() -> impl Strategy<Value = String> {
        let breaking = "[@#\\\\ \t\n\u{7f}é]|https|HTTP|/\\.\\.|:0|:65536";
        prop_oneof![
            ".{0,40}",
            (allowed_target(), breaking, any::<prop::sample::Index>()).prop_map(
                |(mut target, bad, at)| {
                    target.insert_str(at.index(target.len() + 1), &bad);
                    target
                }
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn a_refused_target_gets_no_redirect(target in refused_target()) {
            prop_assume!(target != OOB && redirect_target::check(&target, &[], None).is_err());
            let (reason, line) = invalid_line(run_with(&query(&target, "s"), Some(TOKEN)));
            prop_assert_eq!(reason, Rejection::Target);
            prop_assert!(line.starts_with("target: "), "{}", line);
        }
    }
}

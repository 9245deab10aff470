//! The token redirect flow (`GET /flow/redirect/token`) as a pure decision: from the decoded
//! query, the token and the allowed targets to an [`Outcome`]. No HTTP here: `routes` turns the
//! outcome into a response and counts it.
//!
//! Every parameter is checked before any crypto, in this order: parameters, key type, target,
//! public key, token; then the `/token` document is encrypted for the client's key.
//!
//! `responseMode` (optional) chooses how an encrypted token reaches a URL target: `query` (the
//! default, as the reference does) redirects with the values in the query; `form_post` (as
//! OpenID's Form Post Response Mode) shows a page whose form POSTs them, because gateways
//! limit the size of a redirect's `Location` header and tokens with many claims exceed it.

use std::time::SystemTime;

use crate::crypto::{self, CryptoError};
use crate::metrics::Rejection;
use crate::pubkey::{self, KeyType, ALLOWED_KEY_TYPES};
use crate::redirect_target::{self, AllowedPrefix, OOB};
use crate::token::TokenInfo;

/// The parameters the flow reads: the four required ones, then the optional `responseMode`.
const PARAMETERS: [&str; 5] = [
    "target",
    "state",
    "publicKeyType",
    "publicKey",
    "responseMode",
];
const REQUIRED: usize = 4;

/// What the flow decided.
pub enum Outcome {
    /// Send the browser to `location`: the target with `key`, `nonce`, `payload` and `state`.
    Redirect {
        location: String,
    },
    /// Show a page whose form POSTs `fields` (`key`, `nonce`, `payload`, `state`) to `action`,
    /// the target, whose `origin` the page's CSP allows as the form's only destination.
    FormPost {
        action: String,
        origin: String,
        fields: [(&'static str, String); 4],
    },
    /// Show the paste page with the armoured `block` and the key's verification `code`.
    Paste {
        block: String,
        code: String,
    },
    Refused(Refusal),
}

/// Why the flow said no. The reason's line is for the client; it never holds a secret.
pub enum Refusal {
    /// A client mistake, counted under its metrics reason; the line names the parameter.
    Invalid(Rejection, String),
    /// No header carried a token and there is no fallback.
    NoToken,
    /// Our side failed to encrypt; the client gets a vague line, the log the precise error.
    Encryption(CryptoError),
}

/// One flow request: the decoded query pairs in order and the token, if any was found.
pub struct FlowRequest<'a> {
    pub query: &'a [(String, String)],
    pub token: Option<&'a str>,
    pub allowed_targets: &'a [AllowedPrefix],
    pub now: SystemTime,
}

fn invalid(reason: Rejection, line: impl Into<String>) -> Refusal {
    Refusal::Invalid(reason, line.into())
}

pub fn run(request: &FlowRequest<'_>) -> Outcome {
    match decide(request) {
        Ok(outcome) => outcome,
        Err(refusal) => Outcome::Refused(refusal),
    }
}

fn decide(request: &FlowRequest<'_>) -> Result<Outcome, Refusal> {
    let mut values: [Option<&str>; PARAMETERS.len()] = [None; PARAMETERS.len()];
    for (name, value) in request.query {
        if let Some(i) = PARAMETERS.iter().position(|p| p == name) {
            if values[i].is_some() {
                return Err(invalid(
                    Rejection::Params,
                    format!("{name}: given more than once"),
                ));
            }
            values[i] = Some(value);
        }
    }
    let [Some(target), Some(state), Some(key_type), Some(public_key), response_mode] = values
    else {
        let missing: Vec<&str> = PARAMETERS[..REQUIRED]
            .iter()
            .zip(values)
            .filter(|(_, v)| v.is_none())
            .map(|(name, _)| *name)
            .collect();
        return Err(invalid(
            Rejection::Params,
            format!("Missing query parameters: {}", missing.join(", ")),
        ));
    };
    let form_post = match response_mode {
        None | Some("query") => false,
        Some("form_post") => true,
        Some(_) => {
            return Err(invalid(
                Rejection::Params,
                "responseMode: must be query or form_post",
            ))
        }
    };

    let key_type = KeyType::parse(key_type).ok_or_else(|| {
        invalid(
            Rejection::Key,
            format!(
                "publicKeyType: must be one of {}",
                ALLOWED_KEY_TYPES.join(", ")
            ),
        )
    })?;
    let checked_target = if target == OOB {
        None
    } else {
        let checked = redirect_target::check(target, request.allowed_targets)
            .map_err(|e| invalid(Rejection::Target, e.to_string()))?;
        Some(checked)
    };
    let public_key = pubkey::parse_public_key(key_type, public_key)
        .map_err(|e| invalid(Rejection::Key, e.to_string()))?;
    let secret = request.token.ok_or(Refusal::NoToken)?;

    let document = TokenInfo::new(secret, request.now).to_json();
    let sealed = crypto::seal(&public_key, &document).map_err(Refusal::Encryption)?;
    Ok(match checked_target {
        None => Outcome::Paste {
            block: crypto::paste_block(&sealed),
            code: pubkey::verification_code(&public_key),
        },
        Some(checked) => {
            let [key, nonce, payload] = crypto::redirect_params(&sealed);
            // A CSP source cannot name an IPv6 literal: such a target gets the redirect.
            if form_post && !checked.is_ipv6() {
                Outcome::FormPost {
                    action: checked.as_str().to_string(),
                    origin: checked.origin(),
                    fields: [key, nonce, payload, ("state", state.to_string())],
                }
            } else {
                let params = [
                    (key.0, key.1.as_str()),
                    (nonce.0, nonce.1.as_str()),
                    (payload.0, payload.1.as_str()),
                    ("state", state),
                ];
                Outcome::Redirect {
                    location: redirect_target::with_params(&checked, &params),
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query;
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
        run(&FlowRequest {
            query,
            token,
            allowed_targets: &[],
            now: SystemTime::now(),
        })
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
        let Outcome::Redirect { location } = outcome else {
            panic!("expected a redirect");
        };
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
            crate::token::fingerprint(TOKEN).as_str()
        );
    }

    #[test]
    fn paste_mode_gives_a_block_and_the_code() {
        let Outcome::Paste { block, code } = run_with(&query(OOB, ""), Some(TOKEN)) else {
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
            refusal(run_with(&query("http://127.0.0.1/", "s"), None)),
            Refusal::NoToken
        ));
    }

    fn with_mode(mut query: Vec<(String, String)>, mode: &str) -> Vec<(String, String)> {
        query.push(("responseMode".into(), mode.into()));
        query
    }

    #[test]
    fn form_post_carries_the_same_values_in_fields() {
        let q = with_mode(query("http://127.0.0.1:8765/cb?x=1", "s&t"), "form_post");
        let Outcome::FormPost {
            action,
            origin,
            fields,
        } = run_with(&q, Some(TOKEN))
        else {
            panic!("expected the form_post page");
        };
        assert_eq!(action, "http://127.0.0.1:8765/cb?x=1");
        assert_eq!(origin, "http://127.0.0.1:8765");
        let names = fields.each_ref().map(|(name, _)| *name);
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
            Outcome::Redirect { .. }
        ));
        let q = with_mode(query("http://[::1]:8765/cb", "s"), "form_post");
        assert!(matches!(
            run_with(&q, Some(TOKEN)),
            Outcome::Redirect { .. }
        ));
        let q = with_mode(query(OOB, "s"), "form_post");
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
        let outcome = run(&FlowRequest {
            query: &q,
            token: Some(TOKEN),
            allowed_targets: &allowed,
            now: SystemTime::now(),
        });
        assert!(
            matches!(outcome, Outcome::Redirect { location } if location.starts_with("https://hub.example.com/user/alice/cb?key="))
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
                Outcome::Redirect { location } => {
                    let ipv6 = target.starts_with("http://[::1]");
                    prop_assert!(mode != Some("form_post") || ipv6);
                    prop_assert!(location.starts_with(&target), "{}", location);
                    returned_params(&location, &target)
                }
                Outcome::FormPost { action, fields, .. } => {
                    prop_assert_eq!(mode, Some("form_post"));
                    prop_assert_eq!(&action, &target);
                    fields.map(|(name, value)| (name.to_string(), value))
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
            prop_assume!(target != OOB && redirect_target::check(&target, &[]).is_err());
            let (reason, line) = invalid_line(run_with(&query(&target, "s"), Some(TOKEN)));
            prop_assert_eq!(reason, Rejection::Target);
            prop_assert!(line.starts_with("target: "), "{}", line);
        }
    }
}

//! JWT `exp` and the `/token` document: mode 0 takes the text as the token; mode 1 makes the
//! bytes the claims of a JWT, so that they reach the JSON decoder. The document is valid JSON
//! with the secret and its fingerprint, and `expiresAt` exactly when `exp` decodes; taking the
//! token from an `Authorization` header finds a trimmed part of it.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use token2go::flow::token::{TokenInfo, claims_expiry, fingerprint, jwt_claims};
use token2go::fuzzing::rfc3339_unix;
use token2go::http::{Method, Request};
use token2go::server::config::Secret;
use token2go::server::token::TokenSource;

use super::{mode, text};

/// The target: a mode byte, then the token's text or its claims.
pub fn run(data: &[u8]) {
    let (mode, rest) = mode(data);
    let secret = match mode % 2 {
        0 => text(rest),
        _ => format!("e30.{}.c2ln", URL_SAFE_NO_PAD.encode(rest)),
    };
    // How the server reads `exp`: the claims decoded once, `exp` taken from them.
    let exp = jwt_claims(&secret).and_then(|claims| claims_expiry(&claims));
    if let Some(exp) = exp {
        assert!((0..=253_402_300_799).contains(&exp), "{exp}");
    }
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let info = TokenInfo::with(&secret, now, fingerprint(&secret), exp);
    let document: serde_json::Value = serde_json::from_slice(&info.to_json()).expect("valid JSON");
    assert_eq!(document["secret"].as_str(), Some(secret.as_str()));
    assert_eq!(
        document["fingerprint"].as_str(),
        Some(fingerprint(&secret).as_str())
    );
    let expires_at = exp.map(rfc3339_unix);
    assert_eq!(document["expiresAt"].as_str(), expires_at.as_deref());

    let source = TokenSource {
        header_names: vec!["Authorization".to_string()],
        fallback: Some(Secret::new("fallback".to_string())),
        user_header_names: Vec::new(),
        expiry_header_names: Vec::new(),
    };
    let request = request_with(vec![("authorization".to_string(), secret.clone())]);
    match source.extract(&request) {
        Some("fallback") => {}
        Some(found) => assert!(!found.is_empty() && secret.contains(found), "{found:?}"),
        None => panic!("the fallback is configured"),
    }
}

fn request_with(headers: Vec<(String, String)>) -> Request {
    Request {
        method: Method::Get,
        path: "/token".to_string(),
        query: String::new(),
        headers,
        peer: ([127, 0, 0, 1], 40000).into(),
        body: Vec::new(),
    }
}

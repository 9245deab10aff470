//! The decrypted token document, as the server's `/token` writes it: `timestamp`,
//! `fingerprint`, `secret` and, for a JWT with an expiry, `expiresAt`. Kept whole (fields a newer
//! server adds pass through to `--format json` and the cache) and in the server's field order.
//! No `Debug`, and the secret is wiped when the document is dropped.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroize;

use crate::flow::token::{Claims, claim_str, claims_expiry, jwt_claims};
use crate::time::{parse_rfc3339, rfc3339_unix};

#[derive(Serialize, Deserialize)]
pub(super) struct TokenDocument {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timestamp: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fingerprint: Option<Value>,
    secret: String,
    #[serde(rename = "expiresAt", default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<Value>,
    #[serde(flatten)]
    rest: Map<String, Value>,
    /// `expiresAt` was set by [`TokenDocument::apply_max_age`], not by the server.
    #[serde(skip)]
    max_age_applied: bool,
}

/// Why a document was refused; the caller words it for its context (callback or cache).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum DocumentError {
    NotAnObject,
    NoSecret,
}

impl TokenDocument {
    /// A document from the decrypted plaintext.
    pub(super) fn from_json(bytes: &[u8]) -> Result<TokenDocument, DocumentError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|_| DocumentError::NotAnObject)?;
        TokenDocument::from_value(value)
    }

    /// A document from a JSON value (the cache's `token`): an object with a non-empty string
    /// `secret`.
    pub(super) fn from_value(value: Value) -> Result<TokenDocument, DocumentError> {
        if !value.is_object() {
            return Err(DocumentError::NotAnObject);
        }
        if value["secret"].as_str().is_none_or(str::is_empty) {
            return Err(DocumentError::NoSecret);
        }
        serde_json::from_value(value).map_err(|_| DocumentError::NoSecret)
    }

    pub(super) fn secret(&self) -> &str {
        &self.secret
    }

    /// `expiresAt` as it came, for the ExecCredential's `expirationTimestamp`.
    pub(super) fn expires_at(&self) -> Option<&Value> {
        self.expires_at.as_ref()
    }

    /// `expiresAt` in seconds since the epoch; `None` when absent or not RFC 3339.
    pub(super) fn expires_at_unix(&self) -> Option<i64> {
        self.expires_at.as_ref()?.as_str().and_then(parse_rfc3339)
    }

    /// The server's clock at hand-out (`timestamp`), in seconds since the epoch.
    pub(super) fn timestamp_unix(&self) -> Option<i64> {
        self.timestamp.as_ref()?.as_str().and_then(parse_rfc3339)
    }

    /// The secret's claims when it is a JWT (decoded, never verified).
    fn claims(&self) -> Option<Claims> {
        jwt_claims(&self.secret)
    }

    /// The expiry to believe: `expiresAt`, but never later than the JWT's own `exp` (a cache
    /// entry is a file, and a file can be edited); the `exp` alone when there is no `expiresAt`.
    pub(super) fn expiry(&self) -> Option<i64> {
        let exp = self.claims().as_ref().and_then(claims_expiry);
        match (self.expires_at_unix(), exp) {
            (Some(at), Some(exp)) => Some(at.min(exp)),
            (at, exp) => at.or(exp),
        }
    }

    /// Who the token is for, when it is a JWT: `preferred_username`, else `email`, else `sub`.
    pub(super) fn user(&self) -> Option<String> {
        let claims = self.claims()?;
        ["preferred_username", "email", "sub"]
            .iter()
            .find_map(|name| claim_str(&claims, name))
            .map(|user| {
                user.chars()
                    .take(100)
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect()
            })
    }

    /// Gives a token without an expiry one, `--max-age` after receipt (seconds since the
    /// epoch, written as RFC 3339).
    pub(super) fn apply_max_age(&mut self, secs: i64) {
        self.expires_at = Some(Value::String(rfc3339_unix(secs)));
        self.max_age_applied = true;
    }

    pub(super) fn max_age_applied(&self) -> bool {
        self.max_age_applied
    }

    /// The document as one line of JSON.
    pub(super) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Drop for TokenDocument {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER_DOC: &str = r#"{"timestamp":"2026-01-01T00:00:00Z","fingerprint":"ab12","secret":"s3cr3t","expiresAt":"2026-01-01T01:00:00Z"}"#;

    #[test]
    fn keeps_the_server_document_as_it_came() {
        let doc = TokenDocument::from_json(SERVER_DOC.as_bytes()).unwrap();
        assert_eq!(doc.secret(), "s3cr3t");
        assert_eq!(doc.to_json(), SERVER_DOC);
        assert_eq!(doc.expires_at_unix(), Some(1_767_229_200));
        assert_eq!(doc.expires_at().unwrap(), "2026-01-01T01:00:00Z");
    }

    #[test]
    fn unknown_fields_pass_through_and_expiry_is_optional() {
        let text = r#"{"secret":"x","scope":["a"],"timestamp":"t"}"#;
        let doc = TokenDocument::from_json(text.as_bytes()).unwrap();
        assert_eq!(
            doc.to_json(),
            r#"{"timestamp":"t","secret":"x","scope":["a"]}"#
        );
        assert_eq!(doc.expires_at_unix(), None);
        let odd = TokenDocument::from_json(br#"{"secret":"x","expiresAt":12}"#).unwrap();
        assert_eq!(odd.expires_at_unix(), None);
        assert!(odd.expires_at().is_some());
    }

    #[test]
    fn refuses_documents_without_a_secret() {
        for text in [
            "",
            "[]",
            "\"secret\"",
            "{}",
            r#"{"secret":""}"#,
            r#"{"secret":5}"#,
            r#"{"secret":null}"#,
            "{\"secret\":\"x\"",
        ] {
            let refused = TokenDocument::from_json(text.as_bytes()).err();
            assert!(refused.is_some(), "{text}");
        }
        assert_eq!(
            TokenDocument::from_json(b"[1]").err(),
            Some(DocumentError::NotAnObject)
        );
        assert_eq!(
            TokenDocument::from_json(b"{\"secret\":\"\"}").err(),
            Some(DocumentError::NoSecret)
        );
    }

    fn jwt(claims: &str) -> String {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.c2ln", b64(r#"{"alg":"none"}"#), b64(claims))
    }

    #[test]
    fn the_jwt_exp_caps_a_later_expires_at_and_names_the_user() {
        let secret = jwt(r#"{"sub":"u1","email":"a@b","exp":1767229200}"#);
        let text = |at: &str| format!(r#"{{"secret":"{secret}","expiresAt":"{at}"}}"#);
        let later = TokenDocument::from_json(text("9999-01-01T00:00:00Z").as_bytes()).unwrap();
        assert_eq!(later.expiry(), Some(1_767_229_200));
        let earlier = TokenDocument::from_json(text("2026-01-01T00:00:00Z").as_bytes()).unwrap();
        assert_eq!(earlier.expiry(), Some(1_767_225_600));
        assert_eq!(later.user().as_deref(), Some("a@b"));
        let bare = format!(r#"{{"secret":"{secret}"}}"#);
        assert_eq!(
            TokenDocument::from_json(bare.as_bytes()).unwrap().expiry(),
            Some(1_767_229_200)
        );
        let named = jwt(r#"{"preferred_username":"alice","sub":"u1"}"#);
        let doc = TokenDocument::from_json(format!(r#"{{"secret":"{named}"}}"#).as_bytes());
        assert_eq!(doc.unwrap().user().as_deref(), Some("alice"));
        let mut opaque = TokenDocument::from_json(br#"{"secret":"opaque"}"#).unwrap();
        assert_eq!((opaque.expiry(), opaque.user()), (None, None));
        opaque.apply_max_age(1_767_225_900);
        assert!(opaque.max_age_applied());
        assert_eq!(opaque.expiry(), Some(1_767_225_900));
        assert!(
            opaque
                .to_json()
                .contains(r#""expiresAt":"2026-01-01T00:05:00Z""#)
        );
    }
}

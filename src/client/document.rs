//! The decrypted token document, as the server's `/token` writes it: `timestamp`,
//! `fingerprint`, `secret` and, for a JWT with an expiry, `expiresAt`. Kept whole (fields a newer
//! server adds pass through to `--format json` and the cache) and in the server's field order.
//! No `Debug`, and the secret is wiped when the document is dropped.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroize;

use crate::time::parse_rfc3339;

#[derive(Serialize, Deserialize)]
pub struct TokenDocument {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timestamp: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fingerprint: Option<Value>,
    secret: String,
    #[serde(rename = "expiresAt", default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<Value>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// Why a document was refused; the caller words it for its context (callback or cache).
#[derive(Debug, PartialEq, Eq)]
pub enum DocumentError {
    NotAnObject,
    NoSecret,
}

impl TokenDocument {
    /// A document from the decrypted plaintext.
    pub fn from_json(bytes: &[u8]) -> Result<TokenDocument, DocumentError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|_| DocumentError::NotAnObject)?;
        TokenDocument::from_value(value)
    }

    /// A document from a JSON value (the cache's `token`): an object with a non-empty string
    /// `secret`.
    pub fn from_value(value: Value) -> Result<TokenDocument, DocumentError> {
        if !value.is_object() {
            return Err(DocumentError::NotAnObject);
        }
        if value["secret"].as_str().is_none_or(str::is_empty) {
            return Err(DocumentError::NoSecret);
        }
        serde_json::from_value(value).map_err(|_| DocumentError::NoSecret)
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// `expiresAt` as it came, for the ExecCredential's `expirationTimestamp`.
    pub fn expires_at(&self) -> Option<&Value> {
        self.expires_at.as_ref()
    }

    /// `expiresAt` in seconds since the epoch; `None` when absent or not RFC 3339.
    pub fn expires_at_unix(&self) -> Option<i64> {
        self.expires_at.as_ref()?.as_str().and_then(parse_rfc3339)
    }

    /// The document as one line of JSON.
    pub fn to_json(&self) -> String {
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
}

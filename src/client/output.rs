//! The result line on stdout, in the chosen format. The only place the secret is written.

use serde_json::{Value, json};

use crate::client::document::TokenDocument;
use crate::client::options::Format;

/// What kubectl gets when it does not say which version it wants.
pub(super) const DEFAULT_EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1";

/// The result line, without its newline. `exec_info` is `KUBERNETES_EXEC_INFO`: kubectl puts the
/// `ExecCredential` version it expects in its `apiVersion`.
pub(super) fn render(doc: &TokenDocument, format: Format, exec_info: Option<&str>) -> String {
    match format {
        Format::Token => doc.secret().to_string(),
        Format::Json => doc.to_json(),
        Format::Header => format!("Authorization: Bearer {}", doc.secret()),
        Format::ExecCredential => {
            let mut status = json!({ "token": doc.secret() });
            if let Some(expires_at) = doc.expires_at() {
                status["expirationTimestamp"] = expires_at.clone();
            }
            json!({
                "apiVersion": exec_api_version(exec_info),
                "kind": "ExecCredential",
                "status": status,
            })
            .to_string()
        }
    }
}

fn exec_api_version(exec_info: Option<&str>) -> String {
    exec_info
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|info| info["apiVersion"].as_str().map(str::to_string))
        .filter(|version| !version.is_empty())
        .unwrap_or_else(|| DEFAULT_EXEC_API_VERSION.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> TokenDocument {
        TokenDocument::from_json(text.as_bytes()).unwrap()
    }

    const WITH_EXPIRY: &str = r#"{"timestamp":"2026-01-01T00:00:00Z","fingerprint":"f","secret":"tok","expiresAt":"2026-01-01T01:00:00Z"}"#;

    #[test]
    fn each_format() {
        let d = doc(WITH_EXPIRY);
        assert_eq!(render(&d, Format::Token, None), "tok");
        assert_eq!(render(&d, Format::Json, None), WITH_EXPIRY);
        assert_eq!(
            render(&d, Format::Header, None),
            "Authorization: Bearer tok"
        );
        let credential: Value =
            serde_json::from_str(&render(&d, Format::ExecCredential, None)).unwrap();
        assert_eq!(
            credential,
            json!({
                "apiVersion": "client.authentication.k8s.io/v1",
                "kind": "ExecCredential",
                "status": {"token": "tok", "expirationTimestamp": "2026-01-01T01:00:00Z"},
            })
        );
        for format in [
            Format::Token,
            Format::Json,
            Format::Header,
            Format::ExecCredential,
        ] {
            assert!(!render(&d, format, None).contains('\n'));
        }
    }

    #[test]
    fn exec_credential_follows_kubectl_and_omits_a_missing_expiry() {
        let d = doc(r#"{"secret":"tok"}"#);
        let info = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":true}}"#;
        let credential: Value =
            serde_json::from_str(&render(&d, Format::ExecCredential, Some(info))).unwrap();
        assert_eq!(
            credential,
            json!({
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "kind": "ExecCredential",
                "status": {"token": "tok"},
            })
        );
        for junk in [
            "",
            "not json",
            "[]",
            r#"{"apiVersion":""}"#,
            r#"{"apiVersion":3}"#,
        ] {
            assert_eq!(
                exec_api_version(Some(junk)),
                DEFAULT_EXEC_API_VERSION,
                "{junk}"
            );
        }
    }
}

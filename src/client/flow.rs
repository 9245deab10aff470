//! The client's side of the token redirect flow, without I/O: the run's key pair, the flow URL,
//! and opening what comes back (the callback's four fields, or a pasted block).
//!
//! - Key: RSA (2048, 3072 or 4096 bits) from the OS random source, sent as SubjectPublicKeyInfo
//!   PEM (`rsa<bits>-rfc5280-x509-pem`).
//! - Random path and state: base64url without padding of 16 and 32 random bytes.
//! - Opening: the `state` compared in constant time first, then [`crate::flow::crypto::open`]
//!   (RSA-OAEP-SHA-256 unwraps the AES-256-GCM key of the payload).

use ctutils::CtEq;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use zeroize::Zeroizing;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::client::document::{DocumentError, TokenDocument};
use crate::client::error::ClientError;
use crate::flow::crypto::{self, CryptoError, Sealed};
use crate::flow::pubkey::{self, PublicKey};
use crate::flow::query;
use crate::text::{Spaces, printable};

/// The paste-mode target: the server shows the encrypted result instead of sending it anywhere.
pub(super) const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";
/// The four fields of a callback, in the order an error lists missing ones.
const FIELDS: [&str; 4] = ["key", "nonce", "payload", "state"];

/// The run's key pair. No `Debug` and no export: the private key never leaves this process's
/// memory, and the rsa crate wipes it when the pair is dropped.
pub(super) struct ClientKey {
    private: rsa::PrivateKey,
    public: PublicKey,
}

impl ClientKey {
    pub(super) fn generate(bits: usize) -> Result<ClientKey, ClientError> {
        let private = rsa::PrivateKey::new(&mut getrandom::SysRng, bits)
            .map_err(ClientError::KeyGeneration)?;
        let public = PublicKey::from_rsa(private.to_public_key())
            .map_err(|_| ClientError::KeyGeneration(rsa::Error::InvalidModulus))?;
        Ok(ClientKey { private, public })
    }

    pub(super) fn bits(&self) -> usize {
        self.public.bits()
    }

    /// The public key as SubjectPublicKeyInfo PEM, LF line endings.
    fn public_pem(&self) -> String {
        self.public
            .rsa()
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// `XXXX-XXXX`, as the paste page shows it.
    pub(super) fn verification_code(&self) -> String {
        pubkey::verification_code(&self.public)
    }

    /// Decrypts a response made for this key and reads the document in it.
    pub(super) fn open(&self, sealed: &Sealed) -> Result<TokenDocument, ClientError> {
        let plaintext =
            Zeroizing::new(crypto::open(&self.private, sealed).map_err(|_| ClientError::Decrypt)?);
        TokenDocument::from_json(&plaintext).map_err(|error| {
            ClientError::Document(match error {
                DocumentError::NotAnObject => "is not a JSON object",
                DocumentError::NoSecret => "carries no secret",
            })
        })
    }
}

/// base64url without padding of `len` random bytes.
pub(super) fn random_text(len: usize) -> Result<String, ClientError> {
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    crypto::random_bytes(&mut bytes).map_err(|_| ClientError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(&*bytes))
}

/// `SERVER/flow/redirect/token?target=…&state=…&publicKeyType=…&publicKey=…[&responseMode=…]`,
/// every value percent-encoded but for RFC 3986's unreserved characters.
pub(super) fn flow_url(
    server: &str,
    target: &str,
    state: &str,
    key: &ClientKey,
    response_mode: Option<&str>,
) -> String {
    let key_type = format!("rsa{}-rfc5280-x509-pem", key.bits());
    let pem = key.public_pem();
    let mut params = vec![
        ("target", target),
        ("state", state),
        ("publicKeyType", key_type.as_str()),
        ("publicKey", pem.as_str()),
    ];
    if let Some(mode) = response_mode {
        params.push(("responseMode", mode));
    }
    let query: Vec<String> = params
        .iter()
        .map(|(name, value)| format!("{name}={}", query::percent_encode(value)))
        .collect();
    format!("{server}/flow/redirect/token?{}", query.join("&"))
}

/// Opens a callback's decoded fields: all four present (the last value of a repeated one wins),
/// `state` equal to ours, then decryption. A callback with `error` is the server's flow error
/// (RFC 6749 §4.1.2.1): its `state` is checked the same way, then it fails the run with the
/// server's description.
pub(super) fn open_callback(
    key: &ClientKey,
    state: &str,
    fields: &[(String, String)],
) -> Result<TokenDocument, ClientError> {
    let last = |name: &str| {
        fields
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(code) = last("error") {
        let ours =
            last("state").is_some_and(|got| bool::from(got.as_bytes().ct_eq(state.as_bytes())));
        if !ours {
            return Err(ClientError::State);
        }
        return Err(ClientError::Refused {
            code: printable(code, 64, Spaces::Keep),
            description: printable(
                last("error_description").unwrap_or("no description"),
                300,
                Spaces::Keep,
            ),
        });
    }
    let missing: Vec<&str> = FIELDS.into_iter().filter(|f| last(f).is_none()).collect();
    if !missing.is_empty() {
        return Err(ClientError::Callback(format!(
            "the callback lacks {}",
            missing.join(", ")
        )));
    }
    let (key_b64, nonce, payload, got_state) = (
        last("key").unwrap_or_default(),
        last("nonce").unwrap_or_default(),
        last("payload").unwrap_or_default(),
        last("state").unwrap_or_default(),
    );
    if !bool::from(got_state.as_bytes().ct_eq(state.as_bytes())) {
        return Err(ClientError::State);
    }
    let sealed = crypto::sealed_from_params(key_b64, nonce, payload).map_err(|error| {
        ClientError::Callback(match error {
            CryptoError::Format(reason) => format!("the callback's values are malformed: {reason}"),
            _ => "the callback's values are malformed".into(),
        })
    })?;
    key.open(&sealed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::pubkey::{KeyType, parse_public_key};
    use crate::flow::query::parse_strict;
    use base64::engine::general_purpose::STANDARD;
    use std::sync::OnceLock;

    fn key() -> &'static ClientKey {
        static KEY: OnceLock<ClientKey> = OnceLock::new();
        KEY.get_or_init(|| ClientKey::generate(2048).unwrap())
    }

    const DOC: &[u8] = br#"{"timestamp":"t","fingerprint":"f","secret":"the-secret"}"#;

    fn sealed_fields(state: &str, plaintext: &[u8]) -> Vec<(String, String)> {
        let sealed = crypto::seal(&key().public, plaintext).unwrap();
        let mut fields: Vec<(String, String)> = crypto::redirect_params(&sealed)
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect();
        fields.push(("state".into(), state.into()));
        fields
    }

    #[test]
    fn generated_keys_have_the_size_asked_for() {
        for bits in [2048, 3072] {
            let key = ClientKey::generate(bits).unwrap();
            assert_eq!(key.bits(), bits);
            let pem = key.public_pem();
            assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
            let kind = KeyType::parse(&format!("rsa{bits}-rfc5280-x509-pem")).unwrap();
            let parsed = parse_public_key(kind, &pem).unwrap();
            assert_eq!(pubkey::verification_code(&parsed), key.verification_code());
        }
    }

    #[test]
    fn flow_url_encodes_every_value() {
        let url = flow_url(
            "https://corp.example/t2g",
            "http://127.0.0.1:5000/abc",
            "st-_~.",
            key(),
            Some("form_post"),
        );
        let (base, query) = url.split_once('?').unwrap();
        assert_eq!(base, "https://corp.example/t2g/flow/redirect/token");
        assert!(query.starts_with("target=http%3A%2F%2F127.0.0.1%3A5000%2Fabc&state=st-_~.&"));
        assert!(query.contains(
            "&publicKeyType=rsa2048-rfc5280-x509-pem&publicKey=-----BEGIN%20PUBLIC%20KEY-----%0A"
        ));
        assert!(query.ends_with("&responseMode=form_post"));
        assert!(!query.contains('+') && !query.contains('/') && !query.contains('\n'));
        let decoded = parse_strict(query).unwrap();
        assert_eq!(decoded[3].1, key().public_pem());
        assert_eq!(decoded.len(), 5);
        let plain = flow_url("http://h", OOB, "s", key(), None);
        assert!(plain.contains("target=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob&"));
        assert!(!plain.contains("responseMode"));
    }

    #[test]
    fn random_text_is_base64url_of_the_length_asked_for() {
        let a = random_text(32).unwrap();
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(a, random_text(32).unwrap());
        assert_eq!(random_text(16).unwrap().len(), 22);
    }

    #[test]
    fn opens_a_callback_made_for_its_key() {
        let fields = sealed_fields("our-state", DOC);
        let doc = open_callback(key(), "our-state", &fields).unwrap();
        assert_eq!(doc.secret(), "the-secret");
    }

    #[test]
    fn the_last_value_of_a_repeated_field_wins() {
        let mut fields = vec![
            ("state".to_string(), "wrong".to_string()),
            ("key".to_string(), "junk".to_string()),
        ];
        fields.extend(sealed_fields("our-state", DOC));
        assert_eq!(
            open_callback(key(), "our-state", &fields).unwrap().secret(),
            "the-secret"
        );
        fields.push(("state".into(), "late".into()));
        assert!(matches!(
            open_callback(key(), "our-state", &fields),
            Err(ClientError::State)
        ));
    }

    #[test]
    fn refuses_a_wrong_state_before_anything_else() {
        let mut fields = sealed_fields("other-state", DOC);
        fields[0].1 = "not base64!".into();
        let error = open_callback(key(), "our-state", &fields).err().unwrap();
        assert!(matches!(error, ClientError::State));
        assert!(error.to_string().contains("state"));
        let fields = sealed_fields("our-state-but-longer", DOC);
        assert!(matches!(
            open_callback(key(), "our-state", &fields),
            Err(ClientError::State)
        ));
        let fields = sealed_fields("", DOC);
        assert!(matches!(
            open_callback(key(), "our-state", &fields),
            Err(ClientError::State)
        ));
    }

    #[test]
    fn names_missing_fields_and_refuses_bad_values() {
        let error = open_callback(key(), "s", &[("state".into(), "s".into())])
            .err()
            .unwrap();
        assert_eq!(error.to_string(), "the callback lacks key, nonce, payload");
        let error = open_callback(key(), "s", &[]).err().unwrap();
        assert_eq!(
            error.to_string(),
            "the callback lacks key, nonce, payload, state"
        );
        let mut fields = sealed_fields("s", DOC);
        fields[1].1 = "AAAA".into();
        let error = open_callback(key(), "s", &fields).err().unwrap();
        assert_eq!(
            error.to_string(),
            "the callback's values are malformed: nonce is not 12 bytes"
        );
    }

    #[test]
    fn refuses_what_was_not_made_for_this_key() {
        let other = ClientKey::generate(2048).unwrap();
        let sealed = crypto::seal(&other.public, DOC).unwrap();
        assert!(matches!(key().open(&sealed), Err(ClientError::Decrypt)));
        let mut fields = sealed_fields("s", DOC);
        let mut payload = STANDARD.decode(&fields[2].1).unwrap();
        payload[0] ^= 1;
        fields[2].1 = STANDARD.encode(payload);
        let error = open_callback(key(), "s", &fields).err().unwrap();
        assert!(matches!(error, ClientError::Decrypt), "{error}");
        assert!(matches!(
            open_callback(key(), "s", &sealed_fields("s", b"not json")),
            Err(ClientError::Document("is not a JSON object"))
        ));
        assert!(matches!(
            open_callback(key(), "s", &sealed_fields("s", br#"{"secret":""}"#)),
            Err(ClientError::Document("carries no secret"))
        ));
    }

    #[test]
    fn a_flow_error_with_our_state_fails_the_run_with_the_description() {
        let fields = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let error = open_callback(
            key(),
            "s",
            &fields(&[
                ("error", "no_token"),
                (
                    "error_description",
                    "the gateway passed no access token\u{1b}[2J",
                ),
                ("state", "s"),
            ]),
        )
        .err()
        .unwrap();
        assert_eq!(
            error.to_string(),
            "the server could not hand out a token: the gateway passed no access token?[2J \
             (no_token)"
        );
        for state in [&[("state", "other")][..], &[]] {
            let mut pairs = vec![("error", "no_token")];
            pairs.extend_from_slice(state);
            assert!(matches!(
                open_callback(key(), "s", &fields(&pairs)),
                Err(ClientError::State)
            ));
        }
    }
}

//! The token's facts the flow and both programs share: the `/token` document, the fingerprint,
//! the JWT claims (decoded, never verified) and their `exp`.

use std::time::SystemTime;

use base64::Engine;
use rsa::sha2::{Digest, Sha512_256};
use serde::Serialize;

use crate::text::lower_hex;
use crate::time::{rfc3339, rfc3339_unix};

/// Salt the reference prepends before hashing, kept so fingerprints stay comparable.
const FINGERPRINT_SALT: &str = "03c49494-c1f3-4b3c-a9e3-28b1c4e42177";

/// Decoded JWT claims.
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// The JSON object `/token` returns and the flow encrypts. No `Debug`: it holds the secret.
#[derive(Serialize)]
pub struct TokenInfo<'a> {
    /// When the document was made (RFC 3339).
    pub timestamp: String,
    /// The token's fingerprint ([`fingerprint`]).
    pub fingerprint: String,
    /// The access token itself.
    pub secret: &'a str,
    #[serde(rename = "expiresAt", skip_serializing_if = "Option::is_none")]
    /// The token's expiry (RFC 3339), when known.
    pub expires_at: Option<String>,
}

impl<'a> TokenInfo<'a> {
    /// Works out the fingerprint and `exp` itself: the tests' shorthand (the server has them
    /// already, from the audit line's work).
    #[cfg(test)]
    pub fn new(secret: &'a str, now: SystemTime) -> TokenInfo<'a> {
        TokenInfo::with(secret, now, fingerprint(secret), jwt_expiry(secret))
    }

    /// With the fingerprint and the JWT's `exp` already known (the caller needed them too).
    pub fn with(
        secret: &'a str,
        now: SystemTime,
        fingerprint: String,
        expiry: Option<i64>,
    ) -> TokenInfo<'a> {
        TokenInfo {
            timestamp: rfc3339(now, false),
            fingerprint,
            secret,
            expires_at: expiry.map(rfc3339_unix),
        }
    }

    /// The document as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Sized for the whole document, so it is written without growing.
        let mut out = Vec::with_capacity(160 + self.secret.len());
        // Serializing plain strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, self);
        out
    }
}

/// Lower-case hex of SHA-512/256 over the salt followed by the secret, as the reference does.
pub fn fingerprint(secret: &str) -> String {
    let mut hasher = Sha512_256::new();
    hasher.update(FINGERPRINT_SALT.as_bytes());
    hasher.update(secret.as_bytes());
    lower_hex(&hasher.finalize())
}

/// Latest `exp` this server renders: 9999-12-31T23:59:59Z.
pub(crate) const MAX_EXP: i64 = 253_402_300_799;

/// The claims of a JWS-compact JWT, decoded but never verified. Anything that is not a
/// three-part token with a JSON object payload gives `None`.
pub fn jwt_claims(secret: &str) -> Option<Claims> {
    let mut parts = secret.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || payload.len() > 64 * 1024 {
        return None;
    }
    let payload = payload.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// A claim that is a non-blank string.
pub fn claim_str<'a>(claims: &'a Claims, name: &str) -> Option<&'a str> {
    claims
        .get(name)?
        .as_str()
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The numeric `exp` claim of a JWS-compact JWT, decoded but never verified. The server
/// decodes the claims once per request and reads them with [`claims_expiry`].
#[cfg(test)]
pub fn jwt_expiry(secret: &str) -> Option<i64> {
    claims_expiry(&jwt_claims(secret)?)
}

/// The numeric `exp` of decoded claims, within what this server renders.
pub fn claims_expiry(claims: &Claims) -> Option<i64> {
    let exp = claims.get("exp")?;
    let seconds = match (exp.as_i64(), exp.as_f64()) {
        (Some(i), _) => i,
        (None, Some(f)) if f.is_finite() => f.floor() as i64,
        _ => return None,
    };
    (0..=MAX_EXP).contains(&seconds).then_some(seconds)
}

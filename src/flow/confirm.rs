//! The `confirm` value of the flow's warning page: proof that the person the token belongs to
//! pressed the button on that page for exactly this request.
//!
//! A fixed `confirm=1` would not do: a phishing link could carry it and skip the warning. The
//! value is HMAC-SHA256 (RFC 2104) keyed with the token itself over the request's parameters,
//! truncated to 128 bits and written as unpadded base64url (22 characters). Whoever sends the
//! link does not hold the victim's token, so cannot make the value; it needs no server secret,
//! so it holds across restarts and replicas; it changes with the key, target and state, so a
//! value seen once fits no other request.

use base64::Engine;
use ctutils::CtEq;
use hmac::{Hmac, KeyInit, Mac};
use rsa::sha2::Sha256;

/// Separates this use of the token from any other hash of it.
const LABEL: &[u8] = b"token2go flow confirmation v1";
const TRUNCATED: usize = 16;

/// HMAC-SHA256 of `message` under `key` (RFC 2104), from the `hmac` crate `rsa` already links.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The confirmation value for `fields` (the flow's parameters, in a fixed order), keyed with
/// the token. Each field is length-prefixed so that no two lists share an encoding.
pub(crate) fn value(token: &str, fields: &[&str]) -> String {
    let mut message = LABEL.to_vec();
    for field in fields {
        message.extend_from_slice(&(field.len() as u64).to_be_bytes());
        message.extend_from_slice(field.as_bytes());
    }
    let mac = hmac_sha256(token.as_bytes(), &message);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac[..TRUNCATED])
}

/// Whether `given` is the confirmation value for this token and these fields; compares in
/// constant time.
pub(crate) fn matches(given: &str, token: &str, fields: &[&str]) -> bool {
    let want = value(token, fields);
    bool::from(given.as_bytes().ct_eq(want.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::lower_hex as hex;

    /// RFC 4231 test cases 1, 2 and 6 (a key longer than the block).
    #[test]
    fn hmac_known_answers() {
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn value_depends_on_token_and_every_field() {
        let fields = ["urn:ietf:wg:oauth:2.0:oob", "state", "rsa2048", "PEM", ""];
        let v = value("alice-token", &fields);
        assert_eq!(v.len(), 22);
        assert!(
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(v, value("alice-token", &fields));
        assert_ne!(v, value("mallory-token", &fields));
        for i in 0..fields.len() {
            let mut other = fields;
            other[i] = "x";
            assert_ne!(v, value("alice-token", &other), "field {i}");
        }
        // Length prefixes: moving a byte between fields changes the value.
        assert_ne!(value("t", &["ab", "c"]), value("t", &["a", "bc"]));
        assert!(matches(&v, "alice-token", &fields));
        assert!(!matches(&v, "mallory-token", &fields));
        assert!(!matches("1", "alice-token", &fields));
        assert!(!matches("", "alice-token", &fields));
    }
}

//! RSA public keys of the token redirect flow: the `publicKeyType` table, strict PEM/DER
//! parsing of what the client sends, and the verification code shown to the user.
//!
//! - Public key: RSA, modulus of exactly 2048, 3072 or 4096 bits, sent as PEM, either
//!   `PUBLIC KEY` (SubjectPublicKeyInfo, RFC 5280 §4.1.2.7, algorithm `rsaEncryption`
//!   1.2.840.113549.1.1.1 with NULL parameters) or `RSA PUBLIC KEY` (PKCS#1 `RSAPublicKey`,
//!   RFC 8017 Appendix A.1.1). PEM read as RFC 7468 §3 lets a parser (any line length, any
//!   whitespace, text around the block ignored), its base64 and labels strictly; DER strictly
//!   (X.690).
//! - Verification code: SHA-256 (FIPS 180-4) of the DER SubjectPublicKeyInfo, RFC 4648
//!   base32 (upper case, no padding), first 8 characters, shown as `XXXX-XXXX`.
//!
//! One idea per file:
//! - `key_type`: the `publicKeyType` table and the two PEM forms;
//! - `pem`: one PEM block read as RFC 7468 §3 lets a parser;
//! - `parse`: the block's DER read strictly as an RSA public key of the declared size;
//! - `key`: an accepted key and its verification code;
//! - `error`: why a key was refused.

mod error;
mod key;
mod key_type;
mod parse;
mod pem;

pub use error::KeyError;
pub use key::{PublicKey, verification_code};
pub use key_type::{ALLOWED_KEY_TYPES, KeyForm, KeyType};
pub use parse::parse_public_key;
pub use pem::MAX_PEM_LEN;

/// Keys in PEM, and the reason of a `Malformed` refusal, for the tests of this folder.
#[cfg(test)]
mod testing {
    use super::{KeyError, KeyForm, KeyType, parse_public_key};
    use crate::test_keys::private_key;
    use rsa::pkcs1::{EncodeRsaPublicKey, LineEnding};
    use rsa::pkcs8::EncodePublicKey;

    pub(super) fn pem(bits: usize, form: KeyForm) -> String {
        let public = private_key(bits).to_public_key();
        match form {
            KeyForm::Spki => public.to_public_key_pem(LineEnding::LF).unwrap(),
            KeyForm::Pkcs1 => public.to_pkcs1_pem(LineEnding::LF).unwrap(),
        }
    }

    pub(super) fn malformed_reason(kind: KeyType, text: &str) -> &'static str {
        match parse_public_key(kind, text) {
            Err(KeyError::Malformed { reason, .. }) => reason,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }
}

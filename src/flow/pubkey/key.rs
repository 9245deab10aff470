//! An accepted RSA public key, and the verification code the user compares.

use rsa::pkcs8::EncodePublicKey;
use rsa::sha2::{Digest, Sha256};
use rsa::traits::PublicKeyParts;
use std::fmt;

use super::KeyError;

/// An accepted RSA public key and its DER SubjectPublicKeyInfo.
#[derive(Clone)]
pub struct PublicKey {
    key: rsa::PublicKey,
    spki_der: Vec<u8>,
}

impl PublicKey {
    /// Wraps a key the caller made itself (the client); refuses sizes other than 2048/3072/4096.
    pub fn from_rsa(key: rsa::PublicKey) -> Result<PublicKey, KeyError> {
        let bits = key.n().bit_width_vartime() as usize;
        if bits < 2048 {
            return Err(KeyError::TooSmall { bits });
        }
        if ![2048, 3072, 4096].contains(&bits) {
            return Err(KeyError::UnsupportedSize { bits });
        }
        let spki_der = key
            .to_public_key_der()
            .map_err(|_| KeyError::NotRsa)?
            .into_vec();
        Ok(PublicKey { key, spki_der })
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.key.n().bit_width_vartime() as usize
    }

    /// The key for RSA-OAEP.
    pub fn rsa(&self) -> &rsa::PublicKey {
        &self.key
    }

    /// DER SubjectPublicKeyInfo, whichever PEM form the key arrived in.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublicKey(rsa{}, {})",
            self.bits(),
            verification_code(self)
        )
    }
}

/// `XXXX-XXXX`: the first 8 base32 characters of SHA-256 over the DER SubjectPublicKeyInfo.
pub fn verification_code(public_key: &PublicKey) -> String {
    let code = base32(&Sha256::digest(&public_key.spki_der));
    format!("{}-{}", &code[0..4], &code[4..8])
}

/// RFC 4648 §6 base32, upper case, without padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u16, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[usize::from((buffer >> bits) & 31)] as char);
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[usize::from((buffer << (5 - bits)) & 31)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::pubkey::{KeyType, parse_public_key};
    use crate::test_keys::{FIXED_2048, FIXED_2048_CODE};
    use rsa::pkcs1::{EncodeRsaPublicKey, LineEnding};

    #[test]
    fn verification_code_known_answer() {
        let spki = parse_public_key(KeyType::Rsa2048X509, FIXED_2048).unwrap();
        assert_eq!(verification_code(&spki), FIXED_2048_CODE);
        let pkcs1 = spki.rsa().to_pkcs1_pem(LineEnding::CRLF).unwrap();
        let key = parse_public_key(KeyType::Rsa2048Pksc1, &pkcs1).unwrap();
        assert_eq!(verification_code(&key), FIXED_2048_CODE);
        assert_eq!(format!("{key:?}"), "PublicKey(rsa2048, 4UFN-JXJY)");
    }

    #[test]
    fn base32_rfc4648_vectors() {
        // RFC 4648 §10, with the padding removed.
        for (input, want) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), want);
        }
        assert_eq!(base32(&[0xff; 5]), "77777777");
        assert_eq!(base32(&[0; 5]), "AAAAAAAA");
    }
}

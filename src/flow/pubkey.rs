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

use base64::Engine;
use rsa::pkcs1::{DecodeRsaPublicKey, RsaPublicKeyRef};
use rsa::pkcs8::der::Decode;
use rsa::pkcs8::{EncodePublicKey, SubjectPublicKeyInfoRef};
use rsa::sha2::{Digest, Sha256};
use rsa::traits::PublicKeyParts;
use std::fmt;

/// Largest accepted PEM text; a 4096-bit SPKI key in PEM with CRLF is about 820 bytes.
pub const MAX_PEM_LEN: usize = 4096;

/// The two PEM forms of an RSA public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyForm {
    /// `-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo (RFC 5280).
    Spki,
    /// `-----BEGIN RSA PUBLIC KEY-----`, PKCS#1 RSAPublicKey (RFC 8017).
    Pkcs1,
}

impl KeyForm {
    /// The label of its PEM block.
    pub fn pem_label(self) -> &'static str {
        match self {
            KeyForm::Spki => "PUBLIC KEY",
            KeyForm::Pkcs1 => "RSA PUBLIC KEY",
        }
    }

    fn name(self) -> &'static str {
        match self {
            KeyForm::Spki => "SubjectPublicKeyInfo",
            KeyForm::Pkcs1 => "PKCS#1",
        }
    }
}

/// The accepted values of `publicKeyType`. `Pksc1` is the reference's spelling, `Pkcs1` the alias.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// `rsa2048-rfc5280-x509-pem`.
    Rsa2048X509,
    /// 2048 bits, PKCS #1, under the reference's misspelled name (`pksc1`).
    Rsa2048Pksc1,
    /// 2048 bits, PKCS #1.
    Rsa2048Pkcs1,
    /// `rsa3072-rfc5280-x509-pem`.
    Rsa3072X509,
    /// 3072 bits, PKCS #1, under the reference's misspelled name (`pksc1`).
    Rsa3072Pksc1,
    /// 3072 bits, PKCS #1.
    Rsa3072Pkcs1,
    /// `rsa4096-rfc5280-x509-pem`.
    Rsa4096X509,
    /// 4096 bits, PKCS #1, under the reference's misspelled name (`pksc1`).
    Rsa4096Pksc1,
    /// 4096 bits, PKCS #1.
    Rsa4096Pkcs1,
}

/// Every accepted `publicKeyType`, for the error message listing them.
pub const ALLOWED_KEY_TYPES: &[&str] = &[
    "rsa2048-rfc5280-x509-pem",
    "rsa2048-rfc8017-pksc1-pem",
    "rsa2048-rfc8017-pkcs1-pem",
    "rsa3072-rfc5280-x509-pem",
    "rsa3072-rfc8017-pksc1-pem",
    "rsa3072-rfc8017-pkcs1-pem",
    "rsa4096-rfc5280-x509-pem",
    "rsa4096-rfc8017-pksc1-pem",
    "rsa4096-rfc8017-pkcs1-pem",
];

const KEY_TYPES: [KeyType; 9] = [
    KeyType::Rsa2048X509,
    KeyType::Rsa2048Pksc1,
    KeyType::Rsa2048Pkcs1,
    KeyType::Rsa3072X509,
    KeyType::Rsa3072Pksc1,
    KeyType::Rsa3072Pkcs1,
    KeyType::Rsa4096X509,
    KeyType::Rsa4096Pksc1,
    KeyType::Rsa4096Pkcs1,
];

impl KeyType {
    /// Exact, case-sensitive match against [`ALLOWED_KEY_TYPES`].
    pub fn parse(value: &str) -> Option<KeyType> {
        KEY_TYPES.into_iter().find(|kind| kind.as_str() == value)
    }

    /// The `publicKeyType` value.
    pub fn as_str(self) -> &'static str {
        ALLOWED_KEY_TYPES[self as usize]
    }

    /// The exact modulus size in bits.
    pub fn bits(self) -> usize {
        use KeyType::*;
        match self {
            Rsa2048X509 | Rsa2048Pksc1 | Rsa2048Pkcs1 => 2048,
            Rsa3072X509 | Rsa3072Pksc1 | Rsa3072Pkcs1 => 3072,
            Rsa4096X509 | Rsa4096Pksc1 | Rsa4096Pkcs1 => 4096,
        }
    }

    /// The PEM form it declares.
    pub fn form(self) -> KeyForm {
        use KeyType::*;
        match self {
            Rsa2048X509 | Rsa3072X509 | Rsa4096X509 => KeyForm::Spki,
            _ => KeyForm::Pkcs1,
        }
    }
}

/// A refused `publicKey`. Display is one line for the client and never echoes the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Longer than any key of the allowed sizes.
    TooLarge,
    /// Not the declared PEM form; the reason is a fixed phrase.
    Malformed {
        /// The declared type.
        kind: KeyType,
        /// Why it does not parse.
        reason: &'static str,
    },
    /// A private key was sent.
    PrivateKey,
    /// A certificate was sent.
    Certificate,
    /// Not an RSA key.
    NotRsa,
    /// Smaller than 2048 bits.
    TooSmall {
        /// The key's size.
        bits: usize,
    },
    /// Not the size the type declares.
    SizeMismatch {
        /// The key's size.
        bits: usize,
        /// The declared size.
        declared: usize,
    },
    /// Only from [`PublicKey::from_rsa`]: not one of the three sizes.
    UnsupportedSize {
        /// The key's size.
        bits: usize,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::TooLarge => write!(f, "publicKey: too large"),
            KeyError::Malformed { kind, reason } => write!(
                f,
                "publicKey: expected a {}-bit RSA public key in PEM form \"-----BEGIN {}-----\" ({}); {}",
                kind.bits(),
                kind.form().pem_label(),
                kind.form().name(),
                reason
            ),
            KeyError::PrivateKey => {
                write!(
                    f,
                    "publicKey: a private key was sent; send the public key only"
                )
            }
            KeyError::Certificate => write!(f, "publicKey: certificates are not accepted"),
            KeyError::NotRsa => write!(f, "publicKey: not an RSA key"),
            KeyError::TooSmall { bits } => {
                write!(
                    f,
                    "publicKey: key has {bits} bits, at least 2048 are required"
                )
            }
            KeyError::SizeMismatch { bits, declared } => {
                write!(
                    f,
                    "publicKey: key has {bits} bits, publicKeyType says {declared}"
                )
            }
            KeyError::UnsupportedSize { bits } => {
                write!(
                    f,
                    "publicKey: key has {bits} bits; 2048, 3072 or 4096 are accepted"
                )
            }
        }
    }
}

impl std::error::Error for KeyError {}

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

/// Parses `pem` strictly as an RSA public key of the size `kind` declares. Either PEM form is
/// accepted whatever form `kind` names, as the reference server does (it tries both): clients
/// of the reference send `RSA PUBLIC KEY` blocks under x509 types and the reverse.
pub fn parse_public_key(kind: KeyType, pem: &str) -> Result<PublicKey, KeyError> {
    let malformed = |reason| KeyError::Malformed { kind, reason };
    if pem.len() > MAX_PEM_LEN {
        return Err(KeyError::TooLarge);
    }
    // Checked before the armor so a pasted private key is named as such in every case.
    if pem.contains("PRIVATE KEY") {
        return Err(KeyError::PrivateKey);
    }
    let (label, der) = decode_pem(pem).map_err(malformed)?;
    if label.contains("CERTIFICATE") {
        return Err(KeyError::Certificate);
    }
    let pkcs1_der = match label {
        "RSA PUBLIC KEY" => der.as_slice(),
        "PUBLIC KEY" => {
            let spki = SubjectPublicKeyInfoRef::from_der(&der)
                .map_err(|_| malformed("malformed SubjectPublicKeyInfo"))?;
            // rsa would also take id-RSASSA-PSS, a signature-only key: only rsaEncryption here.
            if spki.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
                return Err(KeyError::NotRsa);
            }
            if spki.algorithm.parameters_any().ok() != Some(rsa::pkcs8::der::asn1::Null.into()) {
                return Err(malformed("rsaEncryption parameters must be NULL"));
            }
            spki.subject_public_key
                .as_bytes()
                .ok_or_else(|| malformed("malformed SubjectPublicKeyInfo"))?
        }
        _ => {
            return Err(malformed(
                "the PEM label is neither PUBLIC KEY nor RSA PUBLIC KEY",
            ));
        }
    };
    let parts =
        RsaPublicKeyRef::from_der(pkcs1_der).map_err(|_| malformed("malformed RSA public key"))?;
    let bits = uint_bits(parts.modulus.as_bytes());
    if bits < 2048 {
        return Err(KeyError::TooSmall { bits });
    }
    if bits != kind.bits() {
        return Err(KeyError::SizeMismatch {
            bits,
            declared: kind.bits(),
        });
    }
    let key = rsa::PublicKey::from_pkcs1_der(pkcs1_der)
        .map_err(|_| malformed("invalid RSA modulus or exponent"))?;
    PublicKey::from_rsa(key).map_err(|_| malformed("invalid RSA public key"))
}

/// Bit length of a big-endian unsigned integer without leading zero bytes.
fn uint_bits(bytes: &[u8]) -> usize {
    match bytes.iter().position(|&b| b != 0) {
        Some(i) => (bytes.len() - i) * 8 - bytes[i].leading_zeros() as usize,
        None => 0,
    }
}

/// Whitespace in PEM text (RFC 7468 §3 `W`): space, tab, CR, LF, vertical tab, form feed.
fn is_pem_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\x0b' | '\x0c')
}

/// One PEM block read as RFC 7468 §3 lets a parser: text before `-----BEGIN` and after
/// `-----END` is ignored (§5.2 explanatory text), lines of any length (one line from
/// JavaScript, 76 columns from Java's MIME encoder), CR, LF or CRLF line ends, whitespace
/// anywhere in the body. Strict where it matters: the label, the END line matching the BEGIN
/// line, no RFC 1421 headers, one block, and the base64 itself (RFC 4648 alphabet, canonical
/// padding and trailing bits), each with its own fixed phrase.
fn decode_pem(text: &str) -> Result<(&str, Vec<u8>), &'static str> {
    const NO_BEGIN: &str = "missing \"-----BEGIN ...-----\" line";
    if text.trim_matches(is_pem_space).is_empty() {
        return Err("it is empty");
    }
    let mut lines = text
        .split(['\r', '\n'])
        .map(|line| line.trim_matches(is_pem_space));
    let begin = lines
        .by_ref()
        .find(|line| line.starts_with("-----BEGIN"))
        .ok_or(NO_BEGIN)?;
    let label = begin
        .strip_prefix("-----BEGIN ")
        .and_then(|line| line.strip_suffix("-----"))
        .filter(|label| {
            label
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b' ' || b.is_ascii_digit())
        })
        .ok_or(NO_BEGIN)?;
    let mut body = String::with_capacity(text.len());
    let end = loop {
        let line = lines.next().ok_or("missing \"-----END ...-----\" line")?;
        if line.starts_with("-----END") {
            break line;
        }
        if line.contains(':') {
            return Err("PEM headers are not allowed");
        }
        body.extend(line.chars().filter(|&c| !is_pem_space(c)));
    };
    if end
        .strip_prefix("-----END ")
        .and_then(|e| e.strip_suffix("-----"))
        != Some(label)
    {
        return Err("END line does not match BEGIN line");
    }
    if lines.any(|line| line.starts_with("-----BEGIN")) {
        return Err("more than one PEM block");
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "bad base64")?;
    Ok((label, der))
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

/// `XXXX-XXXX`: the first 8 base32 characters of SHA-256 over the DER SubjectPublicKeyInfo.
pub fn verification_code(public_key: &PublicKey) -> String {
    let code = base32(&Sha256::digest(&public_key.spki_der));
    format!("{}-{}", &code[0..4], &code[4..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_keys::{
        CERT, EC_P256, ED25519, FIXED_2048, FIXED_2048_CODE, RSA_PSS_2048, private_key,
    };
    use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
    use rsa::pkcs8::EncodePrivateKey;

    fn pem(bits: usize, form: KeyForm) -> String {
        let public = private_key(bits).to_public_key();
        match form {
            KeyForm::Spki => public.to_public_key_pem(LineEnding::LF).unwrap(),
            KeyForm::Pkcs1 => public.to_pkcs1_pem(LineEnding::LF).unwrap(),
        }
    }

    fn malformed_reason(kind: KeyType, text: &str) -> &'static str {
        match parse_public_key(kind, text) {
            Err(KeyError::Malformed { reason, .. }) => reason,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn key_type_table() {
        assert_eq!(ALLOWED_KEY_TYPES.len(), 9);
        for (i, name) in ALLOWED_KEY_TYPES.iter().enumerate() {
            let kind = KeyType::parse(name).unwrap();
            assert_eq!(kind, KEY_TYPES[i]);
            assert_eq!(kind.as_str(), *name);
            assert!(name.starts_with(&format!("rsa{}-", kind.bits())));
            assert_eq!(kind.form() == KeyForm::Spki, name.contains("rfc5280-x509"));
        }
        assert_eq!(
            KeyType::parse("rsa2048-rfc8017-pksc1-pem"),
            Some(KeyType::Rsa2048Pksc1)
        );
        assert_eq!(
            KeyType::parse("rsa4096-rfc8017-pkcs1-pem"),
            Some(KeyType::Rsa4096Pkcs1)
        );
        for bad in [
            "",
            "rsa1024-rfc5280-x509-pem",
            "RSA2048-RFC5280-X509-PEM",
            "rsa2048-rfc5280-x509-pem ",
        ] {
            assert_eq!(KeyType::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_every_key_type_in_its_form() {
        for kind in KEY_TYPES {
            let text = pem(kind.bits(), kind.form());
            let key = parse_public_key(kind, &text).unwrap();
            assert_eq!(key.bits(), kind.bits());
            assert_eq!(key.rsa(), &private_key(kind.bits()).to_public_key());
            // Same code whichever form the key arrived in.
            let other = match kind.form() {
                KeyForm::Spki => {
                    KeyType::parse(&kind.as_str().replace("rfc5280-x509", "rfc8017-pkcs1"))
                }
                KeyForm::Pkcs1 => KeyType::parse(
                    &kind
                        .as_str()
                        .replace("rfc8017-pksc1", "rfc5280-x509")
                        .replace("rfc8017-pkcs1", "rfc5280-x509"),
                ),
            }
            .unwrap();
            let other_key = parse_public_key(other, &pem(other.bits(), other.form())).unwrap();
            assert_eq!(verification_code(&key), verification_code(&other_key));
            assert_eq!(key.spki_der(), other_key.spki_der());
        }
    }

    #[test]
    fn accepts_crlf_and_surrounding_whitespace() {
        let text = pem(2048, KeyForm::Spki);
        for variant in [
            text.replace('\n', "\r\n"),
            text.trim_end().to_owned(),
            format!("\n  {text}\n\n"),
            format!("{}\r\n", text.replace('\n', "\r\n").trim_end()),
        ] {
            parse_public_key(KeyType::Rsa2048X509, &variant).unwrap();
        }
    }

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

    #[test]
    fn either_form_is_accepted_whatever_form_is_declared() {
        // The reference server tries both forms; its clients rely on it.
        for bits in [2048, 3072, 4096] {
            let spki = pem(bits, KeyForm::Spki);
            let pkcs1 = pem(bits, KeyForm::Pkcs1);
            for kind in KEY_TYPES.into_iter().filter(|k| k.bits() == bits) {
                let a = parse_public_key(kind, &spki).unwrap();
                let b = parse_public_key(kind, &pkcs1).unwrap();
                assert_eq!(a.spki_der(), b.spki_der());
            }
        }
        // The size check still applies across forms.
        assert_eq!(
            parse_public_key(KeyType::Rsa4096X509, &pem(2048, KeyForm::Pkcs1)).unwrap_err(),
            KeyError::SizeMismatch {
                bits: 2048,
                declared: 4096
            }
        );
        assert_eq!(
            parse_public_key(KeyType::Rsa3072Pksc1, "x")
                .unwrap_err()
                .to_string(),
            "publicKey: expected a 3072-bit RSA public key in PEM form \
             \"-----BEGIN RSA PUBLIC KEY-----\" (PKCS#1); missing \"-----BEGIN ...-----\" line"
        );
        // An SPKI body relabelled as PKCS#1 is not an RSAPublicKey.
        let relabelled = pem(2048, KeyForm::Spki).replace("PUBLIC KEY", "RSA PUBLIC KEY");
        assert_eq!(
            malformed_reason(KeyType::Rsa2048Pksc1, &relabelled),
            "malformed RSA public key"
        );
        let other = pem(2048, KeyForm::Spki).replace("PUBLIC KEY", "DH PARAMETERS");
        assert_eq!(
            malformed_reason(KeyType::Rsa2048X509, &other),
            "the PEM label is neither PUBLIC KEY nor RSA PUBLIC KEY"
        );
    }

    #[test]
    fn refuses_private_keys_and_certificates() {
        let private = private_key(2048);
        let pkcs8 = private.to_pkcs8_pem(LineEnding::LF).unwrap();
        let pkcs1 = private.to_pkcs1_pem(LineEnding::LF).unwrap();
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let glued = format!("{}{}", pem(2048, KeyForm::Spki), pkcs8.as_str());
        for (kind, text) in [
            (KeyType::Rsa2048X509, pkcs8.as_str()),
            (KeyType::Rsa2048Pksc1, pkcs1.as_str()),
            (KeyType::Rsa2048X509, encrypted),
            (KeyType::Rsa2048X509, &glued),
        ] {
            let err = parse_public_key(kind, text).unwrap_err();
            assert_eq!(err, KeyError::PrivateKey);
            assert_eq!(
                err.to_string(),
                "publicKey: a private key was sent; send the public key only"
            );
        }
        let err = parse_public_key(KeyType::Rsa2048X509, CERT).unwrap_err();
        assert_eq!(err.to_string(), "publicKey: certificates are not accepted");
    }

    #[test]
    fn refuses_keys_that_are_not_rsa_encryption_keys() {
        for text in [EC_P256, ED25519, RSA_PSS_2048] {
            let err = parse_public_key(KeyType::Rsa2048X509, text).unwrap_err();
            assert_eq!(err.to_string(), "publicKey: not an RSA key");
        }
        // Declared as PKCS#1, an EC key is still read by its label and refused as not RSA.
        assert_eq!(
            parse_public_key(KeyType::Rsa2048Pkcs1, EC_P256).unwrap_err(),
            KeyError::NotRsa
        );
    }

    #[test]
    fn refuses_wrong_and_small_sizes() {
        let small = pem(1024, KeyForm::Spki);
        let err = parse_public_key(KeyType::Rsa2048X509, &small).unwrap_err();
        assert_eq!(err, KeyError::TooSmall { bits: 1024 });
        assert_eq!(
            err.to_string(),
            "publicKey: key has 1024 bits, at least 2048 are required"
        );
        let err = parse_public_key(KeyType::Rsa2048X509, &pem(3072, KeyForm::Spki)).unwrap_err();
        assert_eq!(
            err,
            KeyError::SizeMismatch {
                bits: 3072,
                declared: 2048
            }
        );
        let err = parse_public_key(KeyType::Rsa2048Pksc1, &pem(4096, KeyForm::Pkcs1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "publicKey: key has 4096 bits, publicKeyType says 2048"
        );
        let err = parse_public_key(KeyType::Rsa4096X509, &pem(2048, KeyForm::Spki)).unwrap_err();
        assert_eq!(
            err,
            KeyError::SizeMismatch {
                bits: 2048,
                declared: 4096
            }
        );
        let from_rsa = PublicKey::from_rsa(private_key(1024).to_public_key()).unwrap_err();
        assert_eq!(from_rsa, KeyError::TooSmall { bits: 1024 });
        assert_eq!(
            PublicKey::from_rsa(private_key(3072).to_public_key())
                .unwrap()
                .bits(),
            3072
        );
    }

    #[test]
    fn refuses_bad_rsa_parameters() {
        use base64::Engine;
        use rsa::pkcs1::UintRef;
        use rsa::pkcs8::der::Encode;
        let modulus = private_key(2048).to_public_key().n().to_be_bytes();
        let der = RsaPublicKeyRef {
            modulus: UintRef::new(&modulus).unwrap(),
            public_exponent: UintRef::new(&[1]).unwrap(),
        }
        .to_der()
        .unwrap();
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|line| std::str::from_utf8(line).unwrap())
            .collect();
        let text = format!(
            "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n",
            lines.join("\n")
        );
        assert_eq!(
            malformed_reason(KeyType::Rsa2048Pksc1, &text),
            "invalid RSA modulus or exponent"
        );
    }

    #[test]
    fn refuses_malformed_pem() {
        let kind = KeyType::Rsa2048X509;
        let good = pem(2048, KeyForm::Spki);
        let body_line = good.lines().nth(1).unwrap().to_owned();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "it is empty"),
            (" \r\n\t".into(), "it is empty"),
            (
                good.replace("-----BEGIN PUBLIC KEY-----", "-----BEGIN PUBLIC KEY----"),
                "missing \"-----BEGIN ...-----\" line",
            ),
            (
                good.replace("-----BEGIN PUBLIC KEY-----", "-----BEGIN public key-----"),
                "missing \"-----BEGIN ...-----\" line",
            ),
            (
                good.replace("-----BEGIN PUBLIC KEY-----", ""),
                "missing \"-----BEGIN ...-----\" line",
            ),
            (
                good.replace("-----END PUBLIC KEY-----", ""),
                "missing \"-----END ...-----\" line",
            ),
            (
                good.replace("END PUBLIC KEY", "END RSA PUBLIC KEY"),
                "END line does not match BEGIN line",
            ),
            (format!("{good}{good}"), "more than one PEM block"),
            (format!("{good}\nnote\n{good}"), "more than one PEM block"),
            (
                good.replace(&body_line, &body_line.replacen('A', "*", 1)),
                "bad base64",
            ),
            (
                good.replace(&body_line, &body_line.replacen('A', "-", 1)),
                "bad base64",
            ),
            (
                good.replacen('\n', "\nProc-Type: 4,ENCRYPTED\n", 1),
                "PEM headers are not allowed",
            ),
            (good.replace(&body_line, &body_line[1..]), "bad base64"),
            (good.replace("AQAB\n", "AQAB=\n"), "bad base64"),
            (
                good.replace(&body_line, ""),
                "malformed SubjectPublicKeyInfo",
            ),
            (
                good.replace(&body_line, "MIIB"),
                "malformed SubjectPublicKeyInfo",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(malformed_reason(kind, &text), want, "{text:?}");
        }
    }

    /// Issue 16: what real clients send, as RFC 7468 §3 lets a parser accept it, is the same
    /// key: one line (JavaScript), 76 columns (Java's MIME encoder), text around the block,
    /// trailing whitespace, empty lines, CR line ends.
    #[test]
    fn accepts_any_wrapping_and_text_around_the_block() {
        let good = pem(2048, KeyForm::Spki);
        let code = verification_code(&parse_public_key(KeyType::Rsa2048X509, &good).unwrap());
        let body: String = good.lines().filter(|l| !l.starts_with("-----")).collect();
        let wrap = |width: usize, eol: &str| {
            let lines: Vec<&str> = body
                .as_bytes()
                .chunks(width)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            format!(
                "-----BEGIN PUBLIC KEY-----{eol}{}{eol}-----END PUBLIC KEY-----{eol}",
                lines.join(eol)
            )
        };
        let body_line = good.lines().nth(1).unwrap();
        for variant in [
            wrap(body.len(), "\n"),
            format!("-----BEGIN PUBLIC KEY-----{body}-----END PUBLIC KEY-----")
                .replace("-----MII", "-----\nMII")
                .replace("-----END", "\n-----END"),
            wrap(76, "\r\n"),
            wrap(76, "\r"),
            wrap(17, "\n"),
            format!("Key for alice's laptop:\n{good}"),
            format!("{good}Generated by token2go.\n"),
            good.replace(body_line, &format!("{body_line} \t")),
            good.replacen('\n', "\n\n", 1),
            good.replace('\n', "\r"),
            good.replace(
                body_line,
                &format!("{} {}", &body_line[..10], &body_line[10..]),
            ),
            format!("  {}  ", good.replace("-----\n", "-----  \n")),
        ] {
            let key = parse_public_key(KeyType::Rsa2048X509, &variant)
                .unwrap_or_else(|e| panic!("{variant:?}: {e}"));
            assert_eq!(verification_code(&key), code, "{variant:?}");
        }
    }

    #[test]
    fn refuses_oversized_input() {
        let good = pem(4096, KeyForm::Spki);
        assert!(good.len() < 1000);
        let padded = format!("{good}{}", " ".repeat(MAX_PEM_LEN));
        let err = parse_public_key(KeyType::Rsa4096X509, &padded).unwrap_err();
        assert_eq!(err.to_string(), "publicKey: too large");
        let huge = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
            "A".repeat(100_000)
        );
        assert_eq!(
            parse_public_key(KeyType::Rsa4096X509, &huge).unwrap_err(),
            KeyError::TooLarge
        );
    }

    #[test]
    fn key_errors_never_echo_the_key() {
        let good = pem(2048, KeyForm::Spki);
        let bodies: Vec<&str> = good
            .lines()
            .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
            .collect();
        for kind in KEY_TYPES {
            for text in [
                good.clone(),
                good.replace('A', "*"),
                format!("{good}x"),
                EC_P256.into(),
                CERT.into(),
            ] {
                if let Err(err) = parse_public_key(kind, &text) {
                    let line = err.to_string();
                    assert!(line.starts_with("publicKey: ") && !line.contains('\n'));
                    assert!(bodies.iter().all(|b| !line.contains(&b[..16])), "{line}");
                }
            }
        }
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// One changed byte in the DER of a good key: a refusal, or a key of the declared size
        /// (a changed modulus byte is still a modulus), never a panic.
        #[test]
        fn a_corrupted_der_is_refused_or_still_the_declared_size(
            pkcs1 in any::<bool>(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let form = if pkcs1 { KeyForm::Pkcs1 } else { KeyForm::Spki };
            let text = pem(2048, form);
            let (label, mut der) = decode_pem(&text).unwrap();
            let i = at.index(der.len());
            der[i] = byte;
            let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der);
            let lines: Vec<&str> = body
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            let lines = lines.join("\n");
            let broken = format!("-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n");
            match parse_public_key(KeyType::Rsa2048X509, &broken) {
                Ok(key) => prop_assert_eq!(key.bits(), 2048),
                Err(e) => prop_assert!(!e.to_string().contains('\n')),
            }
        }

        #[test]
        fn any_text_is_a_key_or_a_one_line_refusal(
            text in concat!(
                "(-----(BEGIN|END) (RSA )?PUBLIC KEY-----\n|[A-Za-z0-9+/=]{0,64}\n){0,8}",
                "|.{0,80}",
            ),
        ) {
            for kind in KEY_TYPES {
                if let Err(e) = parse_public_key(kind, &text) {
                    prop_assert!(!e.to_string().contains('\n'));
                }
            }
        }
    }
}

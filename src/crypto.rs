//! The cryptography of the token redirect flow: pure functions, bytes in and bytes out.
//! No I/O, no logging, no environment. All randomness comes from [`random_bytes`].
//!
//! Constructions (wire-compatible with the reference token2go-server):
//! - Public key: RSA, modulus of exactly 2048, 3072 or 4096 bits, sent as PEM, either
//!   `PUBLIC KEY` (SubjectPublicKeyInfo, RFC 5280 §4.1.2.7, algorithm `rsaEncryption`
//!   1.2.840.113549.1.1.1 with NULL parameters) or `RSA PUBLIC KEY` (PKCS#1 `RSAPublicKey`,
//!   RFC 8017 Appendix A.1.1). PEM armor as in RFC 7468; DER strictly (X.690).
//! - Key wrap: RSAES-OAEP (RFC 8017 §7.1) with SHA-256, MGF1-SHA-256 and the empty label,
//!   of a fresh random 32-byte AES key.
//! - Payload: AES-256-GCM (NIST SP 800-38D) under that key with a fresh random 12-byte nonce
//!   and no associated data; the payload is ciphertext || 16-byte tag.
//! - Verification code: SHA-256 (FIPS 180-4) of the DER SubjectPublicKeyInfo, RFC 4648
//!   base32 (upper case, no padding), first 8 characters, shown as `XXXX-XXXX`.
//! - Redirect parameters: RFC 4648 §4 standard base64 with padding. Paste block: RFC 4648 §5
//!   base64url without padding, `key.nonce.payload`, wrapped at 64 characters.

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rsa::pkcs1::{DecodeRsaPublicKey, RsaPublicKeyRef};
use rsa::pkcs8::der::Decode;
use rsa::pkcs8::{EncodePublicKey, SubjectPublicKeyInfoRef};
use rsa::rand_core::{TryCryptoRng, TryRng};
use rsa::sha2::{Digest, Sha256};
use rsa::traits::PublicKeyParts;
use std::fmt;

/// Largest accepted PEM text; a 4096-bit SPKI key in PEM with CRLF is about 820 bytes.
pub const MAX_PEM_LEN: usize = 4096;

/// Length of the AES-256 key that RSA-OAEP wraps.
const AES_KEY_LEN: usize = 32;
/// Length of the AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the AES-GCM tag at the end of the payload.
const TAG_LEN: usize = 16;

pub const PASTE_BEGIN: &str = "-----BEGIN TOKEN2GO RESPONSE-----";
pub const PASTE_END: &str = "-----END TOKEN2GO RESPONSE-----";
/// Characters per line inside the paste block (terminals cut long pasted lines).
pub const PASTE_LINE_LEN: usize = 64;

/// The two PEM forms of an RSA public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyForm {
    /// `-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo (RFC 5280).
    Spki,
    /// `-----BEGIN RSA PUBLIC KEY-----`, PKCS#1 RSAPublicKey (RFC 8017).
    Pkcs1,
}

impl KeyForm {
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
    Rsa2048X509,
    Rsa2048Pksc1,
    Rsa2048Pkcs1,
    Rsa3072X509,
    Rsa3072Pksc1,
    Rsa3072Pkcs1,
    Rsa4096X509,
    Rsa4096Pksc1,
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
    TooLarge,
    /// Not the declared PEM form; the reason is a fixed phrase.
    Malformed {
        kind: KeyType,
        reason: &'static str,
    },
    PrivateKey,
    Certificate,
    NotRsa,
    TooSmall {
        bits: usize,
    },
    SizeMismatch {
        bits: usize,
        declared: usize,
    },
    /// Only from [`PublicKey::from_rsa`]: not one of the three sizes.
    UnsupportedSize {
        bits: usize,
    },
}

impl KeyError {
    pub fn status(&self) -> u16 {
        400
    }
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
                write!(f, "publicKey: a private key was sent; send the public key only")
            }
            KeyError::Certificate => write!(f, "publicKey: certificates are not accepted"),
            KeyError::NotRsa => write!(f, "publicKey: not an RSA key"),
            KeyError::TooSmall { bits } => {
                write!(f, "publicKey: key has {bits} bits, at least 2048 are required")
            }
            KeyError::SizeMismatch { bits, declared } => {
                write!(f, "publicKey: key has {bits} bits, publicKeyType says {declared}")
            }
            KeyError::UnsupportedSize { bits } => {
                write!(f, "publicKey: key has {bits} bits; 2048, 3072 or 4096 are accepted")
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

    pub fn bits(&self) -> usize {
        self.key.n().bit_width_vartime() as usize
    }

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

/// Parses `pem` strictly as the form and size `kind` declares.
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
    if label != kind.form().pem_label() {
        return Err(malformed("PEM label does not match publicKeyType"));
    }
    let pkcs1_der = match kind.form() {
        KeyForm::Pkcs1 => der.as_slice(),
        KeyForm::Spki => {
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
    let spki_der = key
        .to_public_key_der()
        .map_err(|_| malformed("invalid RSA public key"))?
        .into_vec();
    Ok(PublicKey { key, spki_der })
}

/// Bit length of a big-endian unsigned integer without leading zero bytes.
fn uint_bits(bytes: &[u8]) -> usize {
    match bytes.iter().position(|&b| b != 0) {
        Some(i) => (bytes.len() - i) * 8 - bytes[i].leading_zeros() as usize,
        None => 0,
    }
}

/// One PEM block (RFC 7468) and nothing else but surrounding whitespace. LF or CRLF line
/// endings; no explanatory text, no headers, no blank lines inside; base64 strictly.
fn decode_pem(text: &str) -> Result<(&str, Vec<u8>), &'static str> {
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if text.is_empty() {
        return Err("it is empty");
    }
    let mut lines = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    let label = lines
        .next()
        .and_then(|line| line.strip_prefix("-----BEGIN "))
        .and_then(|line| line.strip_suffix("-----"))
        .filter(|label| {
            label
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b' ' || b.is_ascii_digit())
        })
        .ok_or("missing \"-----BEGIN ...-----\" line")?;
    let mut body = String::new();
    let mut ended = false;
    for line in lines {
        if ended {
            return Err("text after the PEM block");
        }
        if let Some(end) = line.strip_prefix("-----END ") {
            if end.strip_suffix("-----") != Some(label) {
                return Err("END line does not match BEGIN line");
            }
            ended = true;
        } else if !line.is_empty()
            && line
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        {
            body.push_str(line);
        } else {
            return Err("bad base64 line");
        }
    }
    if !ended {
        return Err("missing \"-----END ...-----\" line");
    }
    let der = STANDARD.decode(body).map_err(|_| "bad base64")?;
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

/// One sealed response: `key` is the RSA-OAEP-wrapped AES key, `payload` the AES-GCM output.
pub struct Sealed {
    pub key: Vec<u8>,
    pub nonce: [u8; NONCE_LEN],
    pub payload: Vec<u8>,
}

/// Why sealing or opening failed. Display is precise for the log and holds no secret bytes;
/// [`CryptoError::client_message`] is the one vague line for the client.
#[derive(Debug)]
pub enum CryptoError {
    Random(getrandom::Error),
    KeyWrap(rsa::Error),
    Encrypt,
    KeyUnwrap,
    Decrypt,
    Format(&'static str),
}

impl CryptoError {
    pub fn client_message(&self) -> &'static str {
        match self {
            CryptoError::Random(_) | CryptoError::KeyWrap(_) | CryptoError::Encrypt => {
                "could not encrypt the token for this key"
            }
            CryptoError::KeyUnwrap | CryptoError::Decrypt | CryptoError::Format(_) => {
                "could not decrypt the response"
            }
        }
    }

    /// Sealing failures are the server's fault.
    pub fn status(&self) -> u16 {
        500
    }
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::Random(e) => write!(f, "random number generator failed: {e}"),
            CryptoError::KeyWrap(e) => write!(f, "RSA-OAEP encryption of the AES key failed: {e}"),
            CryptoError::Encrypt => write!(f, "AES-256-GCM encryption failed"),
            CryptoError::KeyUnwrap => write!(f, "RSA-OAEP decryption of the AES key failed"),
            CryptoError::Decrypt => {
                write!(
                    f,
                    "AES-256-GCM decryption failed (wrong key or altered payload)"
                )
            }
            CryptoError::Format(reason) => write!(f, "malformed response: {reason}"),
        }
    }
}

impl std::error::Error for CryptoError {}

/// The one source of randomness: the operating system's CSPRNG.
fn random_bytes(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    getrandom::fill(buf)
}

/// Hands [`random_bytes`] to the rsa crate (OAEP seed, blinding).
struct OsRandom;

impl TryRng for OsRandom {
    type Error = getrandom::Error;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut buf = [0; 4];
        random_bytes(&mut buf)?;
        Ok(u32::from_le_bytes(buf))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut buf = [0; 8];
        random_bytes(&mut buf)?;
        Ok(u64::from_le_bytes(buf))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        random_bytes(dst)
    }
}

impl TryCryptoRng for OsRandom {}

/// Best-effort wipe of key material before it is dropped.
fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}

/// Encrypts `plaintext` for the holder of `public_key` with a fresh AES key and nonce.
pub fn seal(public_key: &PublicKey, plaintext: &[u8]) -> Result<Sealed, CryptoError> {
    let mut aes_key = [0u8; AES_KEY_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    let sealed = random_bytes(&mut aes_key)
        .and_then(|()| random_bytes(&mut nonce))
        .map_err(CryptoError::Random)
        .and_then(|()| {
            let key = public_key
                .key
                .oaep_encrypt_with_rng::<Sha256, _>(&mut OsRandom, &aes_key)
                .map_err(CryptoError::KeyWrap)?;
            let payload = Aes256Gcm::new(&aes_key.into())
                .encrypt(&nonce.into(), plaintext)
                .map_err(|_| CryptoError::Encrypt)?;
            Ok(Sealed {
                key,
                nonce,
                payload,
            })
        });
    wipe(&mut aes_key);
    sealed
}

/// Decrypts a [`Sealed`] response with the private key (the client's side of [`seal`]).
pub fn open(private_key: &rsa::PrivateKey, sealed: &Sealed) -> Result<Vec<u8>, CryptoError> {
    let mut aes_key = private_key
        .oaep_decrypt_with_rng::<Sha256, _>(&mut OsRandom, &sealed.key)
        .map_err(|_| CryptoError::KeyUnwrap)?;
    let cipher = Aes256Gcm::new_from_slice(&aes_key).map_err(|_| CryptoError::KeyUnwrap);
    wipe(&mut aes_key);
    cipher?
        .decrypt(&sealed.nonce.into(), sealed.payload.as_slice())
        .map_err(|_| CryptoError::Decrypt)
}

/// `key`, `nonce`, `payload` as standard base64 with padding, for the redirect's query.
pub fn redirect_params(sealed: &Sealed) -> [(&'static str, String); 3] {
    [
        ("key", STANDARD.encode(&sealed.key)),
        ("nonce", STANDARD.encode(sealed.nonce)),
        ("payload", STANDARD.encode(&sealed.payload)),
    ]
}

/// The inverse of [`redirect_params`] (the client's side), values already percent-decoded.
pub fn sealed_from_params(key: &str, nonce: &str, payload: &str) -> Result<Sealed, CryptoError> {
    let decode = |value: &str| {
        STANDARD
            .decode(value)
            .map_err(|_| CryptoError::Format("bad base64"))
    };
    sealed_from_parts(decode(key)?, decode(nonce)?, decode(payload)?)
}

fn sealed_from_parts(
    key: Vec<u8>,
    nonce: Vec<u8>,
    payload: Vec<u8>,
) -> Result<Sealed, CryptoError> {
    let nonce = nonce
        .try_into()
        .map_err(|_| CryptoError::Format("nonce is not 12 bytes"))?;
    if key.is_empty() {
        return Err(CryptoError::Format("key is empty"));
    }
    if payload.len() < TAG_LEN {
        return Err(CryptoError::Format("payload is shorter than the GCM tag"));
    }
    Ok(Sealed {
        key,
        nonce,
        payload,
    })
}

/// The paste-mode block: `base64url(key).base64url(nonce).base64url(payload)` (no padding),
/// wrapped at 64 characters, between BEGIN and END lines, lines joined by `\n`, no final newline.
pub fn paste_block(sealed: &Sealed) -> String {
    let body = [&sealed.key[..], &sealed.nonce[..], &sealed.payload[..]]
        .map(|part| URL_SAFE_NO_PAD.encode(part))
        .join(".");
    let mut out = String::with_capacity(body.len() + body.len() / PASTE_LINE_LEN + 80);
    out.push_str(PASTE_BEGIN);
    // The body is ASCII, so byte chunks are character chunks.
    for chunk in body.as_bytes().chunks(PASTE_LINE_LEN) {
        out.push('\n');
        out.extend(chunk.iter().map(|&b| b as char));
    }
    out.push('\n');
    out.push_str(PASTE_END);
    out
}

/// Parses a pasted block; tolerates surrounding whitespace, CRLF and whitespace inside.
pub fn parse_paste_block(text: &str) -> Result<Sealed, CryptoError> {
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let inner = text
        .strip_prefix(PASTE_BEGIN)
        .ok_or(CryptoError::Format("missing BEGIN line"))?
        .strip_suffix(PASTE_END)
        .ok_or(CryptoError::Format("missing END line"))?;
    let body: String = inner.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut parts = body.split('.').map(|part| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| CryptoError::Format("bad base64url"))
    });
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(key), Some(nonce), Some(payload), None) => sealed_from_parts(key?, nonce?, payload?),
        _ => Err(CryptoError::Format("expected three parts separated by '.'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
    use rsa::pkcs8::EncodePrivateKey;
    use std::sync::OnceLock;

    /// Our own test data, made with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`.
    /// Its verification code, computed independently twice:
    /// `t2g_decrypt.py code` (python cryptography + hashlib + base64.b32encode) and
    /// `openssl pkey -pubin -outform DER | sha256sum | xxd -r -p | base32` give 4UFN-JXJY.
    const FIXED_2048: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA9eKodN5q2hiUjdXllUOw
VstGOqY95AvWVOg2T1TQcEWdKZh/bTQnjgXtJAiivTjaYCmF6wOC1s6V6M5sGsJb
80NCLhDYKB8EfXuXAdg0ORjzaO5f6e2sMaBG+wE+gHx3Pudca1nd0OacsD7pmfpz
NCspv+kNdMKoCm6pfQGRg1TyQReYnQzW9idoGrgGm+Y3rE0cDrE68Vf9FwEPNJx1
eHok4FI6DonRVBAcgOpy0+mu9DfRBjOCo0GRDlnTRpy6YX765YCUtXXOWjaWsrIN
cmZf+l0eudkxfdF3aXM3lbxLTxb7kIhNxWwnvaxDHBVr2vMtNd7x4SHoAl5x6vGq
GQIDAQAB
-----END PUBLIC KEY-----
";
    const FIXED_2048_CODE: &str = "4UFN-JXJY";

    /// `openssl ecparam -name prime256v1 -genkey | openssl ec -pubout`
    const EC_P256: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2vQLk0XoShmvkD9c3Q1BGLap8KjX
w4JZyP7m+wA07tRGwNM/FFTTnr7qyAWs35/2Y4gzGm8WEVFAkQFPpivj2A==
-----END PUBLIC KEY-----
";
    /// `openssl genpkey -algorithm ed25519 | openssl pkey -pubout`
    const ED25519: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAQj+p1rkEVq4ackaJab5EYmdl28HXgAnpB64mUwawBhc=
-----END PUBLIC KEY-----
";
    /// `openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 | openssl pkey -pubout`:
    /// an RSA modulus under id-RSASSA-PSS, a signature-only key.
    const RSA_PSS_2048: &str = "-----BEGIN PUBLIC KEY-----
MIIBIDALBgkqhkiG9w0BAQoDggEPADCCAQoCggEBAL1yHoCpxZuhYYrlr2MhwVml
bzAXQiRnAV9fDiwmuLthD8T/BlZ5fr7cADYMcFHEyRrBP5cV63QevzDin0EfBMp7
0lWRslKHIePONi6+d9TKpUUjMZlN/Ov61rBCcxTf9oB6XmdfAvJ3xl9IKFMY2lxd
/aG20cGysNCQYhoFHhyJZ9sRKtnMFJo3rCCSBVdbMxCPoHiTsDtpJEkJvNg93KZi
cjj933YXTpCqtT1ooPTkBB7ghQh1qyxslrOII7Gyt2upZpsK4Q2uAn7kCLI/RAgq
u9GSZLsA2H4MPqg9nda6j8w0PKThDTFNX2ZA9IpVuEycp8WfTZi+0YbEU9pqAKEC
AwEAAQ==
-----END PUBLIC KEY-----
";
    /// `openssl req -x509 -new -key <the P-256 key> -subj /CN=t2g-test -days 1`
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBfDCCASGgAwIBAgIUMeKuHkNXz0cNIC8BVPYkmd5LdaUwCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIdDJnLXRlc3QwHhcNMjYxMTI5MDY0MzI1WhcNMjYxMTMwMDY0
MzI1WjATMREwDwYDVQQDDAh0MmctdGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABNr0C5NF6EoZr5A/XN0NQRi2qfCo18OCWcj+5vsANO7URsDTPxRU056+6sgF
rN+f9mOIMxpvFhFRQJEBT6Yr49ijUzBRMB0GA1UdDgQWBBQaQkWPvxitT/DoDybF
j6odVbIhCTAfBgNVHSMEGDAWgBQaQkWPvxitT/DoDybFj6odVbIhCTAPBgNVHRMB
Af8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCago/OzqgNeHz7C7ToWWKjjVAq
vGDVjRx8vr2IPQM8zAIhAL8ZCMIqqcZznCwCSZ5S8BTjphKmLzPsnfhI1pqh8tuH
-----END CERTIFICATE-----
";

    /// One key per size, generated once per test run (1-4 s each in a debug build).
    fn private_key(bits: usize) -> &'static rsa::PrivateKey {
        static KEYS: [OnceLock<rsa::PrivateKey>; 4] = [const { OnceLock::new() }; 4];
        let slot = [1024, 2048, 3072, 4096]
            .iter()
            .position(|&b| b == bits)
            .unwrap();
        KEYS[slot].get_or_init(|| rsa::PrivateKey::new(&mut OsRandom, bits).unwrap())
    }

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
    fn refuses_wrong_label_for_declared_form() {
        let spki = pem(2048, KeyForm::Spki);
        let pkcs1 = pem(2048, KeyForm::Pkcs1);
        let label = "PEM label does not match publicKeyType";
        assert_eq!(malformed_reason(KeyType::Rsa2048X509, &pkcs1), label);
        assert_eq!(malformed_reason(KeyType::Rsa2048Pksc1, &spki), label);
        assert_eq!(malformed_reason(KeyType::Rsa2048Pkcs1, &spki), label);
        assert_eq!(
            parse_public_key(KeyType::Rsa2048X509, &pkcs1).unwrap_err().to_string(),
            "publicKey: expected a 2048-bit RSA public key in PEM form \
             \"-----BEGIN PUBLIC KEY-----\" (SubjectPublicKeyInfo); PEM label does not match publicKeyType"
        );
        assert_eq!(
            parse_public_key(KeyType::Rsa3072Pksc1, "x")
                .unwrap_err()
                .to_string(),
            "publicKey: expected a 3072-bit RSA public key in PEM form \
             \"-----BEGIN RSA PUBLIC KEY-----\" (PKCS#1); missing \"-----BEGIN ...-----\" line"
        );
        // An SPKI body relabelled as PKCS#1 is not an RSAPublicKey.
        let relabelled = spki.replace("PUBLIC KEY", "RSA PUBLIC KEY");
        assert_eq!(
            malformed_reason(KeyType::Rsa2048Pksc1, &relabelled),
            "malformed RSA public key"
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
        // Declared as PKCS#1, an EC key fails on its label first.
        assert!(matches!(
            parse_public_key(KeyType::Rsa2048Pkcs1, EC_P256),
            Err(KeyError::Malformed { .. })
        ));
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
        use rsa::pkcs1::UintRef;
        use rsa::pkcs8::der::Encode;
        let modulus = private_key(2048).to_public_key().n().to_be_bytes();
        let der = RsaPublicKeyRef {
            modulus: UintRef::new(&modulus).unwrap(),
            public_exponent: UintRef::new(&[1]).unwrap(),
        }
        .to_der()
        .unwrap();
        let text = format!(
            "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n",
            STANDARD.encode(der)
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
                format!("hello\n{good}"),
                "missing \"-----BEGIN ...-----\" line",
            ),
            (
                good.replace("-----BEGIN PUBLIC KEY-----", "-----BEGIN PUBLIC KEY----"),
                "missing \"-----BEGIN ...-----\" line",
            ),
            (
                good.replace("-----BEGIN PUBLIC KEY-----", "-----BEGIN public key-----"),
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
            (format!("{good}trailing"), "text after the PEM block"),
            (format!("{good}{good}"), "text after the PEM block"),
            (
                good.replace(&body_line, &body_line.replacen('A', "*", 1)),
                "bad base64 line",
            ),
            (
                good.replace(&body_line, &body_line.replacen('A', "-", 1)),
                "bad base64 line",
            ),
            (
                good.replace(&body_line, &format!("{body_line} ")),
                "bad base64 line",
            ),
            (
                good.replacen('\n', "\nProc-Type: 4,ENCRYPTED\n", 1),
                "bad base64 line",
            ),
            (good.replacen('\n', "\n\n", 1), "bad base64 line"),
            (
                good.replace('\n', "\r"),
                "missing \"-----BEGIN ...-----\" line",
            ),
            (good.replace(&body_line, &body_line[1..]), "bad base64"),
            (good.replace("AQAB\n", "AQAB=\n"), "bad base64"),
            (good.replace(&body_line, ""), "bad base64 line"),
            (
                good.replace(&body_line, "MIIB"),
                "malformed SubjectPublicKeyInfo",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(malformed_reason(kind, &text), want, "{text:?}");
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

    #[test]
    fn seal_open_round_trip() {
        for bits in [2048, 4096] {
            let private = private_key(bits);
            let public = PublicKey::from_rsa(private.to_public_key()).unwrap();
            for plaintext in [
                &b""[..],
                b"{\"accessToken\":\"canary\",\"expiresAt\":1}",
                &[7u8; 20_000],
            ] {
                let sealed = seal(&public, plaintext).unwrap();
                assert_eq!(sealed.key.len(), bits / 8);
                assert_eq!(sealed.payload.len(), plaintext.len() + TAG_LEN);
                assert_eq!(open(private, &sealed).unwrap(), plaintext);
            }
        }
    }

    #[test]
    fn fresh_key_and_nonce_every_call() {
        let private = private_key(2048);
        let public = PublicKey::from_rsa(private.to_public_key()).unwrap();
        let sealed: Vec<Sealed> = (0..4)
            .map(|_| seal(&public, b"same plaintext").unwrap())
            .collect();
        for (i, a) in sealed.iter().enumerate() {
            for b in &sealed[i + 1..] {
                assert_ne!(a.nonce, b.nonce);
                assert_ne!(a.key, b.key);
                assert_ne!(a.payload, b.payload);
                // Different AES keys, not only different OAEP seeds: swap nonces and it fails.
                let mixed = Sealed {
                    key: a.key.clone(),
                    nonce: a.nonce,
                    payload: b.payload.clone(),
                };
                assert!(matches!(open(private, &mixed), Err(CryptoError::Decrypt)));
            }
        }
    }

    #[test]
    fn open_refuses_tampering_and_wrong_key() {
        let private = private_key(2048);
        let public = PublicKey::from_rsa(private.to_public_key()).unwrap();
        let mut sealed = seal(&public, b"secret").unwrap();
        sealed.payload[0] ^= 1;
        assert!(matches!(open(private, &sealed), Err(CryptoError::Decrypt)));
        sealed.payload[0] ^= 1;
        sealed.nonce[0] ^= 1;
        assert!(matches!(open(private, &sealed), Err(CryptoError::Decrypt)));
        sealed.nonce[0] ^= 1;
        sealed.key[5] ^= 1;
        assert!(matches!(
            open(private, &sealed),
            Err(CryptoError::KeyUnwrap)
        ));
        sealed.key[5] ^= 1;
        assert!(matches!(
            open(private_key(4096), &sealed),
            Err(CryptoError::KeyUnwrap)
        ));
        assert_eq!(open(private, &sealed).unwrap(), b"secret");
    }

    #[test]
    fn paste_block_round_trip() {
        let private = private_key(4096);
        let public = PublicKey::from_rsa(private.to_public_key()).unwrap();
        let sealed = seal(&public, &[b'x'; 16_000]).unwrap();
        let block = paste_block(&sealed);
        let lines: Vec<&str> = block.lines().collect();
        assert_eq!(lines[0], PASTE_BEGIN);
        assert_eq!(lines[lines.len() - 1], PASTE_END);
        assert!(lines.len() > 300);
        for line in &lines[1..lines.len() - 1] {
            assert!(line.len() <= PASTE_LINE_LEN && !line.is_empty());
            assert!(
                line.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
                "{line}"
            );
        }
        assert_eq!(lines[1..lines.len() - 1].concat().matches('.').count(), 2);
        for text in [
            block.clone(),
            block.replace('\n', "\r\n"),
            format!("\n  {}  \n", block.replace('\n', "\n  ")),
        ] {
            let parsed = parse_paste_block(&text).unwrap();
            assert_eq!(
                (&parsed.key, parsed.nonce, &parsed.payload),
                (&sealed.key, sealed.nonce, &sealed.payload)
            );
            assert_eq!(open(private, &parsed).unwrap(), [b'x'; 16_000]);
        }
    }

    #[test]
    fn parse_paste_block_refuses_malformed() {
        let sealed = Sealed {
            key: vec![1; 256],
            nonce: [2; 12],
            payload: vec![3; 40],
        };
        let block = paste_block(&sealed);
        let body = |b: &str| format!("{PASTE_BEGIN}\n{b}\n{PASTE_END}");
        let cases = [
            block.replace(PASTE_BEGIN, ""),
            block.replace(PASTE_END, ""),
            format!("{block}\nmore"),
            body("AAAA.AAAA"),
            body("AAAA.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA.AAAA"),
            body("AAAA.AAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA"),
            body(".AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA"),
            body("AAAA.AAAAAAAAAAAAAAAA.AAAA"),
            body("AA==.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA"),
            body("A+/A.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA"),
        ];
        for text in cases {
            assert!(
                matches!(parse_paste_block(&text), Err(CryptoError::Format(_))),
                "{text}"
            );
        }
        parse_paste_block(&body("AAAA.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA")).unwrap();
    }

    #[test]
    fn redirect_params_are_padded_standard_base64() {
        let private = private_key(2048);
        let public = PublicKey::from_rsa(private.to_public_key()).unwrap();
        let sealed = seal(&public, b"{\"a\":1}").unwrap();
        let params = redirect_params(&sealed);
        assert_eq!(
            params.each_ref().map(|(name, _)| *name),
            ["key", "nonce", "payload"]
        );
        assert_eq!(params[0].1.len(), 344);
        assert!(params[0].1.ends_with("=="));
        assert_eq!(params[1].1, STANDARD.encode(sealed.nonce));
        assert_eq!(params[2].1.len(), 32);
        let back = sealed_from_params(&params[0].1, &params[1].1, &params[2].1).unwrap();
        assert_eq!(open(private, &back).unwrap(), b"{\"a\":1}");
        assert!(sealed_from_params(&params[0].1, "AAAA", &params[2].1).is_err());
        assert!(
            sealed_from_params(&params[0].1.replace('=', ""), &params[1].1, &params[2].1).is_err()
        );
    }

    #[test]
    fn crypto_errors_are_vague_for_clients() {
        let errors = [
            CryptoError::KeyWrap(rsa::Error::MessageTooLong),
            CryptoError::Encrypt,
            CryptoError::KeyUnwrap,
            CryptoError::Decrypt,
            CryptoError::Format("bad base64"),
        ];
        assert_eq!(
            errors[0].client_message(),
            "could not encrypt the token for this key"
        );
        assert_eq!(
            errors[0].to_string(),
            "RSA-OAEP encryption of the AES key failed: message too long"
        );
        for err in &errors {
            assert!(!err.client_message().contains('\n') && !err.to_string().contains('\n'));
            assert_eq!(err.status(), 500);
        }
    }

    #[test]
    fn random_bytes_are_fresh() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        random_bytes(&mut a).unwrap();
        random_bytes(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0; 32]);
    }
}

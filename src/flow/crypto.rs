//! The cryptography of the token redirect flow: pure functions, bytes in and bytes out.
//! No I/O, no logging, no environment. All randomness comes from the operating system's CSPRNG
//! through `getrandom` ([`random_bytes`], and [`SysRng`] for the rsa crate).
//!
//! Constructions (wire-compatible with the reference token2go-server):
//! - Public key and verification code: see [`crate::flow::pubkey`].
//! - Key wrap: RSAES-OAEP (RFC 8017 §7.1) with SHA-256, MGF1-SHA-256 and the empty label,
//!   of a fresh random 32-byte AES key.
//! - Payload: AES-256-GCM (NIST SP 800-38D) under that key with a fresh random 12-byte nonce
//!   and no associated data; the payload is ciphertext || 16-byte tag.
//! - Redirect parameters: RFC 4648 §4 standard base64 with padding. Paste block: RFC 4648 §5
//!   base64url without padding, `key.nonce.payload`, wrapped at 64 characters.

use crate::flow::pubkey::PublicKey;
use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use getrandom::SysRng;
use rsa::sha2::Sha256;
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// Length of the AES-256 key that RSA-OAEP wraps.
const AES_KEY_LEN: usize = 32;
/// Length of the AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the AES-GCM tag at the end of the payload.
const TAG_LEN: usize = 16;

/// First line of the paste block.
pub const PASTE_BEGIN: &str = "-----BEGIN TOKEN2GO RESPONSE-----";
/// Last line of the paste block.
pub const PASTE_END: &str = "-----END TOKEN2GO RESPONSE-----";
/// Characters per line inside the paste block (terminals cut long pasted lines).
pub const PASTE_LINE_LEN: usize = 64;

/// One sealed response: `key` is the RSA-OAEP-wrapped AES key, `payload` the AES-GCM output.
pub struct Sealed {
    /// The AES key, wrapped with RSA-OAEP for the client's key.
    pub key: Vec<u8>,
    /// The AES-GCM nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The encrypted document with its AES-GCM tag.
    pub payload: Vec<u8>,
}

/// Why sealing or opening failed. Display is precise for the log and holds no secret bytes;
/// [`CryptoError::client_message`] is the one vague line for the client.
#[derive(Debug)]
pub enum CryptoError {
    /// The OS random source failed.
    Random(getrandom::Error),
    /// RSA-OAEP could not wrap the key.
    KeyWrap(rsa::Error),
    /// AES-GCM could not encrypt.
    Encrypt,
    /// RSA-OAEP could not unwrap the key: not for this private key.
    KeyUnwrap,
    /// AES-GCM refused the payload: altered or not for this key.
    Decrypt,
    /// The values are not in the expected form (a fixed phrase).
    Format(&'static str),
}

impl CryptoError {
    /// The one vague line the client gets, whatever failed.
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

/// Random bytes from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(CryptoError::Random)
}

/// Encrypts `plaintext` for the holder of `public_key` with a fresh AES key and nonce.
pub fn seal(public_key: &PublicKey, plaintext: &[u8]) -> Result<Sealed, CryptoError> {
    let mut aes_key = Zeroizing::new([0u8; AES_KEY_LEN]);
    let mut nonce = [0u8; NONCE_LEN];
    random_bytes(aes_key.as_mut())?;
    random_bytes(&mut nonce)?;
    let key = public_key
        .rsa()
        .oaep_encrypt_with_rng::<Sha256, _>(&mut SysRng, aes_key.as_ref())
        .map_err(CryptoError::KeyWrap)?;
    // With the `zeroize` feature, the cipher wipes its key schedule when dropped.
    let payload = Aes256Gcm::new(&(*aes_key).into())
        .encrypt(&nonce.into(), plaintext)
        .map_err(|_| CryptoError::Encrypt)?;
    Ok(Sealed {
        key,
        nonce,
        payload,
    })
}

/// Decrypts a [`Sealed`] response with the private key (the client's side of [`seal`]).
pub fn open(private_key: &rsa::PrivateKey, sealed: &Sealed) -> Result<Vec<u8>, CryptoError> {
    let mut aes_key = private_key
        .oaep_decrypt_with_rng::<Sha256, _>(&mut SysRng, &sealed.key)
        .map_err(|_| CryptoError::KeyUnwrap)?;
    let cipher = Aes256Gcm::new_from_slice(&aes_key).map_err(|_| CryptoError::KeyUnwrap);
    aes_key.zeroize();
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
    use crate::test_keys::private_key;

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

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn paste_blocks_and_redirect_params_round_trip(
            key in prop::collection::vec(any::<u8>(), 1..600),
            nonce in any::<[u8; NONCE_LEN]>(),
            payload in prop::collection::vec(any::<u8>(), TAG_LEN..400),
            indent in "[ \t]{0,3}",
            crlf in any::<bool>(),
        ) {
            let sealed = Sealed { key, nonce, payload };
            let same = |other: &Sealed| {
                (&other.key, other.nonce, &other.payload)
                    == (&sealed.key, sealed.nonce, &sealed.payload)
            };
            let mut block = paste_block(&sealed).replace('\n', &format!("\n{indent}"));
            if crlf {
                block = block.replace('\n', "\r\n");
            }
            prop_assert!(same(&parse_paste_block(&block).unwrap()));
            let [key, nonce, payload] = redirect_params(&sealed);
            prop_assert!(same(&sealed_from_params(&key.1, &nonce.1, &payload.1).unwrap()));
        }

        #[test]
        fn any_text_between_the_armour_is_parsed_or_refused(
            body in "[A-Za-z0-9_.=+/ \n-]{0,200}|.{0,100}",
        ) {
            match parse_paste_block(&format!("{PASTE_BEGIN}\n{body}\n{PASTE_END}")) {
                Ok(s) => prop_assert!(!s.key.is_empty() && s.payload.len() >= TAG_LEN),
                Err(e) => prop_assert!(matches!(e, CryptoError::Format(_))),
            }
        }
    }
}

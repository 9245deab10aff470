//! Public keys: mode 0 feeds the text as PEM; modes 1 and 2 wrap the bytes as the DER of a
//! `PUBLIC KEY` or `RSA PUBLIC KEY` block, so that they reach the DER parsers. A second byte
//! picks the declared type. An accepted key has the declared size and survives a re-encoding;
//! a refusal is one line.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use token2go::flow::pubkey::{ALLOWED_KEY_TYPES, KeyType, parse_public_key, verification_code};

use super::{mode, one_line, text};

/// The target: a mode byte, a key-type byte, then the key's text or DER.
pub fn run(data: &[u8]) {
    let (mode, rest) = mode(data);
    let (kind, rest) = match rest.split_first() {
        Some((&k, rest)) => (
            ALLOWED_KEY_TYPES[usize::from(k) % ALLOWED_KEY_TYPES.len()],
            rest,
        ),
        None => (ALLOWED_KEY_TYPES[0], rest),
    };
    let kind = KeyType::parse(kind).expect("a listed type");
    let pem = match mode % 3 {
        0 => text(rest),
        1 => armour("PUBLIC KEY", rest),
        _ => armour("RSA PUBLIC KEY", rest),
    };
    match parse_public_key(kind, &pem) {
        Ok(key) => {
            assert_eq!(key.bits(), kind.bits());
            let code = verification_code(&key);
            assert!(code.len() == 9 && code.as_bytes()[4] == b'-', "{code}");
            let again = parse_public_key(kind, &armour("PUBLIC KEY", key.spki_der()))
                .expect("a re-encoded key parses");
            assert_eq!(again.spki_der(), key.spki_der());
        }
        Err(error) => assert!(one_line(&error.to_string())),
    }
}

/// A PEM block of `der` under `label`, 64 characters a line.
fn armour(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

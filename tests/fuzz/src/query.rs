//! Query decoding: strict and lossy agree where strict accepts; errors are one printable line;
//! percent-decoding inverts percent-encoding for any bytes.

use token2go::fuzzing::{parse_query_lossy, parse_query_strict, percent_decode};

use super::text;

/// The target: `data` is a raw query string.
pub fn run(data: &[u8]) {
    let raw = text(data);
    let lossy = parse_query_lossy(&raw);
    match parse_query_strict(&raw) {
        Ok(strict) => assert_eq!(strict, lossy),
        Err(line) => {
            assert!(
                line.bytes().all(|b| b.is_ascii_graphic() || b == b' '),
                "{line:?}"
            );
        }
    }
    assert_eq!(percent_decode(&percent_encode(data)).as_deref(), Some(data));
    if let Some(decoded) = percent_decode(&raw) {
        assert!(decoded.len() <= raw.len());
    }
}

/// Percent-encodes every byte but `A-Za-z0-9-._~`, a space as `+`, hex digits in both cases.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ if b % 2 == 0 => out.push_str(&format!("%{b:02X}")),
            _ => out.push_str(&format!("%{b:02x}")),
        }
    }
    out
}

//! Query strings: `application/x-www-form-urlencoded` decoding (`+` is a space), and the one
//! percent-encoder every URL we build uses.

use crate::text::{UPPER_HEX, hex_digit, push_hex};
use std::fmt;

/// The parameter names of the flow's wire format, both ways (the request the client sends,
/// the callback it receives): the only names an error repeats.
const KNOWN_NAMES: [&str; 9] = [
    "target",
    "state",
    "publicKeyType",
    "publicKey",
    "responseMode",
    "confirm",
    "key",
    "nonce",
    "payload",
];

/// Why a query parameter could not be decoded: names a parameter of [`KNOWN_NAMES`], never
/// another name (a client that does not encode `&` in `state` makes part of it one) nor a
/// value. `None`: a name outside that list, or one that does not decode.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum QueryError {
    BadEscape(Option<&'static str>),
    NotUtf8(Option<&'static str>),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::BadEscape(Some(name)) => write!(f, "{name}: invalid percent-encoding"),
            QueryError::NotUtf8(Some(name)) => write!(f, "{name}: not valid UTF-8 after decoding"),
            QueryError::BadEscape(None) => f.write_str(
                "query: invalid percent-encoding in an unknown parameter \
                 (is every & inside a value sent as %26?)",
            ),
            QueryError::NotUtf8(None) => {
                f.write_str("query: an unknown parameter is not valid UTF-8 after decoding")
            }
        }
    }
}

/// Splits a raw query into decoded pairs, in order. Malformed parts are kept as they came
/// (lossy), for display purposes such as `/echo`.
pub(crate) fn parse_lossy(raw: &str) -> Vec<(String, String)> {
    pairs(raw)
        .map(|(name, value)| {
            let decode = |s: &str| match percent_decode(s) {
                Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                None => s.to_string(),
            };
            (decode(name), decode(value))
        })
        .collect()
}

/// Splits a raw query into decoded pairs, refusing bad escapes and invalid UTF-8.
pub(crate) fn parse_strict(raw: &str) -> Result<Vec<(String, String)>, QueryError> {
    pairs(raw)
        .map(|(raw_name, raw_value)| {
            let name = percent_decode(raw_name).and_then(|b| String::from_utf8(b).ok());
            let known = name
                .as_deref()
                .and_then(|name| KNOWN_NAMES.into_iter().find(|k| *k == name));
            let name = name.ok_or(QueryError::BadEscape(None))?;
            let value = percent_decode(raw_value).ok_or(QueryError::BadEscape(known))?;
            let value = String::from_utf8(value).map_err(|_| QueryError::NotUtf8(known))?;
            Ok((name, value))
        })
        .collect()
}

fn pairs(raw: &str) -> impl Iterator<Item = (&str, &str)> {
    raw.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| part.split_once('=').unwrap_or((part, "")))
}

/// Appends `text` percent-encoded: ASCII letters and digits, the RFC 3986 unreserved `-._~`
/// and the bytes of `also_safe` as they are, every other byte of the UTF-8 as `%XX` (upper-case
/// hex). With nothing `also_safe`, the result is safe in any query and any path segment.
pub(crate) fn percent_encode_into(text: &str, also_safe: &[u8], out: &mut String) {
    out.reserve(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || also_safe.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            push_hex(out, byte, UPPER_HEX);
        }
    }
}

/// [`percent_encode_into`] a new string, nothing else kept.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    percent_encode_into(text, b"", &mut out);
    out
}

/// Decodes `%XX` escapes and `+`; `None` on a malformed escape.
pub(crate) fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex_digit(*bytes.get(i + 1)?)?;
                let lo = hex_digit(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn percent_encoding_known_answers() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("a b+c/d=e&f%"), "a%20b%2Bc%2Fd%3De%26f%25");
        assert_eq!(percent_encode("jürgen😀"), "j%C3%BCrgen%F0%9F%98%80");
        let mut out = String::from("x=");
        percent_encode_into("a@b c", b"@", &mut out);
        assert_eq!(out, "x=a@b%20c");
    }

    #[test]
    fn decodes_pairs_in_order() {
        assert_eq!(
            parse_strict("a=1&b=x+y&a=%2F%e2%82%AC&flag&=v&&").unwrap(),
            owned(&[
                ("a", "1"),
                ("b", "x y"),
                ("a", "/€"),
                ("flag", ""),
                ("", "v")
            ])
        );
        assert_eq!(parse_strict("").unwrap(), owned(&[]));
        assert_eq!(parse_strict("k=a=b").unwrap(), owned(&[("k", "a=b")]));
    }

    #[test]
    fn strict_refuses_bad_input_naming_only_known_parameters() {
        assert_eq!(
            parse_strict("state=%zz").unwrap_err().to_string(),
            "state: invalid percent-encoding"
        );
        assert_eq!(
            parse_strict("state=%4").unwrap_err(),
            QueryError::BadEscape(Some("state"))
        );
        assert_eq!(
            parse_strict("payload=%ff").unwrap_err(),
            QueryError::NotUtf8(Some("payload"))
        );
        // Any other name is never repeated: a state whose `&` was not encoded makes its tail
        // a parameter of its own.
        for (raw, error) in [
            ("%zz=1", QueryError::BadEscape(None)),
            ("state=abc&SECRET-tail%zz=1", QueryError::BadEscape(None)),
            ("state=abc&SECRET-tail=%zz", QueryError::BadEscape(None)),
            ("a%0D%0AX-Injected:%201=%zz", QueryError::BadEscape(None)),
            ("%1B[31m=%ff", QueryError::NotUtf8(None)),
            ("State=%ff", QueryError::NotUtf8(None)),
        ] {
            let got = parse_strict(raw).unwrap_err();
            assert_eq!(got, error, "{raw}");
            let line = got.to_string();
            assert!(
                line.starts_with("query: ") && !line.contains("SECRET"),
                "{line}"
            );
        }
        assert_eq!(
            QueryError::BadEscape(None).to_string(),
            "query: invalid percent-encoding in an unknown parameter \
             (is every & inside a value sent as %26?)"
        );
    }

    #[test]
    fn lossy_keeps_malformed_parts() {
        assert_eq!(
            parse_lossy("a=%zz&b=%ff&c=%41"),
            owned(&[("a", "%zz"), ("b", "\u{fffd}"), ("c", "A")])
        );
    }

    use proptest::prelude::*;

    /// Percent-encodes `bytes`: unreserved bytes as they are unless `escape` says otherwise, a
    /// space as `+` or `%20`, anything else as `%XX` in either case of hex digit.
    fn encode(bytes: &[u8], escape: &[bool]) -> String {
        let mut out = String::new();
        for (i, &b) in bytes.iter().enumerate() {
            let flip = escape
                .get(i % escape.len().max(1))
                .copied()
                .unwrap_or(false);
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' if !flip => {
                    out.push(b as char)
                }
                b' ' if !flip => out.push('+'),
                _ if flip => out.push_str(&format!("%{b:02x}")),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn percent_decoding_inverts_encoding(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
            escape in prop::collection::vec(any::<bool>(), 0..8),
        ) {
            prop_assert_eq!(percent_decode(&encode(&bytes, &escape)), Some(bytes));
        }

        #[test]
        fn encoded_pairs_decode_to_themselves(
            pairs in prop::collection::vec((".{0,12}", ".{0,12}"), 0..6),
            escape in prop::collection::vec(any::<bool>(), 0..8),
        ) {
            let encoded: Vec<String> = pairs
                .iter()
                .map(|(n, v)| {
                    let (n, v) = (encode(n.as_bytes(), &escape), encode(v.as_bytes(), &escape));
                    format!("{n}={v}")
                })
                .collect();
            let raw = encoded.join("&");
            prop_assert_eq!(parse_strict(&raw), Ok(pairs.clone()));
            prop_assert_eq!(parse_lossy(&raw), pairs);
        }

        #[test]
        fn strict_and_lossy_agree_where_strict_accepts(
            raw in "([a-z=&+%]|%[0-9a-fA-F]{2}|%[^0-9a-fA-F]|.){0,24}",
        ) {
            let lossy = parse_lossy(&raw);
            match parse_strict(&raw) {
                Ok(strict) => prop_assert_eq!(strict, lossy),
                Err(e) => {
                    let line = e.to_string();
                    let printable = line.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
                    prop_assert!(printable, "{:?}", line);
                }
            }
        }
    }
}

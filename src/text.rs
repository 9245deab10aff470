//! Small text helpers several layers share: hex digits both ways, foreign text made safe for a
//! terminal, and the loopback address a wildcard listener is reached at. One copy each, so the
//! rules cannot drift apart.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The value of one hex digit (either case), or `None`.
pub(crate) fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte two hex digits name, strictly: exactly two digits, nothing else (unlike
/// `u8::from_str_radix`, which accepts a sign, as in `"+f"`).
pub(crate) fn hex_byte(two: &[u8]) -> Option<u8> {
    match two {
        [hi, lo] => Some(hex_digit(*hi)? << 4 | hex_digit(*lo)?),
        _ => None,
    }
}

/// Appends the two hex digits of `byte` from `digits` (a 16-character table: the case).
pub(crate) fn push_hex(out: &mut String, byte: u8, digits: &[u8; 16]) {
    out.push(char::from(digits[usize::from(byte >> 4)]));
    out.push(char::from(digits[usize::from(byte & 15)]));
}

/// Levenshtein distance between `a` and `b`, by characters: how many single-character
/// insertions, deletions and substitutions turn one into the other. For "did you mean".
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Lower-case hex digits.
pub(crate) const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";
/// Upper-case hex digits (percent-encoding, RFC 3986 §2.1).
pub(crate) const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Lower-case hex of `bytes`, two digits each (by table: `/token` hashes on every request).
pub(crate) fn lower_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        push_hex(&mut hex, b, LOWER_HEX);
    }
    hex
}

/// What [`printable`] does with a space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spaces {
    /// Kept: words of a sentence (a server's error description).
    Keep,
    /// As `?`, like every other non-graphic character: one word (an unknown option).
    Replace,
}

/// At most `max` characters of `text`, graphic ASCII as it is, a space as `spaces` says, and
/// every other character (controls such as ESC, DEL, non-ASCII) as `?`: someone else's text
/// shown on our terminal can neither move the cursor nor colour it nor split the line.
pub(crate) fn printable(text: &str, max: usize, spaces: Spaces) -> String {
    text.chars()
        .take(max)
        .map(|c| match c {
            ' ' if spaces == Spaces::Keep => c,
            _ if c.is_ascii_graphic() => c,
            _ => '?',
        })
        .collect()
}

/// Where to connect to reach a listener bound to `addr`: a wildcard address over loopback of
/// its family (`0.0.0.0` → `127.0.0.1`, `::` → `::1`); any other address as it is.
pub(crate) fn loopback_for(addr: SocketAddr) -> SocketAddr {
    let ip: IpAddr = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(ip) if ip.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_bytes_are_exactly_two_digits() {
        assert_eq!(hex_byte(b"0f"), Some(0x0f));
        assert_eq!(hex_byte(b"Af"), Some(0xaf));
        assert_eq!(hex_byte(b"FF"), Some(0xff));
        // u8::from_str_radix("+f", 16) is Ok(15); a percent escape must not be.
        assert_eq!(hex_byte(b"+f"), None);
        assert_eq!(hex_byte(b"-1"), None);
        assert_eq!(hex_byte(b" f"), None);
        assert_eq!(hex_byte(b"g0"), None);
        assert_eq!(hex_byte(b"f"), None);
        assert_eq!(hex_byte(b"fff"), None);
    }

    #[test]
    fn lower_hex_known_answers() {
        assert_eq!(lower_hex(&[]), "");
        assert_eq!(lower_hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let mut upper = String::new();
        push_hex(&mut upper, 0xa5, UPPER_HEX);
        assert_eq!(upper, "A5");
    }

    #[test]
    fn edit_distance_known_answers() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("--formt", "--format"), 1);
        // By characters, not bytes; and case counts.
        assert_eq!(edit_distance("é", "e"), 1);
        assert_eq!(edit_distance("Port", "PORT"), 3);
    }

    #[test]
    fn printable_known_answers() {
        let keep = |text: &str, max| printable(text, max, Spaces::Keep);
        let replace = |text: &str, max| printable(text, max, Spaces::Replace);
        assert_eq!(keep("invalid_request", 64), "invalid_request");
        assert_eq!(keep("bad value: x", 64), "bad value: x");
        assert_eq!(replace("--foo bar", 40), "--foo?bar");
        assert_eq!(keep("\u{1b}[31mred\x7f\r\n\t", 64), "?[31mred????");
        assert_eq!(replace("--\u{1b}[31m", 40), "--?[31m");
        // A character, not a byte, per `?`; the limit counts characters.
        assert_eq!(keep("café ü", 64), "caf? ?");
        assert_eq!(keep("abcdef", 3), "abc");
        assert_eq!(keep("ééé", 2), "??");
        assert_eq!(keep("", 10), "");
        assert_eq!(keep("abc", 0), "");
    }

    #[test]
    fn wildcards_are_reached_over_loopback() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(loopback_for(at("0.0.0.0:80")), at("127.0.0.1:80"));
        assert_eq!(loopback_for(at("[::]:80")), at("[::1]:80"));
        assert_eq!(loopback_for(at("10.0.0.1:80")), at("10.0.0.1:80"));
        assert_eq!(loopback_for(at("[::1]:8")), at("[::1]:8"));
    }
}

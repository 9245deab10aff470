//! The `target` URL grammar: a strict parser that refuses anything outside it.
//!
//! Grammar (a subset of RFC 3986; anything else is refused):
//! ```text
//! target    = scheme "://" host [ ":" port ] path [ "?" query ]
//! scheme    = "http" / "https"                      ; lower case only
//! host      = "[::1]" / dotted-quad / dns-name      ; lower case only, no trailing dot
//! dotted-quad = 4 decimal octets 0-255, no leading zeros
//! dns-name  = labels of a-z 0-9 "-" (1-63 chars, no "-" at either end); the last label is
//!             not numeric or "0x..." (browsers read such names as IPv4 numbers: 127.1, 0x7f.1)
//! port      = 1-65535 in decimal, no leading zeros
//! path      = *( "/" segment ), pchars only, no "." or ".." segments
//! query     = pchars, "/" and "?"; kept verbatim
//! ```
//! Nowhere: userinfo, fragment, backslash, whitespace or control characters, non-ASCII,
//! percent-encoding in the host, `%2e`, `%2f`, `%5c` or an encoded control character.

use super::{Target, TargetError};

/// Parses `raw` by the grammar above; `Target::as_str` keeps it unchanged.
pub(super) fn parse(raw: &str) -> Result<Target, TargetError> {
    if raw.is_empty() {
        return Err(TargetError::Empty);
    }
    // Whole-string refusals first, so no later step ever sees these bytes.
    for byte in raw.bytes() {
        match byte {
            0x80.. => return Err(TargetError::NonAscii),
            0..=0x20 | 0x7f => return Err(TargetError::Control),
            b'\\' => return Err(TargetError::Backslash),
            b'#' => return Err(TargetError::Fragment),
            _ => {}
        }
    }
    let (scheme, rest) = raw.split_once(':').ok_or(TargetError::MissingScheme)?;
    let mut chars = scheme.bytes();
    let scheme_ok = chars.next().is_some_and(|b| b.is_ascii_alphabetic())
        && chars.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return Err(TargetError::MissingScheme);
    }
    let https = match scheme {
        "http" => false,
        "https" => true,
        _ => return Err(TargetError::UnsupportedScheme),
    };
    let rest = rest.strip_prefix("//").ok_or(TargetError::MissingHost)?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(TargetError::Userinfo);
    }
    let (host, port) = split_host_port(authority)?;
    check_host(host)?;
    let port = port.map(parse_port).transpose()?;
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    check_path(path)?;
    if let Some(query) = query {
        check_chars(query, b"/?", false)?;
    }
    Ok(Target {
        raw: raw.to_owned(),
        https,
        host: host.to_owned(),
        port,
        path: path.to_owned(),
        query: query.map(str::to_owned),
    })
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), TargetError> {
    let (host, after) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or(TargetError::Ipv6)? + 1;
        authority.split_at(end)
    } else {
        let end = authority.find(':').unwrap_or(authority.len());
        authority.split_at(end)
    };
    if host.is_empty() {
        return Err(TargetError::MissingHost);
    }
    match after {
        "" => Ok((host, None)),
        _ => match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None => Err(TargetError::BadHost),
        },
    }
}

fn parse_port(port: &str) -> Result<u16, TargetError> {
    let digits = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    match port.parse::<u16>() {
        Ok(n) if digits && n > 0 && !port.starts_with('0') => Ok(n),
        _ => Err(TargetError::BadPort),
    }
}

fn check_host(host: &str) -> Result<(), TargetError> {
    if host.starts_with('[') {
        return if host == "[::1]" {
            Ok(())
        } else {
            Err(TargetError::Ipv6)
        };
    }
    if host.contains('%') {
        return Err(TargetError::PercentEncodedHost);
    }
    let labels: Vec<&str> = host.split('.').collect();
    let last = labels[labels.len() - 1];
    // A numeric last label makes browsers parse the whole host as an IPv4 number.
    if last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x") {
        let octet = |l: &str| {
            !l.is_empty()
                && l.len() <= 3
                && (l == "0" || !l.starts_with('0'))
                && l.parse::<u8>().is_ok()
        };
        return if labels.len() == 4 && labels.iter().all(|l| octet(l)) {
            Ok(())
        } else {
            Err(TargetError::BadHost)
        };
    }
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if host.len() <= 253 && labels.iter().all(label_ok) {
        Ok(())
    } else {
        Err(TargetError::BadHost)
    }
}

fn check_path(path: &str) -> Result<(), TargetError> {
    if !path.is_empty() && !path.starts_with('/') {
        return Err(TargetError::BadCharacter);
    }
    check_chars(path, b"/", true)?;
    for segment in path.split('/') {
        if segment == "." || segment == ".." {
            return Err(TargetError::DotSegment);
        }
    }
    Ok(())
}

/// RFC 3986 pchars plus `extra`; percent-escapes well formed and, if `path`, not of `.`, `/`,
/// `\` or control characters (a server behind us could decode them into a path trick).
fn check_chars(text: &str, extra: &[u8], path: bool) -> Result<(), TargetError> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let value = bytes
                .get(i + 1..i + 3)
                .and_then(crate::text::hex_byte)
                .ok_or(TargetError::BadEscape)?;
            if path && matches!(value, b'.' | b'/' | b'\\' | 0..=0x1f | 0x7f) {
                return Err(TargetError::BadEscape);
            }
            i += 3;
            continue;
        }
        let pchar = byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&byte);
        if !pchar && !extra.contains(&byte) {
            return Err(TargetError::BadCharacter);
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::redirect_target::{check, with_params};
    use TargetError::*;

    use proptest::prelude::*;

    /// Targets the default rule allows: a loopback host, any port or none, a path of plain,
    /// dotted (never `.` or `..`) and percent-escaped segments, any query of allowed characters.
    fn loopback_target() -> impl Strategy<Value = String> {
        let host = prop::sample::select(vec!["127.0.0.1", "[::1]", "localhost"]);
        let port = prop::option::of(1..=65535u16);
        let segment = prop_oneof![
            "[A-Za-z0-9_~!$&'()*+,;=:@-][A-Za-z0-9._~!$&'()*+,;=:@-]{0,7}",
            "[a-z]{0,3}%(20|41|7E|c3%bc)[a-z]{0,3}",
        ];
        let path = (prop::collection::vec(segment, 0..4), any::<bool>());
        let query = prop::option::of(
            "[A-Za-z0-9=&/?._~%-]{0,16}".prop_filter("well-formed escapes", |q| {
                check_chars(q, b"/?", false).is_ok()
            }),
        );
        (host, port, path, query).prop_map(|(host, port, (segments, slash), query)| {
            let mut target = format!("http://{host}");
            if let Some(port) = port {
                target.push_str(&format!(":{port}"));
            }
            for segment in segments {
                target.push('/');
                target.push_str(&segment);
            }
            if slash {
                target.push('/');
            }
            if let Some(query) = query {
                target.push('?');
                target.push_str(&query);
            }
            target
        })
    }

    fn checked(raw: &str) -> Result<Target, TestCaseError> {
        check(raw, &[], None)
            .map(|allowed| allowed.target)
            .map_err(|e| TestCaseError::fail(format!("{raw}: {e}")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn loopback_targets_are_allowed_and_keep_the_flow_parameters(
            raw in loopback_target(),
            params in prop::collection::vec(("[a-z]{1,8}", ".{0,16}"), 0..5),
        ) {
            let target = checked(&raw)?;
            prop_assert_eq!(target.as_str(), raw.as_str());
            let borrowed: Vec<(&str, &str)> =
                params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let location = with_params(&target, &borrowed);
            prop_assert!(location.starts_with(&raw));
            let again = checked(&location)?;
            prop_assert_eq!(again.origin(), target.origin());
            prop_assert_eq!(again.path(), target.path());
            let suffix = location[raw.len()..].trim_start_matches(['?', '&']);
            prop_assert_eq!(crate::flow::query::parse_strict(suffix), Ok(params));
        }

        #[test]
        fn one_forbidden_character_anywhere_is_refused(
            raw in loopback_target(),
            at in any::<prop::sample::Index>(),
            bad in prop::sample::select(vec![
                '#', '\\', ' ', '\n', '\t', '\r', '\0', '\u{7f}', 'é', '\u{3002}',
            ]),
        ) {
            let mut broken = raw.clone();
            broken.insert(at.index(raw.len() + 1), bad);
            prop_assert!(check(&broken, &[], None).is_err(), "{:?}", broken);
        }

        #[test]
        fn userinfo_another_scheme_or_https_is_refused(
            raw in loopback_target(),
            userinfo in "[a-z0-9.:]{0,12}",
            scheme in prop::sample::select(vec!["https", "HTTP", "ftp", "javascript", "file"]),
        ) {
            let with_user = raw.replacen("://", &format!("://{userinfo}@"), 1);
            prop_assert_eq!(check(&with_user, &[], None).unwrap_err(), Userinfo);
            let other = format!("{scheme}{}", &raw["http".len()..]);
            prop_assert!(check(&other, &[], None).is_err(), "{}", other);
        }
    }
}

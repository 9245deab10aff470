//! Forms that other servers normalise into another path, refused under a prefix.
//!
//! A target a prefix allows must not carry what servlet containers (Tomcat, Jetty) and lenient
//! decoders normalise into another path: path parameters (`;`, `%3B`: `/user/..;/admin` is
//! `/admin` to Tomcat), an encoded `%` (`%25`, decoded twice), or escapes that are not valid
//! UTF-8 (overlong forms such as `%C0%AE`). Outside the `{user}` segment, neither what Unicode
//! (NFKC) or Windows normalisation turns into a dot segment: percent-encoded non-ASCII
//! (`%EF%BC%8E`, a fullwidth full stop, and `%E2%80%A4`, a one dot leader, become `.`), and a
//! segment ending in `.` or a space (Windows drops those: `...` and `..%20` become `..`).

use super::TargetError;

/// Refuses what servlet containers and lenient decoders turn into another path: `;` and `%3B`
/// (path parameters: Tomcat reads `/user/..;/admin` as `/admin`), `%25` (decoded twice, it
/// makes a new escape) and escapes whose bytes are not valid UTF-8 (an overlong `%C0%AE` is a
/// `.` to some decoders). Then, in every segment but `user_segment` (the user's name, escaped
/// by us): what Unicode or Windows normalisation makes a dot segment ([`dot_like`]). Runs on a
/// path that passed the grammar: escapes are well formed.
pub(super) fn check_normalised_forms(
    path: &str,
    user_segment: Option<usize>,
) -> Result<(), TargetError> {
    if path.contains(';') {
        return Err(TargetError::PathParameter);
    }
    let mut decoded = Vec::with_capacity(path.len());
    for segment in path.split('/') {
        let bytes = decode_segment(segment)?;
        decoded.extend_from_slice(&bytes);
        decoded.push(b'/');
    }
    std::str::from_utf8(&decoded).map_err(|_| TargetError::BadUtf8Escape)?;
    for (i, segment) in path.split('/').enumerate() {
        if Some(i) != user_segment {
            dot_like(segment)?;
        }
    }
    Ok(())
}

/// The bytes of one segment with its escapes decoded; `;` and `%` refused as escapes.
fn decode_segment(segment: &str) -> Result<Vec<u8>, TargetError> {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let value = bytes
                .get(i + 1..i + 3)
                .and_then(crate::text::hex_byte)
                .ok_or(TargetError::BadEscape)?;
            match value {
                b';' => return Err(TargetError::PathParameter),
                b'%' => return Err(TargetError::DoubleEncoding),
                _ => decoded.push(value),
            }
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    Ok(decoded)
}

/// Refuses a segment that Unicode (NFKC) or Windows normalisation could make `.` or `..`:
/// one with a percent-encoded non-ASCII byte (every compatibility character is non-ASCII;
/// `%EF%BC%8E` and `%E2%80%A4` become `.`), or one ending in `.` or a space, which Windows
/// drops (`...`, `..%20`).
fn dot_like(segment: &str) -> Result<(), TargetError> {
    let decoded = decode_segment(segment)?;
    if decoded.iter().any(|b| !b.is_ascii()) {
        return Err(TargetError::NonAsciiEscape);
    }
    match decoded.last() {
        Some(b'.' | b' ') => Err(TargetError::DotLikeSegment),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::flow::redirect_target::tests::prefixes;
    use crate::flow::redirect_target::{AllowedPrefix, Reach, TargetError::*, check};

    /// Today's hole: `..;` climbs out of the prefix in a servlet container. Every form that
    /// such servers normalise is refused under a prefix, with its reason; loopback keeps its
    /// grammar (the client's own listener is no servlet container).
    #[test]
    fn normalised_forms_are_refused_under_a_prefix() {
        let allowed = prefixes();
        for (url, want) in [
            ("https://hub.example.com/user/..;/admin", PathParameter),
            ("https://hub.example.com/user/.;/admin", PathParameter),
            (
                "https://hub.example.com/user/alice;jsessionid=x/",
                PathParameter,
            ),
            ("https://hub.example.com/user/;/x", PathParameter),
            ("https://hub.example.com/user/..%3B/admin", PathParameter),
            ("https://hub.example.com/user/..%3b/admin", PathParameter),
            (
                "https://hub.example.com/user/%252e%252e/admin",
                DoubleEncoding,
            ),
            ("https://hub.example.com/user/%25/x", DoubleEncoding),
            (
                "https://hub.example.com/user/%C0%AE%C0%AE/admin",
                BadUtf8Escape,
            ),
            ("https://hub.example.com/user/%c0%ae/x", BadUtf8Escape),
            ("https://hub.example.com/user/%E0%80%AE/x", BadUtf8Escape),
            ("https://hub.example.com/user/%F0%80%80%AE/x", BadUtf8Escape),
            ("https://hub.example.com/user/%C1%9C/x", BadUtf8Escape),
            ("https://hub.example.com/user/%ED%A0%80/x", BadUtf8Escape),
            ("https://hub.example.com/user/%FF/x", BadUtf8Escape),
            ("https://hub.example.com/user/%C3/x", BadUtf8Escape),
        ] {
            assert_eq!(check(url, &allowed, None).map(|_| ()), Err(want), "{url}");
        }
        // Well-formed escapes of other ASCII characters, and a query with ';', stay allowed.
        for url in [
            "https://hub.example.com/user/a%20b/cb?x=1;y=2&z=%25",
            "https://hub.example.com/user/a%40b/",
        ] {
            assert!(check(url, &allowed, None).is_ok(), "{url}");
        }
        assert!(check("http://127.0.0.1:9/cb;x", &allowed, None).is_ok());
        for (entry, reason) in [
            ("https://hub.example.com/a;b/", "path parameters"),
            ("https://hub.example.com/%25/", "%25"),
            ("https://hub.example.com/%C0%AE/", "UTF-8"),
        ] {
            let err = AllowedPrefix::parse(entry).unwrap_err();
            assert!(err.contains(reason), "{entry}: {err}");
        }
    }

    /// Issue 16: what NFKC or Windows normalisation makes a dot segment is refused under a
    /// prefix, outside the `{user}` segment; loopback keeps its grammar.
    #[test]
    fn unicode_and_windows_dot_segments_are_refused_under_a_prefix() {
        let shared = prefixes();
        let per_user = AllowedPrefix::parse_list("https://hub.example.com/user/{user}/").unwrap();
        for (tail, want) in [
            ("%ef%bc%8e%ef%bc%8e/admin", NonAsciiEscape),
            ("%EF%BC%8E/admin", NonAsciiEscape),
            ("%e2%80%a4%e2%80%a4/admin", NonAsciiEscape),
            ("%e2%80%a5/admin", NonAsciiEscape),
            ("x%C3%BC/cb", NonAsciiEscape),
            (".../admin", DotLikeSegment),
            ("..%20/admin", DotLikeSegment),
            (". ./admin".replace(' ', "%20").as_str(), DotLikeSegment),
            ("..%20%20/admin", DotLikeSegment),
            ("admin./x", DotLikeSegment),
            ("admin%20/x", DotLikeSegment),
            ("cb/....", DotLikeSegment),
        ] {
            let url = format!("https://hub.example.com/user/{tail}");
            assert_eq!(check(&url, &shared, None).map(|_| ()), Err(want), "{url}");
            let url = format!("https://hub.example.com/user/alice/{tail}");
            let got = check(&url, &per_user, Some("alice")).map(|_| ());
            assert_eq!(got, Err(want), "{url}");
            // The client's own listener is no servlet container or Windows server.
            let url = format!("http://127.0.0.1:9/{tail}");
            assert!(check(&url, &shared, None).is_ok(), "{url}");
        }
        // The user's own segment is ours: escaped from the name, whatever the name is.
        for (user, segment) in [("jürgen", "j%C3%BCrgen"), ("a.", "a."), ("b ", "b%20")] {
            let url = format!("https://hub.example.com/user/{segment}/cb");
            let got = check(&url, &per_user, Some(user)).map(|a| a.reach);
            assert_eq!(got, Ok(Reach::PerUser), "{url}");
        }
        // Inner dots and spaces, and ASCII escapes, stay allowed.
        for url in [
            "https://hub.example.com/user/a.b/c..d/x%20y/",
            "https://hub.example.com/user/.well-known/x",
        ] {
            assert!(check(url, &shared, None).is_ok(), "{url}");
        }
        for entry in [
            "https://hub.example.com/%E2%80%A4/",
            "https://hub.example.com/a./{user}/",
        ] {
            let err = AllowedPrefix::parse(entry).unwrap_err();
            assert!(err.contains("outside loopback"), "{entry}: {err}");
        }
    }
}

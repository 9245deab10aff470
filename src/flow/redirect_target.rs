//! Where the token may go: a strict parser for the flow's `target` URL and its allow-list.
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
//!
//! Default rule (RFC 8252 §7.3): scheme `http`, host exactly `127.0.0.1`, `[::1]` or
//! lower-case `localhost`, any port, any path. Extra prefixes (`T2G_REDIRECT_ALLOWED_TARGETS`)
//! match when scheme, host and port (80/443 when absent) are equal and the target's path
//! starts with the prefix's path at a `/` boundary.
//!
//! A prefix may hold `{user}` as one whole path segment (`https://hub.example.com/user/{user}/`):
//! it stands for the requesting user's name, percent-encoded as one segment exactly as
//! JupyterHub escapes user names in its URLs (`quote(name, safe='@~')`: everything but
//! `A-Za-z0-9-._~@` as `%XX` of its UTF-8 bytes, upper-case hex). Without a user, such a prefix
//! matches nothing. Without `{user}`, a prefix is shared by every user who can reach the server.
//!
//! A target a prefix allows must not carry what servlet containers (Tomcat, Jetty) and lenient
//! decoders normalise into another path: path parameters (`;`, `%3B`: `/user/..;/admin` is
//! `/admin` to Tomcat), an encoded `%` (`%25`, decoded twice), or escapes that are not valid
//! UTF-8 (overlong forms such as `%C0%AE`). Outside the `{user}` segment, neither what Unicode
//! (NFKC) or Windows normalisation turns into a dot segment: percent-encoded non-ASCII
//! (`%EF%BC%8E`, a fullwidth full stop, and `%E2%80%A4`, a one dot leader, become `.`), and a
//! segment ending in `.` or a space (Windows drops those: `...` and `..%20` become `..`).

use std::fmt;

use crate::flow::query;

/// The `target` of paste mode; the flow handles it before calling [`check`].
pub(crate) const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";

/// A refused target. Display is one line naming the parameter and the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetError {
    Empty,
    MissingScheme,
    UnsupportedScheme,
    MissingHost,
    Userinfo,
    Fragment,
    Backslash,
    Control,
    NonAscii,
    PercentEncodedHost,
    BadHost,
    Ipv6,
    BadPort,
    DotSegment,
    BadEscape,
    BadCharacter,
    PathParameter,
    DoubleEncoding,
    BadUtf8Escape,
    NonAsciiEscape,
    DotLikeSegment,
    NotAllowed,
    /// A `{user}` prefix would apply, but no user is known.
    NeedsUser,
    /// Under a `{user}` prefix, in another user's place.
    OtherUser,
    /// Paste mode is turned off (`T2G_PASTE_MODE=off`).
    PasteModeOff,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self {
            TargetError::Empty => "is empty",
            TargetError::MissingScheme => "missing scheme (expected http:// or https://)",
            TargetError::UnsupportedScheme => "scheme must be lower-case http or https",
            TargetError::MissingHost => "missing host",
            TargetError::Userinfo => "userinfo is not allowed",
            TargetError::Fragment => "fragment is not allowed",
            TargetError::Backslash => "backslash is not allowed",
            TargetError::Control => "whitespace or control characters are not allowed",
            TargetError::NonAscii => "non-ASCII characters are not allowed",
            TargetError::PercentEncodedHost => "percent-encoded host is not allowed",
            TargetError::BadHost => {
                "host must be a lower-case DNS name or dotted-decimal IPv4 address"
            }
            TargetError::Ipv6 => "the only IPv6 host allowed is [::1]",
            TargetError::BadPort => "port must be a number from 1 to 65535",
            TargetError::DotSegment => "dot segments (. or ..) are not allowed in the path",
            TargetError::BadEscape => {
                "malformed percent-escape, or an encoded '.', '/', '\\' or control character"
            }
            TargetError::BadCharacter => "character not allowed in a URL",
            TargetError::PathParameter => {
                "path parameters (';' or %3B) are not allowed outside loopback"
            }
            TargetError::DoubleEncoding => "an encoded '%' (%25) is not allowed outside loopback",
            TargetError::BadUtf8Escape => {
                "percent-escapes must encode valid UTF-8 (no overlong forms such as %C0%AE)"
            }
            TargetError::NonAsciiEscape => {
                "percent-encoded non-ASCII characters are not allowed outside loopback \
                 (Unicode normalisation makes some of them '.' or '/')"
            }
            TargetError::DotLikeSegment => {
                "path segments ending in '.' or a space are not allowed outside loopback \
                 (Windows reads '...' and '.. ' as '..')"
            }
            TargetError::NotAllowed => {
                "not an allowed target (http loopback or a prefix in T2G_REDIRECT_ALLOWED_TARGETS)"
            }
            TargetError::NeedsUser => {
                "an authenticated user is needed for this target, and the request names none"
            }
            TargetError::OtherUser => "this target belongs to another user",
            TargetError::PasteModeOff => "paste mode is turned off on this server",
        };
        write!(f, "target: {reason}")
    }
}

impl std::error::Error for TargetError {}

/// A target that passed [`check`]; `as_str` is the input, unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    raw: String,
    https: bool,
    host: String,
    port: Option<u16>,
    path: String,
    query: Option<String>,
}

impl Target {
    pub(crate) fn as_str(&self) -> &str {
        &self.raw
    }

    /// `scheme://host[:port]` as the target gave them: a CSP source for this target.
    pub(crate) fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        match self.port {
            Some(port) => format!("{scheme}://{}:{port}", self.host),
            None => format!("{scheme}://{}", self.host),
        }
    }

    /// Whether the host is an IPv6 literal, which a CSP source cannot name.
    pub(crate) fn is_ipv6(&self) -> bool {
        self.host.starts_with('[')
    }

    /// The port, 80 or 443 when absent.
    pub(crate) fn port(&self) -> u16 {
        self.port.unwrap_or(if self.https { 443 } else { 80 })
    }

    /// The path, `/` when empty.
    pub(crate) fn path(&self) -> &str {
        if self.path.is_empty() {
            "/"
        } else {
            &self.path
        }
    }

    /// `host[:port]` as the target gave them, for people to read.
    pub(crate) fn host_port(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    fn is_loopback_host(&self) -> bool {
        matches!(self.host.as_str(), "127.0.0.1" | "[::1]" | "localhost")
    }
}

/// Which rule let a target through: decides whether the user confirms before the token goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// The user's own machine: the default rule, or a prefix on a loopback host.
    Loopback,
    /// A `{user}` prefix, filled with the requesting user's name.
    PerUser,
    /// A prefix without `{user}`: every user of the server may receive tokens there.
    Shared,
}

/// A target that passed [`check`], and the rule that allowed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Allowed {
    pub target: Target,
    pub reach: Reach,
}

/// The placeholder of a per-user prefix.
pub(crate) const USER_PLACEHOLDER: &str = "{user}";

/// One entry of `T2G_REDIRECT_ALLOWED_TARGETS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedPrefix {
    /// The entry as configured, `{user}` included.
    raw: String,
    /// Scheme, host, port and path; a `{user}` segment parsed as a stand-in segment.
    base: Target,
    /// For a `{user}` prefix: the path before the segment (ending in `/`) and after it.
    per_user: Option<(String, String)>,
}

/// How one prefix relates to a target.
enum PrefixMatch {
    Yes(Reach),
    NeedsUser,
    OtherUser,
    No,
}

impl AllowedPrefix {
    /// Parses one prefix: an http or https URL of the target grammar, without query, with at
    /// most one `{user}` as a whole path segment. The error names the entry and the reason.
    pub fn parse(entry: &str) -> Result<AllowedPrefix, String> {
        let bad = |reason: &dyn fmt::Display| format!("redirect prefix {entry:?}: {reason}");
        let (parsable, per_user) = match entry.find(USER_PLACEHOLDER) {
            None => (entry.to_string(), None),
            Some(at) => {
                let (before, after) = (&entry[..at], &entry[at + USER_PLACEHOLDER.len()..]);
                let in_path = before
                    .find("://")
                    .is_some_and(|scheme_end| before[scheme_end + 3..].contains('/'));
                let whole_segment = in_path
                    && before.ends_with('/')
                    && (after.is_empty() || after.starts_with('/'));
                if !whole_segment || after.contains(USER_PLACEHOLDER) {
                    return Err(bad(&"{user} may appear once, as a whole path segment \
                         (https://hub.example.com/user/{user}/)"));
                }
                let path_before = parse(before).map_err(|e| bad(&e))?.path().to_string();
                // "u" stands in for the user while the rest of the entry is checked.
                (
                    format!("{before}u{after}"),
                    Some((path_before, after.to_string())),
                )
            }
        };
        let base = parse(&parsable).map_err(|e| bad(&e))?;
        if base.query.is_some() {
            return Err(bad(&"a query is not allowed in a prefix"));
        }
        let prefix = AllowedPrefix {
            raw: entry.to_string(),
            base,
            per_user,
        };
        check_normalised_forms(&prefix.base.path, prefix.user_segment()).map_err(|e| bad(&e))?;
        Ok(prefix)
    }

    /// The index of the `{user}` segment in a path split at `/` (the empty string before the
    /// first `/` is index 0); `None` without `{user}`.
    fn user_segment(&self) -> Option<usize> {
        let (before, _) = self.per_user.as_ref()?;
        Some(before.split('/').count() - 1)
    }

    /// Parses the comma-separated list; empty entries (and surrounding spaces) are ignored.
    pub fn parse_list(list: &str) -> Result<Vec<AllowedPrefix>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(AllowedPrefix::parse)
            .collect()
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The startup warning for a prefix every user shares; none for a `{user}` prefix or one
    /// on a loopback host (the user's own machine).
    pub fn shared_warning(&self) -> Option<String> {
        if self.per_user.is_some() || self.base.is_loopback_host() {
            return None;
        }
        Some(format!(
            "redirect prefix {} has no {USER_PLACEHOLDER}: every user who can reach this server \
             may receive tokens there, other users' tokens included; prefer a per-user prefix \
             such as {}/{USER_PLACEHOLDER}/",
            self.raw,
            self.raw.trim_end_matches('/'),
        ))
    }

    fn matches(&self, target: &Target, user: Option<&str>) -> PrefixMatch {
        let prefix = &self.base;
        let same_origin = prefix.https == target.https
            && prefix.host == target.host
            && prefix.port() == target.port();
        if !same_origin {
            return PrefixMatch::No;
        }
        let have = target.path();
        let (shared, own) = if prefix.is_loopback_host() {
            (Reach::Loopback, Reach::Loopback)
        } else {
            (Reach::Shared, Reach::PerUser)
        };
        let Some((before, after)) = &self.per_user else {
            return match path_under(have, prefix.path()) {
                true => PrefixMatch::Yes(shared),
                false => PrefixMatch::No,
            };
        };
        if !have.starts_with(before.as_str()) {
            return PrefixMatch::No;
        }
        let Some(user) = user else {
            return PrefixMatch::NeedsUser;
        };
        let mut want = before.clone();
        percent_encode_segment(user, &mut want);
        want.push_str(after);
        match path_under(have, &want) {
            true => PrefixMatch::Yes(own),
            false => PrefixMatch::OtherUser,
        }
    }
}

/// Whether `have` is `want` or lies under it at a `/` boundary.
fn path_under(have: &str, want: &str) -> bool {
    have == want
        || (want.ends_with('/') && have.starts_with(want))
        || have
            .strip_prefix(want)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A user name as one path segment, as JupyterHub escapes it (`urllib.parse.quote(name,
/// safe='@~')`): `A-Za-z0-9-._~@` stay, every other byte of the UTF-8 becomes `%XX`.
pub(crate) fn percent_encode_segment(name: &str, out: &mut String) {
    query::percent_encode_into(name, b"@", out);
}

/// Parses `target` and checks it against the loopback rule and the extra prefixes, `{user}`
/// filled with `user`. A target a prefix lets through must also pass
/// [`check_normalised_forms`]. When refused, the most telling reason wins: another user's
/// place, then a missing user, then not allowed.
pub(crate) fn check(
    target: &str,
    allowed: &[AllowedPrefix],
    user: Option<&str>,
) -> Result<Allowed, TargetError> {
    let target = parse(target)?;
    if !target.https && target.is_loopback_host() {
        return Ok(Allowed {
            target,
            reach: Reach::Loopback,
        });
    }
    let (mut needs_user, mut other_user) = (false, false);
    for prefix in allowed {
        match prefix.matches(&target, user) {
            PrefixMatch::Yes(reach) => {
                check_normalised_forms(&target.path, prefix.user_segment())?;
                return Ok(Allowed { target, reach });
            }
            PrefixMatch::NeedsUser => needs_user = true,
            PrefixMatch::OtherUser => other_user = true,
            PrefixMatch::No => {}
        }
    }
    Err(if other_user {
        TargetError::OtherUser
    } else if needs_user {
        TargetError::NeedsUser
    } else {
        TargetError::NotAllowed
    })
}

/// Refuses what servlet containers and lenient decoders turn into another path: `;` and `%3B`
/// (path parameters: Tomcat reads `/user/..;/admin` as `/admin`), `%25` (decoded twice, it
/// makes a new escape) and escapes whose bytes are not valid UTF-8 (an overlong `%C0%AE` is a
/// `.` to some decoders). Then, in every segment but `user_segment` (the user's name, escaped
/// by us): what Unicode or Windows normalisation makes a dot segment ([`dot_like`]). Runs on a
/// path that passed the grammar: escapes are well formed.
fn check_normalised_forms(path: &str, user_segment: Option<usize>) -> Result<(), TargetError> {
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

/// The target with `params` appended to its query, each name and value percent-encoded
/// (everything but `A-Za-z0-9-._~`); an existing query is kept verbatim.
pub(crate) fn with_params(target: &Target, params: &[(&str, &str)]) -> String {
    // Base64 values grow by about a tenth when percent-encoded.
    let values: usize = params.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(target.raw.len() + values + values / 8);
    out.push_str(&target.raw);
    let mut separator = match &target.query {
        None => "?",
        Some(query) if query.is_empty() => "",
        Some(_) => "&",
    };
    for (name, value) in params {
        out.push_str(separator);
        query::percent_encode_into(name, b"", &mut out);
        out.push('=');
        query::percent_encode_into(value, b"", &mut out);
        separator = "&";
    }
    out
}

fn parse(raw: &str) -> Result<Target, TargetError> {
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
    use TargetError::*;

    fn prefixes() -> Vec<AllowedPrefix> {
        AllowedPrefix::parse_list(
            "https://hub.example.com/user/, http://intranet.example.com:8080/cb,https://a.example/x",
        )
        .unwrap()
    }

    #[test]
    fn target_table() {
        let allowed = prefixes();
        let cases: &[(&str, Result<(), TargetError>)] = &[
            // Loopback, the default rule.
            ("http://127.0.0.1", Ok(())),
            ("http://127.0.0.1/", Ok(())),
            ("http://127.0.0.1:8000/callback", Ok(())),
            ("http://127.0.0.1:65535/a/b/c?x=1&y=2", Ok(())),
            ("http://127.0.0.1:1", Ok(())),
            ("http://[::1]:8000/cb", Ok(())),
            ("http://[::1]", Ok(())),
            ("http://localhost:49152/token?state=abc", Ok(())),
            ("http://localhost", Ok(())),
            ("http://127.0.0.1:8000/cb?", Ok(())),
            ("http://127.0.0.1:8000?x=1", Ok(())),
            ("http://127.0.0.1/a%20b/~user/x.y/..a/a..", Ok(())),
            ("http://127.0.0.1/cb?next=%2Fhome%2e&q=a/b?c", Ok(())),
            ("http://127.0.0.1/@evil.com", Ok(())),
            ("http://127.0.0.1?x=@evil.com", Ok(())),
            // Extra prefixes.
            ("https://hub.example.com/user/alice/token", Ok(())),
            ("https://hub.example.com/user/", Ok(())),
            ("https://hub.example.com:443/user/alice?x=1", Ok(())),
            ("http://intranet.example.com:8080/cb", Ok(())),
            ("http://intranet.example.com:8080/cb/x", Ok(())),
            ("https://a.example/x/y", Ok(())),
            // Not allowed: prefix boundary, port, scheme, host.
            ("https://hub.example.com/user", Err(NotAllowed)),
            ("https://hub.example.com/user2", Err(NotAllowed)),
            ("https://hub.example.com/users/alice", Err(NotAllowed)),
            ("https://hub.example.com/", Err(NotAllowed)),
            ("https://hub.example.com:8443/user/alice", Err(NotAllowed)),
            ("http://hub.example.com/user/alice", Err(NotAllowed)),
            ("http://intranet.example.com/cb", Err(NotAllowed)),
            ("http://intranet.example.com:8080/cbx", Err(NotAllowed)),
            ("https://a.example/xy", Err(NotAllowed)),
            ("https://evil.hub.example.com/user/", Err(NotAllowed)),
            ("https://127.0.0.1:8000/cb", Err(NotAllowed)),
            ("http://127.0.0.2/", Err(NotAllowed)),
            ("http://0.0.0.0:8000/", Err(NotAllowed)),
            ("http://localhost.evil.com/", Err(NotAllowed)),
            ("http://127.0.0.1.nip.io/", Err(NotAllowed)),
            ("http://evil.com/", Err(NotAllowed)),
            // Userinfo and fragment tricks.
            ("http://127.0.0.1@evil.com/", Err(Userinfo)),
            ("http://evil.com@127.0.0.1/", Err(Userinfo)),
            ("http://127.0.0.1:80@evil/", Err(Userinfo)),
            ("http://@127.0.0.1/", Err(Userinfo)),
            ("http://evil.com#@127.0.0.1", Err(Fragment)),
            ("http://127.0.0.1/cb#frag", Err(Fragment)),
            ("http://127.0.0.1/cb#", Err(Fragment)),
            // Backslashes, whitespace, control and non-ASCII characters.
            ("http://127.0.0.1\\@evil.com/", Err(Backslash)),
            ("http://evil.com\\.127.0.0.1/", Err(Backslash)),
            ("http:\\\\127.0.0.1/", Err(Backslash)),
            ("http://127.0.0.1/cb\r\nSet-Cookie: x=1", Err(Control)),
            ("http://127.0.0.1/cb\n", Err(Control)),
            (" http://127.0.0.1/", Err(Control)),
            ("http://127.0.0.1/a b", Err(Control)),
            ("http://127.0.0.1/\tx", Err(Control)),
            ("http://127.0.0.1/\u{7f}", Err(Control)),
            ("http://127.0.0.1/\0", Err(Control)),
            ("http://lоcalhost/", Err(NonAscii)),
            ("http://127.0.0.1/ä", Err(NonAscii)),
            ("http://127。0。0。1/", Err(NonAscii)),
            // Schemes.
            ("", Err(Empty)),
            ("//evil.com/", Err(MissingScheme)),
            ("127.0.0.1:8000/cb", Err(MissingScheme)),
            ("/cb", Err(MissingScheme)),
            ("://127.0.0.1/", Err(MissingScheme)),
            ("1http://127.0.0.1/", Err(MissingScheme)),
            ("javascript:alert(1)", Err(UnsupportedScheme)),
            ("javascript://127.0.0.1/%0aalert(1)", Err(UnsupportedScheme)),
            ("data:text/html,x", Err(UnsupportedScheme)),
            ("file:///etc/passwd", Err(UnsupportedScheme)),
            ("ftp://127.0.0.1/", Err(UnsupportedScheme)),
            ("HTTP://127.0.0.1/", Err(UnsupportedScheme)),
            ("Http://127.0.0.1/", Err(UnsupportedScheme)),
            ("urn:ietf:wg:oauth:2.0:oob", Err(UnsupportedScheme)),
            ("http:/127.0.0.1/x", Err(MissingHost)),
            ("http:/x", Err(MissingHost)),
            ("http:127.0.0.1", Err(MissingHost)),
            ("http://", Err(MissingHost)),
            ("http:///cb", Err(MissingHost)),
            ("http://:8000/cb", Err(MissingHost)),
            ("http://?x", Err(MissingHost)),
            // Hosts.
            ("http://LOCALHOST/", Err(BadHost)),
            ("http://Localhost/", Err(BadHost)),
            ("http://localhost./", Err(BadHost)),
            ("http://127.0.0.1./", Err(BadHost)),
            ("http://2130706433/", Err(BadHost)),
            ("http://0177.0.0.1/", Err(BadHost)),
            ("http://0x7f.0.0.1/", Err(BadHost)),
            ("http://0x7f000001/", Err(BadHost)),
            ("http://127.1/", Err(BadHost)),
            ("http://127.0.1/", Err(BadHost)),
            ("http://127.0.0.01/", Err(BadHost)),
            ("http://127.0.0.256/", Err(BadHost)),
            ("http://127.0.0.1.1/", Err(BadHost)),
            ("http://evil.com.0x7f/", Err(BadHost)),
            ("http://local_host/", Err(BadHost)),
            ("http://-localhost/", Err(BadHost)),
            ("http://local..host/", Err(BadHost)),
            ("http://127.0.0.1;evil.com/", Err(BadHost)),
            ("http://127.0.0.1,evil.com/", Err(BadHost)),
            ("http://%31%32%37.0.0.1/", Err(PercentEncodedHost)),
            ("http://localhos%74/", Err(PercentEncodedHost)),
            ("http://[::ffff:127.0.0.1]/", Err(Ipv6)),
            ("http://[0:0:0:0:0:0:0:1]/", Err(Ipv6)),
            ("http://[::1%25eth0]/", Err(Ipv6)),
            ("http://[::1%eth0]:8000/", Err(Ipv6)),
            ("http://[::1/", Err(Ipv6)),
            ("http://[::]/", Err(Ipv6)),
            ("http://[::1]]/", Err(BadHost)),
            ("http://[::1]x/", Err(BadHost)),
            // Ports.
            ("http://127.0.0.1:0/", Err(BadPort)),
            ("http://127.0.0.1:65536/", Err(BadPort)),
            ("http://127.0.0.1:99999/", Err(BadPort)),
            ("http://127.0.0.1:/", Err(BadPort)),
            ("http://127.0.0.1:80a/", Err(BadPort)),
            ("http://127.0.0.1:+80/", Err(BadPort)),
            ("http://127.0.0.1:-1/", Err(BadPort)),
            ("http://127.0.0.1:080/", Err(BadPort)),
            ("http://127.0.0.1:8000:9000/", Err(BadPort)),
            ("http://[::1]:/", Err(BadPort)),
            ("http://127.0.0.1:0x50/", Err(BadPort)),
            // Dot segments, plain and encoded.
            ("http://127.0.0.1/../etc", Err(DotSegment)),
            ("http://127.0.0.1/a/./b", Err(DotSegment)),
            ("http://127.0.0.1/a/..", Err(DotSegment)),
            ("http://127.0.0.1/a/.", Err(DotSegment)),
            ("http://127.0.0.1/.", Err(DotSegment)),
            ("https://hub.example.com/user/../admin/", Err(DotSegment)),
            ("https://hub.example.com/user/%2e%2e/admin/", Err(BadEscape)),
            ("https://hub.example.com/user/.%2E/admin/", Err(BadEscape)),
            (
                "https://hub.example.com/user/alice%2f..%2f..%2fbob",
                Err(BadEscape),
            ),
            ("https://hub.example.com/user/alice%5c..", Err(BadEscape)),
            ("http://127.0.0.1/%00", Err(BadEscape)),
            ("http://127.0.0.1/%0d%0aX:y", Err(BadEscape)),
            ("http://127.0.0.1/%zz", Err(BadEscape)),
            ("http://127.0.0.1/%4", Err(BadEscape)),
            ("http://127.0.0.1/cb?x=%", Err(BadEscape)),
            // Other characters outside the grammar.
            ("http://127.0.0.1/<script>", Err(BadCharacter)),
            ("http://127.0.0.1/a\"b", Err(BadCharacter)),
            ("http://127.0.0.1/a{b}", Err(BadCharacter)),
            ("http://127.0.0.1/a|b", Err(BadCharacter)),
            ("http://127.0.0.1/a^b", Err(BadCharacter)),
            ("http://127.0.0.1/a`b", Err(BadCharacter)),
            ("http://127.0.0.1/[x]", Err(BadCharacter)),
            ("http://127.0.0.1/cb?x=<y>", Err(BadCharacter)),
        ];
        assert!(cases.len() >= 40);
        for (url, want) in cases {
            let got = check(url, &allowed, None).map(|_| ());
            assert_eq!(&got, want, "{url:?}");
            if want.is_ok() {
                // Without prefixes, only the default rule lets a target through.
                let loopback = url.starts_with("http://127.0.0.1")
                    || url.starts_with("http://[::1]")
                    || url.starts_with("http://localhost");
                assert_eq!(check(url, &[], None).is_ok(), loopback, "{url:?}");
            }
        }
    }

    #[test]
    fn target_parts() {
        let t = check("http://[::1]:8000/cb?x=1", &[], None).unwrap().target;
        assert_eq!(t.as_str(), "http://[::1]:8000/cb?x=1");
        assert_eq!((t.https, t.host.as_str(), t.port()), (false, "[::1]", 8000));
        assert_eq!((t.path(), t.query.as_deref()), ("/cb", Some("x=1")));
        let t = check("http://localhost", &[], None).unwrap().target;
        assert_eq!((t.port(), t.path(), t.query.as_deref()), (80, "/", None));
        let t = check("https://hub.example.com/user/a", &prefixes(), None)
            .unwrap()
            .target;
        assert_eq!((t.https, t.port()), (true, 443));
        assert_eq!(t.origin(), "https://hub.example.com");
        let t = check("http://127.0.0.1:8765/cb?x=1", &[], None)
            .unwrap()
            .target;
        assert_eq!(t.origin(), "http://127.0.0.1:8765");
        assert!(!t.is_ipv6());
        assert!(
            check("http://[::1]:8000/cb", &[], None)
                .unwrap()
                .target
                .is_ipv6()
        );
    }

    #[test]
    fn error_lines() {
        assert_eq!(
            check("http://a@127.0.0.1/", &[], None)
                .unwrap_err()
                .to_string(),
            "target: userinfo is not allowed"
        );
        assert_eq!(
            check("", &[], None).unwrap_err().to_string(),
            "target: is empty"
        );
        assert_eq!(
            check("http://evil.com/", &[], None)
                .unwrap_err()
                .to_string(),
            "target: not an allowed target (http loopback or a prefix in T2G_REDIRECT_ALLOWED_TARGETS)"
        );
    }

    #[test]
    fn prefix_parsing() {
        let p = AllowedPrefix::parse("https://hub.example.com/user/").unwrap();
        assert_eq!(p.as_str(), "https://hub.example.com/user/");
        for (entry, reason) in [
            (
                "https://hub.example.com/user/?x=1",
                "a query is not allowed in a prefix",
            ),
            (
                "ftp://hub.example.com/",
                "target: scheme must be lower-case http or https",
            ),
            (
                "https://u@hub.example.com/",
                "target: userinfo is not allowed",
            ),
            (
                "https://hub.example.com/user/#x",
                "target: fragment is not allowed",
            ),
            (
                "hub.example.com/user/",
                "target: missing scheme (expected http:// or https://)",
            ),
            (
                "https://hub.example.com/a/../b",
                "target: dot segments (. or ..) are not allowed in the path",
            ),
        ] {
            let err = AllowedPrefix::parse(entry).unwrap_err();
            assert_eq!(err, format!("redirect prefix {entry:?}: {reason}"));
        }
        assert_eq!(AllowedPrefix::parse_list("").unwrap(), vec![]);
        assert_eq!(AllowedPrefix::parse_list(" , ,").unwrap(), vec![]);
        assert_eq!(
            AllowedPrefix::parse_list("http://a.example, https://b.example/x/")
                .unwrap()
                .len(),
            2
        );
        let err = AllowedPrefix::parse_list("http://a.example,http://b .example").unwrap_err();
        assert!(
            err.starts_with("redirect prefix \"http://b .example\""),
            "{err}"
        );
        // A prefix without a path covers the whole origin; default ports are normalised.
        let all = AllowedPrefix::parse_list("https://a.example:443").unwrap();
        assert!(check("https://a.example/any/path?q", &all, None).is_ok());
        assert!(check("https://a.example:8443/", &all, None).is_err());
        let http = AllowedPrefix::parse_list("http://b.example:80/").unwrap();
        assert!(check("http://b.example/cb", &http, None).is_ok());
    }

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

    #[test]
    fn per_user_prefixes() {
        let allowed = AllowedPrefix::parse_list(
            "https://hub.example.com/user/{user}/, https://nb.example.org/{user}",
        )
        .unwrap();
        let reach = |url: &str, user: Option<&str>| check(url, &allowed, user).map(|a| a.reach);
        // Alice's own places.
        assert_eq!(
            reach(
                "https://hub.example.com/user/alice/oauth_callback",
                Some("alice")
            ),
            Ok(Reach::PerUser)
        );
        assert_eq!(
            reach("https://hub.example.com/user/alice/", Some("alice")),
            Ok(Reach::PerUser)
        );
        assert_eq!(
            reach("https://nb.example.org/alice", Some("alice")),
            Ok(Reach::PerUser)
        );
        assert_eq!(
            reach("https://nb.example.org/alice/x?y", Some("alice")),
            Ok(Reach::PerUser)
        );
        // Mallory's place, opened by Alice; prefixes of names; no user.
        for url in [
            "https://hub.example.com/user/mallory/oauth_callback",
            "https://hub.example.com/user/alice2/",
            "https://hub.example.com/user/alic/",
            "https://hub.example.com/user/ALICE/",
            "https://hub.example.com/user/alice",
            "https://nb.example.org/alicex",
        ] {
            assert_eq!(reach(url, Some("alice")), Err(OtherUser), "{url}");
            assert_eq!(reach(url, None), Err(NeedsUser), "{url}");
        }
        // Outside the part before {user}: not allowed, whoever asks.
        assert_eq!(
            reach("https://hub.example.com/hub/", Some("alice")),
            Err(NotAllowed)
        );
        assert_eq!(reach("https://hub.example.com/hub/", None), Err(NotAllowed));
        assert_eq!(
            reach("https://evil.example/user/alice/", Some("alice")),
            Err(NotAllowed)
        );
        // Names are one segment, escaped as JupyterHub does: '@' and '~' stay, the rest %XX.
        let name = |url: &str, user: &str| reach(url, Some(user)).is_ok();
        assert!(name(
            "https://hub.example.com/user/a@example.com/",
            "a@example.com"
        ));
        assert!(!name(
            "https://hub.example.com/user/a%40example.com/",
            "a@example.com"
        ));
        assert!(name("https://hub.example.com/user/j%C3%BCrgen/", "jürgen"));
        assert!(!name("https://hub.example.com/user/j%c3%bcrgen/", "jürgen"));
        assert!(name("https://hub.example.com/user/a%20b/", "a b"));
        assert!(name("https://hub.example.com/user/~x_y.z-1/", "~x_y.z-1"));
        // A name with '/' cannot become two segments; one with '..' or '%' cannot pass either.
        assert!(!name("https://hub.example.com/user/bob/x/", "bob/x"));
        assert_eq!(
            reach("https://hub.example.com/user/bob%2Fx/", Some("bob/x")),
            Err(BadEscape)
        );
        assert_eq!(
            reach("https://hub.example.com/user/../", Some("..")),
            Err(DotSegment)
        );
        assert_eq!(
            reach("https://hub.example.com/user/a%25b/", Some("a%b")),
            Err(DoubleEncoding)
        );
        assert_eq!(
            reach("https://hub.example.com/user/alice/..;/bob/", Some("alice")),
            Err(PathParameter)
        );
        // Loopback stays the default rule, whoever asks.
        assert_eq!(reach("http://127.0.0.1:9/cb", None), Ok(Reach::Loopback));
        // A prefix without {user}: shared; one on a loopback host: the user's own machine.
        let shared =
            AllowedPrefix::parse_list("https://hub.example.com/user/, https://localhost:8443/")
                .unwrap();
        let t = check("https://hub.example.com/user/x/", &shared, Some("alice")).unwrap();
        assert_eq!(t.reach, Reach::Shared);
        let t = check("https://localhost:8443/cb", &shared, None).unwrap();
        assert_eq!(t.reach, Reach::Loopback);
    }

    #[test]
    fn per_user_prefix_parsing() {
        let p = AllowedPrefix::parse("https://hub.example.com/user/{user}/").unwrap();
        assert_eq!(p.as_str(), "https://hub.example.com/user/{user}/");
        assert_eq!(p.shared_warning(), None);
        let p = AllowedPrefix::parse("https://hub.example.com/user/").unwrap();
        assert!(p.shared_warning().unwrap().contains("every user"));
        for entry in [
            "https://{user}.example.com/",
            "https://hub.example.com/u-{user}/",
            "https://hub.example.com/{user}x/",
            "https://hub.example.com/{user}/{user}/",
            "https://hub.example.com{user}/",
            "{user}",
        ] {
            let err = AllowedPrefix::parse(entry).unwrap_err();
            assert!(
                err.contains("{user} may appear once, as a whole path segment"),
                "{entry}: {err}"
            );
        }
        let err = AllowedPrefix::parse("https://hub.example.com/user/{user}/?x").unwrap_err();
        assert!(err.contains("query"), "{err}");
        let err = AllowedPrefix::parse("https://hub.example.com/a b/{user}/").unwrap_err();
        assert!(err.contains("whitespace"), "{err}");
    }

    #[test]
    fn segment_encoding_matches_python_quote_with_at_and_tilde_safe() {
        // Expected values from Python 3: urllib.parse.quote(name, safe='@~').
        for (name, want) in [
            ("alice", "alice"),
            ("a.b-c_d~e", "a.b-c_d~e"),
            ("a@example.com", "a@example.com"),
            ("a b", "a%20b"),
            ("a/b", "a%2Fb"),
            ("a+b", "a%2Bb"),
            ("jürgen", "j%C3%BCrgen"),
            ("%;?#", "%25%3B%3F%23"),
            ("😀", "%F0%9F%98%80"),
        ] {
            let mut out = String::new();
            percent_encode_segment(name, &mut out);
            assert_eq!(out, want, "{name}");
        }
    }

    #[test]
    fn with_params_encodes_and_appends() {
        let params = [("key", "a+b/c=="), ("state", "x y&z=ü~-._"), ("nonce", "")];
        let encoded = "key=a%2Bb%2Fc%3D%3D&state=x%20y%26z%3D%C3%BC~-._&nonce=";
        for (url, want) in [
            (
                "http://127.0.0.1:8000/cb",
                format!("http://127.0.0.1:8000/cb?{encoded}"),
            ),
            (
                "http://127.0.0.1:8000",
                format!("http://127.0.0.1:8000?{encoded}"),
            ),
            (
                "http://127.0.0.1/cb?",
                format!("http://127.0.0.1/cb?{encoded}"),
            ),
            (
                "http://127.0.0.1/cb?a=1&b=%2F",
                format!("http://127.0.0.1/cb?a=1&b=%2F&{encoded}"),
            ),
        ] {
            let target = check(url, &[], None).unwrap().target;
            assert_eq!(with_params(&target, &params), want);
            // The result is itself a valid, allowed target.
            assert!(check(&want, &[], None).is_ok());
        }
    }

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

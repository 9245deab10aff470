//! Why a target was refused: one variant per reason, one line each.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use crate::flow::redirect_target::check;

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
}

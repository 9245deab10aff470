//! Where the token may go: a strict parser for the flow's `target` URL and its allow-list.
//!
//! Default rule (RFC 8252 §7.3): scheme `http`, host exactly `127.0.0.1`, `[::1]` or
//! lower-case `localhost`, any port, any path. Beyond it, only the extra prefixes
//! (`T2G_REDIRECT_ALLOWED_TARGETS`, see `prefix`) let a target through.
//!
//! - `grammar`: the target URL grammar, a subset of RFC 3986 (`parse`);
//! - `target`: a parsed target, its parts, and the flow's parameters appended to it;
//! - `prefix`: one entry of the allow-list (`{user}` prefixes) and how it matches a target;
//! - `normalised`: what a prefix's targets must not carry (forms other servers normalise);
//! - `error`: why a target was refused.
//!
//! This file holds the decision ([`check`]): the loopback rule, then the prefixes.

mod error;
mod grammar;
mod normalised;
mod prefix;
mod target;

pub(crate) use error::TargetError;
pub(crate) use prefix::AllowedPrefix;
pub(crate) use target::{Target, with_params};

use grammar::parse;
use normalised::check_normalised_forms;
use prefix::PrefixMatch;

/// The `target` of paste mode; the flow handles it before calling [`check`].
pub(crate) const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";

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

#[cfg(test)]
mod tests {
    use super::*;
    use TargetError::*;

    /// The shared prefixes the tests of this folder check targets against.
    pub(super) fn prefixes() -> Vec<AllowedPrefix> {
        AllowedPrefix::parse_list(
            "https://hub.example.com/user/, http://intranet.example.com:8080/cb,https://a.example/x",
        )
        .unwrap()
    }

    /// Targets and what `check` says of them against [`prefixes`]: a table, so that
    /// `target_table` reads as the rule it checks.
    const TARGET_CASES: &[(&str, Result<(), TargetError>)] = &[
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

    #[test]
    fn target_table() {
        let allowed = prefixes();
        let cases = TARGET_CASES;
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
}

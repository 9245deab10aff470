//! One entry of the allow-list (`T2G_REDIRECT_ALLOWED_TARGETS`) and how it matches a target.
//!
//! A prefix matches when scheme, host and port (80/443 when absent) are equal and the target's
//! path starts with the prefix's path at a `/` boundary.
//!
//! A prefix may hold `{user}` as one whole path segment (`https://hub.example.com/user/{user}/`):
//! it stands for the requesting user's name, percent-encoded as one segment exactly as
//! JupyterHub escapes user names in its URLs (`quote(name, safe='@~')`: everything but
//! `A-Za-z0-9-._~@` as `%XX` of its UTF-8 bytes, upper-case hex). Without a user, such a prefix
//! matches nothing. Without `{user}`, a prefix is shared by every user who can reach the server.

use std::fmt;

use super::grammar::parse;
use super::normalised::check_normalised_forms;
use super::{Reach, Target};
use crate::flow::query;

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
pub(super) enum PrefixMatch {
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
    pub(super) fn user_segment(&self) -> Option<usize> {
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

    pub(super) fn matches(&self, target: &Target, user: Option<&str>) -> PrefixMatch {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::redirect_target::{TargetError, TargetError::*, check};

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

    /// What `check` says of `url` for `user` under two `{user}` prefixes.
    fn reach(url: &str, user: Option<&str>) -> Result<Reach, TargetError> {
        let allowed = AllowedPrefix::parse_list(
            "https://hub.example.com/user/{user}/, https://nb.example.org/{user}",
        )
        .unwrap();
        check(url, &allowed, user).map(|a| a.reach)
    }

    #[test]
    fn per_user_prefixes() {
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
    fn per_user_names_are_one_segment_escaped_as_jupyterhub_does() {
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
}

//! Redirect targets with and without an allow-list: an accepted target is the input unchanged,
//! holds none of the refused characters, stays accepted (same origin and path) once the flow's
//! parameters are appended, and those parameters decode back; a valid prefix allows itself.

use token2go::fuzzing::{AllowedPrefixes, check_target, parse_query_strict};

use super::{FUZZ_USER, PREFIXES, one_line, text};

/// The target: `data` is a `target` parameter's value.
pub fn run(data: &[u8]) {
    let raw = text(data);
    let prefixes = AllowedPrefixes::parse_list(PREFIXES).expect("fixed prefixes parse");
    let loopback_only = check_target(&raw, &AllowedPrefixes::none(), None);
    let listed = check_target(&raw, &prefixes, Some(FUZZ_USER));
    assert!(
        loopback_only.is_err() || listed.is_ok(),
        "a prefix list only adds"
    );
    if let Ok(target) = &loopback_only {
        let origin = target.origin();
        assert!(
            ["http://127.0.0.1", "http://[::1]", "http://localhost"]
                .iter()
                .any(|o| origin == *o || origin.starts_with(&format!("{o}:"))),
            "{origin}"
        );
    }
    match listed {
        Ok(target) => {
            assert_eq!(target.as_str(), raw);
            assert!(!raw.contains(['#', '\\']) && !raw.bytes().any(|b| b <= 0x20 || b >= 0x7f));
            // `@` may stand in the path and the query, never in the authority (userinfo).
            let after_scheme = raw.split_once("://").map_or("", |(_, rest)| rest);
            let authority = after_scheme.split(['/', '?']).next().unwrap_or_default();
            assert!(
                !authority.is_empty() && !authority.contains('@'),
                "{authority:?}"
            );
            let params = [
                ("key", "a+b/c=="),
                ("nonce", ""),
                ("payload", "x&y=z#\u{7f}"),
                ("state", raw.as_str()),
            ];
            let location = target.with_params(&params);
            assert!(location.starts_with(&raw));
            let again = check_target(&location, &prefixes, Some(FUZZ_USER)).expect("still allowed");
            assert_eq!(
                (again.origin(), again.path()),
                (target.origin(), target.path())
            );
            let suffix = location[raw.len()..].trim_start_matches(['?', '&']);
            let decoded = parse_query_strict(suffix).expect("appended parameters decode");
            let decoded: Vec<(&str, &str)> = decoded
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            assert_eq!(decoded, params);
        }
        Err(line) => assert!(one_line(&line)),
    }
    // A prefix allows itself (a `{user}` one is a pattern, not a target).
    if let (Ok(prefix), false) = (AllowedPrefixes::parse(&raw), raw.contains("{user}")) {
        assert!(check_target(&raw, &prefix, Some(FUZZ_USER)).is_ok());
    }
}

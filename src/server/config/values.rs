//! The value parsers the table's entries use: ports, addresses, header and host name lists,
//! URLs, booleans and one-of choices. Each takes the raw value and returns what it means, or
//! `None` or the problem in one line, without the variable's name (which `from_lookup` adds).

use std::net::IpAddr;

use crate::http::is_tchar;

pub(super) fn parse_port(v: &str) -> Option<u16> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u16>().ok().filter(|p| *p != 0)
}

pub(super) fn parse_host(v: &str) -> Option<IpAddr> {
    let v = v.trim();
    let v = v
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(v);
    v.parse().ok()
}

/// An absolute http(s) URL that can sit in single quotes in a shell line: no whitespace,
/// quotes, backslashes or angle brackets.
pub(super) fn parse_example_url(v: &str) -> Option<String> {
    let v = v.trim();
    let (scheme, rest) = v.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let printable = v
        .bytes()
        .all(|b| b.is_ascii_graphic() && !b"\"'`\\<>".contains(&b));
    let scheme_ok = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    (scheme_ok && printable && !host.is_empty() && !host.starts_with(':')).then(|| v.to_string())
}

/// A sign-in URL: absolute http(s) like [`parse_example_url`], or a path on the gateway's own
/// origin (`/`, not `//`); printable ASCII without quotes, so it fits a one-line description;
/// `{url}` at most once.
pub(super) fn parse_reauth_url(v: &str) -> Option<String> {
    let v = v.trim();
    if v.match_indices("{url}").nth(1).is_some() {
        return None;
    }
    if v.starts_with('/') && !v.starts_with("//") {
        let printable = v
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"'`\\<>".contains(&b));
        return printable.then(|| v.to_string());
    }
    parse_example_url(v)
}

/// The choice `v` names (case-insensitive, spaces around ignored); else the one-line error.
pub(super) fn one_of<T: Copy>(v: &str, choices: &[(&str, T)]) -> Result<T, String> {
    let name = v.trim().to_ascii_lowercase();
    match choices.iter().find(|(choice, _)| *choice == name) {
        Some(&(_, value)) => Ok(value),
        None => {
            let names: Vec<&str> = choices.iter().map(|(choice, _)| *choice).collect();
            Err(format!("{v:?} is not one of {}", names.join(", ")))
        }
    }
}

pub(super) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

pub(super) fn split_list(list: &str) -> Vec<String> {
    list.split(',').map(str::to_string).collect()
}

/// Host names without port, as `Host` names them: DNS names or IPv4 addresses (letters, digits,
/// `-`, `.`), or a bracketed IPv6 address; lower-cased. Comma-separated, empties dropped.
pub(super) fn parse_host_names(v: &str) -> Result<Vec<String>, String> {
    let mut hosts = Vec::new();
    for host in v.split(',').map(str::trim).filter(|h| !h.is_empty()) {
        let bracketed = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
        let name = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !bracketed && !name {
            return Err(format!(
                "{host:?} is not a host name without port (e.g. token2go.example.com, [::1])"
            ));
        }
        hosts.push(host.to_ascii_lowercase());
    }
    Ok(hosts)
}

/// Comma-separated, trimmed, empties dropped; each name must be an HTTP field name (RFC 9110 token).
pub(super) fn parse_header_names(v: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !name.bytes().all(is_tchar) {
            return Err(format!("{name:?} is not a valid header name"));
        }
        names.push(name.to_string());
    }
    Ok(names)
}

/// `none` (any case) for no header at all, else a list as [`parse_header_names`] reads it.
pub(super) fn parse_header_names_or_none(v: &str) -> Result<Vec<String>, String> {
    if v.trim().eq_ignore_ascii_case("none") {
        Ok(Vec::new())
    } else {
        parse_header_names(v)
    }
}

#[cfg(test)]
mod tests {
    use crate::log::LogFormat;
    use crate::server::audit::AuditSink;
    use crate::server::config::tests::parse;

    #[test]
    fn hosts_and_ports() {
        let c = parse(&[("T2G_SERVER_HOST", "::"), ("T2G_SERVER_PORT", "9000")]).unwrap();
        assert_eq!(c.listen, "[::]:9000".parse().unwrap());
        let c = parse(&[
            ("T2G_SERVER_HOST", "127.0.0.1"),
            ("T2G_SERVER_PORT", "65535"),
        ])
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:65535".parse().unwrap());
        let c = parse(&[("T2G_SERVER_HOST", "[::1]")]).unwrap();
        assert_eq!(c.listen, "[::1]:8080".parse().unwrap());
        for bad in ["abc", "70000", "0", "-1", "+80", "80 80", "8080x"] {
            let e = parse(&[("T2G_SERVER_PORT", bad)]).err().unwrap();
            assert_eq!(e.variable, "T2G_SERVER_PORT", "{bad}");
            assert!(e.to_string().contains("1-65535"), "{e}");
        }
        let e = parse(&[("T2G_SERVER_HOST", "example.com")]).err().unwrap();
        assert_eq!(e.variable, "T2G_SERVER_HOST");
    }

    #[test]
    fn header_lists() {
        let c = parse(&[
            ("T2G_TOKEN_HEADER_NAMES", " X-One ,, x-two ,"),
            ("T2G_ADD_TOKEN_HEADER_NAMES", "X-Three"),
        ])
        .unwrap();
        assert_eq!(c.header_names, ["X-One", "x-two", "X-Three"]);
        let c = parse(&[("T2G_ADD_TOKEN_HEADER_NAMES", "X-Extra")]).unwrap();
        assert_eq!(c.header_names.last().unwrap(), "X-Extra");
        assert_eq!(c.header_names.len(), 7);
        let e = parse(&[("T2G_TOKEN_HEADER_NAMES", "X Bad")]).err().unwrap();
        assert_eq!(e.variable, "T2G_TOKEN_HEADER_NAMES");
        let e = parse(&[("T2G_TOKEN_HEADER_NAMES", " , ,")]).err().unwrap();
        assert_eq!(e.variable, "T2G_TOKEN_HEADER_NAMES");
        let e = parse(&[("T2G_ADD_TOKEN_HEADER_NAMES", "a:b")])
            .err()
            .unwrap();
        assert_eq!(e.variable, "T2G_ADD_TOKEN_HEADER_NAMES");
    }

    #[test]
    fn expiry_header_names() {
        let c = parse(&[("T2G_EXPIRY_HEADER_NAMES", " X-Expires , OIDC_x ")]).unwrap();
        assert_eq!(c.expiry_header_names, ["X-Expires", "OIDC_x"]);
        assert!(c.summary().contains(" expiry_headers=X-Expires,OIDC_x "));
        let c = parse(&[("T2G_EXPIRY_HEADER_NAMES", "NONE")]).unwrap();
        assert!(c.expiry_header_names.is_empty());
        assert!(c.summary().contains(" expiry_headers=none "));
        let s = parse(&[]).unwrap().summary();
        assert!(
            s.contains(" expiry_headers=OIDC_access_token_expires "),
            "{s}"
        );
        let e = parse(&[("T2G_EXPIRY_HEADER_NAMES", "X Bad")])
            .err()
            .unwrap();
        assert_eq!(e.variable, "T2G_EXPIRY_HEADER_NAMES");
    }

    #[test]
    fn booleans_formats_and_limits() {
        assert!(
            !parse(&[("T2G_ECHO_ENABLED", "false")])
                .unwrap()
                .echo_enabled
        );
        assert!(
            !parse(&[("T2G_ECHO_ENABLED", "FALSE")])
                .unwrap()
                .echo_enabled
        );
        assert!(parse(&[("T2G_ECHO_ENABLED", "true")]).unwrap().echo_enabled);
        let e = parse(&[("T2G_ECHO_ENABLED", "maybe")]).err().unwrap();
        assert_eq!(e.variable, "T2G_ECHO_ENABLED");
        assert_eq!(
            parse(&[("T2G_LOG_FORMAT", "json")]).unwrap().log_format,
            LogFormat::Json
        );
        assert_eq!(
            parse(&[("T2G_LOG_FORMAT", "off")]).unwrap().log_format,
            LogFormat::Off
        );
        let e = parse(&[("T2G_LOG_FORMAT", "xml")]).err().unwrap();
        assert!(e.to_string().contains("text, json, off"), "{e}");
        assert_eq!(
            parse(&[("T2G_MAX_CONNECTIONS", "5")])
                .unwrap()
                .max_connections,
            5
        );
        for bad in ["0", "x", "100000"] {
            let e = parse(&[("T2G_MAX_CONNECTIONS", bad)]).err().unwrap();
            assert_eq!(e.variable, "T2G_MAX_CONNECTIONS");
        }
    }

    #[test]
    fn user_headers_hosts_audit_and_paste_mode() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            c.user_header_names[..2],
            ["X-Forwarded-Preferred-Username", "X-Forwarded-User"]
        );
        assert_eq!(c.user_header_names.len(), 8);
        assert_eq!(
            c.user_header_names[6..],
            ["OIDC_CLAIM_preferred_username", "OIDC_CLAIM_email"]
        );
        assert_eq!(c.allowed_hosts, None);
        assert_eq!(c.audit_log, AuditSink::Stderr);
        assert!(c.paste_mode);
        let s = c.summary();
        assert!(
            s.contains(" allowed_hosts=any ") && s.contains(" audit_log=stderr "),
            "{s}"
        );
        assert!(s.ends_with(" paste_mode=on"), "{s}");

        let c = parse(&[
            ("T2G_USER_HEADER_NAMES", "X-Remote-User"),
            (
                "T2G_ALLOWED_HOSTS",
                " Token2go.Example.com , [::1],10.0.0.5",
            ),
            ("T2G_AUDIT_LOG", "STDOUT"),
            ("T2G_PASTE_MODE", "off"),
        ])
        .unwrap();
        assert_eq!(c.user_header_names, ["X-Remote-User"]);
        assert_eq!(
            c.allowed_hosts.as_deref(),
            Some(
                &[
                    "token2go.example.com".to_string(),
                    "[::1]".into(),
                    "10.0.0.5".into()
                ][..]
            )
        );
        assert_eq!(c.audit_log, AuditSink::Stdout);
        assert!(!c.paste_mode);
        let s = c.summary();
        assert!(
            s.contains(" allowed_hosts=loopback+token2go.example.com,[::1],10.0.0.5 "),
            "{s}"
        );
        assert!(
            s.contains(" user_headers=X-Remote-User ") && s.ends_with(" paste_mode=off"),
            "{s}"
        );
        assert!(
            parse(&[("T2G_USER_HEADER_NAMES", "None")])
                .unwrap()
                .user_header_names
                .is_empty()
        );
        let fallback = parse(&[("T2G_FALLBACK_TOKEN", "x")]).unwrap();
        assert!(fallback.summary().contains(" allowed_hosts=loopback "));
        assert_eq!(
            parse(&[("T2G_AUDIT_LOG", "off")]).unwrap().audit_log,
            AuditSink::Off
        );
        for (name, bad) in [
            ("T2G_USER_HEADER_NAMES", "X User"),
            ("T2G_ALLOWED_HOSTS", "token2go.example.com:8443"),
            ("T2G_ALLOWED_HOSTS", "https://token2go.example.com"),
            ("T2G_ALLOWED_HOSTS", "[not-ipv6]"),
            ("T2G_AUDIT_LOG", "file"),
            ("T2G_PASTE_MODE", "sometimes"),
        ] {
            let e = parse(&[(name, bad)]).err().unwrap();
            assert_eq!(e.variable, name, "{bad}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }

    #[test]
    fn example_url_is_an_absolute_http_url() {
        assert_eq!(parse(&[]).unwrap().ui.example_url, None);
        for good in [
            "https://api.example.com/v1/items?limit=1",
            "http://localhost:9000",
            " HTTPS://API.example.com/ ",
        ] {
            let c = parse(&[("T2G_UI_EXAMPLE_URL", good)]).unwrap();
            assert_eq!(c.ui.example_url.as_deref(), Some(good.trim()), "{good}");
        }
        for bad in [
            "api.example.com",
            "/relative/path",
            "ftp://example.com/",
            "https://",
            "https:///path",
            "https://:443/",
            "https://a.example/with space",
            "https://a.example/'quote",
            "javascript://x",
        ] {
            let e = parse(&[("T2G_UI_EXAMPLE_URL", bad)]).err().unwrap();
            assert_eq!(e.variable, "T2G_UI_EXAMPLE_URL", "{bad}");
            assert!(!e.to_string().contains('\n'), "{e}");
            assert!(e.to_string().contains("http:// or https://"), "{e}");
        }
    }

    #[test]
    fn reauth_url_is_absolute_or_a_path() {
        assert_eq!(parse(&[]).unwrap().reauth_url, None);
        for good in [
            "/oauth2/sign_in?rd={url}",
            "https://corp.example/protected/redirect_uri?logout={url}",
            " /t2g/sign-in ",
        ] {
            let c = parse(&[("T2G_REAUTH_URL", good)]).unwrap();
            assert_eq!(c.reauth_url.as_deref(), Some(good.trim()), "{good}");
            assert!(
                c.summary()
                    .contains(&format!(" reauth_url={} ", good.trim()))
            );
        }
        for bad in [
            "//evil.example/x",
            "javascript:alert(1)",
            "oauth2/sign_in",
            "/a b",
            "/a\"b",
            "/x<script>",
            "ftp://x.example/",
            "/a?rd={url}&again={url}",
        ] {
            let e = parse(&[("T2G_REAUTH_URL", bad)]).err().unwrap();
            assert_eq!(e.variable, "T2G_REAUTH_URL", "{bad}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
}

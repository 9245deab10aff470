//! The checks of option values: whole numbers, seconds, and the server URL.

/// `text` as a number of at most `max_digits` ASCII digits.
pub(super) fn whole_number(text: &str, max_digits: usize) -> Option<u64> {
    let ok =
        !text.is_empty() && text.len() <= max_digits && text.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| text.parse().ok()).flatten()
}

/// A whole number of seconds, 0 allowed, named `what` when it is not one.
pub(super) fn seconds(what: &str, text: &str) -> Result<u64, String> {
    whole_number(text, 9)
        .ok_or_else(|| format!("{what}: must be a whole number of seconds, not {text:?}"))
}

/// The server URL with trailing slashes stripped, checked: `http` or `https`, a host, an
/// optional port and path; no query, fragment, whitespace or control characters (it becomes
/// the start of the flow URL, a `Location` header and the cache key).
pub(super) fn normalize_server_url(url: &str) -> Result<String, &'static str> {
    let normalized = url.trim_end_matches('/');
    if normalized
        .chars()
        .any(|c| c == '?' || c == '#' || c.is_whitespace() || c.is_control())
    {
        return Err("server URL: must be an http(s) URL without query, fragment or whitespace");
    }
    let scheme_end = normalized.find("://").ok_or(SCHEME_AND_HOST)?;
    if !["http", "https"]
        .iter()
        .any(|s| normalized[..scheme_end].eq_ignore_ascii_case(s))
    {
        return Err(SCHEME_AND_HOST);
    }
    let rest = &normalized[scheme_end + 3..];
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']').ok_or(SCHEME_AND_HOST)?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or(SCHEME_AND_HOST)?)),
            }
        }
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err(SCHEME_AND_HOST);
    }
    if let Some(port) = port
        && !port.is_empty()
        && whole_number(port, 5).is_none_or(|p| p > 65535)
    {
        return Err("server URL: invalid port");
    }
    Ok(normalized.to_string())
}

const SCHEME_AND_HOST: &str = "server URL: must start with http:// or https:// and name a host";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        for (url, want) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://corp.example/t2g/", "https://corp.example/t2g"),
            ("HTTPS://corp.example//", "HTTPS://corp.example"),
            ("http://[::1]:8080/", "http://[::1]:8080"),
            ("http://h:", "http://h:"),
        ] {
            assert_eq!(normalize_server_url(url).as_deref(), Ok(want), "{url}");
        }
        for url in [
            "corp.example",
            "http://",
            "http://[::1",
            "http://[::1]x",
            "http://h/a b",
            "http://h/#x",
            "http://h/\u{7f}",
            "javascript://h",
        ] {
            assert!(normalize_server_url(url).is_err(), "{url}");
        }
    }
}

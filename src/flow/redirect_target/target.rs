//! A target that passed the grammar: its parts as the target gave them, and the flow's
//! parameters appended to its query.

use crate::flow::query;

/// A target that passed [`check`](super::check); `as_str` is the input, unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(super) raw: String,
    pub(super) https: bool,
    pub(super) host: String,
    pub(super) port: Option<u16>,
    pub(super) path: String,
    pub(super) query: Option<String>,
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

    pub(super) fn is_loopback_host(&self) -> bool {
        matches!(self.host.as_str(), "127.0.0.1" | "[::1]" | "localhost")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::redirect_target::check;
    use crate::flow::redirect_target::tests::prefixes;

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
}

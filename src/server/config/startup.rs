//! What a configuration says about itself at start: the settings on the start line, the
//! warnings about what it exposes, and the connection cap fitted to the open-file limit.

use std::net::{IpAddr, SocketAddr};

use super::Config;
use crate::flow::redirect_target::AllowedPrefix;
use crate::log::LogFormat;

/// File descriptors the server needs besides one per connection: stdin, stdout, stderr (3), the
/// listener (1), a connection accepted past the cap only to answer it 503 (1), the connection
/// that wakes the accept loop at stop (1), the signal handler's socket pair (2), the OS random
/// source's fallback file (1), and headroom for descriptors a parent leaves open (7).
pub const FD_MARGIN: usize = 16;

impl Config {
    /// Lowers the connection cap to what an open-file limit of `open_files` allows (connections
    /// plus [`FD_MARGIN`]), so connections past it get 503 rather than accept failing with
    /// EMFILE; the warning to log when it had to.
    pub fn fit_open_files(&mut self, open_files: u64) -> Option<String> {
        let wanted = self.max_connections;
        let needed = wanted + FD_MARGIN;
        if open_files >= needed as u64 {
            return None;
        }
        // open_files < needed <= usize::MAX here, so the conversion is lossless.
        let fits = usize::try_from(open_files).map_or(1, |n| n.saturating_sub(FD_MARGIN).max(1));
        self.max_connections = fits;
        Some(format!(
            "the open-file limit (RLIMIT_NOFILE) is {open_files}, below the {needed} that \
             T2G_MAX_CONNECTIONS={wanted} needs (connections + {FD_MARGIN} for the listener, \
             stdio and spare); serving at most {fits} connections at once, more get 503; \
             raise the hard limit (LimitNOFILE= in systemd, --ulimit nofile= in Docker)"
        ))
    }

    /// The warning to log when a fallback token is set and `bound` is not a loopback address:
    /// anyone who reaches the port gets the token without the gateway. Never the token itself.
    pub fn fallback_exposure(&self, bound: SocketAddr) -> Option<String> {
        let loopback = match bound.ip() {
            IpAddr::V4(ip) => ip.is_loopback(),
            IpAddr::V6(ip) => ip
                .to_ipv4_mapped()
                .map_or(ip.is_loopback(), |v4| v4.is_loopback()),
        };
        if self.fallback_token.is_none() || loopback {
            return None;
        }
        Some(format!(
            "T2G_FALLBACK_TOKEN is set and the server listens on {bound}, not on loopback only: \
             anyone who reaches this port gets that token; bind 127.0.0.1 (T2G_SERVER_HOST) \
             or unset T2G_FALLBACK_TOKEN"
        ))
    }

    /// Warnings about a configuration that works but exposes more than it may mean to: one
    /// per redirect prefix that every user shares.
    pub fn warnings(&self) -> Vec<String> {
        self.allowed_targets
            .iter()
            .filter_map(AllowedPrefix::shared_warning)
            .collect()
    }

    /// The effective settings for the startup line; the fallback token only as set/unset.
    pub fn summary(&self) -> String {
        format!(
            "token_headers={} user_headers={} expiry_headers={} fallback_token={} allowed_hosts={} echo={} max_connections={} log_format={} audit_log={} audit_required={} redirect_allowed_targets={} reauth_url={} paste_mode={}",
            self.header_names.join(","),
            if self.user_header_names.is_empty() {
                "none".to_string()
            } else {
                self.user_header_names.join(",")
            },
            if self.expiry_header_names.is_empty() {
                "none".to_string()
            } else {
                self.expiry_header_names.join(",")
            },
            if self.fallback_token.is_some() {
                "set"
            } else {
                "unset"
            },
            match (&self.allowed_hosts, &self.fallback_token) {
                (Some(hosts), _) => format!("loopback+{}", hosts.join(",")),
                (None, Some(_)) => "loopback".to_string(),
                (None, None) => "any".to_string(),
            },
            self.echo_enabled,
            self.max_connections,
            match self.log_format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
                LogFormat::Off => "off",
            },
            self.audit_log.as_str(),
            self.audit_required,
            if self.allowed_targets.is_empty() {
                "loopback-only".to_string()
            } else {
                let prefixes: Vec<&str> = self.allowed_targets.iter().map(|p| p.as_str()).collect();
                format!("loopback+{}", prefixes.join(","))
            },
            self.reauth_url.as_deref().unwrap_or("unset"),
            if self.paste_mode { "on" } else { "off" },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::tests::parse;

    #[test]
    fn shared_prefixes_are_warned_about() {
        let c = parse(&[(
            "T2G_REDIRECT_ALLOWED_TARGETS",
            "https://hub.example.com/user/, https://hub.example.com/user/{user}/, https://localhost:8443/",
        )])
        .unwrap();
        let w = c.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(
                "redirect prefix https://hub.example.com/user/ has no {user}: every user"
            ),
            "{}",
            w[0]
        );
        assert!(
            w[0].ends_with("such as https://hub.example.com/user/{user}/"),
            "{}",
            w[0]
        );
        assert!(parse(&[]).unwrap().warnings().is_empty());
    }

    #[test]
    fn summary_hides_the_fallback_token() {
        let c = parse(&[("T2G_FALLBACK_TOKEN", "canary-secret-123")]).unwrap();
        let s = c.summary();
        assert!(s.contains("fallback_token=set"));
        assert!(!s.contains("canary-secret-123"));
        assert_eq!(c.fallback_token.unwrap().expose(), "canary-secret-123");
    }

    #[test]
    fn the_connection_cap_fits_the_open_file_limit() {
        let mut c = parse(&[]).unwrap();
        assert_eq!(c.fit_open_files(1024 + FD_MARGIN as u64), None);
        assert_eq!(c.max_connections, 1024);
        let w = c.fit_open_files(256).unwrap();
        assert_eq!(c.max_connections, 256 - FD_MARGIN);
        for needle in [
            "is 256",
            "the 1040 that T2G_MAX_CONNECTIONS=1024",
            "at most 240",
        ] {
            assert!(w.contains(needle), "{needle}: {w}");
        }
        let mut c = parse(&[("T2G_MAX_CONNECTIONS", "5")]).unwrap();
        assert!(c.fit_open_files(10).is_some());
        assert_eq!(c.max_connections, 1, "always at least one");
        assert!(parse(&[]).unwrap().fit_open_files(u64::MAX).is_none());
    }

    #[test]
    fn a_fallback_token_off_loopback_is_a_warning_without_the_token() {
        let c = parse(&[("T2G_FALLBACK_TOKEN", "canary-exposed-42")]).unwrap();
        for bound in ["0.0.0.0:8080", "[::]:8080", "192.0.2.7:80"] {
            let w = c.fallback_exposure(bound.parse().unwrap()).unwrap();
            assert!(w.contains(bound) && w.contains("anyone"), "{w}");
            assert!(!w.contains("canary-exposed-42"), "{w}");
        }
        for bound in [
            "127.0.0.1:8080",
            "127.0.0.2:1",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert_eq!(c.fallback_exposure(bound.parse().unwrap()), None, "{bound}");
        }
        let without = parse(&[]).unwrap();
        assert_eq!(
            without.fallback_exposure("0.0.0.0:8080".parse().unwrap()),
            None
        );
    }
}

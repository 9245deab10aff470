//! The table of `T2G_*` variables, [`VARIABLES`]: each one's name, default, meaning and how a
//! set value lands in a [`Config`]. It is the one source for parsing ([`Config::from_lookup`]
//! walks it), `--help` ([`usage`](super::usage())), the unknown-variable check and, through a
//! test, the README's table.

use super::values::{
    one_of, parse_bool, parse_example_url, parse_header_names, parse_header_names_or_none,
    parse_host, parse_host_names, parse_port, parse_reauth_url,
};
use super::{Config, Secret};
use crate::flow::redirect_target::AllowedPrefix;
use crate::log::LogFormat;
use crate::server::audit::AuditSink;

/// One `T2G_*` variable: its name, the default shown in `--help` and the README, what it means,
/// and how a set value lands in the configuration (an error is the problem, without the name).
pub struct Variable {
    /// The variable's name.
    pub name: &'static str,
    /// Its default, as `--help` and the README show it.
    pub default: &'static str,
    /// What it means, in one line.
    pub meaning: &'static str,
    pub(super) apply: fn(&mut Config, &str) -> Result<(), String>,
}

/// Every variable the server reads, in the order they are applied and listed.
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "T2G_SERVER_PORT",
        default: "8080",
        meaning: "port to listen on (1-65535)",
        apply: |c, v| {
            let port =
                parse_port(v).ok_or_else(|| format!("{v:?} is not a port number 1-65535"))?;
            c.listen.set_port(port);
            Ok(())
        },
    },
    Variable {
        name: "T2G_SERVER_HOST",
        default: "0.0.0.0",
        meaning: "address to bind, e.g. ::, 127.0.0.1",
        apply: |c, v| {
            let host = parse_host(v).ok_or_else(|| {
                format!("{v:?} is not an IP address (e.g. 0.0.0.0, ::, 127.0.0.1)")
            })?;
            c.listen.set_ip(host);
            Ok(())
        },
    },
    Variable {
        name: "T2G_TOKEN_HEADER_NAMES",
        default: DEFAULT_HEADER_NAMES,
        meaning: "ordered header names to take the token from; replaces the default",
        apply: |c, v| {
            c.header_names = parse_header_names(v)?;
            Ok(())
        },
    },
    Variable {
        name: "T2G_ADD_TOKEN_HEADER_NAMES",
        default: "unset",
        meaning: "header names appended after T2G_TOKEN_HEADER_NAMES",
        apply: |c, v| {
            c.header_names.extend(parse_header_names(v)?);
            Ok(())
        },
    },
    Variable {
        name: "T2G_USER_HEADER_NAMES",
        default: DEFAULT_USER_HEADER_NAMES,
        meaning: "ordered header names carrying the authenticated user's name; none: JWT claims only",
        apply: |c, v| {
            c.user_header_names = parse_header_names_or_none(v)?;
            Ok(())
        },
    },
    Variable {
        name: "T2G_EXPIRY_HEADER_NAMES",
        default: DEFAULT_EXPIRY_HEADER_NAMES,
        meaning: "header names with the token's expiry (Unix seconds, RFC 3339); none: off",
        apply: |c, v| {
            c.expiry_header_names = parse_header_names_or_none(v)?;
            Ok(())
        },
    },
    Variable {
        name: "T2G_FALLBACK_TOKEN",
        default: "unset",
        meaning: "token used when no header carries one",
        apply: |c, v| {
            c.fallback_token = Some(Secret::new(v.to_string()));
            Ok(())
        },
    },
    Variable {
        name: "T2G_ALLOWED_HOSTS",
        default: "unset",
        meaning: "Host names served besides loopback; with it, or a fallback token, others get 421",
        apply: |c, v| {
            c.allowed_hosts = Some(parse_host_names(v)?);
            Ok(())
        },
    },
    Variable {
        name: "T2G_UI_TARGET",
        default: "unset",
        meaning: "product name shown in the page title and description",
        apply: |c, v| {
            c.ui.target = Some(v.to_string());
            Ok(())
        },
    },
    Variable {
        name: "T2G_UI_TITLE",
        default: "unset",
        meaning: "overrides the page title (text)",
        apply: |c, v| {
            c.ui.title = Some(v.to_string());
            Ok(())
        },
    },
    Variable {
        name: "T2G_UI_DESC1",
        default: "unset",
        meaning: "overrides the first description (text)",
        apply: |c, v| {
            c.ui.desc1 = Some(v.to_string());
            Ok(())
        },
    },
    Variable {
        name: "T2G_UI_DESC2",
        default: "unset",
        meaning: "extra description, trusted HTML",
        apply: |c, v| {
            c.ui.desc2_html = Some(v.to_string());
            Ok(())
        },
    },
    Variable {
        name: "T2G_UI_MISC",
        default: "unset",
        meaning: "extra bottom section, trusted HTML",
        apply: |c, v| {
            c.ui.misc_html = Some(v.to_string());
            Ok(())
        },
    },
    Variable {
        name: "T2G_UI_EXAMPLE_URL",
        default: "unset",
        meaning: "absolute http(s) URL of the page's curl example",
        apply: |c, v| {
            let url = parse_example_url(v)
                .ok_or_else(|| format!("{v:?} is not an absolute http:// or https:// URL"))?;
            c.ui.example_url = Some(url);
            Ok(())
        },
    },
    Variable {
        name: "T2G_ECHO_ENABLED",
        default: "true",
        meaning: "false turns /echo off (404)",
        apply: |c, v| {
            c.echo_enabled =
                parse_bool(v).ok_or_else(|| format!("{v:?} is not a boolean (true or false)"))?;
            Ok(())
        },
    },
    Variable {
        name: "T2G_MAX_CONNECTIONS",
        default: "1024",
        meaning: "concurrent connections (1-65536); more get 503",
        apply: |c, v| {
            c.max_connections = v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_MAX_CONNECTIONS).contains(n))
                .ok_or_else(|| format!("{v:?} is not a number 1-{MAX_MAX_CONNECTIONS}"))?;
            Ok(())
        },
    },
    Variable {
        name: "T2G_LOG_FORMAT",
        default: "text",
        meaning: "access log format: text, json or off",
        apply: |c, v| {
            let choices = [
                ("text", LogFormat::Text),
                ("json", LogFormat::Json),
                ("off", LogFormat::Off),
            ];
            c.log_format = one_of(v, &choices)?;
            Ok(())
        },
    },
    Variable {
        name: "T2G_AUDIT_LOG",
        default: "stderr",
        meaning: "audit trail of tokens handed out and flow refusals: stderr, stdout or off",
        apply: |c, v| {
            let choices = [
                ("stderr", AuditSink::Stderr),
                ("stdout", AuditSink::Stdout),
                ("off", AuditSink::Off),
            ];
            c.audit_log = one_of(v, &choices)?;
            Ok(())
        },
    },
    Variable {
        name: "T2G_AUDIT_REQUIRED",
        default: "false",
        meaning: "true: no token is handed out (503) when its audit line cannot be written",
        apply: |c, v| {
            c.audit_required =
                parse_bool(v).ok_or_else(|| format!("{v:?} is not a boolean (true or false)"))?;
            Ok(())
        },
    },
    Variable {
        name: "T2G_REDIRECT_ALLOWED_TARGETS",
        default: "unset",
        meaning: "extra redirect-flow target prefixes beyond loopback, comma-separated",
        apply: |c, v| {
            c.allowed_targets = AllowedPrefix::parse_list(v)?;
            Ok(())
        },
    },
    Variable {
        name: "T2G_PASTE_MODE",
        default: "on",
        meaning: "off refuses the flow's paste mode (target urn:ietf:wg:oauth:2.0:oob)",
        apply: |c, v| {
            c.paste_mode =
                parse_bool(v).ok_or_else(|| format!("{v:?} is not on or off (a boolean)"))?;
            Ok(())
        },
    },
    Variable {
        name: "T2G_REAUTH_URL",
        default: "unset",
        meaning: "sign-in URL for an expired token; {url}: where to come back",
        apply: |c, v| {
            c.reauth_url = Some(parse_reauth_url(v).ok_or_else(|| {
                format!("{v:?} is not an http(s) URL or a /path (no quotes, one {{url}} at most)")
            })?);
            Ok(())
        },
    },
];

/// The reference's names, then what Apache `mod_auth_openidc` sets (`OIDC_access_token`).
pub(super) const DEFAULT_HEADER_NAMES: &str = "Access-Token,Authorization,Token,X-Auth-Request-Access-Token,\
X-Forwarded-Access-Token,OIDC_access_token";
/// What oauth2-proxy sets, as a reverse proxy (`X-Forwarded-*`) and for nginx `auth_request`
/// (`X-Auth-Request-*`), then what `mod_auth_openidc` sets with its default claim prefix.
pub(super) const DEFAULT_USER_HEADER_NAMES: &str = "X-Forwarded-Preferred-Username,X-Forwarded-User,\
X-Auth-Request-Preferred-Username,X-Auth-Request-User,X-Forwarded-Email,X-Auth-Request-Email,\
OIDC_CLAIM_preferred_username,OIDC_CLAIM_email";
/// What `mod_auth_openidc` sets next to `OIDC_access_token`: the token's expiry, Unix seconds.
pub(super) const DEFAULT_EXPIRY_HEADER_NAMES: &str = "OIDC_access_token_expires";

const MAX_MAX_CONNECTIONS: usize = 65_536;

/// The table's entry named `name`, if there is one.
pub(super) fn known(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|v| v.name == name)
}

#[cfg(test)]
mod tests {
    use super::VARIABLES;
    use crate::server::config::tests::parse;

    #[test]
    fn redirect_allowed_targets() {
        let c = parse(&[(
            "T2G_REDIRECT_ALLOWED_TARGETS",
            "https://hub.example.com/user/, http://nb.example.org:8888",
        )])
        .unwrap();
        assert_eq!(c.allowed_targets.len(), 2);
        assert!(c.summary().contains("https://hub.example.com/user/"));
        assert!(
            parse(&[])
                .unwrap()
                .summary()
                .contains("redirect_allowed_targets=loopback-only")
        );
        for bad in [
            "ftp://x.example/",
            "https://user@hub.example.com/",
            "hub.example.com",
        ] {
            let e = parse(&[("T2G_REDIRECT_ALLOWED_TARGETS", bad)])
                .err()
                .unwrap();
            assert_eq!(e.variable, "T2G_REDIRECT_ALLOWED_TARGETS", "{bad}");
        }
    }

    #[test]
    fn ui_texts_are_kept_verbatim() {
        let c = parse(&[
            ("T2G_UI_TARGET", "<b>Prod</b>"),
            ("T2G_UI_MISC", "<p>x</p>"),
        ])
        .unwrap();
        assert_eq!(c.ui.target.as_deref(), Some("<b>Prod</b>"));
        assert_eq!(c.ui.misc_html.as_deref(), Some("<p>x</p>"));
    }

    /// The README's configuration table lists the same variables with the same defaults, in
    /// the same order.
    #[test]
    fn readme_table_matches_the_code() {
        let readme = include_str!("../../../README.md");
        let rows: Vec<(String, String)> = readme
            .lines()
            .filter(|line| line.starts_with("| `T2G_"))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                (
                    cells[1].trim_matches('`').to_string(),
                    cells[2].trim_matches('`').to_string(),
                )
            })
            .collect();
        let table: Vec<(String, String)> = VARIABLES
            .iter()
            .map(|v| (v.name.to_string(), v.default.to_string()))
            .collect();
        assert_eq!(rows, table);
    }
}

//! Configuration from `T2G_*` environment variables: the only reader of the server's `T2G_*`
//! variables (socket activation reads `LISTEN_*`, and the client's `Env` its own variables).
//!
//! One table, [`VARIABLES`], drives everything about a variable: its parsing, `--help`, the
//! unknown-variable check and (through a test) the README's table. Parsing goes through a
//! lookup function so tests feed literals instead of the real environment.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::flow::redirect_target::AllowedPrefix;
use crate::http::is_tchar;
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
    apply: fn(&mut Config, &str) -> Result<(), String>,
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
            c.user_header_names = if v.trim().eq_ignore_ascii_case("none") {
                Vec::new()
            } else {
                parse_header_names(v)?
            };
            Ok(())
        },
    },
    Variable {
        name: "T2G_EXPIRY_HEADER_NAMES",
        default: DEFAULT_EXPIRY_HEADER_NAMES,
        meaning: "header names with the token's expiry (Unix seconds, RFC 3339); none: off",
        apply: |c, v| {
            c.expiry_header_names = if v.trim().eq_ignore_ascii_case("none") {
                Vec::new()
            } else {
                parse_header_names(v)?
            };
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
const DEFAULT_HEADER_NAMES: &str = "Access-Token,Authorization,Token,X-Auth-Request-Access-Token,\
X-Forwarded-Access-Token,OIDC_access_token";
/// What oauth2-proxy sets, as a reverse proxy (`X-Forwarded-*`) and for nginx `auth_request`
/// (`X-Auth-Request-*`), then what `mod_auth_openidc` sets with its default claim prefix.
const DEFAULT_USER_HEADER_NAMES: &str = "X-Forwarded-Preferred-Username,X-Forwarded-User,\
X-Auth-Request-Preferred-Username,X-Auth-Request-User,X-Forwarded-Email,X-Auth-Request-Email,\
OIDC_CLAIM_preferred_username,OIDC_CLAIM_email";
/// What `mod_auth_openidc` sets next to `OIDC_access_token`: the token's expiry, Unix seconds.
const DEFAULT_EXPIRY_HEADER_NAMES: &str = "OIDC_access_token_expires";

const DEFAULT_PORT: u16 = 8080;
const DEFAULT_MAX_CONNECTIONS: usize = 1024;
const MAX_MAX_CONNECTIONS: usize = 65_536;
/// How long a stop (SIGTERM, SIGINT) lets requests in flight finish. Fixed: well inside the
/// time Docker (10 s) and Kubernetes (30 s) wait before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// File descriptors the server needs besides one per connection: stdin, stdout, stderr (3), the
/// listener (1), a connection accepted past the cap only to answer it 503 (1), the connection
/// that wakes the accept loop at stop (1), the signal handler's socket pair (2), the OS random
/// source's fallback file (1), and headroom for descriptors a parent leaves open (7).
pub const FD_MARGIN: usize = 16;

/// A value that must never be printed. No `Debug`, no `Display`.
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value, for the one place that hands it out.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The page texts, as configured (escaping happens when rendering).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UiSettings {
    /// `T2G_UI_TARGET`.
    pub target: Option<String>,
    /// `T2G_UI_TITLE`.
    pub title: Option<String>,
    /// `T2G_UI_DESC1` (text).
    pub desc1: Option<String>,
    /// `T2G_UI_DESC2` (trusted operator HTML).
    pub desc2_html: Option<String>,
    /// `T2G_UI_MISC` (trusted operator HTML).
    pub misc_html: Option<String>,
    /// Absolute http(s) URL of the page's `curl` example.
    pub example_url: Option<String>,
}

/// The effective configuration. No `Debug`: it holds the fallback token.
pub struct Config {
    /// The address to listen on, when no socket is passed.
    pub listen: SocketAddr,
    /// Header names in lookup order: the configured list followed by the added names.
    pub header_names: Vec<String>,
    /// The token served when no header carries one.
    pub fallback_token: Option<Secret>,
    /// Header names carrying the user's name, in lookup order; empty: JWT claims only.
    pub user_header_names: Vec<String>,
    /// Header names carrying the token's expiry, in lookup order; empty: none read.
    pub expiry_header_names: Vec<String>,
    /// Host names served besides loopback (`T2G_ALLOWED_HOSTS`), lower case; `None` when unset.
    pub allowed_hosts: Option<Vec<String>>,
    /// The page texts.
    pub ui: UiSettings,
    /// Whether `/echo` is served.
    pub echo_enabled: bool,
    /// The connection cap (503 beyond it).
    pub max_connections: usize,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// Redirect-flow targets allowed beyond loopback.
    pub allowed_targets: Vec<AllowedPrefix>,
    /// Where audit lines go.
    pub audit_log: AuditSink,
    /// Whether a token goes only once its audit line is written.
    pub audit_required: bool,
    /// Whether the flow's paste mode is on.
    pub paste_mode: bool,
    /// Where to sign in again (`T2G_REAUTH_URL`), a template with `{url}`.
    pub reauth_url: Option<String>,
}

/// A configuration mistake: names the variable and what is allowed.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name.
    pub variable: &'static str,
    /// What is wrong and what is allowed.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.variable, self.problem)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the process environment: the configuration and one warning per unknown `T2G_*`
    /// name. A value that is not UTF-8 is a config error.
    pub fn from_env() -> Result<(Config, Vec<String>), ConfigError> {
        let mut vars = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str().map(str::to_owned) else {
                continue;
            };
            if !name.starts_with("T2G_") {
                continue;
            }
            match value.into_string() {
                Ok(value) => vars.push((name, value)),
                Err(_) => {
                    let variable = known(&name).map_or("T2G_*", |v| v.name);
                    return Err(ConfigError {
                        variable,
                        problem: "value is not valid UTF-8".to_string(),
                    });
                }
            }
        }
        let lookup = |name: &str| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let config = Config::from_lookup(lookup)?;
        let mut warnings = unknown_variable_warnings(vars.iter().map(|(n, _)| n.as_str()));
        warnings.extend(config.warnings());
        Ok((config, warnings))
    }

    /// Parses the configuration from a lookup function, asking it for each variable of
    /// [`VARIABLES`] in order; an empty value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut config = Config {
            listen: SocketAddr::new(IpAddr::from([0, 0, 0, 0]), DEFAULT_PORT),
            header_names: split_list(DEFAULT_HEADER_NAMES),
            fallback_token: None,
            user_header_names: split_list(DEFAULT_USER_HEADER_NAMES),
            expiry_header_names: split_list(DEFAULT_EXPIRY_HEADER_NAMES),
            allowed_hosts: None,
            ui: UiSettings::default(),
            echo_enabled: true,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            log_format: LogFormat::Text,
            allowed_targets: Vec::new(),
            audit_log: AuditSink::Stderr,
            audit_required: false,
            paste_mode: true,
            reauth_url: None,
        };
        for variable in VARIABLES {
            if let Some(value) = lookup(variable.name).filter(|v| !v.is_empty()) {
                (variable.apply)(&mut config, &value).map_err(|problem| ConfigError {
                    variable: variable.name,
                    problem,
                })?;
            }
        }
        if config.header_names.is_empty() {
            return Err(ConfigError {
                variable: "T2G_TOKEN_HEADER_NAMES",
                problem: "no header name left after dropping empty entries".to_string(),
            });
        }
        if config.audit_required && config.audit_log == AuditSink::Off {
            return Err(ConfigError {
                variable: "T2G_AUDIT_REQUIRED",
                problem: "true needs an audit trail, but T2G_AUDIT_LOG is off".to_string(),
            });
        }
        Ok(config)
    }

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

fn known(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|v| v.name == name)
}

fn parse_port(v: &str) -> Option<u16> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u16>().ok().filter(|p| *p != 0)
}

fn parse_host(v: &str) -> Option<IpAddr> {
    let v = v.trim();
    let v = v
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(v);
    v.parse().ok()
}

/// An absolute http(s) URL that can sit in single quotes in a shell line: no whitespace,
/// quotes, backslashes or angle brackets.
fn parse_example_url(v: &str) -> Option<String> {
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
fn parse_reauth_url(v: &str) -> Option<String> {
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
fn one_of<T: Copy>(v: &str, choices: &[(&str, T)]) -> Result<T, String> {
    let name = v.trim().to_ascii_lowercase();
    match choices.iter().find(|(choice, _)| *choice == name) {
        Some(&(_, value)) => Ok(value),
        None => {
            let names: Vec<&str> = choices.iter().map(|(choice, _)| *choice).collect();
            Err(format!("{v:?} is not one of {}", names.join(", ")))
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn split_list(list: &str) -> Vec<String> {
    list.split(',').map(str::to_string).collect()
}

/// Host names without port, as `Host` names them: DNS names or IPv4 addresses (letters, digits,
/// `-`, `.`), or a bracketed IPv6 address; lower-cased. Comma-separated, empties dropped.
fn parse_host_names(v: &str) -> Result<Vec<String>, String> {
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
fn parse_header_names(v: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !name.bytes().all(is_tchar) {
            return Err(format!("{name:?} is not a valid header name"));
        }
        names.push(name.to_string());
    }
    Ok(names)
}

/// One warning per unknown `T2G_*` name, with the closest known name when one is near.
fn unknown_variable_warnings<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    names
        .filter(|n| n.starts_with("T2G_") && known(n).is_none())
        .map(|n| match closest_variable(n) {
            Some(known) => format!("unknown variable {n} ignored; did you mean {known}?"),
            None => format!("unknown variable {n} ignored"),
        })
        .collect()
}

fn closest_variable(name: &str) -> Option<&'static str> {
    VARIABLES
        .iter()
        .map(|v| (edit_distance(name, v.name), v.name))
        .filter(|(d, _)| *d <= 4)
        .min_by_key(|(d, _)| *d)
        .map(|(_, known)| known)
}

/// Levenshtein distance over bytes (names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut row = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(!ca.eq_ignore_ascii_case(cb));
            row[j + 1] = substitution.min(prev[j + 1] + 1).min(row[j] + 1);
        }
        prev = row;
    }
    prev[b.len()]
}

/// `--help` text, listing every variable with its default.
pub fn usage() -> String {
    let mut out = format!(
        "token2go-server {}\n\
         Hands the token a gateway put into a request header to a web page, a JSON endpoint\n\
         and the encrypted token redirect flow.\n\n\
         Usage: token2go-server [--help | --version | healthcheck]\n\n\
         Without arguments it serves until SIGTERM or SIGINT, then stops accepting, lets\n\
         requests in flight finish (at most {grace} s) and exits 0. Started by systemd socket\n\
         activation (LISTEN_FDS=1), it serves on the passed socket instead of binding.\n\
         `healthcheck` GETs /health on loopback at T2G_SERVER_PORT: exit 0 on 200, 1\n\
         otherwise, within {probe} s.\n\n\
         Configured only by environment variables (empty means unset):\n",
        env!("CARGO_PKG_VERSION"),
        grace = STOP_GRACE.as_secs(),
        probe = crate::server::healthcheck::TIMEOUT.as_secs(),
    );
    for v in VARIABLES {
        out.push_str(&format!(
            "  {:<30} {}\n  {:<30} default: {}\n",
            v.name, v.meaning, "", v.default
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(
            c.header_names,
            [
                "Access-Token",
                "Authorization",
                "Token",
                "X-Auth-Request-Access-Token",
                "X-Forwarded-Access-Token",
                "OIDC_access_token"
            ]
        );
        assert_eq!(c.expiry_header_names, ["OIDC_access_token_expires"]);
        assert!(c.fallback_token.is_none());
        assert!(c.echo_enabled);
        assert_eq!(c.max_connections, 1024);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.ui, UiSettings::default());
    }

    #[test]
    fn empty_values_count_as_unset() {
        let c = parse(&[
            ("T2G_SERVER_PORT", ""),
            ("T2G_FALLBACK_TOKEN", ""),
            ("T2G_TOKEN_HEADER_NAMES", ""),
            ("T2G_UI_TARGET", ""),
        ])
        .unwrap();
        assert_eq!(c.listen.port(), 8080);
        assert!(c.fallback_token.is_none());
        assert_eq!(c.header_names.len(), 6);
        assert_eq!(c.ui.target, None);
    }

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

    #[test]
    fn unknown_variables_get_a_suggestion() {
        let w = unknown_variable_warnings(
            [
                "T2G_TOKEN_HEADER_NAME",
                "T2G_SERVER_PORT",
                "T2G_COMPLETELY_DIFFERENT_THING",
                "PATH",
            ]
            .into_iter(),
        );
        assert_eq!(w.len(), 2);
        assert!(
            w[0].contains("did you mean T2G_TOKEN_HEADER_NAMES?"),
            "{}",
            w[0]
        );
        assert!(!w[1].contains("did you mean"), "{}", w[1]);
        let w = unknown_variable_warnings(["T2G_SERVER_PROT"].into_iter());
        assert!(w[0].contains("T2G_SERVER_PORT"));
    }

    #[test]
    fn edit_distance_known_answers() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn usage_lists_every_variable_with_default() {
        let u = usage();
        for v in VARIABLES {
            assert!(u.contains(v.name) && u.contains(v.default), "{}", v.name);
        }
        assert!(u.contains("T2G_REDIRECT_ALLOWED_TARGETS"));
    }

    #[test]
    fn from_lookup_asks_for_exactly_the_table() {
        let asked = std::cell::RefCell::new(Vec::new());
        Config::from_lookup(|name| {
            asked.borrow_mut().push(name.to_string());
            None
        })
        .unwrap();
        let table: Vec<&str> = VARIABLES.iter().map(|v| v.name).collect();
        assert_eq!(asked.into_inner(), table);
        let mut names = table.clone();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), table.len(), "each name once");
    }

    #[test]
    fn redirect_allowed_targets_is_a_known_variable() {
        assert!(unknown_variable_warnings(["T2G_REDIRECT_ALLOWED_TARGETS"].into_iter()).is_empty());
        let w = unknown_variable_warnings(["T2G_REDIRECT_ALLOWED_TARGET"].into_iter());
        assert_eq!(
            w,
            [
                "unknown variable T2G_REDIRECT_ALLOWED_TARGET ignored; did you mean T2G_REDIRECT_ALLOWED_TARGETS?"
            ]
        );
    }

    /// The README's configuration table lists the same variables with the same defaults, in
    /// the same order.
    #[test]
    fn readme_table_matches_the_code() {
        let readme = include_str!("../../README.md");
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

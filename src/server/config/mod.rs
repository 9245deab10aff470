//! Configuration from `T2G_*` environment variables: the only reader of the server's `T2G_*`
//! variables (socket activation reads `LISTEN_*`, and the client's `Env` its own variables).
//!
//! One table, [`VARIABLES`], drives everything about a variable: its parsing, `--help`, the
//! unknown-variable check and (through a test) the README's table. Parsing goes through a
//! lookup function so tests feed literals instead of the real environment:
//! [`Config::from_env`], the one reader of the environment, hands its values to
//! [`Config::from_lookup`].
//!
//! By file: here the configuration and the parsing loop; `variables.rs` the table, `values.rs`
//! the value parsers its entries use, `unknown.rs` the unknown-variable check, `usage.rs`
//! `--help`, `startup.rs` what the start line and its warnings say, and the fit to the
//! open-file limit.

mod startup;
mod unknown;
mod usage;
mod values;
mod variables;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::flow::redirect_target::AllowedPrefix;
use crate::log::LogFormat;
use crate::server::audit::AuditSink;

pub use startup::FD_MARGIN;
use unknown::unknown_variable_warnings;
pub use usage::usage;
use values::split_list;
use variables::{
    DEFAULT_EXPIRY_HEADER_NAMES, DEFAULT_HEADER_NAMES, DEFAULT_USER_HEADER_NAMES, known,
};
pub use variables::{VARIABLES, Variable};

const DEFAULT_PORT: u16 = 8080;
const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// How long a stop (SIGTERM, SIGINT) lets requests in flight finish. Fixed: well inside the
/// time Docker (10 s) and Kubernetes (30 s) wait before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The configuration `pairs` give, as the other files' tests parse it too.
    pub(in crate::server::config) fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
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
}

//! The environment a run reads: a few variables, taken once at the edge
//! ([`Env::from_process`]) and passed on as a value, so everything after it is testable with
//! literals.

use std::ffi::OsString;
use std::path::PathBuf;

/// The environment a run reads, read once. Empty values count as unset.
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// `TOKEN2GO_URL`: the default server URL.
    pub token2go_url: Option<String>,
    /// `BROWSER`: the command that opens the flow URL.
    pub browser: Option<String>,
    /// `DISPLAY`: an X display, so a browser can open.
    pub display: Option<String>,
    /// `WAYLAND_DISPLAY`: a Wayland display, so a browser can open.
    pub wayland_display: Option<String>,
    /// `SSH_CONNECTION`: a remote session; with no browser or display, paste mode is the default.
    pub ssh_connection: Option<String>,
    /// `KUBERNETES_EXEC_INFO`: kubectl runs the client as a credential plugin.
    pub kubernetes_exec_info: Option<String>,
    /// `TOKEN2GO_MIN_INTERVAL` and `TOKEN2GO_MAX_AGE`, checked by the option parser.
    pub min_interval: Option<String>,
    /// See `min_interval`.
    pub max_age: Option<String>,
    /// `XDG_CACHE_HOME`: where the cache lives, when set.
    pub xdg_cache_home: Option<PathBuf>,
    /// `HOME`: the cache's fallback location.
    pub home: Option<PathBuf>,
}

impl Env {
    /// The environment of this process.
    pub fn from_process() -> Env {
        Env::from_lookup(|name| std::env::var_os(name))
    }

    /// The environment as `lookup` gives it (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Env {
        let get = |name: &str| lookup(name).filter(|value| !value.is_empty());
        let text = |name: &str| get(name).and_then(|value| value.into_string().ok());
        Env {
            token2go_url: text("TOKEN2GO_URL"),
            browser: text("BROWSER"),
            display: text("DISPLAY"),
            wayland_display: text("WAYLAND_DISPLAY"),
            ssh_connection: text("SSH_CONNECTION"),
            kubernetes_exec_info: text("KUBERNETES_EXEC_INFO"),
            min_interval: text("TOKEN2GO_MIN_INTERVAL"),
            max_age: text("TOKEN2GO_MAX_AGE"),
            xdg_cache_home: get("XDG_CACHE_HOME").map(PathBuf::from),
            home: get("HOME").map(PathBuf::from),
        }
    }

    /// kubectl runs us without a terminal (`KUBERNETES_EXEC_INFO` with `"interactive": false`):
    /// no browser may be opened and nobody would see a link.
    pub fn non_interactive(&self) -> bool {
        self.kubernetes_exec_info
            .as_deref()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
            .is_some_and(|info| info["spec"]["interactive"] == serde_json::Value::Bool(false))
    }

    /// Paste mode when nothing here could open a browser: an SSH session without a display.
    pub fn paste_by_default(&self) -> bool {
        self.browser.is_none()
            && self.display.is_none()
            && self.wayland_display.is_none()
            && self.ssh_connection.is_some()
    }
}

/// An environment made of literals, for the client's unit tests.
#[cfg(test)]
pub(crate) fn test_env(vars: &[(&str, &str)]) -> Env {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Env::from_lookup(move |name| {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| std::ffi::OsString::from(v))
    })
}

#[cfg(test)]
mod tests {
    use super::test_env as env;
    use super::*;

    #[test]
    fn paste_by_default_only_over_ssh_without_display_or_browser() {
        let ssh = [("SSH_CONNECTION", "10.0.0.1 5000 10.0.0.2 22")];
        assert!(env(&ssh).paste_by_default());
        assert!(!env(&[]).paste_by_default());
        for extra in [
            ("DISPLAY", ":0"),
            ("WAYLAND_DISPLAY", "w"),
            ("BROWSER", "b"),
        ] {
            assert!(!env(&[ssh[0], extra]).paste_by_default(), "{extra:?}");
        }
        assert!(env(&[ssh[0], ("DISPLAY", "")]).paste_by_default());
    }

    #[test]
    fn empty_and_non_utf8_values_count_as_unset() {
        use std::os::unix::ffi::OsStringExt;
        let env = Env::from_lookup(|name| match name {
            "TOKEN2GO_URL" => Some(OsString::new()),
            "BROWSER" => Some(OsString::from_vec(vec![0xff])),
            "HOME" => Some(OsString::from_vec(b"/home/\xff".to_vec())),
            _ => None,
        });
        assert_eq!(env.token2go_url, None);
        assert_eq!(env.browser, None);
        assert!(env.home.is_some(), "a path need not be UTF-8");
    }

    #[test]
    fn non_interactive_only_when_kubectl_says_so() {
        let info = |text: &str| env(&[("KUBERNETES_EXEC_INFO", text)]).non_interactive();
        assert!(info(
            r#"{"apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#
        ));
        assert!(!info(r#"{"spec":{"interactive":true}}"#));
        assert!(!info(r#"{"spec":{}}"#));
        assert!(!info("not json"));
        assert!(!env(&[]).non_interactive());
    }
}

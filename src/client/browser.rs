//! Opening the flow URL in the user's browser, never waiting for it: a browser command may block
//! until its window closes, and the callback must be answered meanwhile.
//!
//! `BROWSER` is a command line split on whitespace; a `%s` in it is replaced by the URL (as
//! Python's `webbrowser` does), else the URL is its last argument. Without `BROWSER`: `open` on
//! macOS, `xdg-open` elsewhere, and only when there is a display to open it on (without one,
//! `xdg-open` falls back to a console browser that would take over the terminal).

use std::io;
use std::process::{Command, Stdio};
use std::thread;

use crate::client::env::Env;

/// The program and arguments that open `url`, or `None` when nothing here can.
pub(super) fn command_for(url: &str, env: &Env) -> Option<Vec<String>> {
    if let Some(browser) = &env.browser {
        let mut words: Vec<String> = browser.split_whitespace().map(str::to_string).collect();
        if words.is_empty() {
            return None;
        }
        if words[1..].iter().any(|word| word.contains("%s")) {
            for word in &mut words[1..] {
                *word = word.replace("%s", url);
            }
        } else {
            words.push(url.to_string());
        }
        return Some(words);
    }
    if cfg!(target_os = "macos") {
        return Some(vec!["open".into(), url.into()]);
    }
    if env.display.is_some() || env.wayland_display.is_some() {
        return Some(vec!["xdg-open".into(), url.into()]);
    }
    None
}

/// Starts the command and returns at once. A thread reaps it whenever it exits, so no zombie
/// stays behind while we wait; if we exit first, it is reparented and reaped by init. Its
/// stdout goes to our stderr: our stdout carries the result only, and a browser holding that
/// pipe open would keep `$(token2go)` and kubectl waiting after we exit.
pub(super) fn spawn(command: &[String]) -> io::Result<()> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty browser command"))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(io::stderr())
        .spawn()?;
    thread::Builder::new()
        .name("t2g-browser".into())
        .spawn(move || {
            let _ = child.wait();
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::env::test_env as env;

    const URL: &str = "http://h/flow/redirect/token?a=1&b=%2B";

    #[test]
    fn browser_variable_gets_the_url_last_or_in_place_of_percent_s() {
        assert_eq!(
            command_for(URL, &env(&[("BROWSER", "  firefox   --new-tab ")])),
            Some(vec!["firefox".into(), "--new-tab".into(), URL.into()])
        );
        assert_eq!(
            command_for(URL, &env(&[("BROWSER", "wrap --url=%s --x")])),
            Some(vec!["wrap".into(), format!("--url={URL}"), "--x".into()])
        );
        assert_eq!(command_for(URL, &env(&[("BROWSER", " \t ")])), None);
    }

    #[cfg(not(target_os = "macos"))]
    #[test]
    fn xdg_open_only_with_a_display() {
        assert_eq!(command_for(URL, &env(&[])), None);
        for display in [("DISPLAY", ":0"), ("WAYLAND_DISPLAY", "wayland-0")] {
            assert_eq!(
                command_for(URL, &env(&[display])),
                Some(vec!["xdg-open".into(), URL.into()])
            );
        }
    }

    #[test]
    fn spawn_returns_before_the_command_exits() {
        let started = std::time::Instant::now();
        spawn(&["sleep".into(), "2".into()]).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(spawn(&["/nonexistent/browser".into()]).is_err());
        assert!(spawn(&[]).is_err());
    }
}

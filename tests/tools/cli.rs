//! Command line and configuration errors of the real binary that need an outside tool: curl for
//! the page, bash, zsh and fish for the client's completion scripts.

use crate::harness::{TestServer, client};

#[test]
fn the_page_carries_the_example_url_and_the_echo_switch() {
    let s = TestServer::start(&[(
        "T2G_UI_EXAMPLE_URL",
        "https://api.example.org/v2/items?limit=1&x=y",
    )]);
    let page = s.get("/", &[]).text();
    assert!(page.contains("data-echo=\"true\""), "{page}");
    assert!(page.contains("data-example-url=\"https://api.example.org/v2/items?limit=1&amp;x=y\""));
    assert!(!page.contains("The curl line calls an example URL"));
    assert!(!s.output().contains("unknown variable"), "{}", s.output());

    let s = TestServer::start(&[("T2G_ECHO_ENABLED", "false")]);
    let page = s.get("/", &[]).text();
    assert!(page.contains("data-echo=\"false\""));
    assert!(page.contains("data-example-url=\"https://api.example.com/\""));
    assert!(page.contains("The curl line calls an example URL"));
}

/// The completion scripts parse in their shells (`-n`: syntax only), and each names every
/// option of `--help`.
#[test]
fn the_client_completions_parse_in_bash_zsh_and_fish() {
    let help = String::from_utf8_lossy(&client(&["--help"]).stdout).into_owned();
    let options: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
        .collect();
    assert!(options.len() >= 15, "{options:?}");
    let dir = crate::harness::TempDir::new("completions");
    for shell in ["bash", "zsh", "fish"] {
        let out = client(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for option in &options {
            assert!(script.contains(&option[2..]), "{shell}: {option}");
        }
        let path = dir.join(&format!("token2go.{shell}"));
        std::fs::write(&path, &script).unwrap();
        let checked = std::process::Command::new(shell)
            .arg("-n")
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("{shell} is required (scripts/test.sh installs it): {e}"));
        assert!(
            checked.status.success() && checked.stderr.is_empty(),
            "{shell} -n: {}\n{script}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }
    // bash really completes with it.
    let bash = dir.join("token2go.bash");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}'; COMP_WORDS=(token2go --form); COMP_CWORD=1; _token2go; echo \"${{COMPREPLY[@]}}\"; \
             COMP_WORDS=(token2go --format ''); COMP_CWORD=2; _token2go; echo \"${{COMPREPLY[@]}}\"",
            bash.display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "--format\ntoken json header exec-credential\n"
    );
    let out = client(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

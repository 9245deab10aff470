//! Command line and configuration errors of the real binary, and the `token2go` client's own
//! command line. The tests that need curl or zsh and fish are in tests/tools/cli.rs.

use crate::harness::{TestServer, client, run_to_exit};

#[test]
fn help_lists_every_variable_and_version_prints() {
    let out = run_to_exit(&[], &["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    // The README's table, which a unit test holds equal to the code's table, is the
    // independent list here.
    let readme = include_str!("../../README.md");
    let rows: Vec<Vec<&str>> = readme
        .lines()
        .filter(|line| line.starts_with("| `T2G_"))
        .map(|line| {
            line.split('|')
                .map(|c| c.trim().trim_matches('`'))
                .collect()
        })
        .collect();
    assert!(rows.len() >= 14, "{rows:?}");
    for row in rows {
        let (name, default) = (row[1], row[2]);
        assert!(help.contains(name), "{name} missing from --help");
        assert!(help.contains(default), "default of {name} missing");
    }
    let out = run_to_exit(&[], &["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("token2go-server {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run_to_exit(&[], &["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn config_errors_name_the_variable_and_exit_2() {
    let cases: &[(&str, &str)] = &[
        ("T2G_SERVER_PORT", "abc"),
        ("T2G_SERVER_PORT", "70000"),
        ("T2G_SERVER_HOST", "not-an-ip"),
        ("T2G_ECHO_ENABLED", "perhaps"),
        ("T2G_LOG_FORMAT", "xml"),
        ("T2G_MAX_CONNECTIONS", "0"),
        ("T2G_TOKEN_HEADER_NAMES", "Bad Header"),
    ];
    for (name, value) in cases {
        let out = run_to_exit(
            &[(name, value), ("T2G_FALLBACK_TOKEN", "canary-cfg-secret")],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{name}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(name), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("canary-cfg-secret"), "{stderr}");
    }
}

#[test]
fn unknown_variable_warns_with_suggestion_and_runs() {
    let s = TestServer::start(&[
        ("T2G_TOKEN_HEADER_NAME", "X-Typo"),
        ("T2G_FALLBACK_TOKEN", "s3cr3t-canary"),
        (
            "T2G_REDIRECT_ALLOWED_TARGETS",
            "https://hub.example.com/user/",
        ),
    ]);
    assert_eq!(s.get("/health", &[]).status, 200);
    let out = s.output();
    assert!(
        !out.contains("unknown variable T2G_REDIRECT_ALLOWED_TARGETS"),
        "{out}"
    );
    assert!(
        out.contains("redirect_allowed_targets=loopback+https://hub.example.com/user/"),
        "{out}"
    );
    assert!(
        out.contains("T2G_TOKEN_HEADER_NAME")
            && out.contains("did you mean T2G_TOKEN_HEADER_NAMES?"),
        "{out}"
    );
    // The startup line: version, address, effective settings, fallback only as set/unset.
    let start = out
        .lines()
        .find(|l| l.contains("listening on"))
        .expect("startup line");
    assert!(start.contains(env!("CARGO_PKG_VERSION")), "{start}");
    assert!(start.contains(&s.addr.to_string()), "{start}");
    assert!(start.contains("fallback_token=set"), "{start}");
    assert!(!out.contains("s3cr3t-canary"), "{out}");
}

// `T2G_UI_EXAMPLE_URL` and `T2G_ECHO_ENABLED` as the token page receives them (the page's
// behaviour with them is in `page_browser.rs`).

#[test]
fn example_url_must_be_an_absolute_http_url() {
    for bad in [
        "api.example.com/v1",
        "ftp://files.example.com/",
        "https://a.example/x y",
    ] {
        let out = run_to_exit(&[("T2G_UI_EXAMPLE_URL", bad)], &[]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains("T2G_UI_EXAMPLE_URL") && stderr.contains("http:// or https://"),
            "{stderr}"
        );
    }
}

// ----- the `token2go` client's command line (Rust only; both clients' behaviour is in
// clients.rs and client_wild.rs) --------------------------------------------------------------------

#[test]
fn the_client_has_short_help_and_version_and_suggests_options() {
    for args in [&["-h"][..], &["--help"], &["-hV"]] {
        let out = client(args);
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        for word in [
            "usage: token2go [OPTIONS] [SERVER_URL]",
            "token2go status",
            "token2go logout",
            "completions",
            "--min-interval",
            "--max-age",
            "--cached-only",
            "-V, --version",
        ] {
            assert!(help.contains(word), "{word} missing from {args:?}:\n{help}");
        }
    }
    let out = client(&["-V"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("token2go {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = client(&["--formt", "json", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "token2go: unknown option \"--formt\": did you mean --format?; see --help\n"
    );
}

/// `cargo run` (the Quick start) passes build.rs's `rustc-env` variables to the server: none may
/// look like configuration, so a clean start prints no warning.
#[test]
fn a_start_with_the_build_environment_has_no_warning() {
    let build_rs = include_str!("../../build.rs");
    let build_env: Vec<(&str, &str)> = build_rs
        .split("cargo:rustc-env=")
        .skip(1)
        .map(|rest| (rest.split('=').next().unwrap(), "5.32.6"))
        .collect();
    assert!(
        !build_env.is_empty(),
        "build.rs sets the Swagger UI version"
    );
    let mut vars = build_env.clone();
    vars.push(("T2G_FALLBACK_TOKEN", "demo-token-not-a-secret"));
    let s = TestServer::start(&vars);
    assert_eq!(s.get("/health", &[]).status, 200);
    let out = s.wait_for_output("listening");
    assert!(!out.contains("warn"), "{build_env:?}: {out}");
}

//! The token redirect flow against the real binary, the part that needs no outside tool: the done
//! page and the flow's config errors. Redirects and paste blocks decrypted by an independent
//! implementation (Python `cryptography`) are in tests/tools/flow.rs.

use crate::harness::TestServer;

#[test]
fn done_page() {
    let s = TestServer::start(&[]);
    let r = s.get("/flow/redirect/done", &[]);
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(
        page.contains("Token delivered.") && page.contains("You can close this tab."),
        "{page}"
    );
    assert!(
        r.header("Content-Security-Policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
}

#[test]
fn config_refuses_bad_allowed_targets() {
    let out = crate::harness::run_to_exit(
        &[("T2G_REDIRECT_ALLOWED_TARGETS", "ftp://files.example/")],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("T2G_REDIRECT_ALLOWED_TARGETS"));
}

#[test]
fn config_refuses_a_bad_reauth_url() {
    let out = crate::harness::run_to_exit(&[("T2G_REAUTH_URL", "//evil.example/{url}")], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("T2G_REAUTH_URL") && err.lines().count() == 1,
        "{err}"
    );
}

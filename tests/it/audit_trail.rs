//! Issue 16 §3 against the real binary, the part that needs no outside tool: `T2G_AUDIT_REQUIRED`
//! without an audit trail is a config error, and the shipped deployments require it. The concurrent
//! and unwritable-trail tests need Python's keys: tests/tools/audit_trail.rs.

#[test]
fn audit_required_needs_an_audit_trail() {
    let out = crate::harness::run_to_exit(
        &[("T2G_AUDIT_REQUIRED", "true"), ("T2G_AUDIT_LOG", "off")],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "token2go-server: invalid T2G_AUDIT_REQUIRED: true needs an audit trail, but \
         T2G_AUDIT_LOG is off\n"
    );
}

/// The deployments the repository ships fail closed.
#[test]
fn the_systemd_and_kubernetes_deployments_require_the_audit_trail() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let env = std::fs::read_to_string(repo.join("assets/systemd/token2go.env")).unwrap();
    assert!(env.lines().any(|l| l == "T2G_AUDIT_REQUIRED=true"), "{env}");
    let manifest = std::fs::read_to_string(repo.join("assets/kubernetes/token2go.yaml")).unwrap();
    let lines: Vec<&str> = manifest.lines().map(str::trim).collect();
    let at = lines
        .iter()
        .position(|l| *l == "- name: T2G_AUDIT_REQUIRED")
        .expect("the manifest sets T2G_AUDIT_REQUIRED");
    assert_eq!(lines[at + 1], "value: \"true\"");
}

//! The /metrics exposition passes `promtool check metrics` (Prometheus' own linter).

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn metrics_pass_promtool() {
    let s = crate::harness::TestServer::start(&[("T2G_FALLBACK_TOKEN", "t")]);
    s.get("/token", &[]);
    s.get("/nope", &[]);
    s.get("/health", &[]);
    let body = s.get("/metrics", &[]).body;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed (scripts/test.sh installs the prometheus package)");
    child.stdin.take().unwrap().write_all(&body).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool: {report}\n{}",
        String::from_utf8_lossy(&body)
    );
    assert!(report.trim().is_empty(), "promtool lint findings: {report}");
}

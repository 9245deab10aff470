//! kubectl (the machine's, or Debian's `kubernetes-client`) with the README's kubeconfig snippet
//! (the exec-credential plugin form, `token2go --format exec-credential`) against a TLS API
//! server stand-in (`tests/support/kube_api_standin.py`) that accepts only tokens the real
//! identity provider vouches for. The token comes through Apache with `mod_auth_openidc`
//! (`realparts_apache.rs`): the first `kubectl get pods` signs in with Chromium, the later ones
//! take the token from the client's cache and must not launch a browser. The first runs in a
//! terminal (a pseudo-terminal from `script`), as a person types it; the later ones without, as a
//! script or an editor runs kubectl (the client opens no browser then).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::clients::{RUST_CLIENT, Sandbox};
use crate::harness::{TempDir, TestServer, free_port, python_exe, tool};
use crate::realparts::{Format, repo_file, self_signed, signin_env, signin_records};
use crate::realparts_apache::Bed;
use crate::webdriver::one_browser_at_a_time;

const KUBE_API: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/kube_api_standin.py"
);

/// The README's kubeconfig user (section "Clients"), as it is, with the client's path and the
/// server's URL of this test filled in.
fn readme_kube_user(server_url: &str) -> String {
    let readme = repo_file("README.md");
    let start = readme
        .find("```yaml\nusers:\n")
        .expect("README: the kubeconfig snippet");
    let snippet = &readme[start + "```yaml\n".len()..];
    let snippet = &snippet[..snippet.find("```").expect("end of the snippet")];
    assert!(snippet.contains("command: token2go\n"), "{snippet}");
    assert!(
        snippet.contains("args: [--format, exec-credential, https://corp.example/t2g/]"),
        "{snippet}"
    );
    snippet
        .replace("command: token2go\n", &format!("command: {RUST_CLIENT}\n"))
        .replace("https://corp.example/t2g/", server_url)
}

const KUBECTL_ARGS: &[&str] = &[
    "get",
    "pods",
    "--namespace",
    "default",
    "--request-timeout",
    "60s",
];

/// `kubectl get pods` without a terminal, as a script runs it: kubectl then tells the plugin
/// `"interactive": false`.
fn kubectl(kubeconfig: &Path, env: &[(String, String)]) -> Output {
    Command::new(tool("kubectl"))
        .args(KUBECTL_ARGS)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("run kubectl")
}

/// `kubectl get pods` in a terminal, as a person types it: `script` (util-linux) gives it a
/// pseudo-terminal, so kubectl tells the plugin `"interactive": true` and the client may open
/// the browser. kubectl's stdout and stderr both arrive in the output's stdout.
fn kubectl_in_a_terminal(kubeconfig: &Path, env: &[(String, String)]) -> Output {
    let line = std::iter::once(tool("kubectl").display().to_string())
        .chain(KUBECTL_ARGS.iter().map(|a| a.to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    Command::new(tool("script"))
        .args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("KUBECONFIG", kubeconfig)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run kubectl under script")
}

/// kubectl's client version must know `client.authentication.k8s.io/v1` (1.22 and later), the
/// apiVersion of the README's snippet.
fn assert_kubectl_knows_exec_v1() {
    let out = Command::new(tool("kubectl"))
        .args(["version", "--client", "-o", "json"])
        .output()
        .expect("run kubectl version");
    let version: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let minor: u32 = version["clientVersion"]["minor"]
        .as_str()
        .unwrap_or("0")
        .trim_end_matches('+')
        .parse()
        .unwrap_or(0);
    assert!(
        version["clientVersion"]["major"] == "1" && minor >= 22,
        "kubectl 1.22 or later is required (client.authentication.k8s.io/v1); this one is {}: \
         Debian 12's kubernetes-client is 1.20, install kubectl from pkgs.k8s.io",
        version["clientVersion"]["gitVersion"]
    );
}

fn api_log(dir: &TempDir) -> Vec<Value> {
    std::fs::read_to_string(dir.join("api.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[test]
fn kubectl_with_the_readme_kubeconfig_signs_in_once_then_uses_the_cache() {
    assert_kubectl_knows_exec_v1();
    let _one = one_browser_at_a_time();
    let bed = Bed::start(Format::Opaque, 3600);
    let dir = TempDir::new("kube");
    let (cert, key) = self_signed(&dir, "127.0.0.1");
    let port = free_port();
    let mut command = Command::new(python_exe());
    command
        .arg(KUBE_API)
        .arg(port.to_string())
        .arg(&cert)
        .arg(&key)
        .arg(&bed.idp.issuer)
        .arg(dir.join("api.jsonl"));
    let api = TestServer::spawn(command, SocketAddr::from(([127, 0, 0, 1], port)));
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: corp\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority: {}\n\
             contexts:\n- name: corp\n  context:\n    cluster: corp\n    user: corp\n\
             current-context: corp\n{}",
            cert.display(),
            readme_kube_user(&bed.url)
        ),
    )
    .unwrap();

    // Unauthenticated requests are refused: the stand-in checks tokens.
    assert!(bed.idp.refuses("not-a-token"));

    let sandbox = Sandbox::new();
    let first = kubectl_in_a_terminal(&kubeconfig, &signin_env(&sandbox, "erin"));
    let records = signin_records(&sandbox);
    assert!(
        first.status.success(),
        "{}{}\nbrowser: {records:?}\napi: {:?}\n{}\n{}",
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr),
        api_log(&dir),
        api.output(),
        bed.logs()
    );
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(out.contains("pod-of-erin"), "{out}");
    assert!(records.iter().any(|r| r["event"] == "done"), "{records:?}");

    // Later calls, each a new kubectl process: the token from the cache, no browser.
    for _ in 0..2 {
        let later = kubectl(&kubeconfig, &sandbox.refusing_browser_env());
        assert!(
            later.status.success(),
            "{}",
            String::from_utf8_lossy(&later.stderr)
        );
        assert!(String::from_utf8_lossy(&later.stdout).contains("pod-of-erin"));
    }
    assert!(!sandbox.browser_mark().exists(), "a browser was launched");
    let log = api_log(&dir);
    assert!(log.iter().all(|r| r["user"] == "erin"), "{log:?}");
    assert!(
        log.iter()
            .filter(|r| r["path"] == "/api/v1/namespaces/default/pods")
            .count()
            == 3,
        "{log:?}"
    );
}

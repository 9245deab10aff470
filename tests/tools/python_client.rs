//! What only the Python client does: the library in a notebook (`tests/support/test_python_client.py`
//! with a fake IPython), the callback through JupyterHub's jupyter-server-proxy (a hub-shaped nginx
//! in front of the real server), and `pip install` from the repository.
//!
//! The JupyterHub stand-in is one nginx with three sites: two gateways in front of the server
//! (adding the token and user headers of alice, or of bob, as oauth2-proxy would) on 127.0.0.1,
//! and "the hub" on 127.0.0.2, which maps `/user/alice/proxy/PORT/PATH` to `127.0.0.1:PORT/PATH`
//! as jupyter-server-proxy does for alice's server. 127.0.0.2 is loopback to the kernel but not to
//! the server (only `127.0.0.1`, `[::1]` and `localhost` are), so the hub's targets must pass the
//! `{user}` prefix of `T2G_REDIRECT_ALLOWED_TARGETS`.

use std::process::{Command, Stdio};

use crate::clients::{Sandbox, Which, jwt, run};
use crate::harness::{TempDir, TestServer, free_port, python_exe};
use crate::nginx::Nginx;

const NOTEBOOK_TEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/test_python_client.py"
);
const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts");

#[test]
fn the_library_in_a_notebook() {
    let server = TestServer::start(&[]);
    let secret = jwt("notebook", 700, 3600);
    let sandbox = Sandbox::new();
    let out = Command::new(python_exe())
        .arg(NOTEBOOK_TEST)
        .arg(server.url(""))
        .env_clear()
        .envs(sandbox.env())
        .env("STANDIN_TOKEN", &secret)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run test_python_client.py");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains(" passed, 0 failed"),
        "test_python_client.py failed:\n{stdout}\n{stderr}"
    );
    assert!(!stdout.contains(&secret) && !stderr.contains(&secret));
}

/// The server, and nginx as alice's gateway, bob's gateway and the hub.
struct Hub {
    server: TestServer,
    nginx: Nginx,
    alice_gateway: String,
    bob_gateway: String,
    hub: String,
    alice_token: String,
    bob_token: String,
}

impl Hub {
    fn start() -> Hub {
        let (alice_port, bob_port, hub_port) = (free_port(), free_port(), free_port());
        let hub = format!("http://127.0.0.2:{hub_port}");
        let server = TestServer::start(&[(
            "T2G_REDIRECT_ALLOWED_TARGETS",
            &format!("{hub}/user/{{user}}/"),
        )]);
        let alice_token = jwt("alice", 600, 3600);
        let bob_token = jwt("bob", 600, 3600);
        let gateway = |port: u16, user: &str, token: &str| {
            format!(
                "server {{\n\
                 \x20   listen 127.0.0.1:{port};\n\
                 \x20   location / {{\n\
                 \x20       proxy_pass http://{};\n\
                 \x20       proxy_set_header X-Forwarded-Access-Token \"{token}\";\n\
                 \x20       proxy_set_header X-Forwarded-User {user};\n\
                 \x20   }}\n\
                 }}\n",
                server.addr
            )
        };
        let site = format!(
            "{}{}server {{\n\
             \x20   listen 127.0.0.2:{hub_port};\n\
             \x20   location ~ ^/user/alice/proxy/([0-9]+)(/.*)$ {{\n\
             \x20       proxy_pass http://127.0.0.1:$1$2$is_args$args;\n\
             \x20   }}\n\
             \x20   location / {{ return 404; }}\n\
             }}\n",
            gateway(alice_port, "alice", &alice_token),
            gateway(bob_port, "bob", &bob_token),
        );
        let nginx = Nginx::start(alice_port, &site);
        Hub {
            server,
            nginx,
            alice_gateway: format!("http://127.0.0.1:{alice_port}"),
            bob_gateway: format!("http://127.0.0.1:{bob_port}"),
            hub,
            alice_token,
            bob_token,
        }
    }

    /// A kernel of alice's server on this hub: the variables JupyterHub sets, the proxy said to
    /// be there, and the stand-in browser (which sends no token: the gateways add them).
    fn kernel_env(
        &self,
        sandbox: &Sandbox,
        proxy: &str,
        public_url: bool,
    ) -> Vec<(String, String)> {
        let mut env = sandbox.standin_env("");
        env.retain(|(k, _)| k != "STANDIN_TOKEN");
        env.push(("JUPYTERHUB_USER".into(), "alice".into()));
        env.push(("JUPYTERHUB_SERVICE_PREFIX".into(), "/user/alice/".into()));
        env.push(("TOKEN2GO_JUPYTER_PROXY".into(), proxy.into()));
        if public_url {
            env.push(("JUPYTERHUB_PUBLIC_URL".into(), format!("{}/", self.hub)));
        }
        env
    }
}

#[test]
fn on_jupyterhub_the_callback_goes_through_the_hub_for_its_user_only() {
    let hub = Hub::start();
    let sandbox = Sandbox::new();
    let env = hub.kernel_env(&sandbox, "1", true);
    let done = run(Which::Python, &["--no-cache", &hub.alice_gateway], &env);
    assert_eq!(
        done.ok(),
        format!("{}\n", hub.alice_token),
        "{}",
        hub.nginx.logs()
    );
    let through_hub = format!("{}/user/alice/proxy/", hub.hub);
    assert!(
        done.stderr
            .lines()
            .any(|l| l.starts_with(&through_hub) && !l.contains("/flow/")),
        "the start link goes through the hub: {}",
        done.describe()
    );
    let log = sandbox.standin_log();
    let kinds: Vec<(&str, &str, u64, bool)> = log
        .iter()
        .filter(|r| r["kind"] != "argv")
        .map(|r| {
            let url = r["url"].as_str().unwrap_or("");
            (
                r["kind"].as_str().unwrap_or(""),
                r["method"].as_str().unwrap_or(""),
                r["status"].as_u64().unwrap_or(0),
                url.starts_with(&through_hub),
            )
        })
        .collect();
    // The start link (through the hub), the flow (through alice's gateway), the delivery in the
    // query (through the hub), the done page.
    assert_eq!(
        kinds,
        [
            ("start", "GET", 303, true),
            ("navigate", "GET", 303, false),
            ("deliver", "GET", 303, true),
            ("navigate", "GET", 200, false),
        ],
        "{log:?}"
    );
    assert!(
        !std::fs::read_to_string(sandbox.log_path())
            .unwrap()
            .contains(&hub.alice_token)
    );

    // Bob's browser (bob's gateway) with alice's callback: the server refuses the target, and
    // nothing reaches the kernel.
    let sandbox = Sandbox::new();
    let env = hub.kernel_env(&sandbox, "1", true);
    let done = run(
        Which::Python,
        &["--no-cache", "--timeout", "4", &hub.bob_gateway],
        &env,
    );
    done.failed_with("no token within 4");
    let log = sandbox.standin_log();
    let flow = log
        .iter()
        .find(|r| r["kind"] == "navigate")
        .unwrap_or_else(|| panic!("no flow request: {log:?}"));
    assert_eq!(flow["status"], 400, "{flow}");
    assert!(
        flow["body"].as_str().unwrap_or("").contains("target"),
        "{flow}"
    );
    assert!(!log.iter().any(|r| r["kind"] == "deliver"), "{log:?}");
    assert!(!done.stderr.contains(&hub.bob_token));
    drop(hub.server);
}

#[test]
fn on_jupyterhub_without_the_proxy_or_the_hub_url_the_client_pastes_and_says_why() {
    let hub = Hub::start();
    for (proxy, public_url, why) in [
        ("0", true, "jupyter-server-proxy is not importable here"),
        ("1", false, "the hub's public URL is unknown"),
    ] {
        let sandbox = Sandbox::new();
        let env = hub.kernel_env(&sandbox, proxy, public_url);
        let done = run(
            Which::Python,
            &["--no-browser", "--no-cache", &hub.alice_gateway],
            &env,
        );
        done.failed_with("input ended before");
        let said = done
            .stderr
            .lines()
            .find(|l| l.starts_with(&format!("token2go: on JupyterHub, but {why}")))
            .unwrap_or_else(|| panic!("no reason: {}", done.describe()));
        assert!(said.ends_with(": using paste mode"), "{said}");
        assert!(
            done.url()
                .contains("target=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob&"),
            "{}",
            done.describe()
        );
    }
}

/// `pip install ./scripts` works: the pyproject.toml beside the client installs the module and
/// a `token2go-client` command. Built from a copy of the two files, so that setuptools' build
/// directories do not land in the source tree; no network (no build isolation, no dependencies:
/// cryptography is installed already).
#[test]
fn pip_install_from_the_repository() {
    let dir = TempDir::new("pip");
    let source = dir.join("scripts");
    std::fs::create_dir(&source).unwrap();
    for name in ["pyproject.toml", "token2go_client.py"] {
        std::fs::copy(format!("{SCRIPTS}/{name}"), source.join(name)).unwrap();
    }
    let target = dir.join("site");
    let home = dir.join("home");
    std::fs::create_dir(&home).unwrap();
    let python = |args: &[&str]| {
        Command::new(python_exe())
            .args(args)
            .current_dir(dir.join(""))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("PIP_NO_CACHE_DIR", "1")
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONPATH", &target)
            .output()
            .unwrap()
    };
    let text = |out: &std::process::Output| {
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let install = python(&[
        "-m",
        "pip",
        "install",
        "--no-build-isolation",
        "--no-deps",
        "--no-index",
        "--target",
        target.to_str().unwrap(),
        "./scripts",
    ]);
    assert!(install.status.success(), "{}", text(&install));
    let imported = python(&[
        "-c",
        "import token2go_client as t; print(t.__file__); print(sorted(t.__all__))",
    ]);
    assert!(
        imported.status.success()
            && String::from_utf8_lossy(&imported.stdout)
                .starts_with(&format!("{}/token2go_client.py", target.display())),
        "{}",
        text(&imported)
    );
    let command = target.join("bin").join("token2go-client");
    for (args, needle) in [
        (&["--help"][..], "--max-age"),
        (&["--version"], "token2go-client 0.1.0"),
    ] {
        let out = Command::new(&command)
            .args(args)
            .env_clear()
            .env("PYTHONPATH", &target)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", command.display()));
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains(needle),
            "{args:?}: {}",
            text(&out)
        );
    }
}

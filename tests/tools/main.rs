//! The integration tests that run an outside tool, built only with `--features tool-tests`
//! (scripts/test.sh installs the tools and turns it on; a missing tool fails a test, never skips
//! it): interop with Python `cryptography` (OpenSSL), `promtool`, headless Chromium over
//! WebDriver, and both clients (`token2go` and `scripts/token2go_client.py`, with the Python
//! stand-in browser) end to end, also behind nginx with real Chromium, and the deployment
//! artefacts (release binaries, Dockerfile, systemd units, Kubernetes manifest, nginx recipe),
//! each against the real tool, and the gateway recipes and kubectl with a real identity provider
//! (`realparts*.rs`). A module named like one in tests/it/ holds that module's tests that need a
//! tool.

// One harness for both targets; each uses a part of it.
#[allow(dead_code)]
#[path = "../common/harness.rs"]
mod harness;
mod nginx;
mod realparts;
mod webdriver;

mod audit_trail;
mod browser;
mod cli;
mod client_wild;
mod clients;
mod container;
mod crypto_interop;
mod deploy;
mod flow;
mod gateway;
mod lifecycle;
mod openapi;
mod page_browser;
mod promtool;
mod python_client;
mod real_clients;
mod realparts_apache;
mod realparts_fetch_metadata;
mod realparts_kube;
mod realparts_nginx;
mod security;
mod socket_reload;

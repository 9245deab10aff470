//! The integration tests, as one binary (one build, one harness): the real `token2go-server`
//! binary over raw HTTP, the HTTP edge in-process, interop with Python `cryptography`
//! (OpenSSL), `promtool`, headless Chromium over WebDriver, and both clients (`token2go` and
//! `scripts/token2go_client.py`) end to end, also behind nginx with real Chromium, and the
//! deployment artefacts (release binaries, Dockerfile, systemd units, Kubernetes manifest,
//! nginx recipe), each against the real tool, and the gateway recipes and kubectl with a real
//! identity provider (`realparts*.rs`).

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
mod endpoints;
mod flow;
mod gateway;
mod http_edge;
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
mod script_functions;
mod security;
mod socket_reload;

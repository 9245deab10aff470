//! The integration tests that need no tool outside Rust, so plain `cargo test` runs them
//! anywhere: the real `token2go-server` binary over raw HTTP, the HTTP edge in-process, the
//! `token2go` client's command line, and checks of the repository's own files. The tests that run
//! an outside tool (Python, Chromium, nginx, promtool, podman, ...) are the `tools` target,
//! tests/tools/, which scripts/test.sh runs with `--features tool-tests`.

// One harness for both targets; each uses a part of it.
#[allow(dead_code)]
#[path = "../common/harness.rs"]
mod harness;

mod audit_trail;
mod cli;
mod endpoints;
mod flow;
mod fuzz_corpus;
mod http_edge;
mod lifecycle;
mod real_clients;
mod script_functions;
mod security;

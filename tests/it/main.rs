//! The integration tests, as one binary (one build, one harness): the real `token2go-server`
//! binary over raw HTTP, the HTTP edge in-process, interop with Python `cryptography`
//! (OpenSSL), `promtool`, and headless Chromium over WebDriver.

mod harness;
mod webdriver;

mod browser;
mod cli;
mod crypto_interop;
mod endpoints;
mod flow;
mod http_edge;
mod lifecycle;
mod openapi;
mod page_browser;
mod promtool;

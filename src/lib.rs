//! token2go: hands an authenticated user's OAuth access token to a web page, a JSON
//! endpoint and the encrypted token redirect flow.
//!
//! The folders are the layers, and imports only point down: the shared base (`log`, `time`,
//! `json`, `text`, `sys`) ← [`http`] (the HTTP/1.1 edge) and [`flow`] (the protocol both
//! programs speak) ← [`server`] (the `token2go-server` program) and [`client`] (the `token2go`
//! program). The binaries in `src/main.rs` and `src/bin/token2go.rs` only wire these.

/// The compressed copy build.rs made of an embedded file (`name.gz`), from OUT_DIR; defined
/// before the modules so that `assets` and `page` both see it.
macro_rules! built {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/", $name))
    };
}

// Each module's `//!` doc describes it: an outer doc here would be joined to it, and would make
// rustdoc resolve its links from this file instead of the module.
pub mod client;
pub mod flow;
pub mod http;
mod json;
pub mod log;
pub mod server;
#[allow(unsafe_code)] // other OS calls std lacks, each with a SAFETY comment
pub mod sys;
mod text;
mod time;

#[cfg(test)]
mod test_keys;

/// Thin wrappers of the few private parsers the fuzz targets' invariants (`tests/fuzz/src/`)
/// check beside the documented API; only with the `fuzzing` feature (the fuzz crate and
/// `cargo test`'s corpus replay turn it on), so a normal build has none of it.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

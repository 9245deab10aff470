//! What the fuzz targets' invariants (`tests/fuzz/src/`) need and the documented API does not
//! offer: the edge's head reader, the query decoder, the redirect-target parser, and the date
//! format of `expiresAt`. Each item is a thin wrapper of a crate-private function, so that the
//! private parsers stay out of the library's chosen surface.
//!
//! Compiled only with the `fuzzing` feature, which the fuzz crate turns on, and which `cargo test`
//! turns on through the package's dev-dependency on itself (the corpus replay in
//! `tests/it/fuzz_corpus.rs`); a normal or release build has no trace of it. It is not an API.

use crate::flow::redirect_target::AllowedPrefix;
use crate::flow::{query, redirect_target};
use crate::http::{Limits, Request, Status};

/// One request read as the edge's connection reads it: the bytes offered `chunk` more at a
/// time to one head scan, then the head parsed and judged. `Ok(None)`: more bytes needed;
/// `Err`: the refusal's status and line; `Ok(Some)`: the request the service would see and the
/// bytes it took.
pub fn read_request(
    bytes: &[u8],
    limits: &Limits,
    chunk: usize,
) -> Result<Option<(Request, usize)>, (Status, String)> {
    crate::http::read_request(bytes, limits, chunk)
}

/// A raw query split into decoded pairs; a bad escape or invalid UTF-8 is refused with the
/// server's one-line reason.
pub fn parse_query_strict(raw: &str) -> Result<Vec<(String, String)>, String> {
    query::parse_strict(raw).map_err(|error| error.to_string())
}

/// A raw query split into decoded pairs, malformed parts kept as they came (as `/echo` shows
/// them).
pub fn parse_query_lossy(raw: &str) -> Vec<(String, String)> {
    query::parse_lossy(raw)
}

/// `%XX` escapes and `+` decoded; `None` on a malformed escape.
pub fn percent_decode(text: &str) -> Option<Vec<u8>> {
    query::percent_decode(text)
}

/// Entries of `T2G_REDIRECT_ALLOWED_TARGETS`, for [`check_target`]; a refusal is the server's
/// one-line reason.
pub struct AllowedPrefixes(Vec<AllowedPrefix>);

impl AllowedPrefixes {
    /// No entry: the loopback rule alone.
    pub fn none() -> AllowedPrefixes {
        AllowedPrefixes(Vec::new())
    }

    /// A comma-separated list, as the variable holds it.
    pub fn parse_list(list: &str) -> Result<AllowedPrefixes, String> {
        AllowedPrefix::parse_list(list).map(AllowedPrefixes)
    }

    /// One entry.
    pub fn parse(entry: &str) -> Result<AllowedPrefixes, String> {
        AllowedPrefix::parse(entry).map(|prefix| AllowedPrefixes(vec![prefix]))
    }
}

/// A redirect target the flow accepted.
pub struct Target(redirect_target::Target);

impl Target {
    /// The target as given, unchanged.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// `scheme://host[:port]` as the target gave them.
    pub fn origin(&self) -> String {
        self.0.origin()
    }

    /// The path, `/` when empty.
    pub fn path(&self) -> &str {
        self.0.path()
    }

    /// The target with `params` appended to its query, as the flow's redirect carries them.
    pub fn with_params(&self, params: &[(&str, &str)]) -> String {
        redirect_target::with_params(&self.0, params)
    }
}

/// The flow's check of a `target`: the loopback rule and `allowed`, `{user}` filled with
/// `user`; a refusal is the server's one-line reason.
pub fn check_target(
    target: &str,
    allowed: &AllowedPrefixes,
    user: Option<&str>,
) -> Result<Target, String> {
    redirect_target::check(target, &allowed.0, user)
        .map(|allowed| Target(allowed.target))
        .map_err(|error| error.to_string())
}

/// Unix seconds as the RFC 3339 UTC date-time the `/token` document's `expiresAt` carries.
pub fn rfc3339_unix(secs: i64) -> String {
    crate::time::rfc3339_unix(secs)
}

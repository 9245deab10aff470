//! The invariants of token2go's fuzz targets, one module per target, each with `run`, which
//! takes the fuzzer's raw bytes and asserts what must hold for every input (round trips,
//! agreement between two ways of doing the same thing, what an answer may contain); a panic is
//! a finding. The fuzzer's bytes are split by a leading mode byte where a target has more than
//! one way in, so that random bytes also reach the layer under an armour or an encoding.
//!
//! They call the library's documented API (`token2go::http`, `token2go::flow`,
//! `token2go::server`), and `token2go::fuzzing` only for the few private parsers it wraps
//! (the `fuzzing` feature). Two crates build this code: the fuzz crate (`fuzz_targets/`, one
//! libFuzzer binary per module) and the tool-free integration tests, which include it
//! (`tests/it/fuzz_corpus.rs`) to replay the committed corpus in plain `cargo test`. So paths
//! between the modules go through `super::`, never `crate::`.

pub mod jwt;
pub mod paste_block;
pub mod public_key;
pub mod query;
pub mod redirect_target;
pub mod request_head;
pub mod router;

/// Allow-list of the redirect-target and router targets, beside the loopback default.
const PREFIXES: &str = "https://hub.example.com/user/{user}/,https://hub.example.com/shared/,\
    http://intranet.example.com:8080/cb,https://a.example";

/// The user asking, for the `{user}` prefix.
const FUZZ_USER: &str = "alice@example.com";

/// The bytes as text, invalid UTF-8 replaced.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The leading mode byte and the rest (mode 0 for an empty input).
fn mode(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&mode, rest)) => (mode, rest),
        None => (0, data),
    }
}

/// What an error message must be: one non-empty line without control characters.
fn one_line(message: &str) -> bool {
    !message.is_empty() && !message.chars().any(char::is_control)
}

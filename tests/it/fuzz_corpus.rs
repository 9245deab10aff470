//! The fuzz targets' invariants in plain `cargo test`, without the fuzzer: every committed corpus
//! file of every target (the seeds and the inputs of fixed findings), then random inputs.
//! The invariants are the fuzz crate's own code (tests/fuzz/src/), included here; the
//! `token2go::fuzzing` wrappers they call exist because the package's dev-dependency on itself
//! turns on the `fuzzing` feature for test builds (a release build never has it).

use std::path::Path;

use proptest::prelude::*;

// The fuzz crate's library, compiled into this target: its `pub` items are its API there.
#[allow(unreachable_pub)]
#[path = "../fuzz/src/lib.rs"]
mod invariants;

use invariants::{jwt, paste_block, public_key, query, redirect_target, request_head, router};

/// Every file of a target's committed corpus goes through the target's invariants.
fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
        let path = entry.expect("a directory entry").path();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {path:?}");
        count += 1;
    }
    assert!(count >= 3, "{target}: only {count} seeds");
}

#[test]
fn corpus_replays_clean() {
    replay("request_head", request_head::run);
    replay("query", query::run);
    replay("redirect_target", redirect_target::run);
    replay("public_key", public_key::run);
    replay("jwt", jwt::run);
    replay("paste_block", paste_block::run);
    replay("router", router::run);
}

/// Every folder of the corpus is a target replayed above, so a new target's seeds are not
/// silently skipped.
#[test]
fn corpus_has_no_unreplayed_target() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus");
    let mut targets: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|entry| entry.expect("a directory entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    targets.sort();
    let replayed = [
        "jwt",
        "paste_block",
        "public_key",
        "query",
        "redirect_target",
        "request_head",
        "router",
    ];
    assert_eq!(targets, replayed);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The fuzz targets' invariants on random inputs in every `cargo test`; the fuzzer
    /// searches much further (scripts/fuzz.sh).
    #[test]
    fn every_target_holds_on_random_bytes(
        mode in 0..3u8,
        data in prop::collection::vec(any::<u8>(), 0..256),
        text in "[ -~\r\n]{0,120}",
    ) {
        for input in [&data[..], text.as_bytes()] {
            let mut with_mode = vec![mode];
            with_mode.extend_from_slice(input);
            request_head::run(input);
            query::run(input);
            redirect_target::run(input);
            public_key::run(&with_mode);
            jwt::run(&with_mode);
            paste_block::run(&with_mode);
            router::run(input);
        }
    }
}

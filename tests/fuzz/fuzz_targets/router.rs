#![no_main]
//! The whole router on one request's bytes: the head as the edge reads it, then App::route.
//! The invariants are in `src/router.rs` (`token2go_fuzz::router::run`).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| token2go_fuzz::router::run(data));

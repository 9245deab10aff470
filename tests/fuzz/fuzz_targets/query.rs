#![no_main]
//! Query decoding, strict and lossy, and the percent-decoding round trip.
//! The invariants are in `src/query.rs` (`token2go_fuzz::query::run`).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| token2go_fuzz::query::run(data));

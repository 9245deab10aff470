#![no_main]
//! Query decoding, strict and lossy, and the percent-decoding round trip.
//! The invariants are in `token2go::fuzzing::query`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| token2go::fuzzing::query(data));

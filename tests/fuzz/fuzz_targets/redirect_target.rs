#![no_main]
//! The flow's redirect target parser, without and with an allow-list of prefixes.
//! The invariants are in `token2go::fuzzing::redirect_target`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| token2go::fuzzing::redirect_target(data));

#![no_main]
//! Paste-block parsing and the redirect parameters (the client's side of the flow).
//! The invariants are in `token2go::fuzzing::paste_block`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| token2go::fuzzing::paste_block(data));

#![no_main]
//! JWT `exp` decoding, the `/token` document and token extraction from a header.
//! The invariants are in `token2go::fuzzing::jwt`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| token2go::fuzzing::jwt(data));

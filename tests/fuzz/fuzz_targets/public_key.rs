#![no_main]
//! PEM and DER public-key parsing of the flow's `publicKey`.
//! The invariants are in `token2go::fuzzing::public_key`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| token2go::fuzzing::public_key(data));

#![no_main]
//! PEM and DER public-key parsing of the flow's `publicKey`.
//! The invariants are in `src/public_key.rs` (`token2go_fuzz::public_key::run`).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| token2go_fuzz::public_key::run(data));

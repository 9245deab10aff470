#![no_main]
//! JWT `exp` decoding, the `/token` document and token extraction from a header.
//! The invariants are in `src/jwt.rs` (`token2go_fuzz::jwt::run`).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| token2go_fuzz::jwt::run(data));

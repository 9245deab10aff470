#![no_main]
//! The flow's redirect target parser, without and with an allow-list of prefixes.
//! The invariants are in `src/redirect_target.rs` (`token2go_fuzz::redirect_target::run`).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| token2go_fuzz::redirect_target::run(data));

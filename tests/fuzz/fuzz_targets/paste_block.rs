#![no_main]
//! Paste-block parsing and the redirect parameters (the client's side of the flow).
//! The invariants are in `src/paste_block.rs` (`token2go_fuzz::paste_block::run`).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| token2go_fuzz::paste_block::run(data));

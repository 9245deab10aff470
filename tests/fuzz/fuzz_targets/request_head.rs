#![no_main]
//! Request heads: HeadScan (all at once and byte by byte), parse_head and check_request,
//! with the production limits and with tiny ones.
//! The invariants are in `src/request_head.rs` (`token2go_fuzz::request_head::run`).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| token2go_fuzz::request_head::run(data));

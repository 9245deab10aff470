#![no_main]
//! Request heads: HeadScan (all at once and byte by byte), parse_head and check_request,
//! with the production limits and with tiny ones.
//! The invariants are in `token2go::fuzzing::request_head`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| token2go::fuzzing::request_head(data));

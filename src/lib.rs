#![deny(unsafe_code)]
//! token2go: hands an authenticated user's OAuth access token to a web page, a JSON
//! endpoint and the encrypted token redirect flow.

pub mod http;
pub mod log;
pub mod pool;

#![deny(unsafe_code)]
//! token2go: hands an authenticated user's OAuth access token to a web page, a JSON
//! endpoint and the encrypted token redirect flow.

pub mod assets;
pub mod config;
pub mod crypto;
pub mod echo;
pub mod flow;
pub mod http;
pub mod log;
pub mod metrics;
pub mod page;
pub mod pool;
pub mod pubkey;
pub mod query;
pub mod request_head;
pub mod response_write;
pub mod routes;
pub mod server;
pub mod target;
pub mod token;

#[cfg(test)]
mod test_keys;

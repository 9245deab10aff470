#![deny(unsafe_code)]
//! token2go: hands an authenticated user's OAuth access token to a web page, a JSON
//! endpoint and the encrypted token redirect flow.
//!
//! The modules are private; this is the surface the two binaries (`token2go-server`, and the
//! client `token2go`) and the tests use.

/// The compressed copy build.rs made of an embedded file (`name.gz`), from OUT_DIR; defined
/// before the modules so that `assets` and `page` both see it.
macro_rules! built {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/", $name))
    };
}

mod assets;
mod audit;
mod client;
mod config;
mod confirm;
mod crypto;
mod echo;
mod flow;
mod healthcheck;
mod http;
mod inflate;
mod json;
mod log;
mod metrics;
mod page;
mod pubkey;
mod query;
#[allow(unsafe_code)] // epoll and poll for the HTTP edge, each call with a SAFETY comment
mod readiness;
mod redirect_target;
mod routes;
#[allow(unsafe_code)] // other OS calls std lacks, each with a SAFETY comment
mod sys;
mod time;
mod token;

#[cfg(test)]
mod test_keys;

/// Entry points of the fuzz targets in `tests/fuzz/`, which need private parsers; only with the
/// `fuzzing` feature (which only the fuzz crate turns on) and in unit tests (corpus replay).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use client::{
    completion_script as client_completions, note as client_note, parse_args as parse_client_args,
    quiet_panics, run as run_client, usage as client_usage, ClientError, Command as ClientCommand,
    Env as ClientEnv, Options as ClientOptions, UsageError as ClientUsageError,
};
pub use config::{usage as server_usage, Config, ConfigError, STOP_GRACE};
pub use crypto::{
    open, parse_paste_block, paste_block, random_bytes, redirect_params, seal, sealed_from_params,
    CryptoError, Sealed,
};
pub use healthcheck::{probe as probe_health, probe_addr, TIMEOUT as PROBE_TIMEOUT};
pub use http::{Exchange, Limits, Method, Request, Response, Server, Service, Status, Stopper};
pub use log::{
    error as log_error, flush as log_flush, info as log_info, set_format as set_log_format,
    warn as log_warn,
};
pub use pubkey::{
    parse_public_key, verification_code, KeyError, KeyType, PublicKey, ALLOWED_KEY_TYPES,
};
pub use routes::App;
pub use sys::{
    block_stop_signals, inherited_listener, limit_malloc_arenas, raise_listen_backlog,
    raise_nofile_limit, Inherited,
};
pub use token::fingerprint;

//! The server program: configuration, routes and pages, the embedded files, the token taken
//! from the gateway's headers, the audit trail, metrics and the health check. It serves through
//! [`crate::http`] and decides flow requests with [`crate::flow`].

#[allow(unsafe_code)] // fd 3 and the LISTEN_* variables, each block with a SAFETY comment
pub mod activation;
pub(crate) mod assets;
pub(crate) mod audit;
pub mod config;
pub(crate) mod echo;
pub mod healthcheck;
mod inflate;
pub mod lifecycle;
pub(crate) mod metrics;
pub(crate) mod page;
pub mod routes;
pub mod token;

//! The token redirect flow: the protocol both programs speak. The server decides a flow
//! request here (`run`); the client builds its request and opens the answer with the same
//! grammar, keys and crypto. Nothing here touches sockets, the environment or the server.
//!
//! - `decide`: one flow request to an `Outcome` (input checks, confirmation, sealing);
//! - `params`: which parameters the flow reads, each at most once;
//! - `rejection`: why the flow refused a request (the server counts it);
//! - `token`: the `/token` document, fingerprint and JWT claims both programs share;
//! - `redirect_target`: the `target` URL grammar and its allow-list;
//! - `pubkey`: the client's RSA public key and its verification code;
//! - `crypto`: the key wrap and payload encryption, the paste block;
//! - `confirm`: the warning page's `confirm` value;
//! - `query`: query-string decoding and the percent-encoder.

pub(crate) mod confirm;
pub mod crypto;
mod decide;
mod params;
pub mod pubkey;
pub(crate) mod query;
pub(crate) mod redirect_target;
mod rejection;
pub mod token;

pub(crate) use decide::{Confirmation, FlowError, FlowRequest, FlowToken, Outcome, Reply, run};
pub(crate) use rejection::{Refusal, Rejection};

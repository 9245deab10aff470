//! Why the flow refused a request: the reason as a fixed set (the server counts what the flow
//! returns) and the refusal with its line for the client. Below `decide` and `params`, which
//! both make refusals.

use crate::flow::crypto::CryptoError;

/// Why the redirect flow refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    Params,
    Target,
    Key,
    NoToken,
    /// The token's known expiry is less than 30 s away or past.
    TokenExpired,
}

impl Rejection {
    /// Every reason, in the order metrics lists them.
    pub(crate) const ALL: [Rejection; 5] = [
        Rejection::Params,
        Rejection::Target,
        Rejection::Key,
        Rejection::NoToken,
        Rejection::TokenExpired,
    ];

    /// The metric label of the reason.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Rejection::Params => "params",
            Rejection::Target => "target",
            Rejection::Key => "key",
            Rejection::NoToken => "no_token",
            Rejection::TokenExpired => "token_expired",
        }
    }
}

/// Why the flow said no. The reason's line is for the client; it never holds a secret.
pub(crate) enum Refusal {
    /// A client mistake, counted under its metrics reason; the line names the parameter.
    Invalid(Rejection, String),
    /// Our side failed to encrypt; the client gets a vague line, the log the precise error.
    Encryption(CryptoError),
}

/// A client mistake under `reason`, with the line that names the parameter.
pub(super) fn invalid(reason: Rejection, line: impl Into<String>) -> Refusal {
    Refusal::Invalid(reason, line.into())
}

//! Why the flow refused a request, as a fixed set: the server counts what the flow returns.

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

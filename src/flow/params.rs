//! The flow's parameters: which it reads, each at most once, the required ones present.

use crate::flow::Rejection;
use crate::flow::{confirm, query};

use super::rejection::{Refusal, invalid};

/// The parameters the flow reads: the four required ones, then the optional `responseMode` and
/// `confirm`.
const PARAMETERS: [&str; 6] = [
    "target",
    "state",
    "publicKeyType",
    "publicKey",
    "responseMode",
    "confirm",
];
pub(super) const REQUIRED: usize = 4;
/// The parameters the confirmation value covers: all but `confirm` itself.
const CONFIRMED: usize = 5;
/// The flow's parameters: each at most once, the four required ones present.
pub(super) struct Parameters<'q> {
    /// As given, in the order of [`PARAMETERS`].
    pub(super) given: [Option<&'q str>; PARAMETERS.len()],
    pub(super) target: &'q str,
    pub(super) state: &'q str,
    pub(super) key_type: &'q str,
    pub(super) public_key: &'q str,
}

impl<'q> Parameters<'q> {
    pub(super) fn from_query(query: &'q [(String, String)]) -> Result<Parameters<'q>, Refusal> {
        let mut given: [Option<&str>; PARAMETERS.len()] = [None; PARAMETERS.len()];
        for (name, value) in query {
            if let Some(i) = PARAMETERS.iter().position(|p| p == name) {
                if given[i].is_some() {
                    return Err(invalid(
                        Rejection::Params,
                        format!("{name}: given more than once"),
                    ));
                }
                given[i] = Some(value);
            }
        }
        let [
            Some(target),
            Some(state),
            Some(key_type),
            Some(public_key),
            ..,
        ] = given
        else {
            let missing: Vec<&str> = PARAMETERS[..REQUIRED]
                .iter()
                .zip(given)
                .filter(|(_, v)| v.is_none())
                .map(|(name, _)| *name)
                .collect();
            return Err(invalid(
                Rejection::Params,
                format!("Missing query parameters: {}", missing.join(", ")),
            ));
        };
        Ok(Parameters {
            given,
            target,
            state,
            key_type,
            public_key,
        })
    }

    /// What the confirmation covers: the parameters as given, all but `confirm`.
    fn covered(&self) -> [&'q str; CONFIRMED] {
        let [target, state, key_type, public_key, response_mode, _] = self.given;
        [target, state, key_type, public_key, response_mode].map(Option::unwrap_or_default)
    }

    /// The warning page's link (this request with the confirmation keyed with `secret`) and
    /// whether a wrong `confirm` came; `None` when the request carries the right one.
    pub(super) fn unconfirmed(&self, secret: &str) -> Option<(String, bool)> {
        let covered = self.covered();
        let confirmed = self.given[CONFIRMED];
        if confirmed.is_some_and(|c| confirm::matches(c, secret, &covered)) {
            return None;
        }
        let mut query = String::new();
        for (name, value) in PARAMETERS[..CONFIRMED].iter().zip(self.given) {
            if let Some(value) = value {
                query.push_str(name);
                query.push('=');
                query::percent_encode_into(value, b"", &mut query);
                query.push('&');
            }
        }
        query.push_str("confirm=");
        query.push_str(&confirm::value(secret, &covered));
        Some((query, confirmed.is_some()))
    }
}

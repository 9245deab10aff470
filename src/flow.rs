//! The token redirect flow: `GET /flow/redirect/token`.
//!
//! Checks every parameter before any crypto, encrypts the `/token` document for the client's
//! public key, and either redirects (303) to an allowed target or, for the out-of-band target,
//! shows the paste page.

use std::time::SystemTime;

use crate::crypto;
use crate::http::{Request, Response};
use crate::log;
use crate::metrics::Rejection;
use crate::page;
use crate::pubkey::{self, KeyType, ALLOWED_KEY_TYPES};
use crate::query;
use crate::routes::{html, App};
use crate::target::{self, AllowedPrefix, OOB};
use crate::token::TokenInfo;

const NO_STORE: &str = "no-store";
const REQUIRED: [&str; 4] = ["target", "state", "publicKeyType", "publicKey"];

/// The flow's settings from configuration.
pub struct FlowSettings {
    pub allowed_targets: Vec<AllowedPrefix>,
}

/// A refusal: its metrics reason (none for a server-side failure), HTTP status and the one
/// line for the client.
struct Refusal {
    reason: Option<Rejection>,
    status: u16,
    message: String,
}

fn refuse(reason: Rejection, message: impl Into<String>) -> Refusal {
    Refusal {
        reason: Some(reason),
        status: 400,
        message: message.into(),
    }
}

pub fn handle(app: &App, request: &Request) -> Response {
    match run(app, request) {
        Ok(response) => response,
        Err(refusal) => {
            if let Some(reason) = refusal.reason {
                app.metrics.flow_rejected(reason);
            }
            Response::text(refusal.status, refusal.message).header("Cache-Control", NO_STORE)
        }
    }
}

fn run(app: &App, request: &Request) -> Result<Response, Refusal> {
    let pairs = query::parse_strict(&request.query)
        .map_err(|e| refuse(Rejection::Params, e.to_string()))?;
    let mut values: [Option<&str>; 4] = [None; 4];
    for (name, value) in &pairs {
        if let Some(i) = REQUIRED.iter().position(|r| r == name) {
            if values[i].is_some() {
                return Err(refuse(
                    Rejection::Params,
                    format!("{name}: given more than once"),
                ));
            }
            values[i] = Some(value);
        }
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .zip(values)
        .filter(|(_, v)| v.is_none())
        .map(|(name, _)| *name)
        .collect();
    let [Some(target), Some(state), Some(key_type), Some(public_key)] = values else {
        return Err(refuse(
            Rejection::Params,
            format!("Missing query parameters: {}", missing.join(", ")),
        ));
    };

    let key_type = KeyType::parse(key_type).ok_or_else(|| {
        refuse(
            Rejection::Key,
            format!(
                "publicKeyType: must be one of {}",
                ALLOWED_KEY_TYPES.join(", ")
            ),
        )
    })?;
    let paste_mode = target == OOB;
    let checked_target = if paste_mode {
        None
    } else {
        let allowed = &app.flow.allowed_targets;
        Some(target::check(target, allowed).map_err(|e| refuse(Rejection::Target, e.to_string()))?)
    };
    let public_key = pubkey::parse_public_key(key_type, public_key)
        .map_err(|e| refuse(Rejection::Key, e.to_string()))?;
    let secret = app.tokens.extract(request).ok_or_else(|| Refusal {
        reason: Some(Rejection::NoToken),
        status: 444,
        message: app.tokens.not_found_message(),
    })?;

    let document = TokenInfo::new(secret, SystemTime::now()).to_json();
    let sealed = crypto::seal(&public_key, &document).map_err(|e| {
        log::error(&format!("flow: encryption failed: {e}"));
        Refusal {
            reason: None,
            status: e.status(),
            message: e.client_message().to_string(),
        }
    })?;

    match checked_target {
        None => {
            app.metrics.token_served("flow_paste");
            let code = pubkey::verification_code(&public_key);
            let page = page::render_paste(&app.ui, &crypto::paste_block(&sealed), &code);
            Ok(html(page.into_bytes()))
        }
        Some(checked) => {
            app.metrics.token_served("flow_redirect");
            let [key, nonce, payload] = crypto::redirect_params(&sealed);
            let params = [
                (key.0, key.1.as_str()),
                (nonce.0, nonce.1.as_str()),
                (payload.0, payload.1.as_str()),
                ("state", state),
            ];
            let location = target::with_params(&checked, &params);
            Ok(Response::text(303, "See Other")
                .header("Location", location)
                .header("Cache-Control", NO_STORE))
        }
    }
}

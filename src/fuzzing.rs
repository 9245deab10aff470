//! Entry points of the fuzz targets in `tests/fuzz/`: one function per target, each taking the
//! fuzzer's raw bytes.
//!
//! Why this module exists: the parsers worth fuzzing (request heads, queries, redirect targets,
//! public keys, JWT claims, paste blocks) are private, and the crate's surface in `lib.rs` is
//! chosen on purpose. Rather than opening them up, this one module reaches them from inside the
//! crate. It is compiled only with the `fuzzing` feature, which only the fuzz crate turns on, and
//! in unit tests, which replay the committed seed corpus through it; a normal build has no trace
//! of it. It is not an API.
//!
//! Each function runs the private code on its input and asserts what must hold for every input
//! (round trips, agreement between two ways of doing the same thing, what an answer may contain);
//! a panic is a finding. The fuzzer's bytes are split by a leading mode byte where a target has
//! more than one way in, so that random bytes also reach the layer under an armour or an encoding.

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::flow::crypto::{self, Sealed};
use crate::flow::pubkey::{self, ALLOWED_KEY_TYPES, KeyType};
use crate::flow::query;
use crate::flow::redirect_target::{self, AllowedPrefix};
use crate::http::{self, Limits, Method, Request, Response, Status, is_tchar};
use crate::server::config::{Config, Secret};
use crate::server::routes::App;
use crate::server::token::{self, TokenInfo, TokenSource};

/// The fallback token of the router target's App: a JWT, so `/token` adds `expiresAt`. Longer
/// than anything the server echoes in an error line (40 characters), so finding it in an answer
/// means the answer carries the token.
const FALLBACK_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmdXp6LWNhbmFyeSIsImV4cCI6NDEwMjQ0NDgwMH0.ZnV6ei1jYW5hcnktc2lnbmF0dXJl";

/// Allow-list of the redirect-target and router targets, beside the loopback default.
const PREFIXES: &str = "https://hub.example.com/user/{user}/,https://hub.example.com/shared/,\
    http://intranet.example.com:8080/cb,https://a.example";

/// The user asking, for the `{user}` prefix.
const FUZZ_USER: &str = "alice@example.com";

/// Small limits, so that short inputs reach the 414/431 paths too.
fn tiny_limits() -> Limits {
    Limits {
        max_request_line: 48,
        max_head_bytes: 160,
        max_headers: 4,
        ..Limits::default()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The leading mode byte and the rest (mode 0 for an empty input).
fn mode(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&mode, rest)) => (mode, rest),
        None => (0, data),
    }
}

fn one_line(message: &str) -> bool {
    !message.is_empty() && !message.chars().any(char::is_control)
}

/// Request heads: `HeadScan`, `parse_head` and `check_request` on the same bytes, with the
/// production limits and with tiny ones. The head is read twice, all at once and one byte at a
/// time, and both reads must agree; what passes must be what the service may be handed.
pub fn request_head(data: &[u8]) {
    for limits in [Limits::default(), tiny_limits()] {
        let whole = http::read_request(data, &limits, data.len());
        let bytewise = http::read_request(data, &limits, 1);
        assert_eq!(summary(&whole), summary(&bytewise), "whole vs byte by byte");
        match whole {
            Err((status, line)) => {
                let refusals = [400, 413, 414, 431, 505];
                assert!(refusals.contains(&status.code()), "{status:?}");
                assert!(one_line(&line));
            }
            Ok(None) => {}
            Ok(Some((request, end))) => {
                assert!(end <= data.len());
                let head = &data[..end];
                assert!(head.ends_with(b"\n\n") || head.ends_with(b"\n\r\n"));
                // At most 64 bytes of leading empty lines, then the head within its limit.
                assert!(end <= limits.max_head_bytes + 64, "{end}");
                check_passed(&request, &limits);
            }
        }
    }
}

/// What a service may rely on in a request the edge let through.
fn check_passed(request: &Request, limits: &Limits) {
    assert!(request.path.starts_with('/') && !request.path.contains('?'));
    assert!(!request.method.as_str().is_empty());
    assert!(request.method.as_str().bytes().all(is_tchar));
    assert!(request.headers.len() <= limits.max_headers);
    let named = |name: &str| request.header_values(name).count();
    assert!(named("host") <= 1);
    assert_eq!(named("transfer-encoding"), 0);
    assert!(request.body.len() <= limits.max_body);
    for (name, value) in &request.headers {
        assert!(!name.is_empty() && name.bytes().all(is_tchar), "{name:?}");
        assert!(!value.contains(['\r', '\n', '\0']));
        assert!(!value.starts_with([' ', '\t']) && !value.ends_with([' ', '\t']));
    }
}

/// A comparable digest of a read: the refusal, or the request's parts.
fn summary(read: &Result<Option<(Request, usize)>, (Status, String)>) -> String {
    match read {
        Err((status, line)) => format!("refused {} {line}", status.code()),
        Ok(None) => "incomplete".to_string(),
        Ok(Some((r, end))) => format!(
            "{end} {} {:?} {:?} {:?}",
            r.method.as_str(),
            r.path,
            r.query,
            r.headers
        ),
    }
}

/// Query decoding: strict and lossy agree where strict accepts; errors are one printable line;
/// percent-decoding inverts percent-encoding for any bytes.
pub fn query(data: &[u8]) {
    let raw = text(data);
    let lossy = query::parse_lossy(&raw);
    match query::parse_strict(&raw) {
        Ok(strict) => assert_eq!(strict, lossy),
        Err(error) => {
            let line = error.to_string();
            assert!(
                line.bytes().all(|b| b.is_ascii_graphic() || b == b' '),
                "{line:?}"
            );
        }
    }
    assert_eq!(
        query::percent_decode(&percent_encode(data)).as_deref(),
        Some(data)
    );
    if let Some(decoded) = query::percent_decode(&raw) {
        assert!(decoded.len() <= raw.len());
    }
}

/// Percent-encodes every byte but `A-Za-z0-9-._~`, a space as `+`, hex digits in both cases.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ if b % 2 == 0 => out.push_str(&format!("%{b:02X}")),
            _ => out.push_str(&format!("%{b:02x}")),
        }
    }
    out
}

/// Redirect targets with and without an allow-list: an accepted target is the input unchanged,
/// holds none of the refused characters, stays accepted (same origin and path) once the flow's
/// parameters are appended, and those parameters decode back; a valid prefix allows itself.
pub fn redirect_target(data: &[u8]) {
    let raw = text(data);
    let prefixes = AllowedPrefix::parse_list(PREFIXES).expect("fixed prefixes parse");
    let loopback_only = redirect_target::check(&raw, &[], None).map(|a| a.target);
    let listed = redirect_target::check(&raw, &prefixes, Some(FUZZ_USER)).map(|a| a.target);
    assert!(
        loopback_only.is_err() || listed.is_ok(),
        "a prefix list only adds"
    );
    if let Ok(target) = &loopback_only {
        let origin = target.origin();
        assert!(
            ["http://127.0.0.1", "http://[::1]", "http://localhost"]
                .iter()
                .any(|o| origin == *o || origin.starts_with(&format!("{o}:"))),
            "{origin}"
        );
    }
    match listed {
        Ok(target) => {
            assert_eq!(target.as_str(), raw);
            assert!(!raw.contains(['#', '\\']) && !raw.bytes().any(|b| b <= 0x20 || b >= 0x7f));
            // `@` may stand in the path and the query, never in the authority (userinfo).
            let after_scheme = raw.split_once("://").map_or("", |(_, rest)| rest);
            let authority = after_scheme.split(['/', '?']).next().unwrap_or_default();
            assert!(
                !authority.is_empty() && !authority.contains('@'),
                "{authority:?}"
            );
            let params = [
                ("key", "a+b/c=="),
                ("nonce", ""),
                ("payload", "x&y=z#\u{7f}"),
                ("state", raw.as_str()),
            ];
            let location = redirect_target::with_params(&target, &params);
            assert!(location.starts_with(&raw));
            let again = redirect_target::check(&location, &prefixes, Some(FUZZ_USER))
                .expect("still allowed")
                .target;
            assert_eq!(
                (again.origin(), again.path()),
                (target.origin(), target.path())
            );
            let suffix = location[raw.len()..].trim_start_matches(['?', '&']);
            let decoded = query::parse_strict(suffix).expect("appended parameters decode");
            let decoded: Vec<(&str, &str)> = decoded
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            assert_eq!(decoded, params);
        }
        Err(error) => assert!(one_line(&error.to_string())),
    }
    // A prefix allows itself (a `{user}` one is a pattern, not a target).
    if let (Ok(prefix), false) = (AllowedPrefix::parse(&raw), raw.contains("{user}")) {
        assert!(redirect_target::check(&raw, &[prefix], Some(FUZZ_USER)).is_ok());
    }
}

/// Public keys: mode 0 feeds the text as PEM; modes 1 and 2 wrap the bytes as the DER of a
/// `PUBLIC KEY` or `RSA PUBLIC KEY` block, so that they reach the DER parsers. A second byte
/// picks the declared type. An accepted key has the declared size and survives a re-encoding;
/// a refusal is one line.
pub fn public_key(data: &[u8]) {
    let (mode, rest) = mode(data);
    let (kind, rest) = match rest.split_first() {
        Some((&k, rest)) => (
            ALLOWED_KEY_TYPES[usize::from(k) % ALLOWED_KEY_TYPES.len()],
            rest,
        ),
        None => (ALLOWED_KEY_TYPES[0], rest),
    };
    let kind = KeyType::parse(kind).expect("a listed type");
    let pem = match mode % 3 {
        0 => text(rest),
        1 => armour("PUBLIC KEY", rest),
        _ => armour("RSA PUBLIC KEY", rest),
    };
    match pubkey::parse_public_key(kind, &pem) {
        Ok(key) => {
            assert_eq!(key.bits(), kind.bits());
            let code = pubkey::verification_code(&key);
            assert!(code.len() == 9 && code.as_bytes()[4] == b'-', "{code}");
            let again = pubkey::parse_public_key(kind, &armour("PUBLIC KEY", key.spki_der()))
                .expect("a re-encoded key parses");
            assert_eq!(again.spki_der(), key.spki_der());
        }
        Err(error) => assert!(one_line(&error.to_string())),
    }
}

/// A PEM block of `der` under `label`, 64 characters a line.
fn armour(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// JWT `exp` and the `/token` document: mode 0 takes the text as the token; mode 1 makes the
/// bytes the claims of a JWT, so that they reach the JSON decoder. The document is valid JSON
/// with the secret and its fingerprint, and `expiresAt` exactly when `exp` decodes; taking the
/// token from an `Authorization` header finds a trimmed part of it.
pub fn jwt(data: &[u8]) {
    let (mode, rest) = mode(data);
    let secret = match mode % 2 {
        0 => text(rest),
        _ => format!("e30.{}.c2ln", URL_SAFE_NO_PAD.encode(rest)),
    };
    let exp = token::jwt_expiry(&secret);
    if let Some(exp) = exp {
        assert!((0..=253_402_300_799).contains(&exp), "{exp}");
    }
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let document: serde_json::Value =
        serde_json::from_slice(&TokenInfo::new(&secret, now).to_json()).expect("valid JSON");
    assert_eq!(document["secret"].as_str(), Some(secret.as_str()));
    assert_eq!(
        document["fingerprint"].as_str(),
        Some(token::fingerprint(&secret).as_str())
    );
    let expires_at = exp.map(crate::time::rfc3339_unix);
    assert_eq!(document["expiresAt"].as_str(), expires_at.as_deref());

    let source = TokenSource {
        header_names: vec!["Authorization".to_string()],
        fallback: Some(Secret::new("fallback".to_string())),
        user_header_names: Vec::new(),
        expiry_header_names: Vec::new(),
    };
    let request = request_with(vec![("authorization".to_string(), secret.clone())]);
    match source.extract(&request) {
        Some("fallback") => {}
        Some(found) => assert!(!found.is_empty() && secret.contains(found), "{found:?}"),
        None => panic!("the fallback is configured"),
    }
}

fn request_with(headers: Vec<(String, String)>) -> Request {
    Request {
        method: Method::Get,
        path: "/token".to_string(),
        query: String::new(),
        headers,
        peer: ([127, 0, 0, 1], 40000).into(),
        body: Vec::new(),
    }
}

/// Paste blocks and redirect parameters, the client's way in: mode 0 takes the text as a block;
/// mode 1 puts it between the BEGIN and END lines; mode 2 splits it into the three redirect
/// parameters. What parses has the shapes the flow produces and round-trips.
pub fn paste_block(data: &[u8]) {
    let (mode, rest) = mode(data);
    let body = text(rest);
    let parsed = match mode % 3 {
        0 => crypto::parse_paste_block(&body),
        1 => crypto::parse_paste_block(&format!(
            "{}\n{body}\n{}",
            crypto::PASTE_BEGIN,
            crypto::PASTE_END
        )),
        _ => {
            let mut parts = body.splitn(3, '\n');
            let mut next = || parts.next().unwrap_or_default();
            let (key, nonce, payload) = (next(), next(), next());
            crypto::sealed_from_params(key, nonce, payload)
        }
    };
    let sealed = match parsed {
        Ok(sealed) => sealed,
        Err(error) => {
            assert!(one_line(&error.to_string()) && one_line(error.client_message()));
            return;
        }
    };
    assert!(!sealed.key.is_empty() && sealed.payload.len() >= 16);
    let block = crypto::paste_block(&sealed);
    assert!(block.lines().all(|l| l.len() <= 64));
    let again = crypto::parse_paste_block(&block).expect("a block we made parses");
    assert!(same(&again, &sealed));
    let [key, nonce, payload] = crypto::redirect_params(&sealed);
    let again = crypto::sealed_from_params(&key.1, &nonce.1, &payload.1).expect("params parse");
    assert!(same(&again, &sealed));
}

fn same(a: &Sealed, b: &Sealed) -> bool {
    (&a.key, a.nonce, &a.payload) == (&b.key, b.nonce, &b.payload)
}

/// The whole router on one request's bytes: the head read as the edge reads it, then
/// `App::route` on an App with a fallback token and an allow-list. Every answer has a status of
/// the closed set, a body unless the method is HEAD, a route label of the fixed set, headers that
/// cannot split the response, a `Location` only on a redirect; the fallback token appears in no
/// header and in no body but `/token`'s JSON, unless the request itself carried its text.
pub fn router(data: &[u8]) {
    static APP: OnceLock<App> = OnceLock::new();
    let app = APP.get_or_init(|| {
        let config = Config::from_lookup(|name| match name {
            "T2G_FALLBACK_TOKEN" => Some(FALLBACK_TOKEN.to_string()),
            "T2G_REDIRECT_ALLOWED_TARGETS" => Some(PREFIXES.to_string()),
            _ => None,
        })
        .expect("the fixed configuration is valid");
        App::new(config)
    });
    let Ok(Some((request, _))) = http::read_request(data, &Limits::default(), data.len()) else {
        return;
    };
    let response = app.route(&request);
    check_response(&request, &response);
    let echoed = contains_ignoring_case(data, FALLBACK_TOKEN.as_bytes())
        || query::percent_decode(&request.query)
            .is_some_and(|q| contains_ignoring_case(&q, FALLBACK_TOKEN.as_bytes()));
    if !echoed {
        for (name, value) in &response.headers {
            assert!(
                !value.contains(FALLBACK_TOKEN),
                "the token in header {name}"
            );
        }
        if contains_ignoring_case(&response.body, FALLBACK_TOKEN.as_bytes()) {
            assert_eq!(
                (
                    response.route,
                    response.status,
                    response.get_header("Content-Type")
                ),
                ("token", Status::Ok, Some("application/json")),
                "the token in an answer other than /token's JSON"
            );
        }
    }
}

fn check_response(request: &Request, response: &Response) {
    let status = response.status;
    assert_eq!(Status::from_code(status.code()), Some(status));
    if request.method != Method::Head {
        assert!(!response.body.is_empty(), "{status:?} without a body");
    }
    let routes = [
        "index",
        "token",
        "health",
        "echo",
        "metrics",
        "flow",
        "flow_done",
        "asset",
        "not_found",
        "misdirected",
    ];
    assert!(routes.contains(&response.route), "{}", response.route);
    for (name, value) in &response.headers {
        assert!(!name.is_empty() && name.bytes().all(is_tchar), "{name:?}");
        assert!(
            !value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f),
            "control character in {name}"
        );
    }
    let redirect = matches!(
        status,
        Status::MovedPermanently | Status::SeeOther | Status::PermanentRedirect
    );
    assert_eq!(
        response.get_header("Location").is_some(),
        redirect,
        "{status:?}"
    );
    if status == Status::SeeOther {
        let location = response.get_header("Location").unwrap_or_default();
        let target = query::parse_strict(&request.query)
            .ok()
            .and_then(|q| q.into_iter().find(|(n, _)| n == "target"))
            .map(|(_, v)| v)
            .unwrap_or_default();
        assert!(
            !target.is_empty() && location.starts_with(&target),
            "{location}"
        );
    }
}

fn contains_ignoring_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every file of a target's committed corpus (seeds and the inputs of fixed findings) goes
    /// through the target's function in the normal test run.
    fn replay(target: &str, run: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz/corpus")
            .join(target);
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
            let path = entry.expect("a directory entry").path();
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target}: {path:?}");
            count += 1;
        }
        assert!(count >= 3, "{target}: only {count} seeds");
    }

    #[test]
    fn corpus_replays_clean() {
        replay("request_head", request_head);
        replay("query", query);
        replay("redirect_target", redirect_target);
        replay("public_key", public_key);
        replay("jwt", jwt);
        replay("paste_block", paste_block);
        replay("router", router);
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The fuzz targets' invariants on random inputs in every `cargo test`; the fuzzer
        /// searches much further (scripts/fuzz.sh).
        #[test]
        fn every_target_holds_on_random_bytes(
            mode in 0..3u8,
            data in prop::collection::vec(any::<u8>(), 0..256),
            text in "[ -~\r\n]{0,120}",
        ) {
            for input in [&data[..], text.as_bytes()] {
                let mut with_mode = vec![mode];
                with_mode.extend_from_slice(input);
                request_head(input);
                query(input);
                redirect_target(input);
                public_key(&with_mode);
                jwt(&with_mode);
                paste_block(&with_mode);
                router(input);
            }
        }
    }
}

//! The whole router on one request's bytes: the head read as the edge reads it, then
//! `App::route` on an App with a fallback token and an allow-list. Every answer has a status of
//! the closed set, a body unless the method is HEAD, a route label of the fixed set, headers that
//! cannot split the response, a `Location` only on a redirect; the fallback token appears in no
//! header and in no body but `/token`'s JSON, unless the request itself carried its text.

use std::sync::OnceLock;

use token2go::fuzzing::{parse_query_strict, percent_decode, read_request};
use token2go::http::{Limits, Method, Request, Response, Status, is_tchar};
use token2go::server::config::Config;
use token2go::server::routes::App;

use super::PREFIXES;

/// The fallback token of the target's App: a JWT, so `/token` adds `expiresAt`. Longer than
/// anything the server echoes in an error line (40 characters), so finding it in an answer means
/// the answer carries the token.
const FALLBACK_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmdXp6LWNhbmFyeSIsImV4cCI6NDEwMjQ0NDgwMH0.ZnV6ei1jYW5hcnktc2lnbmF0dXJl";

/// The target: `data` is the bytes a client sends.
pub fn run(data: &[u8]) {
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
    let Ok(Some((request, _))) = read_request(data, &Limits::default(), data.len()) else {
        return;
    };
    let response = app.route(&request);
    check_response(&request, &response);
    let echoed = contains_ignoring_case(data, FALLBACK_TOKEN.as_bytes())
        || percent_decode(&request.query)
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
        let target = parse_query_strict(&request.query)
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

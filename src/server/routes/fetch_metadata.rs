//! The Fetch Metadata checks: what a browser's `Sec-Fetch-Site` and `Sec-Fetch-Mode` say about
//! who started a request. Without those headers (older browsers, scripts) neither check refuses
//! anything.

use super::NO_STORE;
use crate::http::{Request, Response, Status};

/// Whether the browser says another site started this request (Fetch Metadata): a
/// `Sec-Fetch-Site` that is present and neither `none` (the user, or a program, opened it) nor
/// `same-origin` (a page of this server). Without the header (older browsers, scripts) `false`.
pub(super) fn started_elsewhere(request: &Request) -> bool {
    request
        .header("Sec-Fetch-Site")
        .is_some_and(|site| !matches!(site.trim(), "none" | "same-origin"))
}

/// `403` for a read of `/token` or `/echo` by another site's page (`Sec-Fetch-Site:
/// cross-site`, any `Sec-Fetch-Mode` but `navigate`): CORS already keeps it from reading the
/// answer, and this keeps it from being served (counted and audited as a hand-out) at all.
pub(super) fn cross_site_read(request: &Request) -> Option<Response> {
    let cross_site = request.header("Sec-Fetch-Site").map(str::trim) == Some("cross-site");
    let navigate = request.header("Sec-Fetch-Mode").map(str::trim) == Some("navigate");
    (cross_site && !navigate).then(|| {
        Response::text(
            Status::Forbidden,
            "Sec-Fetch-Site: cross-site: only navigations are answered",
        )
        .header("Cache-Control", NO_STORE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::routes::tests::{app, get};

    #[test]
    fn another_sites_reads_of_token_and_echo_are_refused() {
        let a = app(&[]);
        for path in ["/token", "/echo"] {
            for mode in [Some("cors"), Some("no-cors"), None] {
                let mut headers = vec![("Sec-Fetch-Site", "cross-site"), ("Token", "canary-3")];
                headers.extend(mode.map(|m| ("Sec-Fetch-Mode", m)));
                let r = a.route(&get(path, &headers));
                assert_eq!(
                    (r.status, r.route),
                    (Status::Forbidden, &path[1..]),
                    "{mode:?}"
                );
                assert!(!String::from_utf8_lossy(&r.body).contains("canary"));
            }
            for headers in [
                &[
                    ("Sec-Fetch-Site", "cross-site"),
                    ("Sec-Fetch-Mode", "navigate"),
                ][..],
                &[
                    ("Sec-Fetch-Site", "same-origin"),
                    ("Sec-Fetch-Mode", "cors"),
                ],
                &[("Sec-Fetch-Site", "same-site"), ("Sec-Fetch-Mode", "cors")],
                &[("Sec-Fetch-Site", "none")],
                &[],
            ] {
                let headers = &[headers, &[("Token", "canary-3")]].concat();
                assert_eq!(
                    a.route(&get(path, headers)).status,
                    Status::Ok,
                    "{headers:?}"
                );
            }
        }
        // Refused before the hand-out: not counted as one.
        let text = a.metrics.render();
        assert!(
            text.contains("token2go_tokens_served_total{route=\"token\"} 5\n"),
            "{text}"
        );
    }
}

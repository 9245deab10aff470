//! Request heads: the edge's head scan, parse and checks on the same bytes, with the production
//! limits and with tiny ones. The head is read twice, all at once and one byte at a time, and
//! both reads must agree; what passes must be what the service may be handed.

use token2go::fuzzing::read_request;
use token2go::http::{Limits, Request, Status, is_tchar};

use super::one_line;

/// Small limits, so that short inputs reach the 414/431 paths too.
fn tiny_limits() -> Limits {
    Limits {
        max_request_line: 48,
        max_head_bytes: 160,
        max_headers: 4,
        ..Limits::default()
    }
}

/// The target: `data` is the bytes a client sends.
pub fn run(data: &[u8]) {
    for limits in [Limits::default(), tiny_limits()] {
        let whole = read_request(data, &limits, data.len());
        let bytewise = read_request(data, &limits, 1);
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

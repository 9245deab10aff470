//! `/echo`: what the server received, to find out which header carries the token.
//!
//! Cookie values are redacted, names kept: a gateway's session cookie is often HttpOnly, and
//! `/echo` would hand it to any script running on the same origin.

use std::borrow::Cow;

use crate::flow::query;
use crate::http::Request;
use crate::json::JsonWriter;

/// The echo document; `?pretty` indents with two spaces.
pub(crate) fn render(request: &Request) -> Vec<u8> {
    let parameters_list = query::parse_lossy(&request.query);
    let pretty = parameters_list.iter().any(|(name, _)| name == "pretty");
    let mut parameters = Vec::new();
    for (name, value) in parameters_list {
        group(&mut parameters, name, Cow::Owned(value));
    }
    let mut headers = Vec::new();
    for (name, value) in &request.headers {
        let value = if name.eq_ignore_ascii_case("cookie") {
            Cow::Owned(redact_cookies(value))
        } else {
            Cow::Borrowed(value.as_str())
        };
        group(&mut headers, canonical_header_name(name), value);
    }
    let mut json = JsonWriter::new(pretty);
    json.open('{');
    json.key(0, "parameters");
    lists(&mut json, &parameters);
    json.key(1, "headers");
    lists(&mut json, &headers);
    json.key(2, "remoteAddr");
    json.string(&request.peer.to_string());
    json.close('}', false);
    let mut body = json.finish().into_bytes();
    body.push(b'\n');
    body
}

/// Names and their values in order, sorted by name.
type Lists<'a> = Vec<(String, Vec<Cow<'a, str>>)>;

/// Adds `value` under `name`, keeping `lists` sorted by name. A sorted vector rather than a
/// `BTreeMap`: a few entries, and kilobytes less in the static binary.
fn group<'a>(lists: &mut Lists<'a>, name: String, value: Cow<'a, str>) {
    match lists.binary_search_by(|(n, _)| n.as_str().cmp(&name)) {
        Ok(at) => lists[at].1.push(value),
        Err(at) => lists.insert(at, (name, vec![value])),
    }
}

/// `{"name": ["value", ...], ...}`.
fn lists(json: &mut JsonWriter, map: &Lists<'_>) {
    json.open('{');
    for (i, (name, values)) in map.iter().enumerate() {
        json.key(i, name);
        json.open('[');
        for (j, value) in values.iter().enumerate() {
            json.item(j);
            json.string(value.as_ref());
        }
        json.close(']', values.is_empty());
    }
    json.close('}', map.is_empty());
}

/// `a=1; b=2` → `a=<redacted>; b=<redacted>`: each cookie's name, never its value; a pair
/// without `=` (a value alone) is `<redacted>` as a whole.
fn redact_cookies(value: &str) -> String {
    value
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{}=<redacted>", name.trim()),
            None => "<redacted>".to_string(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `x-tutu` → `X-Tutu`, as Go's `CanonicalMIMEHeaderKey`; names with other characters than
/// letters, digits and `-` stay as received.
pub(crate) fn canonical_header_name(name: &str) -> String {
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return name.to_string();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            peer: "[::1]:4242".parse().unwrap(),
            ..Request::test_get(&format!("/echo?{query}"), headers)
        }
    }

    #[test]
    fn canonical_names() {
        assert_eq!(canonical_header_name("x-tutu"), "X-Tutu");
        assert_eq!(canonical_header_name("ACCEPT-encoding"), "Accept-Encoding");
        assert_eq!(canonical_header_name("x_under"), "x_under");
        assert_eq!(
            canonical_header_name("www-authenticate"),
            "Www-Authenticate"
        );
    }

    #[test]
    fn echo_document() {
        let r = request(
            "a=1&a=2&b=x+y%21",
            &[("x-tutu", "v1"), ("X-TUTU", "v2"), ("host", "h")],
        );
        let v: serde_json::Value = serde_json::from_slice(&render(&r)).unwrap();
        assert_eq!(v["parameters"]["a"], serde_json::json!(["1", "2"]));
        assert_eq!(v["parameters"]["b"], serde_json::json!(["x y!"]));
        assert_eq!(v["headers"]["X-Tutu"], serde_json::json!(["v1", "v2"]));
        assert_eq!(v["headers"]["Host"], serde_json::json!(["h"]));
        assert_eq!(v["remoteAddr"], "[::1]:4242");
    }

    #[test]
    fn cookie_values_are_redacted() {
        let r = request(
            "",
            &[
                ("Cookie", "_oauth2_proxy=c2VjcmV0; theme=dark"),
                ("cookie", " lone-value ; a=b=c ;"),
                ("X-Not-Cookie", "v=1"),
            ],
        );
        let v: serde_json::Value = serde_json::from_slice(&render(&r)).unwrap();
        assert_eq!(
            v["headers"]["Cookie"],
            serde_json::json!([
                "_oauth2_proxy=<redacted>; theme=<redacted>",
                "<redacted>; a=<redacted>"
            ])
        );
        assert_eq!(v["headers"]["X-Not-Cookie"], serde_json::json!(["v=1"]));
        let body = String::from_utf8(render(&r)).unwrap();
        assert!(!body.contains("c2VjcmV0") && !body.contains("dark") && !body.contains("lone"));
    }

    #[test]
    fn pretty_indents_with_two_spaces() {
        let body = String::from_utf8(render(&request("pretty", &[]))).unwrap();
        assert!(
            body.starts_with("{\n  \"parameters\": {\n    \"pretty\": [\n"),
            "{body}"
        );
        let compact = String::from_utf8(render(&request("", &[]))).unwrap();
        assert_eq!(
            compact,
            "{\"parameters\":{},\"headers\":{},\"remoteAddr\":\"[::1]:4242\"}\n"
        );
    }
}

//! Token extraction from request headers, its fingerprint, its expiry (the JWT's `exp`, else the
//! gateway's expiry header), and who the user is.

use crate::http::Request;
use crate::server::config::Secret;
use crate::time::parse_rfc3339;

pub use crate::flow::token::fingerprint;
#[cfg(test)]
pub(crate) use crate::flow::token::jwt_expiry;
pub(crate) use crate::flow::token::{
    Claims, MAX_EXP, TokenInfo, claim_str, claims_expiry, jwt_claims,
};

/// Where tokens come from: header names in order, then the fallback; and where the user's
/// name comes from.
pub struct TokenSource {
    /// Headers that may carry the token, in lookup order.
    pub header_names: Vec<String>,
    /// The token served when no header carries one (`T2G_FALLBACK_TOKEN`).
    pub fallback: Option<Secret>,
    /// Headers the gateway puts the authenticated user's name in, in lookup order.
    pub user_header_names: Vec<String>,
    /// Headers the gateway puts the token's expiry in, in lookup order.
    pub expiry_header_names: Vec<String>,
}

/// An expiry header whose value is neither Unix seconds nor an RFC 3339 date-time in range.
/// Names the header only: the value is the gateway's and never logged.
#[derive(Debug, PartialEq, Eq)]
pub struct BadExpiry {
    /// The header's name.
    pub header: String,
}

impl std::fmt::Display for BadExpiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: not Unix seconds or RFC 3339 up to 9999; ignored",
            self.header
        )
    }
}

/// JWT claims that name the user, in the order they are tried.
const USER_CLAIMS: [&str; 3] = ["preferred_username", "email", "sub"];

impl TokenSource {
    /// The first configured header present with a non-empty value (after dropping a leading
    /// `Bearer ` scheme) wins; then the fallback token.
    pub fn extract<'a>(&'a self, request: &'a Request) -> Option<&'a str> {
        first_header(request, &self.header_names, strip_bearer)
            .or_else(|| self.fallback.as_ref().map(Secret::expose))
    }

    /// The authenticated user's name: the first user header present with a non-blank value;
    /// else, when `token` is a JWT, its `preferred_username`, `email` or `sub` claim (decoded,
    /// not verified: it came from the gateway, the same trust as the header); else `None`.
    pub fn user(&self, request: &Request, token: Option<&str>) -> Option<String> {
        self.header_user(request)
            .or_else(|| claims_user(&jwt_claims(token?)?))
    }

    /// As [`TokenSource::user`], with the token's claims already decoded.
    pub fn user_with_claims(&self, request: &Request, claims: Option<&Claims>) -> Option<String> {
        self.header_user(request).or_else(|| claims_user(claims?))
    }

    /// The token's expiry as the gateway states it: the first expiry header present with a
    /// non-blank value, as Unix seconds (digits only) or an RFC 3339 date-time. Read only for a
    /// token that came from a header: the fallback token is not the gateway's, so the header
    /// says nothing about it. `Ok(None)`: no such token or header.
    pub fn header_expiry(&self, request: &Request) -> Result<Option<i64>, BadExpiry> {
        if first_header(request, &self.header_names, strip_bearer).is_none() {
            return Ok(None);
        }
        let found = self.expiry_header_names.iter().find_map(|name| {
            let value = request.header(name)?.trim();
            (!value.is_empty()).then_some((name, value))
        });
        let Some((name, value)) = found else {
            return Ok(None);
        };
        parse_expiry(value).map(Some).ok_or_else(|| BadExpiry {
            header: name.clone(),
        })
    }

    /// The first user header present with a non-blank value.
    fn header_user(&self, request: &Request) -> Option<String> {
        first_header(request, &self.user_header_names, str::trim).map(str::to_string)
    }

    /// The 444 body: which headers were searched.
    pub fn not_found_message(&self) -> String {
        format!(
            "Token not found. Looking for: {}",
            self.header_names.join(", ")
        )
    }
}

/// The first of `names` present with a value that is not empty after `clean`, cleaned.
fn first_header<'a>(
    request: &'a Request,
    names: &[String],
    clean: fn(&str) -> &str,
) -> Option<&'a str> {
    names
        .iter()
        .filter_map(|name| request.header(name).map(clean))
        .find(|value| !value.is_empty())
}

/// The user a JWT's claims name: `preferred_username`, `email` or `sub`.
fn claims_user(claims: &Claims) -> Option<String> {
    USER_CLAIMS
        .iter()
        .find_map(|name| claim_str(claims, name).map(str::to_string))
}

/// Drops a leading `Bearer` scheme (any case); a bare `Bearer` leaves nothing.
fn strip_bearer(value: &str) -> &str {
    let value = value.trim();
    match value.get(..6) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer") => {
            let rest = &value[6..];
            if rest.is_empty() || rest.starts_with([' ', '\t']) {
                rest.trim_start()
            } else {
                value
            }
        }
        _ => value,
    }
}

/// Unix seconds (1 to 12 digits) or an RFC 3339 date-time, within what this server renders.
fn parse_expiry(value: &str) -> Option<i64> {
    let seconds = if value.bytes().all(|b| b.is_ascii_digit()) && value.len() <= 12 {
        value.parse().ok()?
    } else {
        parse_rfc3339(value)?
    };
    (0..=MAX_EXP).contains(&seconds).then_some(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use std::time::{Duration, UNIX_EPOCH};

    fn request(headers: &[(&str, &str)]) -> Request {
        Request::test_get("/token", headers)
    }

    fn source(names: &[&str], fallback: Option<&str>) -> TokenSource {
        TokenSource {
            header_names: names.iter().map(|n| n.to_string()).collect(),
            fallback: fallback.map(|f| Secret::new(f.to_string())),
            user_header_names: vec!["X-Forwarded-User".into(), "X-Forwarded-Email".into()],
            expiry_header_names: vec!["OIDC_access_token_expires".into(), "X-Expires".into()],
        }
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    fn jwt(payload: &str) -> String {
        format!("{}.{}.c2ln", b64(r#"{"alg":"RS256"}"#), b64(payload))
    }

    #[test]
    fn first_configured_header_wins_case_insensitively() {
        let s = source(&["Access-Token", "Authorization"], None);
        let r = request(&[("authorization", "Bearer b"), ("ACCESS-TOKEN", "a")]);
        assert_eq!(s.extract(&r), Some("a"));
        let s = source(&["x-lower"], None);
        assert_eq!(s.extract(&request(&[("X-Lower", "v")])), Some("v"));
    }

    #[test]
    fn empty_values_and_bare_schemes_are_skipped() {
        let s = source(&["Access-Token", "Authorization"], None);
        let r = request(&[("Access-Token", ""), ("Authorization", "bearer  tok")]);
        assert_eq!(s.extract(&r), Some("tok"));
        let r = request(&[("Authorization", "Bearer ")]);
        assert_eq!(s.extract(&r), None);
        let r = request(&[("Authorization", "BEARER x")]);
        assert_eq!(s.extract(&r), Some("x"));
        // Only a leading scheme is stripped; other schemes stay.
        let r = request(&[("Authorization", "Basic abc")]);
        assert_eq!(s.extract(&r), Some("Basic abc"));
        let r = request(&[("Authorization", "Bearerabc")]);
        assert_eq!(s.extract(&r), Some("Bearerabc"));
    }

    #[test]
    fn fallback_and_not_found() {
        let s = source(&["Token"], Some("fb"));
        assert_eq!(s.extract(&request(&[])), Some("fb"));
        assert_eq!(s.extract(&request(&[("Token", "h")])), Some("h"));
        let s = source(&["A", "B"], None);
        assert_eq!(s.extract(&request(&[("C", "x")])), None);
        assert_eq!(s.not_found_message(), "Token not found. Looking for: A, B");
    }

    #[test]
    fn user_from_headers_then_jwt_claims() {
        let s = source(&["Token"], None);
        let full = jwt(r#"{"preferred_username":"alice","email":"a@example.com","sub":"u-1"}"#);
        // The first user header present with a value wins, over any claim.
        let r = request(&[
            ("x-forwarded-email", "e@example.com"),
            ("X-Forwarded-User", " bob "),
        ]);
        assert_eq!(s.user(&r, Some(&full)).as_deref(), Some("bob"));
        let r = request(&[
            ("X-Forwarded-User", "  "),
            ("X-Forwarded-Email", "e@example.com"),
        ]);
        assert_eq!(s.user(&r, Some(&full)).as_deref(), Some("e@example.com"));
        // Claims in order: preferred_username, email, sub; blank and non-string ones skipped.
        let none = request(&[]);
        assert_eq!(s.user(&none, Some(&full)).as_deref(), Some("alice"));
        let t = jwt(r#"{"preferred_username":" ","email":"a@example.com","sub":"u-1"}"#);
        assert_eq!(s.user(&none, Some(&t)).as_deref(), Some("a@example.com"));
        let t = jwt(r#"{"preferred_username":7,"sub":"u-1"}"#);
        assert_eq!(s.user(&none, Some(&t)).as_deref(), Some("u-1"));
        // Unknown: an opaque token, a JWT without such claims, no token at all.
        assert_eq!(s.user(&none, Some("opaque")), None);
        assert_eq!(s.user(&none, Some(&jwt(r#"{"exp":1}"#))), None);
        assert_eq!(s.user(&none, None), None);
        // Only configured names count.
        let r = request(&[("X-Remote-User", "mallory")]);
        assert_eq!(s.user(&r, None), None);
    }

    #[test]
    fn expiry_header_known_answers() {
        for (value, want) in [
            ("1700000000", Some(1_700_000_000)),
            (" 0 ", Some(0)),
            ("253402300799", Some(MAX_EXP)),
            ("2023-11-14T22:13:20Z", Some(1_700_000_000)),
            ("2023-11-14T23:13:20.75+01:00", Some(1_700_000_000)),
            ("253402300800", None),
            ("1234567890123", None),
            ("-5", None),
            ("+5", None),
            ("1700000000.5", None),
            ("1e9", None),
            ("2023-11-14 22:13:20Z", None),
            ("Tue, 14 Nov 2023 22:13:20 GMT", None),
            ("soon", None),
        ] {
            assert_eq!(parse_expiry(value.trim()), want, "{value:?}");
        }
    }

    #[test]
    fn expiry_header_only_for_a_token_from_a_header() {
        let s = source(&["OIDC_access_token"], Some("fb"));
        let token = ("OIDC_access_token", "opaque");
        // The first expiry header with a value wins, whatever the order in the request.
        let r = request(&[
            ("X-Expires", "2000000000"),
            ("oidc_access_token_expires", " 1700000000 "),
            token,
        ]);
        assert_eq!(s.header_expiry(&r), Ok(Some(1_700_000_000)));
        let r = request(&[
            ("OIDC_access_token_expires", " "),
            ("X-Expires", "5"),
            token,
        ]);
        assert_eq!(s.header_expiry(&r), Ok(Some(5)));
        assert_eq!(s.header_expiry(&request(&[token])), Ok(None));
        // Garbage names the header, never the value.
        let r = request(&[("X-Expires", "canary-garbage-9"), token]);
        let e = s.header_expiry(&r).unwrap_err();
        assert_eq!(e.header, "X-Expires");
        assert!(!e.to_string().contains("canary"), "{e}");
        // The fallback token is not the gateway's: its headers say nothing about it.
        let r = request(&[("OIDC_access_token_expires", "1700000000")]);
        assert_eq!(s.extract(&r), Some("fb"));
        assert_eq!(s.header_expiry(&r), Ok(None));
    }

    #[test]
    fn fingerprint_known_answers() {
        // Computed independently with Python: hashlib.new("sha512_256", (salt + secret).encode()).
        let vectors = [
            (
                "",
                "83c93959855636271b7db348afd6c7813cbeef00a224f48dad66d40382af1a4e",
            ),
            (
                "abc",
                "10d605bb2c6f90a20586e4c242ee668bd7e47828456849b213199cc4aba59d5e",
            ),
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDB9.c2ln",
                "0f8e31c03a7ca3390c7b2a8fcc653c22b3b2335b8dc23549b42e373a8e807318",
            ),
            (
                "Grüße-token",
                "4f6817d7982a5ae2dafff10df99b6df0159b6da6914b702386af85bdd2de3e25",
            ),
        ];
        for (secret, expected) in vectors {
            assert_eq!(fingerprint(secret), expected, "{secret}");
        }
    }

    #[test]
    fn jwt_expiry_cases() {
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1700000000}"#)),
            Some(1_700_000_000)
        );
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1700000000.9}"#)),
            Some(1_700_000_000)
        );
        assert_eq!(jwt_expiry(&jwt(r#"{"sub":"x"}"#)), None);
        assert_eq!(jwt_expiry(&jwt(r#"{"exp":"1700000000"}"#)), None);
        assert_eq!(jwt_expiry(&jwt(r#"{"exp":null}"#)), None);
        assert_eq!(jwt_expiry(&jwt(r#"{"exp":-5}"#)), None);
        assert_eq!(jwt_expiry(&jwt(r#"{"exp":1e300}"#)), None);
        assert_eq!(jwt_expiry(&jwt(r#"[1,2]"#)), None);
        assert_eq!(jwt_expiry(&jwt("not json")), None);
        assert_eq!(jwt_expiry("opaque-token"), None);
        assert_eq!(jwt_expiry("a.b"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
        assert_eq!(jwt_expiry(&format!("{}.x", jwt(r#"{"exp":1}"#))), None);
        // Padded payloads, as some issuers send, still decode.
        let padded = format!("e30.{}==.c2ln", b64(r#"{"exp":1}"#));
        assert_eq!(jwt_expiry(&padded), Some(1));
    }

    #[test]
    fn token_info_json() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let token = jwt(r#"{"exp":1700003600}"#);
        let json: serde_json::Value =
            serde_json::from_slice(&TokenInfo::new(&token, now).to_json()).unwrap();
        assert_eq!(json["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(json["expiresAt"], "2023-11-14T23:13:20Z");
        assert_eq!(json["secret"], token.as_str());
        assert_eq!(json["fingerprint"], fingerprint(&token).as_str());
        let json: serde_json::Value =
            serde_json::from_slice(&TokenInfo::new("opaque", now).to_json()).unwrap();
        assert!(json.get("expiresAt").is_none());
        assert_eq!(json.as_object().unwrap().len(), 3);
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn exp_decodes_back_whatever_surrounds_it(
            exp in prop_oneof![
                0..=MAX_EXP,
                prop::sample::select(vec![-1, 0, MAX_EXP, MAX_EXP + 1, i64::MIN, i64::MAX]),
                any::<i64>(),
            ],
            fraction in prop::option::of(0.0f64..0.99),
            others in prop::collection::btree_map("[a-z]{1,6}", ".{0,12}", 0..4),
        ) {
            let mut claims = serde_json::Map::new();
            for (name, value) in others {
                claims.insert(name, serde_json::Value::String(value));
            }
            let number = match fraction {
                // Exact in an f64 below 2^40, so the fraction cannot round up a second.
                Some(f) if exp.unsigned_abs() < 1 << 40 => serde_json::json!(exp as f64 + f),
                _ => serde_json::json!(exp),
            };
            claims.insert("exp".to_string(), number);
            let token = jwt(&serde_json::Value::Object(claims).to_string());
            let want = (0..=MAX_EXP).contains(&exp).then_some(exp);
            prop_assert_eq!(jwt_expiry(&token), want);
        }

        #[test]
        fn any_text_decodes_to_an_expiry_in_range_or_none(
            token in "([A-Za-z0-9_=-]{0,24}\\.?){0,4}|.{0,40}",
        ) {
            if let Some(exp) = jwt_expiry(&token) {
                prop_assert!((0..=MAX_EXP).contains(&exp));
            }
        }

        #[test]
        fn a_bearer_scheme_is_stripped_in_any_case(
            token in "[!-~]{1,40}",
            scheme in "[bB][eE][aA][rR][eE][rR]",
            gap in "[ \t]{1,3}",
        ) {
            let s = source(&["Authorization"], None);
            let value = format!("{scheme}{gap}{token}");
            let request = request(&[("Authorization", &value)]);
            prop_assert_eq!(s.extract(&request), Some(token.as_str()));
        }
    }
}

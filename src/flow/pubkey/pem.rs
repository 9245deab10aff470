//! PEM armour (RFC 7468 §3): the one block's label and its base64-decoded DER.

use base64::Engine;

/// Largest accepted PEM text; a 4096-bit SPKI key in PEM with CRLF is about 820 bytes.
pub const MAX_PEM_LEN: usize = 4096;

/// Whitespace in PEM text (RFC 7468 §3 `W`): space, tab, CR, LF, vertical tab, form feed.
fn is_pem_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\x0b' | '\x0c')
}

/// One PEM block read as RFC 7468 §3 lets a parser: text before `-----BEGIN` and after
/// `-----END` is ignored (§5.2 explanatory text), lines of any length (one line from
/// JavaScript, 76 columns from Java's MIME encoder), CR, LF or CRLF line ends, whitespace
/// anywhere in the body. Strict where it matters: the label, the END line matching the BEGIN
/// line, no RFC 1421 headers, one block, and the base64 itself (RFC 4648 alphabet, canonical
/// padding and trailing bits), each with its own fixed phrase.
pub(super) fn decode_pem(text: &str) -> Result<(&str, Vec<u8>), &'static str> {
    const NO_BEGIN: &str = "missing \"-----BEGIN ...-----\" line";
    if text.trim_matches(is_pem_space).is_empty() {
        return Err("it is empty");
    }
    let mut lines = text
        .split(['\r', '\n'])
        .map(|line| line.trim_matches(is_pem_space));
    let begin = lines
        .by_ref()
        .find(|line| line.starts_with("-----BEGIN"))
        .ok_or(NO_BEGIN)?;
    let label = begin
        .strip_prefix("-----BEGIN ")
        .and_then(|line| line.strip_suffix("-----"))
        .filter(|label| {
            label
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b' ' || b.is_ascii_digit())
        })
        .ok_or(NO_BEGIN)?;
    let mut body = String::with_capacity(text.len());
    let end = loop {
        let line = lines.next().ok_or("missing \"-----END ...-----\" line")?;
        if line.starts_with("-----END") {
            break line;
        }
        if line.contains(':') {
            return Err("PEM headers are not allowed");
        }
        body.extend(line.chars().filter(|&c| !is_pem_space(c)));
    };
    if end
        .strip_prefix("-----END ")
        .and_then(|e| e.strip_suffix("-----"))
        != Some(label)
    {
        return Err("END line does not match BEGIN line");
    }
    if lines.any(|line| line.starts_with("-----BEGIN")) {
        return Err("more than one PEM block");
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "bad base64")?;
    Ok((label, der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::pubkey::testing::{malformed_reason, pem};
    use crate::flow::pubkey::{KeyError, KeyForm, KeyType, parse_public_key, verification_code};

    #[test]
    fn accepts_crlf_and_surrounding_whitespace() {
        let text = pem(2048, KeyForm::Spki);
        for variant in [
            text.replace('\n', "\r\n"),
            text.trim_end().to_owned(),
            format!("\n  {text}\n\n"),
            format!("{}\r\n", text.replace('\n', "\r\n").trim_end()),
        ] {
            parse_public_key(KeyType::Rsa2048X509, &variant).unwrap();
        }
    }

    #[test]
    fn refuses_malformed_pem() {
        let kind = KeyType::Rsa2048X509;
        let good = pem(2048, KeyForm::Spki);
        let body_line = good.lines().nth(1).unwrap().to_owned();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "it is empty"),
            (" \r\n\t".into(), "it is empty"),
            (
                good.replace("-----BEGIN PUBLIC KEY-----", "-----BEGIN PUBLIC KEY----"),
                "missing \"-----BEGIN ...-----\" line",
            ),
            (
                good.replace("-----BEGIN PUBLIC KEY-----", "-----BEGIN public key-----"),
                "missing \"-----BEGIN ...-----\" line",
            ),
            (
                good.replace("-----BEGIN PUBLIC KEY-----", ""),
                "missing \"-----BEGIN ...-----\" line",
            ),
            (
                good.replace("-----END PUBLIC KEY-----", ""),
                "missing \"-----END ...-----\" line",
            ),
            (
                good.replace("END PUBLIC KEY", "END RSA PUBLIC KEY"),
                "END line does not match BEGIN line",
            ),
            (format!("{good}{good}"), "more than one PEM block"),
            (format!("{good}\nnote\n{good}"), "more than one PEM block"),
            (
                good.replace(&body_line, &body_line.replacen('A', "*", 1)),
                "bad base64",
            ),
            (
                good.replace(&body_line, &body_line.replacen('A', "-", 1)),
                "bad base64",
            ),
            (
                good.replacen('\n', "\nProc-Type: 4,ENCRYPTED\n", 1),
                "PEM headers are not allowed",
            ),
            (good.replace(&body_line, &body_line[1..]), "bad base64"),
            (good.replace("AQAB\n", "AQAB=\n"), "bad base64"),
            (
                good.replace(&body_line, ""),
                "malformed SubjectPublicKeyInfo",
            ),
            (
                good.replace(&body_line, "MIIB"),
                "malformed SubjectPublicKeyInfo",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(malformed_reason(kind, &text), want, "{text:?}");
        }
    }

    /// Issue 16: what real clients send, as RFC 7468 §3 lets a parser accept it, is the same
    /// key: one line (JavaScript), 76 columns (Java's MIME encoder), text around the block,
    /// trailing whitespace, empty lines, CR line ends.
    #[test]
    fn accepts_any_wrapping_and_text_around_the_block() {
        let good = pem(2048, KeyForm::Spki);
        let code = verification_code(&parse_public_key(KeyType::Rsa2048X509, &good).unwrap());
        let body: String = good.lines().filter(|l| !l.starts_with("-----")).collect();
        let wrap = |width: usize, eol: &str| {
            let lines: Vec<&str> = body
                .as_bytes()
                .chunks(width)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            format!(
                "-----BEGIN PUBLIC KEY-----{eol}{}{eol}-----END PUBLIC KEY-----{eol}",
                lines.join(eol)
            )
        };
        let body_line = good.lines().nth(1).unwrap();
        for variant in [
            wrap(body.len(), "\n"),
            format!("-----BEGIN PUBLIC KEY-----{body}-----END PUBLIC KEY-----")
                .replace("-----MII", "-----\nMII")
                .replace("-----END", "\n-----END"),
            wrap(76, "\r\n"),
            wrap(76, "\r"),
            wrap(17, "\n"),
            format!("Key for alice's laptop:\n{good}"),
            format!("{good}Generated by token2go.\n"),
            good.replace(body_line, &format!("{body_line} \t")),
            good.replacen('\n', "\n\n", 1),
            good.replace('\n', "\r"),
            good.replace(
                body_line,
                &format!("{} {}", &body_line[..10], &body_line[10..]),
            ),
            format!("  {}  ", good.replace("-----\n", "-----  \n")),
        ] {
            let key = parse_public_key(KeyType::Rsa2048X509, &variant)
                .unwrap_or_else(|e| panic!("{variant:?}: {e}"));
            assert_eq!(verification_code(&key), code, "{variant:?}");
        }
    }

    #[test]
    fn refuses_oversized_input() {
        let good = pem(4096, KeyForm::Spki);
        assert!(good.len() < 1000);
        let padded = format!("{good}{}", " ".repeat(MAX_PEM_LEN));
        let err = parse_public_key(KeyType::Rsa4096X509, &padded).unwrap_err();
        assert_eq!(err.to_string(), "publicKey: too large");
        let huge = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
            "A".repeat(100_000)
        );
        assert_eq!(
            parse_public_key(KeyType::Rsa4096X509, &huge).unwrap_err(),
            KeyError::TooLarge
        );
    }
}

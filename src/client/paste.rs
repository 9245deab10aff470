//! Paste mode's input: the block the server's paste page shows, read from stdin up to its END
//! line. Whitespace, CRLF, blank lines and text around the block are tolerated; the input is
//! bounded (a block made from a 16 KB JWT is about 22 KB).

use std::io::{self, BufRead, Read};

use crate::client::error::ClientError;
use crate::flow::crypto::{self, CryptoError, Sealed};

pub(super) use crate::flow::crypto::{PASTE_BEGIN, PASTE_END};

/// The most that is read while waiting for the END line.
const MAX_PASTE_BYTES: u64 = 1024 * 1024;

/// Reads lines until one holds the END marker; the text read so far.
pub(super) fn read_block(input: &mut impl BufRead) -> Result<String, ClientError> {
    let mut text = String::new();
    loop {
        let room = MAX_PASTE_BYTES.saturating_sub(text.len() as u64);
        if room == 0 {
            return Err(ClientError::PasteTooLong);
        }
        let mut line = String::new();
        let read = input
            .by_ref()
            .take(room)
            .read_line(&mut line)
            .map_err(ClientError::Stdin)?;
        if read == 0 {
            return Err(ClientError::PasteEnded);
        }
        text.push_str(&line);
        if line.contains(PASTE_END) {
            return Ok(text);
        }
    }
}

/// The block within `text` (from its BEGIN line to its END line), decoded.
pub(super) fn parse_block(text: &str) -> Result<Sealed, ClientError> {
    let start = text
        .find(PASTE_BEGIN)
        .ok_or_else(|| ClientError::Paste(format!("no {PASTE_BEGIN} line")))?;
    let length = text[start..]
        .find(PASTE_END)
        .ok_or_else(|| ClientError::Paste(format!("no {PASTE_END} line")))?;
    crypto::parse_paste_block(&text[start..start + length + PASTE_END.len()]).map_err(|error| {
        ClientError::Paste(match error {
            CryptoError::Format(reason) => reason.to_string(),
            other => other.to_string(),
        })
    })
}

/// [`read_block`] then [`parse_block`], from stdin.
pub(super) fn read_from_stdin() -> Result<Sealed, ClientError> {
    let text = read_block(&mut io::stdin().lock())?;
    parse_block(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::crypto::{paste_block, seal};
    use crate::flow::pubkey::PublicKey;
    use crate::test_keys::private_key;

    fn read(text: &str) -> Result<String, ClientError> {
        read_block(&mut text.as_bytes())
    }

    #[test]
    fn a_block_from_a_16_kb_jwt_survives_crlf_blank_lines_and_indentation() {
        let private = private_key(2048);
        let public = PublicKey::from_rsa(private.to_public_key()).unwrap();
        let document = format!(r#"{{"secret":"{}"}}"#, "j".repeat(16 * 1024));
        let sealed = seal(&public, document.as_bytes()).unwrap();
        let block = paste_block(&sealed);
        assert!(block.len() > 22_000);
        for pasted in [
            format!("{block}\n"),
            format!("{}\r\n", block.replace('\n', "\r\n")),
            format!(
                "\n\n  {}  \nignored after the end",
                block.replace('\n', "\n\n   ")
            ),
            format!("some prompt text {block}"),
            block.replace('\n', ""),
        ] {
            let text = read(&pasted).unwrap();
            assert!(!text.contains("ignored"));
            let parsed = parse_block(&text).unwrap();
            assert_eq!(crypto::open(private, &parsed).unwrap(), document.as_bytes());
        }
    }

    #[test]
    fn input_that_ends_early_or_never_ends_is_refused() {
        assert!(matches!(read(""), Err(ClientError::PasteEnded)));
        assert!(matches!(
            read(&format!("{PASTE_BEGIN}\nAAAA\n")),
            Err(ClientError::PasteEnded)
        ));
        let endless = "A".repeat(MAX_PASTE_BYTES as usize + 10);
        assert!(matches!(read(&endless), Err(ClientError::PasteTooLong)));
        let lines = "AAAA\n".repeat(MAX_PASTE_BYTES as usize / 5 + 10);
        assert!(matches!(read(&lines), Err(ClientError::PasteTooLong)));
        assert!(matches!(
            read_block(&mut &[0xff, b'\n', b'x'][..]),
            Err(ClientError::Stdin(_))
        ));
    }

    #[test]
    fn malformed_blocks_say_why() {
        let error = parse_block(&format!("junk\n{PASTE_END}")).err().unwrap();
        assert_eq!(
            error.to_string(),
            "the pasted block is not usable: no -----BEGIN TOKEN2GO RESPONSE----- line"
        );
        let error = parse_block(&format!("{PASTE_BEGIN}\nAAAA.AAAA\n{PASTE_END}"))
            .err()
            .unwrap();
        assert_eq!(
            error.to_string(),
            "the pasted block is not usable: expected three parts separated by '.'"
        );
        let error = parse_block(&format!("{PASTE_END}\n{PASTE_BEGIN}"))
            .err()
            .unwrap();
        assert!(error.to_string().contains("no -----END"), "{error}");
    }
}

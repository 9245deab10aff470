//! Paste blocks and redirect parameters, the client's way in: mode 0 takes the text as a block;
//! mode 1 puts it between the BEGIN and END lines; mode 2 splits it into the three redirect
//! parameters. What parses has the shapes the flow produces and round-trips.

use token2go::flow::crypto::{
    PASTE_BEGIN, PASTE_END, Sealed, parse_paste_block, paste_block, redirect_params,
    sealed_from_params,
};

use super::{mode, one_line, text};

/// The target: a mode byte, then the block's text or the parameters, one a line.
pub fn run(data: &[u8]) {
    let (mode, rest) = mode(data);
    let body = text(rest);
    let parsed = match mode % 3 {
        0 => parse_paste_block(&body),
        1 => parse_paste_block(&format!("{PASTE_BEGIN}\n{body}\n{PASTE_END}")),
        _ => {
            let mut parts = body.splitn(3, '\n');
            let mut next = || parts.next().unwrap_or_default();
            let (key, nonce, payload) = (next(), next(), next());
            sealed_from_params(key, nonce, payload)
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
    let block = paste_block(&sealed);
    assert!(block.lines().all(|l| l.len() <= 64));
    let again = parse_paste_block(&block).expect("a block we made parses");
    assert!(same(&again, &sealed));
    let [key, nonce, payload] = redirect_params(&sealed);
    let again = sealed_from_params(&key.1, &nonce.1, &payload.1).expect("params parse");
    assert!(same(&again, &sealed));
}

fn same(a: &Sealed, b: &Sealed) -> bool {
    (&a.key, a.nonce, &a.payload) == (&b.key, b.nonce, &b.payload)
}

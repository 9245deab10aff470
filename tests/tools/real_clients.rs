//! Issue 16 §4 against the real binary: public keys (made by Python `cryptography`) wrapped any
//! way RFC 7468 allows, as real clients wrap them, are accepted.

use crate::harness::{TempDir, TestServer, enc, python_keypair};

const KEY_TYPE: &str = "rsa2048-rfc5280-x509-pem";

fn flow(pem: &str) -> String {
    format!(
        "/flow/redirect/token?target={}&state=s1&publicKeyType={KEY_TYPE}&publicKey={}",
        enc("http://127.0.0.1:9/cb"),
        enc(pem)
    )
}

#[test]
fn public_keys_wrapped_as_real_clients_wrap_them_are_accepted() {
    let dir = TempDir::new("real-clients");
    let (_private, pem) = python_keypair(&dir, 2048, "spki");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let wrapped = |width: usize, eol: &str| {
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
    let s = TestServer::start(&[]);
    let token = [("X-Forwarded-Access-Token", "t")];
    for (what, variant) in [
        ("one line (JavaScript)", wrapped(body.len(), "\n")),
        ("76 columns (Java's MIME encoder)", wrapped(76, "\r\n")),
        (
            "text before BEGIN",
            format!("Public key of my laptop\n{pem}"),
        ),
        ("text after END", format!("{pem}\nmade with openssl\n")),
        (
            "trailing whitespace",
            pem.lines().map(|l| format!("{l}  \t\n")).collect(),
        ),
    ] {
        let r = s.get(&flow(&variant), &token);
        assert_eq!(r.status, 303, "{what}: {}", r.text());
    }
    // The base64 itself stays strict, with its exact message.
    let broken = pem.replacen("MII", "M*I", 1);
    let r = s.get(&flow(&broken), &token);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "publicKey: expected a 2048-bit RSA public key in PEM form \"-----BEGIN PUBLIC KEY-----\" \
         (SubjectPublicKeyInfo); bad base64\n"
    );
}

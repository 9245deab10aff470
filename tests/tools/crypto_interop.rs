//! Interop: what `seal` produces, Python's `cryptography` (OpenSSL) decrypts, for every
//! key size and PEM form, through all three encodings (redirect URL, parameters, paste block).
//! Needs python3 with `cryptography`; the test fails when either is missing.

use std::process::Command;

use crate::harness::{DECRYPT_PY, TempDir, enc, python, python_keypair, python_ok};
use token2go::flow::crypto::{paste_block, redirect_params, seal};
use token2go::flow::pubkey::{ALLOWED_KEY_TYPES, KeyType, parse_public_key, verification_code};

/// Runs the decryption helper; its stdout.
fn decrypt(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    python_ok(DECRYPT_PY, args, stdin)
}

#[test]
fn python_cryptography_is_available() {
    let out = Command::new("python3")
        .args(["-c", "import cryptography; print(cryptography.__version__)"])
        .output()
        .expect("python3 is required for the interop tests (not found)");
    assert!(
        out.status.success(),
        "python3 module `cryptography` is required (pip install cryptography): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn python_decrypts_what_rust_seals_for_every_key_type() {
    let dir = TempDir::new("interop");
    let plaintext = r#"{"accessToken":"canary-Zq8.x","expiresAt":"2030-01-01T00:00:00Z"}"#;
    for bits in [2048, 3072, 4096] {
        for form in ["spki", "pkcs1"] {
            let (private, pem) = python_keypair(&dir, bits, form);
            let private = private.to_str().unwrap();
            let kinds: Vec<KeyType> = ALLOWED_KEY_TYPES
                .iter()
                .filter(|name| name.starts_with(&format!("rsa{bits}-")))
                .filter(|name| name.contains("x509") == (form == "spki"))
                .map(|name| KeyType::parse(name).unwrap())
                .collect();
            assert_eq!(kinds.len(), if form == "spki" { 1 } else { 2 });
            let public_path = dir.join(&format!("{bits}-{form}.pub"));
            let public_path = public_path.to_str().unwrap();
            let python_code =
                String::from_utf8(decrypt(&["code", "--public", public_path], b"")).unwrap();
            for kind in kinds {
                let key = parse_public_key(kind, &pem.replace('\n', "\r\n"))
                    .unwrap_or_else(|e| panic!("{}: {e}", kind.as_str()));
                assert_eq!(key.bits(), bits);
                assert_eq!(
                    verification_code(&key),
                    python_code.trim(),
                    "{}",
                    kind.as_str()
                );

                // 1. The redirect URL, with an existing query and state, as a client receives it.
                let sealed = seal(&key, plaintext.as_bytes()).unwrap();
                let [(_, k), (_, n), (_, p)] = redirect_params(&sealed);
                let url = format!(
                    "http://127.0.0.1:8765/cb?client=py&x=a%2Fb&key={}&nonce={}&payload={}&state={}",
                    enc(&k),
                    enc(&n),
                    enc(&p),
                    enc("st ate+/=")
                );
                let got = decrypt(&["decrypt", "--private", private, "--url", &url], b"");
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    plaintext,
                    "{}",
                    kind.as_str()
                );

                // 2. The three parameters as plain standard base64.
                let sealed = seal(&key, plaintext.as_bytes()).unwrap();
                let [(_, k), (_, n), (_, p)] = redirect_params(&sealed);
                let got = decrypt(
                    &["decrypt", "--private", private, "--params", &k, &n, &p],
                    b"",
                );
                assert_eq!(got, plaintext.as_bytes());

                // 3. The paste block, through stdin.
                let sealed = seal(&key, plaintext.as_bytes()).unwrap();
                let block = paste_block(&sealed);
                let got = decrypt(
                    &["decrypt", "--private", private, "--paste", "-"],
                    block.as_bytes(),
                );
                assert_eq!(got, plaintext.as_bytes());
            }
        }
    }
}

#[test]
fn python_refuses_with_the_wrong_private_key() {
    let dir = TempDir::new("interop");
    let (_, pem) = python_keypair(&dir, 2048, "spki");
    let (other_private, _) = python_keypair(&dir, 2048, "pkcs1");
    let key = parse_public_key(KeyType::Rsa2048X509, &pem).unwrap();
    let [(_, k), (_, n), (_, p)] = redirect_params(&seal(&key, b"secret").unwrap());
    let out = python(
        DECRYPT_PY,
        &[
            "decrypt",
            "--private",
            other_private.to_str().unwrap(),
            "--params",
            &k,
            &n,
            &p,
        ],
        b"",
    );
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("secret"));
}

#[test]
fn fresh_key_and_nonce_per_seal_decrypt_independently() {
    let dir = TempDir::new("interop");
    let (private, pem) = python_keypair(&dir, 3072, "pkcs1");
    let key = parse_public_key(KeyType::Rsa3072Pksc1, &pem).unwrap();
    let first = redirect_params(&seal(&key, b"one").unwrap());
    let second = redirect_params(&seal(&key, b"one").unwrap());
    for i in 0..3 {
        assert_ne!(first[i].1, second[i].1, "{} repeated", first[i].0);
    }
    for params in [&first, &second] {
        let [(_, k), (_, n), (_, p)] = params;
        let private = private.to_str().unwrap();
        assert_eq!(
            decrypt(&["decrypt", "--private", private, "--params", k, n, p], b""),
            b"one"
        );
    }
    assert!(private.exists());
    drop(dir);
    assert!(
        !private.exists(),
        "the private key is removed with its temp dir"
    );
}

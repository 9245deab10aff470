//! Interop: what `crypto::seal` produces, Python's `cryptography` (OpenSSL) decrypts, for every
//! key size and PEM form, through all three encodings (redirect URL, parameters, paste block).
//! Needs python3 with `cryptography`; the test fails when either is missing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use token2go_server::crypto;
use token2go_server::pubkey::{self, KeyType};
use token2go_server::target;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/t2g_decrypt.py");

fn python(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is required for this test (not found)");
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn python_ok(args: &[&str], stdin: Option<&str>) -> Vec<u8> {
    let out = python(args, stdin);
    assert!(
        out.status.success(),
        "t2g_decrypt.py {:?} failed: {}",
        args.first(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A fresh directory for one test's key files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("t2g-interop-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Generates a key pair in Python; returns (private PEM path, public PEM text).
fn python_keypair(dir: &TempDir, bits: usize, form: &str) -> (String, String) {
    let (private, public) = (
        dir.path(&format!("{bits}-{form}.key")),
        dir.path(&format!("{bits}-{form}.pub")),
    );
    let bits_arg = bits.to_string();
    python_ok(
        &[
            "genkey",
            "--bits",
            &bits_arg,
            "--form",
            form,
            "--private",
            &private,
            "--public",
            &public,
        ],
        None,
    );
    let pem = std::fs::read_to_string(&public).unwrap();
    (private, pem)
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
    let dir = TempDir::new();
    let plaintext = r#"{"accessToken":"canary-Zq8.x","expiresAt":"2030-01-01T00:00:00Z"}"#;
    for bits in [2048, 3072, 4096] {
        for form in ["spki", "pkcs1"] {
            let (private, pem) = python_keypair(&dir, bits, form);
            let kinds: Vec<KeyType> = pubkey::ALLOWED_KEY_TYPES
                .iter()
                .filter(|name| name.starts_with(&format!("rsa{bits}-")))
                .filter(|name| name.contains("x509") == (form == "spki"))
                .map(|name| KeyType::parse(name).unwrap())
                .collect();
            assert_eq!(kinds.len(), if form == "spki" { 1 } else { 2 });
            let public_path = dir.path(&format!("{bits}-{form}.pub"));
            let python_code =
                String::from_utf8(python_ok(&["code", "--public", &public_path], None)).unwrap();
            for kind in kinds {
                let key = pubkey::parse_public_key(kind, &pem.replace('\n', "\r\n"))
                    .unwrap_or_else(|e| panic!("{}: {e}", kind.as_str()));
                assert_eq!(key.bits(), bits);
                assert_eq!(
                    pubkey::verification_code(&key),
                    python_code.trim(),
                    "{}",
                    kind.as_str()
                );

                // 1. The redirect URL, with an existing query and state, as a client receives it.
                let sealed = crypto::seal(&key, plaintext.as_bytes()).unwrap();
                let target =
                    target::check("http://127.0.0.1:8765/cb?client=py&x=a%2Fb", &[]).unwrap();
                let params = crypto::redirect_params(&sealed);
                let mut all: Vec<(&str, &str)> =
                    params.iter().map(|(n, v)| (*n, v.as_str())).collect();
                all.push(("state", "st ate+/="));
                let url = target::with_params(&target, &all);
                let got = python_ok(&["decrypt", "--private", &private, "--url", &url], None);
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    plaintext,
                    "{}",
                    kind.as_str()
                );

                // 2. The three parameters as plain standard base64.
                let sealed = crypto::seal(&key, plaintext.as_bytes()).unwrap();
                let [(_, k), (_, n), (_, p)] = crypto::redirect_params(&sealed);
                let got = python_ok(
                    &["decrypt", "--private", &private, "--params", &k, &n, &p],
                    None,
                );
                assert_eq!(got, plaintext.as_bytes());

                // 3. The paste block, through stdin.
                let sealed = crypto::seal(&key, plaintext.as_bytes()).unwrap();
                let block = crypto::paste_block(&sealed);
                let got = python_ok(
                    &["decrypt", "--private", &private, "--paste", "-"],
                    Some(&block),
                );
                assert_eq!(got, plaintext.as_bytes());
            }
        }
    }
}

#[test]
fn python_refuses_with_the_wrong_private_key() {
    let dir = TempDir::new();
    let (_, pem) = python_keypair(&dir, 2048, "spki");
    let (other_private, _) = python_keypair(&dir, 2048, "pkcs1");
    let key = pubkey::parse_public_key(KeyType::Rsa2048X509, &pem).unwrap();
    let [(_, k), (_, n), (_, p)] = crypto::redirect_params(&crypto::seal(&key, b"secret").unwrap());
    let out = python(
        &[
            "decrypt",
            "--private",
            &other_private,
            "--params",
            &k,
            &n,
            &p,
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("secret"));
}

#[test]
fn fresh_key_and_nonce_per_seal_decrypt_independently() {
    let dir = TempDir::new();
    let (private, pem) = python_keypair(&dir, 3072, "pkcs1");
    let key = pubkey::parse_public_key(KeyType::Rsa3072Pksc1, &pem).unwrap();
    let first = crypto::redirect_params(&crypto::seal(&key, b"one").unwrap());
    let second = crypto::redirect_params(&crypto::seal(&key, b"one").unwrap());
    for i in 0..3 {
        assert_ne!(first[i].1, second[i].1, "{} repeated", first[i].0);
    }
    for params in [&first, &second] {
        let [(_, k), (_, n), (_, p)] = params;
        assert_eq!(
            python_ok(
                &["decrypt", "--private", &private, "--params", k, n, p],
                None
            ),
            b"one"
        );
    }
    assert!(Path::new(&private).exists());
}

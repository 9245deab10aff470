//! Reading the client's key: the PEM block's label picks SubjectPublicKeyInfo or PKCS#1, whose
//! DER is read strictly (X.690); then the size `publicKeyType` declares.

use rsa::pkcs1::{DecodeRsaPublicKey, RsaPublicKeyRef};
use rsa::pkcs8::SubjectPublicKeyInfoRef;
use rsa::pkcs8::der::Decode;

use super::pem::{MAX_PEM_LEN, decode_pem};
use super::{KeyError, KeyType, PublicKey};

/// Parses `pem` strictly as an RSA public key of the size `kind` declares. Either PEM form is
/// accepted whatever form `kind` names, as the reference server does (it tries both): clients
/// of the reference send `RSA PUBLIC KEY` blocks under x509 types and the reverse.
pub fn parse_public_key(kind: KeyType, pem: &str) -> Result<PublicKey, KeyError> {
    let malformed = |reason| KeyError::Malformed { kind, reason };
    if pem.len() > MAX_PEM_LEN {
        return Err(KeyError::TooLarge);
    }
    // Checked before the armor so a pasted private key is named as such in every case.
    if pem.contains("PRIVATE KEY") {
        return Err(KeyError::PrivateKey);
    }
    let (label, der) = decode_pem(pem).map_err(malformed)?;
    if label.contains("CERTIFICATE") {
        return Err(KeyError::Certificate);
    }
    let pkcs1_der = match label {
        "RSA PUBLIC KEY" => der.as_slice(),
        "PUBLIC KEY" => {
            let spki = SubjectPublicKeyInfoRef::from_der(&der)
                .map_err(|_| malformed("malformed SubjectPublicKeyInfo"))?;
            // rsa would also take id-RSASSA-PSS, a signature-only key: only rsaEncryption here.
            if spki.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
                return Err(KeyError::NotRsa);
            }
            if spki.algorithm.parameters_any().ok() != Some(rsa::pkcs8::der::asn1::Null.into()) {
                return Err(malformed("rsaEncryption parameters must be NULL"));
            }
            spki.subject_public_key
                .as_bytes()
                .ok_or_else(|| malformed("malformed SubjectPublicKeyInfo"))?
        }
        _ => {
            return Err(malformed(
                "the PEM label is neither PUBLIC KEY nor RSA PUBLIC KEY",
            ));
        }
    };
    let parts =
        RsaPublicKeyRef::from_der(pkcs1_der).map_err(|_| malformed("malformed RSA public key"))?;
    let bits = uint_bits(parts.modulus.as_bytes());
    if bits < 2048 {
        return Err(KeyError::TooSmall { bits });
    }
    if bits != kind.bits() {
        return Err(KeyError::SizeMismatch {
            bits,
            declared: kind.bits(),
        });
    }
    let key = rsa::PublicKey::from_pkcs1_der(pkcs1_der)
        .map_err(|_| malformed("invalid RSA modulus or exponent"))?;
    PublicKey::from_rsa(key).map_err(|_| malformed("invalid RSA public key"))
}

/// Bit length of a big-endian unsigned integer without leading zero bytes.
fn uint_bits(bytes: &[u8]) -> usize {
    match bytes.iter().position(|&b| b != 0) {
        Some(i) => (bytes.len() - i) * 8 - bytes[i].leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::pubkey::key_type::KEY_TYPES;
    use crate::flow::pubkey::testing::{malformed_reason, pem};
    use crate::flow::pubkey::{KeyForm, verification_code};
    use crate::test_keys::{CERT, EC_P256, ED25519, RSA_PSS_2048, private_key};
    use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
    use rsa::pkcs8::EncodePrivateKey;
    use rsa::traits::PublicKeyParts;

    #[test]
    fn parses_every_key_type_in_its_form() {
        for kind in KEY_TYPES {
            let text = pem(kind.bits(), kind.form());
            let key = parse_public_key(kind, &text).unwrap();
            assert_eq!(key.bits(), kind.bits());
            assert_eq!(key.rsa(), &private_key(kind.bits()).to_public_key());
            // Same code whichever form the key arrived in.
            let other = match kind.form() {
                KeyForm::Spki => {
                    KeyType::parse(&kind.as_str().replace("rfc5280-x509", "rfc8017-pkcs1"))
                }
                KeyForm::Pkcs1 => KeyType::parse(
                    &kind
                        .as_str()
                        .replace("rfc8017-pksc1", "rfc5280-x509")
                        .replace("rfc8017-pkcs1", "rfc5280-x509"),
                ),
            }
            .unwrap();
            let other_key = parse_public_key(other, &pem(other.bits(), other.form())).unwrap();
            assert_eq!(verification_code(&key), verification_code(&other_key));
            assert_eq!(key.spki_der(), other_key.spki_der());
        }
    }

    #[test]
    fn either_form_is_accepted_whatever_form_is_declared() {
        // The reference server tries both forms; its clients rely on it.
        for bits in [2048, 3072, 4096] {
            let spki = pem(bits, KeyForm::Spki);
            let pkcs1 = pem(bits, KeyForm::Pkcs1);
            for kind in KEY_TYPES.into_iter().filter(|k| k.bits() == bits) {
                let a = parse_public_key(kind, &spki).unwrap();
                let b = parse_public_key(kind, &pkcs1).unwrap();
                assert_eq!(a.spki_der(), b.spki_der());
            }
        }
        // The size check still applies across forms.
        assert_eq!(
            parse_public_key(KeyType::Rsa4096X509, &pem(2048, KeyForm::Pkcs1)).unwrap_err(),
            KeyError::SizeMismatch {
                bits: 2048,
                declared: 4096
            }
        );
        assert_eq!(
            parse_public_key(KeyType::Rsa3072Pksc1, "x")
                .unwrap_err()
                .to_string(),
            "publicKey: expected a 3072-bit RSA public key in PEM form \
             \"-----BEGIN RSA PUBLIC KEY-----\" (PKCS#1); missing \"-----BEGIN ...-----\" line"
        );
        // An SPKI body relabelled as PKCS#1 is not an RSAPublicKey.
        let relabelled = pem(2048, KeyForm::Spki).replace("PUBLIC KEY", "RSA PUBLIC KEY");
        assert_eq!(
            malformed_reason(KeyType::Rsa2048Pksc1, &relabelled),
            "malformed RSA public key"
        );
        let other = pem(2048, KeyForm::Spki).replace("PUBLIC KEY", "DH PARAMETERS");
        assert_eq!(
            malformed_reason(KeyType::Rsa2048X509, &other),
            "the PEM label is neither PUBLIC KEY nor RSA PUBLIC KEY"
        );
    }

    #[test]
    fn refuses_private_keys_and_certificates() {
        let private = private_key(2048);
        let pkcs8 = private.to_pkcs8_pem(LineEnding::LF).unwrap();
        let pkcs1 = private.to_pkcs1_pem(LineEnding::LF).unwrap();
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let glued = format!("{}{}", pem(2048, KeyForm::Spki), pkcs8.as_str());
        for (kind, text) in [
            (KeyType::Rsa2048X509, pkcs8.as_str()),
            (KeyType::Rsa2048Pksc1, pkcs1.as_str()),
            (KeyType::Rsa2048X509, encrypted),
            (KeyType::Rsa2048X509, &glued),
        ] {
            let err = parse_public_key(kind, text).unwrap_err();
            assert_eq!(err, KeyError::PrivateKey);
            assert_eq!(
                err.to_string(),
                "publicKey: a private key was sent; send the public key only"
            );
        }
        let err = parse_public_key(KeyType::Rsa2048X509, CERT).unwrap_err();
        assert_eq!(err.to_string(), "publicKey: certificates are not accepted");
    }

    #[test]
    fn refuses_keys_that_are_not_rsa_encryption_keys() {
        for text in [EC_P256, ED25519, RSA_PSS_2048] {
            let err = parse_public_key(KeyType::Rsa2048X509, text).unwrap_err();
            assert_eq!(err.to_string(), "publicKey: not an RSA key");
        }
        // Declared as PKCS#1, an EC key is still read by its label and refused as not RSA.
        assert_eq!(
            parse_public_key(KeyType::Rsa2048Pkcs1, EC_P256).unwrap_err(),
            KeyError::NotRsa
        );
    }

    #[test]
    fn refuses_wrong_and_small_sizes() {
        let small = pem(1024, KeyForm::Spki);
        let err = parse_public_key(KeyType::Rsa2048X509, &small).unwrap_err();
        assert_eq!(err, KeyError::TooSmall { bits: 1024 });
        assert_eq!(
            err.to_string(),
            "publicKey: key has 1024 bits, at least 2048 are required"
        );
        let err = parse_public_key(KeyType::Rsa2048X509, &pem(3072, KeyForm::Spki)).unwrap_err();
        assert_eq!(
            err,
            KeyError::SizeMismatch {
                bits: 3072,
                declared: 2048
            }
        );
        let err = parse_public_key(KeyType::Rsa2048Pksc1, &pem(4096, KeyForm::Pkcs1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "publicKey: key has 4096 bits, publicKeyType says 2048"
        );
        let err = parse_public_key(KeyType::Rsa4096X509, &pem(2048, KeyForm::Spki)).unwrap_err();
        assert_eq!(
            err,
            KeyError::SizeMismatch {
                bits: 2048,
                declared: 4096
            }
        );
        let from_rsa = PublicKey::from_rsa(private_key(1024).to_public_key()).unwrap_err();
        assert_eq!(from_rsa, KeyError::TooSmall { bits: 1024 });
        assert_eq!(
            PublicKey::from_rsa(private_key(3072).to_public_key())
                .unwrap()
                .bits(),
            3072
        );
    }

    #[test]
    fn refuses_bad_rsa_parameters() {
        use base64::Engine;
        use rsa::pkcs1::UintRef;
        use rsa::pkcs8::der::Encode;
        let modulus = private_key(2048).to_public_key().n().to_be_bytes();
        let der = RsaPublicKeyRef {
            modulus: UintRef::new(&modulus).unwrap(),
            public_exponent: UintRef::new(&[1]).unwrap(),
        }
        .to_der()
        .unwrap();
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|line| std::str::from_utf8(line).unwrap())
            .collect();
        let text = format!(
            "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n",
            lines.join("\n")
        );
        assert_eq!(
            malformed_reason(KeyType::Rsa2048Pksc1, &text),
            "invalid RSA modulus or exponent"
        );
    }

    #[test]
    fn key_errors_never_echo_the_key() {
        let good = pem(2048, KeyForm::Spki);
        let bodies: Vec<&str> = good
            .lines()
            .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
            .collect();
        for kind in KEY_TYPES {
            for text in [
                good.clone(),
                good.replace('A', "*"),
                format!("{good}x"),
                EC_P256.into(),
                CERT.into(),
            ] {
                if let Err(err) = parse_public_key(kind, &text) {
                    let line = err.to_string();
                    assert!(line.starts_with("publicKey: ") && !line.contains('\n'));
                    assert!(bodies.iter().all(|b| !line.contains(&b[..16])), "{line}");
                }
            }
        }
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// One changed byte in the DER of a good key: a refusal, or a key of the declared size
        /// (a changed modulus byte is still a modulus), never a panic.
        #[test]
        fn a_corrupted_der_is_refused_or_still_the_declared_size(
            pkcs1 in any::<bool>(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let form = if pkcs1 { KeyForm::Pkcs1 } else { KeyForm::Spki };
            let text = pem(2048, form);
            let (label, mut der) = decode_pem(&text).unwrap();
            let i = at.index(der.len());
            der[i] = byte;
            let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der);
            let lines: Vec<&str> = body
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            let lines = lines.join("\n");
            let broken = format!("-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n");
            match parse_public_key(KeyType::Rsa2048X509, &broken) {
                Ok(key) => prop_assert_eq!(key.bits(), 2048),
                Err(e) => prop_assert!(!e.to_string().contains('\n')),
            }
        }

        #[test]
        fn any_text_is_a_key_or_a_one_line_refusal(
            text in concat!(
                "(-----(BEGIN|END) (RSA )?PUBLIC KEY-----\n|[A-Za-z0-9+/=]{0,64}\n){0,8}",
                "|.{0,80}",
            ),
        ) {
            for kind in KEY_TYPES {
                if let Err(e) = parse_public_key(kind, &text) {
                    prop_assert!(!e.to_string().contains('\n'));
                }
            }
        }
    }
}

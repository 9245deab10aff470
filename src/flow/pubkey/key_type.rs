//! The accepted `publicKeyType` values and the two PEM forms they declare.

/// The two PEM forms of an RSA public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyForm {
    /// `-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo (RFC 5280).
    Spki,
    /// `-----BEGIN RSA PUBLIC KEY-----`, PKCS#1 RSAPublicKey (RFC 8017).
    Pkcs1,
}

impl KeyForm {
    /// The label of its PEM block.
    pub fn pem_label(self) -> &'static str {
        match self {
            KeyForm::Spki => "PUBLIC KEY",
            KeyForm::Pkcs1 => "RSA PUBLIC KEY",
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            KeyForm::Spki => "SubjectPublicKeyInfo",
            KeyForm::Pkcs1 => "PKCS#1",
        }
    }
}

/// The accepted values of `publicKeyType`. `Pksc1` is the reference's spelling, `Pkcs1` the alias.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// `rsa2048-rfc5280-x509-pem`.
    Rsa2048X509,
    /// 2048 bits, PKCS #1, under the reference's misspelled name (`pksc1`).
    Rsa2048Pksc1,
    /// 2048 bits, PKCS #1.
    Rsa2048Pkcs1,
    /// `rsa3072-rfc5280-x509-pem`.
    Rsa3072X509,
    /// 3072 bits, PKCS #1, under the reference's misspelled name (`pksc1`).
    Rsa3072Pksc1,
    /// 3072 bits, PKCS #1.
    Rsa3072Pkcs1,
    /// `rsa4096-rfc5280-x509-pem`.
    Rsa4096X509,
    /// 4096 bits, PKCS #1, under the reference's misspelled name (`pksc1`).
    Rsa4096Pksc1,
    /// 4096 bits, PKCS #1.
    Rsa4096Pkcs1,
}

/// Every accepted `publicKeyType`, for the error message listing them.
pub const ALLOWED_KEY_TYPES: &[&str] = &[
    "rsa2048-rfc5280-x509-pem",
    "rsa2048-rfc8017-pksc1-pem",
    "rsa2048-rfc8017-pkcs1-pem",
    "rsa3072-rfc5280-x509-pem",
    "rsa3072-rfc8017-pksc1-pem",
    "rsa3072-rfc8017-pkcs1-pem",
    "rsa4096-rfc5280-x509-pem",
    "rsa4096-rfc8017-pksc1-pem",
    "rsa4096-rfc8017-pkcs1-pem",
];

pub(super) const KEY_TYPES: [KeyType; 9] = [
    KeyType::Rsa2048X509,
    KeyType::Rsa2048Pksc1,
    KeyType::Rsa2048Pkcs1,
    KeyType::Rsa3072X509,
    KeyType::Rsa3072Pksc1,
    KeyType::Rsa3072Pkcs1,
    KeyType::Rsa4096X509,
    KeyType::Rsa4096Pksc1,
    KeyType::Rsa4096Pkcs1,
];

impl KeyType {
    /// Exact, case-sensitive match against [`ALLOWED_KEY_TYPES`].
    pub fn parse(value: &str) -> Option<KeyType> {
        KEY_TYPES.into_iter().find(|kind| kind.as_str() == value)
    }

    /// The `publicKeyType` value.
    pub fn as_str(self) -> &'static str {
        ALLOWED_KEY_TYPES[self as usize]
    }

    /// The exact modulus size in bits.
    pub fn bits(self) -> usize {
        use KeyType::*;
        match self {
            Rsa2048X509 | Rsa2048Pksc1 | Rsa2048Pkcs1 => 2048,
            Rsa3072X509 | Rsa3072Pksc1 | Rsa3072Pkcs1 => 3072,
            Rsa4096X509 | Rsa4096Pksc1 | Rsa4096Pkcs1 => 4096,
        }
    }

    /// The PEM form it declares.
    pub fn form(self) -> KeyForm {
        use KeyType::*;
        match self {
            Rsa2048X509 | Rsa3072X509 | Rsa4096X509 => KeyForm::Spki,
            _ => KeyForm::Pkcs1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_type_table() {
        assert_eq!(ALLOWED_KEY_TYPES.len(), 9);
        for (i, name) in ALLOWED_KEY_TYPES.iter().enumerate() {
            let kind = KeyType::parse(name).unwrap();
            assert_eq!(kind, KEY_TYPES[i]);
            assert_eq!(kind.as_str(), *name);
            assert!(name.starts_with(&format!("rsa{}-", kind.bits())));
            assert_eq!(kind.form() == KeyForm::Spki, name.contains("rfc5280-x509"));
        }
        assert_eq!(
            KeyType::parse("rsa2048-rfc8017-pksc1-pem"),
            Some(KeyType::Rsa2048Pksc1)
        );
        assert_eq!(
            KeyType::parse("rsa4096-rfc8017-pkcs1-pem"),
            Some(KeyType::Rsa4096Pkcs1)
        );
        for bad in [
            "",
            "rsa1024-rfc5280-x509-pem",
            "RSA2048-RFC5280-X509-PEM",
            "rsa2048-rfc5280-x509-pem ",
        ] {
            assert_eq!(KeyType::parse(bad), None, "{bad:?}");
        }
    }
}

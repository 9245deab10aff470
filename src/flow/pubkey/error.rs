//! Why a `publicKey` was refused: one line for the client, never the key itself.

use std::fmt;

use super::KeyType;

/// A refused `publicKey`. Display is one line for the client and never echoes the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Longer than any key of the allowed sizes.
    TooLarge,
    /// Not the declared PEM form; the reason is a fixed phrase.
    Malformed {
        /// The declared type.
        kind: KeyType,
        /// Why it does not parse.
        reason: &'static str,
    },
    /// A private key was sent.
    PrivateKey,
    /// A certificate was sent.
    Certificate,
    /// Not an RSA key.
    NotRsa,
    /// Smaller than 2048 bits.
    TooSmall {
        /// The key's size.
        bits: usize,
    },
    /// Not the size the type declares.
    SizeMismatch {
        /// The key's size.
        bits: usize,
        /// The declared size.
        declared: usize,
    },
    /// Only from [`PublicKey::from_rsa`](super::PublicKey::from_rsa): not one of the three sizes.
    UnsupportedSize {
        /// The key's size.
        bits: usize,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::TooLarge => write!(f, "publicKey: too large"),
            KeyError::Malformed { kind, reason } => write!(
                f,
                "publicKey: expected a {}-bit RSA public key in PEM form \"-----BEGIN {}-----\" ({}); {}",
                kind.bits(),
                kind.form().pem_label(),
                kind.form().name(),
                reason
            ),
            KeyError::PrivateKey => {
                write!(
                    f,
                    "publicKey: a private key was sent; send the public key only"
                )
            }
            KeyError::Certificate => write!(f, "publicKey: certificates are not accepted"),
            KeyError::NotRsa => write!(f, "publicKey: not an RSA key"),
            KeyError::TooSmall { bits } => {
                write!(
                    f,
                    "publicKey: key has {bits} bits, at least 2048 are required"
                )
            }
            KeyError::SizeMismatch { bits, declared } => {
                write!(
                    f,
                    "publicKey: key has {bits} bits, publicKeyType says {declared}"
                )
            }
            KeyError::UnsupportedSize { bits } => {
                write!(
                    f,
                    "publicKey: key has {bits} bits; 2048, 3072 or 4096 are accepted"
                )
            }
        }
    }
}

impl std::error::Error for KeyError {}

//! Why a run of `token2go` failed: one line each, for stderr and exit status 1. No message ever
//! holds the token or a key; the callback's values are never echoed.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::flow::crypto::PASTE_END;

/// Why a run of the client failed; Display is one line for stderr, never a secret.
pub enum ClientError {
    /// The loopback listener could not be bound or started.
    Listen {
        /// The port asked for (0: any).
        port: u16,
        /// What the OS said.
        error: io::Error,
    },
    /// The RSA key pair could not be made.
    KeyGeneration(rsa::Error),
    /// The OS random source failed.
    Random,
    /// No callback within `--timeout` seconds.
    Timeout(u64),
    /// The callback on the random path was unusable (missing field, wrong body...).
    Callback(String),
    /// The callback's `state` is not this run's.
    State,
    /// RSA-OAEP or AES-GCM refused the response: not made for this run's key, or altered.
    Decrypt,
    /// The decrypted document is not what the server sends.
    Document(&'static str),
    /// The pasted block is malformed (the reason is a fixed phrase of the parser).
    Paste(String),
    /// Standard input ended before the block's END line.
    PasteEnded,
    /// The pasted block is longer than any response can be.
    PasteTooLong,
    /// Standard input could not be read.
    Stdin(io::Error),
    /// Writing the result to stdout failed (a closed pipe).
    Output(io::Error),
    /// The cached token could not be removed.
    Forget {
        /// The cache file.
        path: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
    /// The start link was requested a second time.
    StartedTwice,
    /// The server answered the flow with an OAuth-style error (contract C1): its code and
    /// description, printable ASCII already.
    Refused {
        /// The OAuth error code.
        code: String,
        /// The error description.
        description: String,
    },
    /// The server URL does not answer at all (name, connection or no HTTP reply).
    Unreachable {
        /// The server URL.
        server: String,
        /// Why it does not answer.
        reason: String,
    },
    /// Another run held the server's lock for longer than `--timeout`.
    LockTimeout {
        /// The server URL.
        server: String,
        /// How long this run waited.
        seconds: u64,
    },
    /// A browser was launched for the server less than `--min-interval` ago.
    TooSoon {
        /// The server URL.
        server: String,
        /// Why the last run failed, when known.
        failure: Option<String>,
        /// Seconds until a browser may be launched again.
        retry_in: u64,
    },
    /// The token handed out expires within 30 s (or has expired).
    Expired,
    /// kubectl runs us non-interactively and no valid token is cached.
    NonInteractive {
        /// The server URL.
        server: String,
    },
    /// `--cached-only` or `status` and no valid token is cached.
    NotCached {
        /// The server URL.
        server: String,
    },
    /// The cache directory is unusable (`status`, `--cached-only`).
    CacheRefused(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Listen { port, error } => {
                write!(f, "cannot listen on 127.0.0.1:{port}: {error}")
            }
            ClientError::KeyGeneration(error) => write!(f, "RSA key generation failed: {error}"),
            ClientError::Random => write!(f, "the operating system's random source failed"),
            ClientError::Timeout(seconds) => write!(
                f,
                "no token within {seconds} s: the browser did not come back \
                 (if it shows an error page, that says why)"
            ),
            ClientError::Callback(reason) => write!(f, "{reason}"),
            ClientError::State => {
                f.write_str("state mismatch: the callback does not answer this request")
            }
            ClientError::Decrypt => write!(
                f,
                "decryption failed: the response was not encrypted for this request's key"
            ),
            ClientError::Document(reason) => write!(f, "the decrypted response {reason}"),
            ClientError::Paste(reason) => write!(f, "the pasted block is not usable: {reason}"),
            ClientError::PasteEnded => write!(f, "input ended before {PASTE_END}"),
            ClientError::PasteTooLong => write!(f, "the pasted text is too long"),
            ClientError::Stdin(error) => write!(f, "cannot read the pasted block: {error}"),
            ClientError::Output(error) => write!(f, "cannot write the result: {error}"),
            ClientError::Forget { path, error } => write!(
                f,
                "cannot delete the cache entry {}: {error}",
                path.display()
            ),
            ClientError::StartedTwice => write!(
                f,
                "the sign-in link was opened twice: someone else on this machine may be \
                 trying to intercept the token; try again"
            ),
            ClientError::Refused { code, description } => write!(
                f,
                "the server could not hand out a token: {description} ({code})"
            ),
            ClientError::Unreachable { server, reason } => {
                write!(f, "cannot reach {server}: {reason}")
            }
            ClientError::LockTimeout { server, seconds } => write!(
                f,
                "another token2go sign-in for {server} did not finish within {seconds} s"
            ),
            ClientError::TooSoon {
                server,
                failure,
                retry_in,
            } => {
                let failure = failure
                    .as_deref()
                    .map(|error| format!(" ({error})"))
                    .unwrap_or_default();
                write!(
                    f,
                    "a sign-in for {server} is already in progress or just failed{failure}; \
                     retry in {retry_in} s or pass --refresh"
                )
            }
            ClientError::Expired => write!(
                f,
                "the server handed out a token that expires in less than 30 s: \
                 sign in again through the gateway"
            ),
            ClientError::NonInteractive { server } => write!(
                f,
                "no valid token cached for {server}, and kubectl runs token2go \
                 non-interactively (no browser): run `token2go {server}` once in a terminal"
            ),
            ClientError::NotCached { server } => {
                write!(f, "no valid token cached for {server}")
            }
            ClientError::CacheRefused(reason) => write!(f, "{reason}"),
        }
    }
}

/// `Debug` is `Display`, so a `Result` in a test failure reads as the user would see it.
impl fmt::Debug for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ClientError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_is_one_line_and_state_says_state() {
        let errors = [
            ClientError::Listen {
                port: 80,
                error: io::Error::from(io::ErrorKind::PermissionDenied),
            },
            ClientError::KeyGeneration(rsa::Error::InvalidModulus),
            ClientError::Random,
            ClientError::Timeout(3),
            ClientError::Callback("the callback lacks key".into()),
            ClientError::State,
            ClientError::Decrypt,
            ClientError::Document("is not JSON"),
            ClientError::Paste("bad base64url".into()),
            ClientError::PasteEnded,
            ClientError::PasteTooLong,
            ClientError::Stdin(io::Error::from(io::ErrorKind::InvalidData)),
            ClientError::Output(io::Error::from(io::ErrorKind::BrokenPipe)),
            ClientError::Forget {
                path: "/c/x.json".into(),
                error: io::Error::from(io::ErrorKind::PermissionDenied),
            },
            ClientError::StartedTwice,
            ClientError::Refused {
                code: "no_token".into(),
                description: "the gateway passed no access token".into(),
            },
            ClientError::Unreachable {
                server: "http://h".into(),
                reason: "connection refused".into(),
            },
            ClientError::LockTimeout {
                server: "http://h".into(),
                seconds: 3,
            },
            ClientError::TooSoon {
                server: "http://h".into(),
                failure: Some("no token".into()),
                retry_in: 12,
            },
            ClientError::Expired,
            ClientError::NonInteractive {
                server: "http://h".into(),
            },
            ClientError::NotCached {
                server: "http://h".into(),
            },
            ClientError::CacheRefused("not using the cache directory /c".into()),
        ];
        for error in &errors {
            let line = error.to_string();
            assert!(!line.is_empty() && !line.contains('\n'), "{line:?}");
        }
        assert!(ClientError::State.to_string().contains("state"));
        assert_eq!(
            ClientError::Timeout(3).to_string(),
            "no token within 3 s: the browser did not come back \
             (if it shows an error page, that says why)"
        );
        assert_eq!(
            ClientError::Refused {
                code: "no_token".into(),
                description: "the gateway passed no access token".into(),
            }
            .to_string(),
            "the server could not hand out a token: the gateway passed no access token (no_token)"
        );
        assert_eq!(
            ClientError::TooSoon {
                server: "http://h".into(),
                failure: None,
                retry_in: 12,
            }
            .to_string(),
            "a sign-in for http://h is already in progress or just failed; retry in 12 s or \
             pass --refresh"
        );
        assert_eq!(
            ClientError::PasteEnded.to_string(),
            "input ended before -----END TOKEN2GO RESPONSE-----"
        );
    }
}

//! The token cache, shared with `scripts/token2go_client.py` (same directory, files and format,
//! so a token fetched by one client is reused by the other, and both take the same lock).
//!
//! - Directory: `$XDG_CACHE_HOME/token2go/` when that is an absolute path, else
//!   `$HOME/.cache/token2go/`; created with mode 0700. It must belong to us and be writable by
//!   nobody else, or it is not used at all ([`Cache::check`]).
//! - Per server, stem = lower-case hex of SHA-256 of the normalized server URL, first 32
//!   characters: `<stem>.json`, the entry `{"version": 1, "server": URL, "token": DOCUMENT,
//!   "maxAgeApplied"?: true, "skew"?: SECONDS}`; `<stem>.lock`, the `flock` one sign-in at a time
//!   holds; `<stem>.launch`, the launch record `{"version": 1, "server", "startedAt", "result",
//!   "error"?}` that keeps browsers from opening more than once per `--min-interval`.
//! - An entry or record is used only when it is a regular file (not a symbolic link) owned by
//!   us and accessible to nobody else, parses, is version 1 and names this server. An entry is a
//!   hit while its expiry ([`TokenDocument::expiry`], on the server's clock: `skew` is added to
//!   ours) is more than 60 s away. Anything else is a miss, replaced by the next write.
//! - Writes go to a new 0600 temp file in the same directory, synced, then renamed over the
//!   file, so a concurrent reader sees the old file or the new one, never half of one.
//!
//! This file holds the directory, the file names of a server and `forget` (which removes its
//! entry and launch record); the parts:
//!
//! - `entry`: the `<stem>.json` entries, read, listed and written;
//! - `lock`: the `<stem>.lock` lock;
//! - `launch`: the `<stem>.launch` launch record;
//! - `files`: how every file here is read (ours alone) and written (temp file and rename).
//!
//! [`TokenDocument::expiry`]: crate::client::document::TokenDocument::expiry

mod entry;
mod files;
mod launch;
mod lock;

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::PathBuf;

use rsa::sha2::{Digest, Sha256};

use crate::client::env::Env;
use crate::sys::effective_uid;
use crate::text::lower_hex;

pub(super) use entry::{Cached, MARGIN_SECS};
pub(super) use launch::Launch;
pub(super) use lock::LockError;

/// The version entries and launch records carry; a file with another is a miss.
const VERSION: u64 = 1;

/// The cache directory; nothing is created before the first write or lock.
pub(super) struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache directory from the environment; `None` when neither variable gives one.
    pub(super) fn locate(env: &Env) -> Option<Cache> {
        let base = match &env.xdg_cache_home {
            Some(xdg) if xdg.is_absolute() => xdg.clone(),
            _ => env.home.as_ref()?.join(".cache"),
        };
        Some(Cache::at(base.join("token2go")))
    }

    pub(super) fn at(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    /// Whether the directory may be used: absent (it will be created 0700), or a directory
    /// owned by our effective uid that neither group nor others can write to. Another user who
    /// can write there could plant a token or a record of their choice.
    pub(super) fn check(&self) -> Result<(), String> {
        let meta = match fs::metadata(&self.dir) {
            Ok(meta) => meta,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(self.refusal(&error.to_string())),
        };
        if !meta.is_dir() {
            return Err(self.refusal("it is not a directory"));
        }
        let uid = effective_uid();
        if meta.uid() != uid {
            return Err(self.refusal(&format!(
                "it belongs to uid {}, not to you (uid {uid})",
                meta.uid()
            )));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(self.refusal("group or others can write to it (chmod 700 it)"));
        }
        Ok(())
    }

    fn refusal(&self, reason: &str) -> String {
        format!(
            "not using the cache directory {}: {reason}",
            self.dir.display()
        )
    }

    fn stem(server: &str) -> String {
        let digest = Sha256::digest(server.as_bytes());
        lower_hex(&digest)[..32].to_string()
    }

    /// The entry's path for a normalized server URL.
    pub(super) fn entry(&self, server: &str) -> PathBuf {
        self.dir.join(format!("{}.json", Cache::stem(server)))
    }

    fn file(&self, server: &str, extension: &str) -> PathBuf {
        self.dir
            .join(format!("{}.{extension}", Cache::stem(server)))
    }

    /// Deletes the entry and the launch record of `server`; whether there was an entry.
    pub(super) fn forget(&self, server: &str) -> io::Result<bool> {
        let _ = fs::remove_file(self.file(server, "launch"));
        match fs::remove_file(self.entry(server)) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(error),
        }
    }

    fn create_dir(&self) -> io::Result<()> {
        if let Some(parent) = self.dir.parent() {
            fs::create_dir_all(parent)?;
        }
        match DirBuilder::new().mode(0o700).create(&self.dir) {
            Err(error) if error.kind() != io::ErrorKind::AlreadyExists => Err(error),
            _ => Ok(()),
        }
    }
}

/// What the tests of every part use: a scratch cache, documents, file modes.
#[cfg(test)]
mod testing {
    use std::fs;
    use std::io;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::Cache;
    use crate::client::document::TokenDocument;

    pub(super) const SERVER: &str = "https://corp.example/t2g";
    pub(super) const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    /// A cache in a fresh directory, removed on drop.
    pub(super) struct Scratch(pub(super) PathBuf);

    impl Scratch {
        pub(super) fn new() -> Scratch {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "t2g-cache-unit-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        pub(super) fn cache(&self) -> Cache {
            Cache::at(self.0.join("token2go"))
        }
    }

    impl Cache {
        pub(super) fn write_doc(&self, server: &str, document: &TokenDocument) -> io::Result<()> {
            self.write(server, document, 0, false)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    pub(super) fn document(expires_at: &str) -> TokenDocument {
        let text = format!(
            r#"{{"timestamp":"2026-01-01T00:00:00Z","fingerprint":"f","secret":"tok","expiresAt":"{expires_at}"}}"#
        );
        TokenDocument::from_json(text.as_bytes()).unwrap()
    }

    pub(super) fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use super::testing::{SERVER, Scratch};
    use super::*;

    #[test]
    fn location_and_file_name() {
        let env = |xdg: Option<&str>, home: Option<&str>| Env {
            xdg_cache_home: xdg.map(PathBuf::from),
            home: home.map(PathBuf::from),
            ..Env::default()
        };
        let dir = |e: Env| Cache::locate(&e).map(|c| c.dir);
        assert_eq!(
            dir(env(Some("/x/cache"), Some("/home/u"))),
            Some(PathBuf::from("/x/cache/token2go"))
        );
        assert_eq!(
            dir(env(Some("relative"), Some("/home/u"))),
            Some(PathBuf::from("/home/u/.cache/token2go"))
        );
        assert_eq!(
            dir(env(None, Some("/home/u"))),
            Some(PathBuf::from("/home/u/.cache/token2go"))
        );
        assert_eq!(dir(env(None, None)), None);
        // hashlib.sha256(b"https://corp.example/t2g").hexdigest()[:32], computed with Python.
        assert_eq!(
            Cache::at("/c".into()).entry(SERVER),
            PathBuf::from("/c/8d2f0ee4cd7dfae99b6d1e779541f012.json")
        );
    }

    #[test]
    fn a_directory_others_can_write_to_or_another_user_owns_is_refused() {
        let scratch = Scratch::new();
        let cache = scratch.cache();
        assert_eq!(cache.check(), Ok(()), "absent: created 0700 on first write");
        fs::create_dir(&cache.dir).unwrap();
        for (loose, ok) in [(0o700, true), (0o755, true), (0o770, false), (0o702, false)] {
            fs::set_permissions(&cache.dir, fs::Permissions::from_mode(loose)).unwrap();
            let checked = cache.check();
            assert_eq!(checked.is_ok(), ok, "{loose:o}: {checked:?}");
            if let Err(reason) = checked {
                assert_eq!(
                    reason,
                    format!(
                        "not using the cache directory {}: group or others can write to it \
                         (chmod 700 it)",
                        cache.dir.display()
                    )
                );
            }
        }
        fs::set_permissions(&cache.dir, fs::Permissions::from_mode(0o700)).unwrap();
        if effective_uid() == 0 {
            std::os::unix::fs::chown(&cache.dir, Some(65534), None).unwrap();
            let reason = cache.check().unwrap_err();
            assert!(
                reason.ends_with("it belongs to uid 65534, not to you (uid 0)"),
                "{reason}"
            );
        }
    }
}

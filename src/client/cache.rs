//! The token cache, shared with `scripts/token2go_client.py` (same directory, file name and
//! format, so a token fetched by one client is reused by the other).
//!
//! - Directory: `$XDG_CACHE_HOME/token2go/` when that is an absolute path, else
//!   `$HOME/.cache/token2go/`; created with mode 0700.
//! - One file per server: lower-case hex of SHA-256 of the normalized server URL, first 32
//!   characters, `.json`; content `{"version": 1, "server": URL, "token": DOCUMENT}`.
//! - An entry is used only when it is a regular file (not a symbolic link) owned by us and
//!   accessible to nobody else, parses, is version 1, names this server, carries a secret and an
//!   RFC 3339 `expiresAt` more than 60 s away. Anything else is a miss, replaced by the next write.
//! - Writes go to a new 0600 temp file in the same directory, synced, then renamed over the
//!   entry, so a concurrent reader sees the old entry or the new one, never half of one.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rsa::sha2::{Digest, Sha256};
use serde::Serialize;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::client::document::TokenDocument;
use crate::client::env::Env;
use crate::flow::crypto::random_bytes;
use crate::server::token::lower_hex;
use crate::sys::effective_uid;

pub const VERSION: u64 = 1;
/// A cached token is used only while it stays valid for longer than this.
pub const MARGIN_SECS: i64 = 60;
/// Larger files are not cache entries (a 16 KB JWT makes an entry of about 17 KB).
const MAX_ENTRY_BYTES: u64 = 1024 * 1024;

pub struct Cache {
    dir: PathBuf,
}

#[derive(Serialize)]
struct Entry<'a> {
    version: u64,
    server: &'a str,
    token: &'a TokenDocument,
}

impl Cache {
    /// The cache directory from the environment; `None` when neither variable gives one.
    pub fn locate(env: &Env) -> Option<Cache> {
        let base = match &env.xdg_cache_home {
            Some(xdg) if xdg.is_absolute() => xdg.clone(),
            _ => env.home.as_ref()?.join(".cache"),
        };
        Some(Cache::at(base.join("token2go")))
    }

    pub fn at(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    /// The entry's path for a normalized server URL.
    pub fn entry(&self, server: &str) -> PathBuf {
        let digest = Sha256::digest(server.as_bytes());
        self.dir.join(format!("{}.json", &lower_hex(&digest)[..32]))
    }

    /// The cached token of `server` if one is valid for more than [`MARGIN_SECS`] after `now`
    /// (seconds since the epoch). `Err` names why an existing entry cannot be used.
    pub fn read(&self, server: &str, now: i64) -> Result<Option<TokenDocument>, String> {
        let document = match load(&self.entry(server), server) {
            Ok(document) => document,
            Err(Unusable::Absent) => return Ok(None),
            Err(Unusable::Because(reason)) => return Err(reason),
        };
        let expires_at = document.expires_at_unix().unwrap_or(i64::MIN);
        Ok((expires_at.saturating_sub(now) > MARGIN_SECS).then_some(document))
    }

    /// Stores `document` for `server` atomically.
    pub fn write(&self, server: &str, document: &TokenDocument) -> io::Result<()> {
        if let Some(parent) = self.dir.parent() {
            fs::create_dir_all(parent)?;
        }
        match DirBuilder::new().mode(0o700).create(&self.dir) {
            Err(error) if error.kind() != io::ErrorKind::AlreadyExists => return Err(error),
            _ => {}
        }
        let entry = self.entry(server);
        let data = Zeroizing::new(
            serde_json::to_vec(&Entry {
                version: VERSION,
                server,
                token: document,
            })
            .map_err(io::Error::other)?,
        );
        let mut suffix = [0u8; 8];
        random_bytes(&mut suffix).map_err(io::Error::other)?;
        let suffix = lower_hex(&suffix);
        let file_name = entry
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("entry");
        let temp = self
            .dir
            .join(format!(".{file_name}.{}.{suffix}.tmp", std::process::id()));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)
            .and_then(|mut file| {
                file.write_all(&data)?;
                file.sync_all()
            })
            .and_then(|()| fs::rename(&temp, &entry));
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }

    /// Deletes the entry of `server`; whether there was one.
    pub fn forget(&self, server: &str) -> io::Result<bool> {
        match fs::remove_file(self.entry(server)) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(error),
        }
    }
}

enum Unusable {
    Absent,
    Because(String),
}

fn because(reason: &str) -> Unusable {
    Unusable::Because(reason.to_string())
}

/// Opens, checks and parses an entry, without following a symbolic link or blocking on a FIFO.
fn load(path: &Path, server: &str) -> Result<TokenDocument, Unusable> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => Unusable::Absent,
            _ if error.raw_os_error() == Some(libc::ELOOP) => because("a symbolic link"),
            _ => Unusable::Because(error.to_string()),
        })?;
    let data = read_checked(&file).map_err(Unusable::Because)?;
    let entry: Value = serde_json::from_slice(&data).map_err(|_| because("not JSON"))?;
    let version_ok = entry["version"].is_u64() && entry["version"].as_u64() == Some(VERSION);
    if !version_ok {
        return Err(because("not version 1"));
    }
    if entry["server"].as_str() != Some(server) {
        return Err(because("for another server"));
    }
    let mut entry = entry;
    let document =
        TokenDocument::from_value(entry["token"].take()).map_err(|_| because("no secret"))?;
    if document.expires_at_unix().is_none() {
        return Err(because("no valid expiresAt"));
    }
    Ok(document)
}

/// The file's bytes if it is ours alone: a regular file, owned by our effective user, with no
/// permission for group or others, and not too large.
fn read_checked(file: &File) -> Result<Zeroizing<Vec<u8>>, String> {
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.uid() != effective_uid() {
        return Err("owned by another user".into());
    }
    if meta.mode() & 0o077 != 0 {
        return Err("accessible to other users".into());
    }
    let mut data = Zeroizing::new(Vec::new());
    file.take(MAX_ENTRY_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| e.to_string())?;
    if data.len() as u64 > MAX_ENTRY_BYTES {
        return Err("too large".into());
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const SERVER: &str = "https://corp.example/t2g";
    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    /// A cache in a fresh directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "t2g-cache-unit-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn cache(&self) -> Cache {
            Cache::at(self.0.join("token2go"))
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn document(expires_at: &str) -> TokenDocument {
        let text = format!(
            r#"{{"timestamp":"2026-01-01T00:00:00Z","fingerprint":"f","secret":"tok","expiresAt":"{expires_at}"}}"#
        );
        TokenDocument::from_json(text.as_bytes()).unwrap()
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

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
    fn write_then_read_back_private_files_only() {
        let scratch = Scratch::new();
        let cache = scratch.cache();
        assert!(matches!(cache.read(SERVER, NOW), Ok(None)));
        cache
            .write(SERVER, &document("2026-01-01T01:00:00Z"))
            .unwrap();
        assert_eq!(mode(&cache.dir), 0o700);
        let entry = cache.entry(SERVER);
        assert_eq!(mode(&entry), 0o600);
        let names: Vec<_> = fs::read_dir(&cache.dir).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left behind");
        let stored: Value = serde_json::from_slice(&fs::read(&entry).unwrap()).unwrap();
        assert_eq!(stored["version"], 1);
        assert_eq!(stored["server"], SERVER);
        assert_eq!(stored["token"]["secret"], "tok");
        assert_eq!(stored["token"]["expiresAt"], "2026-01-01T01:00:00Z");
        let hit = cache.read(SERVER, NOW).unwrap().unwrap();
        assert_eq!(hit.secret(), "tok");
        // Another server, its own entry.
        assert!(matches!(cache.read("https://other.example", NOW), Ok(None)));
        assert!(cache.forget(SERVER).unwrap());
        assert!(!cache.forget(SERVER).unwrap());
        assert!(matches!(cache.read(SERVER, NOW), Ok(None)));
    }

    #[test]
    fn only_tokens_valid_for_more_than_a_minute_are_hits() {
        let scratch = Scratch::new();
        let cache = scratch.cache();
        cache
            .write(SERVER, &document("2026-01-01T00:01:01Z"))
            .unwrap();
        assert!(cache.read(SERVER, NOW).unwrap().is_some());
        cache
            .write(SERVER, &document("2026-01-01T00:01:00Z"))
            .unwrap();
        assert!(cache.read(SERVER, NOW).unwrap().is_none());
        cache
            .write(SERVER, &document("2025-12-31T00:00:00Z"))
            .unwrap();
        assert!(cache.read(SERVER, NOW).unwrap().is_none());
    }

    #[test]
    fn unusable_entries_say_why_and_are_replaced() {
        let scratch = Scratch::new();
        let cache = scratch.cache();
        cache
            .write(SERVER, &document("2026-01-01T01:00:00Z"))
            .unwrap();
        let entry = cache.entry(SERVER);
        let good = fs::read_to_string(&entry).unwrap();
        let cases: Vec<(String, &str)> = vec![
            ("{not json".into(), "not JSON"),
            (String::new(), "not JSON"),
            (
                good.replace("\"version\":1", "\"version\":2"),
                "not version 1",
            ),
            (
                good.replace("\"version\":1", "\"version\":1.0"),
                "not version 1",
            ),
            (
                good.replace("\"version\":1", "\"version\":\"1\""),
                "not version 1",
            ),
            ("[1,2]".into(), "not version 1"),
            (
                good.replace(SERVER, "https://evil.example"),
                "for another server",
            ),
            (
                good.replace("\"secret\":\"tok\"", "\"secret\":\"\""),
                "no secret",
            ),
            (
                good.replace("\"secret\":\"tok\"", "\"secret\":7"),
                "no secret",
            ),
            (
                good.replace("2026-01-01T01:00:00Z", "tomorrow"),
                "no valid expiresAt",
            ),
            (
                good.replace(",\"expiresAt\":\"2026-01-01T01:00:00Z\"", ""),
                "no valid expiresAt",
            ),
        ];
        for (content, reason) in cases {
            fs::write(&entry, &content).unwrap();
            assert_eq!(
                cache.read(SERVER, NOW).err().as_deref(),
                Some(reason),
                "{content}"
            );
        }
        fs::write(&entry, &good).unwrap();
        for loose in [0o640, 0o604, 0o620, 0o602, 0o644, 0o666] {
            fs::set_permissions(&entry, fs::Permissions::from_mode(loose)).unwrap();
            assert_eq!(
                cache.read(SERVER, NOW).err().as_deref(),
                Some("accessible to other users"),
                "{loose:o}"
            );
        }
        fs::write(&entry, "x".repeat(MAX_ENTRY_BYTES as usize + 1)).unwrap();
        fs::set_permissions(&entry, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(cache.read(SERVER, NOW).err().as_deref(), Some("too large"));
        // A world-readable entry is replaced by a private one on the next write.
        fs::set_permissions(&entry, fs::Permissions::from_mode(0o644)).unwrap();
        cache
            .write(SERVER, &document("2026-01-01T01:00:00Z"))
            .unwrap();
        assert_eq!(mode(&entry), 0o600);
        assert!(cache.read(SERVER, NOW).unwrap().is_some());
    }

    #[test]
    fn links_and_directories_are_not_entries() {
        let scratch = Scratch::new();
        let cache = scratch.cache();
        cache
            .write(SERVER, &document("2026-01-01T01:00:00Z"))
            .unwrap();
        let entry = cache.entry(SERVER);
        let elsewhere = scratch.0.join("elsewhere.json");
        fs::rename(&entry, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
        assert_eq!(
            cache.read(SERVER, NOW).err().as_deref(),
            Some("a symbolic link")
        );
        // The write replaces the link itself; the file it pointed to is left alone.
        cache
            .write(SERVER, &document("2026-01-01T02:00:00Z"))
            .unwrap();
        assert!(fs::symlink_metadata(&entry).unwrap().is_file());
        assert!(fs::read_to_string(&elsewhere)
            .unwrap()
            .contains("01:00:00Z"));
        fs::remove_file(&entry).unwrap();
        fs::create_dir(&entry).unwrap();
        assert_eq!(
            cache.read(SERVER, NOW).err().as_deref(),
            Some("not a regular file")
        );
    }

    #[test]
    fn concurrent_writers_never_leave_half_a_file() {
        let scratch = Scratch::new();
        let cache = scratch.cache();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..20 {
                        cache
                            .write(SERVER, &document("2026-01-01T01:00:00Z"))
                            .unwrap();
                        let read = cache.read(SERVER, NOW);
                        assert!(matches!(read, Ok(Some(_))), "{:?}", read.err());
                    }
                });
            }
        });
        assert_eq!(fs::read_dir(&cache.dir).unwrap().count(), 1);
    }
}

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

use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rsa::sha2::{Digest, Sha256};
use serde::Serialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::client::document::TokenDocument;
use crate::client::env::Env;
use crate::flow::crypto::random_bytes;
use crate::sys::effective_uid;
use crate::text::lower_hex;

pub(super) const VERSION: u64 = 1;
/// A cached token is used only while it stays valid for longer than this.
pub(super) const MARGIN_SECS: i64 = 60;
/// Larger files are not cache entries (a 16 KB JWT makes an entry of about 17 KB).
const MAX_ENTRY_BYTES: u64 = 1024 * 1024;
/// How often a run waiting for another run's lock tries again.
const LOCK_POLL: Duration = Duration::from_millis(50);

pub(super) struct Cache {
    dir: PathBuf,
}

/// An entry as written; the document keeps the server's field order.
#[derive(Serialize)]
struct Entry<'a> {
    version: u64,
    server: &'a str,
    token: &'a TokenDocument,
    #[serde(rename = "maxAgeApplied", skip_serializing_if = "is_false")]
    max_age_applied: bool,
    #[serde(skip_serializing_if = "is_zero")]
    skew: i64,
}

fn is_false(value: &bool) -> bool {
    !value
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// A cache entry: the document and what the run that fetched it knew.
pub(super) struct Cached {
    pub document: TokenDocument,
    /// Server clock minus ours, in seconds, as measured at receipt (0 when within 30 s).
    pub skew: i64,
    /// The expiry is `--max-age` after receipt: the token itself carries none.
    pub max_age_applied: bool,
}

impl Cached {
    /// Seconds the token stays valid after `now` (our clock), on the server's clock.
    pub(super) fn remaining(&self, now: i64) -> Option<i64> {
        Some(self.document.expiry()? - now.saturating_add(self.skew))
    }

    fn is_hit(&self, now: i64) -> bool {
        self.remaining(now).is_some_and(|left| left > MARGIN_SECS)
    }
}

/// The launch record of a server: when a browser was last opened for it, and how that went.
pub(super) struct Launch {
    pub started_at: i64,
    /// `running`, `ok` or `failed`.
    pub result: String,
    pub error: Option<String>,
}

/// The server's lock, held until dropped (closing the file releases the `flock`; so does the
/// kernel when the process dies).
pub(super) struct Lock {
    _file: File,
}

/// Why the lock was not taken.
pub(super) enum LockError {
    TimedOut,
    Io(io::Error),
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

    /// The cached token of `server` if one is valid for more than [`MARGIN_SECS`] after `now`
    /// (seconds since the epoch). `Err` names why an existing entry cannot be used.
    pub(super) fn read(&self, server: &str, now: i64) -> Result<Option<Cached>, String> {
        Ok(self.read_any(server)?.filter(|cached| cached.is_hit(now)))
    }

    /// The entry of `server`, valid or not.
    pub(super) fn read_any(&self, server: &str) -> Result<Option<Cached>, String> {
        match load(&self.entry(server), server) {
            Ok(cached) => Ok(Some(cached)),
            Err(Unusable::Absent) => Ok(None),
            Err(Unusable::Because(reason)) => Err(reason),
        }
    }

    /// Every usable entry, in the order of their server URLs.
    pub(super) fn entries(&self) -> Vec<(String, Cached)> {
        let Ok(names) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found: Vec<(String, Cached)> = names
            .filter_map(|name| {
                let path = name.ok()?.path();
                let stem = path.file_name()?.to_str()?.strip_suffix(".json")?;
                let hex = stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_hexdigit());
                let data = hex.then(|| read_private(&path).ok()).flatten()?;
                let server = serde_json::from_slice::<Value>(&data).ok()?["server"]
                    .as_str()?
                    .to_string();
                (Cache::stem(&server) == stem)
                    .then(|| load(&path, &server).ok())
                    .flatten()
                    .map(|cached| (server, cached))
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// Stores `document` for `server` atomically.
    pub(super) fn write(
        &self,
        server: &str,
        document: &TokenDocument,
        skew: i64,
        max_age_applied: bool,
    ) -> io::Result<()> {
        let entry = Entry {
            version: VERSION,
            server,
            token: document,
            max_age_applied,
            skew,
        };
        let data = Zeroizing::new(serde_json::to_vec(&entry).map_err(io::Error::other)?);
        self.write_private(&self.entry(server), &data)
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

    /// Takes the lock of `server`, waiting at most `timeout`; `waiting` runs once if another
    /// run holds it.
    pub(super) fn lock(
        &self,
        server: &str,
        timeout: Duration,
        waiting: impl FnOnce(),
    ) -> Result<Lock, LockError> {
        self.create_dir().map_err(LockError::Io)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.file(server, "lock"))
            .map_err(LockError::Io)?;
        let deadline = Instant::now() + timeout;
        let mut waiting = Some(waiting);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Lock { _file: file }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(error)) => return Err(LockError::Io(error)),
            }
            if let Some(waiting) = waiting.take() {
                waiting();
            }
            if Instant::now() >= deadline {
                return Err(LockError::TimedOut);
            }
            std::thread::sleep(LOCK_POLL);
        }
    }

    /// The launch record of `server`; `None` when there is none or it is unusable.
    pub(super) fn launch(&self, server: &str) -> Option<Launch> {
        let data = read_private(&self.file(server, "launch")).ok()?;
        let record: Value = serde_json::from_slice(&data).ok()?;
        let ours = record["version"].as_u64() == Some(VERSION)
            && record["server"].as_str() == Some(server);
        ours.then(|| Launch {
            started_at: record["startedAt"].as_i64().unwrap_or(0),
            result: record["result"].as_str().unwrap_or_default().to_string(),
            error: record["error"].as_str().map(str::to_string),
        })
    }

    /// Stores the launch record of `server` atomically.
    pub(super) fn write_launch(&self, server: &str, launch: &Launch) -> io::Result<()> {
        let mut record = json!({
            "version": VERSION,
            "server": server,
            "startedAt": launch.started_at,
            "result": launch.result,
        });
        if let Some(error) = &launch.error {
            record["error"] = Value::from(error.as_str());
        }
        let data = serde_json::to_vec(&record).map_err(io::Error::other)?;
        self.write_private(&self.file(server, "launch"), &data)
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

    /// Writes `data` to `path` through a private temp file and a rename.
    fn write_private(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.create_dir()?;
        let mut suffix = [0u8; 8];
        random_bytes(&mut suffix).map_err(io::Error::other)?;
        let suffix = lower_hex(&suffix);
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
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
                file.write_all(data)?;
                file.sync_all()
            })
            .and_then(|()| fs::rename(&temp, path));
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }
}

enum Unusable {
    Absent,
    Because(String),
}

fn because(reason: &str) -> Unusable {
    Unusable::Because(reason.to_string())
}

/// Opens, checks and parses an entry.
fn load(path: &Path, server: &str) -> Result<Cached, Unusable> {
    let data = read_private(path).map_err(|error| match error {
        None => Unusable::Absent,
        Some(reason) => Unusable::Because(reason),
    })?;
    let entry: Value = serde_json::from_slice(&data).map_err(|_| because("not JSON"))?;
    let version_ok = entry["version"].is_u64() && entry["version"].as_u64() == Some(VERSION);
    if !version_ok {
        return Err(because("not version 1"));
    }
    if entry["server"].as_str() != Some(server) {
        return Err(because("for another server"));
    }
    let (skew, max_age_applied) = (
        entry["skew"].as_i64().unwrap_or(0),
        entry["maxAgeApplied"].as_bool() == Some(true),
    );
    let mut entry = entry;
    let document =
        TokenDocument::from_value(entry["token"].take()).map_err(|_| because("no secret"))?;
    if document.expires_at_unix().is_none() {
        return Err(because("no valid expiresAt"));
    }
    Ok(Cached {
        document,
        skew,
        max_age_applied,
    })
}

/// The file's bytes if it is ours alone: opened without following a symbolic link or blocking
/// on a FIFO, a regular file, owned by our effective user, with no permission for group or
/// others, and not too large. `Err(None)`: there is no such file.
fn read_private(path: &Path) -> Result<Zeroizing<Vec<u8>>, Option<String>> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => None,
            _ if error.raw_os_error() == Some(libc::ELOOP) => Some("a symbolic link".into()),
            _ => Some(error.to_string()),
        })?;
    read_checked(&file).map_err(Some)
}

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

    impl Cache {
        fn write_doc(&self, server: &str, document: &TokenDocument) -> io::Result<()> {
            self.write(server, document, 0, false)
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
            .write_doc(SERVER, &document("2026-01-01T01:00:00Z"))
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
        assert_eq!(hit.document.secret(), "tok");
        assert_eq!((hit.skew, hit.max_age_applied), (0, false));
        assert_eq!(cache.entries().len(), 1);
        assert_eq!(cache.entries()[0].0, SERVER);
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
            .write_doc(SERVER, &document("2026-01-01T00:01:01Z"))
            .unwrap();
        assert!(cache.read(SERVER, NOW).unwrap().is_some());
        cache
            .write_doc(SERVER, &document("2026-01-01T00:01:00Z"))
            .unwrap();
        assert!(cache.read(SERVER, NOW).unwrap().is_none());
        cache
            .write_doc(SERVER, &document("2025-12-31T00:00:00Z"))
            .unwrap();
        assert!(cache.read(SERVER, NOW).unwrap().is_none());
    }

    #[test]
    fn unusable_entries_say_why_and_are_replaced() {
        let scratch = Scratch::new();
        let cache = scratch.cache();
        cache
            .write_doc(SERVER, &document("2026-01-01T01:00:00Z"))
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
            .write_doc(SERVER, &document("2026-01-01T01:00:00Z"))
            .unwrap();
        assert_eq!(mode(&entry), 0o600);
        assert!(cache.read(SERVER, NOW).unwrap().is_some());
    }

    #[test]
    fn links_and_directories_are_not_entries() {
        let scratch = Scratch::new();
        let cache = scratch.cache();
        cache
            .write_doc(SERVER, &document("2026-01-01T01:00:00Z"))
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
            .write_doc(SERVER, &document("2026-01-01T02:00:00Z"))
            .unwrap();
        assert!(fs::symlink_metadata(&entry).unwrap().is_file());
        assert!(
            fs::read_to_string(&elsewhere)
                .unwrap()
                .contains("01:00:00Z")
        );
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
                            .write_doc(SERVER, &document("2026-01-01T01:00:00Z"))
                            .unwrap();
                        let read = cache.read(SERVER, NOW);
                        assert!(matches!(read, Ok(Some(_))), "{:?}", read.err());
                    }
                });
            }
        });
        assert_eq!(fs::read_dir(&cache.dir).unwrap().count(), 1);
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

    #[test]
    fn the_skew_and_the_max_age_mark_are_kept_and_the_skew_shifts_the_expiry() {
        let scratch = Scratch::new();
        let cache = scratch.cache();
        // Expires at 01:00 server time; our clock is 2 minutes ahead of the server's.
        cache
            .write(SERVER, &document("2026-01-01T01:00:00Z"), -120, true)
            .unwrap();
        let stored: Value =
            serde_json::from_slice(&fs::read(cache.entry(SERVER)).unwrap()).unwrap();
        assert_eq!(
            (stored["skew"].as_i64(), stored["maxAgeApplied"].as_bool()),
            (Some(-120), Some(true))
        );
        let cached = cache.read_any(SERVER).unwrap().unwrap();
        assert!(cached.max_age_applied);
        // At NOW on our clock it is NOW - 120 on the server's: 3720 s left.
        assert_eq!(cached.remaining(NOW), Some(3720));
        assert!(cache.read(SERVER, NOW + 3600 + 120 - 61).unwrap().is_some());
        assert!(cache.read(SERVER, NOW + 3600 + 120 - 60).unwrap().is_none());
    }

    #[test]
    fn the_lock_is_exclusive_and_released_on_drop() {
        let scratch = Scratch::new();
        let cache = scratch.cache();
        let held = cache.lock(SERVER, Duration::ZERO, || {}).ok().unwrap();
        let mut waited = false;
        let second = cache.lock(SERVER, Duration::from_millis(120), || waited = true);
        assert!(matches!(second, Err(LockError::TimedOut)));
        assert!(waited);
        let lock_file = cache.dir.join(format!("{}.lock", Cache::stem(SERVER)));
        assert_eq!(mode(&lock_file), 0o600);
        drop(held);
        assert!(
            cache
                .lock(SERVER, Duration::ZERO, || panic!("no wait"))
                .is_ok()
        );
    }

    #[test]
    fn launch_records_round_trip_and_forget_removes_them() {
        let scratch = Scratch::new();
        let cache = scratch.cache();
        assert!(cache.launch(SERVER).is_none());
        let failed = Launch {
            started_at: NOW,
            result: "failed".into(),
            error: Some("no token within 3 s".into()),
        };
        cache.write_launch(SERVER, &failed).unwrap();
        let read = cache.launch(SERVER).unwrap();
        assert_eq!(
            (read.started_at, read.result.as_str(), read.error.as_deref()),
            (NOW, "failed", Some("no token within 3 s"))
        );
        assert!(cache.launch("https://other.example").is_none());
        cache
            .write_doc(SERVER, &document("2026-01-01T01:00:00Z"))
            .unwrap();
        assert!(cache.forget(SERVER).unwrap());
        assert!(cache.launch(SERVER).is_none());
    }
}

//! The entries, `<stem>.json`: what a run that fetched a token stores, and when a stored token
//! is still a hit.

use std::fs;
use std::io;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::files::read_private;
use super::{Cache, VERSION};
use crate::client::document::TokenDocument;

/// A cached token is used only while it stays valid for longer than this.
pub(in crate::client) const MARGIN_SECS: i64 = 60;

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
pub(in crate::client) struct Cached {
    pub document: TokenDocument,
    /// Server clock minus ours, in seconds, as measured at receipt (0 when within 30 s).
    pub skew: i64,
    /// The expiry is `--max-age` after receipt: the token itself carries none.
    pub max_age_applied: bool,
}

impl Cached {
    /// Seconds the token stays valid after `now` (our clock), on the server's clock.
    pub(in crate::client) fn remaining(&self, now: i64) -> Option<i64> {
        Some(self.document.expiry()? - now.saturating_add(self.skew))
    }

    fn is_hit(&self, now: i64) -> bool {
        self.remaining(now).is_some_and(|left| left > MARGIN_SECS)
    }
}

impl Cache {
    /// The cached token of `server` if one is valid for more than [`MARGIN_SECS`] after `now`
    /// (seconds since the epoch). `Err` names why an existing entry cannot be used.
    pub(in crate::client) fn read(&self, server: &str, now: i64) -> Result<Option<Cached>, String> {
        Ok(self.read_any(server)?.filter(|cached| cached.is_hit(now)))
    }

    /// The entry of `server`, valid or not.
    pub(in crate::client) fn read_any(&self, server: &str) -> Result<Option<Cached>, String> {
        match load(&self.entry(server), server) {
            Ok(cached) => Ok(Some(cached)),
            Err(Unusable::Absent) => Ok(None),
            Err(Unusable::Because(reason)) => Err(reason),
        }
    }

    /// Every usable entry, in the order of their server URLs.
    pub(in crate::client) fn entries(&self) -> Vec<(String, Cached)> {
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
    pub(in crate::client) fn write(
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

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use serde_json::Value;

    use crate::client::cache::testing::{NOW, SERVER, Scratch, document, mode};

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
        // A world-readable entry is replaced by a private one on the next write.
        fs::set_permissions(&entry, fs::Permissions::from_mode(0o644)).unwrap();
        cache
            .write_doc(SERVER, &document("2026-01-01T01:00:00Z"))
            .unwrap();
        assert_eq!(mode(&entry), 0o600);
        assert!(cache.read(SERVER, NOW).unwrap().is_some());
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
}

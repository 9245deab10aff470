//! The launch record, `<stem>.launch`: when a browser was last opened for a server and how that
//! went, which keeps browsers from opening more than once per `--min-interval`.

use std::io;

use serde_json::{Value, json};

use super::files::read_private;
use super::{Cache, VERSION};

/// The launch record of a server: when a browser was last opened for it, and how that went.
pub(in crate::client) struct Launch {
    pub started_at: i64,
    /// `running`, `ok` or `failed`.
    pub result: String,
    pub error: Option<String>,
}

impl Cache {
    /// The launch record of `server`; `None` when there is none or it is unusable.
    pub(in crate::client) fn launch(&self, server: &str) -> Option<Launch> {
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
    pub(in crate::client) fn write_launch(&self, server: &str, launch: &Launch) -> io::Result<()> {
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
}

#[cfg(test)]
mod tests {
    use super::Launch;
    use crate::client::cache::testing::{NOW, SERVER, Scratch, document};

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

//! `token2go status [SERVER_URL]` and `token2go logout [SERVER_URL | --all]`: what the cache
//! holds, and forgetting it. Neither opens a browser nor contacts a server.
//!
//! Status prints one line per server (text), or a JSON array of objects `{"server", "cached",
//! "valid", "user"?, "expiresAt"?, "remainingSeconds"?, "maxAgeApplied"?}` (`--format json`).
//! A token is valid while it has more than the cache's 60 s margin left.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::client::cache::{Cache, Cached, MARGIN_SECS};
use crate::client::env::Env;
use crate::client::error::ClientError;
use crate::client::{note, now, usable_cache};

/// Shows the named server's entry, or every entry. `Ok` when the named server (or, without
/// one, any server) has a valid token.
pub(super) fn status(server: Option<&str>, json: bool, env: &Env) -> Result<(), ClientError> {
    let cache = usable_cache(env)
        .map_err(ClientError::CacheRefused)?
        .ok_or_else(|| {
            ClientError::CacheRefused(
                "no cache directory: neither XDG_CACHE_HOME nor HOME is set".into(),
            )
        })?;
    let rows: Vec<(String, Option<Cached>)> = match server {
        Some(server) => vec![(server.to_string(), named(&cache, server))],
        None => cache
            .entries()
            .into_iter()
            .map(|(server, cached)| (server, Some(cached)))
            .collect(),
    };
    let now = now();
    let text = if json {
        let list: Vec<Value> = rows
            .iter()
            .map(|(s, c)| describe_json(s, c.as_ref(), now))
            .collect();
        format!("{}\n", Value::Array(list))
    } else {
        rows.iter()
            .map(|(s, c)| format!("{}\n", describe_text(s, c.as_ref(), now)))
            .collect()
    };
    io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(ClientError::Output)?;
    if rows
        .iter()
        .any(|(_, cached)| is_valid(cached.as_ref(), now))
    {
        return Ok(());
    }
    Err(ClientError::NotCached {
        server: server.unwrap_or("any server").to_string(),
    })
}

fn named(cache: &Cache, server: &str) -> Option<Cached> {
    cache.read_any(server).unwrap_or_else(|reason| {
        note(format_args!(
            "ignoring the cache entry {}: {reason}",
            cache.entry(server).display()
        ));
        None
    })
}

fn is_valid(cached: Option<&Cached>, now: i64) -> bool {
    cached
        .and_then(|c| c.remaining(now))
        .is_some_and(|left| left > MARGIN_SECS)
}

fn describe_json(server: &str, cached: Option<&Cached>, now: i64) -> Value {
    let mut row =
        json!({"server": server, "cached": cached.is_some(), "valid": is_valid(cached, now)});
    if let Some(cached) = cached {
        if let Some(user) = cached.document.user() {
            row["user"] = Value::from(user);
        }
        if let Some(expiry) = cached.document.expiry() {
            row["expiresAt"] = Value::from(crate::time::rfc3339_unix(expiry));
        }
        if let Some(left) = cached.remaining(now) {
            row["remainingSeconds"] = Value::from(left);
        }
        row["maxAgeApplied"] = Value::Bool(cached.max_age_applied);
    }
    row
}

fn describe_text(server: &str, cached: Option<&Cached>, now: i64) -> String {
    let Some(cached) = cached else {
        return format!("{server}  no token cached");
    };
    let user = cached.document.user().unwrap_or_else(|| "-".into());
    let expiry = cached
        .document
        .expiry()
        .map_or("-".into(), crate::time::rfc3339_unix);
    let left = match cached.remaining(now) {
        Some(left) if is_valid(Some(cached), now) => format!("valid, {} left", duration(left)),
        Some(left) if left > 0 => format!("expiring, {} left", duration(left)),
        Some(left) => format!("expired {} ago", duration(-left)),
        None => "no expiry".into(),
    };
    let max_age = if cached.max_age_applied {
        " (no expiry in the token: --max-age)"
    } else {
        ""
    };
    format!("{server}  user {user}  expires {expiry}  {left}{max_age}")
}

/// `1h 02m`, `5m 07s`, `42s`.
fn duration(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s:02}s"),
        _ => format!("{h}h {m:02}m"),
    }
}

/// Deletes the cached token of `server`, or of every server (`None`).
pub(super) fn logout(server: Option<&str>, env: &Env) -> Result<(), ClientError> {
    let cache = match usable_cache(env) {
        Ok(Some(cache)) => cache,
        Ok(None) => {
            note("no cache directory: neither XDG_CACHE_HOME nor HOME is set");
            return Ok(());
        }
        Err(reason) => return Err(ClientError::CacheRefused(reason)),
    };
    let servers: Vec<String> = match server {
        Some(server) => vec![server.to_string()],
        None => cache
            .entries()
            .into_iter()
            .map(|(server, _)| server)
            .collect(),
    };
    let mut deleted = 0;
    for server in &servers {
        match cache.forget(server) {
            Ok(true) => deleted += 1,
            Ok(false) => {}
            Err(error) => {
                return Err(ClientError::Forget {
                    path: cache.entry(server),
                    error,
                });
            }
        }
    }
    match (server, deleted) {
        (Some(_), 1) => note("deleted the cached token"),
        (Some(_), _) => note("no cached token"),
        (None, n) => note(format_args!("deleted {n} cached token(s)")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(307), "5m 07s");
        assert_eq!(duration(3720), "1h 02m");
    }
}

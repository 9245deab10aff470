//! The lock, `<stem>.lock`: an `flock` that one sign-in at a time holds per server, so that
//! concurrent runs (of either client) wait for the token of the first instead of each opening a
//! browser.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use super::Cache;

/// How often a run waiting for another run's lock tries again.
const LOCK_POLL: Duration = Duration::from_millis(50);

/// The server's lock, held until dropped (closing the file releases the `flock`; so does the
/// kernel when the process dies).
pub(in crate::client) struct Lock {
    _file: File,
}

/// Why the lock was not taken.
pub(in crate::client) enum LockError {
    TimedOut,
    Io(io::Error),
}

impl Cache {
    /// Takes the lock of `server`, waiting at most `timeout`; `waiting` runs once if another
    /// run holds it.
    pub(in crate::client) fn lock(
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::LockError;
    use crate::client::cache::Cache;
    use crate::client::cache::testing::{SERVER, Scratch, mode};

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
}

//! How every cache file is read and written: read only when it is ours alone, written through
//! a private temp file and a rename so that a concurrent reader never sees half of it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use super::Cache;
use crate::flow::crypto::random_bytes;
use crate::sys::effective_uid;
use crate::text::lower_hex;

/// Larger files are not cache entries (a 16 KB JWT makes an entry of about 17 KB).
const MAX_ENTRY_BYTES: u64 = 1024 * 1024;

/// The file's bytes if it is ours alone: opened without following a symbolic link or blocking
/// on a FIFO, a regular file, owned by our effective user, with no permission for group or
/// others, and not too large. `Err(None)`: there is no such file.
pub(super) fn read_private(path: &Path) -> Result<Zeroizing<Vec<u8>>, Option<String>> {
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

impl Cache {
    /// Writes `data` to `path` through a private temp file and a rename.
    pub(super) fn write_private(&self, path: &Path, data: &[u8]) -> io::Result<()> {
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

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::MAX_ENTRY_BYTES;
    use crate::client::cache::testing::{NOW, SERVER, Scratch, document};

    #[test]
    fn loose_or_large_files_are_refused() {
        let scratch = Scratch::new();
        let cache = scratch.cache();
        cache
            .write_doc(SERVER, &document("2026-01-01T01:00:00Z"))
            .unwrap();
        let entry = cache.entry(SERVER);
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
}

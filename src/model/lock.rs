//! One writer at a time: an exclusive lock on `<warehouse>/.lock` (the operating
//! system's file lock, `std::fs::File::lock`), which the kernel releases when its
//! holder ends, however it ends, so a lock can never be left stale. The file also
//! holds the writer's pid and start time, so that a second writer that waits up to
//! its timeout can say who holds the lock.
//!
//! The holder removes the file when it releases the lock, so a finished or failed
//! run leaves nothing behind. A writer that locked a file which was meanwhile removed
//! (or replaced) holds nothing: it checks, once it has the lock, that the path still
//! names the very file it locked, and otherwise starts again.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The warehouse's write lock, held until dropped.
pub struct WriteLock {
    file: File,
    path: PathBuf,
    /// Removes the lock file if the process is stopped by a signal.
    _on_signal: crate::interrupt::Registered,
}

impl WriteLock {
    /// Takes the warehouse's write lock, waiting up to `timeout`.
    pub fn acquire(warehouse: &Path, timeout: Duration) -> Result<WriteLock> {
        std::fs::create_dir_all(warehouse).map_err(|e| Error::io("cannot create", warehouse, e))?;
        let path = warehouse.join(".lock");
        let started = Instant::now();
        let mut file = loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| Error::io("cannot open the lock file", &path, e))?;
            match file.try_lock() {
                Ok(()) if names_the_same_file(&path, &file) => break file,
                // Removed or replaced by its holder meanwhile: start again.
                Ok(()) => continue,
                Err(TryLockError::WouldBlock) if started.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::Runtime(format!(
                        "the warehouse `{}` is being written by {}; wait for it, or pass \
                         --lock-timeout SECONDS to wait (the lock ends with that process)",
                        warehouse.display(),
                        holder(&mut file)
                    )))
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::io("cannot lock", &path, e));
                }
            }
        };
        let stamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let note = format!("{} {stamp}\n", std::process::id());
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(note.as_bytes()))
            .map_err(|e| Error::io("cannot write", &path, e))?;
        Ok(WriteLock {
            file,
            _on_signal: crate::interrupt::register(path.clone()),
            path,
        })
    }
}

/// Whether `path` still names the file `file` has open.
#[cfg(unix)]
fn names_the_same_file(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Elsewhere an open file cannot be removed, so the path names it.
#[cfg(not(unix))]
fn names_the_same_file(_path: &Path, _file: &File) -> bool {
    true
}

/// Who holds the lock, as its holder wrote it: `process 123 (since …)`.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut text));
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(pid), Some(since)) => format!("process {pid} (since {since})"),
        _ => "another process".to_string(),
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        // Removed while still held, so that a writer waiting on this file finds it
        // gone once it gets the lock, and starts again on a new one.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_waits_then_names_the_holder_and_a_released_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let held = WriteLock::acquire(dir.path(), Duration::ZERO).unwrap();
        let err = WriteLock::acquire(dir.path(), Duration::from_millis(250))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(&format!("process {}", std::process::id())) && err.contains("since"),
            "{err}"
        );
        drop(held);
        assert!(!dir.path().join(".lock").exists(), "released and removed");
        WriteLock::acquire(dir.path(), Duration::ZERO).unwrap();
    }

    #[test]
    fn a_writer_that_locked_a_removed_file_holds_nothing() {
        // A second writer opened the lock file while the first held it; the first
        // then released it (removing the file) and a third took a new one.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let first = WriteLock::acquire(dir.path(), Duration::ZERO).unwrap();
        let second = File::open(&path).unwrap();
        drop(first);
        let third = WriteLock::acquire(dir.path(), Duration::ZERO).unwrap();
        // The second gets the old file's lock, and must see it names no file now.
        second.try_lock().unwrap();
        assert!(!names_the_same_file(&path, &second));
        assert!(names_the_same_file(&path, &third.file));
    }

    #[test]
    fn a_lock_file_left_by_a_dead_writer_is_no_lock() {
        // What a killed writer leaves: the file with its pid, and no lock (the kernel
        // released it).
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".lock"), "1 2026-01-01T00:00:00Z\n").unwrap();
        WriteLock::acquire(dir.path(), Duration::ZERO).unwrap();
    }
}

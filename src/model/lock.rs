//! One writer at a time: `<warehouse>/.lock` holds the writer's pid and start time.
//! A second writer waits up to its timeout, then says who holds the lock; a lock
//! whose process is gone is stale and taken over.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

pub struct WriteLock {
    path: PathBuf,
}

fn alive(pid: u32) -> bool {
    // Linux: a live process has /proc/<pid>. Elsewhere, assume it is alive.
    if Path::new("/proc/self").exists() {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

impl WriteLock {
    /// Takes the warehouse's write lock, waiting up to `timeout`.
    pub fn acquire(warehouse: &Path, timeout: Duration) -> Result<WriteLock> {
        std::fs::create_dir_all(warehouse).map_err(|e| Error::io("cannot create", warehouse, e))?;
        let path = warehouse.join(".lock");
        let started = Instant::now();
        loop {
            let stamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            match create(&path, &format!("{} {stamp}\n", std::process::id())) {
                Ok(()) => return Ok(WriteLock { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let mut parts = text.split_whitespace();
                    let pid = parts.next().and_then(|p| p.parse::<u32>().ok());
                    let since = parts.next().unwrap_or("an unknown time").to_string();
                    match pid {
                        Some(pid) if alive(pid) && pid != std::process::id() => {
                            if started.elapsed() >= timeout {
                                return Err(Error::Runtime(format!(
                                    "the warehouse `{}` is being written by process {pid} (since {since}); \
                                     wait for it, or pass --lock-timeout SECONDS to wait",
                                    warehouse.display()
                                )));
                            }
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        // The holder died (or the file is unreadable): a stale lock.
                        _ => take_over(&path, &text),
                    }
                }
                Err(e) => return Err(Error::io("cannot create", &path, e)),
            }
        }
    }
}

/// Creates the lock file with its content in one step (a hard link of a finished
/// file), so that another writer never reads a lock without its holder.
fn create(path: &Path, content: &str) -> std::io::Result<()> {
    let tmp = sibling(path, "tmp");
    let written = std::fs::write(&tmp, content)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match written {
        Err(e)
            if e.kind() != std::io::ErrorKind::AlreadyExists
                && e.kind() != std::io::ErrorKind::NotFound =>
        {
            // No hard links here: create it in place.
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)?;
            file.write_all(content.as_bytes())?;
            file.sync_all()
        }
        other => other,
    }
}

/// Removes a stale lock whose content is `stale`. It is first moved aside, so that
/// when another writer has meanwhile replaced it with a live lock, that lock is put
/// back instead of removed.
fn take_over(path: &Path, stale: &str) {
    let aside = sibling(path, "stale");
    if std::fs::rename(path, &aside).is_ok() {
        let now = std::fs::read_to_string(&aside).unwrap_or_default();
        if now != stale {
            let _ = std::fs::hard_link(&aside, path);
        }
        let _ = std::fs::remove_file(&aside);
    }
}

/// `.lock.<what>-<pid>` beside the lock.
fn sibling(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!("{name}.{what}-{}", std::process::id()))
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

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
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    let stamp =
                        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                    writeln!(file, "{} {stamp}", std::process::id())
                        .and_then(|_| file.sync_all())
                        .map_err(|e| Error::io("cannot write", &path, e))?;
                    return Ok(WriteLock { path });
                }
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
                        _ => {
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(Error::io("cannot create", &path, e)),
            }
        }
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

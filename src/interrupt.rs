//! What a run leaves behind when it is stopped by Ctrl-C or SIGTERM: the folders and
//! files it registered (a version being written, a report being written, the
//! bundled sample's temporary warehouse, the lock file) are removed before the
//! process exits, as they would have been had it ended on its own. A SIGKILL cannot
//! be caught; the next run removes what that leaves.

use std::path::PathBuf;
use std::sync::Mutex;

static PENDING: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());
static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A registered path; dropped, it is no longer removed on a signal.
pub struct Registered(u64);

/// Removes `path` (a folder or a file) if the process is stopped by a signal while
/// the returned value lives.
pub fn register(path: PathBuf) -> Registered {
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    PENDING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((id, path));
    Registered(id)
}

impl Drop for Registered {
    fn drop(&mut self) {
        PENDING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(id, _)| *id != self.0);
    }
}

/// Removes what is registered, then exits the way a process stopped by `signal`
/// does (exit code 128 + the signal's number), on a thread that waits for SIGINT and
/// SIGTERM. Call once, from `main`.
pub fn install() {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
            return;
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                clean_up();
                std::process::exit(128 + signal);
            }
        });
    }
}

/// Removes every registered path (twice over: a thread may still be adding files to
/// a folder while it is removed).
fn clean_up() {
    let paths: Vec<PathBuf> = PENDING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(_, p)| p.clone())
        .collect();
    remove(&paths);
}

fn remove(paths: &[PathBuf]) {
    for _ in 0..2 {
        for path in paths.iter().rev() {
            let _ = match path.is_dir() {
                true => std::fs::remove_dir_all(path),
                false => std::fs::remove_file(path),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(path: &PathBuf) -> bool {
        PENDING.lock().unwrap().iter().any(|(_, p)| p == path)
    }

    #[test]
    fn registered_paths_are_removed_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (file, folder) = (dir.path().join("lock"), dir.path().join("tmp"));
        std::fs::create_dir_all(folder.join("sub")).unwrap();
        std::fs::write(&file, "x").unwrap();
        let registered = register(file.clone());
        assert!(pending(&file));
        drop(registered);
        assert!(!pending(&file));
        remove(&[file.clone(), folder.clone()]);
        assert!(!file.exists() && !folder.exists());
    }
}

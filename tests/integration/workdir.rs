//! A scratch folder that runs the real `funnel` binary and explains failures.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

pub struct Workdir {
    dir: tempfile::TempDir,
}

/// What one run of the binary printed, with the exit code.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    described: String,
}

impl Run {
    fn new(args: &[&str], cwd: &Path, output: Output) -> Run {
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        let code = output.status.code().unwrap_or(-1);
        let described = format!(
            "funnel {}\ncwd: {}\nexit: {code}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            args.join(" "),
            cwd.display()
        );
        Run {
            code,
            stdout,
            stderr,
            described,
        }
    }

    /// Panics with everything printed unless the run exited with `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.described);
        self
    }

    pub fn ok(self) -> Run {
        self.expect_code(0)
    }
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `contents` to `rel`, creating folders.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(rel);
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        std::fs::write(&path, contents).expect("write");
        path
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Runs `funnel ARGS` in this folder, with progress bars off.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = Command::cargo_bin("funnel")
            .expect("binary built")
            .current_dir(self.path())
            .env_remove("RUST_LOG")
            .env("COLUMNS", "100")
            .args(args)
            .output()
            .expect("run funnel");
        Run::new(args, self.path(), output)
    }

    /// Runs `funnel ARGS` with extra environment variables.
    pub fn run_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = Command::cargo_bin("funnel").expect("binary built");
        cmd.current_dir(self.path())
            .env_remove("RUST_LOG")
            .env("COLUMNS", "100")
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::new(args, self.path(), cmd.output().expect("run funnel"))
    }

    /// Runs `funnel sql QUERY --format csv` and returns stdout.
    pub fn sql(&self, query: &str) -> String {
        self.run(&["sql", query, "--format", "csv"]).ok().stdout
    }
}

/// A snapshot of every file under `dir` (relative path -> bytes), for "unchanged" checks.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(base).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.push((rel, target.display().to_string().into_bytes()));
            } else if meta.is_dir() {
                walk(base, &path, out);
            } else {
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Whether no process holds the write lock of the warehouse at `warehouse` (the lock
/// is the operating system's on `.lock`; a killed writer's file may stay, unlocked).
pub fn lock_is_free(warehouse: &Path) -> bool {
    match std::fs::File::open(warehouse.join(".lock")) {
        Err(_) => true,
        Ok(file) => file.try_lock().is_ok(),
    }
}

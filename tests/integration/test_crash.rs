//! A killed ingest leaves the warehouse as it was before or after the run, never a
//! mix, and the next run needs no cleanup.

use std::time::{Duration, Instant};

use crate::workdir::Workdir;

/// Copies a warehouse folder, symlinks as symlinks.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = std::fs::symlink_metadata(&src).unwrap();
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if meta.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Row counts of the main tables, as the warehouse answers them now.
fn state(wd: &Workdir) -> String {
    ["leads", "touches", "opportunities", "lead_stage_events"]
        .map(|t| wd.sql(&format!("SELECT count(*) AS {t} FROM {t}")))
        .concat()
}

#[test]
fn sigkill_at_any_moment_leaves_before_or_after() {
    let wd = Workdir::new();
    wd.run(&[
        "generate", "--out", "a", "--leads", "1500", "--seed", "1", "-q",
    ])
    .ok();
    wd.run(&[
        "generate", "--out", "b", "--leads", "2500", "--seed", "2", "-q",
    ])
    .ok();
    wd.run(&["ingest", "a", "-q"]).ok();
    let before = state(&wd);
    let pristine = wd.join("pristine");
    copy_tree(&wd.join("data/warehouse"), &pristine);
    // The state after B, measured on a separate warehouse.
    let other = Workdir::new();
    other
        .run(&[
            "generate", "--out", "a", "--leads", "1500", "--seed", "1", "-q",
        ])
        .ok();
    other
        .run(&[
            "generate", "--out", "b", "--leads", "2500", "--seed", "2", "-q",
        ])
        .ok();
    other.run(&["ingest", "a", "-q"]).ok();
    let t0 = Instant::now();
    other.run(&["ingest", "b", "-q"]).ok();
    let full = t0.elapsed();
    let after = state(&other);
    assert_ne!(before, after);

    let bin = assert_cmd::cargo::cargo_bin("funnel");
    let mut seed: u64 = 0x5eed;
    let mut landed = 0;
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut kills = 0;
    // A run measured while the machine was busy (other tests run in parallel) is
    // longer than the runs that follow: each kill that came after the commit
    // shortens the window, so that the kills keep landing inside runs.
    let mut full = full;
    while kills < 50 && Instant::now() < deadline {
        // A pseudo-random moment between 0 and 1.2 × a full run.
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let fraction = (seed >> 33) as f64 / (1u64 << 31) as f64;
        let delay = full.mul_f64(fraction * 1.2);
        // Every kill interrupts the step from "before" to "after".
        std::fs::remove_dir_all(wd.join("data/warehouse")).unwrap();
        copy_tree(&pristine, &wd.join("data/warehouse"));
        let mut child = std::process::Command::new(&bin)
            .current_dir(wd.path())
            .args(["ingest", "b", "-q"])
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        let now = state(&wd);
        assert!(
            now == before || now == after,
            "after a kill at {delay:?} the warehouse is a mix:\n{now}"
        );
        if now == after {
            landed += 1;
            full = full.mul_f64(0.8);
        }
        // Nothing half-written is visible, and no temporary version survives the next run.
        let manifest = wd.read("data/warehouse/current/_manifest.json");
        serde_json::from_str::<serde_json::Value>(&manifest).expect("manifest is whole");
    }
    assert!(
        kills >= 50 || Instant::now() >= deadline,
        "only {kills} kills"
    );
    assert!(kills >= 20, "too few kills in the time bound: {kills}");
    // After a kill, the next run succeeds without cleanup and leaves no temporary
    // folders.
    std::fs::remove_dir_all(wd.join("data/warehouse")).unwrap();
    copy_tree(&pristine, &wd.join("data/warehouse"));
    let mut child = std::process::Command::new(&bin)
        .current_dir(wd.path())
        .args(["ingest", "b", "-q"])
        .spawn()
        .unwrap();
    std::thread::sleep(full / 2);
    let _ = child.kill();
    child.wait().unwrap();
    wd.run(&["ingest", "b", "-q"]).ok();
    assert_eq!(state(&wd), after);
    let leftovers: Vec<String> = std::fs::read_dir(wd.join("data/warehouse/versions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(crate::workdir::lock_is_free(&wd.join("data/warehouse")));
    assert!(landed < kills, "no kill interrupted a run");
    eprintln!("{kills} kills, {landed} of the checks saw the finished run");
}

/// Runs `funnel ARGS` in `wd` with a file-size limit of `kib` KiB (writes past it
/// fail with EFBIG, as on a full disk; SIGXFSZ is ignored so the process sees the
/// error instead of dying).
fn run_with_file_limit(wd: &Workdir, kib: u32, args: &str) -> std::process::Output {
    let bin = assert_cmd::cargo::cargo_bin("funnel");
    std::process::Command::new("bash")
        .current_dir(wd.path())
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {kib}; exec '{}' {args}",
            bin.display()
        ))
        .output()
        .expect("run bash")
}

#[test]
fn a_failed_write_leaves_the_warehouse_unchanged() {
    let wd = Workdir::new();
    wd.run(&[
        "generate", "--out", "a", "--leads", "300", "--seed", "1", "-q",
    ])
    .ok();
    wd.run(&[
        "generate", "--out", "b", "--leads", "600", "--seed", "2", "-q",
    ])
    .ok();
    wd.run(&["ingest", "a", "-q"]).ok();
    let before = crate::workdir::tree(&wd.join("data"));
    let counts = state(&wd);

    // Staged rows and table parts of `b` are larger than 64 KiB: the write fails.
    let out = run_with_file_limit(&wd, 64, "ingest b");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("File too large") && stderr.contains("cannot"),
        "the error names the write that failed: {stderr}"
    );
    assert_eq!(crate::workdir::tree(&wd.join("data")), before);
    assert_eq!(state(&wd), counts);

    // With room again, the same run lands, with no cleanup by hand.
    wd.run(&["ingest", "b", "-q"]).ok();
    assert_ne!(state(&wd), counts);
}

#[test]
fn an_unwritable_warehouse_is_a_clear_error() {
    // A warehouse path that cannot be a folder (a file is in the way): the run stops
    // before reading, naming the path, and the file is untouched.
    let wd = Workdir::new();
    wd.write("export/leads.csv", "lead_id,created_at\nL1,2025-01-01\n");
    wd.write("blocked", "not a folder");
    let run = wd
        .run(&["--warehouse", "blocked/warehouse", "ingest", "export"])
        .expect_code(1);
    assert!(run.stderr.contains("blocked/warehouse"), "{}", run.stderr);
    assert_eq!(wd.read("blocked"), "not a folder");
}

#[test]
fn a_failed_report_leaves_the_previous_report_of_that_date_whole() {
    let wd = Workdir::new();
    wd.run(&[
        "generate", "--out", "a", "--leads", "300", "--seed", "1", "-q",
    ])
    .ok();
    wd.run(&["ingest", "a", "-q"]).ok();
    wd.run(&["report", "--out", "reports", "-q"]).ok();
    let before = crate::workdir::tree(&wd.join("reports"));
    assert!(before.iter().any(|(p, _)| p.ends_with("index.html")));

    // A PNG chart is larger than 64 KiB: the second report fails while writing.
    let out = run_with_file_limit(&wd, 64, "report --out reports -q");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        crate::workdir::tree(&wd.join("reports")),
        before,
        "the previous report, `latest` and nothing else"
    );
    // With room again it lands, replacing the report of that date.
    wd.run(&["report", "--out", "reports", "-q"]).ok();
    let after = crate::workdir::tree(&wd.join("reports"));
    assert_eq!(
        after.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        before.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
}

#[test]
fn sigterm_during_an_ingest_leaves_no_temporary_folder_and_no_lock() {
    let wd = Workdir::new();
    wd.run(&[
        "generate", "--out", "a", "--leads", "30000", "--seed", "3", "-q",
    ])
    .ok();
    let bin = assert_cmd::cargo::cargo_bin("funnel");
    let mut interrupted = 0;
    for delay_ms in [300, 600, 900, 1200] {
        let mut child = std::process::Command::new(&bin)
            .current_dir(wd.path())
            .args(["ingest", "a", "-q"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        if status.code() == Some(143) {
            interrupted += 1;
        }
        let versions = wd.join("data/warehouse/versions");
        let leftovers: Vec<String> = std::fs::read_dir(&versions)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                    .filter(|n| n.starts_with(".tmp"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(leftovers.is_empty(), "after {delay_ms} ms: {leftovers:?}");
        assert!(
            !wd.join("data/warehouse/.lock").exists(),
            "after {delay_ms} ms"
        );
    }
    assert!(interrupted > 0, "no SIGTERM arrived while an ingest ran");
}

#[test]
fn a_report_leaves_another_reports_folder_in_progress_alone() {
    // Reports take no lock: a second one writing into the same folder must not
    // remove the first one's folder in progress (a day-old leftover it may).
    let wd = Workdir::new();
    wd.run(&[
        "generate", "--out", "a", "--leads", "300", "--seed", "1", "-q",
    ])
    .ok();
    wd.run(&["ingest", "a", "-q"]).ok();
    let busy = wd.join("reports/.tmp-2026-01-01-999999");
    std::fs::create_dir_all(busy.join("charts")).unwrap();
    let old = wd.join("reports/.tmp-2025-01-01-999998");
    std::fs::create_dir_all(&old).unwrap();
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 24 * 3600);
    std::fs::File::open(&old)
        .unwrap()
        .set_modified(day_ago)
        .unwrap();
    wd.run(&["report", "--out", "reports", "-q"]).ok();
    assert!(
        busy.exists(),
        "another report's folder in progress was removed"
    );
    assert!(!old.exists(), "a day-old leftover stays");
}

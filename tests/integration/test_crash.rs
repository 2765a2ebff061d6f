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
    assert!(!wd.join("data/warehouse/.lock").exists());
    assert!(landed < kills, "no kill interrupted a run");
    eprintln!("{kills} kills, {landed} of the checks saw the finished run");
}

//! The warehouse never builds on, or answers from, damaged files: a missing or
//! broken `current`, a missing table, a changed or cut part file, and a replace that
//! would empty a table are refused with the remedy; `funnel warehouse` verifies,
//! lists and repairs.

use crate::fixture::copy_fixture;
use crate::workdir::Workdir;

/// A workdir with the `funnel` fixture ingested twice (versions v000001, v000002).
fn two_versions() -> Workdir {
    let wd = Workdir::new();
    copy_fixture(&wd, "funnel");
    wd.run(&["ingest", "export", "-q"]).ok();
    wd.run(&["ingest", "export", "-q"]).ok();
    wd
}

fn leads(wd: &Workdir) -> String {
    wd.sql("SELECT count(*) AS n FROM leads")
}

/// The first part file of `table` in version `id`.
fn part(wd: &Workdir, id: &str, table: &str) -> std::path::PathBuf {
    wd.join(&format!(
        "data/warehouse/versions/{id}/{table}/part-0.parquet"
    ))
}

#[test]
fn a_missing_current_is_refused_everywhere_and_repair_repoints() {
    let wd = two_versions();
    let before = leads(&wd);
    std::fs::remove_file(wd.join("data/warehouse/current")).unwrap();
    // An ingest would build on nothing and, once old versions are pruned, lose them.
    let run = wd.run(&["ingest", "export"]).expect_code(1);
    assert!(
        run.stderr.contains("`current` is missing")
            && run.stderr.contains("v000002")
            && run.stderr.contains("funnel warehouse repair"),
        "{}",
        run.stderr
    );
    assert!(!wd.join("data/warehouse/versions/v000003").exists());
    // Readers do not fall back to the bundled sample, quiet or not.
    for args in [
        &["metrics", "waterfall", "-q"][..],
        &["sql", "SELECT 1 AS x", "-q"],
        &["report", "-q"],
    ] {
        let run = wd.run(args).expect_code(1);
        assert!(run.stderr.contains("damaged"), "{}", run.stderr);
    }
    wd.run(&["warehouse", "repair", "-q"]).ok();
    assert_eq!(leads(&wd), before);
    wd.run(&["ingest", "export", "-q"]).ok();
    assert_eq!(leads(&wd), before);
}

#[test]
fn a_current_that_is_a_plain_file_or_dangling_is_refused() {
    let wd = two_versions();
    let current = wd.join("data/warehouse/current");
    std::fs::remove_file(&current).unwrap();
    std::fs::write(&current, "v000002").unwrap();
    let run = wd.run(&["ingest", "export"]).expect_code(1);
    assert!(run.stderr.contains("not a link"), "{}", run.stderr);
    std::fs::remove_file(&current).unwrap();
    std::os::unix::fs::symlink("versions/v000009", &current).unwrap();
    let run = wd.run(&["metrics", "waterfall"]).expect_code(1);
    assert!(
        run.stderr.contains("versions/v000009") && run.stderr.contains("v000002"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_missing_table_is_refused_and_not_rebuilt_from_the_input_alone() {
    let wd = two_versions();
    std::fs::remove_dir_all(wd.join("data/warehouse/versions/v000002/touches")).unwrap();
    let run = wd.run(&["ingest", "export"]).expect_code(1);
    assert!(
        run.stderr.contains("`touches`") && run.stderr.contains("v000001"),
        "{}",
        run.stderr
    );
    let run = wd.run(&["warehouse", "verify"]).expect_code(1);
    assert!(run.stdout.contains("v000002: DAMAGED"), "{}", run.stdout);
    wd.run(&["warehouse", "repair", "-q"]).ok();
    wd.run(&["warehouse", "verify"]).ok();
}

#[test]
fn a_changed_or_cut_part_file_is_named_and_no_cache_answers_for_it() {
    let wd = two_versions();
    // One flipped bit, in the middle of the leads' file.
    let path = part(&wd, "v000002", "leads");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    // The metric would read the derived lead funnel, not the leads: still refused.
    let run = wd.run(&["metrics", "waterfall"]).expect_code(1);
    assert!(
        run.stderr.contains("leads/part-0.parquet") && run.stderr.contains("BLAKE3"),
        "{}",
        run.stderr
    );
    // A file cut short: exit 1 (not the usage code), the file named.
    std::fs::write(&path, &bytes[..mid]).unwrap();
    let run = wd
        .run(&["sql", "SELECT count(*) FROM leads"])
        .expect_code(1);
    assert!(
        run.stderr.contains("leads/part-0.parquet") && run.stderr.contains("bytes"),
        "{}",
        run.stderr
    );
    wd.run(&["warehouse", "verify"]).expect_code(1);
    wd.run(&["warehouse", "repair", "-q"]).ok();
    wd.run(&["warehouse", "verify", "--all"]).expect_code(1);
    wd.run(&["metrics", "waterfall", "-q"]).ok();
}

#[test]
fn a_replace_that_would_empty_a_table_needs_allow_empty() {
    let wd = two_versions();
    let before = leads(&wd);
    let header = wd.read("export/leads.csv");
    let header = header.lines().next().unwrap();
    wd.write("empty/leads.csv", format!("{header}\n"));
    let run = wd.run(&["ingest", "empty", "--replace"]).expect_code(3);
    assert!(
        run.stderr.contains("--allow-empty") && run.stderr.contains("`leads`"),
        "{}",
        run.stderr
    );
    assert_eq!(leads(&wd), before);
    wd.run(&["ingest", "empty", "--replace", "--allow-empty", "-q"])
        .ok();
    assert_eq!(leads(&wd), "n\n0\n");
}

#[test]
fn versions_lists_each_version_with_its_state() {
    let wd = two_versions();
    let run = wd.run(&["warehouse", "versions"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(lines[1].starts_with("v000002") && lines[1].contains('*'));
    assert!(lines[2].starts_with("v000001") && lines[2].contains("yes"));
}

#[test]
fn a_warehouse_folder_without_versions_uses_the_sample_and_says_so() {
    let wd = Workdir::new();
    std::fs::create_dir_all(wd.join("data/warehouse")).unwrap();
    let run = wd.run(&["metrics", "waterfall"]).ok();
    assert!(
        run.stderr.contains("holds no ingested version yet")
            && run.stderr.contains("bundled sample"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_event_dated_in_the_future_does_not_move_the_default_as_of() {
    let wd = Workdir::new();
    copy_fixture(&wd, "funnel");
    wd.run(&["ingest", "export", "-q"]).ok();
    let as_of = |wd: &Workdir| {
        let doc = crate::fixture::metric(wd, &["waterfall"]);
        doc["as_of"].as_str().unwrap().to_string()
    };
    let before = as_of(&wd);
    // A typo in a year: 2062 instead of 2026.
    wd.write(
        "late/lead_stage_events.csv",
        "lead_id,stage,entered_at\nL1,mql,2062-01-05T10:00:00Z\n",
    );
    wd.run(&["ingest", "late", "-q"]).ok();
    assert_eq!(as_of(&wd), before);
    let lint = crate::fixture::metric(&wd, &["lint"]);
    let row = crate::fixture::rows(&lint)
        .iter()
        .find(|r| r["check"] == "event_in_future")
        .cloned()
        .unwrap();
    assert_eq!(row["count"], 1);
    assert_eq!(row["examples"][0], "L1");
    // --as-of still reaches it.
    let doc = crate::fixture::metric(&wd, &["waterfall", "--as-of", "2062-12-31"]);
    assert!(doc["as_of"].as_str().unwrap().starts_with("2062-12-31"));
}

#[test]
fn a_version_being_read_is_not_pruned() {
    let wd = Workdir::new();
    copy_fixture(&wd, "funnel");
    wd.write("funnel.toml", "[warehouse]\nkeep_versions = 1\n");
    wd.run(&["ingest", "export", "-q"]).ok();
    // A reader's lease on v000001, as `funnel metrics` takes it while it reads.
    let v1 = wd.join("data/warehouse/versions/v000001");
    let lease = std::fs::File::open(&v1).unwrap();
    lease.lock_shared().unwrap();
    wd.run(&["ingest", "export", "-q"]).ok();
    assert!(v1.join("_manifest.json").exists(), "pruned while read");
    drop(lease);
    wd.run(&["ingest", "export", "-q"]).ok();
    assert!(!v1.exists(), "pruned once no longer read");
    let ids: Vec<String> = std::fs::read_dir(wd.join("data/warehouse/versions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(ids, ["v000003"]);
}

#[test]
fn a_change_that_keeps_the_file_time_is_found_by_verify_and_by_ingest() {
    // Bit rot, or a tool that restores times: size and time as recorded. Reads take
    // the quick check's word (size and time); `warehouse verify` and every ingest
    // hash every file, and refuse.
    let wd = two_versions();
    let path = part(&wd, "v000002", "leads");
    let time = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(time)
        .unwrap();
    let run = wd.run(&["warehouse", "verify"]).expect_code(1);
    assert!(run.stdout.contains("BLAKE3"), "{}", run.stdout);
    let run = wd.run(&["ingest", "export"]).expect_code(1);
    assert!(
        run.stderr.contains("leads/part-0.parquet") && run.stderr.contains("v000001"),
        "{}",
        run.stderr
    );
}

/// A field without its closing quote made the reader buffer the rest of the file as
/// one record (500 MB took 7.2 GB). Past `[warehouse] max_record_mib` (default 16)
/// the file is refused naming the line and the setting, and nothing is written; a
/// raised limit reads it.
#[test]
fn a_record_longer_than_the_limit_is_refused_with_its_line() {
    let wd = Workdir::new();
    let long = "x".repeat(3 << 20);
    wd.write(
        "export/leads.csv",
        format!("lead_id,created_at,source\nL1,2025-01-05T00:00:00Z,web\nL2,2025-01-06T00:00:00Z,\"{long}\nL3,2025-01-07T00:00:00Z,web\n"),
    );
    wd.write("funnel.toml", "[warehouse]\nmax_record_mib = 1\n");
    let run = wd.run(&["ingest", "export"]).expect_code(3);
    assert!(
        run.stderr.contains("leads.csv")
            && run.stderr.contains("line 3: a record longer than 1 MiB")
            && run.stderr.contains("max_record_mib"),
        "{}",
        run.stderr
    );
    assert!(!wd.join("data/warehouse/current").exists());
    // A record of 3 MiB (closed quote) under a 4 MiB limit loads.
    wd.write(
        "export/leads.csv",
        format!("lead_id,created_at,source\nL1,2025-01-05T00:00:00Z,\"{long}\"\nL3,2025-01-07T00:00:00Z,web\n"),
    );
    wd.write("funnel.toml", "[warehouse]\nmax_record_mib = 4\n");
    wd.run(&["ingest", "export", "-q"]).ok();
    assert_eq!(wd.sql("SELECT count(*) AS n FROM leads"), "n\n2\n");
}

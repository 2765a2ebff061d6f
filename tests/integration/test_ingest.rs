use crate::workdir::{tree, Workdir};

const LEADS: &str = "\
lead_id,created_at,source,campaign_id,owner_id,segment,region,account_id,updated_at
L1,2025-01-02T10:00:00Z,webinar,C1,R1,SMB,NA,A1,2025-01-05T00:00:00Z
L2,2025-01-03 09:30:00,organic,,R2,SMB,EMEA,A2,
L3,2025-01-04,partner,,R1,Enterprise,NA,A3,2025-01-04T00:00:00Z
";

const EVENTS: &str = "\
lead_id,stage,entered_at
L1,lead,2025-01-02T10:00:00Z
L1,mql,2025-01-03T10:00:00+01:00
L2,New,2025-01-03T09:30:00Z
";

fn warehouse_tables(wd: &Workdir) -> Vec<String> {
    ["leads", "lead_stage_events", "touches", "opportunities"]
        .iter()
        .map(|t| {
            let q = format!("SELECT * FROM {t}");
            let run = wd.run(&["sql", &q, "--format", "csv", "-q"]);
            if run.code == 0 {
                run.stdout
            } else {
                format!("({t} absent)")
            }
        })
        .collect()
}

#[test]
fn ingest_loads_types_and_reports_per_table() {
    let wd = Workdir::new();
    wd.write("export/leads.csv", LEADS);
    wd.write("export/lead_stage_events.csv", EVENTS);
    let run = wd.run(&["ingest", "export"]).ok();
    assert!(
        run.stderr
            .contains("leads: 3 read, 3 loaded, 0 quarantined"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("lead_stage_events: 3 read"),
        "{}",
        run.stderr
    );
    assert!(wd
        .join("data/warehouse/current/leads/part-0.parquet")
        .is_file());
    assert!(wd.join("data/warehouse/current/_manifest.json").is_file());

    // Timestamps land in UTC; naive ones are read in calendar.timezone (UTC here);
    // a bare date is midnight; empty optional values are null.
    let out =
        wd.sql("SELECT lead_id, created_at, campaign_id, updated_at FROM leads ORDER BY lead_id");
    assert_eq!(
        out,
        "lead_id,created_at,campaign_id,updated_at\n\
         L1,2025-01-02T10:00:00Z,C1,2025-01-05T00:00:00Z\n\
         L2,2025-01-03T09:30:00Z,,\n\
         L3,2025-01-04T00:00:00Z,,2025-01-04T00:00:00Z\n"
    );
    // The stored stage is the exported value; an offset is converted to UTC.
    let out = wd.sql(
        "SELECT stage, entered_at FROM lead_stage_events WHERE lead_id = 'L1' ORDER BY entered_at",
    );
    assert_eq!(
        out,
        "stage,entered_at\nlead,2025-01-02T10:00:00Z\nmql,2025-01-03T09:00:00Z\n"
    );

    // The Parquet schema is the declared one: UTC microsecond timestamps, dates,
    // floats, text.
    use polars::prelude::{DataType, TimeUnit, TimeZone};
    let df = funnel::model::warehouse::read_parquet(
        &wd.join("data/warehouse/current/leads/part-0.parquet"),
    )
    .unwrap();
    assert_eq!(
        df.column("created_at").unwrap().dtype(),
        &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
    );
    assert_eq!(df.column("source").unwrap().dtype(), &DataType::String);
}

#[test]
fn ingesting_twice_gives_identical_tables() {
    let wd = Workdir::new();
    wd.write("export/leads.csv", LEADS);
    wd.write("export/lead_stage_events.csv", EVENTS);
    wd.write(
        "export/touches.csv",
        "lead_id,occurred_at,channel,action,team,campaign_id\n\
         L1,2025-01-01T10:00:00Z,email,open,marketing,C1\n\
         L1,2025-01-01T10:00:00Z,email,open,marketing,C1\n\
         L2,2025-01-02T10:00:00Z,phone,call,sales,\n",
    );
    wd.run(&["ingest", "export"]).ok();
    let first = warehouse_tables(&wd);
    let run = wd.run(&["ingest", "export"]).ok();
    assert!(run.stderr.contains("3 merged"), "{}", run.stderr);
    assert_eq!(first, warehouse_tables(&wd));
    // Two identical touch rows without an id are one touch (derived id, SPEC §2).
    let out = wd.sql("SELECT count(*) AS n FROM touches");
    assert_eq!(out, "n\n2\n");
    let ids = wd.sql("SELECT touch_id FROM touches ORDER BY touch_id");
    for id in ids.lines().skip(1) {
        assert_eq!(id.len(), 64, "derived ids are SHA-256 hex: {id}");
    }
}

#[test]
fn merge_precedence_follows_updated_at_then_order() {
    let wd = Workdir::new();
    // Within one file: the row with the later updated_at wins even though it comes
    // first; a row with updated_at beats one without; otherwise the later row wins.
    wd.write(
        "a/leads.csv",
        "lead_id,created_at,source,updated_at\n\
         L1,2025-01-01T00:00:00Z,newest,2025-03-01T00:00:00Z\n\
         L1,2025-01-01T00:00:00Z,older,2025-02-01T00:00:00Z\n\
         L2,2025-01-01T00:00:00Z,dated,2025-02-01T00:00:00Z\n\
         L2,2025-01-01T00:00:00Z,undated,\n\
         L3,2025-01-01T00:00:00Z,first,\n\
         L3,2025-01-01T00:00:00Z,second,\n",
    );
    wd.run(&["ingest", "a"]).ok();
    assert_eq!(
        wd.sql("SELECT lead_id, source FROM leads ORDER BY lead_id"),
        "lead_id,source\nL1,newest\nL2,dated\nL3,second\n"
    );
    // A later ingest with an older updated_at does not override; a newer one does;
    // without updated_at on either side the later ingest wins.
    wd.write(
        "b/leads.csv",
        "lead_id,created_at,source,updated_at\n\
         L1,2025-01-01T00:00:00Z,stale,2025-01-15T00:00:00Z\n\
         L2,2025-01-01T00:00:00Z,fresh,2025-04-01T00:00:00Z\n\
         L3,2025-01-01T00:00:00Z,third,\n\
         L4,2025-01-01T00:00:00Z,new,\n",
    );
    wd.run(&["ingest", "b"]).ok();
    assert_eq!(
        wd.sql("SELECT lead_id, source FROM leads ORDER BY lead_id"),
        "lead_id,source\nL1,newest\nL2,fresh\nL3,third\nL4,new\n"
    );
}

#[test]
fn replace_swaps_tables_present_in_the_input() {
    let wd = Workdir::new();
    wd.write("a/leads.csv", LEADS);
    wd.write("a/lead_stage_events.csv", EVENTS);
    wd.run(&["ingest", "a"]).ok();
    wd.write("b/leads.csv", "lead_id,created_at\nL9,2025-02-01\n");
    wd.run(&["ingest", "--replace", "b"]).ok();
    assert_eq!(wd.sql("SELECT lead_id FROM leads"), "lead_id\nL9\n");
    // Tables not in the input are kept as they were.
    assert_eq!(
        wd.sql("SELECT count(*) AS n FROM lead_stage_events"),
        "n\n3\n"
    );
}

#[test]
fn bad_rows_are_quarantined_with_original_values_line_and_reason() {
    let wd = Workdir::new();
    // Line 2-3: a quoted field with an embedded newline (one record on two lines),
    // so later records' line numbers differ from their record numbers.
    wd.write(
        "export/opportunities.csv",
        "opportunity_id,lead_id,created_at,status,amount,stage\n\
         O1,L1,2025-01-01T00:00:00Z,open,100,\"Prospecting\nsecond line\"\n\
         O2,L1,not a date,open,100,Proposal\n\
         O3,L1,2025-01-01T00:00:00Z,Won,100,Closed Won\n\
         O4,L1,2025-01-01T00:00:00Z,won,$1200,Closed Won\n\
         ,L1,2025-01-01T00:00:00Z,won,5,Closed Won\n\
         O6,L1,2025-01-01T00:00:00Z,lost\n\
         O7, L1 ,2025-01-01T00:00:00Z,won, 250.5 ,Closed Won\n",
    );
    let run = wd.run(&["ingest", "export"]).ok();
    assert!(
        run.stderr
            .contains("opportunities: 7 read, 2 loaded, 5 quarantined"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("quarantine"), "{}", run.stderr);
    let q = wd.read("data/warehouse/quarantine/opportunities.csv");
    let mut reader = csv::Reader::from_reader(q.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header[0], "opportunity_id");
    assert_eq!(
        &header[header.len() - 4..],
        ["source_file", "source_line", "reason", "raw_record"]
    );
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 5);
    let summary: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r[col("opportunity_id")].to_string(),
                r[col("source_line")].to_string(),
                r[col("reason")].to_string(),
            )
        })
        .collect();
    assert_eq!(summary[0].0, "O2");
    assert_eq!(summary[0].1, "4");
    assert!(
        summary[0].2.contains("created_at") && summary[0].2.contains("not a date"),
        "{:?}",
        summary[0]
    );
    assert_eq!(summary[1].0, "O3");
    assert_eq!(summary[1].1, "5");
    assert!(
        summary[1].2.contains("status") && summary[1].2.contains("open, won, lost"),
        "{:?}",
        summary[1]
    );
    assert_eq!(summary[2].1, "6");
    assert!(
        summary[2].2.contains("amount") && summary[2].2.contains("$1200"),
        "{:?}",
        summary[2]
    );
    assert_eq!(summary[3].1, "7");
    assert!(summary[3].2.contains("opportunity_id"), "{:?}", summary[3]);
    assert_eq!(summary[4].1, "8");
    assert!(summary[4].2.contains("fields"), "{:?}", summary[4]);
    // Original values are kept as text, untouched.
    assert_eq!(&rows[0][col("created_at")], "not a date");
    assert!(rows[0][col("source_file")].ends_with("opportunities.csv"));
    // Stored strings are trimmed; the embedded newline survives.
    assert_eq!(
        wd.sql("SELECT opportunity_id, lead_id, amount FROM opportunities ORDER BY opportunity_id"),
        "opportunity_id,lead_id,amount\nO1,L1,100\nO7,L1,250.5\n"
    );
    assert_eq!(
        wd.sql("SELECT stage FROM opportunities WHERE opportunity_id = 'O1'"),
        "stage\n\"Prospecting\nsecond line\"\n"
    );

    // A later run appends to the quarantine file, never overwrites it.
    wd.run(&["ingest", "export"]).ok();
    let q = wd.read("data/warehouse/quarantine/opportunities.csv");
    assert_eq!(q.matches("opportunity_id,").count(), 1, "header once:\n{q}");
    let mut reader = csv::Reader::from_reader(q.as_bytes());
    assert_eq!(reader.records().count(), 10);
}

#[test]
fn a_valid_older_row_survives_a_newer_unparseable_one() {
    let wd = Workdir::new();
    wd.write(
        "a/leads.csv",
        "lead_id,created_at,source,updated_at\nL1,2025-01-01,webinar,2025-01-01\n",
    );
    wd.run(&["ingest", "a"]).ok();
    wd.write(
        "b/leads.csv",
        "lead_id,created_at,source,updated_at\nL1,someday,webinar,2025-06-01\n",
    );
    wd.run(&["ingest", "b"]).ok();
    assert_eq!(
        wd.sql("SELECT lead_id, created_at FROM leads"),
        "lead_id,created_at\nL1,2025-01-01T00:00:00Z\n"
    );
}

#[test]
fn missing_required_column_exits_3_and_leaves_the_warehouse_untouched() {
    let wd = Workdir::new();
    wd.write("good/leads.csv", LEADS);
    wd.run(&["ingest", "good"]).ok();
    let before = tree(&wd.join("data/warehouse"));

    wd.write("bad/leads.csv", LEADS);
    wd.write(
        "bad/touches.csv",
        "lead_id,channel,action,team\nL1,email,open,marketing\n",
    );
    let run = wd.run(&["ingest", "bad"]).expect_code(3);
    assert!(run.stderr.contains("touches.csv"), "{}", run.stderr);
    assert!(run.stderr.contains("`occurred_at`"), "{}", run.stderr);
    assert_eq!(
        before,
        tree(&wd.join("data/warehouse")),
        "warehouse changed"
    );
}

#[test]
fn file_level_problems_exit_3_naming_the_file() {
    let wd = Workdir::new();
    wd.write("bin/leads.csv", b"PAR1\x00\x00\x15\x04binary");
    let run = wd.run(&["ingest", "bin"]).expect_code(3);
    assert!(
        run.stderr.contains("leads.csv") && run.stderr.contains("not a CSV"),
        "{}",
        run.stderr
    );

    // Windows-1252 bytes that nobody declared.
    wd.write(
        "latin/leads.csv",
        b"lead_id,created_at,source\nL1,2025-01-01,caf\xe9\n",
    );
    let run = wd.run(&["ingest", "latin"]).expect_code(3);
    assert!(
        run.stderr.contains("leads.csv")
            && run.stderr.contains("line 2, column `source`")
            && run.stderr.contains("UTF-8"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("line 2") && run.stderr.contains("`source`"),
        "{}",
        run.stderr
    );

    let run = wd.run(&["ingest", "does-not-exist"]).expect_code(3);
    assert!(run.stderr.contains("does-not-exist"), "{}", run.stderr);
    assert!(!wd.join("data/warehouse/current").exists());
}

/// Quarantined rows name the line their record starts on, also in a file with CRLF
/// line breaks, blank lines and a quoted line break.
#[test]
fn quarantine_lines_are_the_records_own_in_crlf_files() {
    let wd = Workdir::new();
    wd.write(
        "export/leads.csv",
        "lead_id,created_at,source\r\n\
         L1,2025-01-01T00:00:00Z,web\r\n\
         \r\n\
         L2,not a date,web\r\n\
         L3,2025-01-01T00:00:00Z,\"two\r\nlines\"\r\n\
         L4,2025-01-01T00:00:00Z\r\n",
    );
    let run = wd.run(&["ingest", "export"]).ok();
    assert!(
        run.stderr
            .contains("leads: 4 read, 2 loaded, 2 quarantined"),
        "{}",
        run.stderr
    );
    let q = wd.read("data/warehouse/quarantine/leads.csv");
    let mut reader = csv::Reader::from_reader(q.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let lines: Vec<(String, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[col("lead_id")].to_string(),
                r[col("source_line")].to_string(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("L2".to_string(), "4".to_string()),
            ("L4".to_string(), "7".to_string())
        ]
    );
}

#[test]
fn bom_crlf_and_embedded_newlines_load() {
    let wd = Workdir::new();
    wd.write(
        "export/leads.csv",
        b"\xef\xbb\xbflead_id,created_at,source\r\nL1,2025-01-01T00:00:00Z,\"web\r\ninar\"\r\nL2,2025-01-02T00:00:00Z,organic\r\n",
    );
    let run = wd.run(&["ingest", "export"]).ok();
    assert!(
        run.stderr
            .contains("leads: 2 read, 2 loaded, 0 quarantined"),
        "{}",
        run.stderr
    );
    assert_eq!(
        wd.sql("SELECT lead_id, source FROM leads ORDER BY lead_id"),
        "lead_id,source\nL1,\"web\r\ninar\"\nL2,organic\n"
    );
}

#[test]
fn naive_timestamps_are_read_in_the_calendar_time_zone() {
    let wd = Workdir::new();
    wd.write("funnel.toml", "[calendar]\ntimezone = \"Europe/Paris\"\n");
    wd.write(
        "export/leads.csv",
        "lead_id,created_at\n\
         WINTER,2025-01-15 10:00:00\n\
         SUMMER,2025-07-15T10:00:00\n\
         AMBIGUOUS,2025-10-26 02:30:00\n\
         OFFSET,2025-07-15T10:00:00Z\n\
         MIDNIGHT,2025-07-15\n\
         GAP,2025-03-30 02:30:00\n",
    );
    let run = wd.run(&["ingest", "export"]).ok();
    assert!(
        run.stderr.contains("6 read, 5 loaded, 1 quarantined"),
        "{}",
        run.stderr
    );
    assert_eq!(
        wd.sql("SELECT lead_id, created_at FROM leads ORDER BY created_at"),
        "lead_id,created_at\n\
         WINTER,2025-01-15T09:00:00Z\n\
         MIDNIGHT,2025-07-14T22:00:00Z\n\
         SUMMER,2025-07-15T08:00:00Z\n\
         OFFSET,2025-07-15T10:00:00Z\n\
         AMBIGUOUS,2025-10-26T00:30:00Z\n"
    );
    let q = wd.read("data/warehouse/quarantine/leads.csv");
    assert!(
        q.contains("GAP") && q.contains("does not exist in time zone Europe/Paris"),
        "{q}"
    );
}

#[test]
fn versions_are_kept_and_pruned() {
    let wd = Workdir::new();
    wd.write("funnel.toml", "[warehouse]\nkeep_versions = 2\n");
    wd.write("export/leads.csv", LEADS);
    for _ in 0..4 {
        wd.run(&["ingest", "export", "-q"]).ok();
    }
    let mut versions: Vec<String> = std::fs::read_dir(wd.join("data/warehouse/versions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    versions.sort();
    assert_eq!(versions, ["v000003", "v000004"]);
    let link = std::fs::read_link(wd.join("data/warehouse/current")).unwrap();
    assert_eq!(link, std::path::Path::new("versions/v000004"));
    let manifest: serde_json::Value =
        serde_json::from_str(&wd.read("data/warehouse/current/_manifest.json")).unwrap();
    assert_eq!(manifest["format_version"], 2);
    assert_eq!(manifest["runs"].as_array().unwrap().len(), 4);
    let run = &manifest["runs"][3];
    assert_eq!(run["tables"]["leads"]["read"], 3);
    assert_eq!(run["tables"]["leads"]["merged"], 3);
    assert_eq!(run["inputs"][0]["rows"], 3);
    assert_eq!(run["inputs"][0]["blake3"].as_str().unwrap().len(), 64);
    assert_eq!(run["definitions_hash"].as_str().unwrap().len(), 64);
}

#[test]
fn unchanged_tables_are_shared_between_versions() {
    let wd = Workdir::new();
    wd.write("a/leads.csv", LEADS);
    wd.write("a/lead_stage_events.csv", EVENTS);
    wd.run(&["ingest", "a", "-q"]).ok();
    wd.write("b/leads.csv", "lead_id,created_at\nL9,2025-02-01\n");
    wd.run(&["ingest", "b", "-q"]).ok();
    use std::os::unix::fs::MetadataExt;
    let a = std::fs::metadata(
        wd.join("data/warehouse/versions/v000001/lead_stage_events/part-0.parquet"),
    )
    .unwrap();
    let b = std::fs::metadata(
        wd.join("data/warehouse/versions/v000002/lead_stage_events/part-0.parquet"),
    )
    .unwrap();
    assert_eq!(a.ino(), b.ino(), "unchanged table should be a hard link");
    assert_eq!(wd.sql("SELECT count(*) AS n FROM leads"), "n\n4\n");
}

#[test]
fn extra_columns_are_ignored_with_a_warning_and_unknown_files_too() {
    let wd = Workdir::new();
    wd.write(
        "export/leads.csv",
        "lead_id,created_at,favourite_colour\nL1,2025-01-01,blue\n",
    );
    wd.write("export/notes.csv", "whatever\n");
    let run = wd.run(&["ingest", "export"]).ok();
    assert!(run.stderr.contains("favourite_colour"), "{}", run.stderr);
    assert!(run.stderr.contains("notes.csv"), "{}", run.stderr);
}

#[test]
fn a_newer_warehouse_format_is_refused_with_advice() {
    let wd = Workdir::new();
    wd.write("export/leads.csv", LEADS);
    wd.run(&["ingest", "export", "-q"]).ok();
    let path = wd.join("data/warehouse/current/_manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("\"format_version\": 2", "\"format_version\": 99"),
    )
    .unwrap();
    let run = wd.run(&["ingest", "export"]).expect_code(1);
    assert!(run.stderr.contains("upgrade funnel"), "{}", run.stderr);
}

#[test]
fn dates_and_amounts_have_their_declared_types() {
    use polars::prelude::DataType;
    let wd = Workdir::new();
    wd.write(
        "e/quotas.csv",
        "owner_id,period_start,period_end,amount\nR1,2025-01-01,2025-03-31,50000\n",
    );
    wd.run(&["ingest", "e", "-q"]).ok();
    let df = funnel::model::warehouse::read_parquet(
        &wd.join("data/warehouse/current/quotas/part-0.parquet"),
    )
    .unwrap();
    assert_eq!(df.column("period_start").unwrap().dtype(), &DataType::Date);
    assert_eq!(df.column("amount").unwrap().dtype(), &DataType::Float64);
    assert_eq!(
        wd.sql("SELECT owner_id, period_start, period_end, amount FROM quotas"),
        "owner_id,period_start,period_end,amount\nR1,2025-01-01,2025-03-31,50000\n"
    );
}

#[test]
fn one_writer_at_a_time_and_a_dead_writers_lock_is_no_lock() {
    let wd = Workdir::new();
    wd.write("export/leads.csv", LEADS);
    // A lock held by a live process (this test, through the operating system's file
    // lock, as a writer holds it) makes a second writer give up at once, naming the
    // holder as the holder wrote itself down.
    let me = std::process::id();
    let path = wd.write(
        "data/warehouse/.lock",
        format!("{me} 2026-11-26T10:00:00Z\n"),
    );
    let held = std::fs::File::open(&path).unwrap();
    held.lock().unwrap();
    let run = wd.run(&["ingest", "export"]).expect_code(1);
    assert!(
        run.stderr.contains(&format!("process {me}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("2026-11-26T10:00:00Z") && run.stderr.contains("--lock-timeout"),
        "{}",
        run.stderr
    );
    assert!(!wd.join("data/warehouse/current").exists());
    // With a timeout it waits for the holder to finish.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(700));
        drop(held);
    });
    wd.run(&["ingest", "export", "--lock-timeout", "20", "-q"])
        .ok();
    releaser.join().unwrap();
    assert!(wd.join("data/warehouse/current").exists());
    // What a killed writer leaves behind (its pid in the file; the kernel released
    // the lock) is no lock, even when that pid is alive again as another process.
    wd.write(
        "data/warehouse/.lock",
        format!("{me} 2026-01-01T00:00:00Z\n"),
    );
    wd.run(&["ingest", "export", "-q"]).ok();
    assert!(
        crate::workdir::lock_is_free(&wd.join("data/warehouse")),
        "the lock is released"
    );
}

#[test]
fn two_concurrent_writers_both_land_whole() {
    let wd = Workdir::new();
    wd.run(&[
        "generate", "--out", "a", "--leads", "3000", "--seed", "1", "-q",
    ])
    .ok();
    wd.run(&[
        "generate", "--out", "b", "--leads", "3000", "--seed", "2", "-q",
    ])
    .ok();
    let bin = assert_cmd::cargo::cargo_bin("funnel");
    let spawn = |input: &str| {
        std::process::Command::new(&bin)
            .current_dir(wd.path())
            .args(["ingest", input, "--lock-timeout", "120", "-q"])
            .spawn()
            .unwrap()
    };
    let (mut x, mut y) = (spawn("a"), spawn("b"));
    assert!(x.wait().unwrap().success());
    assert!(y.wait().unwrap().success());
    // Both landed, one after the other: two versions, and the two seeds' leads (same
    // ids) merged into one table of 3,000.
    let manifest: serde_json::Value =
        serde_json::from_str(&wd.read("data/warehouse/current/_manifest.json")).unwrap();
    assert_eq!(manifest["runs"].as_array().unwrap().len(), 2);
    assert_eq!(wd.sql("SELECT count(*) AS n FROM leads"), "n\n3000\n");
}

/// Every table's rows in a stable order, for comparing warehouses.
fn sorted_tables(wd: &Workdir) -> Vec<String> {
    [
        ("leads", "lead_id"),
        ("lead_stage_events", "lead_id, stage, entered_at"),
        ("touches", "touch_id"),
        ("opportunities", "opportunity_id"),
        (
            "opportunity_stage_events",
            "opportunity_id, stage, entered_at",
        ),
    ]
    .iter()
    .map(|(t, key)| wd.sql(&format!("SELECT * FROM {t} ORDER BY {key}")))
    .collect()
}

#[test]
fn partitioned_merges_equal_one_partition() {
    // The same generated export, ingested in two halves, with partitions of a few
    // KB (so tables have many parts, and the count grows between runs), must give the
    // same tables as one ingest into one partition per table.
    let wd = Workdir::new();
    wd.run(&["generate", "--out", "full", "--leads", "300", "-q"])
        .ok();
    // Half the touches first, then all of them (a re-export with new rows).
    let touches = wd.read("full/touches.csv");
    let lines: Vec<&str> = touches.lines().collect();
    let half = lines[..lines.len() / 2].join("\n") + "\n";
    wd.write("half/touches.csv", half);
    std::fs::copy(wd.join("full/leads.csv"), wd.join("half/leads.csv")).unwrap();

    let small = [("FUNNEL_PARTITION_BYTES", "40000")];
    wd.run_env(&small, &["ingest", "half", "-q"]).ok();
    let parts = |table: &str| {
        std::fs::read_dir(wd.join(&format!("data/warehouse/current/{table}")))
            .unwrap()
            .count()
    };
    let first = parts("touches");
    assert!(
        first > 1,
        "touches should be partitioned, got {first} part(s)"
    );
    let tiny = [("FUNNEL_PARTITION_BYTES", "10000")];
    let run = wd.run_env(&tiny, &["ingest", "full"]).ok();
    let second = parts("touches");
    assert!(
        second > first,
        "the partition count should grow: {first} -> {second}"
    );
    // Every row of the first half was merged with its re-exported copy.
    assert!(run.stderr.contains("merged"), "{}", run.stderr);

    let one = Workdir::new();
    std::fs::create_dir_all(one.join("full")).unwrap();
    for entry in std::fs::read_dir(wd.join("full")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, one.join("full").join(path.file_name().unwrap())).unwrap();
    }
    one.run(&["ingest", "full", "-q"]).ok();
    assert_eq!(
        std::fs::read_dir(one.join("data/warehouse/current/touches"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(sorted_tables(&wd), sorted_tables(&one));
    // Metrics read every part.
    let a = wd
        .run(&["metrics", "touches", "--format", "csv", "-q"])
        .ok()
        .stdout;
    let b = one
        .run(&["metrics", "touches", "--format", "csv", "-q"])
        .ok()
        .stdout;
    assert_eq!(a, b);
}

/// Writers racing for the lock (a fresh one, then each other's): every one lands,
/// one after another, none removing another's lock or version.
#[test]
fn racing_writers_take_turns() {
    let wd = Workdir::new();
    wd.write("export/leads.csv", LEADS);
    let bin = assert_cmd::cargo::cargo_bin("funnel");
    for _ in 0..3 {
        let writers: Vec<_> = (0..4)
            .map(|_| {
                std::process::Command::new(&bin)
                    .current_dir(wd.path())
                    .args(["ingest", "export", "--lock-timeout", "120", "-q"])
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for w in writers {
            let out = w.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&wd.read("data/warehouse/current/_manifest.json")).unwrap();
    assert_eq!(manifest["runs"].as_array().unwrap().len(), 12);
    assert!(crate::workdir::lock_is_free(&wd.join("data/warehouse")));
}

/// A table new to the warehouse whose keys are distinct is not merged again: its
/// staged partitions become the parts (what makes a first ingest fast). Keys that
/// repeat send their partition through the merge. `FUNNEL_TIMINGS` reports both.
#[test]
fn distinct_keys_of_a_new_table_skip_the_merge() {
    let wd = Workdir::new();
    // Numbered ids with a derived one (no touch_id) among them, out of order.
    wd.write(
        "a/touches.csv",
        "touch_id,lead_id,occurred_at,channel,action,team,campaign_id\n\
         T2,L1,2025-01-02T00:00:00Z,email,open,marketing,C1\n\
         T1,L1,2025-01-01T00:00:00Z,email,open,marketing,C1\n\
         ,L2,2025-01-03T00:00:00Z,web,visit,marketing,\n\
         T3,L2,2025-01-04T00:00:00Z,email,click,marketing,C1\n",
    );
    wd.write(
        "b/leads.csv",
        "lead_id,created_at\nL1,2025-01-01\nL2,2025-01-01\nL1,2025-01-02\n",
    );
    // Ingests `dir`, expecting `merged` in FUNNEL_TIMINGS and `rows` in `table`.
    let ingest = |dir: &str, merged: &str, table: &str, rows: &str| {
        let run = wd
            .run_env(&[("FUNNEL_TIMINGS", "1")], &["ingest", dir, "-q"])
            .ok();
        assert!(run.stderr.contains(merged), "{}", run.stderr);
        let sql = format!("SELECT count(*) AS n FROM {table}");
        assert_eq!(wd.sql(&sql), format!("n\n{rows}\n"));
    };
    ingest(
        "a",
        "merge touches (1 parts, 1 already merged)",
        "touches",
        "4",
    );
    ingest("b", "merge leads (1 parts, 0 already merged)", "leads", "2");
    // Touches again: the warehouse holds them now, so they are merged.
    ingest(
        "a",
        "merge touches (1 parts, 0 already merged)",
        "touches",
        "4",
    );
}

#[test]
fn a_ragged_row_keeps_its_whole_record_in_quarantine() {
    let wd = Workdir::new();
    // L2 has two fields more than the header: both would be lost otherwise.
    wd.write(
        "export/leads.csv",
        "lead_id,created_at,source\nL1,2025-01-01,web\nL2,2025-01-02,web,\"extra, quoted\",x\n",
    );
    // A quarantine file an older funnel wrote, without the raw_record column.
    wd.write(
        "data/warehouse/quarantine/leads.csv",
        "lead_id,created_at,source,campaign_id,owner_id,segment,region,account_id,updated_at,source_file,source_line,reason\nL0,,,,,,,,,old.csv,2,created_at is empty\n",
    );
    wd.run(&["ingest", "export", "-q"]).ok();
    let q = wd.read("data/warehouse/quarantine/leads.csv");
    let mut reader = csv::Reader::from_reader(q.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header.last().unwrap(), "raw_record");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2, "{q}");
    assert_eq!(&rows[0][0], "L0");
    assert_eq!(rows[0].iter().next_back().unwrap(), "");
    assert_eq!(&rows[1][0], "L2");
    assert_eq!(
        rows[1].iter().next_back().unwrap(),
        "L2,2025-01-02,web,\"extra, quoted\",x"
    );
}

#[test]
fn odd_folders_are_said_briefly() {
    // Two files for one table, and a header of many unknown columns.
    let wd = Workdir::new();
    let extra: Vec<String> = (0..5000).map(|i| format!("x{i}")).collect();
    wd.write(
        "export/leads.csv",
        format!(
            "lead_id,created_at,{}\nL1,2025-01-01{}\n",
            extra.join(","),
            ",".repeat(5000)
        ),
    );
    wd.write("export/LEADS.csv", "lead_id,created_at\nL2,2025-01-02\n");
    let run = wd.run(&["ingest", "export"]).ok();
    assert!(
        run.stderr.contains("both hold table `leads`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("and 4,990 more"), "{}", run.stderr);
    assert!(
        run.stderr.len() < 2_000,
        "{} bytes of warnings",
        run.stderr.len()
    );
}

#[test]
fn quarantine_has_a_copy_safe_to_open_in_a_spreadsheet() {
    let wd = Workdir::new();
    // A formula in a source, and a row that does not load (no created_at).
    wd.write(
        "export/leads.csv",
        "lead_id,created_at,source\nL1,,=HYPERLINK(\"http://x\")\nL2,2025-01-01,web\n",
    );
    wd.run(&["ingest", "export", "-q"]).ok();
    let raw = wd.read("data/warehouse/quarantine/leads.csv");
    assert!(
        raw.contains(",\"=HYPERLINK(\"\"http://x\"\")\","),
        "verbatim: {raw}"
    );
    let copy = wd.read("data/warehouse/quarantine/leads.for-spreadsheets.csv");
    assert!(
        copy.contains(",\"'=HYPERLINK(\"\"http://x\"\")\","),
        "escaped: {copy}"
    );
    assert_eq!(raw.lines().count(), copy.lines().count());
}

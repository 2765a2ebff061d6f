use crate::workdir::Workdir;

#[test]
fn sql_runs_on_the_bundled_sample_without_a_warehouse() {
    let wd = Workdir::new();
    let run = wd
        .run(&[
            "sql",
            "SELECT count(*) AS leads FROM leads",
            "--format",
            "json",
        ])
        .ok();
    assert!(run.stderr.contains("bundled sample"), "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["rows"][0]["leads"], 2000);
    // Never written into ./data/warehouse.
    assert!(!wd.join("data/warehouse").exists());
}

#[test]
fn sql_formats() {
    let wd = Workdir::new();
    wd.write(
        "e/leads.csv",
        "lead_id,created_at,source\nL1,2025-01-01,webinar\nL2,2025-01-02,\n",
    );
    wd.run(&["ingest", "e", "-q"]).ok();
    let q = "SELECT lead_id, source, created_at FROM leads ORDER BY lead_id";
    let table = wd.run(&["sql", q]).ok().stdout;
    assert!(
        table.contains("lead_id") && table.contains("(2 rows)"),
        "{table}"
    );
    let csv = wd.run(&["sql", q, "--format", "csv"]).ok().stdout;
    assert_eq!(
        csv,
        "lead_id,source,created_at\nL1,webinar,2025-01-01T00:00:00Z\nL2,,2025-01-02T00:00:00Z\n"
    );
    let json = wd.run(&["sql", q, "--format", "json"]).ok().stdout;
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        doc["columns"],
        serde_json::json!(["lead_id", "source", "created_at"])
    );
    assert_eq!(doc["rows"][1]["source"], serde_json::Value::Null);
    // Keys keep the column order.
    assert!(
        json.find("\"lead_id\": \"L1\"").unwrap() < json.find("\"source\": \"webinar\"").unwrap()
    );
}

#[test]
fn sql_errors_are_clear_usage_errors() {
    let wd = Workdir::new();
    wd.write("e/leads.csv", "lead_id,created_at\nL1,2025-01-01\n");
    wd.run(&["ingest", "e", "-q"]).ok();
    let run = wd.run(&["sql", "SELEC nothing"]).expect_code(2);
    assert!(run.stderr.starts_with("error: SQL error"), "{}", run.stderr);
    let run = wd.run(&["sql", "SELECT * FROM nope"]).expect_code(2);
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn lead_funnel_view_has_reach_times() {
    let wd = crate::fixture::ingested("funnel");
    let out = wd.sql(
        "SELECT lead_id, source_team, seen_sal, reached_sal, reached_customer FROM lead_funnel \
         WHERE lead_id IN ('L1', 'L4') ORDER BY lead_id",
    );
    assert_eq!(
        out,
        "lead_id,source_team,seen_sal,reached_sal,reached_customer\n\
         L1,marketing,2025-01-07T12:00:00Z,2025-01-07T12:00:00Z,2025-02-14T00:00:00Z\n\
         L4,marketing,,2025-02-12T00:00:00Z,\n"
    );
}

#[test]
fn csv_output_defuses_spreadsheet_formulas() {
    let wd = Workdir::new();
    wd.write(
        "e/leads.csv",
        "lead_id,created_at,source\nL1,2025-01-01,=cmd|' /C calc'!A0\nL2,2025-01-02,@SUM(1)\nL3,2025-01-03,webinar\n",
    );
    wd.run(&["ingest", "e", "-q"]).ok();
    let out = wd.sql("SELECT lead_id, source, -1 AS n FROM leads ORDER BY lead_id");
    assert_eq!(
        out,
        "lead_id,source,n\nL1,'=cmd|' /C calc'!A0,-1\nL2,'@SUM(1),-1\nL3,webinar,-1\n"
    );
    // The warehouse keeps the value as exported.
    let json = wd
        .run(&[
            "sql",
            "SELECT source FROM leads WHERE lead_id = 'L1'",
            "--format",
            "json",
        ])
        .ok()
        .stdout;
    assert!(json.contains("\"=cmd|' /C calc'!A0\""), "{json}");
}

#[test]
fn sql_reads_the_warehouse_only_never_a_file_of_the_machine() {
    let wd = Workdir::new();
    wd.write("secret.csv", "user,password\nroot,hunter2\n");
    for query in [
        "SELECT * FROM read_csv('secret.csv')",
        "SELECT * FROM READ_PARQUET('x.parquet') LIMIT 3",
        "SELECT l.lead_id FROM leads l JOIN read_csv('secret.csv') s ON true",
        "WITH s AS (SELECT * FROM read_json('x.json')) SELECT * FROM s",
    ] {
        let run = wd.run(&["sql", query]).expect_code(2);
        assert!(
            run.stderr.contains("tables and views only") && !run.stdout.contains("hunter2"),
            "{query}: {}",
            run.stderr
        );
    }
}

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
    // The fix comes with the error: the relations there are, and how to compare a
    // timestamp; one line each.
    assert!(
        run.stderr.contains("the tables and views are leads, ")
            && run.stderr.contains("mql_episodes")
            && run.stderr.contains("funnel sql --tables"),
        "{}",
        run.stderr
    );
    let run = wd
        .run(&[
            "sql",
            "SELECT count(*) AS n FROM leads WHERE created_at > TIMESTAMP '2025-01-01'",
        ])
        .expect_code(2);
    assert!(
        run.stderr.contains("created_at >= '2026-07-01'"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
    // The hint's form works.
    assert_eq!(
        wd.sql("SELECT count(*) AS n FROM leads WHERE created_at >= '2025-01-01'"),
        "n\n1\n"
    );
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

/// Opportunities at an earlier as-of, worked by hand: one closed after it is open
/// in the stage and amount of its last stage event before it; one that moved after
/// it is back in its stage then (its amount the current one when no event before
/// carries one); one created after it does not exist; one with no events has no
/// stage; one closed before it is as it is.
#[test]
fn sql_as_of_shows_opportunities_as_they_stood() {
    let wd = Workdir::new();
    wd.write(
        "in/opportunities.csv",
        "opportunity_id,created_at,closed_at,status,stage,amount\n\
         O1,2025-01-01T00:00:00Z,2025-01-20T00:00:00Z,won,Closed Won,1800\n\
         O2,2025-01-05T00:00:00Z,,open,Negotiation,700\n\
         O3,2025-01-12T00:00:00Z,,open,Prospecting,100\n\
         O4,2025-01-02T00:00:00Z,2025-01-25T00:00:00Z,lost,Closed Lost,300\n\
         O5,2025-01-03T00:00:00Z,2025-01-08T00:00:00Z,won,Closed Won,900\n",
    );
    wd.write(
        "in/opportunity_stage_events.csv",
        "opportunity_id,stage,entered_at,amount\n\
         O1,Prospecting,2025-01-01T00:00:00Z,1000\n\
         O1,Proposal,2025-01-10T00:00:00Z,1500\n\
         O1,Closed Won,2025-01-20T00:00:00Z,1800\n\
         O2,Prospecting,2025-01-05T00:00:00Z,\n\
         O2,Negotiation,2025-01-15T00:00:00Z,700\n\
         O5,Prospecting,2025-01-03T00:00:00Z,900\n\
         O5,Closed Won,2025-01-08T00:00:00Z,900\n",
    );
    wd.run(&["ingest", "in", "-q"]).ok();
    let q = "SELECT opportunity_id, status, stage, amount, closed_at FROM opportunities ORDER BY opportunity_id";
    let then = wd
        .run(&[
            "sql",
            q,
            "--as-of",
            "2025-01-11T00:00:00Z",
            "--format",
            "csv",
        ])
        .ok()
        .stdout;
    assert_eq!(
        then,
        "opportunity_id,status,stage,amount,closed_at\n\
         O1,open,Proposal,1500,\n\
         O2,open,Prospecting,700,\n\
         O4,open,,300,\n\
         O5,won,Closed Won,900,2025-01-08T00:00:00Z\n"
    );
    let events = wd.run(&[
        "sql",
        "SELECT count(*) AS n FROM opportunity_stage_events",
        "--as-of",
        "2025-01-11T00:00:00Z",
        "--format",
        "csv",
    ]);
    assert_eq!(events.ok().stdout, "n\n5\n");
    // Without --as-of: the latest event (01-25) hides nothing.
    let now = wd.run(&["sql", q, "--format", "csv"]).ok().stdout;
    assert!(
        now.contains("O1,won,Closed Won,1800,2025-01-20T00:00:00Z"),
        "{now}"
    );
    assert!(now.contains("O3,open"), "{now}");
}

/// The views of the metrics' frames: listed with their columns, and the MQL
/// episodes view holds exactly the episodes `sla` counts, the breached ones named.
#[test]
fn sql_views_list_the_rows_behind_sla() {
    let wd = crate::fixture::ingested("funnel");
    let listed = wd.run(&["sql", "--tables", "--format", "csv"]).ok().stdout;
    for line in [
        "leads,table,lead_id,text",
        "lead_funnel,view,reached_mql,timestamp (UTC)",
        "mql_episodes,view,breached,boolean",
        "counted_touches,view,occurred_at,timestamp (UTC)",
        "opportunity_model,view,amount_base,double",
    ] {
        assert!(listed.contains(line), "{line} missing:\n{listed}");
    }
    // The fixture's nine episodes (see test_metrics_funnel::sla_episodes): four
    // breached, L2 (72 h late), L3's re-MQL (96 h), L6 (pending), L7 (120 h).
    let breached =
        wd.sql("SELECT lead_id, outcome FROM mql_episodes WHERE breached ORDER BY started_at");
    assert_eq!(
        breached,
        "lead_id,outcome\nL2,accepted\nL3,accepted\nL6,pending\nL7,rejected\n"
    );
    // At the default as-of (the latest event, L9's mql on 03-28), L9's episode
    // (03-27) is not due yet.
    let n = wd.sql("SELECT count(*) AS n, sum(CAST(due AS INT)) AS due FROM mql_episodes");
    assert_eq!(n, "n,due\n9,8\n");
}

/// The stays view holds what stage-time counts: per stage, the stays that ended in
/// range.
#[test]
fn sql_opportunity_stays_match_stage_time() {
    let wd = Workdir::new();
    let by_sql = wd.sql(
        "SELECT stage, count(*) AS stays FROM opportunity_stays \
         WHERE ended_at >= '2025-11-01' AND ended_at < '2026-11-01' GROUP BY stage ORDER BY stage",
    );
    assert_eq!(
        by_sql,
        "stage,stays\nnegotiation,79\nproposal,111\nprospecting,172\nqualification,144\n"
    );
    let run = wd
        .run(&["metrics", "stage-time", "--format", "csv", "-q"])
        .ok();
    for line in [
        "Prospecting,172,",
        "Qualification,144,",
        "Proposal,111,",
        "Negotiation,79,",
    ] {
        assert!(run.stdout.contains(line), "{line}\n{}", run.stdout);
    }
}

/// A CROSS JOIN of two large tables aborted the process out of memory. The result is
/// now streamed and cut one row past `--max-rows` (default 10 million): a larger
/// result is refused with the fix, and an aggregate over the pairs still runs.
#[test]
fn sql_refuses_a_result_past_the_row_limit_instead_of_aborting() {
    let wd = Workdir::new();
    let run = wd
        .run(&[
            "sql",
            "SELECT a.lead_id, b.lead_id AS other FROM leads a CROSS JOIN leads b",
            "--max-rows",
            "50000",
            "-q",
        ])
        .expect_code(2);
    assert!(
        run.stderr
            .contains("the result has more than 50,000 rows; add LIMIT"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let leads: u64 = wd
        .sql("SELECT count(*) AS n FROM leads")
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let pairs = wd.sql("SELECT count(*) AS n FROM leads a CROSS JOIN leads b");
    assert_eq!(pairs, format!("n\n{}\n", leads * leads));
    // At the limit exactly, the rows print.
    let n = wd
        .run(&[
            "sql",
            "SELECT lead_id FROM leads",
            "--max-rows",
            &leads.to_string(),
            "--format",
            "csv",
            "-q",
        ])
        .ok()
        .stdout
        .lines()
        .count() as u64;
    assert_eq!(n, leads + 1);
}

/// The dialect's usual stumbles end in one line that carries the fix; the engine's
/// whole message (its plan) only with -v; `count(*)` is named `count`.
#[test]
fn sql_hints_carry_the_fix_and_count_is_named_count() {
    let wd = Workdir::new();
    wd.write(
        "e/leads.csv",
        "lead_id,created_at\nL1,2025-01-01\nL2,2025-03-01\n",
    );
    wd.write(
        "e/opportunities.csv",
        "opportunity_id,lead_id,created_at,closed_at,stage,status,amount,currency\n\
         O1,L1,2025-01-10,2025-01-20 12:00,Closed Won,won,10,USD\n",
    );
    wd.run(&["ingest", "e", "-q"]).ok();
    assert_eq!(wd.sql("SELECT count(*) FROM leads"), "count\n2\n");
    // A query naming `len` keeps it.
    assert_eq!(wd.sql("SELECT count(*) AS len FROM leads"), "len\n2\n");
    let first_line = |query: &str| {
        let run = wd.run(&["sql", query]).expect_code(2);
        assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
        run.stderr
    };
    // An ISO instant with T and Z inside a CASE.
    let err = first_line(
        "SELECT sum(CASE WHEN created_at <= '2025-02-01T00:00:00Z' THEN 1 ELSE 0 END) AS n FROM leads",
    );
    assert!(
        err.starts_with("error: SQL error: cannot compare")
            && err.contains(
                "without T or Z: created_at >= '2026-07-01' or created_at <= '2026-10-01 23:47:22'"
            )
            && err.contains("-v shows"),
        "{err}"
    );
    assert_eq!(
        wd.sql("SELECT sum(CASE WHEN created_at <= '2025-02-01 00:00:00' THEN 1 ELSE 0 END) AS n FROM leads"),
        "n\n1\n"
    );
    let verbose = wd
        .run(&[
            "sql",
            "-v",
            "SELECT sum(CASE WHEN created_at <= '2025-02-01T00:00:00Z' THEN 1 ELSE 0 END) AS n FROM leads",
        ])
        .expect_code(2);
    assert!(verbose.stderr.lines().count() > 3, "{}", verbose.stderr);
    // datediff: the duration in days that works.
    let err = first_line("SELECT datediff('day', created_at, closed_at) FROM opportunities");
    assert!(
        err.contains("(date_part('epoch', closed_at) - date_part('epoch', created_at)) / 86400.0"),
        "{err}"
    );
    assert_eq!(
        wd.sql("SELECT (date_part('epoch', closed_at) - date_part('epoch', created_at)) / 86400.0 AS days FROM opportunities"),
        "days\n10.5\n"
    );
    // A scalar subquery: the WITH … CROSS JOIN form, which answers.
    let err = first_line(
        "SELECT lead_id FROM leads WHERE created_at > (SELECT min(created_at) FROM leads)",
    );
    assert!(
        err.contains("WITH m AS (SELECT max(created_at) AS latest FROM leads)"),
        "{err}"
    );
    let run = wd
        .run(&[
            "sql",
            "WITH m AS (SELECT min(created_at) AS first FROM leads) SELECT lead_id FROM leads CROSS JOIN m WHERE created_at > first",
            "--format",
            "csv",
        ])
        .ok();
    assert_eq!(run.stdout, "lead_id\nL2\n");
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

/// docs/sql.md's ten worked questions run as printed on the bundled sample (with the
/// repository's funnel.toml), and print the results the page shows.
#[test]
fn the_ten_questions_of_the_sql_docs_print_what_the_page_shows() {
    let root = env!("CARGO_MANIFEST_DIR");
    let page = std::fs::read_to_string(format!("{root}/docs/sql.md")).unwrap();
    let worked =
        &page[page.find("## Ten questions").unwrap()..page.find("## The dialect").unwrap()];
    let wd = crate::fixture::sample_with_repo_definitions();
    let blocks: Vec<&str> = worked.split("```").collect();
    let mut questions = 0;
    for pair in blocks.windows(3) {
        let (Some(query), Some(shown)) = (
            pair[0].strip_prefix("sql\n"),
            pair[2].strip_prefix("text\n"),
        ) else {
            continue;
        };
        let printed = wd.run(&["sql", "-q", query.trim()]).ok().stdout;
        assert_eq!(printed, shown, "{query}");
        questions += 1;
    }
    assert_eq!(questions, 10);
}

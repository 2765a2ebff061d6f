//! `changes`: the pipeline bridge between an earlier moment and the as-of, and the
//! funnel's movement. A hand-worked fixture of two exports proves every step of the
//! bridge (created, pulled in, increased, decreased, won, lost, pushed out, removed,
//! and an opportunity created and won in between); on the bundled sample the two
//! ends equal `velocity`'s and `quota`'s open pipeline at each instant, and the steps
//! add up for every group.

use serde_json::Value;

use crate::fixture::{metric, row, rows};
use crate::workdir::Workdir;

const HEADER: &str =
    "opportunity_id,owner_id,created_at,close_date,closed_at,status,amount,currency\n";

/// The first export (v000001): its latest event, O9's creation on 2025-02-01, is
/// where `--since v000001` starts.
const BEFORE: &str = "\
O1,R1,2025-01-10T00:00:00Z,2025-03-15,,open,100,USD
O2,R1,2025-01-11T00:00:00Z,2025-03-20,,open,200,USD
O3,R1,2025-01-12T00:00:00Z,2025-05-01,,open,300,USD
O4,R2,2025-01-13T00:00:00Z,2025-03-01,,open,400,USD
O5,R2,2025-01-14T00:00:00Z,2025-03-05,,open,500,USD
O7,R2,2025-01-15T00:00:00Z,2025-03-10,,open,70,USD
O9,R1,2025-02-01T00:00:00Z,2025-03-11,,open,90,USD
O10,R1,2025-01-16T00:00:00Z,2025-03-12,,open,10,USD
";

/// The second export, replacing the first: O1 grew, O2's close date slipped past
/// the quarter, O3's came into it, O4 was won, O5 lost, O6 is new, O7 shrank, O8 was
/// created and won in between, O9 did not change, O10 is gone.
const AFTER: &str = "\
O1,R1,2025-01-10T00:00:00Z,2025-03-15,,open,150,USD
O2,R1,2025-01-11T00:00:00Z,2025-05-10,,open,200,USD
O3,R1,2025-01-12T00:00:00Z,2025-03-25,,open,300,USD
O4,R2,2025-01-13T00:00:00Z,2025-03-01,2025-02-20T00:00:00Z,won,400,USD
O5,R2,2025-01-14T00:00:00Z,2025-03-05,2025-02-21T00:00:00Z,lost,500,USD
O6,R2,2025-02-15T00:00:00Z,2025-03-30,,open,60,USD
O7,R2,2025-01-15T00:00:00Z,2025-03-10,,open,20,USD
O8,R1,2025-02-16T00:00:00Z,2025-02-18,2025-02-18T00:00:00Z,won,80,USD
O9,R1,2025-02-01T00:00:00Z,2025-03-11,,open,90,USD
";

/// (step, count, amount) of the pipeline part.
fn bridge(doc: &Value) -> Vec<(String, i64, f64)> {
    rows(doc)
        .iter()
        .filter(|r| r["part"] == "pipeline")
        .map(|r| {
            (
                r["step"].as_str().unwrap().to_string(),
                r["count"].as_i64().unwrap(),
                r["amount"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn two_exports() -> Workdir {
    let wd = Workdir::new();
    wd.write("a/opportunities.csv", format!("{HEADER}{BEFORE}"));
    wd.run(&["ingest", "a", "-q"]).ok();
    wd.write("b/opportunities.csv", format!("{HEADER}{AFTER}"));
    wd.run(&["ingest", "b", "--replace", "-q"]).ok();
    wd
}

#[test]
fn changes_classifies_every_move_of_a_hand_worked_bridge() {
    let wd = two_exports();
    let window = [
        "--since",
        "v000001",
        "--from",
        "2025-01-01",
        "--to",
        "2025-03-31",
        "--as-of",
        "2025-02-28",
    ];
    let mut args = vec!["changes"];
    args.extend_from_slice(&window);
    let got = bridge(&metric(&wd, &args));
    let expected: Vec<(&str, i64, f64)> = vec![
        // O1 100, O2 200, O4 400, O5 500, O7 70, O9 90, O10 10 (O3 closes in May).
        ("open at start", 7, 1370.0),
        // O6, and O8 which was created and won in between.
        ("created", 2, 140.0),
        ("pulled in", 1, 300.0),
        ("increased", 1, 50.0),
        ("decreased", 1, -50.0),
        // O4 and O8.
        ("won", 2, -480.0),
        ("lost", 1, -500.0),
        ("pushed out", 1, -200.0),
        ("removed", 1, -10.0),
        // O1 150, O3 300, O6 60, O7 20, O9 90.
        ("open at end", 5, 620.0),
    ];
    let expected: Vec<(String, i64, f64)> = expected
        .into_iter()
        .map(|(s, n, a)| (s.to_string(), n, a))
        .collect();
    assert_eq!(got, expected);
    // Explain lists the opportunities of one step.
    let mut args = vec![
        "explain",
        "changes",
        "--row",
        "part=pipeline",
        "--row",
        "step=won",
        "--format",
        "csv",
        "-q",
    ];
    args.extend_from_slice(&window);
    let out = wd.run(&args).ok().stdout;
    let ids: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ids, ["O4", "O8"], "{out}");
}

#[test]
fn changes_read_from_todays_data_sees_no_close_date_move() {
    // At an earlier instant of the second export, O2 already closes in May and O3
    // in March: the start is the export cut then, not the first export.
    let wd = two_exports();
    let got = bridge(&metric(
        &wd,
        &[
            "changes",
            "--since",
            "2025-02-01",
            "--from",
            "2025-01-01",
            "--to",
            "2025-03-31",
            "--as-of",
            "2025-02-28",
        ],
    ));
    let step = |name: &str| got.iter().find(|s| s.0 == name).cloned().unwrap();
    // O1 150 (no amount history), O3 300, O4 400, O5 500, O7 20, O9 90.
    assert_eq!(step("open at start"), ("open at start".into(), 6, 1460.0));
    assert_eq!(step("pulled in").1, 0);
    assert_eq!(step("pushed out").1, 0);
    assert_eq!(step("open at end"), ("open at end".into(), 5, 620.0));
    assert!(got.iter().all(|s| s.0 != "removed"), "{got:?}");
}

#[test]
fn changes_ends_equal_velocity_and_quota_and_the_steps_add_up() {
    // The bundled sample (a fresh folder has no warehouse).
    let wd = Workdir::new();
    let (since, as_of) = ("2026-08-31", "2026-10-15");
    let doc = metric(&wd, &["changes", "--since", since, "--as-of", as_of]);
    let b = bridge(&doc);
    let velocity = |at: &str| {
        let v = metric(&wd, &["velocity", "--as-of", at]);
        rows(&v)[0]["open_opportunities"].as_i64().unwrap()
    };
    assert_eq!(b[0].1, velocity(since));
    assert_eq!(b.last().unwrap().1, velocity(as_of));
    assert!(b.iter().filter(|s| s.1 > 0).count() >= 4, "{b:?}");
    // Per source team: start plus the steps is the end, in count and amount.
    let split = metric(
        &wd,
        &[
            "changes",
            "--since",
            since,
            "--as-of",
            as_of,
            "--by",
            "source_team",
        ],
    );
    let mut teams: Vec<&str> = rows(&split)
        .iter()
        .map(|r| r["source_team"].as_str().unwrap())
        .collect();
    teams.dedup();
    assert!(teams.len() >= 3);
    for team in teams {
        let steps: Vec<&Value> = rows(&split)
            .iter()
            .filter(|r| r["source_team"] == team && r["part"] == "pipeline")
            .collect();
        let amount = |r: &Value| r["amount"].as_f64().unwrap();
        let moved: f64 = steps[1..steps.len() - 1].iter().map(|r| amount(r)).sum();
        let (start, end) = (amount(steps[0]), amount(steps[steps.len() - 1]));
        assert!(
            (start + moved - end).abs() < 1e-6,
            "{team}: {start} + {moved} ≠ {end}"
        );
    }
    // One rep over the quota period current at the start: the ends are quota's
    // open pipeline at each instant.
    let quota = metric(&wd, &["quota", "--as-of", since]);
    let open_at_start = |r: &&Value| {
        r["period_start"].as_str() <= Some(since)
            && r["period_end"].as_str() >= Some(since)
            && r["open_pipeline"].as_f64() > Some(0.0)
    };
    let q = rows(&quota)
        .iter()
        .find(open_at_start)
        .expect("a rep with open pipeline");
    let (owner, start, end) = (
        q["owner_id"].as_str().unwrap(),
        q["period_start"].as_str().unwrap(),
        q["period_end"].as_str().unwrap(),
    );
    let filter = format!("owner_id={owner}");
    let rep = |at: &str| {
        let doc = metric(&wd, &["quota", "--as-of", at, "--where", &filter]);
        row(rows(&doc), "period_start", start)["open_pipeline"]
            .as_f64()
            .unwrap()
    };
    let doc = metric(
        &wd,
        &[
            "changes", "--since", since, "--as-of", as_of, "--from", start, "--to", end, "--where",
            &filter,
        ],
    );
    let b = bridge(&doc);
    assert!((b[0].2 - rep(since)).abs() < 1e-6, "{b:?}");
    assert!((b.last().unwrap().2 - rep(as_of)).abs() < 1e-6, "{b:?}");
}

#[test]
fn changes_counts_the_funnels_movement_and_refuses_a_later_since() {
    let wd = Workdir::new();
    let doc = metric(
        &wd,
        &["changes", "--since", "2026-09-30", "--as-of", "2026-10-31"],
    );
    let funnel: Vec<&Value> = rows(&doc)
        .iter()
        .filter(|r| r["part"] == "funnel")
        .collect();
    // Leads created in October of the sample, counted by SQL over its leads.
    let created = wd.sql(
        "SELECT count(*) AS n FROM leads WHERE created_at >= '2026-10-01' AND created_at < '2026-11-01'",
    );
    let n: i64 = created.lines().nth(1).unwrap().trim().parse().unwrap();
    assert_eq!(
        row(
            &funnel.iter().map(|r| (*r).clone()).collect::<Vec<_>>(),
            "step",
            "became lead"
        )["count"],
        n
    );
    let run = wd.run(&[
        "metrics",
        "changes",
        "--since",
        "2026-11-30",
        "--as-of",
        "2026-10-31",
        "-q",
    ]);
    let run = run.expect_code(2);
    assert!(
        run.stderr.contains("not before the as-of"),
        "{}",
        run.stderr
    );
    let run = wd
        .run(&["metrics", "waterfall", "--since", "2026-09-30", "-q"])
        .expect_code(2);
    assert!(run.stderr.contains("only `changes`"), "{}", run.stderr);
}

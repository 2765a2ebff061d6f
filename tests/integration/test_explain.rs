//! `funnel explain`: for every metric it covers, on the bundled sample and on a
//! generated export, the rows behind a sample of cells reproduce each cell — their
//! number for a count, the sum or the median of their values otherwise.

use serde_json::Value;

use crate::workdir::Workdir;

fn json(wd: &Workdir, args: &[&str]) -> Value {
    let run = wd.run(args).ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn metric(wd: &Workdir, name: &str, flags: &[&str]) -> Vec<Value> {
    let mut args = vec!["metrics", name, "--format", "json", "-q"];
    args.extend_from_slice(flags);
    json(wd, &args)["rows"].as_array().unwrap().clone()
}

fn explained(
    wd: &Workdir,
    name: &str,
    flags: &[&str],
    row: &[(&str, String)],
    column: &str,
) -> Vec<Value> {
    let mut args: Vec<String> = [
        "explain", name, "--format", "json", "-q", "--column", column,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(flags.iter().map(|s| s.to_string()));
    for (k, v) in row {
        args.push("--row".into());
        args.push(format!("{k}={v}"));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    json(wd, &refs)["rows"].as_array().unwrap().clone()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

fn median(v: Vec<f64>) -> f64 {
    quantile(v, 0.5)
}

/// numpy's default (linear) quantile, written out here independently of funnel's.
fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let at = (v.len() - 1) as f64 * q;
    let (lo, hi) = (v[at.floor() as usize], v[at.ceil() as usize]);
    lo + (hi - lo) * (at - at.floor())
}

/// Checks `column` of each of `cells` (rows of the metric's output) against its
/// explanation: `keys` name the row.
fn check(
    wd: &Workdir,
    name: &str,
    flags: &[&str],
    keys: &[&str],
    cells: &[Value],
    column: &str,
) -> usize {
    let mut checked = 0;
    for cell in cells {
        let row: Vec<(&str, String)> = keys.iter().map(|k| (*k, text(&cell[*k]))).collect();
        let rows = explained(wd, name, flags, &row, column);
        let expected = cell[column].as_f64();
        let got = match column {
            "amount" => Some(
                rows.iter()
                    .map(|r| r["amount"].as_f64().unwrap_or(0.0))
                    .sum(),
            ),
            "won_amount" | "lost_amount" => Some(
                rows.iter()
                    .map(|r| r["amount_base"].as_f64().unwrap_or(0.0))
                    .sum::<f64>(),
            ),
            "median_response_hours" => {
                let v: Vec<f64> = rows
                    .iter()
                    .filter_map(|r| r["response_hours"].as_f64())
                    .collect();
                (!v.is_empty()).then(|| median(v))
            }
            "mean_days" => {
                let v: Vec<f64> = rows.iter().filter_map(|r| r["days"].as_f64()).collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            }
            "median_days" | "p90_days" | "max_days" => {
                let v: Vec<f64> = rows.iter().filter_map(|r| r["days"].as_f64()).collect();
                let q = match column {
                    "median_days" => 0.5,
                    "p90_days" => 0.9,
                    _ => 1.0,
                };
                (!v.is_empty()).then(|| quantile(v, q))
            }
            _ => Some(rows.len() as f64),
        };
        match (expected, got) {
            (Some(e), Some(g)) => assert!(
                (e - g).abs() <= 1e-6 * e.abs().max(1.0),
                "{name} {flags:?} {row:?} {column}: cell {e}, rows give {g}"
            ),
            (e, g) => assert_eq!(e, g, "{name} {flags:?} {row:?} {column}"),
        }
        checked += 1;
    }
    checked
}

fn every_metric_reproduces_its_cells(wd: &Workdir) {
    let mut checked = 0;
    // waterfall: every stage, whole and split.
    let rows = metric(wd, "waterfall", &[]);
    checked += check(wd, "waterfall", &[], &["stage"], &rows, "reached");
    let split = ["--by", "source_team"];
    let rows = metric(wd, "waterfall", &split);
    checked += check(
        wd,
        "waterfall",
        &split,
        &["source_team", "stage"],
        &rows[..8.min(rows.len())],
        "reached",
    );
    // conversion: a few cohorts of each pair, both counts.
    let rows = metric(wd, "conversion", &[]);
    let some: Vec<Value> = rows
        .iter()
        .filter(|r| r["entered"].as_i64() > Some(0))
        .step_by(7)
        .take(5)
        .cloned()
        .collect();
    let keys = ["cohort", "from_stage", "to_stage"];
    checked += check(wd, "conversion", &[], &keys, &some, "entered");
    checked += check(wd, "conversion", &[], &keys, &some, "converted");
    let flags = ["--by", "source", "--period", "quarter"];
    let rows = metric(wd, "conversion", &flags);
    let some: Vec<Value> = rows
        .iter()
        .filter(|r| r["converted"].as_i64() > Some(0))
        .step_by(5)
        .take(4)
        .cloned()
        .collect();
    checked += check(
        wd,
        "conversion",
        &flags,
        &["source", "cohort", "from_stage", "to_stage"],
        &some,
        "converted",
    );
    // sla: every count and the median.
    let rows = metric(wd, "sla", &[]);
    for column in [
        "mql_episodes",
        "accepted",
        "accepted_within_sla",
        "rejected",
        "pending",
        "due",
        "breached",
        "median_response_hours",
    ] {
        checked += check(wd, "sla", &[], &[], &rows, column);
    }
    let flags = ["--period", "quarter"];
    let rows = metric(wd, "sla", &flags);
    checked += check(
        wd,
        "sla",
        &flags,
        &["period"],
        &rows[..3.min(rows.len())],
        "breached",
    );
    // cycle and funnel-time: counts, means and quantiles of durations.
    let rows = metric(wd, "cycle", &[]);
    for column in ["count", "mean_days", "median_days", "p90_days", "max_days"] {
        checked += check(wd, "cycle", &[], &["measure"], &rows, column);
    }
    let rows = metric(wd, "funnel-time", &[]);
    for column in ["count", "mean_days", "median_days", "p90_days"] {
        checked += check(
            wd,
            "funnel-time",
            &[],
            &["from_stage", "to_stage"],
            &rows[..3],
            column,
        );
    }
    // stage-time: completed stays and their durations, open stays, regressions.
    let rows = metric(wd, "stage-time", &[]);
    for column in [
        "stays",
        "mean_days",
        "median_days",
        "open_stays",
        "regressions",
    ] {
        checked += check(wd, "stage-time", &[], &["stage"], &rows[..4], column);
    }
    // win-rate: counts and sums.
    let rows = metric(wd, "win-rate", &[]);
    for column in ["closed", "won", "lost", "won_amount", "lost_amount"] {
        checked += check(wd, "win-rate", &[], &[], &rows, column);
    }
    let flags = ["--by", "owner_id"];
    let rows = metric(wd, "win-rate", &flags);
    checked += check(
        wd,
        "win-rate",
        &flags,
        &["owner_id"],
        &rows[..4.min(rows.len())],
        "won_amount",
    );
    // changes: every step's count, and the pipeline's amounts, whole and split.
    for flags in [
        &[][..],
        &["--since", "2026-01-01", "--by", "source_team"][..],
    ] {
        let rows = metric(wd, "changes", flags);
        let keys: &[&str] = if flags.is_empty() {
            &["part", "step"]
        } else {
            &["source_team", "part", "step"]
        };
        let some: Vec<Value> = rows.iter().take(24).cloned().collect();
        checked += check(wd, "changes", flags, keys, &some, "count");
        let pipeline: Vec<Value> = some
            .into_iter()
            .filter(|r| r["part"] == "pipeline")
            .collect();
        checked += check(wd, "changes", flags, keys, &pipeline, "amount");
    }
    assert!(checked >= 55, "only {checked} cells checked");
}

#[test]
fn explain_reproduces_cells_on_the_bundled_sample() {
    let wd = Workdir::new();
    every_metric_reproduces_its_cells(&wd);
    // The question the VP asks: which MQLs breached the SLA.
    let run = wd
        .run(&["explain", "sla", "--column", "breached", "-q"])
        .ok();
    assert!(run.stdout.contains("(126 rows)"), "{}", run.stdout);
}

#[test]
fn explain_reproduces_cells_on_a_generated_export() {
    let wd = Workdir::new();
    wd.run(&[
        "generate", "--out", "gen", "--leads", "1500", "--seed", "5", "-q",
    ])
    .ok();
    wd.run(&["ingest", "gen", "-q"]).ok();
    every_metric_reproduces_its_cells(&wd);
}

#[test]
fn explain_says_what_it_cannot_do() {
    let wd = Workdir::new();
    let run = wd.run(&["explain", "quota", "-q"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(
            "explain covers waterfall, conversion, funnel-time, cycle, stage-time, sla, win-rate"
        ),
        "{}",
        run.stderr
    );
    let run = wd.run(&["explain", "waterfall", "-q"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--row stage="), "{}", run.stderr);
    let run = wd.run(&[
        "explain",
        "waterfall",
        "--by",
        "source",
        "--row",
        "stage=mql",
        "-q",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--row source="), "{}", run.stderr);
    let run = wd.run(&["explain", "sla", "--column", "within_sla_rate", "-q"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("numerator"), "{}", run.stderr);
}

/// The report's summary.json and tables/headlines.csv carry, per headline number, the
/// explain command lines whose rows make it.
#[test]
fn explain_commands_in_the_report_reproduce_the_headlines() {
    let wd = Workdir::new();
    wd.run(&["report", "-q"]).ok();
    let summary: Value = serde_json::from_str(&wd.read("reports/latest/summary.json")).unwrap();
    let run = |command: &str| -> usize {
        let mut args: Vec<&str> = command.split(' ').skip(1).collect();
        args.extend(["--format", "json", "-q"]);
        json(&wd, &args)["rows"].as_array().unwrap().len()
    };
    let cmd = |key: &str, i: usize| summary["explain"][key][i].as_str().unwrap().to_string();
    assert_eq!(
        run(&cmd("mqls", 0)) as i64,
        summary["headline"]["mqls"].as_i64().unwrap()
    );
    // A rate: its numerator's rows over its denominator's.
    let (sal, mql) = (run(&cmd("mql_to_sal", 0)), run(&cmd("mql_to_sal", 1)));
    let rate = summary["headline"]["mql_to_sal"].as_f64().unwrap();
    assert!((sal as f64 / mql as f64 - rate).abs() < 1e-12);
    let csv = wd.read("reports/latest/tables/headlines.csv");
    assert!(csv.contains("funnel explain win-rate"), "{csv}");
}

/// `funnel explain plan`: the rows behind each commitment's actual on the bundled
/// sample (its company's plan) number or sum to it; a rate's numerator and
/// denominator make it.
#[test]
fn explain_plan_reproduces_every_commitments_actual() {
    let wd = Workdir::new();
    let lines = metric(&wd, "plan", &[]);
    assert!(lines.len() >= 5);
    for line in &lines {
        let measure = line["measure"].as_str().unwrap();
        let actual = line["actual"].as_f64().unwrap();
        let row = [("measure", measure.to_string())];
        let of = |column: &str| explained(&wd, "plan", &[], &row, column);
        let got = match measure {
            "bookings" | "pipeline_created" => of("actual")
                .iter()
                .map(|r| r["value"].as_f64().unwrap())
                .sum::<f64>(),
            "sla_within_rate" => {
                let (due, breached) = (of("due").len(), of("breached").len());
                (due - breached) as f64 / due as f64
            }
            "win_rate" => of("won").len() as f64 / of("closed").len() as f64,
            "mql_to_sql_rate" | "sql_to_win_rate" => {
                of("converted").len() as f64 / of("entered").len() as f64
            }
            _ => of("actual").len() as f64,
        };
        assert!(
            (got - actual).abs() <= 1e-9 * actual.abs().max(1.0),
            "{measure}: {got} from the rows, {actual} in the plan"
        );
    }
    let run = wd.run(&["explain", "plan", "-q"]).expect_code(2);
    assert!(run.stderr.contains("--row measure=NAME"), "{}", run.stderr);
    let run = wd
        .run(&[
            "explain",
            "plan",
            "--row",
            "measure=mqls",
            "--column",
            "due",
            "-q",
        ])
        .expect_code(2);
    assert!(run.stderr.contains("one column, actual"), "{}", run.stderr);
}

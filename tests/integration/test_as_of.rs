//! Point-in-time `--as-of`: the numbers at an earlier instant T are the numbers of
//! the export as it would have been taken at T. The test cuts a generated export at
//! T by hand (plain text, independent of funnel's own cut), ingests both, and holds
//! every metric on the full warehouse at `--as-of T` to the same metric on the cut
//! one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::workdir::Workdir;

/// A native CSV (no quoted fields: the generator writes none) as header + rows.
struct Csv {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Csv {
    fn read(path: &Path) -> Csv {
        let text = std::fs::read_to_string(path).expect("read csv");
        assert!(!text.contains('"'), "{} has quoted fields", path.display());
        let mut lines = text.lines();
        let header = lines.next().unwrap().split(',').map(String::from).collect();
        let rows = lines
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').map(String::from).collect())
            .collect();
        Csv { header, rows }
    }

    fn col(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).expect(name)
    }

    fn write(&self, path: &Path) {
        let mut out = self.header.join(",");
        out.push('\n');
        for r in &self.rows {
            out.push_str(&r.join(","));
            out.push('\n');
        }
        std::fs::write(path, out).expect("write csv");
    }

    /// Drops the rows whose `column` (an ISO instant, `…Z`) is after `t`.
    fn drop_after(&mut self, column: &str, t: &str) {
        let c = self.col(column);
        self.rows.retain(|r| r[c].as_str() <= t);
    }
}

/// Writes into `to` the export in `from` as it would have been taken at `t`.
fn cut_export(from: &Path, to: &Path, t: &str) {
    std::fs::create_dir_all(to).unwrap();
    for plan in ["campaigns", "quotas", "owners"] {
        let name = format!("{plan}.csv");
        std::fs::copy(from.join(&name), to.join(&name)).unwrap();
    }
    for (table, column) in [
        ("leads", "created_at"),
        ("lead_stage_events", "entered_at"),
        ("touches", "occurred_at"),
    ] {
        let mut csv = Csv::read(&from.join(format!("{table}.csv")));
        csv.drop_after(column, t);
        csv.write(&to.join(format!("{table}.csv")));
    }
    // Opportunity stage events: per opportunity, whether it moved after t, and its
    // stage and latest amount at t (events in file order: by time, then stage).
    let mut events = Csv::read(&from.join("opportunity_stage_events.csv"));
    let (eo, es, ee, ea) = (
        events.col("opportunity_id"),
        events.col("stage"),
        events.col("entered_at"),
        events.col("amount"),
    );
    let mut moved: BTreeSet<String> = BTreeSet::new();
    let mut at: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    let mut sorted = events.rows.clone();
    sorted.sort_by(|a, b| (&a[eo], &a[ee]).cmp(&(&b[eo], &b[ee])));
    for r in &sorted {
        if r[ee].as_str() > t {
            moved.insert(r[eo].clone());
            continue;
        }
        let entry = at.entry(r[eo].clone()).or_default();
        entry.0 = r[es].clone();
        entry.1 = r[ee].clone();
        if !r[ea].is_empty() {
            entry.2 = r[ea].clone();
        }
    }
    events.drop_after("entered_at", t);
    events.write(&to.join("opportunity_stage_events.csv"));
    let mut opps = Csv::read(&from.join("opportunities.csv"));
    opps.drop_after("created_at", t);
    let (oi, oc, os, ost, oa) = (
        opps.col("opportunity_id"),
        opps.col("closed_at"),
        opps.col("status"),
        opps.col("stage"),
        opps.col("amount"),
    );
    for r in &mut opps.rows {
        let closed_later = !r[oc].is_empty() && r[oc].as_str() > t;
        if closed_later {
            r[os] = "open".into();
            r[oc] = String::new();
        }
        if closed_later || moved.contains(&r[oi]) {
            let (stage, _, amount) = at.get(&r[oi]).cloned().unwrap_or_default();
            r[ost] = stage;
            if !amount.is_empty() {
                r[oa] = amount;
            }
        }
    }
    opps.write(&to.join("opportunities.csv"));
}

/// Whether two metric documents agree: same shape and strings, numbers within 1e-9
/// (relative: sums of floats may add in another order).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn metric_names(wd: &Workdir) -> Vec<String> {
    wd.run(&["metrics", "--list"])
        .ok()
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

fn json(wd: &Workdir, warehouse: &str, args: &[&str]) -> Value {
    let mut all = vec!["metrics"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--warehouse", warehouse, "--format", "json", "-q"]);
    let run = wd.run(&all).ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{}", run.stdout))
}

/// The created_at of the lead whose row is `at` of the way through the leads sorted
/// by time: an instant the cut export's own latest event is exactly.
fn instant_at(export: &Path, at: f64) -> String {
    let leads = Csv::read(&export.join("leads.csv"));
    let c = leads.col("created_at");
    let mut times: Vec<&String> = leads.rows.iter().map(|r| &r[c]).collect();
    times.sort();
    times[((times.len() - 1) as f64 * at) as usize].clone()
}

#[test]
fn every_metric_at_an_earlier_as_of_equals_the_export_cut_then() {
    let wd = Workdir::new();
    // A plan, so that the plan metric is held to the cut export too.
    wd.write(
        "funnel.toml",
        "[plan]\nperiod = \"2026-Q1\"\nbookings = 400000\n\
         [[plan.commitment]]\nteam = \"both\"\nmeasure = \"won_deals\"\ntarget = 12\n\
         [[plan.commitment]]\nteam = \"marketing\"\nmeasure = \"pipeline_created\"\ntarget = 900000\n\
         [[plan.commitment]]\nteam = \"marketing\"\nmeasure = \"mqls\"\ntarget = 120\nsplit = { source_team = \"marketing\" }\n\
         [[plan.commitment]]\nteam = \"sales\"\nmeasure = \"sla_within_rate\"\ntarget = 0.8\n\
         [[plan.commitment]]\nteam = \"both\"\nmeasure = \"mql_to_sql_rate\"\ntarget = 0.3\n\
         [[plan.commitment]]\nteam = \"sales\"\nmeasure = \"win_rate\"\ntarget = 0.3\n",
    );
    wd.run(&[
        "generate", "--out", "gen", "--leads", "1500", "--seed", "11", "--months", "15",
    ])
    .ok();
    wd.run(&["ingest", "gen", "--warehouse", "full", "-q"]).ok();
    let names = metric_names(&wd);
    assert!(names.len() >= 15, "{names:?}");
    // The same definitions with other prose: the frames computed at ingest do not
    // serve them, so the metrics derive everything from the tables. The plan's
    // backtest cuts the stored opportunity model at each earlier moment; without it
    // it models the cut tables: both ways must agree.
    let plan_toml = wd.read("funnel.toml");
    wd.write(
        "alt.toml",
        format!("{plan_toml}\n[definitions]\nlead = \"Anyone who gave us contact details.\"\n"),
    );
    for at in [0.35, 0.7, 0.93] {
        let t = instant_at(&wd.join("gen"), at);
        let cut = format!("cut-{at}");
        cut_export(&wd.join("gen"), &wd.join(&cut), &t);
        let warehouse = format!("wh-{at}");
        wd.run(&["ingest", &cut, "--warehouse", &warehouse, "-q"])
            .ok();
        let mut cases: Vec<Vec<&str>> = names.iter().map(|n| vec![n.as_str()]).collect();
        cases.push(vec!["waterfall", "--by", "source_team"]);
        cases.push(vec!["sla", "--period", "month"]);
        cases.push(vec!["stage-time", "--by", "owner_id"]);
        cases.push(vec!["plan", "--backtest", "2"]);
        let backtest = |config: &str| {
            let run = wd
                .run(&[
                    "--config",
                    config,
                    "metrics",
                    "plan",
                    "--backtest",
                    "4",
                    "--as-of",
                    &t,
                    "--format",
                    "json",
                    "-q",
                ])
                .ok();
            serde_json::from_str::<Value>(&run.stdout).unwrap()["rows"].clone()
        };
        let (stored, derived) = (backtest("funnel.toml"), backtest("alt.toml"));
        assert!(
            same(&stored, &derived),
            "plan backtest at {t}: from the stored model {stored}\nfrom the tables {derived}"
        );
        for case in &cases {
            let mut at_t = case.clone();
            at_t.extend_from_slice(&["--as-of", &t]);
            let full = json(&wd, "full", &at_t);
            let then = json(&wd, &warehouse, case);
            assert_eq!(then["as_of"], full["as_of"], "{case:?} at {t}");
            assert!(
                same(&full["rows"], &then["rows"]),
                "{case:?} at {t}: the full warehouse at --as-of differs from the cut export\nfull: {}\ncut:  {}",
                full["rows"],
                then["rows"]
            );
        }
    }
}

/// Dates version `id`'s commit (its last run's end) at `when`, as if it had been
/// ingested then.
fn date_version(wd: &Workdir, id: &str, when: &str) {
    let path = wd.join(&format!("data/warehouse/versions/{id}/_manifest.json"));
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let runs = m["runs"].as_array_mut().unwrap();
    let last = runs.last_mut().unwrap();
    last["finished_at"] = Value::String(when.to_string());
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

/// Knowledge time: two ingests on different days, the second correcting a lead's
/// source; `--as-known-at` the first day gives the first version's numbers.
#[test]
fn as_known_at_reads_the_version_current_then() {
    let wd = Workdir::new();
    wd.write(
        "a/leads.csv",
        "lead_id,created_at,source,updated_at\nL1,2025-01-05T00:00:00Z,webinar,2025-01-05T00:00:00Z\nL2,2025-01-06T00:00:00Z,webinar,2025-01-06T00:00:00Z\n",
    );
    wd.run(&["ingest", "a", "-q"]).ok();
    date_version(&wd, "v000001", "2026-12-01T22:00:00Z");
    wd.write(
        "b/leads.csv",
        "lead_id,created_at,source,updated_at\nL1,2025-01-05T00:00:00Z,event,2025-02-01T00:00:00Z\n",
    );
    wd.run(&["ingest", "b", "-q"]).ok();
    let sources = |extra: &[&str]| {
        let mut args = vec![
            "sql",
            "SELECT source, count(*) AS n FROM leads GROUP BY source ORDER BY source",
            "--format",
            "csv",
        ];
        args.extend_from_slice(extra);
        wd.run(&args).ok().stdout
    };
    assert_eq!(sources(&[]), "source,n\nevent,1\nwebinar,1\n");
    assert_eq!(
        sources(&["--as-known-at", "2026-12-01"]),
        "source,n\nwebinar,2\n"
    );
    assert_eq!(
        sources(&["--as-known-at", "v000001"]),
        "source,n\nwebinar,2\n"
    );
    let then = crate::fixture::metric(
        &wd,
        &[
            "waterfall",
            "--by",
            "source",
            "--from",
            "2025-01-01",
            "--to",
            "2025-01-31",
            "--as-known-at",
            "2026-12-01",
        ],
    );
    let now = crate::fixture::metric(
        &wd,
        &[
            "waterfall",
            "--by",
            "source",
            "--from",
            "2025-01-01",
            "--to",
            "2025-01-31",
        ],
    );
    let leads = |doc: &Value, source: &str| {
        crate::fixture::rows(doc)
            .iter()
            .find(|r| r["source"] == source && r["stage"] == "lead")
            .map(|r| r["reached"].as_i64().unwrap())
    };
    assert_eq!(leads(&then, "webinar"), Some(2));
    assert_eq!(leads(&now, "webinar"), Some(1));
    assert_eq!(leads(&now, "event"), Some(1));
    // Before the first version, and a version that is not there: clear errors.
    let run = wd.run(&["metrics", "waterfall", "--as-known-at", "2026-11-30"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("the oldest kept is v000001"),
        "{}",
        run.stderr
    );
    let run = wd.run(&["metrics", "waterfall", "--as-known-at", "v000009"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

/// `[warehouse] keep_daily` keeps the last version of each recent day beyond
/// `keep_versions`.
#[test]
fn keep_daily_keeps_one_version_per_day() {
    let wd = Workdir::new();
    wd.write(
        "funnel.toml",
        "[warehouse]\nkeep_versions = 1\nkeep_daily = 2\n",
    );
    let today = chrono::Utc::now().date_naive();
    let day = |back: i64| format!("{}T12:00:00Z", today - chrono::Duration::days(back));
    for (i, when) in [day(2), day(1), day(1)].iter().enumerate() {
        wd.write(
            &format!("in{i}/leads.csv"),
            format!("lead_id,created_at\nL{i},2025-01-0{}T00:00:00Z\n", i + 1),
        );
        wd.run(&["ingest", &format!("in{i}"), "-q"]).ok();
        date_version(&wd, &format!("v00000{}", i + 1), when);
    }
    wd.write(
        "in3/leads.csv",
        "lead_id,created_at\nL3,2025-01-04T00:00:00Z\n",
    );
    wd.run(&["ingest", "in3", "-q"]).ok();
    let kept: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(wd.join("data/warehouse/versions"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    };
    // Today's v000004 (the newest) and yesterday's last, v000003.
    assert_eq!(kept, ["v000003", "v000004"]);
    let yesterday = (today - chrono::Duration::days(1)).to_string();
    let n = wd
        .run(&[
            "sql",
            "SELECT count(*) AS n FROM leads",
            "--as-known-at",
            &yesterday,
            "--format",
            "csv",
        ])
        .ok()
        .stdout;
    assert_eq!(n, "n\n3\n");
}

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

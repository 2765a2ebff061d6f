//! Derived tables (`_derived/` in each version) and the query engine.
//!
//! Derived tables: computed at ingest for the
//! definitions then in force, they must give exactly the numbers the metrics compute
//! without them, and must not be used under other definitions.

use serde_json::Value;

use crate::fixture::{copy_fixture, metric, with_range};
use crate::workdir::Workdir;

/// Every metric, and the variants whose code paths differ (a split, histograms).
const CASES: &[&[&str]] = &[
    &["waterfall"],
    &["waterfall", "--by", "source"],
    // The dimensions the derived lead funnel restores on reading (each copies a
    // lead column).
    &["waterfall", "--by", "segment"],
    &["conversion", "--by", "region"],
    &["waterfall", "--by", "owner_id"],
    &["touches", "--by", "campaign_id"],
    &["conversion"],
    &["funnel-time"],
    &["funnel-time", "--histogram"],
    &["cycle"],
    &["stage-time"],
    &["touches"],
    &["touches", "--by", "source_team"],
    &["touches", "--histogram"],
    &["sla"],
    &["sla", "--histogram"],
    &["win-rate"],
    &["revenue-share"],
    &["attribution"],
    &["campaign-cost"],
    &["velocity"],
    &["lint"],
];

/// Exit code, stdout and stderr of each case (a metric whose tables the fixture
/// lacks fails the same way with and without derived tables).
fn all_metrics(wd: &Workdir, as_of: bool) -> Vec<(i32, String, String)> {
    all_metrics_env(wd, as_of, &[])
}

fn all_metrics_env(wd: &Workdir, as_of: bool, env: &[(&str, &str)]) -> Vec<(i32, String, String)> {
    CASES
        .iter()
        .map(|case| {
            let args = if as_of {
                with_range(case)
            } else {
                let mut v = case.to_vec();
                v.extend_from_slice(&["--from", "2025-01-01", "--to", "2025-03-31"]);
                v
            };
            let mut all = vec!["metrics"];
            all.extend_from_slice(&args);
            all.extend_from_slice(&["--format", "json"]);
            let run = wd.run_env(env, &all);
            (run.code, run.stdout, run.stderr)
        })
        .collect()
}

/// Removes what ingest recorded for readers (the derived tables and the latest
/// event) from the current manifest, as a warehouse written before them would be.
fn forget_derived(wd: &Workdir) {
    let path = wd.join("data/warehouse/current/_manifest.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let object = manifest.as_object_mut().unwrap();
    assert!(
        object.remove("derived").is_some(),
        "ingest records derived tables"
    );
    assert!(
        object.remove("latest_event").is_some(),
        "ingest records the latest event"
    );
    std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
}

/// Two outputs of one case agree: the same exit code and message, and the same JSON
/// with numbers equal to 1e-9 (relative): summing in another order may change the
/// last digit of a float.
fn same(a: &(i32, String, String), b: &(i32, String, String)) -> bool {
    fn close(x: &Value, y: &Value) -> bool {
        match (x, y) {
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close(x, y))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
            }
            _ => x == y,
        }
    }
    if a.0 != b.0 || a.2 != b.2 {
        return false;
    }
    match (
        serde_json::from_str::<Value>(&a.1),
        serde_json::from_str::<Value>(&b.1),
    ) {
        (Ok(x), Ok(y)) => close(&x, &y),
        _ => a.1 == b.1,
    }
}

fn ingest(fixture: &str) -> Workdir {
    let wd = Workdir::new();
    copy_fixture(&wd, fixture);
    wd.run(&["ingest", "export", "-q"]).ok();
    for table in [
        "lead_funnel",
        "lead_touches",
        "mql_episodes",
        "opportunity_model",
        "opportunity_touches",
        "unknown_lead_touches",
    ] {
        assert!(
            wd.join(&format!("data/warehouse/current/_derived/{table}.parquet"))
                .is_file(),
            "{table} derived at ingest"
        );
    }
    wd
}

#[test]
fn derived_tables_give_the_numbers_computed_without_them() {
    for fixture in ["funnel", "attribution"] {
        let wd = ingest(fixture);
        let with = all_metrics(&wd, true);
        let with_default_as_of = all_metrics(&wd, false);
        forget_derived(&wd);
        let without = all_metrics(&wd, true);
        let without_default_as_of = all_metrics(&wd, false);
        assert!(
            with.iter().filter(|(code, _, _)| *code == 0).count() >= 12,
            "{fixture}: most metrics run"
        );
        for (i, case) in CASES.iter().enumerate() {
            assert!(
                same(&with[i], &without[i]),
                "{fixture}: {case:?}\n{:?}\n{:?}",
                with[i],
                without[i]
            );
            assert!(
                same(&with_default_as_of[i], &without_default_as_of[i]),
                "{fixture}: {case:?} with the default as-of"
            );
        }
    }
}

#[test]
fn derived_tables_are_ignored_under_other_definitions() {
    let wd = ingest("funnel");
    let touches = |wd: &Workdir| metric(wd, &with_range(&["touches"]));
    let default = touches(&wd);
    // Only forms count now: the derived touch counts (every default action) must not
    // be read.
    let toml = wd.read("funnel.toml");
    wd.write(
        "funnel.toml",
        format!("{toml}\n[touches]\ncount_actions = [\"form\"]\n"),
    );
    let narrowed = touches(&wd);
    assert_ne!(
        default, narrowed,
        "the fixture has touches other than forms"
    );
    forget_derived(&wd);
    assert_eq!(narrowed, touches(&wd));
}

#[test]
fn streaming_and_in_memory_engines_give_the_same_numbers() {
    for fixture in ["funnel", "attribution"] {
        let wd = ingest(fixture);
        // Everything streaming, against the default (metrics in memory).
        let streaming = all_metrics_env(&wd, true, &[("POLARS_FORCE_STREAMING", "1")]);
        let in_memory = all_metrics_env(&wd, true, &[("POLARS_FORCE_STREAMING", "0")]);
        let default = all_metrics(&wd, true);
        for (i, case) in CASES.iter().enumerate() {
            assert!(same(&in_memory[i], &default[i]), "{fixture}: {case:?}");
            assert!(
                same(&streaming[i], &in_memory[i]),
                "{fixture}: {case:?}\n{:?}\n{:?}",
                streaming[i],
                in_memory[i]
            );
        }
    }
}

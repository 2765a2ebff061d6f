//! The report fitted to the data: a number that needs what an export does not hold
//! (a stage it never records, amounts, lost deals, sources, touches) is "not in
//! your data" with the reason, never a number; impossible durations never reach a
//! headline. Four shapes of export: the full lifecycle (the sample), a marketing
//! funnel without SAL, SQL, amounts or lost deals, a CRM pipeline without lead
//! stages or sources, and a real Salesforce developer org through the preset.

use serde_json::Value;

use crate::workdir::Workdir;

/// The report's summary.json and index.html.
fn report(wd: &Workdir) -> (Value, String) {
    wd.run(&["report", "-q"]).ok();
    let summary = serde_json::from_str(&wd.read("reports/latest/summary.json")).unwrap();
    (summary, wd.read("reports/latest/index.html"))
}

/// Every headline is a number that can be, or null with "Not in your data" and why.
fn no_made_up_number(summary: &Value) {
    for (key, value) in summary["headline"].as_object().unwrap() {
        if let Some(x) = value.as_f64() {
            assert!(x >= 0.0, "{key} = {x}");
            if key.ends_with("_share")
                || key == "within_sla"
                || key.ends_with("_rate")
                || key == "mql_to_sal"
            {
                assert!(x <= 1.0, "{key} = {x}");
            }
        }
    }
}

fn said(summary: &Value, key: &str) -> String {
    assert!(
        summary["headline"][key].is_null(),
        "{key}: {}",
        summary["headline"][key]
    );
    summary["caveats"][key]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_full_lifecycle_has_every_headline() {
    let wd = crate::fixture::sample_with_repo_definitions();
    let (summary, html) = report(&wd);
    no_made_up_number(&summary);
    for (key, value) in summary["headline"].as_object().unwrap() {
        assert!(!value.is_null(), "{key} is null on the sample");
    }
    assert!(!html.contains("Not in your data"));
}

#[test]
fn a_marketing_funnel_without_sal_amounts_or_lost_deals_says_so() {
    let wd = Workdir::new();
    wd.write(
        "e/leads.csv",
        "lead_id,created_at,source\nL1,2025-01-02,webinar\nL2,2025-01-03,webinar\nL3,2025-01-04,organic\nL4,2025-01-05,paid_search\n",
    );
    wd.write(
        "e/lead_stage_events.csv",
        "lead_id,stage,entered_at\nL1,lead,2025-01-02\nL1,mql,2025-01-05\nL1,customer,2025-02-01\nL2,lead,2025-01-03\nL2,mql,2025-01-09\nL3,lead,2025-01-04\nL4,lead,2025-01-05\n",
    );
    wd.write(
        "e/opportunities.csv",
        "opportunity_id,lead_id,created_at,closed_at,stage,status,amount,currency\nO1,L1,2025-01-10,2025-02-01,Closed Won,won,,\n",
    );
    wd.write(
        "e/touches.csv",
        "touch_id,lead_id,occurred_at,channel,action,team\nT1,L1,2025-01-01,email,click,marketing\nT2,L2,2025-01-02,webinar,event,marketing\n",
    );
    wd.run(&["ingest", "e", "-q"]).ok();
    let (summary, html) = report(&wd);
    no_made_up_number(&summary);
    assert_eq!(summary["headline"]["mqls"], 2);
    let sal =
        "Not in your data: no lead is recorded at the SAL stage (it is reached only by backfill)";
    assert_eq!(said(&summary, "mql_to_sal"), sal);
    assert_eq!(said(&summary, "within_sla"), sal);
    assert_eq!(
        said(&summary, "win_rate"),
        "Not in your data: no lost opportunity is in the export"
    );
    assert_eq!(
        said(&summary, "won_amount"),
        "Not in your data: the opportunities carry no amount"
    );
    assert!(said(&summary, "velocity_per_day").starts_with("Not in your data: "));
    assert!(said(&summary, "marketing_sourced_share").starts_with("Not in your data: "));
    // The SLA and attribution sections say why instead of drawing a chart.
    assert!(html.contains(&format!("{sal}.")), "the SLA section");
    assert!(html.contains("Not in your data: the opportunities carry no amount."));
    assert!(!wd.join("reports/latest/charts/sla.svg").exists());
    assert!(!wd.join("reports/latest/charts/attribution.svg").exists());
    // `funnel chart` refuses the same charts, with the same reason.
    let run = wd.run(&["chart", "sla", "--out", "sla.svg"]).expect_code(3);
    assert!(
        run.stderr
            .contains("chart `sla`: not in your data: no lead is recorded at the SAL stage"),
        "{}",
        run.stderr
    );
    assert!(!wd.join("sla.svg").exists());
    wd.run(&["chart", "waterfall", "--out", "w.svg", "-q"]).ok();
    // A change of definitions shows the same tiles empty, not a rate made up.
    wd.write("other.toml", "[funnel]\nconversion_window_days = 30\n");
    let diff = wd.run(&["definitions", "diff", "other.toml"]).ok().stdout;
    let row = |label: &str| -> Vec<String> {
        let line = diff
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{label}  ")))
            .unwrap_or_else(|| panic!("no `{label}` row in\n{diff}"));
        line[line.find(label).unwrap() + label.len()..]
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(
        row("MQL → SAL (accepted by sales)"),
        ["—", "—", "—"],
        "{diff}"
    );
    assert_eq!(row("won revenue"), ["—", "—", "—"], "{diff}");
    assert_eq!(row("of them became MQLs"), ["2", "2", "="], "{diff}");
    // The trend's earlier period (January 2-10, before January 11-19) leaves the
    // same tiles empty: its 2 MQLs are counted, no MQL → SAL rate is made up.
    wd.run(&["report", "--from", "2025-01-11", "--to", "2025-01-19", "-q"])
        .ok();
    let summary: Value = serde_json::from_str(&wd.read("reports/latest/summary.json")).unwrap();
    let trend = &summary["trend"];
    assert_eq!(trend["period_starts"][6], "2025-01-02", "{trend}");
    assert_eq!(
        trend["mqls"]["previous_period"].as_f64(),
        Some(2.0),
        "{trend}"
    );
    for key in ["mql_to_sal", "within_sla", "won_amount"] {
        assert_eq!(trend[key]["previous_period"], Value::Null, "{key}: {trend}");
    }
}

#[test]
fn a_crm_pipeline_without_lead_stages_or_sources_says_so() {
    let wd = Workdir::new();
    wd.write(
        "e/leads.csv",
        "lead_id,created_at\nL1,2025-01-02\nL2,2025-01-03\nL3,2025-01-04\n",
    );
    wd.write(
        "e/opportunities.csv",
        "opportunity_id,lead_id,created_at,closed_at,stage,status,amount,currency\n\
         O1,L1,2025-01-10,2025-02-01,Closed Won,won,1000,USD\n\
         O2,L2,2025-01-11,2025-02-03,Closed Lost,lost,500,USD\n\
         O3,L3,2025-01-12,,Proposal,open,700,USD\n",
    );
    wd.run(&["ingest", "e", "-q"]).ok();
    let (summary, html) = report(&wd);
    no_made_up_number(&summary);
    assert_eq!(
        said(&summary, "mqls"),
        "Not in your data: no lead is recorded at the MQL stage (it is reached only by backfill)"
    );
    assert_eq!(
        said(&summary, "marketing_sourced_share"),
        "Not in your data: no lead or opportunity carries a source"
    );
    assert_eq!(summary["headline"]["win_rate"], 0.5);
    assert_eq!(summary["headline"]["won_amount"], 1000.0);
    assert!(html.contains("Not in your data: no lead or opportunity carries a source."));
    assert!(!wd.join("reports/latest/charts/revenue-share.svg").exists());
}

#[test]
fn a_salesforce_org_with_imported_history_has_no_impossible_headline() {
    let wd = Workdir::new();
    let export = crate::test_mapping::salesforce_export();
    wd.run(&[
        "ingest",
        export.to_str().unwrap(),
        "--preset",
        "salesforce",
        "-q",
    ])
    .ok();
    let (summary, html) = report(&wd);
    no_made_up_number(&summary);
    // All 18 won deals closed before they were created (history imported later).
    let cycle = said(&summary, "median_sales_cycle_days");
    assert!(
        cycle.starts_with("Not in your data: 18 won deal(s) closed before"),
        "{cycle}"
    );
    assert_eq!(
        said(&summary, "win_rate"),
        "Not in your data: no lost opportunity is in the export"
    );
    assert!(html.contains("Not in your data: the export holds no touches."));
}

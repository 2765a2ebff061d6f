//! The shared plan (`[plan]`, `funnel metrics plan`, `funnel plan`): every measure's
//! actual, pace, forecast and status worked by hand on a small fixture, the period's
//! edges, time zones and fiscal quarters, and the backtest.

use serde_json::Value;

use crate::fixture::{approx, rows};
use crate::workdir::Workdir;

/// January 2025 in the making. Leads L1–L3 advance early in the month, L4 arrives
/// after mid-month, L5 in December. Opportunities: O1 (L1) won 01-10 for 1,000; O2
/// (L3) open in Proposal, closing 01-25, 2,000; O5 open in Qualification (no stage
/// history), closing 01-30, 900; O3 and O4 entered Proposal in December and closed
/// (lost, won for 500).
fn fixture() -> Workdir {
    let wd = Workdir::new();
    wd.write(
        "in/leads.csv",
        "lead_id,created_at,source\n\
         L1,2025-01-02T00:00:00Z,webinar\n\
         L2,2025-01-03T00:00:00Z,webinar\n\
         L3,2025-01-04T00:00:00Z,outbound\n\
         L4,2025-01-20T00:00:00Z,webinar\n\
         L5,2024-12-20T00:00:00Z,webinar\n",
    );
    wd.write(
        "in/lead_stage_events.csv",
        "lead_id,stage,entered_at\n\
         L1,mql,2025-01-03T00:00:00Z\n\
         L1,sal,2025-01-04T00:00:00Z\n\
         L1,sql,2025-01-05T00:00:00Z\n\
         L2,mql,2025-01-05T00:00:00Z\n\
         L2,sal,2025-01-09T00:00:00Z\n\
         L3,mql,2025-01-06T00:00:00Z\n\
         L3,sal,2025-01-07T00:00:00Z\n\
         L3,sql,2025-01-08T00:00:00Z\n\
         L4,mql,2025-01-21T00:00:00Z\n\
         L5,mql,2024-12-22T00:00:00Z\n",
    );
    wd.write(
        "in/opportunities.csv",
        "opportunity_id,lead_id,created_at,close_date,closed_at,status,stage,amount\n\
         O1,L1,2025-01-06T00:00:00Z,2025-01-10,2025-01-10T00:00:00Z,won,Closed Won,1000\n\
         O2,L3,2025-01-09T00:00:00Z,2025-01-25,,open,Proposal,2000\n\
         O3,,2024-12-01T00:00:00Z,2024-12-15,2024-12-15T00:00:00Z,lost,Closed Lost,700\n\
         O4,,2024-12-02T00:00:00Z,2024-12-20,2024-12-20T00:00:00Z,won,Closed Won,500\n\
         O5,,2025-01-12T00:00:00Z,2025-01-30,,open,Qualification,900\n",
    );
    wd.write(
        "in/opportunity_stage_events.csv",
        "opportunity_id,stage,entered_at,amount\n\
         O1,Prospecting,2025-01-06T00:00:00Z,1000\n\
         O1,Closed Won,2025-01-10T00:00:00Z,1000\n\
         O2,Proposal,2025-01-09T00:00:00Z,2000\n\
         O3,Proposal,2024-12-05T00:00:00Z,700\n\
         O3,Closed Lost,2024-12-15T00:00:00Z,700\n\
         O4,Proposal,2024-12-06T00:00:00Z,500\n\
         O4,Closed Won,2024-12-20T00:00:00Z,500\n",
    );
    wd.run(&["ingest", "in", "-q"]).ok();
    wd
}

const PLAN: &str = "[plan]\nperiod = \"2025-01\"\nbookings = 2800\n\
[[plan.commitment]]\nteam = \"both\"\nmeasure = \"won_deals\"\ntarget = 2\n\
[[plan.commitment]]\nteam = \"marketing\"\nmeasure = \"pipeline_created\"\ntarget = 8000\n\
[[plan.commitment]]\nteam = \"marketing\"\nmeasure = \"leads\"\ntarget = 5\n\
[[plan.commitment]]\nteam = \"marketing\"\nmeasure = \"mqls\"\ntarget = 10\n\
[[plan.commitment]]\nteam = \"marketing\"\nmeasure = \"mqls\"\ntarget = 4\nsplit = { source = \"webinar\" }\n\
[[plan.commitment]]\nteam = \"sales\"\nmeasure = \"sals\"\ntarget = 3\n\
[[plan.commitment]]\nteam = \"sales\"\nmeasure = \"sqls\"\ntarget = 2\n\
[[plan.commitment]]\nteam = \"both\"\nmeasure = \"opportunities\"\ntarget = 2\n\
[[plan.commitment]]\nteam = \"both\"\nmeasure = \"customers\"\ntarget = 1\n\
[[plan.commitment]]\nteam = \"sales\"\nmeasure = \"sla_within_rate\"\ntarget = 0.9\n\
[[plan.commitment]]\nteam = \"both\"\nmeasure = \"mql_to_sql_rate\"\ntarget = 0.5\n\
[[plan.commitment]]\nteam = \"both\"\nmeasure = \"sql_to_win_rate\"\ntarget = 0.5\n\
[[plan.commitment]]\nteam = \"sales\"\nmeasure = \"win_rate\"\ntarget = 0.3\n";

fn plan_at(wd: &Workdir, as_of: &str) -> Value {
    let run = wd
        .run(&[
            "metrics", "plan", "--as-of", as_of, "--format", "json", "-q",
        ])
        .ok();
    serde_json::from_str(&run.stdout).unwrap()
}

fn line<'a>(doc: &'a Value, measure: &str, split: Option<&str>) -> &'a Value {
    rows(doc)
        .iter()
        .find(|r| r["measure"] == measure && r["split"].as_str() == split)
        .unwrap_or_else(|| panic!("no {measure} line in {doc}"))
}

#[test]
fn plan_mid_period_every_measure_by_hand() {
    let wd = fixture();
    wd.write("funnel.toml", PLAN);
    // 15.5 of January's 31 days: elapsed 0.5.
    let doc = plan_at(&wd, "2025-01-16T12:00:00Z");
    let r = rows(&doc);
    assert_eq!(
        r.len(),
        14,
        "the bookings target first, then 13 commitments"
    );
    assert_eq!(r[0]["measure"], "bookings");
    assert_eq!(r[0]["team"], "both");
    for row in r {
        approx(&row["elapsed"], Some(0.5));
        assert_eq!(row["period_start"], "2025-01-01");
        assert_eq!(row["period_end"], "2025-01-31");
        assert_eq!(row["result"], Value::Null);
    }
    // Bookings: O1's 1,000 won; expected 2,800 × 0.5; pipeline forecast: O2 (2,000,
    // Proposal: O3 lost and O4 won after entering it in the lookback, p = 1/2) and O5
    // (900, Qualification: no history, the company win rate over the lookback: O1 and
    // O4 won, O3 lost, 2/3): 1,000 + 1,000 + 600 = 2,600 ≥ 0.9 × 2,800: at risk.
    let b = line(&doc, "bookings", None);
    approx(&b["actual"], Some(1000.0));
    approx(&b["expected_by_now"], Some(1400.0));
    approx(&b["pace"], Some(1000.0 / 1400.0));
    approx(&b["forecast"], Some(2600.0));
    assert_eq!(b["forecast_method"], "pipeline");
    assert_eq!(b["status"], "at_risk");
    // Won deals: 1 + 1/2 + 2/3.
    let w = line(&doc, "won_deals", None);
    approx(&w["actual"], Some(1.0));
    approx(&w["forecast"], Some(1.0 + 0.5 + 2.0 / 3.0));
    assert_eq!(w["status"], "on_track");
    // Pipeline created: O1 + O2 + O5 = 3,900; run rate ÷ 0.5 = 7,800 ≥ 7,200.
    let pc = line(&doc, "pipeline_created", None);
    approx(&pc["actual"], Some(3900.0));
    approx(&pc["forecast"], Some(7800.0));
    assert_eq!(pc["forecast_method"], "run_rate");
    assert_eq!(pc["status"], "at_risk");
    // Volumes (L4 does not exist yet; L5 is December's).
    for (measure, split, actual, status) in [
        ("leads", None, 3.0, "on_track"),
        ("mqls", None, 3.0, "off_track"),
        ("mqls", Some("source=webinar"), 2.0, "on_track"),
        ("sals", None, 3.0, "on_track"),
        ("sqls", None, 2.0, "on_track"),
        ("opportunities", None, 2.0, "on_track"),
        ("customers", None, 1.0, "on_track"),
    ] {
        let l = line(&doc, measure, split);
        approx(&l["actual"], Some(actual));
        approx(&l["forecast"], Some(actual / 0.5));
        assert_eq!(l["status"], status, "{measure} {split:?}");
    }
    approx(&line(&doc, "mqls", None)["expected_by_now"], Some(5.0));
    approx(&line(&doc, "mqls", None)["pace"], Some(0.6));
    // SLA: L1 and L3 accepted in 24 h, L2 in 96 h (the SLA is 48 h): 2/3 < 0.9.
    let s = line(&doc, "sla_within_rate", None);
    approx(&s["actual"], Some(2.0 / 3.0));
    approx(&s["expected_by_now"], Some(0.9));
    approx(&s["forecast"], Some(2.0 / 3.0));
    assert_eq!(s["forecast_method"], "actual");
    assert_eq!(s["status"], "off_track");
    // Cohort rates: MQLs L1, L2, L3 → SQLs L1, L3; SQLs L1, L3 → customer L1. Not
    // mature before 90 days after January.
    let m = line(&doc, "mql_to_sql_rate", None);
    approx(&m["actual"], Some(2.0 / 3.0));
    assert_eq!(m["status"], "immature");
    approx(&line(&doc, "sql_to_win_rate", None)["actual"], Some(0.5));
    // Win rate of January's closes: O1 won.
    let wr = line(&doc, "win_rate", None);
    approx(&wr["actual"], Some(1.0));
    assert_eq!(wr["status"], "on_track");
}

#[test]
fn plan_period_edges_not_started_and_closed() {
    let wd = fixture();
    wd.write("funnel.toml", PLAN);
    let doc = plan_at(&wd, "2024-12-31");
    for row in rows(&doc) {
        approx(&row["elapsed"], Some(0.0));
        assert_eq!(row["status"], "not_started");
    }
    let l = line(&doc, "leads", None);
    approx(&l["actual"], Some(0.0));
    approx(&l["expected_by_now"], Some(0.0));
    assert_eq!(l["pace"], Value::Null);
    assert_eq!(
        l["forecast"],
        Value::Null,
        "no run rate before the period starts"
    );
    // The last day closes the period: the results are in.
    let doc = plan_at(&wd, "2025-01-31");
    for row in rows(&doc) {
        approx(&row["elapsed"], Some(1.0));
        assert_eq!(row["status"], "closed");
    }
    let b = line(&doc, "bookings", None);
    approx(&b["forecast"], Some(1000.0));
    assert_eq!(b["result"], "missed");
    let l = line(&doc, "leads", None);
    approx(&l["actual"], Some(4.0));
    approx(&l["forecast"], Some(4.0));
    assert_eq!(l["result"], "missed");
    assert_eq!(line(&doc, "customers", None)["result"], "met");
}

#[test]
fn plan_periods_in_another_time_zone_and_fiscal_quarters() {
    let wd = fixture();
    // In New York, January starts at 05:00 UTC: a lead at 03:00 UTC on the 1st is
    // December's.
    wd.write(
        "more/leads.csv",
        "lead_id,created_at,source\nL0,2025-01-01T03:00:00Z,webinar\n",
    );
    wd.run(&["ingest", "more", "-q"]).ok();
    wd.write(
        "funnel.toml",
        "[calendar]\ntimezone = \"America/New_York\"\n[plan]\nperiod = \"2025-01\"\n[[plan.commitment]]\nteam = \"marketing\"\nmeasure = \"leads\"\ntarget = 8\n",
    );
    // 15.5 days after 2025-01-01T05:00Z.
    let doc = plan_at(&wd, "2025-01-16T17:00:00Z");
    let l = line(&doc, "leads", None);
    approx(&l["elapsed"], Some(0.5));
    approx(&l["actual"], Some(3.0));
    wd.write(
        "funnel.toml",
        "[plan]\nperiod = \"2025-01\"\n[[plan.commitment]]\nteam = \"marketing\"\nmeasure = \"leads\"\ntarget = 8\n",
    );
    approx(
        &line(&plan_at(&wd, "2025-01-16T12:00:00Z"), "leads", None)["actual"],
        Some(4.0),
    );
    // Fiscal years starting in February: FY2025-Q4 is November to January.
    wd.write(
        "funnel.toml",
        "[calendar]\nfiscal_year_start_month = 2\n[plan]\nperiod = \"FY2025-Q4\"\n[[plan.commitment]]\nteam = \"marketing\"\nmeasure = \"mqls\"\ntarget = 8\n",
    );
    let doc = plan_at(&wd, "2025-01-31");
    let l = line(&doc, "mqls", None);
    assert_eq!(l["period_start"], "2024-11-01");
    assert_eq!(l["period_end"], "2025-01-31");
    approx(&l["actual"], Some(5.0));
    assert_eq!(l["result"], "missed");
}

/// A business whose leads come late in the month: at mid-month the run rate
/// undershoots. December: 4 leads by the 10th, 6 from the 20th (forecast at half
/// time 8 against 10: 20 % off); November: 3 and 3 (6 against 6: exact). MAPE 10 %.
#[test]
fn plan_backtest_measures_the_forecast_against_what_periods_reached() {
    let wd = Workdir::new();
    let mut csv = String::from("lead_id,created_at\n");
    let mut add = |id: &str, day: &str| csv.push_str(&format!("{id},{day}T09:00:00Z\n"));
    for (i, d) in ["01", "03", "05", "10"].iter().enumerate() {
        add(&format!("D{i}"), &format!("2024-12-{d}"));
    }
    for (i, d) in ["20", "21", "22", "23", "24", "27"].iter().enumerate() {
        add(&format!("E{i}"), &format!("2024-12-{d}"));
    }
    for (i, d) in ["02", "04", "06"].iter().enumerate() {
        add(&format!("N{i}"), &format!("2024-11-{d}"));
    }
    for (i, d) in ["20", "25", "28"].iter().enumerate() {
        add(&format!("M{i}"), &format!("2024-11-{d}"));
    }
    add("J0", "2025-01-05");
    wd.write("in/leads.csv", csv);
    wd.run(&["ingest", "in", "-q"]).ok();
    wd.write(
        "funnel.toml",
        "[plan]\nperiod = \"2025-01\"\n[[plan.commitment]]\nteam = \"marketing\"\nmeasure = \"leads\"\ntarget = 10\n",
    );
    let run = wd
        .run(&[
            "metrics",
            "plan",
            "--as-of",
            "2025-01-16T12:00:00Z",
            "--backtest",
            "3",
            "--format",
            "json",
        ])
        .ok();
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let l = line(&doc, "leads", None);
    // October had no leads: nothing to compare.
    assert_eq!(l["backtest_periods"], 2);
    approx(&l["backtest_mape"], Some(0.1));
    // Only plan backtests.
    let run = wd.run(&["metrics", "waterfall", "--backtest", "2"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

/// An opportunity that exists before its lead: at the backtest's earlier moment it
/// is not linked, so it has no lead source and falls outside a slice by source, and
/// it enters the slice once its lead exists. February's plan at half time backtests
/// January at the 16th, 12:00: O2 (lead L2, webinar) won on the 12th; O1 (no source
/// of its own) won on the 10th, but its lead L1 (webinar) arrives on the 20th. Then
/// 1 webinar deal, finally 2: 50 % off. The stored opportunity model, cut at that
/// moment, and the model computed from the tables (other prose: the stored frames do
/// not serve) agree.
#[test]
fn plan_backtest_leaves_a_lead_out_of_its_slice_until_it_exists() {
    let wd = Workdir::new();
    wd.write(
        "in/leads.csv",
        "lead_id,created_at,source\n\
         L1,2025-01-20T00:00:00Z,webinar\n\
         L2,2025-01-02T00:00:00Z,webinar\n",
    );
    wd.write(
        "in/opportunities.csv",
        "opportunity_id,lead_id,created_at,close_date,closed_at,status,stage,amount\n\
         O1,L1,2025-01-05T00:00:00Z,2025-01-10,2025-01-10T00:00:00Z,won,Closed Won,100\n\
         O2,L2,2025-01-03T00:00:00Z,2025-01-12,2025-01-12T00:00:00Z,won,Closed Won,200\n",
    );
    wd.write(
        "in/opportunity_stage_events.csv",
        "opportunity_id,stage,entered_at,amount\n\
         O1,Prospecting,2025-01-05T00:00:00Z,100\n\
         O1,Closed Won,2025-01-10T00:00:00Z,100\n\
         O2,Prospecting,2025-01-03T00:00:00Z,200\n\
         O2,Closed Won,2025-01-12T00:00:00Z,200\n",
    );
    wd.run(&["ingest", "in", "-q"]).ok();
    let plan = "[plan]\nperiod = \"2025-02\"\nbookings = 1000\n\
        [[plan.commitment]]\nteam = \"both\"\nmeasure = \"won_deals\"\ntarget = 4\nsplit = { source = \"webinar\" }\n";
    wd.write("funnel.toml", plan);
    wd.write(
        "alt.toml",
        format!("{plan}[definitions]\nlead = \"Anyone who gave us contact details.\"\n"),
    );
    for config in ["funnel.toml", "alt.toml"] {
        let run = wd
            .run(&[
                "--config",
                config,
                "metrics",
                "plan",
                "--as-of",
                "2025-02-15T00:00:00Z",
                "--backtest",
                "1",
                "--format",
                "json",
            ])
            .ok();
        let doc: Value = serde_json::from_str(&run.stdout).unwrap();
        let l = line(&doc, "won_deals", Some("source=webinar"));
        assert_eq!(l["backtest_periods"], 1, "{config}: {l}");
        approx(&l["backtest_mape"], Some(0.5));
        // Bookings, unsliced: 300 by then, 300 finally.
        let b = line(&doc, "bookings", None);
        approx(&b["backtest_mape"], Some(0.0));
    }
}

#[test]
fn plan_is_validated_naming_the_key() {
    let wd = fixture();
    for (toml, key) in [
        ("[plan]\nperiod = \"2025-Q5\"\n", "plan.period"),
        (
            "[plan]\nperiod = \"2025-01\"\n[[plan.commitment]]\nteam = \"finance\"\nmeasure = \"mqls\"\ntarget = 1\n",
            "team",
        ),
        (
            "[plan]\nperiod = \"2025-01\"\n[[plan.commitment]]\nteam = \"sales\"\nmeasure = \"meetings\"\ntarget = 1\n",
            "measure",
        ),
        (
            "[plan]\nperiod = \"2025-01\"\n[[plan.commitment]]\nteam = \"sales\"\nmeasure = \"mqls\"\ntarget = 1\nsplit = { country = \"FR\" }\n",
            "plan.commitment[1].split",
        ),
        (
            "[plan]\nperiod = \"2025-01\"\n[[plan.commitment]]\nteam = \"sales\"\nmeasure = \"win_rate\"\ntarget = 30\n",
            "plan.commitment[1].target",
        ),
        (
            "[plan]\nperiod = \"2025-01\"\n[plan.assumptions]\nrates = { \"lead>sql\" = 0.2 }\n",
            "plan.assumptions.rates",
        ),
    ] {
        wd.write("funnel.toml", toml);
        let run = wd.run(&["metrics", "plan"]);
        assert_eq!(run.code, 2, "{toml}\n{}", run.stderr);
        assert!(run.stderr.contains(key), "{key} not named:\n{}", run.stderr);
    }
    wd.write("funnel.toml", "");
    let run = wd.run(&["metrics", "plan"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("plan draft"), "{}", run.stderr);
}

/// The signed definitions, with a comment of the team's own at the top.
fn reviewed() -> String {
    format!(
        "# Our definitions, argued out on 2026-11-20.{}",
        crate::fixture::REVIEWED
    )
}

/// `plan draft` on the bundled sample: the volumes are the reverse funnel's
/// arithmetic on the assumptions it wrote; the file keeps its comments; the
/// evidence is there; the result parses.
#[test]
fn plan_draft_follows_the_reverse_funnel_and_keeps_comments() {
    let wd = Workdir::new();
    wd.write("funnel.toml", reviewed());
    let run = wd
        .run(&[
            "plan",
            "draft",
            "--period",
            "2027-Q1",
            "--bookings",
            "600000",
        ])
        .ok();
    assert!(
        run.stdout
            .contains("Marketing and sales commit to 600,000 USD of bookings"),
        "{}",
        run.stdout
    );
    let text = wd.read("funnel.toml");
    assert!(
        text.starts_with("# Our definitions, argued out on 2026-11-20."),
        "{text}"
    );
    assert!(text.contains("95 % Wilson"), "{text}");
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let plan = doc["plan"].as_table().unwrap();
    assert_eq!(plan["period"].as_str(), Some("2027-Q1"));
    let a = plan["assumptions"].as_table().unwrap();
    let avg = a["avg_deal"].as_float().unwrap();
    let rate = |step: &str| a["rates"][step].as_float().unwrap();
    let target = |measure: &str| {
        plan["commitment"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["measure"].as_str() == Some(measure))
            .and_then(|c| {
                c["target"]
                    .as_float()
                    .or(c["target"].as_integer().map(|i| i as f64))
            })
            .unwrap_or_else(|| panic!("no {measure}"))
    };
    let up = |x: f64| (x - 1e-9).ceil();
    let won = up(600000.0 / avg);
    assert_eq!(target("won_deals"), won);
    let opps = up(won / rate("opportunity>customer"));
    assert_eq!(target("opportunities"), opps);
    let sqls = up(opps / rate("sql>opportunity"));
    assert_eq!(target("sqls"), sqls);
    let sals = up(sqls / rate("sal>sql"));
    assert_eq!(target("sals"), sals);
    let mqls = up(sals / rate("mql>sal"));
    assert_eq!(target("mqls"), mqls);
    assert_eq!(target("leads"), up(mqls / rate("lead>mql")));
    // Owners by default.
    let owner = |measure: &str| {
        plan["commitment"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["measure"].as_str() == Some(measure))
            .map(|c| c["team"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(owner("mqls"), "marketing");
    assert_eq!(owner("sals"), "sales");
    assert_eq!(owner("won_deals"), "both");
    // The rates are the sample's own cohorts (lead → MQL 395 of 1,001 in the
    // bundled sample's last 365 days).
    assert!(text.contains("# 395 of 1,001 leads reached mql"), "{text}");
    approx(
        &serde_json::json!(rate("lead>mql")),
        Some((395.0_f64 / 1001.0 * 1e4).round() / 1e4),
    );
    // `funnel plan` reads it back.
    let shown = wd.run(&["plan"]).ok().stdout;
    assert!(shown.contains("The plan for 2027-Q1"), "{shown}");
    assert!(shown.contains("not_started"), "{shown}");
}

/// An approved plan is not replaced without --force; a target changed after both
/// teams approved makes the report warn, as a rule change does.
#[test]
fn plan_approval_guards_the_targets() {
    let wd = Workdir::new();
    wd.write("funnel.toml", reviewed());
    let draft = [
        "plan",
        "draft",
        "--period",
        "2026-Q4",
        "--bookings",
        "300000",
    ];
    wd.run(&draft).ok();
    for (team, by) in [("marketing", "Mia Chen"), ("sales", "Sam Ortiz")] {
        wd.run(&[
            "definitions",
            "approve",
            "--team",
            team,
            "--by",
            by,
            "--on",
            "2026-11-20",
        ])
        .ok();
    }
    let approved = wd.read("funnel.toml");
    let run = wd.run(&draft);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(wd.read("funnel.toml"), approved, "an approved plan is kept");
    let header = |wd: &Workdir| {
        wd.run(&["report", "--out", "r", "-q"]).ok();
        let dir = std::fs::read_dir(wd.join("r"))
            .unwrap()
            .flatten()
            .find(|e| e.path().join("index.html").exists())
            .unwrap();
        let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
        html[html.find("<header>").unwrap()..html.find("</header>").unwrap()].to_string()
    };
    let h = header(&wd);
    assert!(!h.contains("changed after"), "{h}");
    // Sales raises its SAL target by hand after both signed.
    let doc: toml::Table = toml::from_str(&approved).unwrap();
    let sals = doc["plan"]["commitment"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["measure"].as_str() == Some("sals"))
        .and_then(|c| c["target"].as_integer())
        .unwrap();
    wd.write(
        "funnel.toml",
        approved.replacen(
            &format!("measure = \"sals\"\ntarget = {sals}"),
            &format!("measure = \"sals\"\ntarget = {}", sals + 10),
            1,
        ),
    );
    let h = header(&wd);
    assert!(
        h.contains("The rules changed after Marketing approved them on 2026-11-20"),
        "{h}"
    );
    wd.write("old.toml", &approved);
    let out = wd.run(&["definitions", "diff", "old.toml"]).ok().stdout;
    assert!(
        out.contains(&format!(
            "Plan, now: Sales commits to {} sales-accepted leads",
            sals + 10
        )),
        "{out}"
    );
    // --force replaces it.
    wd.run(&[
        "plan",
        "draft",
        "--period",
        "2026-Q4",
        "--bookings",
        "300000",
        "--force",
    ])
    .ok();
}

/// The report opens with the plan, its table and burn-ups, or says how to draft one.
#[test]
fn plan_opens_the_report() {
    let wd = fixture();
    wd.write("funnel.toml", reviewed());
    wd.run(&["report", "--as-of", "2025-01-16", "-q"]).ok();
    let html = wd.read("reports/latest/index.html");
    assert!(
        html.contains("No shared plan yet"),
        "no plan: how to draft one"
    );
    assert!(html.contains("funnel plan draft --period"));
    assert!(!wd.join("reports/latest/tables/plan.csv").exists());
    wd.write("funnel.toml", format!("{}\n{PLAN}", reviewed()));
    wd.run(&["report", "--as-of", "2025-01-16T12:00:00Z", "-q"])
        .ok();
    let html = wd.read("reports/latest/index.html");
    assert!(
        html.contains("The plan for 2025-01 — 50 % of the period behind us"),
        "{html}"
    );
    assert!(
        html.contains("class=\"status s-at_risk\""),
        "bookings at risk"
    );
    assert!(html.contains("Marketing commits to 10 MQLs in 2025-01."));
    let csv = wd.read("reports/latest/tables/plan.csv");
    assert!(csv.starts_with("team,measure,split,target,actual"), "{csv}");
    assert!(
        html.contains("How far to trust the forecast"),
        "the bookings backtest"
    );
    assert!(wd.join("reports/latest/charts/plan-bookings.png").is_file());
    assert!(wd
        .join("reports/latest/charts/plan-marketing.svg")
        .is_file());
}

/// The backtest on generated data with a known seasonality: leads arrive every day,
/// more in a quarter's later months (× 1, 2, 3) and more in some quarters (Q2 × 2, Q4
/// × 3), so a run rate taken 45 % into a quarter undershoots by a known amount. The
/// test works each past quarter's error out from the generated timestamps alone: the
/// leads before the same elapsed moment, divided by that elapsed share, against the
/// quarter's final count; the mean of the four is the MAPE.
#[test]
fn plan_backtest_on_a_seasonal_generated_export_matches_the_error_worked_out() {
    use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc};
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let micros = |d: NaiveDate, h: u32, min: u32| {
        Utc.from_utc_datetime(&d.and_hms_opt(h, min, 0).unwrap())
            .timestamp_micros()
    };
    let as_of = micros(day(2026, 2, 10), 12, 0);
    let mut created: Vec<i64> = Vec::new();
    let mut csv = String::from("lead_id,created_at\n");
    let mut d = day(2024, 10, 1);
    while micros(d, 9, 0) <= as_of {
        let quarter_weight = [1, 2, 1, 3][(d.month0() / 3) as usize];
        let month_weight = d.month0() % 3 + 1;
        for i in 0..quarter_weight * month_weight {
            csv.push_str(&format!(
                "G{},{}T09:{i:02}:00Z\n",
                created.len(),
                d.format("%Y-%m-%d")
            ));
            created.push(micros(d, 9, i));
        }
        d += Duration::days(1);
    }
    let wd = Workdir::new();
    wd.write("in/leads.csv", csv);
    wd.run(&["ingest", "in", "-q"]).ok();
    wd.write(
        "funnel.toml",
        "[plan]\nperiod = \"2026-Q1\"\n[[plan.commitment]]\nteam = \"marketing\"\nmeasure = \"leads\"\ntarget = 100\n",
    );
    let run = wd
        .run(&[
            "metrics",
            "plan",
            "--as-of",
            "2026-02-10T12:00:00Z",
            "--backtest",
            "4",
            "--format",
            "json",
        ])
        .ok();
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let l = line(&doc, "leads", None);
    // By hand: the share of 2026-Q1 elapsed at the as-of, then per past quarter the
    // moment at that share, the leads by then, and the final count.
    let (s, e) = (micros(day(2026, 1, 1), 0, 0), micros(day(2026, 4, 1), 0, 0));
    let elapsed = (as_of - s) as f64 / (e - s) as f64;
    let quarters = [
        (day(2025, 10, 1), day(2026, 1, 1)),
        (day(2025, 7, 1), day(2025, 10, 1)),
        (day(2025, 4, 1), day(2025, 7, 1)),
        (day(2025, 1, 1), day(2025, 4, 1)),
    ];
    let errors: Vec<f64> = quarters
        .iter()
        .map(|(start, end)| {
            let (s, e) = (micros(*start, 0, 0), micros(*end, 0, 0));
            let at = s + ((e - s) as f64 * elapsed) as i64;
            let share = (at - s) as f64 / (e - s) as f64;
            let by_then = created.iter().filter(|t| **t >= s && **t <= at).count() as f64;
            let last = created.iter().filter(|t| **t >= s && **t < e).count() as f64;
            (by_then / share - last).abs() / last
        })
        .collect();
    let mape = errors.iter().sum::<f64>() / errors.len() as f64;
    // The ramp inside each quarter makes the run rate undershoot by about a third.
    assert!(
        errors.iter().all(|e| (0.25..0.45).contains(e)),
        "{errors:?}"
    );
    assert_eq!(l["backtest_periods"], 4);
    approx(&l["backtest_mape"], Some(mape));
    eprintln!(
        "errors {errors:?}, MAPE {mape:.4}, funnel {}",
        l["backtest_mape"]
    );
}

/// `plan --by DIM`: each commitment's actual split by a dimension. By hand on the
/// January fixture (as of its end): MQLs L1, L2, L4 (webinar) and L3 (outbound); the
/// one won deal O1 (1,000) is L1's, webinar. On the sample, a volume's groups add up
/// to its actual in `plan`. `--where` is refused: a commitment's split is its slice.
#[test]
fn plan_by_splits_each_commitments_actual() {
    let wd = fixture();
    wd.write("funnel.toml", PLAN);
    let run = wd
        .run(&[
            "metrics",
            "plan",
            "--by",
            "source",
            "--as-of",
            "2025-01-31",
            "--format",
            "json",
            "-q",
        ])
        .ok();
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let cell = |measure: &str, source: &str| {
        rows(&doc)
            .iter()
            .find(|r| r["measure"] == measure && r["split"].is_null() && r["source"] == source)
            .unwrap_or_else(|| panic!("{measure} {source}: {doc}"))
            .clone()
    };
    approx(&cell("mqls", "webinar")["actual"], Some(3.0));
    approx(&cell("mqls", "webinar")["share"], Some(0.75));
    approx(&cell("mqls", "outbound")["actual"], Some(1.0));
    approx(&cell("bookings", "webinar")["actual"], Some(1000.0));
    approx(&cell("won_deals", "webinar")["share"], Some(1.0));
    approx(&cell("win_rate", "webinar")["actual"], Some(1.0));
    assert!(cell("win_rate", "webinar")["share"].is_null());
    // The webinar-only MQL commitment has only webinar rows.
    let sliced: Vec<&Value> = rows(&doc)
        .iter()
        .filter(|r| r["measure"] == "mqls" && r["split"] == "source=webinar")
        .collect();
    assert_eq!(sliced.len(), 1);
    approx(&sliced[0]["actual"], Some(3.0));
    let run = wd
        .run(&["metrics", "plan", "--where", "source=webinar"])
        .expect_code(2);
    assert!(
        run.stderr.contains("a commitment's split is its slice"),
        "{}",
        run.stderr
    );

    // The sample: groups add up to the actual.
    let wd = Workdir::new();
    let whole = crate::fixture::metric(&wd, &["plan"]);
    let split = crate::fixture::metric(&wd, &["plan", "--by", "source_team"]);
    for line in rows(&whole) {
        let measure = line["measure"].as_str().unwrap();
        if measure.ends_with("rate") {
            continue;
        }
        let sum: f64 = rows(&split)
            .iter()
            .filter(|r| r["measure"] == measure)
            .map(|r| r["actual"].as_f64().unwrap())
            .sum();
        approx(&line["actual"], Some(sum));
    }
}

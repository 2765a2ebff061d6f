//! The lead-funnel metrics on `tests/fixtures/funnel`, every number worked out by hand.
//!
//! The fixture (UTC, range 2025-01-01..2025-03-31, as of 2025-06-15):
//! - L1 created 01-05: lead, mql 01-07, sal 01-07 12:00, sql 01-10, opportunity 01-15;
//!   its opportunity O1 is won on 02-14 (customer by the won close).
//! - L2 created 01-10: New, Marketing Qualified 01-12, sal 01-15 (72 h: late), sql 01-20.
//! - L3 created 02-01: mql 02-03, recycled 02-04, MQL again 03-01, sal 03-05 (96 h).
//! - L4 created 02-10: mql 02-11, sql 02-12 — the SAL is skipped.
//! - L5 created 02-15, a lead event on 02-14 (before creation) and an unmapped `Working`.
//! - L6 created 03-01: mql 03-10, never decided.
//! - L7 created 03-20: mql 03-20 12:00, disqualified 03-25 12:00 (120 h).
//! - L8 created 2024-12-20 (before the range): mql 01-02, sal 01-02 10:00.
//! - L9 created 03-25: sal 03-27 *before* mql 03-28 (out of order).

use crate::fixture::{approx, ingested, ints, metric, row, rows, RANGE};

fn args<'a>(name: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![name];
    v.extend_from_slice(&RANGE);
    v.extend_from_slice(extra);
    v
}

#[test]
fn waterfall_backfill() {
    let wd = ingested("funnel");
    let doc = metric(&wd, &args("waterfall", &[]));
    assert_eq!(doc["metric"], "waterfall");
    assert_eq!(doc["as_of"], "2025-06-15T23:59:59.999999Z");
    assert_eq!(doc["from"], "2025-01-01");
    assert_eq!(doc["to"], "2025-03-31");
    let r = rows(&doc);
    let stages: Vec<&str> = r.iter().map(|x| x["stage"].as_str().unwrap()).collect();
    assert_eq!(
        stages,
        ["lead", "mql", "sal", "sql", "opportunity", "customer"]
    );
    // Cohort: the 8 leads created in range (L8 is not). mql: all but L5. sal: L1, L2,
    // L3, L9 and L4 backfilled from its sql. sql: L1, L2, L4. opportunity, customer: L1.
    assert_eq!(ints(r, "reached"), [8, 7, 5, 3, 1, 1]);
    approx(&r[0]["step_rate"], None);
    approx(&r[0]["step_rate_low"], None);
    approx(&r[1]["step_rate"], Some(7.0 / 8.0));
    // Wilson 95 % for 7/8 (z = 1.959963984540054).
    approx(&r[1]["step_rate_low"], Some(0.5291118177871464));
    approx(&r[1]["step_rate_high"], Some(0.9775825085499433));
    approx(&r[2]["step_rate"], Some(5.0 / 7.0));
    approx(&r[3]["step_rate"], Some(3.0 / 5.0));
    approx(&r[4]["step_rate"], Some(1.0 / 3.0));
    approx(&r[5]["step_rate"], Some(1.0));
    approx(&r[5]["step_rate_low"], Some(0.20654931437723745));
    approx(&r[5]["step_rate_high"], Some(1.0));
    approx(&r[2]["cumulative_rate"], Some(5.0 / 8.0));
    approx(&r[5]["cumulative_rate"], Some(1.0 / 8.0));
}

#[test]
fn waterfall_strict_and_window_change_numbers_without_reingest() {
    let wd = ingested("funnel");
    // Strict: L4 never had a sal event, so only 4 reach sal.
    wd.write(
        "funnel.toml",
        "[funnel]\nskipped_stages = \"strict\"\n[currency]\nrates = { EUR = 1.1 }\n",
    );
    let r = metric(&wd, &args("waterfall", &[]));
    assert_eq!(ints(rows(&r), "reached"), [8, 7, 4, 3, 1, 1]);
    // A 30-day window from reaching lead: L3's sal (32 days) and L1's customer (40) drop.
    wd.write("funnel.toml", "[funnel]\nconversion_window_days = 30\n");
    let r = metric(&wd, &args("waterfall", &[]));
    assert_eq!(ints(rows(&r), "reached"), [8, 7, 4, 3, 1, 0]);
    // Remap the unmapped `Working` to sal: L5 now reaches mql (backfilled) and sal.
    wd.write("funnel.toml", "[stages]\nsal = [\"sal\", \"working\"]\n");
    let r = metric(&wd, &args("waterfall", &[]));
    assert_eq!(ints(rows(&r), "reached"), [8, 8, 6, 3, 1, 1]);
}

#[test]
fn waterfall_by_where_and_period() {
    let wd = ingested("funnel");
    let doc = metric(&wd, &args("waterfall", &["--by", "source"]));
    let r = rows(&doc);
    assert_eq!(r.len(), 4 * 6);
    assert_eq!(r[0]["source"], "organic"); // split column first, ascending
    let reached = |source: &str| -> Vec<i64> {
        r.iter()
            .filter(|x| x["source"] == source)
            .map(|x| x["reached"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(reached("webinar"), [3, 3, 2, 2, 1, 1]); // L1, L4, L7
    assert_eq!(reached("organic"), [2, 1, 1, 1, 0, 0]); // L2, L5
    assert_eq!(reached("paid_search"), [2, 2, 1, 0, 0, 0]); // L3, L6
    assert_eq!(reached("trade show"), [1, 1, 1, 0, 0, 0]); // L9
    approx(&row(r, "source", "organic")["step_rate"], None);

    let doc = metric(&wd, &args("waterfall", &["--where", "source=webinar"]));
    assert_eq!(ints(rows(&doc), "reached"), [3, 3, 2, 2, 1, 1]);
    let doc = metric(
        &wd,
        &args(
            "waterfall",
            &["--where", "source=webinar", "--where", "source=organic"],
        ),
    );
    assert_eq!(ints(rows(&doc), "reached"), [5, 4, 3, 3, 1, 1]);

    let doc = metric(&wd, &args("waterfall", &["--period", "month"]));
    let r = rows(&doc);
    let lead_rows: Vec<(&str, i64)> = r
        .iter()
        .filter(|x| x["stage"] == "lead")
        .map(|x| {
            (
                x["period"].as_str().unwrap(),
                x["reached"].as_i64().unwrap(),
            )
        })
        .collect();
    // January: L1, L2; February: L3, L4, L5 (reached lead 02-14); March: L6, L7, L9.
    assert_eq!(
        lead_rows,
        [("2025-01-01", 2), ("2025-02-01", 3), ("2025-03-01", 3)]
    );
}

#[test]
fn conversion_cohorts_grid_and_maturity() {
    let wd = ingested("funnel");
    let doc = metric(&wd, &args("conversion", &[]));
    let r = rows(&doc);
    // 3 monthly cohorts × 6 pairs.
    assert_eq!(r.len(), 18);
    let cell = |cohort: &str, from: &str, to: &str| {
        r.iter()
            .find(|x| x["cohort"] == cohort && x["from_stage"] == from && x["to_stage"] == to)
            .unwrap_or_else(|| panic!("no cell {cohort} {from} {to}"))
    };
    let counts = |c: &serde_json::Value| {
        (
            c["entered"].as_i64().unwrap(),
            c["converted"].as_i64().unwrap(),
        )
    };
    assert_eq!(counts(cell("2025-01-01", "lead", "mql")), (2, 2));
    assert_eq!(counts(cell("2025-02-01", "lead", "mql")), (3, 2));
    assert_eq!(counts(cell("2025-03-01", "lead", "mql")), (3, 3));
    // MQL cohorts by reached_at(mql): Jan L1, L2, L8 (created before the range);
    // Feb L3, L4; Mar L6, L7, L9 (reached mql 03-27, backfilled from its sal).
    assert_eq!(counts(cell("2025-01-01", "mql", "sal")), (3, 3));
    assert_eq!(counts(cell("2025-02-01", "mql", "sal")), (2, 2));
    assert_eq!(counts(cell("2025-03-01", "mql", "sal")), (3, 1));
    assert_eq!(counts(cell("2025-01-01", "sal", "sql")), (3, 2));
    assert_eq!(counts(cell("2025-02-01", "sal", "sql")), (1, 1));
    assert_eq!(counts(cell("2025-03-01", "sal", "sql")), (2, 0));
    assert_eq!(counts(cell("2025-01-01", "sql", "opportunity")), (2, 1));
    assert_eq!(counts(cell("2025-02-01", "sql", "opportunity")), (1, 0));
    // An empty cell: 0, 0, null rate and null bounds.
    let empty = cell("2025-03-01", "sql", "opportunity");
    assert_eq!(counts(empty), (0, 0));
    approx(&empty["rate"], None);
    approx(&empty["rate_low"], None);
    assert_eq!(
        counts(cell("2025-01-01", "opportunity", "customer")),
        (1, 1)
    );
    assert_eq!(counts(cell("2025-01-01", "mql", "customer")), (3, 1));
    approx(
        &cell("2025-01-01", "mql", "customer")["rate"],
        Some(1.0 / 3.0),
    );
    approx(
        &cell("2025-01-01", "mql", "customer")["rate_low"],
        Some(0.06149194472039621),
    );
    // Pairs in funnel order within a cohort, mql → customer last.
    let pairs: Vec<String> = r[..6]
        .iter()
        .map(|x| {
            format!(
                "{}>{}",
                x["from_stage"].as_str().unwrap(),
                x["to_stage"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            "lead>mql",
            "mql>sal",
            "sal>sql",
            "sql>opportunity",
            "opportunity>customer",
            "mql>customer"
        ]
    );
    // Mature: as of 06-15, Jan (ends 02-01 + 90 d = 05-02) and Feb (05-30) are; Mar
    // (04-01 + 90 d = 06-30) is not.
    assert_eq!(cell("2025-01-01", "lead", "mql")["mature"], true);
    assert_eq!(cell("2025-02-01", "lead", "mql")["mature"], true);
    assert_eq!(cell("2025-03-01", "lead", "mql")["mature"], false);

    // --period quarter: one cohort holding all three months.
    let doc = metric(&wd, &args("conversion", &["--period", "quarter"]));
    let r = rows(&doc);
    assert_eq!(r.len(), 6);
    assert_eq!(r[0]["cohort"], "2025-01-01");
    assert_eq!(
        (r[0]["entered"].as_i64(), r[0]["converted"].as_i64()),
        (Some(8), Some(7))
    );
}

#[test]
fn funnel_time_per_step() {
    let wd = ingested("funnel");
    let doc = metric(&wd, &args("funnel-time", &[]));
    let r = rows(&doc);
    assert_eq!(r.len(), 5);
    // lead → mql, leads reaching mql in range: L1 2, L2 2, L8 13, L3 2, L4 1, L6 9,
    // L7 0.5, L9 2 days. Sorted 0.5 1 2 2 2 2 9 13: mean 31.5/8, median 2,
    // p90 at position 6.3 = 9 + 0.3 × 4.
    assert_eq!(r[0]["count"], 8);
    approx(&r[0]["mean_days"], Some(31.5 / 8.0));
    approx(&r[0]["median_days"], Some(2.0));
    approx(&r[0]["p90_days"], Some(10.2));
    // mql → sal: L1 0.5, L2 3, L8 10/24, L3 30 (first MQL 02-03 to sal 03-05), L4 1
    // (backfilled sal = its sql), L9 0.
    assert_eq!(r[1]["count"], 6);
    approx(
        &r[1]["mean_days"],
        Some((0.5 + 3.0 + 10.0 / 24.0 + 30.0 + 1.0) / 6.0),
    );
    approx(&r[1]["median_days"], Some(0.75));
    approx(&r[1]["p90_days"], Some(3.0 + 0.5 * 27.0));
    // sal → sql: L1 2.5, L2 5, L4 0.
    assert_eq!(r[2]["count"], 3);
    approx(&r[2]["mean_days"], Some(2.5));
    approx(&r[2]["p90_days"], Some(4.5));
    assert_eq!(r[3]["count"], 1);
    approx(&r[3]["median_days"], Some(5.0));
    assert_eq!(r[4]["count"], 1);
    approx(&r[4]["median_days"], Some(30.0));
}

#[test]
fn cycle_sales_and_lead_to_customer() {
    let wd = ingested("funnel");
    let doc = metric(&wd, &args("cycle", &[]));
    let r = rows(&doc);
    let lc = row(r, "measure", "lead_to_customer");
    // L1: lead 01-05, customer (O1 won) 02-14: 40 days.
    assert_eq!(lc["count"], 1);
    approx(&lc["median_days"], Some(40.0));
    // Won and closed in range: O1 (30 days) and O2 (59 days).
    let sc = row(r, "measure", "sales_cycle");
    assert_eq!(sc["count"], 2);
    approx(&sc["mean_days"], Some(44.5));
    approx(&sc["p25_days"], Some(37.25));
    approx(&sc["p75_days"], Some(51.75));
    approx(&sc["p90_days"], Some(56.1));
    approx(&sc["min_days"], Some(30.0));
    approx(&sc["max_days"], Some(59.0));
    assert_eq!(r[0]["measure"], "lead_to_customer"); // keys ascending
}

#[test]
fn touches_before_milestones() {
    let wd = ingested("funnel");
    let doc = metric(&wd, &args("touches", &[]));
    let r = rows(&doc);
    let m: Vec<&str> = r.iter().map(|x| x["milestone"].as_str().unwrap()).collect();
    assert_eq!(m, ["lead", "mql", "sql"]);
    // lead: 8 leads; touches at or before creation: L1 2 (visit + creating form),
    // L3 1, L4 1 (the form at creation), others 0. Sends and sales calls never count.
    assert_eq!(r[0]["leads"], 8);
    approx(&r[0]["mean_touches"], Some(0.5));
    approx(&r[0]["median_touches"], Some(0.0));
    approx(&r[0]["p90_touches"], Some(1.3));
    assert_eq!(r[0]["zero_touch_leads"], 5);
    // mql: 8 leads (L8 included); L1 3, L3 2, L4 1.
    assert_eq!(r[1]["leads"], 8);
    approx(&r[1]["mean_touches"], Some(0.75));
    approx(&r[1]["p90_touches"], Some(2.3));
    assert_eq!(r[1]["zero_touch_leads"], 5);
    // sql: L1 4, L2 0, L4 1.
    assert_eq!(r[2]["leads"], 3);
    approx(&r[2]["mean_touches"], Some(5.0 / 3.0));
    approx(&r[2]["median_touches"], Some(1.0));
    approx(&r[2]["p90_touches"], Some(3.4));
    assert_eq!(r[2]["zero_touch_leads"], 1);
}

#[test]
fn touches_dedupe_minutes() {
    let wd = ingested("funnel");
    // T3 (open 01-06) and T5 (click 01-08) differ in action; add a second open two
    // minutes after T3: with dedupe it does not count.
    wd.write(
        "more/touches.csv",
        "touch_id,lead_id,occurred_at,channel,action,team,campaign_id\nT3b,L1,2025-01-06T00:02:00Z,email,open,marketing,\n",
    );
    wd.run(&["ingest", "more", "-q"]).ok();
    let r = metric(&wd, &args("touches", &[]));
    approx(&rows(&r)[1]["mean_touches"], Some(7.0 / 8.0));
    wd.write("funnel.toml", "[touches]\ndedupe_minutes = 5\n");
    let r = metric(&wd, &args("touches", &[]));
    approx(&rows(&r)[1]["mean_touches"], Some(6.0 / 8.0));
}

#[test]
fn sla_episodes() {
    let wd = ingested("funnel");
    let doc = metric(&wd, &args("sla", &[]));
    let r = &rows(&doc)[0];
    // Episodes: L1 (12 h), L2 (72 h late), L8 (10 h), L3 (rejected 24 h), L3 re-MQL
    // (accepted 96 h late), L4 (24 h, by its sql), L6 (pending), L7 (rejected 120 h
    // late), L9 (0 h: its sal is its reach time for mql).
    assert_eq!(r["mql_episodes"], 9);
    assert_eq!(r["accepted"], 6);
    assert_eq!(r["accepted_within_sla"], 4);
    assert_eq!(r["rejected"], 2);
    assert_eq!(r["pending"], 1);
    assert_eq!(r["due"], 9);
    assert_eq!(r["breached"], 4);
    approx(&r["within_sla_rate"], Some(5.0 / 9.0));
    approx(&r["within_sla_rate_low"], Some(0.26665129349549305));
    approx(&r["within_sla_rate_high"], Some(0.8112214789023355));
    // Decided: 0 10 12 24 24 72 96 120 → median 24.
    approx(&r["median_response_hours"], Some(24.0));

    // As of 2025-03-11 12:00, L6's episode (03-10) is not due yet; L7 and L9 do not
    // exist yet (nothing after the as-of is visible).
    let doc = metric(
        &wd,
        &[
            "sla",
            "--from",
            "2025-03-01",
            "--to",
            "2025-03-31",
            "--as-of",
            "2025-03-11T12:00:00Z",
        ],
    );
    let r = &rows(&doc)[0];
    // March episodes: L3 re-MQL 03-01 (due, accepted 96 h late), L6 03-10 (not
    // due: 36 h).
    assert_eq!(r["mql_episodes"], 2);
    assert_eq!(r["due"], 1);
    assert_eq!(r["breached"], 1);
    approx(&r["within_sla_rate"], Some(0.0));
}

#[test]
fn histogram_bins() {
    let wd = ingested("funnel");
    let doc = metric(&wd, &args("cycle", &["--histogram"]));
    let r = rows(&doc);
    let total: i64 = r.iter().map(|x| x["count"].as_i64().unwrap()).sum();
    assert_eq!(total, 3); // 2 sales cycles + 1 lead-to-customer
    for x in r {
        assert!(x["bin_end"].as_f64().unwrap() > x["bin_start"].as_f64().unwrap());
    }
}

#[test]
fn win_rate_and_currency_rates() {
    let wd = ingested("funnel");
    let doc = metric(&wd, &args("win-rate", &[]));
    let r = &rows(&doc)[0];
    // Closed in range: O1 won 10,000 USD, O2 won 5,000 EUR (× 1.1), O3 lost 2,000.
    assert_eq!(
        (r["closed"].as_i64(), r["won"].as_i64(), r["lost"].as_i64()),
        (Some(3), Some(2), Some(1))
    );
    approx(&r["win_rate"], Some(2.0 / 3.0));
    approx(&r["win_rate_low"], Some(0.2076596008020477));
    approx(&r["won_amount"], Some(15500.0));
    approx(&r["lost_amount"], Some(2000.0));
    approx(&r["win_rate_amount"], Some(15500.0 / 17500.0));
    // Without the EUR rate, O2's amount is left out of the sums.
    wd.write("funnel.toml", "");
    let doc = metric(&wd, &args("win-rate", &[]));
    approx(&rows(&doc)[0]["won_amount"], Some(10000.0));
    approx(&rows(&doc)[0]["win_rate_amount"], Some(10000.0 / 12000.0));
}

#[test]
fn empty_range_gives_null_rates() {
    let wd = ingested("funnel");
    let doc = metric(
        &wd,
        &["waterfall", "--from", "2020-01-01", "--to", "2020-01-31"],
    );
    let r = rows(&doc);
    assert_eq!(ints(r, "reached"), [0, 0, 0, 0, 0, 0]);
    approx(&r[1]["step_rate"], None);
    approx(&r[1]["cumulative_rate"], None);
    approx(&r[1]["cumulative_rate_low"], None);
    let doc = metric(
        &wd,
        &["win-rate", "--from", "2020-01-01", "--to", "2020-01-31"],
    );
    approx(&rows(&doc)[0]["win_rate"], None);
    approx(&rows(&doc)[0]["win_rate_amount"], None);
}

/// Ingests a leads file and a touches file of the given rows (native headers).
fn ingest_leads_and_touches(wd: &crate::workdir::Workdir, leads: &str, touches: &str) {
    wd.write("export/leads.csv", format!("lead_id,created_at\n{leads}"));
    wd.write(
        "export/touches.csv",
        format!("touch_id,lead_id,occurred_at,channel,action,team,campaign_id\n{touches}"),
    );
    wd.run(&["ingest", "export", "-q"]).ok();
}

/// lint's `touch_unknown_lead` finding: its count and examples.
fn touch_unknown_lead(wd: &crate::workdir::Workdir) -> (i64, Vec<String>) {
    let doc = metric(wd, &["lint"]);
    let finding = row(rows(&doc), "check", "touch_unknown_lead");
    let examples = finding["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    (finding["count"].as_i64().unwrap(), examples)
}

/// With every touch's lead known, `touch_unknown_lead` is still listed, at zero (the
/// check then skips its second pass over the touches).
#[test]
fn lint_with_every_touch_lead_known() {
    let wd = crate::workdir::Workdir::new();
    ingest_leads_and_touches(
        &wd,
        "L1,2025-01-01T00:00:00Z\nL2,2025-01-02T00:00:00Z\n",
        "T1,L1,2025-01-01T00:00:00Z,email,open,marketing,C1\n\
         T2,L2,2025-01-03T00:00:00Z,email,click,marketing,C1\n",
    );
    assert_eq!(touch_unknown_lead(&wd), (0, vec![]));
}

/// Unknown leads are found whatever their touches: a counted marketing touch, a touch
/// of an action not counted, a sales touch, and a marketing touch that the dedupe
/// drops behind a sales touch of the same action and campaign. The same with the
/// derived tables (the definitions of the ingest) and without them (other
/// definitions): lint counts every touch, not only the counted ones.
#[test]
fn lint_finds_unknown_leads_of_every_kind_of_touch() {
    let wd = crate::workdir::Workdir::new();
    wd.write("funnel.toml", "[touches]\ndedupe_minutes = 5\n");
    ingest_leads_and_touches(
        &wd,
        "L1,2025-01-01T00:00:00Z\n",
        "T1,L1,2025-01-01T00:00:00Z,email,open,marketing,C1\n\
         T2,U1,2025-01-02T00:00:00Z,email,open,marketing,C1\n\
         T3,U2,2025-01-02T00:00:00Z,email,send,marketing,C1\n\
         T4,U3,2025-01-02T00:00:00Z,phone,call,sales,C1\n\
         T5,U4,2025-01-02T10:00:00Z,phone,call,sales,C1\n\
         T6,U4,2025-01-02T10:02:00Z,phone,call,marketing,C1\n",
    );
    let expected = (5, ["T2", "T3", "T4", "T5", "T6"].map(String::from).to_vec());
    assert_eq!(touch_unknown_lead(&wd), expected);
    wd.write("funnel.toml", "[touches]\ndedupe_minutes = 0\n");
    assert_eq!(touch_unknown_lead(&wd), expected);
}

#[test]
fn lint_findings() {
    let wd = ingested("funnel");
    let doc = metric(&wd, &["lint", "--as-of", "2025-06-15"]);
    let r = rows(&doc);
    let find = |check: &str| row(r, "check", check);
    let examples = |check: &str| -> Vec<String> {
        find(check)["examples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(r.len(), 17);
    assert_eq!(find("stage_without_opportunity")["count"], 0);
    // Every event of the fixture is dated before its ingest.
    assert_eq!(find("event_in_future")["count"], 0);
    assert_eq!(find("duplicate_keys_merged")["count"], 1);
    assert_eq!(examples("duplicate_keys_merged"), ["L1"]);
    assert_eq!(find("stage_backfilled")["count"], 1);
    assert_eq!(examples("stage_backfilled"), ["L4"]);
    assert_eq!(find("events_out_of_order")["count"], 1);
    assert_eq!(examples("events_out_of_order"), ["L9"]);
    assert_eq!(find("event_before_lead_created")["count"], 1);
    assert_eq!(examples("event_before_lead_created"), ["L5"]);
    assert_eq!(find("opportunity_without_lead")["count"], 3);
    assert_eq!(examples("opportunity_without_lead"), ["O2", "O3", "O4"]);
    assert_eq!(find("touch_unknown_lead")["count"], 1);
    assert_eq!(examples("touch_unknown_lead"), ["T10"]);
    assert_eq!(find("event_unknown_lead")["count"], 1);
    assert_eq!(find("unmapped_stage_value")["count"], 1);
    assert_eq!(examples("unmapped_stage_value"), ["L5"]);
    assert_eq!(find("unmapped_source")["count"], 1);
    assert_eq!(examples("unmapped_source"), ["L9"]);
    assert_eq!(find("open_past_close_date")["count"], 1);
    assert_eq!(find("amount_without_rate")["count"], 0);
    assert_eq!(find("won_without_amount")["count"], 0);
    // Checks in ascending order of id.
    let ids: Vec<&str> = r.iter().map(|x| x["check"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

#[test]
fn unknown_values_error_refuses_metrics_but_not_lint() {
    let wd = ingested("funnel");
    wd.write("funnel.toml", "[stages]\nunknown_values = \"error\"\n");
    let run = wd.run(&["metrics", "waterfall"]).expect_code(3);
    assert!(run.stderr.contains("`Working`"), "{}", run.stderr);
    wd.run(&["metrics", "lint", "-q"]).ok();
}

#[test]
fn missing_tables_are_named() {
    let wd = crate::workdir::Workdir::new();
    wd.write("e/leads.csv", "lead_id,created_at\nL1,2025-01-01\n");
    wd.run(&["ingest", "e", "-q"]).ok();
    let run = wd.run(&["metrics", "sla"]).expect_code(3);
    assert!(run.stderr.contains("`lead_stage_events`"), "{}", run.stderr);
    let run = wd
        .run(&["metrics", "quota", "--by", "source"])
        .expect_code(2);
    assert!(run.stderr.contains("--by"), "{}", run.stderr);
    let run = wd.run(&["metrics", "nope"]).expect_code(2);
    assert!(run.stderr.contains("--list"), "{}", run.stderr);
}

#[test]
fn list_and_table_output() {
    let wd = ingested("funnel");
    let list = wd.run(&["metrics", "--list"]).ok().stdout;
    for name in [
        "waterfall",
        "conversion",
        "funnel-time",
        "cycle",
        "stage-time",
        "touches",
        "sla",
        "win-rate",
        "quota",
        "reverse-funnel",
        "revenue-share",
        "attribution",
        "campaign-cost",
        "velocity",
        "lint",
    ] {
        assert!(
            list.lines().any(|l| l.starts_with(name)),
            "{name} missing:\n{list}"
        );
    }
    let mut a = vec!["metrics"];
    a.extend(args("waterfall", &[]));
    let table = wd.run(&a).ok().stdout;
    // Small denominators are marked; the footer states definitions and range.
    assert!(table.contains("0.875*"), "{table}");
    assert!(table.contains("fewer than 30"), "{table}");
    assert!(table.contains("range 2025-01-01 to 2025-03-31"), "{table}");
    assert!(table.contains("definitions "), "{table}");
    let csv = wd
        .run(&[
            "metrics",
            "waterfall",
            "--from",
            "2025-01-01",
            "--to",
            "2025-03-31",
            "--format",
            "csv",
        ])
        .ok()
        .stdout;
    assert!(
        csv.starts_with("stage,reached,step_rate,step_rate_low,step_rate_high,cumulative_rate"),
        "{csv}"
    );
    assert!(!csv.contains("__n_"), "{csv}");
}

/// `--where` values match trimmed and case-insensitively, like the definitions; a
/// value that matches nothing warns with the closest values there are.
#[test]
fn waterfall_where_matches_like_the_definitions_and_warns_on_a_miss() {
    let wd = ingested("funnel");
    let exact = metric(&wd, &args("waterfall", &["--where", "source=webinar"]));
    let loose = metric(&wd, &args("waterfall", &["--where", "source= WebInar "]));
    assert_eq!(rows(&exact), rows(&loose));
    assert!(ints(rows(&exact), "reached")[0] > 0);
    let mut all = vec!["metrics"];
    all.extend(args("waterfall", &["--where", "source=webinr"]));
    let run = wd.run(&all).ok();
    assert!(
        run.stderr.contains(
            "--where source=webinr: no lead or opportunity has this value (closest: `webinar`"
        ),
        "{}",
        run.stderr
    );
    let quiet = wd
        .run(&["metrics", "waterfall", "--where", "source=webinar"])
        .ok();
    assert!(
        !quiet.stderr.contains("no lead or opportunity"),
        "{}",
        quiet.stderr
    );
}

/// `cycle --by segment` left out a segment with no wins; every group that had a deal
/// closed or a customer now shows both measures, with count 0 when empty.
#[test]
fn cycle_shows_a_group_without_wins_with_count_zero() {
    let wd = crate::workdir::Workdir::new();
    wd.write(
        "export/leads.csv",
        "lead_id,created_at,source,segment\nL1,2025-01-05T00:00:00Z,web,smb\nL2,2025-01-06T00:00:00Z,web,enterprise\n",
    );
    wd.write(
        "export/opportunities.csv",
        "opportunity_id,lead_id,created_at,closed_at,status,amount\nO1,L1,2025-01-10T00:00:00Z,2025-01-20T00:00:00Z,won,100\nO2,L2,2025-01-11T00:00:00Z,2025-01-21T00:00:00Z,lost,200\n",
    );
    wd.run(&["ingest", "export", "-q"]).ok();
    let doc = crate::fixture::metric(&wd, &["cycle", "--by", "segment", "--as-of", "2025-02-01"]);
    let got: Vec<(String, String, i64)> = crate::fixture::rows(&doc)
        .iter()
        .map(|r| {
            (
                r["segment"].as_str().unwrap().to_string(),
                r["measure"].as_str().unwrap().to_string(),
                r["count"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("enterprise", "lead_to_customer", 0),
        ("enterprise", "sales_cycle", 0),
        ("smb", "lead_to_customer", 1),
        ("smb", "sales_cycle", 1),
    ];
    let expected: Vec<(String, String, i64)> = expected
        .iter()
        .map(|(a, b, n)| (a.to_string(), b.to_string(), *n))
        .collect();
    assert_eq!(got, expected);
}

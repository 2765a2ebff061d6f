//! Mappings and presets (docs/mapping.md): the real Salesforce export, hand-written
//! Salesforce quirks, HubSpot exports, and a foreign European spreadsheet export.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::fixture::{copy_fixture, fixture_dir, metric, row, rows};
use crate::workdir::Workdir;

/// The real Salesforce Data Export of a developer org, read in place (it is not ours
/// to copy): `$FUNNEL_SHARED_FIXTURES`, else `../shared/fixtures` beside the checkout,
/// else `/work/shared/fixtures`.
pub fn salesforce_export() -> PathBuf {
    let candidates = [
        std::env::var_os("FUNNEL_SHARED_FIXTURES").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")),
        Some(PathBuf::from("/work/shared/fixtures")),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(|d| d.join("salesforce-devorg-export"))
        .find(|d| d.join("Lead.csv").is_file())
        .expect("the shared Salesforce fixture: set FUNNEL_SHARED_FIXTURES to the folder holding salesforce-devorg-export/")
}

/// The latest run's counts of `table` in the manifest.
fn counts(wd: &Workdir, table: &str) -> Value {
    let manifest: Value =
        serde_json::from_str(&wd.read("data/warehouse/current/_manifest.json")).unwrap();
    manifest["runs"].as_array().unwrap().last().unwrap()["tables"][table].clone()
}

fn count(wd: &Workdir, query: &str) -> String {
    wd.sql(query).lines().nth(1).unwrap_or("").to_string()
}

#[test]
fn salesforce_devorg_export_loads_and_adds_up() {
    let wd = Workdir::new();
    let export = salesforce_export();
    let run = wd
        .run(&["ingest", export.to_str().unwrap(), "--preset", "salesforce"])
        .ok();
    // 22 Lead rows and 35 Contacts (none converted from a lead) are 57 people.
    assert_eq!(count(&wd, "select count(*) from leads"), "57");
    assert_eq!(
        count(&wd, "select count(*) from leads where lead_id like '003%'"),
        "35"
    );
    assert_eq!(count(&wd, "select count(*) from opportunities"), "31");
    // 62 history rows: pairs with the same stage and time, one event per opportunity.
    assert_eq!(counts(&wd, "opportunity_stage_events")["read"], 62);
    assert_eq!(
        count(
            &wd,
            "select count(*), count(distinct opportunity_id) from opportunity_stage_events"
        ),
        "31,31"
    );
    assert_eq!(count(&wd, "select count(*) from campaigns"), "4");
    // CampaignMember.csv is a header without rows.
    assert_eq!(count(&wd, "select count(*) from touches"), "0");
    // The null id reads as empty: no lead has a converted account, no opp a lead.
    assert_eq!(
        count(
            &wd,
            "select count(account_id) from leads where lead_id like '00Q%'"
        ),
        "0"
    );
    assert_eq!(count(&wd, "select count(lead_id) from opportunities"), "0");
    // 18 won (IsWon), 13 open; amounts as exported.
    assert_eq!(
        count(
            &wd,
            "select sum(case when status = 'won' then 1 else 0 end) as won, sum(case when status = 'open' then 1 else 0 end) as open, sum(amount) as amount from opportunities"
        ),
        "18,13,5760000"
    );
    // Timestamps are UTC whatever the calendar says.
    assert_eq!(
        count(&wd, "select min(created_at) from leads"),
        "2018-10-13T17:16:45Z"
    );
    assert!(
        run.stderr.contains("leads: 57 read, 57 loaded"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("31 merged"), "{}", run.stderr);

    // The quirks of SOURCE.md, reported by lint.
    let doc = metric(&wd, &["lint", "--as-of", "2018-12-31"]);
    let r = rows(&doc);
    let lint = |check: &str| row(r, "check", check)["count"].as_i64().unwrap();
    // "Closed - Converted" with IsConverted = 0 and no converted ids.
    assert_eq!(lint("stage_without_opportunity"), 3);
    // ConvertedOpportunityId and CampaignId hold the null id: no opportunity has a lead.
    assert_eq!(lint("opportunity_without_lead"), 31);
    // Two history rows per opportunity with the same stage and time.
    assert_eq!(lint("duplicate_keys_merged"), 31);
    // CreatedDate is the sample-data load time, after the close dates.
    assert_eq!(lint("closed_before_created"), 18);
    assert_eq!(lint("open_past_close_date"), 13);
    // Every stage value is mapped by the preset's picklists.
    assert_eq!(lint("unmapped_stage_value"), 0);

    // The preset's definitions stay in force for later commands.
    let doc = metric(
        &wd,
        &[
            "win-rate",
            "--from",
            "2018-01-01",
            "--to",
            "2018-12-31",
            "--as-of",
            "2018-12-31",
        ],
    );
    assert_eq!(rows(&doc)[0]["won"], 18);
}

#[test]
fn salesforce_conversions_merges_deletions_and_history() {
    let wd = Workdir::new();
    let dir = fixture_dir("salesforce-quirks");
    // Salesforce writes UTC whatever the calendar's zone: the preset says so.
    wd.write(
        "funnel.toml",
        "[calendar]\ntimezone = \"America/New_York\"\n",
    );
    let run = wd
        .run(&["ingest", dir.to_str().unwrap(), "--preset", "salesforce"])
        .ok();
    // 00QA converted (its contact 003A is the same person), 00QB, contact 003B;
    // 00QC merged into 00QB and 00QD deleted.
    assert_eq!(
        wd.sql("select lead_id from leads order by 1"),
        "lead_id\n003B\n00QA\n00QB\n"
    );
    let leads = counts(&wd, "leads");
    assert_eq!(leads["deleted"], 2);
    assert_eq!(leads["skipped"], 1);
    assert!(run.stderr.contains("2 deleted"), "{}", run.stderr);
    // Opportunities: by ConvertedOpportunityId, else the *primary* contact role.
    assert_eq!(
        wd.sql("select opportunity_id, lead_id, status, amount, currency from opportunities order by 1"),
        "opportunity_id,lead_id,status,amount,currency\n006A,00QA,won,45000,EUR\n006B,003B,open,1000.5,USD\n006C,,lost,8000,USD\n"
    );
    // The amount-only history row folds into the Prospecting stay, which keeps its
    // first amount.
    assert_eq!(
        wd.sql("select stage, amount from opportunity_stage_events where opportunity_id = '006A' order by entered_at"),
        "stage,amount\nProspecting,40000\nNegotiation/Review,45000\nClosed Won,45000\n"
    );
    // Status events from LeadHistory (Field = Status only) and the lead's own status.
    assert_eq!(
        wd.sql("select lead_id, stage from lead_stage_events order by lead_id, entered_at"),
        "lead_id,stage\n00QA,Working - Contacted\n00QA,Closed - Converted\n00QB,Working - Contacted\n"
    );
    // Touches credited through the aliases; a task on an account only is skipped; an
    // event (a meeting) is a sales touch at its ActivityDateTime.
    assert_eq!(
        wd.sql("select touch_id, lead_id, team, action from touches order by 1"),
        "touch_id,lead_id,team,action\n00TA,00QA,sales,call\n00TC,00QB,sales,email\n00UB,003B,sales,meeting\n00v3,003B,marketing,send\n00vB,00QB,marketing,form\n"
    );
    assert_eq!(
        count(&wd, "select name, team from owners"),
        "Dana Seller,Sales"
    );

    // A later export where 00QB is deleted removes it from the warehouse.
    let later = wd.join("later");
    std::fs::create_dir_all(&later).unwrap();
    let lead = std::fs::read_to_string(dir.join("Lead.csv")).unwrap();
    let lead = lead.replace("\"00QB\",\"0\"", "\"00QB\",\"1\"");
    std::fs::write(later.join("Lead.csv"), lead).unwrap();
    wd.run(&["ingest", "later", "--preset", "salesforce", "-q"])
        .ok();
    assert_eq!(
        wd.sql("select lead_id from leads order by 1"),
        "lead_id\n003B\n00QA\n"
    );
}

#[test]
fn hubspot_contacts_deals_and_activities() {
    let wd = Workdir::new();
    copy_fixture(&wd, "hubspot");
    wd.run(&["ingest", "export", "-q"]).ok();
    // One event per "Became a … Date" column with a date: 102 skipped MQL.
    assert_eq!(
        wd.sql("select stage from lead_stage_events where lead_id = '102' order by entered_at"),
        "stage\nlead\nsalesqualifiedlead\n"
    );
    assert_eq!(count(&wd, "select count(*) from lead_stage_events"), "10");
    // The deal with contacts "101;102" is credited to the first.
    assert_eq!(
        wd.sql("select opportunity_id, lead_id, pipeline, status from opportunities order by 1"),
        "opportunity_id,lead_id,pipeline,status\n9001,101,Sales Pipeline,won\n9002,102,Sales Pipeline,open\n9003,104,Partner Pipeline,won\n"
    );
    // Stage events from the "Date entered" columns of each pipeline.
    assert_eq!(
        wd.sql("select stage from opportunity_stage_events where opportunity_id = '9003' order by entered_at"),
        "stage\nDiscovery\nPartner Won\n"
    );
    assert_eq!(
        wd.sql("select touch_id, lead_id, team, action from touches order by 1"),
        "touch_id,lead_id,team,action\n5001,101,marketing,open\n5002,101,marketing,form\n5003,102,sales,call\n5004,102,sales,meeting\n"
    );

    let range = [
        "--from",
        "2025-01-01",
        "--to",
        "2025-03-31",
        "--as-of",
        "2025-06-15",
    ];
    // Backfill: 102 reached MQL on its way to SQL; HubSpot has no SAL stage, so
    // SQL backfills it. Customers: 101 (lifecycle) and 104 (won partner deal).
    let mut args = vec!["waterfall"];
    args.extend(range);
    let doc = metric(&wd, &args);
    let reached: Vec<i64> = rows(&doc)
        .iter()
        .map(|r| r["reached"].as_i64().unwrap())
        .collect();
    assert_eq!(reached, [4, 3, 3, 3, 3, 2]);
    // Both pipelines' won deals count: Closed Won and the partner pipeline's own stage.
    let mut args = vec!["win-rate"];
    args.extend(range);
    let doc = metric(&wd, &args);
    assert_eq!(rows(&doc)[0]["won"], 2);
    crate::fixture::approx(&rows(&doc)[0]["won_amount"], Some(20000.0));
    let mut args = vec!["lint"];
    args.extend(range);
    let doc = metric(&wd, &args);
    assert_eq!(row(rows(&doc), "check", "unmapped_stage_value")["count"], 0);
    assert_eq!(row(rows(&doc), "check", "unmapped_source")["count"], 0);
}

/// The TOML block after `<!-- example: NAME -->` in docs/mapping.md.
fn docs_example(name: &str) -> String {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/mapping.md"))
            .unwrap();
    let marker = format!("<!-- example: {name} -->\n```toml\n");
    let start = doc.find(&marker).expect("example in docs/mapping.md") + marker.len();
    let end = doc[start..].find("```").unwrap();
    doc[start..start + end].to_string()
}

#[test]
fn foreign_european_export_through_the_documented_mapping() {
    let wd = Workdir::new();
    copy_fixture(&wd, "european");
    wd.write("funnel.toml", docs_example("european"));
    let run = wd.run(&["ingest", "export"]).ok();
    assert!(
        run.stderr.contains("3 row(s) quarantined"),
        "{}",
        run.stderr
    );
    // Latin-1 names, DD/MM/YYYY in Paris time, value-mapped sources.
    assert_eq!(
        wd.sql("select lead_id, created_at, source, region, owner_id from leads order by 1"),
        "lead_id,created_at,source,region,owner_id\n\
         P-001,2025-01-14T23:00:00Z,event,Île-de-France,Hélène\n\
         P-002,2025-02-02T23:00:00Z,organic,Bretagne,Hélène\n\
         P-004,2025-02-19T23:00:00Z,partner,Rhône-Alpes,Jérôme\n\
         P-005,2025-02-28T23:00:00Z,organic,Bretagne,Jérôme\n\
         P-006,2025-03-01T23:00:00Z,event,Île-de-France,Jérôme\n"
    );
    // Decimal commas, thousands points and the currency code in the amount.
    assert_eq!(
        wd.sql("select opportunity_id, lead_id, status, stage, amount, close_date from opportunities order by 1"),
        "opportunity_id,lead_id,status,stage,amount,close_date\n\
         A-1,P-002,won,Closed Won,12500,2025-03-31\n\
         A-2,P-004,open,Proposal,3000.5,2025-06-30\n\
         A-3,P-001,lost,Closed Lost,800,2025-02-28\n"
    );
    assert_eq!(
        wd.sql("select lead_id, stage from lead_stage_events order by 1"),
        "lead_id,stage\nP-001,lead\nP-002,mql\nP-004,sal\nP-005,disqualified\n"
    );
    // Nothing lost: the impossible date and the unmapped status, with their reasons.
    let leads_q = wd.read("data/warehouse/quarantine/leads.csv");
    assert!(
        leads_q.contains("P-003,31/02/2025")
            && leads_q.contains("does not match the declared format `%d/%m/%Y`"),
        "{leads_q}"
    );
    // On the line its record starts on, in a file with CRLF line breaks.
    let file = std::fs::read(fixture_dir("european").join("prospects.csv")).unwrap();
    let line = 1 + file
        .split(|&b| b == b'\n')
        .position(|l| l.starts_with(b"P-003"))
        .unwrap();
    assert!(
        leads_q.contains(&format!("prospects.csv,{line},")),
        "line {line}: {leads_q}"
    );
    let events_q = wd.read("data/warehouse/quarantine/lead_stage_events.csv");
    assert!(
        events_q.contains("P-006,En attente")
            && events_q.contains("`mapping.source[1].columns.stage.map`"),
        "{events_q}"
    );
}

#[test]
fn mapping_mistakes_say_what_to_change() {
    let wd = Workdir::new();
    copy_fixture(&wd, "european");
    let example = docs_example("european");
    let snapshot_before = crate::workdir::tree(&wd.join("data"));

    // A source column that is not in the file: exit 3, the key and the header named.
    wd.write("funnel.toml", example.replace("\"Créé le\"", "\"Cree le\""));
    let run = wd.run(&["ingest", "export"]).expect_code(3);
    assert!(
        run.stderr.contains("column `Cree le`")
            && run.stderr.contains("mapping.source[0].columns.created_at")
            && run.stderr.contains("Créé le"),
        "{}",
        run.stderr
    );
    // The encoding left out: the line and the key to add.
    wd.write(
        "funnel.toml",
        example.replace("encoding = \"latin-1\"\n", ""),
    );
    let run = wd.run(&["ingest", "export"]).expect_code(3);
    assert!(
        run.stderr.contains("not UTF-8") && run.stderr.contains("encoding = \"windows-1252\""),
        "{}",
        run.stderr
    );
    // A definitions mistake: exit 2 with the key.
    wd.write(
        "funnel.toml",
        example.replace("table = \"opportunities\"", "table = \"deals\""),
    );
    let run = wd.run(&["ingest", "export"]).expect_code(2);
    assert!(
        run.stderr.contains("mapping.source[2].table") && run.stderr.contains("`deals`"),
        "{}",
        run.stderr
    );
    // No file matches.
    wd.write(
        "funnel.toml",
        example
            .replace("prospects*.csv", "leads*.csv")
            .replace("affaires*.csv", "deals*.csv"),
    );
    let run = wd.run(&["ingest", "export"]).expect_code(3);
    assert!(run.stderr.contains("no file matches"), "{}", run.stderr);
    // Nothing was written by any of them.
    assert_eq!(crate::workdir::tree(&wd.join("data")), snapshot_before);
}

#[test]
fn init_writes_the_preset_for_review() {
    let wd = Workdir::new();
    wd.run(&["init", "--preset", "salesforce"]).ok();
    let text = wd.read("funnel.toml");
    assert!(text.contains("preset = \"salesforce\""), "{text}");
    assert!(text.contains("Negotiation/Review"), "{text}");
    assert!(text.contains("[definitions]"), "{text}");
    // The written file is the definitions in force: editing it overrides the preset.
    wd.write("funnel.toml", text.replace("\"Working - Contacted\", ", ""));
    let export = salesforce_export();
    wd.run(&["ingest", export.to_str().unwrap(), "-q"]).ok();
    let doc = metric(&wd, &["lint", "--as-of", "2018-12-31"]);
    // The 12 "Working - Contacted" leads are now unmapped.
    assert_eq!(
        row(rows(&doc), "check", "unmapped_stage_value")["count"],
        12
    );
}

#[test]
fn a_column_declares_its_own_time_zone() {
    // One naive timestamp column in Tokyo time, another in the calendar's zone, a
    // third in the file's declared zone.
    let wd = Workdir::new();
    wd.write(
        "funnel.toml",
        "[calendar]\ntimezone = \"Europe/Paris\"\n\n\
         [mapping.format]\ntimezone = \"UTC\"\n\n\
         [[mapping.source]]\nfiles = \"people.csv\"\ntable = \"leads\"\n\
         [mapping.source.columns]\nlead_id = \"id\"\n\
         created_at = { column = \"created\", timezone = \"Asia/Tokyo\" }\n\
         updated_at = \"updated\"\n",
    );
    wd.write(
        "export/people.csv",
        "id,created,updated\nP1,2025-07-15 09:00:00,2025-07-15 09:00:00\n",
    );
    wd.run(&["ingest", "export", "-q"]).ok();
    assert_eq!(
        wd.sql("select created_at, updated_at from leads"),
        "created_at,updated_at\n2025-07-15T00:00:00Z,2025-07-15T09:00:00Z\n"
    );
}

/// A lookup that finds nothing no longer writes an empty value without a word: an
/// unmatched key quarantines the row by default (naming the key), `unmatched =
/// "null"` stores it empty, and either way the ingest says how many; keys match
/// trimmed; a lookup whose file is not among the inputs is a configuration error
/// unless the lookup is `optional`.
#[test]
fn a_lookup_that_finds_nothing_quarantines_or_says_so() {
    let wd = Workdir::new();
    wd.write(
        "export/people.csv",
        "ID,Created,Account\nP1,2025-01-05T00:00:00Z,A1\nP2,2025-01-06T00:00:00Z, A2\nP3,2025-01-07T00:00:00Z,A9\nP4,2025-01-08T00:00:00Z,\n",
    );
    wd.write(
        "export/accounts.csv",
        "Id,Segment\nA1,enterprise\nA2 ,smb\n",
    );
    let toml = |lookup_extra: &str, files: &str| {
        format!(
            r#"
[[mapping.source]]
files = ["people.csv"]
table = "leads"
[mapping.source.columns]
lead_id = "ID"
created_at = "Created"
segment = {{ column = "Account", lookup = {{ files = [{files}], match = "Id", take = "Segment"{lookup_extra} }} }}
"#
        )
    };
    let segments = |wd: &Workdir| wd.sql("SELECT lead_id, segment FROM leads ORDER BY lead_id");
    // Default: P3's account is in no row of accounts.csv; the row is quarantined.
    wd.write("funnel.toml", toml("", "\"accounts.csv\""));
    let run = wd.run(&["ingest", "export"]).ok();
    assert!(
        run.stderr
            .contains("1 value(s) found no row, rows quarantined"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("leads: 4 read, 3 loaded, 1 quarantined"),
        "{}",
        run.stderr
    );
    assert_eq!(
        segments(&wd),
        "lead_id,segment\nP1,enterprise\nP2,smb\nP4,\n"
    );
    let q = wd.read("data/warehouse/quarantine/leads.csv");
    assert!(
        q.contains("P3") && q.contains("`A9` has no row in the lookup files"),
        "{q}"
    );
    // `unmatched = "null"`: loaded, empty, counted.
    let wd = Workdir::new();
    wd.write(
        "export/people.csv",
        "ID,Created,Account\nP1,2025-01-05T00:00:00Z,A1\nP3,2025-01-07T00:00:00Z,A9\n",
    );
    wd.write("export/accounts.csv", "Id,Segment\nA1,enterprise\n");
    wd.write(
        "funnel.toml",
        toml(", unmatched = \"null\"", "\"accounts.csv\""),
    );
    let run = wd.run(&["ingest", "export"]).ok();
    assert!(
        run.stderr.contains("1 value(s) found no row, stored empty"),
        "{}",
        run.stderr
    );
    assert_eq!(segments(&wd), "lead_id,segment\nP1,enterprise\nP3,\n");
    // The lookup's file is not among the inputs: exit 2, nothing written.
    let wd = Workdir::new();
    wd.write(
        "export/people.csv",
        "ID,Created,Account\nP1,2025-01-05T00:00:00Z,A1\n",
    );
    wd.write("funnel.toml", toml("", "\"accounts.csv\""));
    let run = wd.run(&["ingest", "export"]).expect_code(2);
    assert!(
        run.stderr
            .contains("found none of its files among the inputs")
            && run.stderr.contains("accounts.csv"),
        "{}",
        run.stderr
    );
    assert!(!wd.join("data/warehouse/current").exists());
    // …unless it is optional: every value is then unmatched, and follows the rule.
    wd.write(
        "funnel.toml",
        toml(
            ", optional = true, unmatched = \"keep\"",
            "\"accounts.csv\"",
        ),
    );
    wd.run(&["ingest", "export", "-q"]).ok();
    assert_eq!(segments(&wd), "lead_id,segment\nP1,A1\n");
}

/// On the dev-org export every won deal was closed before it was created (history
/// loaded after the fact): the headline said "median sales cycle −60.7 days" and a
/// negative velocity. Such durations are now left out of cycle and velocity,
/// counted, and named beside the number; with none left the number is "not in your
/// data". `--include-negative` keeps them.
#[test]
fn negative_durations_never_reach_the_headline() {
    let wd = Workdir::new();
    let export = salesforce_export();
    wd.run(&[
        "ingest",
        export.to_str().unwrap(),
        "--preset",
        "salesforce",
        "-q",
    ])
    .ok();
    let doc = metric(&wd, &["cycle"]);
    let sales = row(rows(&doc), "measure", "sales_cycle");
    assert_eq!(sales["count"], 0);
    assert_eq!(sales["left_out_negative"], 18);
    assert!(sales["median_days"].is_null());
    let doc = metric(&wd, &["velocity"]);
    let v = &rows(&doc)[0];
    assert_eq!(v["left_out_negative"], 18);
    assert!(v["median_cycle_days"].is_null() && v["velocity_per_day"].is_null());
    // The raw figure for those who want it.
    let doc = metric(&wd, &["cycle", "--include-negative"]);
    let sales = row(rows(&doc), "measure", "sales_cycle");
    assert_eq!(sales["count"], 18);
    assert_eq!(sales["left_out_negative"], 0);
    assert!(sales["median_days"].as_f64().unwrap() < 0.0);
    // explain lists the 18 left out.
    let out = wd
        .run(&[
            "explain",
            "cycle",
            "--row",
            "measure=sales_cycle",
            "--column",
            "left_out_negative",
            "--format",
            "csv",
            "-q",
        ])
        .ok()
        .stdout;
    assert_eq!(out.lines().count(), 19, "{out}");
    // The report: no negative number, the reason beside the tiles.
    wd.run(&["report", "-q"]).ok();
    let summary: serde_json::Value =
        serde_json::from_str(&wd.read("reports/latest/summary.json")).unwrap();
    assert!(summary["headline"]["median_sales_cycle_days"].is_null());
    assert!(summary["headline"]["velocity_per_day"].is_null());
    let caveat = summary["caveats"]["median_sales_cycle_days"]
        .as_str()
        .unwrap();
    assert!(
        caveat.starts_with("Not in your data: 18 won deal(s) closed before they were created"),
        "{caveat}"
    );
    let html = wd.read("reports/latest/index.html");
    assert!(html.contains("18 won deal(s) closed before they were created"));
    assert!(!html.contains("−60.7") && !html.contains("-60.7"));
}

/// The hint carries the fix: a `;`-separated, a tab-separated and a Windows-1252
/// export of the native tables each fail with the exact lines to add to
/// funnel.toml, and those lines alone (`[mapping.format]`, no sources) read them.
#[test]
fn format_hints_give_the_lines_that_read_the_file() {
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "semicolons",
            b"lead_id;created_at;source\nL1;2025-01-05T00:00:00Z;web\nL2;2025-01-06T00:00:00Z;event\n",
            "[mapping.format]\ndelimiter = \";\"\n",
        ),
        (
            "tabs",
            b"lead_id\tcreated_at\tsource\nL1\t2025-01-05T00:00:00Z\tweb\nL2\t2025-01-06T00:00:00Z\tevent\n",
            "[mapping.format]\ndelimiter = \"\\t\"\n",
        ),
        (
            "windows-1252",
            b"lead_id,created_at,source\nL1,2025-01-05T00:00:00Z,web\nL2,2025-01-06T00:00:00Z,caf\xe9\n",
            "[mapping.format]\nencoding = \"windows-1252\"\n",
        ),
    ];
    for (name, bytes, lines) in cases {
        let wd = Workdir::new();
        wd.write("export/leads.csv", bytes);
        let run = wd.run(&["ingest", "export"]).expect_code(3);
        assert!(
            run.stderr
                .contains(&format!("add to funnel.toml\n\n{lines}")),
            "{name}: {}",
            run.stderr
        );
        // The lines as the message gives them, and nothing else.
        wd.write("funnel.toml", lines);
        wd.run(&["ingest", "export", "-q"]).ok();
        let expected = if name == "windows-1252" {
            "lead_id,source\nL1,web\nL2,café\n"
        } else {
            "lead_id,source\nL1,web\nL2,event\n"
        };
        assert_eq!(
            wd.sql("SELECT lead_id, source FROM leads ORDER BY lead_id"),
            expected,
            "{name}"
        );
    }
}

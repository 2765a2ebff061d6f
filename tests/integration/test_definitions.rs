//! The definitions as a contract: checks, approval states, diff, approve.

use crate::fixture::{ingested, with_range};
use crate::workdir::Workdir;

#[test]
fn check_reports_unmapped_values_sources_and_placeholders() {
    let wd = ingested("funnel");
    let run = wd.run(&with_range(&["definitions", "check", "-q"])).ok();
    let out = run.stdout;
    // `Working` (L5) is the unmapped lifecycle value; `LX`'s events count too.
    assert!(
        out.contains("unmapped_stage_value") && out.contains("`Working` (1 rows)"),
        "{out}"
    );
    assert!(
        out.contains("unlisted_source") && out.contains("`trade show` (1 rows)"),
        "{out}"
    );
    assert!(out.contains("placeholder_definition"), "{out}");
    assert!(out.contains("has not approved"), "{out}");
    assert!(!out.contains("error "), "warnings only:\n{out}");
}

#[test]
fn a_value_under_two_stages_is_an_error() {
    let wd = ingested("funnel");
    wd.write("funnel.toml", "[stages]\nsal = [\"sal\", \"mql\"]\n");
    let run = wd
        .run(&with_range(&["definitions", "check", "-q"]))
        .expect_code(3);
    assert!(
        run.stdout.contains("value_in_two_stages")
            && run.stdout.contains("`mql` is listed under mql and sal"),
        "{}",
        run.stdout
    );
    // The same error binds every command that computes a number.
    for args in [
        &["metrics", "waterfall"][..],
        &["report"],
        &["chart", "waterfall", "--out", "w.svg"],
    ] {
        let run = wd.run(args).expect_code(2);
        assert!(
            run.stderr.contains("contradict") && run.stderr.contains("value_in_two_stages"),
            "{}",
            run.stderr
        );
    }
    let run = wd.run(&["run", "export"]).expect_code(2);
    assert!(run.stderr.contains("value_in_two_stages"), "{}", run.stderr);
}

#[test]
fn a_source_under_two_teams_and_a_threshold_not_a_number_are_errors() {
    let wd = ingested("funnel");
    wd.write(
        "funnel.toml",
        "[mql]\nscore_threshold = nan\n[sources]\nmarketing = [\"webinar\"]\nsales = [\"Webinar \"]\n",
    );
    let run = wd
        .run(&with_range(&["definitions", "check", "-q"]))
        .expect_code(3);
    assert!(
        run.stdout.contains("source_in_two_teams")
            && run.stdout.contains("`webinar`")
            && run.stdout.contains("score_threshold_not_a_number"),
        "{}",
        run.stdout
    );
    wd.run(&["metrics", "waterfall"]).expect_code(2);
}

#[test]
fn unknown_values_error_makes_unmapped_values_errors() {
    let wd = ingested("funnel");
    wd.write("funnel.toml", "[stages]\nunknown_values = \"error\"\n");
    let run = wd
        .run(&with_range(&["definitions", "check", "-q"]))
        .expect_code(3);
    assert!(
        run.stdout.contains("error    unmapped_stage_value"),
        "{}",
        run.stdout
    );
}

#[test]
fn check_finds_a_window_and_an_sla_no_data_satisfies() {
    let wd = Workdir::new();
    wd.write(
        "e/leads.csv",
        "lead_id,created_at\nA,2025-01-01\nB,2025-01-02\n",
    );
    wd.write(
        "e/lead_stage_events.csv",
        "lead_id,stage,entered_at\nA,mql,2025-01-10\nA,sal,2025-01-13\nB,mql,2025-01-12\nB,disqualified,2025-01-16\n",
    );
    wd.run(&["ingest", "e", "-q"]).ok();
    // MQLs came 9 and 10 days after creation; decisions took 72 and 96 hours.
    wd.write(
        "funnel.toml",
        "[funnel]\nconversion_window_days = 5\n[mql]\nsla_hours = 48\n",
    );
    let out = wd
        .run(&with_range(&["definitions", "check", "-q"]))
        .ok()
        .stdout;
    assert!(out.contains("window_unsatisfiable"), "{out}");
    assert!(out.contains("sla_unsatisfiable"), "{out}");
    wd.write(
        "funnel.toml",
        "[funnel]\nconversion_window_days = 30\n[mql]\nsla_hours = 100\n",
    );
    let out = wd
        .run(&with_range(&["definitions", "check", "-q"]))
        .ok()
        .stdout;
    assert!(
        !out.contains("window_unsatisfiable") && !out.contains("sla_unsatisfiable"),
        "{out}"
    );
}

#[test]
fn approval_states_in_the_report_header() {
    let wd = ingested("funnel");
    wd.write("funnel.toml", crate::fixture::REVIEWED);
    let header = |wd: &Workdir| {
        wd.run(&with_range(&["report", "-q"])).ok();
        let html = wd.read("reports/2025-06-15/index.html");
        let start = html.find("<header>").unwrap();
        let end = html.find("</header>").unwrap();
        html[start..end].to_string()
    };
    // Nobody approved.
    let h = header(&wd);
    assert!(
        h.contains("not approved") && h.contains("Marketing has not approved"),
        "{h}"
    );
    // One team approved: the other is missing.
    wd.run(&[
        "definitions",
        "approve",
        "--team",
        "marketing",
        "--by",
        "Mia Chen",
        "--on",
        "2026-11-20",
    ])
    .ok();
    let h = header(&wd);
    assert!(
        h.contains("Definitions v1 — approved by Mia Chen (Marketing) on 2026-11-20"),
        "{h}"
    );
    assert!(h.contains("Sales has not approved"), "{h}");
    // Both approved: no warning.
    wd.run(&[
        "definitions",
        "approve",
        "--team",
        "sales",
        "--by",
        "Sam Ortiz",
        "--on",
        "2026-11-21",
    ])
    .ok();
    let h = header(&wd);
    assert!(
        h.contains(
            "approved by Mia Chen (Marketing) on 2026-11-20 and Sam Ortiz (Sales) on 2026-11-21"
        ),
        "{h}"
    );
    assert!(
        !h.contains("class=\"warn\">Sales") && !h.contains("changed after"),
        "{h}"
    );
    // The rules change after approval.
    let text = wd.read("funnel.toml");
    wd.write(
        "funnel.toml",
        text.replacen("[definitions]", "[mql]\nsla_hours = 72\n\n[definitions]", 1),
    );
    let h = header(&wd);
    assert!(
        h.contains("The rules changed after Marketing approved them on 2026-11-20"),
        "{h}"
    );
    // A new approval bumps the version.
    wd.run(&[
        "definitions",
        "approve",
        "--team",
        "marketing",
        "--by",
        "Mia Chen",
        "--on",
        "2026-11-25",
    ])
    .ok();
    assert!(wd.read("funnel.toml").contains("version = 2"));
    // Placeholder prose is called out.
    wd.write("funnel.toml", "");
    let h = header(&wd);
    assert!(h.contains("Placeholder or empty definitions"), "{h}");
}

#[test]
fn approve_keeps_comments_and_layout() {
    let wd = Workdir::new();
    wd.run(&["init", "-q"]).ok();
    // The teams wrote their definitions over funnel init's placeholders.
    let written = wd
        .read("funnel.toml")
        .replace("\"TODO(review):", "\"Agreed:");
    wd.write("funnel.toml", &written);
    let before = wd.read("funnel.toml");
    wd.run(&[
        "definitions",
        "approve",
        "--team",
        "sales",
        "--by",
        "Sam Ortiz",
        "--on",
        "2026-11-26",
    ])
    .ok();
    let after = wd.read("funnel.toml");
    assert!(
        after.starts_with(&before[..before.find("[approval]").unwrap_or(before.len()).min(2000)]),
        "the file was reformatted"
    );
    assert!(
        after.contains("# Read this file together, the VP of Sales and the VP of Marketing"),
        "comments lost"
    );
    assert!(
        after.contains("sales = { by = \"Sam Ortiz\", on = 2026-11-26, rules_hash = \""),
        "{after}"
    );
    // The approval itself does not change the definitions hash.
    let hash = |t: &str| funnel::config::Config::parse(t).unwrap().definitions_hash();
    assert_eq!(hash(&before), hash(&after));
}

#[test]
fn diff_shows_rules_and_their_effect() {
    let wd = ingested("funnel");
    wd.write("old.toml", "[currency]\nrates = { EUR = 1.1 }\n");
    wd.write("new.toml", "[currency]\nrates = { EUR = 1.1 }\n[mql]\nsla_hours = 72\n[stages]\nsal = [\"sal\", \"Working\"]\n");
    let out = wd
        .run(&with_range(&[
            "definitions",
            "diff",
            "old.toml",
            "new.toml",
            "-q",
        ]))
        .ok()
        .stdout;
    assert!(out.contains("MQL SLA: 48 h → 72 h"), "{out}");
    assert!(out.contains("'Working' now maps to sal"), "{out}");
    // Worked out by hand on the fixture:
    // - L5's `Working` event makes it an MQL (backfilled) and a SAL: MQLs 7 → 8,
    //   MQL → SAL 5/7 → 6/8.
    // - SLA 72 h: L2 (72 h) is now within; L5 adds an episode decided at once:
    //   within 5/9 → 7/10.
    let line = |label: &str| {
        out.lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("{label}:\n{out}"))
            .to_string()
    };
    let l = line("of them became MQLs");
    assert!(
        l.contains(" 7 ") && l.contains(" 8 ") && l.contains("+1"),
        "{l}"
    );
    let l = line("MQL → SAL");
    assert!(
        l.contains("71.4 %") && l.contains("75.0 %") && l.contains("+3.6 pts"),
        "{l}"
    );
    let l = line("within the SLA");
    assert!(
        l.contains("55.6 %") && l.contains("70.0 %") && l.contains("+14.4 pts"),
        "{l}"
    );
    let l = line("win rate");
    assert!(l.trim_end().ends_with('='), "{l}");
    // Markdown and HTML for the meeting.
    let md = wd
        .run(&with_range(&[
            "definitions",
            "diff",
            "old.toml",
            "new.toml",
            "--format",
            "markdown",
            "-q",
        ]))
        .ok()
        .stdout;
    assert!(
        md.contains("| MQLs handled within the SLA | 55.6 % | 70.0 % | +14.4 pts |"),
        "{md}"
    );
    let html = wd
        .run(&with_range(&[
            "definitions",
            "diff",
            "old.toml",
            "new.toml",
            "--format",
            "html",
            "-q",
        ]))
        .ok()
        .stdout;
    assert!(
        html.starts_with("<!DOCTYPE html>") && !html.contains("http"),
        "{html}"
    );
}

#[test]
fn diff_flags_a_time_zone_change_as_needing_reingest() {
    let wd = ingested("funnel");
    wd.write("old.toml", "");
    wd.write("new.toml", "[calendar]\ntimezone = \"Europe/Paris\"\n");
    let out = wd
        .run(&with_range(&[
            "definitions",
            "diff",
            "old.toml",
            "new.toml",
            "-q",
        ]))
        .ok()
        .stdout;
    assert!(out.contains("needs a re-ingest"), "{out}");
}

#[test]
fn diff_reads_the_old_file_from_git() {
    let wd = ingested("funnel");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(wd.path())
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    wd.write("funnel.toml", "[mql]\nsla_hours = 48\n");
    git(&["init", "-q"]);
    git(&["add", "funnel.toml"]);
    git(&["commit", "-q", "-m", "definitions"]);
    wd.write("funnel.toml", "[mql]\nsla_hours = 24\n");
    let out = wd
        .run(&with_range(&[
            "definitions",
            "diff",
            "HEAD:funnel.toml",
            "-q",
        ]))
        .ok()
        .stdout;
    assert!(out.contains("MQL SLA: 48 h → 24 h"), "{out}");
    let run = wd
        .run(&["definitions", "diff", "HEAD~5:funnel.toml"])
        .expect_code(2);
    assert!(run.stderr.contains("git"), "{}", run.stderr);
}

#[test]
fn approve_refuses_placeholders_and_teams_that_do_not_sign() {
    let wd = Workdir::new();
    wd.run(&["init", "-q"]).ok();
    let approve = |team: &str| {
        wd.run(&[
            "definitions",
            "approve",
            "--team",
            team,
            "--by",
            "Mia Chen",
            "--on",
            "2026-11-20",
        ])
    };
    let run = approve("marketing").expect_code(2);
    assert!(
        run.stderr.contains("placeholder") && run.stderr.contains("`mql`"),
        "{}",
        run.stderr
    );
    assert!(!wd.read("funnel.toml").contains("Mia Chen"));
    let written = wd
        .read("funnel.toml")
        .replace("\"TODO(review):", "\"Agreed:");
    wd.write("funnel.toml", &written);
    let run = approve("finance").expect_code(2);
    assert!(
        run.stderr.contains("`marketing` and `sales`"),
        "{}",
        run.stderr
    );
    approve("marketing").ok();
    assert!(wd.read("funnel.toml").contains("Mia Chen"));
}

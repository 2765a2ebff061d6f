use crate::workdir::Workdir;

#[test]
fn init_writes_a_documented_file_that_loads() {
    let wd = Workdir::new();
    let run = wd.run(&["init"]).ok();
    assert!(run.stderr.contains("funnel.toml"), "{}", run.stderr);
    let text = wd.read("funnel.toml");
    for key in [
        "timezone",
        "fiscal_year_start_month",
        "week_start",
        "unknown_values",
        "skipped_stages",
        "conversion_window_days",
        "maturity_days",
        "score_threshold",
        "sla_hours",
        "count_actions",
        "dedupe_minutes",
        "won_stages",
        "lost_stages",
        "half_life_days",
        "rates",
        "lookback_days",
        "[approval]",
        "TODO(review)",
    ] {
        assert!(text.contains(key), "`{key}` missing from funnel.toml");
    }
    // Every key line is preceded by a comment somewhere in its section: spot-check.
    assert!(text.matches('#').count() > 40);
    // A second init refuses to clobber the reviewed file.
    let again = wd.run(&["init"]).expect_code(2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    wd.run(&["init", "--force"]).ok();
    // The written file is picked up by other commands without complaint.
    wd.run(&["sql", "SELECT 1 AS one", "-q"]).ok();
}

#[test]
fn init_into_a_folder() {
    let wd = Workdir::new();
    wd.run(&["init", "team/defs"]).ok();
    assert!(wd.join("team/defs/funnel.toml").is_file());
}

#[test]
fn unknown_key_names_key_and_file() {
    let wd = Workdir::new();
    wd.write("funnel.toml", "[mql]\nsla_hour = 48\n");
    let run = wd.run(&["sql", "SELECT 1 AS x"]).expect_code(2);
    assert!(run.stderr.contains("sla_hour"), "{}", run.stderr);
    assert!(run.stderr.contains("funnel.toml"), "{}", run.stderr);
}

#[test]
fn bad_type_and_bad_zone_are_usage_errors() {
    let wd = Workdir::new();
    wd.write("defs.toml", "[mql]\nsla_hours = \"two days\"\n");
    let run = wd
        .run(&["--config", "defs.toml", "sql", "SELECT 1 AS x"])
        .expect_code(2);
    assert!(
        run.stderr.contains("sla_hours") && run.stderr.contains("defs.toml"),
        "{}",
        run.stderr
    );

    wd.write("tz.toml", "[calendar]\ntimezone = \"Europe/Pariss\"\n");
    let run = wd
        .run(&["--config", "tz.toml", "sql", "SELECT 1 AS x"])
        .expect_code(2);
    assert!(run.stderr.contains("calendar.timezone"), "{}", run.stderr);
    assert!(run.stderr.contains("Europe/Pariss"), "{}", run.stderr);
}

#[test]
fn explicit_config_must_exist() {
    let wd = Workdir::new();
    let run = wd
        .run(&["--config", "nope.toml", "sql", "SELECT 1 AS x"])
        .expect_code(2);
    assert!(run.stderr.contains("nope.toml"), "{}", run.stderr);
}

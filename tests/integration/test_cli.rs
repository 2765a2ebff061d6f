use crate::workdir::Workdir;

#[test]
fn help_explains_every_command() {
    let wd = Workdir::new();
    let help = wd.run(&["--help"]).ok().stdout;
    for needle in [
        "init",
        "generate",
        "ingest",
        "sql",
        "--warehouse",
        "--config",
        "Exit codes",
    ] {
        assert!(
            help.contains(needle),
            "`{needle}` missing from --help:\n{help}"
        );
    }
    for cmd in ["init", "generate", "ingest", "sql"] {
        let out = wd.run(&[cmd, "--help"]).ok().stdout;
        assert!(out.len() > 200, "{cmd} --help is too thin:\n{out}");
        assert!(out.contains("Usage: funnel"), "{out}");
    }
    insta::assert_snapshot!("help", help);
}

#[test]
fn usage_errors_exit_2() {
    let wd = Workdir::new();
    wd.run(&["frobnicate"]).expect_code(2);
    wd.run(&["ingest"]).expect_code(2);
    let run = wd
        .run(&["generate", "--out", "x", "--months", "0"])
        .expect_code(2);
    assert!(run.stderr.contains("--months"), "{}", run.stderr);
}

#[test]
fn version_flag() {
    let wd = Workdir::new();
    let out = wd.run(&["--version"]).ok().stdout;
    assert!(out.starts_with("funnel "), "{out}");
}

#[test]
fn a_range_of_unbounded_periods_is_refused_with_how_to_narrow_it() {
    let wd = Workdir::new();
    let run = wd
        .run(&[
            "metrics",
            "conversion",
            "--from",
            "0001-01-01",
            "--to",
            "9999-12-31",
            "--period",
            "week",
            "--by",
            "source",
        ])
        .expect_code(2);
    assert!(
        run.stderr.contains("outside funnel's calendar"),
        "{}",
        run.stderr
    );
    let run = wd
        .run(&[
            "metrics",
            "conversion",
            "--from",
            "1950-01-01",
            "--to",
            "2150-12-31",
            "--period",
            "week",
        ])
        .expect_code(2);
    assert!(
        run.stderr.contains("weeks") && run.stderr.contains("narrow the range"),
        "{}",
        run.stderr
    );
    // A long range in years is fine.
    wd.run(&[
        "metrics",
        "waterfall",
        "--from",
        "1950-01-01",
        "--to",
        "2150-12-31",
        "--period",
        "year",
        "-q",
    ])
    .ok();
}

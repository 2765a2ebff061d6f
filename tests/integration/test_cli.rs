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

//! Hand-written metric fixtures (`tests/fixtures/<name>/`): ingest them into a fresh
//! workdir and read metrics back as JSON.

use serde_json::Value;

use crate::workdir::Workdir;

/// `tests/fixtures/<name>`.
pub fn fixture_dir(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Copies `tests/fixtures/<name>` into `wd`: its `funnel.toml`, if any, in place, the
/// other files into `export/`.
pub fn copy_fixture(wd: &Workdir, name: &str) {
    for entry in std::fs::read_dir(fixture_dir(name)).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&path).unwrap();
        if file == "funnel.toml" {
            wd.write("funnel.toml", bytes);
        } else {
            wd.write(&format!("export/{file}"), bytes);
        }
    }
}

/// A workdir with `tests/fixtures/<name>` ingested (its `funnel.toml`, if any, in place).
/// A folder holding the repository's funnel.toml (the sample's definitions: the
/// defaults and the EUR rate), with no warehouse: commands run on the bundled sample.
pub fn sample_with_repo_definitions() -> Workdir {
    let wd = Workdir::new();
    wd.write(
        "funnel.toml",
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/funnel.toml")).unwrap(),
    );
    wd
}

pub fn ingested(name: &str) -> Workdir {
    let wd = Workdir::new();
    copy_fixture(&wd, name);
    wd.run(&["ingest", "export", "-q"]).ok();
    wd
}

/// The range most fixtures use: the first quarter of 2025, as of mid-June.
pub const RANGE: [&str; 6] = [
    "--from",
    "2025-01-01",
    "--to",
    "2025-03-31",
    "--as-of",
    "2025-06-15",
];

/// `args` followed by `RANGE`.
pub fn with_range<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend_from_slice(&RANGE);
    v
}

/// `funnel metrics ARGS --format json`, parsed.
pub fn metric(wd: &Workdir, args: &[&str]) -> Value {
    let mut all = vec!["metrics"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json", "-q"]);
    let run = wd.run(&all).ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{}", run.stdout))
}

/// The rows of a metric document.
pub fn rows(doc: &Value) -> &Vec<Value> {
    doc["rows"].as_array().expect("rows array")
}

/// Asserts a JSON number is within 1e-9 (relative) of `expected`, or null for `None`.
#[track_caller]
pub fn approx(actual: &Value, expected: Option<f64>) {
    match expected {
        None => assert!(actual.is_null(), "expected null, got {actual}"),
        Some(e) => {
            let a = actual
                .as_f64()
                .unwrap_or_else(|| panic!("expected {e}, got {actual}"));
            assert!(
                (a - e).abs() <= 1e-9 * e.abs().max(1.0),
                "expected {e}, got {a}"
            );
        }
    }
}

/// The row whose `key` column equals `value`.
#[track_caller]
pub fn row<'a>(rows: &'a [Value], key: &str, value: &str) -> &'a Value {
    rows.iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key} = {value} in {rows:#?}"))
}

/// A column of all rows as integers.
pub fn ints(rows: &[Value], key: &str) -> Vec<i64> {
    rows.iter().map(|r| r[key].as_i64().unwrap_or(-1)).collect()
}

/// `[definitions]` with every term written out, as both teams would sign them.
pub const REVIEWED: &str = r#"
[definitions]
lead = "A person who gave us contact details."
mql = "A lead scoring 65+ or requesting a demo."
sal = "An MQL a rep accepted within the SLA."
sql = "A SAL qualified as a real opportunity."
contact = "Anyone at an account we talk to."
opportunity = "A deal with an amount and close date."
customer = "A person whose deal was won."
recycled = "A rejected MQL back in nurture."
disqualified = "A lead that will never buy."
"#;

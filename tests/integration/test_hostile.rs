//! Property tests of ingest under hostile input (bounded cases for CI): arbitrary
//! bytes, wrong encodings, ragged rows, huge fields, control characters and
//! formula-injection cells never panic and never lose a row. The invariant itself is
//! `funnel::ingest::check::check_bytes`, which the fuzz target in `fuzz/` also runs.

use proptest::prelude::*;

use funnel::ingest::check::check_bytes;

use crate::workdir::Workdir;

/// Cells a hostile export might hold.
fn cell() -> impl Strategy<Value = Vec<u8>> {
    let text = prop_oneof![
        Just(""),
        Just("L1"),
        Just("2025-01-02T10:00:00Z"),
        Just("15/01/2025"),
        Just("31/02/2025"),
        Just("1.234,50 EUR"),
        Just("marketing"),
        Just("won"),
        Just("Salon"),
        Just("person"),
        Just("1"),
        Just("n/a"),
        Just("=cmd|' /C calc'!A0"),
        Just("+1+1"),
        Just("@SUM(A1)"),
        Just("\t-2"),
        Just("\"quoted, with\nnewline\""),
        Just("\"unterminated"),
        Just("\u{feff}é€\u{7}"),
    ]
    .prop_map(|s| s.as_bytes().to_vec());
    prop_oneof![20 => text, 1 => Just(vec![b'x'; 20_000])]
}

/// Bytes that make a whole file unreadable: not UTF-8, NUL, raw bytes.
fn killer() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"caf\xe9".to_vec()),
        Just(b"\x00\x01".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12),
    ]
}

/// A header of real column names (native and mapped), then rows of hostile cells
/// with ragged lengths, joined by `,` or `;`.
fn csvish() -> impl Strategy<Value = Vec<u8>> {
    let names = prop_oneof![
        Just("lead_id"),
        Just("created_at"),
        Just("touch_id"),
        Just("occurred_at"),
        Just("team"),
        Just("opportunity_id"),
        Just("status"),
        Just("amount"),
        Just("id"),
        Just("created"),
        Just("src"),
        Just("kind"),
        Just("deleted"),
        Just("mql date"),
        Just("won"),
    ];
    let fixed = |h: &str| h.split(',').map(String::from).collect::<Vec<_>>();
    let header = prop_oneof![
        proptest::collection::vec(names.prop_map(String::from), 1..8),
        // The check mapping's columns, the native leads and touches headers.
        Just(fixed("id,created,src,kind,size,mql date,sql date,deleted")),
        Just(fixed("id,created,won,amount")),
        Just(fixed(
            "lead_id,created_at,source,campaign_id,owner_id,segment,region,account_id,updated_at"
        )),
        Just(fixed(
            "touch_id,lead_id,occurred_at,channel,action,team,campaign_id"
        )),
    ];
    (
        header,
        proptest::collection::vec(proptest::collection::vec(cell(), 0..9), 0..12),
        prop_oneof![Just(b','), Just(b';')],
        any::<bool>(),
    )
        .prop_map(|(header, rows, sep, crlf)| {
            let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            let mut out = header.join(&(sep as char).to_string()).into_bytes();
            out.extend_from_slice(eol);
            for row in rows {
                out.extend_from_slice(&row.join(&[sep][..]));
                out.extend_from_slice(eol);
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_or_lose_rows(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let dir = tempfile::tempdir().unwrap();
        check_bytes(dir.path(), &bytes);
    }

    #[test]
    fn hostile_csv_never_panics_or_loses_rows(bytes in csvish()) {
        let dir = tempfile::tempdir().unwrap();
        check_bytes(dir.path(), &bytes);
    }

    #[test]
    fn undeclared_encodings_and_binary_are_refused_whole(
        (mut bytes, bad, at) in (csvish(), killer(), any::<proptest::sample::Index>())
    ) {
        let at = at.index(bytes.len() + 1);
        bytes.splice(at..at, bad);
        let dir = tempfile::tempdir().unwrap();
        check_bytes(dir.path(), &bytes);
    }
}

#[test]
fn the_hostile_inputs_reach_the_row_level() {
    // Not every generated file is refused whole: the generator reaches rows on both
    // paths, so the properties above test row accounting, not only refusals.
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut native, mut mapped) = (0, 0);
    for _ in 0..64 {
        let bytes = csvish().new_tree(&mut runner).unwrap().current();
        let dir = tempfile::tempdir().unwrap();
        let c = check_bytes(dir.path(), &bytes);
        native += c.native_rows;
        mapped += c.mapped_rows;
    }
    assert!(
        native > 50 && mapped > 20,
        "native {native}, mapped {mapped}"
    );
}

#[test]
fn formula_cells_are_stored_as_exported() {
    // Escaping belongs to CSV outputs; the warehouse and quarantine keep the value.
    let wd = crate::workdir::Workdir::new();
    wd.write(
        "export/leads.csv",
        "lead_id,created_at,source\n=cmd|' /C calc'!A0,2025-01-01,@SUM(A1)\n+L2,bad-date,-x\n",
    );
    wd.run(&["ingest", "export", "-q"]).ok();
    let out = wd
        .run(&[
            "sql",
            "SELECT lead_id, source FROM leads",
            "--format",
            "json",
            "-q",
        ])
        .ok()
        .stdout;
    assert!(
        out.contains("=cmd|' /C calc'!A0") && out.contains("@SUM(A1)"),
        "{out}"
    );
    let q = wd.read("data/warehouse/quarantine/leads.csv");
    assert!(q.contains("+L2,bad-date"), "{q}");
}

#[test]
fn escape_sequences_in_values_never_reach_the_terminal_raw() {
    // A stage and a source that would retitle the window and clear the screen.
    let wd = Workdir::new();
    let evil = "\u{1b}]0;PWNED\u{7}\u{1b}[2J";
    wd.write(
        "export/leads.csv",
        format!("lead_id,created_at,source\nL1,2025-01-02,{evil}web\n"),
    );
    wd.write(
        "export/lead_stage_events.csv",
        format!("lead_id,stage,entered_at\nL1,{evil}mql,2025-01-03\n"),
    );
    wd.run(&["ingest", "export", "-q"]).ok();
    let sql = wd
        .run(&["sql", "SELECT stage FROM lead_stage_events", "-q"])
        .ok()
        .stdout;
    let check = wd.run(&["definitions", "check", "-q"]).ok().stdout;
    for out in [&sql, &check] {
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
        assert!(out.contains("\\u{1b}]0;PWNED"), "{out}");
    }
    // Data formats keep the value as it is: CSV and JSON are for programs.
    let csv = wd.sql("SELECT stage FROM lead_stage_events");
    assert!(csv.contains(evil), "{csv:?}");
}

#[test]
fn a_nul_byte_anywhere_makes_the_file_unreadable_with_one_rule() {
    // 100 KiB of good rows, then one NUL inside a value: the same file-level error as
    // a NUL in the first line, and nothing loaded.
    let mut csv = String::from("lead_id,created_at\n");
    let mut i = 0;
    while csv.len() < 100 * 1024 {
        csv.push_str(&format!("L{i},2025-01-01\n"));
        i += 1;
    }
    csv.push_str("a\0b,2025-01-02\n");
    for (name, text) in [
        ("late", csv),
        ("early", "lead_id,created_at\nx\0,2025-01-01\n".to_string()),
    ] {
        let wd = Workdir::new();
        wd.write(&format!("{name}/leads.csv"), text);
        let run = wd.run(&["ingest", name]).expect_code(3);
        assert!(
            run.stderr.contains("not a CSV text file") && run.stderr.contains("leads.csv"),
            "{name}: {}",
            run.stderr
        );
        assert!(!wd.join("data/warehouse/current").exists());
    }
}

/// A byte-order mark in mid-file (two exports pasted together) became part of an
/// id, so `L2` and `\u{feff}L2` were two leads. Values are trimmed of it like spaces.
#[test]
fn a_byte_order_mark_in_mid_file_is_not_part_of_a_value() {
    let wd = Workdir::new();
    wd.write(
        "export/leads.csv",
        "lead_id,created_at,source\nL1,2025-01-05T00:00:00Z,web\n\u{feff}L2,2025-01-06T00:00:00Z,web\u{feff}\n",
    );
    wd.write(
        "export/lead_stage_events.csv",
        "lead_id,stage,entered_at\nL2,MQL,2025-01-07T00:00:00Z\n",
    );
    wd.run(&["ingest", "export", "-q"]).ok();
    assert_eq!(
        wd.sql("SELECT lead_id, length(lead_id) AS n, source FROM leads ORDER BY lead_id"),
        "lead_id,n,source\nL1,2,web\nL2,2,web\n"
    );
    assert_eq!(
        wd.sql("SELECT count(*) AS n FROM lead_funnel WHERE reached_mql IS NOT NULL"),
        "n\n1\n"
    );
}

//! The promise of ingest under hostile input — never a panic, and within a readable
//! file every row is loaded or quarantined (or, through a mapping, deliberately
//! skipped or deleted) — as one function that the property tests and the fuzz target
//! (`fuzz/`) both call. A broken promise panics, which is what a fuzzer reports.

use std::path::Path;

use chrono_tz::Tz;

use crate::config::Config;
use crate::error::Error;
use crate::ingest::{mapping, native};
use crate::model::columns::TABLES;

/// A mapping that exercises the mapped path: `;` separators, Latin-1, declared date
/// and number formats, a value map that quarantines unknown values, a derived column,
/// and an unpivot into a second table.
pub const MAPPING: &str = r#"
[mapping.format]
delimiter = ";"
encoding = "latin-1"
decimal = ","
thousands = "."
currency_symbols = ["EUR"]
null_values = ["n/a"]
date_format = "%d/%m/%Y"
timestamp_format = "%d/%m/%Y"

[[mapping.source]]
files = "people*.csv"
table = "leads"
where = { kind = ["person", "lead"] }
deleted = { column = "deleted", equals = ["1"], optional = true }
[mapping.source.columns]
lead_id = "id"
created_at = "created"
source = { column = "src", map = { "Salon" = "event", "Web" = "organic" }, unmapped = "error" }
segment = { when = [{ column = "size", equals = ["big"], value = "enterprise" }], else = "smb" }

[[mapping.source]]
files = "people*.csv"
table = "lead_stage_events"
unpivot = { name = "stage", value = "entered_at", columns = { "mql date" = "mql", "sql date" = "sql" } }
[mapping.source.columns]
lead_id = "id"

[[mapping.source]]
files = "deals*.csv"
table = "opportunities"
[mapping.source.columns]
opportunity_id = "id"
created_at = "created"
status = { when = [{ column = "won", equals = ["1"], value = "won" }], else = "open" }
amount = { column = "amount", optional = true }
"#;

/// Reads `bytes` as every native table and as each mapped file name, inside `dir`,
/// and checks the row accounting. File-level refusals are allowed (docs/ingest.md) but must
/// be input errors, never anything else.
pub fn check_bytes(dir: &Path, bytes: &[u8]) -> Coverage {
    let mut coverage = Coverage::default();
    for schema in TABLES {
        let path = dir.join(format!("{}.csv", schema.name));
        std::fs::write(&path, bytes).expect("write the input");
        let mut staged = 0u64;
        let result = native::read_file(
            &path,
            schema,
            Tz::UTC,
            crate::ingest::records::MAX_RECORD_BYTES,
            |df| {
                staged += df.height() as u64;
                Ok(())
            },
            |_| {},
        );
        match result {
            Ok(read) => {
                coverage.native_rows += read.read;
                assert_eq!(
                    read.read,
                    read.loaded + read.quarantined.len() as u64,
                    "{}: every row is loaded or quarantined",
                    schema.name
                );
                assert_eq!(
                    staged, read.loaded,
                    "{}: loaded rows reach the sink",
                    schema.name
                );
                for q in &read.quarantined {
                    assert_eq!(q.values.len(), schema.columns.len());
                    assert!(!q.reason.is_empty());
                }
            }
            Err(e) => assert!(
                matches!(e, Error::InputFile { .. }),
                "{}: only a file-level input error may stop a read, got: {e}",
                schema.name
            ),
        }
        std::fs::remove_file(&path).expect("remove the input");
    }

    let config = Config::parse(MAPPING).expect("the check mapping is valid");
    for name in ["people.csv", "deals.csv"] {
        let input = dir.join("mapped");
        std::fs::create_dir_all(&input).expect("mkdir");
        std::fs::write(input.join(name), bytes).expect("write the input");
        match mapping::read(
            std::slice::from_ref(&input),
            &config.mapping,
            Tz::UTC,
            crate::ingest::records::MAX_RECORD_BYTES,
            &crate::observe::Silent,
        ) {
            Ok(read) => {
                for (table, t) in &read.tables {
                    coverage.mapped_rows += t.counts.read;
                    let loaded: u64 = t.frames.iter().map(|f| f.height() as u64).sum();
                    assert_eq!(loaded, t.counts.loaded, "{table}: loaded rows are counted");
                    if *table != "lead_stage_events" {
                        // One output row per input row (no unpivot here).
                        assert_eq!(
                            t.counts.read,
                            t.counts.loaded
                                + t.counts.quarantined
                                + t.counts.skipped
                                + t.counts.deleted,
                            "{table}: every mapped row is loaded, quarantined, skipped or deleted"
                        );
                    }
                }
            }
            Err(e) => assert!(
                matches!(e, Error::InputFile { .. }),
                "{name}: only a file-level input error may stop a mapped read, got: {e}"
            ),
        }
        std::fs::remove_dir_all(&input).expect("clean up");
    }
    coverage
}

/// How many rows a check actually read, so tests can see their inputs were not all
/// refused at the file level.
#[derive(Debug, Default, Clone, Copy)]
pub struct Coverage {
    pub native_rows: u64,
    pub mapped_rows: u64,
}

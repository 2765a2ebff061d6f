//! `touches` stored by lead (warehouse format 2): every touch sits in its lead's
//! partition, and the merge still keeps one row per `touch_id` when one touch's rows
//! land in different partitions (its lead changed, or an export repeats it with two
//! leads). A format-1 warehouse (touches by `touch_id`) is re-partitioned by its next
//! ingest.

use std::path::PathBuf;

use funnel::model::parquet::TableWriter;
use funnel::model::partition::{bucket, fnv1a, split};
use funnel::model::warehouse::read_parquet;

use crate::workdir::Workdir;

/// Partitions of a few KB, so that the small exports below have several.
const SMALL: [(&str, &str); 1] = [("FUNNEL_PARTITION_BYTES", "2000")];

const LEADS: usize = 40;

fn lead(i: usize) -> String {
    format!("L{i:03}")
}

fn leads_csv() -> String {
    let mut s = String::from("lead_id,created_at,source\n");
    for i in 0..LEADS {
        s.push_str(&format!("{},2025-01-01T00:00:00Z,webinar\n", lead(i)));
    }
    s
}

/// Touches T000… of the given leads, in this order, one day apart.
fn touches_csv(rows: &[(String, String)]) -> String {
    let mut s = String::from("touch_id,lead_id,occurred_at,channel,action,team,campaign_id\n");
    for (i, (touch, lead)) in rows.iter().enumerate() {
        s.push_str(&format!(
            "{touch},{lead},2025-02-{:02}T10:00:00Z,email,open,marketing,\n",
            1 + i % 28
        ));
    }
    s
}

/// 100 touches, T000 to T099, of leads L001 to L039 and L000 in turn. (FNV-1a
/// modulo a power of two reads only the low bits of each byte, so `T005` and `L005`
/// would share their partition: the touches of the same number's lead would sit in
/// the same partitions by either column.)
fn base_touches() -> Vec<(String, String)> {
    (0..100)
        .map(|i| (format!("T{i:03}"), lead((i + 1) % LEADS)))
        .collect()
}

/// A warehouse that ingested the 40 leads and the 100 base touches, in partitions.
fn ingested_base() -> Workdir {
    let wd = Workdir::new();
    wd.write("a/leads.csv", leads_csv());
    wd.write("a/touches.csv", touches_csv(&base_touches()));
    wd.run_env(&SMALL, &["ingest", "a", "-q"]).ok();
    wd
}

/// A lead whose partition differs from `other`'s whatever the partition count
/// (a power of two): the low bit of their hashes differs.
fn lead_apart_from(other: &str) -> String {
    (0..LEADS)
        .map(lead)
        .find(|l| fnv1a(l.as_bytes()) % 2 != fnv1a(other.as_bytes()) % 2)
        .expect("a lead of the other parity")
}

/// The part files of `touches` in the current version, in partition order.
fn touch_parts(wd: &Workdir) -> Vec<PathBuf> {
    let n = std::fs::read_dir(wd.join("data/warehouse/current/touches"))
        .unwrap()
        .count();
    (0..n)
        .map(|i| wd.join(&format!("data/warehouse/current/touches/part-{i}.parquet")))
        .collect()
}

/// Every stored touch as (touch_id, lead_id), sorted, after checking that each sits
/// in its lead's partition and that the manifest says so.
fn stored_by_lead(wd: &Workdir) -> Vec<(String, String)> {
    let manifest: serde_json::Value =
        serde_json::from_str(&wd.read("data/warehouse/current/_manifest.json")).unwrap();
    assert_eq!(manifest["format_version"], 2);
    assert_eq!(manifest["partitioned"]["touches"], "lead_id");
    let parts = touch_parts(wd);
    assert!(parts.len() > 1, "touches should be partitioned");
    let mut out = Vec::new();
    for (i, path) in parts.iter().enumerate() {
        let df = read_parquet(path).unwrap();
        let touches = df.column("touch_id").unwrap().str().unwrap().clone();
        let leads = df.column("lead_id").unwrap().str().unwrap().clone();
        for (t, l) in touches.iter().zip(leads.iter()) {
            let (t, l) = (t.unwrap().to_string(), l.unwrap().to_string());
            assert_eq!(bucket(&l, parts.len()), i, "{t} of {l} in part {i}");
            out.push((t, l));
        }
    }
    out.sort();
    out
}

fn touches_run(wd: &Workdir, run: usize) -> serde_json::Value {
    let manifest: serde_json::Value =
        serde_json::from_str(&wd.read("data/warehouse/current/_manifest.json")).unwrap();
    manifest["runs"][run]["tables"]["touches"].clone()
}

#[test]
fn a_touch_whose_lead_changed_is_kept_once_under_its_new_lead() {
    let wd = ingested_base();
    let before = stored_by_lead(&wd);
    assert_eq!(before.len(), 100);

    // The next export moves T005 to a lead in another partition.
    let mut touches = base_touches();
    let moved_to = lead_apart_from(&touches[5].1);
    touches[5].1 = moved_to.clone();
    wd.write("b/touches.csv", touches_csv(&touches));
    wd.run_env(&SMALL, &["ingest", "b", "-q"]).ok();
    let after = stored_by_lead(&wd);
    assert_eq!(after.len(), 100, "one row per touch");
    let t005: Vec<_> = after.iter().filter(|(t, _)| t == "T005").collect();
    assert_eq!(t005, [&("T005".to_string(), moved_to)]);
    // Re-exported rows are merges, not input duplicates.
    let run = touches_run(&wd, 1);
    assert_eq!(run["duplicates"], 0, "{run}");
    assert_eq!(run["rows"], 100, "{run}");
}

#[test]
fn one_touch_twice_in_an_export_with_two_leads_keeps_the_later_row() {
    let wd = Workdir::new();
    wd.write("a/leads.csv", leads_csv());
    let (x, y) = (lead(7), lead_apart_from(&lead(7)));
    let mut touches = base_touches();
    // T100 first under x then under y; T101 first under y then under x.
    touches.insert(10, ("T100".to_string(), x.clone()));
    touches.insert(20, ("T101".to_string(), y.clone()));
    touches.push(("T100".to_string(), y.clone()));
    touches.push(("T101".to_string(), x.clone()));
    wd.write("a/touches.csv", touches_csv(&touches));
    wd.run_env(&SMALL, &["ingest", "a", "-q"]).ok();
    let stored = stored_by_lead(&wd);
    assert_eq!(stored.len(), 102);
    let of = |t: &str| -> Vec<String> {
        stored
            .iter()
            .filter(|(id, _)| id == t)
            .map(|(_, l)| l.clone())
            .collect()
    };
    assert_eq!(of("T100"), [y]);
    assert_eq!(of("T101"), [x]);
    let run = touches_run(&wd, 0);
    assert_eq!(run["duplicates"], 2, "{run}");
    assert_eq!(
        run["duplicate_examples"],
        serde_json::json!(["T100", "T101"])
    );
}

#[test]
fn a_format_1_warehouse_is_read_as_it_is_and_repartitioned_by_lead_on_its_next_ingest() {
    let wd = ingested_base();
    let expected = stored_by_lead(&wd);
    let metrics = |wd: &Workdir| {
        ["touches", "lint"].map(|m| wd.run(&["metrics", m, "--format", "csv", "-q"]).ok().stdout)
    };
    let by_lead = metrics(&wd);

    // Rewrite the version as format 1 wrote it: touches partitioned by touch_id,
    // no partition record (nor derived tables, so that metrics read the touches).
    let parts = touch_parts(&wd);
    let all = parts
        .iter()
        .map(|p| read_parquet(p).unwrap())
        .reduce(|mut a, b| {
            a.vstack_mut_owned(b).unwrap();
            a
        })
        .unwrap();
    for (i, piece) in split(&all, "touch_id", parts.len())
        .unwrap()
        .iter()
        .enumerate()
    {
        let mut w = TableWriter::create(&parts[i], piece.schema()).unwrap();
        w.write_group(piece).unwrap();
        w.finish().unwrap();
    }
    let path = wd.join("data/warehouse/current/_manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest["format_version"] = 1.into();
    let object = manifest.as_object_mut().unwrap();
    object.remove("partitioned");
    object.remove("derived");
    object.remove("files");
    std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    assert_eq!(metrics(&wd), by_lead, "format 1 is read as it is");
    let misplaced = touch_parts(&wd)
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let df = read_parquet(p).unwrap();
            let leads = df.column("lead_id").unwrap().str().unwrap().clone();
            leads
                .iter()
                .filter(|l| bucket(l.unwrap(), parts.len()) != i)
                .count()
        })
        .sum::<usize>();
    assert!(
        misplaced > 0,
        "by touch_id, some touches leave their lead's partition"
    );

    // The next ingest of touches, with a few of them (one new, one moved to another
    // lead), stores them all by lead again.
    let later = [("T100".to_string(), lead(3)), ("T002".to_string(), lead(2))];
    wd.write("b/touches.csv", touches_csv(&later));
    wd.run_env(&SMALL, &["ingest", "b", "-q"]).ok();
    let mut expected: Vec<(String, String)> = expected
        .into_iter()
        .filter(|(t, _)| t != "T002")
        .chain(later.iter().cloned())
        .collect();
    expected.sort();
    assert_eq!(stored_by_lead(&wd), expected);
    // The same as both exports ingested by lead from the start.
    let reference = ingested_base();
    reference.write("b/touches.csv", touches_csv(&later));
    reference.run_env(&SMALL, &["ingest", "b", "-q"]).ok();
    assert_eq!(stored_by_lead(&reference), expected);
    assert_eq!(metrics(&wd), metrics(&reference));
}

#[test]
fn a_deleted_touch_leaves_whichever_partition_holds_it() {
    let wd = ingested_base();
    // A mapped export whose rows delete their touch: a deletion names only the
    // touch id, not the lead whose partition holds it.
    wd.write(
        "funnel.toml",
        r#"
[[mapping.source]]
files = ["gone.csv"]
table = "touches"
deleted = { column = "deleted", equals = ["yes"] }

[mapping.source.columns]
touch_id = "touch_id"
lead_id = "lead_id"
occurred_at = "occurred_at"
team = "team"
"#,
    );
    let gone = ["T000", "T001", "T002", "T003"];
    let mut csv = String::from("touch_id,lead_id,occurred_at,team,deleted\n");
    for t in gone {
        csv.push_str(&format!("{t},,,,yes\n"));
    }
    wd.write("b/gone.csv", csv);
    // Each lies off its id's partition (T000 is L001's).
    let parts = touch_parts(&wd).len();
    let base = base_touches();
    assert!(base[..4]
        .iter()
        .all(|(t, l)| bucket(t, parts) != bucket(l, parts)));

    wd.run_env(&SMALL, &["ingest", "b", "-q"]).ok();
    let stored = stored_by_lead(&wd);
    assert_eq!(stored.len(), 96);
    assert!(stored.iter().all(|(t, _)| !gone.contains(&t.as_str())));
}

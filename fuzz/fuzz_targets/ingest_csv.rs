//! Fuzzes CSV reading: every native table and the mapped path (`;`, Latin-1, formats,
//! value maps, unpivot) over the same bytes. `check_bytes` panics when a row is lost
//! or a read fails with anything but a file-level input error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    funnel::ingest::check::check_bytes(dir.path(), data);
});

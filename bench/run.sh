#!/usr/bin/env bash
# Measures funnel on a generated export with /usr/bin/time -v (release build):
# generate, ingest, each metric, report. Prints one line per step: wall seconds and
# peak RSS, and writes bench/cache/results-<leads>.tsv.
#
#   bash bench/run.sh [LEADS]        (default 1000000; the export is cached)
set -euo pipefail
cd "$(dirname "$0")/.."
LEADS="${1:-1000000}"
CACHE="bench/cache"
EXPORT="$CACHE/export-$LEADS"
WAREHOUSE="$CACHE/warehouse-$LEADS"
OUT="$CACHE/results-$LEADS.tsv"
mkdir -p "$CACHE"
cargo build --release --quiet
BIN=target/release/funnel

measure() {
    local name="$1"; shift
    local log="$CACHE/time.log"
    /usr/bin/time -v "$@" >/dev/null 2>"$log" || { cat "$log"; exit 1; }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
    printf "%-28s %8.2f s %8.0f MiB\n" "$name" "$wall" "$((rss / 1024))"
    printf "%s\t%s\t%s\n" "$name" "$wall" "$rss" >> "$OUT"
}

: > "$OUT"
if [ ! -f "$EXPORT/leads.csv" ]; then
    measure "generate $LEADS" "$BIN" generate --out "$EXPORT" --leads "$LEADS" -q
fi
du -sh "$EXPORT"
rm -rf "$WAREHOUSE"
measure "ingest" "$BIN" --warehouse "$WAREHOUSE" ingest "$EXPORT" -q
for m in waterfall conversion funnel-time cycle stage-time touches sla win-rate quota \
         reverse-funnel revenue-share attribution campaign-cost velocity lint; do
    measure "metrics $m" "$BIN" --config funnel.toml --warehouse "$WAREHOUSE" metrics "$m" --format json -q
done
rm -rf "$CACHE/reports"
measure "report" "$BIN" --config funnel.toml --warehouse "$WAREHOUSE" report --out "$CACHE/reports" -q

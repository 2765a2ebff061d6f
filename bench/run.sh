#!/usr/bin/env bash
# The project's benchmark (not a timed test). Generates the export once (cached in
# bench/cache/), then measures with /usr/bin/time -v: funnel ingest, every
# `funnel metrics NAME` on its own (process start included), funnel report,
# funnel run end to end, and the same load + metrics in DuckDB (bench/duckdb/).
# Prints one table (wall, CPU, peak RSS) and writes bench/cache/results-<LEADS>.json.
# `funnel run` and DuckDB are measured in BENCH_ROUNDS interleaved rounds (3 on a
# release build, 1 otherwise); the ratio printed last is the median round's.
#
#   bash bench/run.sh [LEADS]            default 1000000, release build
#   BENCH_PROFILE=dev bash bench/run.sh 2000   a smoke run (dev build)
#   BENCH_BIN=path/to/funnel …          measure that binary, build nothing (CI reuses
#                                        the one `cargo test` built)
set -euo pipefail
cd "$(dirname "$0")/.."
LEADS="${1:-1000000}"
PROFILE="${BENCH_PROFILE:-release}"
# Rounds of the comparison (funnel run against DuckDB); the machine is noisy.
if [ "$PROFILE" = release ]; then ROUNDS="${BENCH_ROUNDS:-3}"; else ROUNDS="${BENCH_ROUNDS:-1}"; fi
CACHE="bench/cache"
EXPORT="$CACHE/export-$LEADS"
WAREHOUSE="$CACHE/warehouse-$LEADS"
JSON="$CACHE/results-$LEADS.json"
mkdir -p "$CACHE"
# Wherever cargo puts its builds (CARGO_TARGET_DIR, a config file, or ./target).
TARGET=$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
if [ -n "${BENCH_BIN:-}" ]; then
    BIN="$BENCH_BIN"
elif [ "$PROFILE" = release ]; then
    cargo build --release --quiet
    BIN="$TARGET/release/funnel"
else
    cargo build --quiet
    BIN="$TARGET/debug/funnel"
fi
python3 -c "import duckdb" 2>/dev/null || python3 -m pip install --quiet duckdb

ROWS=()
declare -A WALL  # wall seconds by step name
measure() {
    local name="$1"; shift
    local log="$CACHE/time.log"
    /usr/bin/time -v "$@" >/dev/null 2>"$log" || { cat "$log"; exit 1; }
    local wall cpu rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$log")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
    printf "%-26s %9.2f s %9.2f s %8d MiB\n" "$name" "$wall" "$cpu" "$((rss / 1024))"
    ROWS+=("{\"step\": \"$name\", \"wall_s\": $wall, \"cpu_s\": $cpu, \"peak_rss_kib\": $rss}")
    WALL["$name"]=$wall
}

echo "funnel benchmark: $LEADS leads, $PROFILE build, $(nproc) cores, $(date -u +%Y-%m-%d)"
printf "%-26s %11s %11s %12s\n" step wall cpu "peak RSS"
# An export cached before the generator wrote its plan is made again.
if [ ! -f "$EXPORT/leads.csv" ] || [ ! -f "$EXPORT/plan.toml" ]; then
    rm -rf "$EXPORT"
    measure "generate" "$BIN" generate --out "$EXPORT" --leads "$LEADS" -q
fi
# The repository's definitions with the generated company's plan, so that the plan
# metric and the report's plan section are measured too.
CONFIG="$CACHE/funnel-$LEADS.toml"
{ cat funnel.toml; echo; cat "$EXPORT/plan.toml"; } > "$CONFIG"
rm -rf "$WAREHOUSE"
measure "ingest" "$BIN" --warehouse "$WAREHOUSE" ingest "$EXPORT" -q
for m in $("$BIN" metrics --list | awk '{ print $1 }'); do
    measure "metrics $m" "$BIN" --config "$CONFIG" --warehouse "$WAREHOUSE" metrics "$m" --format json -q
done
rm -rf "$CACHE/reports"
measure "report" "$BIN" --config "$CONFIG" --warehouse "$WAREHOUSE" report --out "$CACHE/reports" -q
# The comparison: `funnel run` and DuckDB's load + metrics, in interleaved rounds so
# that a slow phase of the machine weighs on both sides; the ratio is the median
# round's.
RATIOS=()
for round in $(seq "$ROUNDS"); do
    suffix=""
    [ "$round" -gt 1 ] && suffix=" #$round"
    rm -rf "$WAREHOUSE" "$CACHE/reports"
    measure "run$suffix" "$BIN" --config "$CONFIG" --warehouse "$WAREHOUSE" run "$EXPORT" --out "$CACHE/reports" -q
    measure "duckdb load$suffix" python3 bench/duckdb/bench.py load "$EXPORT" "$CACHE/duckdb-$LEADS.db"
    measure "duckdb metrics$suffix" python3 bench/duckdb/bench.py metrics "$CACHE/duckdb-$LEADS.db"
    rm -f "$CACHE/duckdb-$LEADS.db"
    RATIOS+=("$(awk -v r="${WALL["run$suffix"]}" -v l="${WALL["duckdb load$suffix"]}" \
        -v m="${WALL["duckdb metrics$suffix"]}" 'BEGIN { printf "%.2f", r / (l + m) }')")
done

ratio=$(printf "%s\n" "${RATIOS[@]}" | sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
echo "funnel run / DuckDB (load + metrics), wall, per round: ${RATIOS[*]}"
echo "funnel run / DuckDB (load + metrics), wall, median: $ratio"
{
    echo "{\"leads\": $LEADS, \"profile\": \"$PROFILE\", \"cores\": $(nproc), \"date\": \"$(date -u +%Y-%m-%d)\","
    echo " \"run_over_duckdb\": $ratio, \"run_over_duckdb_rounds\": [$(IFS=,; echo "${RATIOS[*]}")], \"steps\": ["
    (IFS=,; echo "  ${ROWS[*]}")
    echo "]}"
} > "$JSON"
echo "wrote $JSON"

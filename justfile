# Convenience recipes; each calls the same commands as the README and .ci/run.

# Run the checks CI runs.
ci:
    bash .ci/run

# The tests alone (Chromium must be installed; `just ci` installs it).
test:
    cargo test

# The report on the bundled sample (the README's main command).
report:
    cargo run -- report

# Regenerate the bundled sample export (data/sample).
regen-sample:
    cargo run --release -- generate --out data/sample

fmt:
    cargo fmt

lint:
    cargo clippy --all-targets -- -D warnings

# The benchmark at one size (default 1,000,000 leads; release build; with DuckDB).
bench leads="1000000":
    bash bench/run.sh {{leads}}

# The scaling table: 100 k, 1 M and 3 M leads.
bench-scaling:
    bash bench/run.sh 100000
    bash bench/run.sh 1000000
    bash bench/run.sh 3000000

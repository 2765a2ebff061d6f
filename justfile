# Convenience recipes; each calls the same commands as the README and .ci/run.

# Run the checks CI runs.
ci:
    bash .ci/run

# The tests (the README's test command).
test:
    cargo test

# Query the bundled sample (no warehouse needed).
sample:
    cargo run --release -- sql "SELECT source, count(*) AS leads FROM leads GROUP BY source ORDER BY leads DESC"

# Regenerate the bundled sample export (data/sample).
regen-sample:
    cargo run --release -- generate --out data/sample

fmt:
    cargo fmt

lint:
    cargo clippy --all-targets -- -D warnings

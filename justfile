# Developer recipes. CI runs .ci/run, which uses plain cargo.

# Scan the shipped samples (exit code 1: they include malicious ones).
scan-samples:
    cargo run --release --locked -- scan samples/

# The test suite, exactly as CI runs it.
test:
    cargo test --release --locked

# Regenerate samples/ from samples/generate.py (Python standard library only).
samples:
    python3 samples/generate.py

# Score against ../shared/corpus (skipped when absent).
corpus:
    cargo test --release --locked --test corpus -- --nocapture

# Lints as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --release --locked --all-targets -- -D warnings

# Benchmarks (criterion): ratios against baselines measured in the same run.
bench:
    cargo bench --bench scan

# Fuzz the pickle engine (needs nightly-free cargo-fuzz: `cargo install cargo-fuzz`).
fuzz-pickle seconds="600":
    cd fuzz && cargo fuzz run pickle -- -max_total_time={{seconds}}

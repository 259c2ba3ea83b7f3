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

# Probe benchmarks: a 1M-parameter MLP against the default budget, weight-probe MB/s over 1 GiB.
bench-probe:
    cargo bench --bench probe

# Fuzz the pickle engine (`cargo install cargo-fuzz` first). cargo-fuzz wants nightly for
# -Zsanitizer; RUSTC_BOOTSTRAP lets the stable toolchain that these machines have build it.
fuzz-pickle seconds="600":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O pickle corpus/pickle ../samples -- -max_total_time={{seconds}} -rss_limit_mb=2048

# Fuzz the whole engine: detection, containers and every analyser.
fuzz-scan seconds="600":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O scan corpus/scan ../samples -- -max_total_time={{seconds}} -rss_limit_mb=2048

# False alarms on files real libraries wrote (joblib and numpy test data from PyPI wheels).
real-world:
    cargo build --release --locked
    python3 scripts/real_world_benign.py

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

# A Python wheel around the release binary (stripped), in dist/.
wheel:
    cargo build --release --locked
    python3 scripts/build_wheel.py --out dist/

# Benchmarks (criterion): ratios against baselines measured in the same run.
bench:
    cargo bench --bench scan

# Batch scans of a generated registry: --jobs 2 vs 1, warm vs cold --cache, peak RSS at N/10 vs N.
bench-registry artifacts="10000":
    cargo build --release --locked
    python3 scripts/bench_registry.py --artifacts {{artifacts}}

# The pre-commit hooks end to end (pre-commit from PyPI in a virtual environment).
pre-commit-e2e:
    cargo build --release --locked
    bash .ci/pre-commit-e2e.sh target/release
# Probe benchmarks: a 1M-parameter MLP against the default budget, weight-probe MB/s over 1 GiB.
bench-probe:
    cargo bench --bench probe

# Fuzz the pickle engine (`cargo install cargo-fuzz` first). cargo-fuzz wants nightly for
# -Zsanitizer; RUSTC_BOOTSTRAP lets the stable toolchain that these machines have build it.
fuzz-pickle seconds="600":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O pickle corpus/pickle ../samples -- -max_total_time={{seconds}} -rss_limit_mb=2048

# Fuzz the whole engine: detection, containers and every analyser.
# The pickle sniffer and the salvage reader (tiny limits so most inputs halt).
fuzz-pickle-salvage seconds="600":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O pickle_salvage corpus/pickle_salvage ../samples -- -max_total_time={{seconds}} -rss_limit_mb=2048

fuzz-scan seconds="600":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O scan corpus/scan ../samples -- -max_total_time={{seconds}} -rss_limit_mb=2048

# Fuzz the ONNX and safetensors analysers.
fuzz-onnx seconds="600":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O onnx corpus/onnx ../tests/data/onnx-reference -- -max_total_time={{seconds}} -rss_limit_mb=2048

fuzz-keras seconds="600":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O keras corpus/keras ../samples/benign -- -max_total_time={{seconds}} -rss_limit_mb=2048

fuzz-hdf5 seconds="600":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O hdf5 corpus/hdf5 ../tests/data/framework -- -max_total_time={{seconds}} -rss_limit_mb=2048

fuzz-tensorflow seconds="600":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O tensorflow corpus/tensorflow ../samples/benign -- -max_total_time={{seconds}} -rss_limit_mb=2048

fuzz-tflite seconds="600":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O tflite corpus/tflite ../tests/data/framework/tflite -- -max_total_time={{seconds}} -rss_limit_mb=2048

fuzz-safetensors seconds="600":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O safetensors corpus/safetensors ../samples/benign/sharded_checkpoint -- -max_total_time={{seconds}} -rss_limit_mb=2048

fuzz-gguf seconds="600":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O gguf corpus/gguf ../tests/data/gguf -- -max_total_time={{seconds}} -rss_limit_mb=2048

fuzz-template seconds="600":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O template corpus/template ../tests/data/templates/hub -- -max_total_time={{seconds}} -rss_limit_mb=2048

# Time and peak RSS of scanning a 500 MB ONNX model and a 5 GB (sparse) safetensors file.
bench-large dir="/tmp/quarantine-large-models":
    cargo build --release --locked
    python3 scripts/large_models.py {{dir}} --onnx-mb 500 --safetensors-gb 5
    for f in {{dir}}/large.onnx {{dir}}/large.safetensors; do /usr/bin/time -v target/release/quarantine scan $f 2>&1 | grep -E "^(clean|suspicious|malicious|error) |model:|Elapsed|Maximum resident"; done
    rm -r {{dir}}

# False alarms on files real libraries wrote (joblib and numpy test data from PyPI wheels).
real-world:
    cargo build --release --locked
    python3 scripts/real_world_benign.py

# `quarantine verify` of a multi-GB folder vs `openssl dgst -sha256` of the same files (ratio).
bench-verify gib="4" files="8":
    cargo build --release --locked
    python3 scripts/bench_verify.py --gib {{gib}} --files {{files}}

# Interop with OpenSSF Model Signing (installs model-signing from PyPI into target/tmp/oms-venv).
oms-interop:
    cargo test --release --locked --test oms_interop -- --nocapture

//! Benchmarks. Each prints a ratio against a baseline measured in the same run, so the figures
//! mean something on a shared, noisy machine:
//!
//! - pickle opcode throughput (MB/s) on a large benign pickle of many small objects;
//! - a full scan of a 1 GiB PyTorch zip checkpoint against `openssl dgst -sha256` on the same
//!   file (hashing should dominate: target ratio ≤ 1.2);
//! - signature rules: compile time of the shipped rules cold against loading them from the
//!   cache; the cost signature matching adds per artifact over `samples/`; and a `--deep` scan of
//!   the checkpoint (every tensor byte matched) in MB/s against `openssl dgst -sha256`.
//!
//! `cargo bench --bench scan` (or `just bench`). Set `QUARANTINE_BENCH_GIB` to change the
//! checkpoint size.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use std::sync::Arc;

use quarantine::Format;
use quarantine::config::SignatureSettings;
use quarantine::signatures::{self, cache, sources};
use quarantine::{Config, scan};

/// A protocol-4 pickle of `n` small tuples `('key', i, 1.5)` in a list, appended in batches of
/// 1000 as CPython's pickler does.
fn many_small_objects(n: usize) -> Vec<u8> {
    let mut out = vec![0x80, 4, b']', 0x94];
    for chunk in 0..n.div_ceil(1000) {
        out.push(b'(');
        for i in 0..1000.min(n - chunk * 1000) {
            out.extend_from_slice(&[0x8c, 3]);
            out.extend_from_slice(b"key");
            out.push(b'J');
            out.extend_from_slice(&(i as i32).to_le_bytes());
            out.push(b'G');
            out.extend_from_slice(&1.5f64.to_be_bytes());
            out.push(0x87);
        }
        out.push(b'e');
    }
    out.push(b'.');
    out
}

fn pickle_throughput(c: &mut Criterion) {
    let data = many_small_objects(2_000_000);
    let config = Config::default();
    let mut group = c.benchmark_group("pickle");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    group.bench_function("many_small_objects", |b| {
        b.iter(|| {
            scan::scan_bytes_as(
                Format::Pickle,
                &data,
                Path::new("bench.pkl"),
                "bench",
                &config,
            )
        })
    });
    group.finish();
}

/// Writes a PyTorch-style zip checkpoint (`archive/data.pkl` plus stored `archive/data/N`
/// storages of 64 MiB each) of about `gib` GiB, once.
fn checkpoint(gib: u64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("checkpoint-{gib}g.pt"));
    if path.exists() {
        return path;
    }
    let tmp = path.with_extension("partial");
    let file = std::fs::File::create(&tmp).expect("create checkpoint");
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    let storages = gib * 16;
    let mut pickle = vec![0x80, 2];
    pickle.extend_from_slice(b"ccollections\nOrderedDict\nq\x00)Rq\x01.");
    zip.start_file("archive/data.pkl", stored).unwrap();
    zip.write_all(&pickle).unwrap();
    let block: Vec<u8> = (0..64u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    for n in 0..storages {
        zip.start_file(format!("archive/data/{n}"), stored).unwrap();
        zip.write_all(&block).unwrap();
    }
    zip.start_file("archive/version", stored).unwrap();
    zip.write_all(b"3\n").unwrap();
    zip.finish().unwrap().flush().unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm the page cache
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn scan_vs_openssl() {
    let gib = std::env::var("QUARANTINE_BENCH_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let path = checkpoint(gib);
    let config = Config::default();
    let openssl = time(5, || {
        let status = Command::new("openssl")
            .args(["dgst", "-sha256"])
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .status();
        assert!(status.is_ok_and(|s| s.success()), "openssl dgst failed");
    });
    let scan = time(5, || {
        let report = scan::scan_file(&path, "bench", &config);
        assert_eq!(
            report.verdict,
            quarantine::Verdict::Clean,
            "{:?}",
            report.findings
        );
    });
    println!(
        "checkpoint {gib} GiB: scan {:.3} s, openssl dgst -sha256 {:.3} s, ratio {:.2} (target <= 1.2)",
        scan.as_secs_f64(),
        openssl.as_secs_f64(),
        scan.as_secs_f64() / openssl.as_secs_f64()
    );
    deep_vs_openssl(&path, gib, openssl);
}

fn with_signatures(deep: bool) -> Config {
    let rules = signatures::compile(&sources::shipped()).expect("shipped rules compile");
    Config {
        signatures: SignatureSettings {
            rules: Some(Arc::new(rules)),
            deep,
            ..SignatureSettings::default()
        },
        ..Config::default()
    }
}

fn signature_compile() {
    let shipped = sources::shipped();
    let cold = time(5, || {
        signatures::compile(&shipped).expect("compile");
    });
    let dir = tempfile::tempdir().expect("temp dir");
    cache::load(&shipped, Some(dir.path())).expect("fill the cache");
    let cached = time(5, || {
        let (_, outcome) = cache::load(&shipped, Some(dir.path())).expect("load");
        assert!(
            matches!(outcome, cache::CacheOutcome::Hit(_)),
            "{outcome:?}"
        );
    });
    println!(
        "signature rules ({} shipped): compile {:.1} ms, from cache {:.1} ms ({:.0}x)",
        shipped.len(),
        cold.as_secs_f64() * 1e3,
        cached.as_secs_f64() * 1e3,
        cold.as_secs_f64() / cached.as_secs_f64()
    );
}

fn signature_cost_on_samples() {
    let mut files: Vec<PathBuf> = ["benign", "malicious"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("samples")
                    .join(d),
            )
        })
        .flatten()
        .flatten()
        .map(|e| e.path())
        // The 1 GiB gzip bomb is inflated to its ratio limit either way; leave it out.
        .filter(|p| !p.to_string_lossy().contains("bomb"))
        .collect();
    files.sort();
    let plain = Config::default();
    let signed = with_signatures(false);
    let sigs = signed.signatures.rules.as_deref().expect("rules");
    let mut scanner = sigs.scanner();
    let without = time(5, || {
        for f in &files {
            scan::scan_file(f, "bench", &plain);
        }
    });
    let with = time(5, || {
        for f in &files {
            scan::scan_file_with(f, "bench", &signed, Some(&mut scanner));
        }
    });
    let n = files.len() as f64;
    println!(
        "samples ({} artifacts): {:.0} µs per artifact without signatures, {:.0} µs with (+{:.0} µs)",
        files.len(),
        without.as_secs_f64() * 1e6 / n,
        with.as_secs_f64() * 1e6 / n,
        (with.as_secs_f64() - without.as_secs_f64()) * 1e6 / n
    );
}

fn deep_vs_openssl(path: &Path, gib: u64, openssl: Duration) {
    let config = with_signatures(true);
    let deep = time(3, || {
        let report = scan::scan_file(path, "bench", &config);
        assert_eq!(
            report.verdict,
            quarantine::Verdict::Clean,
            "{:?}",
            report.findings
        );
    });
    let mb = (gib << 30) as f64 / 1e6;
    println!(
        "--deep checkpoint {gib} GiB: {:.0} MB/s ({:.3} s), openssl dgst -sha256 {:.0} MB/s, ratio {:.2}",
        mb / deep.as_secs_f64(),
        deep.as_secs_f64(),
        mb / openssl.as_secs_f64(),
        deep.as_secs_f64() / openssl.as_secs_f64()
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    pickle_throughput(&mut criterion);
    criterion.final_summary();
    signature_compile();
    signature_cost_on_samples();
    if Command::new("openssl").arg("version").output().is_ok() {
        scan_vs_openssl();
    } else {
        println!("openssl not found: checkpoint ratios skipped");
    }
}

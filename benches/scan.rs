//! Benchmarks. Each prints a ratio against a baseline measured in the same run, so the figures
//! mean something on a shared, noisy machine:
//!
//! - pickle opcode throughput (MB/s) on a large benign pickle of many small objects, read as
//!   plain data and (with one allowed call in it) by the full machine;
//! - a CLI scan of a 64 MB pickle of 3 M small tuples against `openssl dgst -sha256` of the same
//!   file (target ratio <= 3), and the scanner's peak RSS (target <= 128 MiB);
//! - a full scan of a 1 GiB PyTorch zip checkpoint against `openssl dgst -sha256` on the same
//!   file (hashing should dominate: target ratio ≤ 1.2);
//! - signature rules: compile time of the shipped rules cold against loading them from the
//!   cache; the cost signature matching adds per artifact over `samples/`; and a `--deep` scan of
//!   the checkpoint (every tensor byte matched) in MB/s against `openssl dgst -sha256`.
//!
//! `cargo bench --bench scan` (or `just bench`). Set `QUARANTINE_BENCH_GIB` to change the
//! checkpoint size.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};

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

/// The same with one allowed call (`collections.OrderedDict()`) as the list's first item, so
/// that the stream is not plain data and the full machine reads it.
fn many_small_objects_with_a_call(n: usize) -> Vec<u8> {
    let mut out = many_small_objects(n);
    let call = b"ccollections\nOrderedDict\n)R";
    out.splice(4..4, call.iter().copied());
    out.splice(4..4, [b'(']);
    out.insert(4 + 1 + call.len(), b'e');
    out
}

/// The same as CPython's pickler writes it: every tuple memoized, the shared string read back.
fn many_small_objects_memoized(n: usize) -> Vec<u8> {
    let mut out = b"\x80\x04](ccollections\nOrderedDict\n)R\x94e".to_vec();
    for chunk in 0..n.div_ceil(1000) {
        out.push(b'(');
        for i in 0..1000.min(n - chunk * 1000) {
            if chunk == 0 && i == 0 {
                out.extend_from_slice(b"\x8c\x03key\x94");
            } else {
                out.extend_from_slice(b"h\x01");
            }
            out.push(b'J');
            out.extend_from_slice(&(i as i32).to_le_bytes());
            out.push(b'G');
            out.extend_from_slice(&1.5f64.to_be_bytes());
            out.extend_from_slice(b"\x87\x94");
        }
        out.push(b'e');
    }
    out.push(b'.');
    out
}

fn pickle_throughput(c: &mut Criterion) {
    let config = Config::default();
    let mut group = c.benchmark_group("pickle");
    group.sample_size(10);
    for (name, data) in [
        ("many_small_objects", many_small_objects(2_000_000)),
        (
            "many_small_objects_with_a_call",
            many_small_objects_with_a_call(2_000_000),
        ),
    ] {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let report = scan::scan_bytes_as(
                    Format::Pickle,
                    &data,
                    Path::new("bench.pkl"),
                    "bench",
                    &config,
                );
                assert_eq!(report.verdict, quarantine::Verdict::Clean);
            })
        });
    }
    group.finish();
}

/// Peak resident set size of the children waited for so far, in MiB.
fn children_peak_rss_mib() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    usage.ru_maxrss as f64 / 1024.0
}

/// `quarantine scan` of a pickle of 3 M small tuples (about 64 MB) as a process, against
/// `openssl dgst -sha256` of the same file: both pay process start-up and reading the file.
fn pickle_cli_vs_openssl() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&std::ffi::OsStr], program: &str| {
        let status = Command::new(program)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status();
        assert!(
            status.is_ok_and(|s| s.code() == Some(0)),
            "{program} failed"
        );
    };
    for (name, data) in [
        ("plain data", many_small_objects(3_000_000)),
        ("one call", many_small_objects_with_a_call(3_000_000)),
        ("one call, memoized", many_small_objects_memoized(3_000_000)),
    ] {
        let path = dir.path().join("tuples.pkl");
        std::fs::write(&path, &data).expect("write pickle");
        let openssl = time(5, || {
            run(
                &["dgst".as_ref(), "-sha256".as_ref(), path.as_ref()],
                "openssl",
            )
        });
        let scan = time(5, || {
            run(
                &[
                    "scan".as_ref(),
                    "--no-policy".as_ref(),
                    "--probe".as_ref(),
                    "off".as_ref(),
                    path.as_ref(),
                ],
                env!("CARGO_BIN_EXE_quarantine"),
            )
        });
        println!(
            "pickle of 3 M tuples ({name}, {:.0} MB): scan {:.3} s, openssl dgst -sha256 {:.3} s, ratio {:.2} (target <= 3); peak RSS so far {:.0} MiB (target <= 128)",
            data.len() as f64 / 1e6,
            scan.as_secs_f64(),
            openssl.as_secs_f64(),
            scan.as_secs_f64() / openssl.as_secs_f64(),
            children_peak_rss_mib(),
        );
    }
}

/// Writes a PyTorch-style zip checkpoint (`archive/data.pkl` plus stored `archive/data/N`
/// storages of 64 MiB each) of about `gib` GiB, once.
fn checkpoint(gib: u64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("state-dict-{gib}g.pt"));
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
    zip.start_file("archive/data.pkl", stored).unwrap();
    zip.write_all(&state_dict_pickle(storages, 16 << 20))
        .unwrap();
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

/// `data.pkl` of a state dict of `count` float32 tensors of `numel` elements, the tensor
/// named `layer.<n>` held in storage `n`, as `torch.save` writes it (protocol 2).
fn state_dict_pickle(count: u64, numel: i32) -> Vec<u8> {
    let unicode = |out: &mut Vec<u8>, text: &str| {
        out.push(b'X');
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    };
    let int = |out: &mut Vec<u8>, n: i32| {
        out.push(b'J');
        out.extend_from_slice(&n.to_le_bytes());
    };
    let mut out = b"\x80\x02ccollections\nOrderedDict\n)R(".to_vec();
    for n in 0..count {
        unicode(&mut out, &format!("layer.{n}"));
        out.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((");
        unicode(&mut out, "storage");
        out.extend_from_slice(b"ctorch\nFloatStorage\n");
        unicode(&mut out, &n.to_string());
        unicode(&mut out, "cpu");
        int(&mut out, numel);
        out.extend_from_slice(b"tQK\x00");
        int(&mut out, numel);
        out.extend_from_slice(b"\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR");
    }
    out.extend_from_slice(b"u.");
    out
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
    // The storages hold a byte pattern, not trained weights, which the weight probe would
    // rightly flag; its cost is measured by `benches/probe.rs`.
    let mut config = Config::default();
    config.probe.mode = quarantine::config::ProbeMode::Off;
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
        "checkpoint {gib} GiB: scan {:.3} s, openssl dgst -sha256 {:.3} s, ratio {:.2} (target <= 1.0)",
        scan.as_secs_f64(),
        openssl.as_secs_f64(),
        scan.as_secs_f64() / openssl.as_secs_f64()
    );
    deep_vs_openssl(&path, gib, openssl);
}

/// The settings (signatures deep or not) and the shipped rules compiled, which go beside them.
fn with_signatures(deep: bool) -> (Config, quarantine::Signatures) {
    let rules = signatures::compile(&sources::shipped()).expect("shipped rules compile");
    let config = Config {
        signatures: SignatureSettings {
            deep,
            ..SignatureSettings::default()
        },
        ..Config::default()
    };
    (config, rules)
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
    let (signed, sigs) = with_signatures(false);
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
    let (mut config, sigs) = with_signatures(true);
    // As in `scan_vs_openssl`: the pattern in the storages is not weights to probe.
    config.probe.mode = quarantine::config::ProbeMode::Off;
    let mut scanner = sigs.scanner();
    let deep = time(3, || {
        let report = scan::scan_file_with(path, "bench", &config, Some(&mut scanner));
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
        pickle_cli_vs_openssl();
        scan_vs_openssl();
    } else {
        println!("openssl not found: checkpoint ratios skipped");
    }
}

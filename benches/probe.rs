//! Benchmarks of the robustness probe, each beside a baseline measured in the same run:
//!
//! - the whole probe of a 1M-parameter MLP (784-1024-256-10 safetensors) on CPU against the
//!   default budget;
//! - weight-probe throughput (MB/s) over a 1 GiB safetensors file (64 tensors of 4096 x 1024
//!   f32, spectral norms included) against `openssl dgst -sha256` and a plain sequential read of
//!   the same file.
//!
//! `cargo bench --bench probe` (or `just bench-probe`). `QUARANTINE_BENCH_GIB` changes the
//! file size; `QUARANTINE_BENCH_DEVICE=cuda` runs the probe on a GPU (build with `--features cuda`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use quarantine::config::{DeviceKind, ProbeMode, ProbeSettings};
use quarantine::{Config, scan};

/// F32 tensors as a safetensors file, values from a fixed-seed generator (centred, scaled
/// 1/sqrt(fan-in) like an initialised layer).
fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>)]) {
    let mut header = String::from("{");
    let mut offset = 0usize;
    for (i, (name, shape)) in tensors.iter().enumerate() {
        let bytes = shape.iter().product::<usize>() * 4;
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            r#""{name}":{{"dtype":"F32","shape":{shape:?},"data_offsets":[{offset},{}]}}"#,
            offset + bytes
        ));
        offset += bytes;
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    file.write_all(&(header.len() as u64).to_le_bytes())
        .unwrap();
    file.write_all(header.as_bytes()).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for (_, shape) in tensors {
        let fan_in = *shape.last().unwrap() as f32;
        let scale = 1.0 / fan_in.sqrt();
        let mut chunk = Vec::with_capacity(1 << 20);
        for _ in 0..shape.iter().product::<usize>() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let v = ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale;
            chunk.extend_from_slice(&v.to_le_bytes());
            if chunk.len() >= 1 << 20 {
                file.write_all(&chunk).unwrap();
                chunk.clear();
            }
        }
        file.write_all(&chunk).unwrap();
    }
}

fn config(mode: ProbeMode, budget: Duration) -> Config {
    let device = match std::env::var("QUARANTINE_BENCH_DEVICE").as_deref() {
        Ok("cuda") => DeviceKind::Cuda,
        _ => DeviceKind::Cpu,
    };
    Config {
        probe: ProbeSettings {
            mode,
            budget,
            device,
            ..ProbeSettings::default()
        },
        ..Config::default()
    }
}

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

fn mlp_probe(dir: &Path) {
    let path = dir.join("mlp.safetensors");
    let layers = [(1024, 784), (256, 1024), (10, 256)];
    let mut tensors = Vec::new();
    for (i, (out, inp)) in layers.iter().enumerate() {
        tensors.push((format!("net.{i}.weight"), vec![*out, *inp]));
        tensors.push((format!("net.{i}.bias"), vec![*out]));
    }
    write_safetensors(&path, &tensors);
    let params: usize = layers.iter().map(|(o, i)| o * i + o).sum();
    let budget = ProbeSettings::default().budget;
    let cfg = config(ProbeMode::Auto, budget);
    for _ in 0..3 {
        let (report, wall) = time(|| scan::scan_file(&path, "mlp.safetensors", &cfg));
        let r = report.robustness.expect("probed");
        println!(
            "mlp {params} parameters: probe {} ms on {} (scan {:.0} ms), {:.0}% of the default {} s budget; grade {}",
            r.runtime_ms,
            r.device,
            wall.as_secs_f64() * 1e3,
            r.runtime_ms as f64 / budget.as_secs_f64() / 10.0,
            budget.as_secs(),
            r.grade.as_str()
        );
    }
}

fn weight_throughput(dir: &Path) {
    let gib: usize = std::env::var("QUARANTINE_BENCH_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let path = dir.join("big.safetensors");
    let tensors: Vec<(String, Vec<usize>)> = (0..64 * gib)
        .map(|i| (format!("layers.{i}.weight"), vec![4096, 1024]))
        .collect();
    write_safetensors(&path, &tensors);
    let mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
    let (_, read) = time(|| {
        let mut file = std::fs::File::open(&path).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        while file.read(&mut buf).unwrap() > 0 {}
    });
    let (status, openssl) = time(|| {
        Command::new("openssl")
            .args(["dgst", "-sha256"])
            .arg(&path)
            .output()
    });
    let openssl_ok = status.is_ok_and(|s| s.status.success());
    let off = config(ProbeMode::Off, Duration::from_secs(3600));
    let on = config(ProbeMode::Auto, Duration::from_secs(3600));
    let (_, scan_off) = time(|| scan::scan_file(&path, "big", &off));
    let (report, scan_on) = time(|| scan::scan_file(&path, "big", &on));
    let r = report.robustness.expect("probed");
    let probe_s = r.runtime_ms as f64 / 1e3;
    println!(
        "weights {mb:.0} MB: probe {probe_s:.2} s = {:.0} MB/s on {} ({} tensors, spectral norms included); \
         scan without probe {:.2} s, with {:.2} s; sequential read {:.2} s = {:.0} MB/s; openssl dgst -sha256 {}",
        mb / probe_s,
        r.device,
        r.weights.as_ref().map_or(0, |w| w.probed),
        scan_off.as_secs_f64(),
        scan_on.as_secs_f64(),
        read.as_secs_f64(),
        mb / read.as_secs_f64(),
        if openssl_ok {
            format!(
                "{:.2} s = {:.0} MB/s",
                openssl.as_secs_f64(),
                mb / openssl.as_secs_f64()
            )
        } else {
            "not available".to_owned()
        }
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    mlp_probe(dir.path());
    weight_throughput(dir.path());
}

//! Hostile inputs, generated here (never stored): decompression bombs of every codec, bombs
//! nested in other containers, a 42.zip-style archive of archives, ONNX, safetensors and pickle
//! size bombs (a graph of millions of tiny nodes, a header of a million tensors), and a large
//! ordinary tarball whose member must be spilled to disk. Each is scanned
//! by the real binary as a child process whose peak memory is read with `wait4` (mapped file
//! pages included) and whose heap is sampled from `/proc`. Every case must end on its own (a
//! finding of its own limit, or a finished analysis) well inside the outer timeout, by exiting
//! rather than by a signal, and below both memory bounds; the bombs and size bombs must not come
//! out `clean` (a pickle of shared references, a sparse memo or a big tarball is only a resource
//! test: loading it runs nothing).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Peak resident memory allowed to one scan of one hostile artifact, mapped file pages included
/// (the input and spilled members are memory-mapped; those pages are page cache, reclaimable).
const MAX_RSS_MIB: u64 = 1024;
/// Peak anonymous memory (heap) allowed: the default per-artifact `max_memory` budget.
const MAX_HEAP_MIB: u64 = 512;
/// Peak anonymous memory allowed to the scan of one pickle: the engine keeps what evidence and
/// the memo need, not the data.
const MAX_PICKLE_HEAP_MIB: u64 = 128;
/// Ordinary data among the cases: large, but written as real libraries write it, so `clean`.
const ORDINARY: &[&str] = &["tuples_with_a_call.pkl", "memoized_records.pkl"];
/// How long a case may run before the test calls it hung.
const OUTER_TIMEOUT: Duration = Duration::from_secs(120);

/// Bytes of zeros inside each bomb.
const ZEROS: usize = 256 << 20;

/// Writes `n` zero bytes through `encoder` a mebibyte at a time: the test process itself must
/// stay small, because a child started from it inherits its peak memory figure.
fn zeros_through<W: Write>(mut encoder: W, n: usize) -> W {
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..n / chunk.len() {
        encoder.write_all(&chunk).unwrap();
    }
    encoder
}

fn gzip_zeros() -> Vec<u8> {
    let e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    zeros_through(e, ZEROS).finish().unwrap()
}

fn bzip2_zeros() -> Vec<u8> {
    let e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    zeros_through(e, ZEROS).finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 19).unwrap()
}

fn zstd_zeros() -> Vec<u8> {
    let e = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
    zeros_through(e, ZEROS).finish().unwrap()
}

fn lz4_zeros() -> Vec<u8> {
    let e = lz4_flex::frame::FrameEncoder::new(Vec::new());
    zeros_through(e, ZEROS).finish().unwrap()
}

/// A zip of one deflated member of `n` zeros.
fn zip_zeros(n: usize) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    writer.start_file("zeros.bin", options).unwrap();
    let writer = zeros_through(writer, n);
    writer.finish().unwrap().into_inner()
}

fn tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn stored_zip(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in members {
        writer.start_file(name.as_str(), options).unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// 42.zip in small: `fanout` zips of `fanout` zips of a deflated run of zeros.
fn zip_of_zips(fanout: usize) -> Vec<u8> {
    let leaf = zip_zeros(64 << 20);
    let middle: Vec<(String, Vec<u8>)> = (0..fanout)
        .map(|i| (format!("leaf{i}.zip"), leaf.clone()))
        .collect();
    let middle = stored_zip(&middle);
    let top: Vec<(String, Vec<u8>)> = (0..fanout)
        .map(|i| (format!("middle{i}.zip"), middle.clone()))
        .collect();
    stored_zip(&top)
}

/// A safetensors header that declares a tensor of 2^40 floats the file does not have.
fn safetensors_size_bomb() -> Vec<u8> {
    let header =
        br#"{"w":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4398046511104]}}"#;
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header);
    out.extend_from_slice(&[0u8; 16]);
    out
}

/// A safetensors file whose declared header length is far past the end of the file.
fn safetensors_header_bomb() -> Vec<u8> {
    let mut out = (u64::MAX / 2).to_le_bytes().to_vec();
    out.extend_from_slice(b"{\"w\":");
    out
}

/// Protobuf varint.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field(number: u64, payload: &[u8], out: &mut Vec<u8>) {
    varint(number << 3 | 2, out);
    varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// An ONNX model whose one initializer declares 2^20 x 2^20 x 2^20 floats and carries none.
fn onnx_size_bomb() -> Vec<u8> {
    let mut tensor = Vec::new();
    for _ in 0..3 {
        varint(1 << 3, &mut tensor); // dims, varint
        varint(1 << 20, &mut tensor);
    }
    varint(2 << 3, &mut tensor); // data_type = FLOAT
    varint(1, &mut tensor);
    field(8, b"w", &mut tensor); // name
    let mut graph = Vec::new();
    field(5, &tensor, &mut graph); // initializer
    field(2, b"g", &mut graph); // name
    let mut model = Vec::new();
    varint(1 << 3, &mut model); // ir_version
    varint(8, &mut model);
    let mut opset = Vec::new();
    varint(2 << 3, &mut opset);
    varint(17, &mut opset);
    field(8, &opset, &mut model); // opset_import
    field(7, &graph, &mut model); // graph
    model
}

/// An ONNX model of `n` nodes with one empty attribute each: five bytes on the wire, over a
/// kilobyte each once decoded.
fn onnx_node_bomb(n: usize) -> Vec<u8> {
    let mut node = Vec::new();
    field(5, &[0x0a, 0x01, b'a'], &mut node); // attribute { name: "a" }
    field(4, b"Relu", &mut node); // op_type
    let mut graph = Vec::with_capacity(n * (node.len() + 2) + 8);
    for _ in 0..n {
        field(1, &node, &mut graph);
    }
    field(2, b"g", &mut graph);
    let mut model = Vec::new();
    varint(1 << 3, &mut model);
    varint(8, &mut model);
    let mut opset = Vec::new();
    varint(2 << 3, &mut opset);
    varint(17, &mut opset);
    field(8, &opset, &mut model);
    field(7, &graph, &mut model);
    model
}

/// A well-formed safetensors file of `n` one-float tensors: a header of about 100 bytes per
/// tensor, which loaders accept up to 100 MB.
fn safetensors_many_tensors(n: usize) -> Vec<u8> {
    let mut header = String::from("{");
    for i in 0..n {
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            r#""model.layers.{i}.weight":{{"dtype":"F32","shape":[1],"data_offsets":[{},{}]}}"#,
            4 * i,
            4 * i + 4
        ));
    }
    header.push('}');
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.resize(out.len() + 4 * n, 0);
    out
}

/// Billion laughs: each level is a list of ten references to the level below.
fn pickle_laughs(levels: usize) -> Vec<u8> {
    let mut out = vec![0x80, 4];
    out.extend_from_slice(b"\x8c\x03lol\x94"); // memo 0
    for level in 0..levels {
        out.push(b'(');
        for _ in 0..10 {
            out.push(b'j'); // LONG_BINGET level
            out.extend_from_slice(&(level as u32).to_le_bytes());
        }
        out.extend_from_slice(b"l\x94"); // LIST, MEMOIZE as level + 1
    }
    out.push(b'.');
    out
}

/// Ten million MARKs: the stack limit, not memory, ends it.
fn pickle_marks() -> Vec<u8> {
    let mut out = vec![0x80, 4];
    out.resize(10_000_002, b'(');
    out.push(b'.');
    out
}

/// A gzipped tar of one member of `n` bytes that compresses about 40 times (under the ratio
/// limit, so nothing stops it): a large ordinary model tarball, which must be spilled to a
/// temporary file rather than held in memory. Streamed, so the test process stays small.
fn large_tarball(n: u64) -> Vec<u8> {
    // 20 pseudo-random bytes in every 1000, the rest zeros.
    let mut block = vec![0u8; 1 << 20];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for chunk in block.chunks_mut(1000) {
        for b in chunk.iter_mut().take(20) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
    }
    let mut header = tar::Header::new_gnu();
    header.set_size(n);
    header.set_mode(0o644);
    header.set_cksum();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    let body = std::io::Read::take(Repeating { block, at: 0 }, n);
    builder
        .append_data(&mut header, "weights.bin", body)
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

/// Reads `block` over and over.
struct Repeating {
    block: Vec<u8>,
    at: usize,
}

impl std::io::Read for Repeating {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.block[self.at..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at = (self.at + n) % self.block.len();
        Ok(n)
    }
}

/// `n` calls of an allowed class (`collections.OrderedDict()`), appended to a list in batches
/// of 1000 as CPython's pickler does: past the stream's memory budget, such calls keep no node.
fn pickle_many_calls(n: usize) -> Vec<u8> {
    let mut out = b"\x80\x04]\x94(\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94".to_vec();
    for i in 0..n {
        if i > 0 && i % 1000 == 0 {
            out.extend_from_slice(b"e(");
        }
        out.extend_from_slice(b"h\x03)R"); // BINGET 3 (the class), EMPTY_TUPLE, REDUCE
    }
    out.extend_from_slice(b"e.");
    out
}

/// `head` (which leaves a list on the stack), then `n` items written by `item` and appended in
/// batches of 1000 as CPython's pickler does, then STOP.
fn batched_list(head: &[u8], n: u32, item: impl Fn(&mut Vec<u8>, u32)) -> Vec<u8> {
    let mut out = head.to_vec();
    for i in 0..n {
        if i % 1000 == 0 {
            out.push(b'(');
        }
        item(&mut out, i);
        if i % 1000 == 999 || i + 1 == n {
            out.push(b'e');
        }
    }
    out.push(b'.');
    out
}

/// `n` small tuples `('key', i, 1.5)` in a list whose first item is an allowed call (so the
/// full machine reads it): ordinary data, past the budget counted rather than kept.
fn pickle_tuples_with_a_call(n: u32) -> Vec<u8> {
    batched_list(b"\x80\x04](ccollections\nOrderedDict\n)Re", n, |out, i| {
        out.extend_from_slice(b"\x8c\x03keyJ");
        out.extend_from_slice(&i.to_le_bytes());
        out.push(b'G');
        out.extend_from_slice(&1.5f64.to_be_bytes());
        out.push(0x87); // TUPLE3
    })
}

/// `n` records `(i,)` as CPython's pickler writes them (each tuple memoized) in a list whose
/// first item is an allowed call: millions of memo entries, of which none is read back.
fn pickle_memoized_records(n: u32) -> Vec<u8> {
    let head = b"\x80\x04]\x94(ccollections\nOrderedDict\n)R\x94e";
    batched_list(head, n, |out, i| {
        out.push(b'J');
        out.extend_from_slice(&i.to_le_bytes());
        out.extend_from_slice(b"\x85\x94"); // TUPLE1, MEMOIZE
    })
}

/// After an unknown opcode, `t = (t, t)` through the memo 40 times: what salvage reads past a
/// halt must share such tuples, not copy them level by level (2^40 items).
fn pickle_salvage_doubling() -> Vec<u8> {
    let mut out = b"\x80\x04]\x94K\x01K\x02\xff\x8c\x01a\x94".to_vec();
    for level in 1..=40u8 {
        out.extend_from_slice(&[b'h', level, b'h', level, 0x86, 0x94]);
    }
    out.push(b'.');
    out
}

/// A million memo entries at scattered indices.
fn pickle_sparse_memo() -> Vec<u8> {
    let mut out = vec![0x80, 4, b'N'];
    for i in 0..1_000_000u32 {
        out.push(b'r'); // LONG_BINPUT
        out.extend_from_slice(&i.wrapping_mul(2_654_435_761).to_le_bytes());
    }
    out.push(b'.');
    out
}

struct Outcome {
    status: std::process::ExitStatus,
    rss_mib: u64,
    /// Peak anonymous memory, sampled from `/proc` every few milliseconds (a lower bound).
    heap_mib: u64,
    elapsed: Duration,
    report: Value,
}

/// Runs `quarantine scan --format json` on `path` as a child and measures it.
fn scan_measured(path: &Path) -> Outcome {
    let out_path = path.with_extension("report.json");
    let start = Instant::now();
    let child = common::bin()
        .args(["scan", "--format", "json", "-o"])
        .arg(&out_path)
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run quarantine");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut heap_kib = 0;
    loop {
        heap_kib = heap_kib.max(rss_anon_kib(pid));
        // SAFETY: wait4 on our own child, with valid pointers to locals.
        let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(done >= 0, "wait4 failed");
        if done == pid {
            break;
        }
        if start.elapsed() > OUTER_TIMEOUT {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{} still running after {OUTER_TIMEOUT:?}", path.display());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::mem::forget(child); // already reaped by wait4
    let status = std::os::unix::process::ExitStatusExt::from_raw(status);
    let report = std::fs::read(&out_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    Outcome {
        status,
        rss_mib: usage.ru_maxrss as u64 / 1024,
        heap_mib: heap_kib / 1024,
        elapsed: start.elapsed(),
        report,
    }
}

/// The `RssAnon` line of a running process's status, in KiB (0 once it has exited).
fn rss_anon_kib(pid: libc::pid_t) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("RssAnon:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Each case's file, and whether it must be flagged (not `clean`).
fn cases(dir: &Path) -> Vec<(PathBuf, bool)> {
    let gz = gzip_zeros();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bomb.gz", gz.clone()),
        ("bomb.bz2", bzip2_zeros()),
        ("bomb.zst", zstd_zeros()),
        ("bomb.lz4", lz4_zeros()),
        ("bomb.zip", zip_zeros(ZEROS)),
        ("nested.tar.zst", zstd(&tar(&[("inner.gz", &gz)]))),
        (
            "nested.tar",
            tar(&[("a.zst", &zstd(&tar(&[("b.bz2", &bzip2_zeros())])))]),
        ),
        ("42.zip", zip_of_zips(8)),
        ("size_bomb.safetensors", safetensors_size_bomb()),
        ("header_bomb.safetensors", safetensors_header_bomb()),
        ("size_bomb.onnx", onnx_size_bomb()),
        ("node_bomb.onnx", onnx_node_bomb(5_000_000)),
        ("marks.pkl", pickle_marks()),
        ("salvage_doubling.pkl", pickle_salvage_doubling()),
    ];
    let resource_only: Vec<(&str, Vec<u8>)> = vec![
        ("laughs.pkl", pickle_laughs(30)),
        ("sparse_memo.pkl", pickle_sparse_memo()),
        ("many_calls.pkl", pickle_many_calls(10_000_000)),
        (
            "tuples_with_a_call.pkl",
            pickle_tuples_with_a_call(3_000_000),
        ),
        ("memoized_records.pkl", pickle_memoized_records(8_000_000)),
        ("large.tar.gz", large_tarball(600 << 20)),
        (
            "many_tensors.safetensors",
            safetensors_many_tensors(900_000),
        ),
    ];
    let flagged = cases.into_iter().map(|c| (c, true));
    let any = resource_only.into_iter().map(|c| (c, false));
    flagged
        .chain(any)
        .map(|((name, data), must_flag)| {
            let path = dir.join(name);
            std::fs::write(&path, data).unwrap();
            (path, must_flag)
        })
        .collect()
}

#[test]
fn hostile_inputs_end_by_their_own_limits_within_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (path, must_flag) in cases(dir.path()) {
        let outcome = scan_measured(&path);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let artifact = &outcome.report["artifacts"][0];
        let verdict = artifact["verdict"].as_str().unwrap_or("no report");
        let rules: std::collections::BTreeSet<&str> = artifact["findings"]
            .as_array()
            .map(|f| f.iter().filter_map(|f| f["rule_id"].as_str()).collect())
            .unwrap_or_default();
        println!(
            "{name:<26} {verdict:<11} {:>5} MiB ({:>4} MiB heap) {:>6.2} s  {rules:?}",
            outcome.rss_mib,
            outcome.heap_mib,
            outcome.elapsed.as_secs_f64()
        );
        if outcome.status.code().is_none() {
            failures.push(format!("{name}: ended by a signal ({:?})", outcome.status));
        }
        if outcome.rss_mib > MAX_RSS_MIB {
            failures.push(format!("{name}: {} MiB peak", outcome.rss_mib));
        }
        if outcome.heap_mib > MAX_HEAP_MIB {
            failures.push(format!("{name}: {} MiB heap", outcome.heap_mib));
        }
        if name.ends_with(".pkl") && outcome.heap_mib > MAX_PICKLE_HEAP_MIB {
            failures.push(format!(
                "{name}: {} MiB heap for a pickle",
                outcome.heap_mib
            ));
        }
        if ORDINARY.contains(&name.as_str()) && verdict != "clean" {
            failures.push(format!("{name}: {verdict}, but it is ordinary data"));
        }
        if verdict == "no report" || (must_flag && verdict == "clean") {
            failures.push(format!("{name}: {verdict}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A file cut short by another process while it is scanned: the scan must not die of SIGBUS
/// (the file is memory-mapped) and must not trust what it read. A 4 GiB sparse file takes long
/// enough to hash that the cut lands during the scan.
#[test]
fn a_file_truncated_during_the_scan_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shrinking.bin");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(4 << 30).unwrap();
    let child = common::bin()
        .args(["scan", "--format", "json"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run quarantine");
    std::thread::sleep(Duration::from_millis(150));
    file.set_len(4096).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.code().is_some(),
        "ended by a signal: {:?}",
        out.status
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let artifact = &report["artifacts"][0];
    // Only a scan that finished before the cut may have a verdict of its own.
    if artifact["verdict"] == "error" {
        assert!(
            artifact["error"].as_str().unwrap().contains("changed size"),
            "{artifact}"
        );
        assert_eq!(common::code(&out), 1);
    } else {
        println!(
            "the scan finished before the file was cut: {}",
            artifact["verdict"]
        );
    }
}

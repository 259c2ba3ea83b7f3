//! Files that ordinary model folders contain and that matched no format before (red-team round
//! 3): TensorFlow SavedModel fingerprints and checkpoint shards, torch.distributed.checkpoint
//! shards, `torch.export` archives, ONNX test data, ORT-format models, ONNX external data in a
//! subdirectory, Orbax/OCDBT checkpoints, MAT-files, word2vec binaries, MP3, short-keyed msgpack.
//! Written by the real libraries (scripts/modelfolders_reference.py, versions pinned there)
//! under `tests/data/modelfolders/`: every one is clean with nothing above `info`, and each
//! tampered copy made here is not.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::PathBuf;

use quarantine::Verdict;
use quarantine::model::finding::ArtifactReport;

fn data(rel: &str) -> PathBuf {
    common::repo().join("tests/data/modelfolders").join(rel)
}

fn codes(report: &ArtifactReport) -> Vec<&str> {
    report.findings.iter().map(|f| f.rule_id.code()).collect()
}

/// Copies `rel` (a folder of the fixtures) into a fresh temporary directory.
fn copy_of(rel: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let root = data(rel);
    common::files_under(&root, &mut files);
    for file in files {
        let to = dir.path().join(file.strip_prefix(&root).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&file, &to).unwrap();
    }
    dir
}

#[test]
fn every_file_of_the_real_writers_is_clean() {
    let mut files = Vec::new();
    common::files_under(&data(""), &mut files);
    assert!(files.len() >= 35, "{}", files.len());
    for path in &files {
        common::scan_quiet(path);
    }
}

#[test]
fn each_file_is_named_for_what_it_is() {
    let expect = [
        ("tf/tf_module_savedmodel/fingerprint.pb", "TFG005"),
        (
            "tf/tf_module_savedmodel/variables/variables.data-00000-of-00001",
            "TFG006",
        ),
        ("tf/tfckpt/ckpt-1.data-00000-of-00001", "TFG006"),
        ("tf/tfkeras_tfweights/ckpt.data-00000-of-00001", "TFG006"),
        ("torch/dcp_ckpt/__0_0.distcp", "ARC014"),
        ("onnx/test_data_set_0/input_0.pb", "ONX009"),
        ("onnx/test_data_set_0/output_0.pb", "ONX009"),
        ("onnx/subdir_location/weights/model.bin", "ONX008"),
        ("data/data_v4.mat", "FMT007"),
        ("data/data_v5.mat", "FMT007"),
        ("data/data_v5_compressed.mat", "FMT007"),
        ("data/w2v.bin", "FMT007"),
        ("data/sample.mp3", "FMT007"),
        ("orbax/std_ckpt/manifest.ocdbt", "FMT007"),
        (
            "orbax/std_ckpt/d/c163fafd8b1574582c136912e24cf876",
            "FMT007",
        ),
    ];
    for (rel, code) in expect {
        let report = common::scan_in_process(&data(rel));
        assert!(
            codes(&report).contains(&code),
            "{rel}: {:?}",
            codes(&report)
        );
    }
    assert_eq!(
        common::scan_in_process(&data("onnx/ort/net.ort")).format,
        "ort"
    );
    assert_eq!(
        common::scan_in_process(&data("data/params.msgpack")).format,
        "msgpack"
    );
    // The pt2 archive: read by the strict reader too, its weights known by the model's
    // configuration.
    let pt2 = common::scan_in_process(&data("torch/pt2/exported.pt2"));
    assert!(pt2.findings.is_empty(), "{:?}", codes(&pt2));
}

#[test]
fn tampered_tensorflow_files_are_not_vouched_for() {
    let dir = copy_of("tf/tfckpt");
    let shard = dir.path().join("ckpt-1.data-00000-of-00001");
    // Bytes appended after the last tensor.
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes.extend(b"\x80\x04payload");
    std::fs::write(&shard, &bytes).unwrap();
    let report = common::scan_in_process(&shard);
    assert_eq!(codes(&report), ["TFG007"]);
    assert_eq!(report.verdict, Verdict::Suspicious);
    // Cut short: a tensor runs past the end.
    std::fs::write(&shard, &bytes[..100]).unwrap();
    assert_eq!(codes(&common::scan_in_process(&shard)), ["TFG007"]);
    // Without its index it is unknown content again.
    std::fs::remove_file(dir.path().join("ckpt-1.index")).unwrap();
    assert_eq!(codes(&common::scan_in_process(&shard)), ["FMT001"]);
    // A fingerprint without a SavedModel beside it is unknown too.
    let dir = copy_of("tf/tf_module_savedmodel");
    std::fs::remove_file(dir.path().join("saved_model.pb")).unwrap();
    let report = common::scan_in_process(&dir.path().join("fingerprint.pb"));
    assert_eq!(codes(&report), ["FMT001"]);
}

#[test]
fn archives_back_to_back_are_each_analysed() {
    // Without its `.metadata`, a shard of archives back to back is a finding.
    let dir = copy_of("torch/dcp_ckpt");
    std::fs::remove_file(dir.path().join(".metadata")).unwrap();
    let shard = dir.path().join("__0_0.distcp");
    let report = common::scan_in_process(&shard);
    assert_eq!(codes(&report), ["ARC013"]);
    // A malicious checkpoint appended to a real shard is analysed as the archive it is.
    let dir = copy_of("torch/dcp_ckpt");
    let shard = dir.path().join("__0_0.distcp");
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes.extend(std::fs::read(common::sample("malicious/torch_zip_payload.pt")).unwrap());
    std::fs::write(&shard, &bytes).unwrap();
    let report = common::scan_in_process(&shard);
    assert_eq!(report.verdict, Verdict::Malicious, "{:?}", codes(&report));
    assert!(codes(&report).contains(&"PKL001"));
}

#[test]
fn tampered_data_files_stay_unknown() {
    let dir = tempfile::tempdir().unwrap();
    for rel in [
        "data/data_v4.mat",
        "data/data_v5.mat",
        "data/w2v.bin",
        "orbax/std_ckpt/manifest.ocdbt",
    ] {
        let mut bytes = std::fs::read(data(rel)).unwrap();
        bytes.extend(b"\x80\x04trailing");
        let path = dir.path().join("tampered");
        std::fs::write(&path, &bytes).unwrap();
        let report = common::scan_in_process(&path);
        assert!(
            !codes(&report).contains(&"FMT007") && report.verdict != Verdict::Clean,
            "{rel}: {:?}",
            codes(&report)
        );
    }
    // One flipped byte breaks an OCDBT file's checksum.
    let mut bytes = std::fs::read(data("orbax/std_ckpt/manifest.ocdbt")).unwrap();
    bytes[20] ^= 1;
    let path = dir.path().join("manifest.ocdbt");
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(codes(&common::scan_in_process(&path)), ["FMT001"]);
}

#[test]
fn an_ort_model_with_a_custom_domain_is_reported() {
    let bytes = std::fs::read(data("onnx/ort/net.ort")).unwrap();
    let needle = b"\x13\x00\x00\x00com.microsoft.nchwc\x00";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let mut evil = bytes.clone();
    evil[at + 4..at + 4 + 19].copy_from_slice(b"com.example.evilops");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.ort");
    std::fs::write(&path, &evil).unwrap();
    let report = common::scan_in_process(&path);
    assert_eq!(codes(&report), ["ONX005"]);
    // Cut anywhere, it never panics.
    for cut in (0..bytes.len()).step_by(97) {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let _ = common::scan_in_process(&path);
    }
}

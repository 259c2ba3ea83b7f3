//! Framework formats written by the real libraries (tests/data/framework/, made by
//! scripts/framework_reference.py or copied from PyPI wheels): ordinary files are clean with no
//! finding above info, a real Lambda layer is suspicious (never malicious), and hostile HDF5
//! files written by h5py itself are malicious.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn data(sub: &str) -> PathBuf {
    common::repo().join("tests/data/framework").join(sub)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e != "md"))
        .collect();
    out.sort();
    out
}

fn scan(path: &Path) -> Value {
    let (_, report) = common::scan_json(&[path], &[]);
    common::artifacts(&report)[0].clone()
}

fn above_info(artifact: &Value) -> Vec<String> {
    artifact["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(|f| format!("{} {}", f["rule_id"], f["message"]))
        .collect()
}

#[test]
fn ordinary_keras_hdf5_and_tflite_files_are_clean() {
    let mut checked = 0;
    for dir in ["", "tflite", "torchscript"] {
        for path in files(&data(dir)) {
            let artifact = scan(&path);
            assert_eq!(
                artifact["verdict"],
                "clean",
                "{}: {:?}",
                path.display(),
                above_info(&artifact)
            );
            assert!(above_info(&artifact).is_empty(), "{}", path.display());
            assert!(
                !artifact["models"].as_array().unwrap().is_empty(),
                "{}: no model summary",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 13, "{checked}");
}

#[test]
fn keras_archives_are_labelled_and_summarised() {
    let artifact = scan(&data("keras3_functional_shared.keras"));
    assert_eq!(artifact["format"], "keras");
    let models = artifact["models"].as_array().unwrap();
    let keras = models.iter().find(|m| m["format"] == "keras").unwrap();
    assert_eq!(keras["entry"], "Functional");
    assert_eq!(keras["histogram"]["Dense"], 3);
    let legacy = scan(&data("keras3_legacy.h5"));
    let h5 = &legacy["models"][0];
    assert_eq!(h5["format"], "hdf5");
    assert_eq!(h5["version"], "3.12.0");
    assert_eq!(h5["entry"], "Sequential");
}

#[test]
fn every_superblock_version_is_read() {
    for (file, groups) in [
        ("h5py_earliest.h5", 4),
        ("h5py_v108.h5", 4),
        ("h5py_v110.h5", 4),
        ("h5py_latest.h5", 4),
    ] {
        let artifact = scan(&data(file));
        let h = &artifact["models"][0]["histogram"];
        assert_eq!(h["groups"], groups, "{file}: {h}");
        // 2 + 20 datasets, and the 20 attributes of /many beside 3 others (dense storage in
        // the newer layouts).
        assert_eq!(h["datasets"], 22, "{file}: {h}");
        assert_eq!(h["attributes"], 23, "{file}: {h}");
    }
}

#[test]
fn a_real_lambda_is_suspicious_not_malicious() {
    for path in files(&data("lambda")) {
        let artifact = scan(&path);
        assert_eq!(artifact["verdict"], "suspicious", "{}", path.display());
        let rules: Vec<&str> = artifact["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule_id"].as_str().unwrap())
            .collect();
        assert!(rules.contains(&"KRS001"), "{}: {rules:?}", path.display());
        let lambda = artifact["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule_id"] == "KRS001")
            .unwrap();
        assert!(lambda["evidence"].as_str().unwrap().contains("<lambda>"));
    }
}

#[test]
fn hostile_hdf5_written_by_h5py_is_malicious() {
    for path in files(&data("attacks")) {
        let artifact = scan(&path);
        assert_eq!(
            artifact["verdict"],
            "malicious",
            "{}: {}",
            path.display(),
            artifact["findings"]
        );
        let finding = artifact["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule_id"] == "H5F002")
            .unwrap_or_else(|| panic!("{}: no H5F002", path.display()));
        let evidence = finding["evidence"].as_str().unwrap();
        assert!(
            evidence.contains("/etc/") || evidence.contains("../../secret"),
            "{}: {evidence}",
            path.display()
        );
    }
}

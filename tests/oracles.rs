//! Differential oracles: real readers (CPython's `zipfile` and `tarfile`, and a port of miniz's
//! central-directory rule as PyTorch vendors it, all in `tests/oracle/readers.py`; numpy's header
//! reader when numpy is installed) read every sample, every file of the shared corpus and a
//! seeded set of mutated archives. Every member any of them reads must be one the scanner
//! analysed, byte for byte: its SHA-256 must be among the report's `members[].sha256`.
//! Skipped (with a message) when `python3` is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use quarantine::Config;
use serde_json::Value;

fn python() -> Option<Command> {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then(|| {
        let mut c = Command::new("python3");
        c.arg(common::repo().join("tests/oracle/readers.py"));
        c
    })
}

/// (path, reader) -> member digests, and readers' refusals.
fn oracle(files: &[PathBuf]) -> Vec<Value> {
    let mut lines = Vec::new();
    for chunk in files.chunks(200) {
        let Some(mut cmd) = python() else {
            return lines;
        };
        let output = cmd
            .arg("read")
            .args(chunk)
            .output()
            .expect("run readers.py");
        assert!(
            output.status.success(),
            "readers.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            lines.push(serde_json::from_str(line).expect("readers.py JSON line"));
        }
    }
    lines
}

/// Digests of everything the scanner analysed in `path` (the file itself and every member at any
/// depth), and the report's findings as `rule: message` lines for failure messages.
fn scanned(path: &Path, config: &Config) -> (HashSet<String>, Vec<String>) {
    let report = quarantine::scan::scan_file(path, &path.display().to_string(), config);
    let mut digests: HashSet<String> = report.members.iter().map(|m| m.sha256.clone()).collect();
    digests.extend(report.sha256.clone());
    let findings = report
        .findings
        .iter()
        .map(|f| format!("{}: {}", f.rule_id.code(), f.message))
        .collect();
    (digests, findings)
}

struct Score {
    archives: usize,
    members: usize,
    missed: Vec<String>,
}

fn compare(files: &[PathBuf], config: &Config) -> Score {
    let lines = oracle(files);
    let mut by_path: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for line in &lines {
        by_path
            .entry(line["path"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(line);
    }
    let mut score = Score {
        archives: 0,
        members: 0,
        missed: Vec::new(),
    };
    for (path, readings) in &by_path {
        let members: Vec<(&str, &Value)> = readings
            .iter()
            .filter(|r| r["reader"] != "npy")
            .flat_map(|r| {
                let reader = r["reader"].as_str().unwrap_or_default();
                r["members"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |m| (reader, m))
            })
            .filter(|(_, m)| m["size"].as_u64().is_some_and(|s| s > 0))
            .collect();
        if members.is_empty() {
            continue;
        }
        score.archives += 1;
        let (digests, findings) = scanned(Path::new(path), config);
        for (reader, m) in members {
            score.members += 1;
            let sha = m["sha256"].as_str().unwrap_or_default();
            if !digests.contains(sha) {
                score.missed.push(format!(
                    "{path}: {reader} reads `{}` ({} bytes, sha256 {sha}) but the scanner never analysed those bytes; findings: {findings:?}",
                    m["name"].as_str().unwrap_or_default(),
                    m["size"]
                ));
            }
        }
    }
    score
}

#[test]
fn every_member_a_real_reader_reads_is_analysed() {
    if python().is_none() {
        eprintln!("skipped: python3 not found");
        return;
    }
    let config = Config::default();
    let mut files = Vec::new();
    common::files_under(&common::repo().join("samples/benign"), &mut files);
    common::files_under(&common::repo().join("samples/malicious"), &mut files);
    let corpus = common::repo().join("../shared/corpus");
    let corpus_files = {
        let mut v = Vec::new();
        common::files_under(&corpus, &mut v);
        v
    };
    let mut sources = files.clone();
    sources.extend(corpus_files.iter().cloned());
    let samples = compare(&sources, &config);

    // Seeded mutations of every archive among them.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = python().expect("python3");
    let output = cmd
        .args(["mutate", "1913", "400"])
        .arg(dir.path())
        .args(&sources)
        .output()
        .expect("run readers.py mutate");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut mutated = Vec::new();
    common::files_under(dir.path(), &mut mutated);
    let mutants = compare(&mutated, &config);

    eprintln!(
        "oracle: {} sample/corpus archives ({} members read by zipfile, miniz or tarfile), {} mutated files ({} archives still readable, {} members): {} + {} members missed",
        sources.len(),
        samples.members,
        mutated.len(),
        mutants.archives,
        mutants.members,
        samples.missed.len(),
        mutants.missed.len()
    );
    let missed: Vec<_> = samples.missed.iter().chain(&mutants.missed).collect();
    assert!(
        missed.is_empty(),
        "members real readers read but the scanner did not analyse:\n{}",
        missed
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn numpy_header_reader_agrees_on_object_arrays() {
    // numpy is optional: the part runs only where it imports.
    let Some(mut probe) = python() else {
        eprintln!("skipped: python3 not found");
        return;
    };
    let _ = &mut probe;
    let has_numpy = Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_numpy {
        eprintln!("skipped: numpy is not installed");
        return;
    }
    let mut files = Vec::new();
    common::files_under(&common::repo().join("samples"), &mut files);
    files.retain(|p| std::fs::read(p).is_ok_and(|d| d.starts_with(b"\x93NUMPY")));
    let config = Config::default();
    for line in oracle(&files) {
        if line["reader"] != "npy" || line["members"].as_array().is_none_or(|m| m.is_empty()) {
            continue;
        }
        let path = Path::new(line["path"].as_str().unwrap_or_default());
        let object = line["members"][0]["object"].as_bool().unwrap_or(false);
        let report = quarantine::scan::scan_file(path, "t", &config);
        if object {
            // numpy unpickles the body: the scanner must have analysed it as a pickle.
            let pickled = report.findings.iter().all(|f| f.rule_id.code() != "NPY001");
            assert!(
                pickled,
                "{}: numpy reads an object array, the scanner calls the header malformed: {:?}",
                path.display(),
                report.findings
            );
        }
    }
}

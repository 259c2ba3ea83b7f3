//! Long-tail formats of issue 16 written by their real writers (or, where the writer does not
//! install from PyPI, hand-written from the specification), under `tests/data/<format>/`:
//! ordinary files are clean with no finding above `info` and are named by their layout.
//! TorchServe archives: scripts/torchserve_reference.py (torch-model-archiver 0.12.0).
//! ExecuTorch programs: the real exporter needs torch and executorch (hundreds of MB, not
//! installed here); they are covered by the spec-built samples (samples/gen_executorch.py).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::{Path, PathBuf};

use quarantine::model::finding::{ArtifactReport, Severity};
use quarantine::{Config, Verdict};

fn files(sub: &str) -> Vec<PathBuf> {
    let dir = common::repo().join("tests/data").join(sub);
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

fn scan(path: &Path) -> ArtifactReport {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    quarantine::scan::scan_file(path, &name, &Config::default())
}

/// Every file under `tests/data/<sub>/` is clean, no finding above info, and reported as
/// `format`; returns how many there were.
fn all_clean(sub: &str, format: &str) -> usize {
    let paths = files(sub);
    for path in &paths {
        let report = scan(path);
        let loud: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
            .map(|f| format!("{} {} {:?}", f.rule_id, f.message, f.evidence))
            .collect();
        assert_eq!(
            report.verdict,
            Verdict::Clean,
            "{}: {loud:?}",
            path.display()
        );
        assert!(loud.is_empty(), "{}: {loud:?}", path.display());
        assert_eq!(report.format, format, "{}", path.display());
    }
    paths.len()
}

#[test]
fn torch_model_archiver_archives_are_clean() {
    assert_eq!(all_clean("torchserve", "torchserve"), 3);
}

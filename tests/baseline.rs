//! `quarantine scan --baseline previous.json`, end to end with the binary: only new findings
//! are reported and decide the verdict and exit code; the report says how many were left out.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::Path;

use common::{artifacts, bin, code, parse, repo};

fn copy(sample: &str, to: &Path) {
    std::fs::copy(repo().join(sample), to).unwrap();
}

fn scan(dir: &Path, extra: &[&str]) -> std::process::Output {
    bin()
        .args(["scan", "--no-policy"])
        .args(extra)
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn only_new_findings_are_reported_and_decide() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    std::fs::create_dir(&models).unwrap();
    copy(
        "samples/malicious/unknown_global_mylib.pkl",
        &models.join("a.pkl"),
    );
    copy(
        "samples/benign/linear.safetensors",
        &models.join("b.safetensors"),
    );

    // The first run: suspicious, and its JSON report becomes the baseline.
    let first = scan(&models, &["--format", "json"]);
    assert_eq!(code(&first), 1);
    let previous = tmp.path().join("previous.json");
    std::fs::write(&previous, &first.stdout).unwrap();
    let known = parse(&first)["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["findings"].as_array().unwrap().len())
        .sum::<usize>();
    assert!(known > 0);

    // Same files, moved elsewhere: nothing new, clean, exit 0, and the count is reported.
    let moved = tmp.path().join("moved");
    std::fs::rename(&models, &moved).unwrap();
    let baseline = ["--baseline", previous.to_str().unwrap()];
    let second = scan(&moved, &[&["--format", "json"][..], &baseline].concat());
    assert_eq!(
        code(&second),
        0,
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let report = parse(&second);
    assert_eq!(report["verdict"], "clean");
    assert_eq!(report["baseline"]["findings"], known as u64);
    assert_eq!(report["baseline"]["path"], previous.to_str().unwrap());
    for artifact in artifacts(&report) {
        assert!(artifact["findings"].as_array().unwrap().is_empty());
    }
    let text = scan(&moved, &[&["--color", "never"][..], &baseline].concat());
    assert_eq!(code(&text), 0);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains(&format!("{known} known finding")), "{text}");

    // A new malicious file: only its findings are reported, and they decide.
    copy(
        "samples/malicious/getattr_import_chain.pkl",
        &moved.join("new.pkl"),
    );
    let third = scan(&moved, &[&["--format", "json"][..], &baseline].concat());
    assert_eq!(code(&third), 1);
    let report = parse(&third);
    assert_eq!(report["verdict"], "malicious");
    assert_eq!(report["summary"]["malicious"], 1);
    assert_eq!(report["summary"]["suspicious"], 0);
    let with_findings: Vec<&str> = artifacts(&report)
        .iter()
        .filter(|a| !a["findings"].as_array().unwrap().is_empty())
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    assert_eq!(with_findings.len(), 1);
    assert!(with_findings[0].ends_with("new.pkl"));

    // SARIF leaves known findings out too; a file that is no report is a usage error.
    let sarif = scan(&moved, &[&["--format", "sarif"][..], &baseline].concat());
    let sarif = parse(&sarif);
    assert_eq!(
        sarif["runs"][0]["properties"]["baseline"]["findings"],
        known as u64
    );
    let not_a_report = tmp.path().join("x.json");
    std::fs::write(&not_a_report, "{}").unwrap();
    let bad = scan(&moved, &["--baseline", not_a_report.to_str().unwrap()]);
    assert_eq!(code(&bad), 2);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a quarantine JSON report"));
}

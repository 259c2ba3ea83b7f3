//! Differential oracle: CPython's own unpickler (`tests/pickle_oracle.py`, stdlib only;
//! `find_class` and `persistent_load` return inert recorders, so nothing of the pickle's
//! choosing is imported or called) lists the globals the real loader requests; the analyser
//! must report every one of them. Run over every sample, the shared corpus when present, and a
//! seeded set of streams mutated with operand, memo and frame tricks. Skipped without python3.
//!
//! "Reports" is checked by denying exactly the requested names (`--deny-global`): each must
//! then come back as a PKL001 finding naming it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use quarantine::{Config, RuleId};
use serde_json::Value;

/// Mutated streams written per run (fixed seed: the same streams every time).
const MUTANTS: usize = 600;
const SEED: u64 = 12;

fn python() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// (file, [(module, name)]) for every file the oracle read.
fn oracle(args: &[String]) -> Vec<(PathBuf, Vec<(String, String)>)> {
    let output = Command::new("python3")
        .arg(common::repo().join("tests/pickle_oracle.py"))
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("oracle JSON line");
            let globals = v["globals"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    (
                        g[0].as_str().unwrap().to_owned(),
                        g[1].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            (PathBuf::from(v["file"].as_str().unwrap()), globals)
        })
        .collect()
}

/// The requested globals the analyser does not report as denied when told to deny them.
fn missed(path: &Path, globals: &[(String, String)]) -> Vec<String> {
    let wanted: Vec<String> = globals.iter().map(|(m, n)| format!("{m}.{n}")).collect();
    let config = Config {
        deny_globals: wanted.clone(),
        ..Config::default()
    };
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let report = quarantine::scan::scan_file(path, &name, &config);
    let mut out = Vec::new();
    for global in wanted {
        let quoted = format!("`{global}`");
        let seen = report.findings.iter().any(|f| {
            f.rule_id == RuleId::PickleDeniedGlobal
                && (f.message.contains(&quoted)
                    || f.evidence.as_deref().is_some_and(|e| e.contains(&global)))
        });
        if !seen && !out.contains(&global) {
            out.push(global);
        }
    }
    out
}

#[test]
fn analyser_reports_every_global_cpython_requests() {
    if !python() {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let repo = common::repo();
    let mut files = Vec::new();
    files_under(&repo.join("samples/benign"), &mut files);
    files_under(&repo.join("samples/malicious"), &mut files);
    files_under(&repo.join("tests/data/pickle-real"), &mut files);
    let corpus = repo.join("../shared/corpus");
    files_under(&corpus, &mut files);
    let mut args = vec!["globals".to_owned()];
    args.extend(files.iter().map(|p| p.to_string_lossy().into_owned()));
    let mut read = oracle(&args);

    let seeds: Vec<String> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pkl"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "mutate".to_owned(),
        SEED.to_string(),
        MUTANTS.to_string(),
        dir.path().to_string_lossy().into_owned(),
    ];
    args.extend(seeds);
    let mutants = oracle(&args);
    let mutant_count = mutants.len();
    read.extend(mutants);

    let (mut streams, mut requested, mut failures) = (0usize, 0usize, Vec::new());
    for (path, globals) in &read {
        if globals.is_empty() {
            continue;
        }
        streams += 1;
        requested += globals.len();
        let missing = missed(path, globals);
        if !missing.is_empty() {
            failures.push(format!("{}: {}", path.display(), missing.join(", ")));
        }
    }
    println!(
        "oracle: {} files read ({mutant_count} mutants), {streams} with globals, {requested} globals requested, {} disagreements",
        read.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "globals CPython requests that the analyser does not report ({}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

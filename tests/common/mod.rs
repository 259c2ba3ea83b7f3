//! Helpers shared by the integration tests: run the real binary and read its JSON report.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quarantine"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `samples/`, by its path there (`benign/plain_data_protocol2.pkl`).
pub fn sample(rel: &str) -> PathBuf {
    repo().join("samples").join(rel)
}

/// The regular files directly in `dir`, sorted by name.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read the directory")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Every regular file under `dir`, depth first, each folder sorted by name, appended to `out`
/// (nothing when `dir` cannot be read).
pub fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_under(&path, out);
        } else if path.is_file() {
            out.push(path);
        }
    }
}

/// The findings of a report above `info`, one line each (rule, message, evidence), for
/// assertions that ordinary files are quiet.
pub fn above_info(report: &quarantine::model::finding::ArtifactReport) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.severity > quarantine::model::finding::Severity::Info)
        .map(|f| format!("{} {} {:?}", f.rule_id, f.message, f.evidence))
        .collect()
}

/// Scans `path` in this process with the default settings, named by its file name.
pub fn scan_in_process(path: &Path) -> quarantine::model::finding::ArtifactReport {
    let name = path
        .file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned();
    quarantine::scan::scan_file(path, &name, &quarantine::Config::default())
}

/// Scans `path` in this process and asserts that it is clean with no finding above `info`, as
/// a file written by a real library in ordinary use must be; returns the report.
pub fn scan_quiet(path: &Path) -> quarantine::model::finding::ArtifactReport {
    let report = scan_in_process(path);
    let loud = above_info(&report);
    assert_eq!(
        report.verdict,
        quarantine::Verdict::Clean,
        "{}: {loud:?}",
        path.display()
    );
    assert!(loud.is_empty(), "{}: {loud:?}", path.display());
    report
}

/// Runs `quarantine scan --format json` on `paths` and returns the exit code and parsed report.
pub fn scan_json(paths: &[&Path], extra: &[&str]) -> (i32, Value) {
    let output = bin()
        .arg("scan")
        .arg("--format")
        .arg("json")
        .args(extra)
        .args(paths)
        .output()
        .expect("run quarantine");
    (code(&output), parse(&output))
}

pub fn code(output: &Output) -> i32 {
    output.status.code().expect("exit code")
}

pub fn parse(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The artifacts of a report, keyed by path.
pub fn artifacts(report: &Value) -> &Vec<Value> {
    report["artifacts"].as_array().expect("artifacts array")
}

/// Checks that the part of the README between `<!-- {marker}:begin -->` and
/// `<!-- {marker}:end -->` is `generated`; with `BLESS` set, rewrites it instead.
pub fn readme_part_is(marker: &str, generated: &str, bless_with: &str) {
    let begin = format!("<!-- {marker}:begin -->\n");
    let end_marker = format!("<!-- {marker}:end -->");
    let path = repo().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme.find(&begin).expect("begin marker") + begin.len();
    let end = readme.find(&end_marker).expect("end marker");
    if std::env::var_os("BLESS").is_some() {
        let updated = format!("{}{}{}", &readme[..start], generated, &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        readme[start..end] == *generated,
        "README's {marker} part is stale: run `BLESS=1 {bless_with}`"
    );
}

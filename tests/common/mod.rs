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

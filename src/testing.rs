//! Helpers for unit tests: scan bytes through the whole engine and look at the rule ids found.

use std::path::Path;

use crate::config::Config;
use crate::model::finding::{ArtifactReport, Severity};

pub(crate) const PICKLE: &[u8] = b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.";

pub(crate) fn scan_with(data: &[u8], config: &Config) -> ArtifactReport {
    crate::scan::scan_bytes(data, Path::new("t"), "t", config)
}

pub(crate) fn scan(data: &[u8]) -> ArtifactReport {
    scan_with(data, &Config::default())
}

/// Every finding's rule id, in report order.
pub(crate) fn codes(report: &ArtifactReport) -> Vec<&str> {
    report.findings.iter().map(|f| f.rule_id.code()).collect()
}

/// Rule ids above `info`, sorted, leaving out the pickle engine's findings on member content
/// (a container test asserts what the container reported).
pub(crate) fn container_codes(report: &ArtifactReport) -> Vec<&str> {
    let mut codes: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .map(|f| f.rule_id.code())
        .filter(|c| !c.starts_with("PKL"))
        .collect();
    codes.sort_unstable();
    codes
}

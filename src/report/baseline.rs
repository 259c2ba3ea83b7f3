//! `quarantine scan --baseline previous.json`: only findings that a previous JSON report did
//! not have are reported, and only they decide verdicts and the exit code.
//!
//! A finding is the same as one of the baseline when these agree (its baseline key):
//! the artifact's SHA-256 (the file's content, wherever it lies now), the rule id, the member
//! the finding is in (`location.member`), its byte offset (`location.offset`), its line
//! (`location.line`), and its evidence text (the evidence fingerprint: the key holds the
//! SHA-256 of all of these). The message and severity are not part of the key, so rewording a
//! rule or a severity override does not make old findings new; a changed file (another
//! SHA-256) has no baseline at all. Findings of an artifact without a digest (unreadable) are
//! never baselined.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::finding::{ArtifactReport, Finding};
use crate::zone::digest;

/// What the report says about the baseline applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineInfo {
    /// The previous report, as named on the command line.
    pub path: String,
    /// Findings left out of this report because the baseline has them.
    pub findings: u64,
}

/// The keys of every finding of a previous report.
#[derive(Debug, Default)]
pub struct Baseline {
    pub path: String,
    keys: HashSet<[u8; 32]>,
}

fn key(
    sha256: &str,
    rule: &str,
    member: Option<&str>,
    offset: Option<u64>,
    line: Option<u64>,
    evidence: Option<&str>,
) -> [u8; 32] {
    // Each part is length-prefixed, so no two different keys can join to the same text.
    let mut text = String::new();
    for part in [
        Some(sha256.to_ascii_lowercase()),
        Some(rule.to_owned()),
        member.map(str::to_owned),
        offset.map(|o| o.to_string()),
        line.map(|l| l.to_string()),
        evidence.map(str::to_owned),
    ] {
        match part {
            Some(p) => text.push_str(&format!("{}:{p}\n", p.len())),
            None => text.push_str("-\n"),
        }
    }
    digest::sha256(text.as_bytes())
}

fn finding_key(sha256: &str, finding: &Finding) -> [u8; 32] {
    let rule = finding.rule_id.to_string();
    key(
        sha256,
        &rule,
        finding.location.member.as_deref(),
        finding.location.offset,
        finding.location.line,
        finding.evidence.as_deref(),
    )
}

impl Baseline {
    /// Reads a JSON report written by `quarantine scan --format json` (or `merge`).
    pub fn load(path: &Path) -> Result<Baseline, String> {
        let shown = path.display().to_string();
        let text = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let document: Value = serde_json::from_slice(&text)
            .map_err(|e| format!("{shown} is not a JSON report: {e}"))?;
        Baseline::from_report(&document, shown)
    }

    pub fn from_report(document: &Value, path: String) -> Result<Baseline, String> {
        let not_report =
            |why: &str| format!("{path} is not a quarantine JSON report (--format json): {why}");
        if document.get("schema_version").and_then(Value::as_u64) != Some(1) {
            return Err(not_report("no schema_version 1"));
        }
        let artifacts = document
            .get("artifacts")
            .and_then(Value::as_array)
            .ok_or_else(|| not_report("no artifacts list"))?;
        let mut keys = HashSet::new();
        for artifact in artifacts {
            let Some(sha256) = artifact.get("sha256").and_then(Value::as_str) else {
                continue;
            };
            let findings = artifact
                .get("findings")
                .and_then(Value::as_array)
                .ok_or_else(|| not_report("an artifact without a findings list"))?;
            for finding in findings {
                let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
                let location = finding.get("location");
                let field = |name: &str| location.and_then(|l| l.get(name));
                let rule = text(finding.get("rule_id"))
                    .ok_or_else(|| not_report("a finding without a rule_id"))?;
                keys.insert(key(
                    sha256,
                    &rule,
                    text(field("member")).as_deref(),
                    field("offset").and_then(Value::as_u64),
                    field("line").and_then(Value::as_u64),
                    text(finding.get("evidence")).as_deref(),
                ));
            }
        }
        Ok(Baseline { path, keys })
    }

    /// How many distinct findings the baseline holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Drops the findings of `report` that the baseline has and decides the verdict again from
    /// the new ones; returns how many were dropped.
    pub fn filter(&self, report: &mut ArtifactReport) -> u64 {
        let Some(sha256) = report.sha256.as_deref() else {
            return 0;
        };
        let before = report.findings.len();
        report
            .findings
            .retain(|f| !self.keys.contains(&finding_key(sha256, f)));
        let dropped = before - report.findings.len();
        if dropped > 0 {
            report.verdict = ArtifactReport::decide(&report.findings, report.error.as_deref());
        }
        dropped as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::finding::{Location, Verdict};
    use crate::model::rules::RuleId;

    fn finding(rule: RuleId, offset: u64, evidence: &str) -> Finding {
        let location = Location {
            path: "a/m.pkl".to_owned(),
            member: Some("archive/data.pkl".to_owned()),
            member_chain: vec!["archive/data.pkl".to_owned()],
            offset: Some(offset),
            line: None,
        };
        Finding::new(rule, location, "m".to_owned(), Some(evidence.to_owned()))
    }

    fn report(sha: &str, findings: Vec<Finding>) -> ArtifactReport {
        ArtifactReport {
            verdict: ArtifactReport::decide(&findings, None),
            findings,
            sha256: Some(sha.to_owned()),
            error: None,
            ..ArtifactReport::failed("m.pkl".to_owned(), String::new())
        }
    }

    #[test]
    fn known_findings_leave_and_new_ones_decide() {
        let old = report(
            "aa",
            vec![
                finding(RuleId::PickleDeniedGlobal, 10, "posix.system('x')"),
                finding(RuleId::PickleUnknownGlobal, 20, "lab.M()"),
            ],
        );
        let document = serde_json::json!({
            "schema_version": 1,
            "artifacts": [serde_json::to_value(&old).unwrap(), {"path": "x", "sha256": null, "findings": []}],
        });
        let baseline = Baseline::from_report(&document, "old.json".to_owned()).unwrap();
        assert_eq!(baseline.len(), 2);

        let mut same = old.clone();
        same.path = "elsewhere/m.pkl".to_owned();
        assert_eq!(baseline.filter(&mut same), 2);
        assert!(same.findings.is_empty());
        assert_eq!(same.verdict, Verdict::Clean);

        // Other evidence, offset, or file content: new.
        let mut changed = report(
            "aa",
            vec![
                finding(RuleId::PickleDeniedGlobal, 10, "posix.system('y')"),
                finding(RuleId::PickleUnknownGlobal, 21, "lab.M()"),
                finding(RuleId::PickleUnknownGlobal, 20, "lab.M()"),
            ],
        );
        assert_eq!(baseline.filter(&mut changed), 1);
        assert_eq!(changed.verdict, Verdict::Malicious);
        let mut other_file = report(
            "bb",
            vec![finding(RuleId::PickleUnknownGlobal, 20, "lab.M()")],
        );
        assert_eq!(baseline.filter(&mut other_file), 0);
        assert_eq!(other_file.verdict, Verdict::Suspicious);
    }

    #[test]
    fn what_is_not_a_report_is_an_error() {
        for document in [
            serde_json::json!({"artifacts": []}),
            serde_json::json!({"schema_version": 1}),
            serde_json::json!({"schema_version": 1, "artifacts": [{"sha256": "aa"}]}),
            serde_json::json!([1, 2]),
        ] {
            let err = Baseline::from_report(&document, "x.json".to_owned()).unwrap_err();
            assert!(err.contains("x.json"), "{err}");
        }
    }
}

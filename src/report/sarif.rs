//! SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning accepts it).
//!
//! One `reportingDescriptor` per rule id: every rule of the registry, then any other id a
//! finding carries (signature rules), described from the finding itself. Results point at the
//! artifact by its path relative to the scan root (`%SRCROOT%`); the member chain is a logical
//! location and, with the offset, part of the message. Artifacts whose scan could not finish
//! are tool execution notifications, and the invocation is then not successful.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{Value, json};

use super::{RunInfo, Scanned};
use crate::model::finding::{Finding, Severity, Verdict};
use crate::model::rules::RuleId;
use crate::zone::digest;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Where each rule's README section lives (`Cargo.toml`'s `repository`); no `helpUri` without it.
const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

/// GitHub's scale: 9.0+ critical, 7.0+ high, 4.0+ medium, above 0 low.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// The anchor GitHub gives the heading `### PKL001 pickle-denied-global`.
fn help_uri(code: &str, name: &str) -> Option<String> {
    (!REPOSITORY.is_empty()).then(|| {
        format!(
            "{}#{}-{}",
            REPOSITORY.trim_end_matches('/'),
            code.to_ascii_lowercase(),
            name
        )
    })
}

/// A relative path as a URI reference: bytes other than unreserved characters and `/` are
/// percent-encoded (a space, `#` or `%` in a file name would otherwise change its meaning).
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn registry_descriptor(rule: RuleId) -> Value {
    let info = rule.info();
    let mut descriptor = json!({
        "id": info.code,
        "name": info.name,
        "shortDescription": {"text": info.summary},
        "fullDescription": {"text": info.explanation},
        "help": {
            "text": format!("{}\n\nFix: {}", info.explanation, info.remediation),
            "markdown": format!("{}\n\n**Fix:** {}", info.explanation, info.remediation),
        },
        "defaultConfiguration": {"level": level(info.severity)},
        "properties": {
            "security-severity": security_severity(info.severity),
            "tags": ["security"],
            "precision": "high",
            "verdict": Verdict::from(info.implies).as_str(),
        },
    });
    if let (Some(uri), Some(object)) = (help_uri(info.code, info.name), descriptor.as_object_mut())
    {
        object.insert("helpUri".to_owned(), Value::String(uri));
    }
    descriptor
}

/// A rule the registry does not know (a signature rule), described by one of its findings.
fn finding_descriptor(id: &str, finding: &Finding) -> Value {
    json!({
        "id": id,
        "shortDescription": {"text": finding.message},
        "help": {"text": format!("Fix: {}", finding.remediation)},
        "defaultConfiguration": {"level": level(finding.severity)},
        "properties": {
            "security-severity": security_severity(finding.severity),
            "tags": ["security"],
        },
    })
}

fn result(item: &Scanned, finding: &Finding, rule_index: usize) -> Value {
    let id = finding.rule_id.to_string();
    let location = &finding.location;
    let mut text = finding.message.clone();
    if let Some(member) = &location.member {
        text.push_str(&format!(" (in member {member}"));
        if let Some(offset) = location.offset {
            text.push_str(&format!(" at byte {offset}"));
        }
        text.push(')');
    } else if let Some(offset) = location.offset {
        text.push_str(&format!(" (at byte {offset})"));
    }
    if let Some(evidence) = &finding.evidence {
        text.push_str(&format!(". Evidence: {evidence}"));
    }
    let mut physical = json!({
        "artifactLocation": {"uri": uri(&item.relative_path), "uriBaseId": "%SRCROOT%"},
    });
    if let (None, Some(offset), Some(object)) =
        (&location.member, location.offset, physical.as_object_mut())
    {
        object.insert("region".to_owned(), json!({"byteOffset": offset}));
    }
    let mut locations = json!({"physicalLocation": physical});
    if let (Some(member), Some(object)) = (&location.member, locations.as_object_mut()) {
        object.insert(
            "logicalLocations".to_owned(),
            json!([{"fullyQualifiedName": member, "kind": "member"}]),
        );
    }
    let fingerprint = digest::sha256_hex(
        format!(
            "{id}\n{}\n{}\n{:?}\n{}",
            item.relative_path,
            location.member.as_deref().unwrap_or(""),
            location.offset,
            finding.evidence.as_deref().unwrap_or(&finding.message)
        )
        .as_bytes(),
    );
    json!({
        "ruleId": id,
        "ruleIndex": rule_index,
        "level": level(finding.severity),
        "message": {"text": text},
        "locations": [locations],
        "partialFingerprints": {"quarantineFinding/v1": fingerprint},
        "properties": {
            "severity": finding.severity.as_str(),
            "verdict": Verdict::from(finding.verdict).as_str(),
            "artifactVerdict": item.report.verdict.as_str(),
            "sha256": item.report.sha256,
        },
    })
}

pub fn write(out: &mut dyn Write, items: &[Scanned], info: &RunInfo) -> io::Result<()> {
    let mut rules: Vec<Value> = RuleId::ALL
        .iter()
        .map(|r| registry_descriptor(*r))
        .collect();
    let mut index: BTreeMap<String, usize> = RuleId::ALL
        .iter()
        .enumerate()
        .map(|(i, r)| (r.to_string(), i))
        .collect();
    let mut results = Vec::new();
    let mut notifications = Vec::new();
    for item in items {
        for finding in &item.report.findings {
            let id = finding.rule_id.to_string();
            let rule_index = *index.entry(id.clone()).or_insert_with(|| {
                rules.push(finding_descriptor(&id, finding));
                rules.len() - 1
            });
            results.push(result(item, finding, rule_index));
        }
        if let Some(error) = &item.report.error {
            notifications.push(json!({
                "level": "error",
                "message": {"text": format!("{}: scan could not finish: {error}", item.report.path)},
                "locations": [{"physicalLocation": {"artifactLocation":
                    {"uri": uri(&item.relative_path), "uriBaseId": "%SRCROOT%"}}}],
            }));
        }
    }
    let mut driver = json!({
        "name": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
        "semanticVersion": env!("CARGO_PKG_VERSION"),
        "rules": rules,
    });
    if let (false, Some(object)) = (REPOSITORY.is_empty(), driver.as_object_mut()) {
        object.insert("informationUri".to_owned(), json!(REPOSITORY));
    }
    let document = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": driver},
            "invocations": [{
                "executionSuccessful": notifications.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
            "properties": {
                "policy": info.policy,
                "shard": info.shard.map(|s| s.to_string()),
            },
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_become_uri_references() {
        assert_eq!(super::uri("models/a b#1%.pt"), "models/a%20b%231%25.pt");
        assert_eq!(super::uri("dé.bin"), "d%C3%A9.bin");
    }
}

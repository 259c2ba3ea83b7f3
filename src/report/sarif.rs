//! SARIF 2.1.0 for GitHub code scanning (and other dashboards).
//!
//! One `reportingDescriptor` per rule: every rule of the registry and every signature rule
//! loaded (help text and markdown from the registry, `helpUri` into `docs/rules.md` when its
//! address is known), then any other id a finding carries. Results point at the artifact by a
//! URI relative to the repository root (`%SRCROOT%`, declared in `originalUriBaseIds`): the
//! git work tree around the current directory, or `--sarif-root`. Every result has a region:
//! the line of a match in a text file, else line 1 of the (binary) artifact, with the byte
//! offset when there is one. The member chain is a logical location and part of the message.
//! Artifacts whose scan could not finish are tool execution notifications, and the invocation
//! is then not successful.
//!
//! GitHub's ingestion rules (as its documentation and the SARIF SDK's `GH10xx` checks state
//! them) are tested in `tests/pipeline.rs`: every result has a physical location with a
//! relative or `file:` URI and a `region.startLine`, messages are plain text, rules carry help,
//! `security-severity` is a number from 0 to 10, and arrays stay under GitHub's limits.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use serde_json::{Value, json};

use super::rules_doc;
use super::{RunInfo, Scanned};
use crate::model::finding::{Finding, Severity, Verdict};
use crate::model::rules::RuleId;
use crate::signatures::SignatureInfo;
use crate::zone::digest;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// What the SARIF report needs beyond the results.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// URIs are relative to this directory (absolute, canonical: links resolved).
    pub root: PathBuf,
    /// The signature rules of the run, described in `rules`.
    pub signatures: Vec<SignatureInfo>,
}

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

/// `path` made absolute against `cwd`, with `.` and `..` resolved by name (links are not
/// followed: the path the user gave is the one to show).
fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in cwd.join(path).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The artifact location of a report path: relative to `%SRCROOT%` when it lies below the root,
/// else an absolute `file:` URI.
fn artifact_location(root: &Path, cwd: &Path, path: &str) -> Value {
    let absolute = absolute(cwd, Path::new(path));
    let owned = |p: &Path| p.to_path_buf();
    let below: Option<PathBuf> = absolute.strip_prefix(root).map(owned).ok().or_else(|| {
        // The path as given may run through a link to the root (a symlinked checkout).
        std::fs::canonicalize(&absolute)
            .ok()
            .and_then(|c| c.strip_prefix(root).map(owned).ok())
    });
    match below {
        Some(relative) => {
            let relative: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            json!({"uri": uri(&relative.join("/")), "uriBaseId": "%SRCROOT%"})
        }
        None => json!({"uri": file_uri(&absolute, false)}),
    }
}

/// `file:///abs/path` (with a trailing `/` for a directory).
fn file_uri(path: &Path, dir: bool) -> String {
    let text = path.to_string_lossy();
    let mut out = format!("file://{}", uri(&text));
    if dir && !out.ends_with('/') {
        out.push('/');
    }
    out
}

fn registry_descriptor(rule: RuleId) -> Value {
    let info = rule.info();
    let (text, markdown) = rules_doc::builtin_help(rule);
    let mut descriptor = json!({
        "id": info.code,
        "name": info.name,
        "shortDescription": {"text": info.summary},
        "fullDescription": {"text": info.explanation},
        "help": {"text": text, "markdown": markdown},
        "defaultConfiguration": {"level": level(info.severity)},
        "properties": {
            "security-severity": security_severity(info.severity),
            "tags": ["security"],
            "precision": "high",
            "verdict": Verdict::from(info.implies).as_str(),
        },
    });
    if let (Some(uri), Some(object)) = (
        rules_doc::help_uri(info.code, Some(info.name)),
        descriptor.as_object_mut(),
    ) {
        object.insert("helpUri".to_owned(), Value::String(uri));
    }
    descriptor
}

fn signature_descriptor(rule: &SignatureInfo) -> Value {
    let id = rule.id.to_string();
    let (text, markdown) = rules_doc::signature_help(rule);
    let summary = rule
        .description
        .clone()
        .unwrap_or_else(|| format!("signature rule {}.{}", rule.namespace, rule.name));
    let mut descriptor = json!({
        "id": id,
        "name": format!("{}.{}", rule.namespace, rule.name),
        "shortDescription": {"text": summary},
        "fullDescription": {"text": summary},
        "help": {"text": text, "markdown": markdown},
        "defaultConfiguration": {"level": level(rule.severity)},
        "properties": {
            "security-severity": security_severity(rule.severity),
            "tags": ["security", "signature"],
            "precision": "high",
            "verdict": Verdict::from(rule.implies).as_str(),
            "origins": rule.origins,
        },
    });
    if let (Some(uri), Some(object)) = (rules_doc::help_uri(&id, None), descriptor.as_object_mut())
    {
        object.insert("helpUri".to_owned(), Value::String(uri));
    }
    descriptor
}

/// A rule neither the registry nor the run's signatures know (from a merged report), described
/// by one of its findings.
fn finding_descriptor(id: &str, finding: &Finding) -> Value {
    json!({
        "id": id,
        "shortDescription": {"text": finding.message},
        "help": {
            "text": format!("Fix: {}", finding.remediation),
            "markdown": format!("**Fix:** {}", finding.remediation),
        },
        "defaultConfiguration": {"level": level(finding.severity)},
        "properties": {
            "security-severity": security_severity(finding.severity),
            "tags": ["security"],
        },
    })
}

fn result(item: &Scanned, finding: &Finding, rule_index: usize, artifact: &Value) -> Value {
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
    // Line 1 of a binary artifact (or a member inside one), the match's line in a text file;
    // the byte offset in the file itself when there is one (of the first match, for a
    // signature).
    let mut region = json!({"startLine": location.line.unwrap_or(1)});
    if location.member.is_none()
        && let Some(offset) = location.offset
    {
        let within = finding
            .signature
            .as_ref()
            .and_then(|s| s.matches.first())
            .map_or(0, |m| m.offset);
        if let Some(object) = region.as_object_mut() {
            object.insert(
                "byteOffset".to_owned(),
                json!(offset.saturating_add(within)),
            );
        }
    }
    let physical = json!({"artifactLocation": artifact, "region": region});
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
    let mut result = json!({
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
    });
    // An accepted risk is what SARIF calls an external suppression: consumers show it as
    // suppressed, with the policy entry's reason as the justification.
    if let (Some(accepted), Some(object)) = (&finding.accepted, result.as_object_mut()) {
        let mut justification = format!(
            "{} (accepted by {} until {}, policy [[accept]] entry {})",
            accepted.reason, accepted.by, accepted.expires, accepted.entry
        );
        if accepted.allow_malicious {
            justification.insert_str(0, "ACCEPTED MALICIOUS FINDING (allow_malicious = true): ");
        }
        object.insert(
            "suppressions".to_owned(),
            json!([{"kind": "external", "status": "accepted", "justification": justification}]),
        );
        if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
            properties.insert("accepted".to_owned(), json!(accepted));
        }
    }
    result
}

pub fn write(
    out: &mut dyn Write,
    items: &[Scanned],
    info: &RunInfo,
    options: &Options,
) -> io::Result<()> {
    let cwd = std::env::current_dir()?;
    let mut rules: Vec<Value> = RuleId::ALL
        .iter()
        .map(|r| registry_descriptor(*r))
        .collect();
    rules.extend(options.signatures.iter().map(signature_descriptor));
    let mut index: BTreeMap<String, usize> = RuleId::ALL
        .iter()
        .map(ToString::to_string)
        .chain(options.signatures.iter().map(|s| s.id.to_string()))
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    let mut results = Vec::new();
    let mut notifications = Vec::new();
    for item in items {
        let artifact = artifact_location(&options.root, &cwd, &item.report.path);
        for finding in &item.report.findings {
            let id = finding.rule_id.to_string();
            let rule_index = *index.entry(id.clone()).or_insert_with(|| {
                rules.push(finding_descriptor(&id, finding));
                rules.len() - 1
            });
            results.push(result(item, finding, rule_index, &artifact));
        }
        if let Some(error) = &item.report.error {
            notifications.push(json!({
                "level": "error",
                "message": {"text": format!("{}: scan could not finish: {error}", item.report.path)},
                "locations": [{"physicalLocation": {"artifactLocation": artifact}}],
            }));
        }
    }
    let mut driver = json!({
        "name": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
        "semanticVersion": env!("CARGO_PKG_VERSION"),
        "rules": rules,
    });
    let repository = env!("CARGO_PKG_REPOSITORY");
    if let (false, Some(object)) = (repository.is_empty(), driver.as_object_mut()) {
        object.insert("informationUri".to_owned(), json!(repository));
    }
    let document = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": driver},
            "originalUriBaseIds": {
                "%SRCROOT%": {
                    "uri": file_uri(&options.root, true),
                    "description": {"text": "The repository root: artifact URIs are relative to it."},
                },
            },
            "invocations": [{
                "executionSuccessful": notifications.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
            "properties": {
                "policy": info.policy,
                "shard": info.shard.map(|s| s.to_string()),
                "baseline": info.baseline,
            },
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn paths_are_relative_to_the_root_when_below_it() {
        let root = Path::new("/repo");
        let cwd = Path::new("/repo/sub");
        let at = |p: &str| super::artifact_location(root, cwd, p);
        assert_eq!(at("models/bad.pt")["uri"], "sub/models/bad.pt");
        assert_eq!(at("models/bad.pt")["uriBaseId"], "%SRCROOT%");
        assert_eq!(at("../x/./y.bin")["uri"], "x/y.bin");
        assert_eq!(at("/elsewhere/a b.pt")["uri"], "file:///elsewhere/a%20b.pt");
        assert!(at("/elsewhere/a.pt").get("uriBaseId").is_none());
    }

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(super::uri("models/a b#1%.pt"), "models/a%20b%231%25.pt");
        assert_eq!(super::uri("dé.bin"), "d%C3%A9.bin");
    }
}

//! The admission attestation: an in-toto v1 statement whose subjects are the admitted files
//! (name and SHA-256, the same set the model signature lists) and whose predicate
//! ([`PREDICATE_TYPE`], [`Admission`]) records what was scanned, how, and the verdict. It is
//! signed exactly like the model signature (DSSE in a Sigstore bundle, same key).

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::oms::{Manifest, Resource, STATEMENT_TYPE};
use crate::policy::PolicySource;
use crate::report::json::Scanner;
use crate::report::{Scanned, Summary};
use crate::{Severity, Verdict};

pub const PREDICATE_TYPE: &str = "https://quarantine.invalid/attestation/admission/v1";
/// Version of the [`Admission`] predicate. Fields may be added; renaming or removing one bumps it.
pub const SCHEMA_VERSION: u32 = 1;

/// The admission predicate (schema in the README, "Formats of record").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Admission {
    pub schema_version: u32,
    /// RFC 3339, UTC, seconds.
    pub admitted_at: String,
    pub scanner: Scanner,
    pub model: ModelRecord,
    /// The worst verdict of every artifact scanned.
    pub verdict: Verdict,
    /// The policy's fail-on level at admission (`suspicious` or `malicious`).
    pub fail_on: String,
    pub policy: Option<PolicySource>,
    /// SHA-256 of the built-in rule registry, the pickle import tables and the signature rules'
    /// source hash: what the verdict was decided with.
    pub rules_sha256: String,
    /// `Config::fingerprint()` of the scan settings (the `--cache` key's settings part).
    pub config_fingerprint: String,
    pub summary: Summary,
    /// Findings per rule: how many, the worst severity, the verdict the rule implies.
    pub findings: Vec<RuleTally>,
    /// Every scanned artifact: path below the model, SHA-256, format, verdict, robustness grade.
    pub artifacts: Vec<ArtifactRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub name: String,
    /// `file` (a single-file model) or `directory`.
    pub kind: String,
    /// The absolute path admitted (where `quarantine admitted` looks for the files).
    pub path: String,
    /// The model signature's subject digest (SHA-256 over the file digests in order).
    pub root_sha256: String,
    pub files: u64,
    pub bytes: u64,
    pub allow_symlinks: bool,
    pub ignore_paths: Vec<String>,
    /// Where the model signature was written.
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleTally {
    pub rule_id: String,
    pub count: u64,
    pub severity: Severity,
    pub verdict: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    pub path: String,
    pub sha256: Option<String>,
    pub format: String,
    pub verdict: Verdict,
    pub findings: u64,
    /// The robustness probe's grade (`robust`, `brittle`…), when it ran.
    #[serde(default)]
    pub robustness: Option<String>,
}

/// Findings per rule over `items`, most frequent first.
pub fn tally_findings(items: &[Scanned]) -> Vec<RuleTally> {
    let mut by_rule: BTreeMap<String, RuleTally> = BTreeMap::new();
    for item in items {
        for f in &item.report.findings {
            let id = f.rule_id.to_string();
            let entry = by_rule.entry(id.clone()).or_insert(RuleTally {
                rule_id: id,
                count: 0,
                severity: f.severity,
                verdict: Verdict::from(f.verdict).as_str().to_owned(),
            });
            entry.count += 1;
            entry.severity = entry.severity.max(f.severity);
        }
    }
    let mut out: Vec<RuleTally> = by_rule.into_values().collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.rule_id.cmp(&b.rule_id)));
    out
}

pub fn artifact_records(items: &[Scanned]) -> Vec<ArtifactRecord> {
    items
        .iter()
        .map(|s| ArtifactRecord {
            path: s.relative_path.clone(),
            sha256: s.report.sha256.clone(),
            format: s.report.format.to_string(),
            verdict: s.report.verdict,
            findings: s.report.findings.len() as u64,
            robustness: s.report.robustness.as_ref().and_then(|r| {
                serde_json::to_value(r.grade)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
            }),
        })
        .collect()
}

/// The subject list: every file, named by its path below the model (the model's name for a
/// single-file model, whose one resource `model_signing` names `.`).
pub fn subjects(manifest: &Manifest) -> Vec<Value> {
    manifest
        .resources
        .iter()
        .map(|r| {
            let name = if r.name == "." {
                manifest.model_name.as_str()
            } else {
                r.name.as_str()
            };
            json!({"name": name, "digest": {"sha256": r.digest}})
        })
        .collect()
}

pub fn statement(manifest: &Manifest, admission: &Admission) -> Result<Value> {
    Ok(json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects(manifest),
        "predicateType": PREDICATE_TYPE,
        "predicate": serde_json::to_value(admission)?,
    }))
}

/// Reads a verified attestation statement: the predicate, and the files it names as a manifest.
pub fn parse(statement: &Value) -> Result<(Admission, Manifest)> {
    let predicate_type = statement["predicateType"].as_str().unwrap_or("");
    if predicate_type != PREDICATE_TYPE {
        bail!("not an admission attestation (predicate type `{predicate_type}`)");
    }
    let admission: Admission = serde_json::from_value(statement["predicate"].clone())
        .map_err(|e| anyhow::anyhow!("admission predicate: {e}"))?;
    if admission.schema_version > SCHEMA_VERSION {
        bail!(
            "admission predicate schema {} is newer than this quarantine reads ({SCHEMA_VERSION})",
            admission.schema_version
        );
    }
    let single = admission.model.kind == "file";
    let mut resources = Vec::new();
    for s in statement["subject"].as_array().map_or(&[][..], |v| v) {
        let (Some(name), Some(digest)) = (s["name"].as_str(), s["digest"]["sha256"].as_str())
        else {
            bail!("an attestation subject lacks a name or sha256: {s}");
        };
        resources.push(Resource {
            name: if single {
                ".".to_owned()
            } else {
                name.to_owned()
            },
            digest: digest.to_ascii_lowercase(),
        });
    }
    let manifest = Manifest::new(
        admission.model.name.clone(),
        resources,
        admission.model.allow_symlinks,
        admission.model.ignore_paths.clone(),
    );
    Ok((admission, manifest))
}

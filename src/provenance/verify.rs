//! `quarantine verify` and `quarantine admitted`: the files on disk against a signature and an
//! admission attestation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::admit::{attestation_for, below, default_signature};
use super::attest::{self, Admission};
use super::keys::PublicKey;
use super::oms::{self, Bundle, Manifest};
use crate::Verdict;
use crate::policy::FailOn;

#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    pub signature: Option<PathBuf>,
    pub attestation: Option<PathBuf>,
    /// Accept a model signature without an admission attestation (a bundle from
    /// `model_signing sign key`): integrity only, no verdict.
    pub signature_only: bool,
    /// Files on disk that the signature does not list are listed, not a failure.
    pub allow_extra: bool,
}

/// What `verify` found. `ok` is false when any problem was found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub model: String,
    pub ok: bool,
    pub signature: String,
    pub attestation: Option<String>,
    pub key_hint: String,
    pub files: usize,
    pub bytes: u64,
    pub root_sha256: Option<String>,
    /// Files whose content differs from the signed digest: (name, signed, now).
    pub changed: Vec<Changed>,
    pub missing: Vec<String>,
    /// Files on disk the signature does not list.
    pub extra: Vec<String>,
    /// Signature and attestation problems, and policy failures, in words.
    pub problems: Vec<String>,
    /// Facts worth knowing that are no failure (attestation absent with --signature-only…).
    pub notes: Vec<String>,
    pub admission: Option<AdmissionSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    pub name: String,
    pub signed: String,
    pub now: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdmissionSummary {
    pub admitted_at: String,
    pub verdict: Verdict,
    pub scanner_version: String,
    pub rules_sha256: String,
    pub policy_sha256: Option<String>,
}

/// Verifies the model at `path` with `key`; `fail_on` is the current policy's level.
pub fn verify(path: &Path, key: &PublicKey, options: &VerifyOptions, fail_on: FailOn) -> Report {
    let signature = options
        .signature
        .clone()
        .unwrap_or_else(|| default_signature(path));
    let attestation = options
        .attestation
        .clone()
        .unwrap_or_else(|| attestation_for(&signature));
    let mut report = Report {
        model: path.display().to_string(),
        signature: signature.display().to_string(),
        key_hint: key.hint(),
        ..Report::default()
    };
    let manifest = match Bundle::read(&signature)
        .map_err(|e| format!("{e:#}"))
        .and_then(|b| {
            b.verify(key)
                .map_err(|e| format!("signature {}: {e}", signature.display()))
        })
        .and_then(|s| Manifest::from_statement(&s).map_err(|e| format!("signature: {e:#}")))
    {
        Ok(m) => m,
        Err(problem) => {
            report.problems.push(problem);
            return report;
        }
    };
    report.root_sha256 = Some(manifest.root_digest());
    // The signature and attestation are not part of the model when they sit inside it.
    let mut ignore = manifest.ignore_paths.clone();
    if path.is_dir()
        && let Ok(root) = std::fs::canonicalize(path)
    {
        ignore.extend(
            [&signature, &attestation]
                .iter()
                .filter_map(|p| below(&root, p)),
        );
    }
    compare(path, &manifest, &ignore, &mut report);
    if attestation.exists() {
        report.attestation = Some(attestation.display().to_string());
        check_attestation(&attestation, key, &manifest, fail_on, &mut report);
    } else if options.signature_only {
        report.notes.push(format!(
            "no admission attestation ({}): integrity checked, verdict not (--signature-only)",
            attestation.display()
        ));
    } else {
        report.problems.push(format!(
            "no admission attestation at {}: the model is signed but was not admitted by \
             quarantine (a `model_signing sign key` bundle?); pass --signature-only to check its \
             integrity alone",
            attestation.display()
        ));
    }
    report.ok = report.problems.is_empty()
        && report.changed.is_empty()
        && report.missing.is_empty()
        && (options.allow_extra || report.extra.is_empty());
    report
}

/// Hashes the files on disk (in parallel) and compares them with the signed manifest.
fn compare(path: &Path, manifest: &Manifest, ignore: &[String], report: &mut Report) {
    let files = match oms::list_files(path, ignore, manifest.allow_symlinks) {
        Ok(files) => files,
        Err(e) => {
            report.problems.push(format!("{e:#}"));
            return;
        }
    };
    let signed = manifest.digests();
    let (listed, extra): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|f| signed.contains_key(f.name.as_str()));
    report.extra = extra.into_iter().map(|f| f.name).collect();
    report.bytes = listed
        .iter()
        .filter_map(|f| std::fs::metadata(&f.path).ok())
        .map(|m| m.len())
        .sum();
    let hashed = match oms::hash_files(&listed) {
        Ok(h) => h,
        Err(e) => {
            report.problems.push(format!("{e:#}"));
            return;
        }
    };
    let now: BTreeMap<&str, &str> = hashed
        .iter()
        .map(|r| (r.name.as_str(), r.digest.as_str()))
        .collect();
    report.files = manifest.total_files();
    for (name, digest) in &signed {
        match now.get(name) {
            None => report.missing.push((*name).to_owned()),
            Some(d) if d != digest => report.changed.push(Changed {
                name: (*name).to_owned(),
                signed: (*digest).to_owned(),
                now: (*d).to_owned(),
            }),
            Some(_) => {}
        }
    }
}

fn check_attestation(
    path: &Path,
    key: &PublicKey,
    manifest: &Manifest,
    fail_on: FailOn,
    report: &mut Report,
) {
    let parsed = Bundle::read(path)
        .map_err(|e| format!("{e:#}"))
        .and_then(|b| {
            b.verify(key)
                .map_err(|e| format!("attestation {}: {e}", path.display()))
        })
        .and_then(|s| attest::parse(&s).map_err(|e| format!("attestation: {e:#}")));
    let (admission, attested) = match parsed {
        Ok(p) => p,
        Err(problem) => {
            report.problems.push(problem);
            return;
        }
    };
    let root = manifest.root_digest();
    if admission.model.root_sha256 != root || attested.digests() != manifest.digests() {
        report.problems.push(format!(
            "the attestation is for another release of the model (admitted {}, signed {root})",
            admission.model.root_sha256
        ));
    }
    judge_admission(&admission, fail_on, &mut report.problems);
    report.admission = Some(AdmissionSummary {
        admitted_at: admission.admitted_at.clone(),
        verdict: admission.verdict,
        scanner_version: admission.scanner.version.clone(),
        rules_sha256: admission.rules_sha256.clone(),
        policy_sha256: admission.policy.as_ref().map(|p| p.sha256.clone()),
    });
}

/// Whether the recorded verdict passes the current policy (never a malicious one).
fn judge_admission(admission: &Admission, fail_on: FailOn, problems: &mut Vec<String>) {
    if admission.verdict == Verdict::Malicious || fail_on.fails(admission.verdict) {
        problems.push(format!(
            "the admitted verdict `{}` fails the current policy (fail_on = {})",
            admission.verdict.as_str(),
            super::admit::fail_on_name(fail_on)
        ));
    }
}

/// Renders a report as text lines.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let short = |d: &str| d.chars().take(16).collect::<String>();
    if report.ok {
        out.push_str(&format!(
            "verified: {} ({} files, {} bytes; signature {}, key {})\n",
            report.model,
            report.files,
            report.bytes,
            report.signature,
            short(&report.key_hint)
        ));
    } else {
        out.push_str(&format!("FAILED: {}\n", report.model));
    }
    if let Some(a) = &report.admission {
        out.push_str(&format!(
            "  admitted {} by quarantine {} with verdict {}\n",
            a.admitted_at,
            a.scanner_version,
            a.verdict.as_str()
        ));
    }
    for p in &report.problems {
        out.push_str(&format!("  problem: {p}\n"));
    }
    for c in &report.changed {
        out.push_str(&format!(
            "  changed: {} (signed sha256 {}, now {})\n",
            c.name,
            short(&c.signed),
            short(&c.now)
        ));
    }
    for m in &report.missing {
        out.push_str(&format!("  missing: {m} (signed, not on disk)\n"));
    }
    for e in &report.extra {
        out.push_str(&format!("  added: {e} (on disk, not in the signature)\n"));
    }
    for n in &report.notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    out
}

/// One admitted release found by `quarantine admitted`.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    pub attestation: String,
    pub model: String,
    pub path: String,
    pub admitted_at: String,
    pub verdict: Option<Verdict>,
    pub root_sha256: String,
    /// `verifies`, `changed`, `missing`, or `bad-attestation`.
    pub status: String,
    pub detail: String,
}

/// Every `*.admission.sig` below `dir`, newest admission first, each checked against the files
/// now at its recorded path.
pub fn admitted(dir: &Path, key: &PublicKey) -> Result<Vec<Release>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file()
                && entry
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".admission.sig")
            {
                found.push(entry.path());
            }
        }
    }
    let mut releases: Vec<Release> = found.iter().map(|p| release(p, key)).collect();
    releases.sort_by(|a, b| {
        b.admitted_at
            .cmp(&a.admitted_at)
            .then(a.attestation.cmp(&b.attestation))
    });
    Ok(releases)
}

fn release(path: &Path, key: &PublicKey) -> Release {
    let mut out = Release {
        attestation: path.display().to_string(),
        model: String::new(),
        path: String::new(),
        admitted_at: String::new(),
        verdict: None,
        root_sha256: String::new(),
        status: "bad-attestation".to_owned(),
        detail: String::new(),
    };
    let parsed = Bundle::read(path)
        .map_err(|e| format!("{e:#}"))
        .and_then(|b| b.verify(key).map_err(|e| e.to_string()))
        .and_then(|s| attest::parse(&s).map_err(|e| format!("{e:#}")));
    let (admission, manifest) = match parsed {
        Ok(p) => p,
        Err(e) => {
            out.detail = e;
            return out;
        }
    };
    out.model = admission.model.name.clone();
    out.path = admission.model.path.clone();
    out.admitted_at = admission.admitted_at.clone();
    out.verdict = Some(admission.verdict);
    out.root_sha256 = admission.model.root_sha256.clone();
    let model = Path::new(&admission.model.path);
    if !model.exists() {
        out.status = "missing".to_owned();
        out.detail = "the admitted path is gone".to_owned();
        return out;
    }
    let mut report = Report::default();
    let mut ignore = manifest.ignore_paths.clone();
    if let Ok(root) = std::fs::canonicalize(model) {
        let sig = PathBuf::from(&admission.model.signature);
        ignore.extend(
            [sig.clone(), attestation_for(&sig), path.to_path_buf()]
                .iter()
                .filter_map(|p| below(&root, p)),
        );
    }
    compare(model, &manifest, &ignore, &mut report);
    let differences = report.changed.len() + report.missing.len() + report.extra.len();
    if report.problems.is_empty() && differences == 0 {
        out.status = "verifies".to_owned();
    } else {
        out.status = "changed".to_owned();
        out.detail = format!(
            "{} changed, {} missing, {} added{}",
            report.changed.len(),
            report.missing.len(),
            report.extra.len(),
            report
                .problems
                .first()
                .map_or(String::new(), |p| format!("; {p}"))
        );
    }
    out
}

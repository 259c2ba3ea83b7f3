//! `quarantine admit`: scan with the run's engine and policy; when every artifact passes, sign
//! the model (an OMS bundle) and the admission (an attestation). A failing verdict writes
//! nothing. A malicious finding is never admitted, whatever the policy says.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::attest::{self, Admission, ModelRecord};
use super::keys::PrivateKey;
use super::oms::{self, Manifest};
use crate::Verdict;
use crate::batch::{Batch, Plan};
use crate::policy::FailOn;
use crate::report::json::Scanner;
use crate::report::{RunInfo, Scanned, Sink, Summary, Tally};
use crate::zone::filter::Filter;

/// File names written inside a directory model (the first is `model_signing`'s default).
pub const SIGNATURE_NAME: &str = "model.sig";
pub const ATTESTATION_NAME: &str = "model.admission.sig";

/// Where the signature of the model at `model` is looked for by default: `model.sig` inside a
/// directory, `FILE.sig` beside a file.
pub fn default_signature(model: &Path) -> PathBuf {
    if model.is_dir() {
        model.join(SIGNATURE_NAME)
    } else {
        sibling(model, "sig")
    }
}

/// The attestation that goes with a signature: `X.sig` -> `X.admission.sig`.
pub fn attestation_for(signature: &Path) -> PathBuf {
    let name = signature
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".sig").unwrap_or(&name);
    signature.with_file_name(format!("{stem}.admission.sig"))
}

fn sibling(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// A sink that keeps each result and passes it on; the run's summary is written once, by the
/// caller, after every model is scanned.
struct Recorder<'a> {
    inner: &'a mut dyn Sink,
    items: Vec<Scanned>,
    tally: Tally,
}

impl Sink for Recorder<'_> {
    fn ordered(&self) -> bool {
        self.inner.ordered()
    }
    fn artifact(&mut self, item: Scanned) -> std::io::Result<()> {
        self.tally.add(&item);
        self.items.push(item.clone());
        self.inner.artifact(item)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
    fn finish(&mut self, _: &RunInfo, _: &Tally) -> std::io::Result<()> {
        Ok(())
    }
}

/// One model admitted (or refused).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub model: String,
    pub verdict: Verdict,
    pub admitted: bool,
    /// Why not, when not.
    pub reasons: Vec<String>,
    pub signature: Option<String>,
    pub attestation: Option<String>,
    pub root_sha256: Option<String>,
    pub files: usize,
}

struct Prepared {
    manifest: Manifest,
    signature: PathBuf,
    attestation: PathBuf,
    admission: Admission,
}

/// Scans every model in `paths` (each a file or a directory) and, only if all of them pass,
/// writes each one's signature and attestation. Returns one outcome per model.
#[allow(clippy::too_many_arguments)]
pub fn admit(
    paths: &[PathBuf],
    batch: &Batch,
    jobs: usize,
    fail_on: FailOn,
    key: &PrivateKey,
    out_dir: Option<&Path>,
    sink: &mut dyn Sink,
    info: &RunInfo,
) -> Result<Vec<Outcome>> {
    if let Some(dir) = out_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --out-dir {}", dir.display()))?;
    }
    let mut outcomes = Vec::new();
    let mut prepared = Vec::new();
    let mut total = Tally::default();
    for path in paths {
        let plan = Plan::new(std::slice::from_ref(path), None, jobs, &Filter::default())
            .context("starting workers")?;
        let mut recorder = Recorder {
            inner: &mut *sink,
            items: Vec::new(),
            tally: Tally::default(),
        };
        batch
            .run(&plan, &mut recorder)
            .context("writing the report")?;
        let Recorder { items, tally, .. } = recorder;
        for item in &items {
            total.add(item);
        }
        let (outcome, ready) = judge(path, &items, &tally.summary, batch, fail_on, out_dir)?;
        outcomes.push(outcome);
        prepared.extend(ready);
    }
    sink.finish(info, &total).context("writing the report")?;
    if outcomes.iter().any(|o| !o.admitted) {
        for o in &mut outcomes {
            if o.admitted {
                o.admitted = false;
                o.reasons
                    .push("not written: another model of this run was refused".to_owned());
            }
            o.signature = None;
            o.attestation = None;
        }
        return Ok(outcomes);
    }
    for p in prepared {
        let signature = oms::sign_statement(&p.manifest.statement(), key)?;
        let statement = attest::statement(&p.manifest, &p.admission)?;
        let attestation = oms::sign_statement(&statement, key)?;
        write_atomic(&p.signature, signature.to_json()?.as_bytes())?;
        write_atomic(&p.attestation, attestation.to_json()?.as_bytes())?;
    }
    Ok(outcomes)
}

/// Decides one model: its verdict, the files it is made of (hashed again and checked against
/// what the scan read), and where its signature would go.
fn judge(
    path: &Path,
    items: &[Scanned],
    summary: &Summary,
    batch: &Batch,
    fail_on: FailOn,
    out_dir: Option<&Path>,
) -> Result<(Outcome, Option<Prepared>)> {
    let model_name = oms::model_name(path);
    let verdict = summary.verdict();
    let mut outcome = Outcome {
        model: path.display().to_string(),
        verdict,
        admitted: false,
        reasons: refusals(items, verdict, fail_on),
        signature: None,
        attestation: None,
        root_sha256: None,
        files: 0,
    };
    if !outcome.reasons.is_empty() {
        return Ok((outcome, None));
    }
    let is_dir = path.is_dir();
    let root = std::fs::canonicalize(path)
        .with_context(|| format!("cannot resolve {}", path.display()))?;
    // Where the two files go; inside the model they must be left out of what is signed.
    let (signature, attestation) = match out_dir {
        Some(dir) => {
            // The file name carries the content's digest, so releases of one model sit side by
            // side; computed below, once the files are hashed.
            (dir.to_path_buf(), dir.to_path_buf())
        }
        None => {
            let s = default_signature(path);
            let a = attestation_for(&s);
            (s, a)
        }
    };
    let ignore = if is_dir {
        ignored_paths(&root, [&signature, &attestation])
    } else {
        Vec::new()
    };
    let files = oms::list_files(path, &ignore, false)?;
    let resources = oms::hash_files(&files)?;
    let manifest = Manifest::new(model_name.clone(), resources, false, ignore.clone());
    outcome.reasons = not_as_scanned(&manifest, items);
    if !outcome.reasons.is_empty() {
        return Ok((outcome, None));
    }
    let root_digest = manifest.root_digest();
    let (signature, attestation) = match out_dir {
        Some(dir) => {
            let stem = format!("{model_name}.{}", &root_digest[..16]);
            (
                dir.join(format!("{stem}.sig")),
                dir.join(format!("{stem}.admission.sig")),
            )
        }
        None => (signature, attestation),
    };
    let bytes = files
        .iter()
        .filter_map(|f| std::fs::metadata(&f.path).ok())
        .map(|m| m.len())
        .sum();
    let model = ModelRecord {
        name: model_name,
        kind: if is_dir { "directory" } else { "file" }.to_owned(),
        path: root.display().to_string(),
        root_sha256: root_digest.clone(),
        files: manifest.resources.len() as u64,
        bytes,
        allow_symlinks: false,
        ignore_paths: ignore,
        signature: absolute(&signature),
    };
    let admission = admission(model, items, summary, batch, fail_on);
    outcome.admitted = true;
    outcome.files = manifest.resources.len();
    outcome.root_sha256 = Some(root_digest);
    outcome.signature = Some(signature.display().to_string());
    outcome.attestation = Some(attestation.display().to_string());
    Ok((
        outcome,
        Some(Prepared {
            manifest,
            signature,
            attestation,
            admission,
        }),
    ))
}

/// Why the scan's results refuse the model, before any file is read again: a malicious
/// finding, a verdict the policy fails, or nothing to admit.
fn refusals(items: &[Scanned], verdict: Verdict, fail_on: FailOn) -> Vec<String> {
    let mut reasons = Vec::new();
    let malicious = items.iter().any(|s| {
        s.report.verdict == Verdict::Malicious
            || s.report
                .findings
                .iter()
                .any(|f| Verdict::from(f.verdict) == Verdict::Malicious)
    });
    if malicious {
        reasons.push("a malicious finding: never admitted, whatever the policy".to_owned());
    } else if fail_on.fails(verdict) {
        reasons.push(format!(
            "verdict {} fails the policy (fail_on = {})",
            verdict.as_str(),
            fail_on_name(fail_on)
        ));
    }
    if items.is_empty() {
        reasons.push("nothing to admit: no file found".to_owned());
    }
    reasons
}

/// What a model directory's manifest leaves out: git's files, and the signature and
/// attestation when they are written inside the model.
fn ignored_paths(root: &Path, outputs: [&PathBuf; 2]) -> Vec<String> {
    let mut ignore: Vec<String> = oms::GIT_PATHS.iter().map(|s| (*s).to_owned()).collect();
    for p in outputs {
        if let Some(rel) = below(root, p) {
            ignore.push(rel);
        }
    }
    ignore.sort();
    ignore.dedup();
    ignore
}

/// What is signed must be what was scanned: every file, with the digest the scan saw. Why
/// not, for each file that differs.
fn not_as_scanned(manifest: &Manifest, items: &[Scanned]) -> Vec<String> {
    let mut reasons = Vec::new();
    for r in &manifest.resources {
        let scanned = items.iter().find(|s| {
            if r.name == "." {
                items.len() == 1
            } else {
                s.relative_path == r.name
            }
        });
        match scanned.and_then(|s| s.report.sha256.as_deref()) {
            None => reasons.push(format!(
                "{} was not scanned; nothing unscanned is signed",
                r.name
            )),
            Some(d) if d != r.digest => reasons.push(format!(
                "{} changed while it was being admitted (scanned {d}, now {})",
                r.name, r.digest
            )),
            Some(_) => {}
        }
    }
    reasons
}

/// The admission record of a model that passed: what was scanned, how, and what was found.
fn admission(
    model: ModelRecord,
    items: &[Scanned],
    summary: &Summary,
    batch: &Batch,
    fail_on: FailOn,
) -> Admission {
    Admission {
        schema_version: attest::SCHEMA_VERSION,
        admitted_at: super::now(),
        scanner: Scanner::this(),
        model,
        verdict: summary.verdict(),
        fail_on: fail_on_name(fail_on).to_owned(),
        policy: batch.policy.source.clone(),
        rules_sha256: super::rules_sha256(batch.signatures),
        config_fingerprint: batch
            .config
            .fingerprint(&super::rules_sha256(batch.signatures)),
        summary: *summary,
        findings: attest::tally_findings(items),
        artifacts: attest::artifact_records(items),
    }
}

pub fn fail_on_name(fail_on: FailOn) -> &'static str {
    match fail_on {
        FailOn::Suspicious => "suspicious",
        FailOn::Malicious => "malicious",
    }
}

/// `path` relative to `root` (`/`-separated) when it lies below it.
pub fn below(root: &Path, path: &Path) -> Option<String> {
    let full = match std::fs::canonicalize(path) {
        Ok(full) => full,
        Err(_) => {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            let parent = std::fs::canonicalize(parent.unwrap_or(Path::new("."))).ok()?;
            parent.join(path.file_name()?)
        }
    };
    let rel = full.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees half a signature.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The admission's log record.
pub fn log_record(outcome: &Outcome) -> serde_json::Value {
    json!({
        "model": outcome.model,
        "verdict": outcome.verdict,
        "admitted": outcome.admitted,
        "reasons": outcome.reasons,
        "root_sha256": outcome.root_sha256,
        "files": outcome.files,
        "signature": outcome.signature,
        "attestation": outcome.attestation,
    })
}

/// Refuses `--out-dir` pointing at a file.
pub fn check_out_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("--out-dir {} is not a directory", dir.display());
    }
    Ok(())
}

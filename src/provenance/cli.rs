//! Command-line arguments and runners of the provenance commands. `main.rs` flattens
//! [`Command`] into its subcommands and calls [`run`]; `admit` and the `--log` option of `scan`
//! need the scan settings, so `main.rs` builds those and calls [`admit`] and [`LogArgs`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::admit::{self, Outcome};
use super::keys::{self, PrivateKey, PublicKey};
use super::log::{self, AuditLog};
use super::verify::{self, VerifyOptions};
use crate::batch::Batch;
use crate::policy::{FailOn, Policy};
use crate::report::{RunInfo, Scanned, Sink, Tally};

/// The environment variable read for the log's checkpoint key (PEM text) when `--log-key` is
/// not given.
pub const LOG_KEY_ENV: &str = "QUARANTINE_LOG_KEY";

#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Audit log")]
pub struct LogArgs {
    /// Append one hash-chained JSON line for this run to FILE [default: the `[log] path` of a
    /// policy named with --policy; never one found inside a scanned tree].
    #[arg(long = "log", value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Private key that signs the log's checkpoints [default: $QUARANTINE_LOG_KEY; `admit`
    /// uses its --key].
    #[arg(long = "log-key", value_name = "KEY")]
    pub log_key: Option<PathBuf>,
    /// Sign a checkpoint every N lines (when a key is given) [default: the policy's, else 100].
    #[arg(long = "log-checkpoint-every", value_name = "N")]
    pub every: Option<u64>,
}

impl LogArgs {
    /// The log this run appends to, if any.
    pub fn open(&self, policy: &Policy, fallback_key: Option<&Path>) -> Result<Option<AuditLog>> {
        let Some(path) = self
            .log
            .clone()
            .or_else(|| policy.log_path().map(Path::to_path_buf))
        else {
            return Ok(None);
        };
        let key = match (&self.log_key, fallback_key) {
            (Some(k), _) => Some(PrivateKey::load(Some(k))?),
            (None, Some(k)) => Some(PrivateKey::load(Some(k))?),
            (None, None) => match std::env::var(LOG_KEY_ENV) {
                Ok(pem) if !pem.trim().is_empty() => Some(PrivateKey::from_pem(&pem, LOG_KEY_ENV)?),
                _ => None,
            },
        };
        Ok(Some(AuditLog {
            path,
            key,
            every: self
                .every
                .or(policy.log_every())
                .unwrap_or(log::DEFAULT_EVERY),
        }))
    }
}

/// A sink that remembers, per artifact, what the audit log records (path, digest, verdict)
/// and passes everything on.
pub struct LogTee<'a> {
    pub inner: Box<dyn Sink + 'a>,
    pub records: Vec<Value>,
    /// Whether a log will take the records: without one, none is kept (a record per artifact
    /// would grow with the registry).
    recording: bool,
}

impl<'a> LogTee<'a> {
    pub fn new(inner: Box<dyn Sink + 'a>, recording: bool) -> Self {
        LogTee {
            inner,
            records: Vec::new(),
            recording,
        }
    }
}

impl Sink for LogTee<'_> {
    fn ordered(&self) -> bool {
        self.inner.ordered()
    }
    fn artifact(&mut self, item: Scanned) -> std::io::Result<()> {
        if !self.recording {
            return self.inner.artifact(item);
        }
        self.records.push(json!({
            "path": item.report.path,
            "sha256": item.report.sha256,
            "verdict": item.report.verdict,
            "findings": item.report.findings.len(),
        }));
        self.inner.artifact(item)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
    fn finish(&mut self, info: &RunInfo, tally: &Tally) -> std::io::Result<()> {
        self.inner.finish(info, tally)
    }
}

/// Appends the `scan` line of a finished run.
pub fn log_scan(
    log: &AuditLog,
    paths: &[PathBuf],
    policy: &Policy,
    tally: &Tally,
    records: Vec<Value>,
) -> Result<()> {
    log.append(
        "scan",
        json!({
            "paths": paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "verdict": tally.summary.verdict(),
            "summary": tally.summary,
            "policy": policy.source,
            "scanner": crate::report::json::Scanner::this(),
            "artifacts": records,
        }),
    )?;
    Ok(())
}

/// `admit`'s own options (the scan options come from `scan`).
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Admission")]
pub struct AdmitArgs {
    /// Private key (PEM, ECDSA P-256) [default: the PEM text in $QUARANTINE_SIGNING_KEY].
    #[arg(long, value_name = "KEY")]
    pub key: Option<PathBuf>,
    /// Write `NAME.DIGEST.sig` and `NAME.DIGEST.admission.sig` into DIR instead of `model.sig`
    /// and `model.admission.sig` inside the model (`FILE.sig`… beside a file model).
    #[arg(long = "out-dir", short = 'o', value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Runs an admission: scans (the report goes to `sink`), signs when everything passes, logs.
#[allow(clippy::too_many_arguments)]
pub fn admit(
    args: &AdmitArgs,
    log_args: &LogArgs,
    paths: &[PathBuf],
    batch: &Batch,
    jobs: usize,
    fail_on: FailOn,
    mut sink: Box<dyn Sink + '_>,
) -> Result<ExitCode> {
    let key = PrivateKey::load(args.key.as_deref())?;
    if let Some(dir) = &args.out_dir {
        admit::check_out_dir(dir)?;
    }
    let log = log_args.open(batch.policy, args.key.as_deref())?;
    let info = RunInfo {
        policy: batch.policy.source.clone(),
        shard: None,
        baseline: None,
    };
    let outcomes = admit::admit(
        paths,
        batch,
        jobs,
        fail_on,
        &key,
        args.out_dir.as_deref(),
        sink.as_mut(),
        &info,
    )?;
    drop(sink);
    let mut err = std::io::stderr().lock();
    for o in &outcomes {
        print_outcome(&mut err, o)?;
    }
    if let Some(log) = &log {
        for o in &outcomes {
            log.append("admit", admit::log_record(o))?;
        }
    }
    Ok(if outcomes.iter().all(|o| o.admitted) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_outcome(out: &mut dyn Write, o: &Outcome) -> std::io::Result<()> {
    if o.admitted {
        writeln!(
            out,
            "admitted: {} ({} files, verdict {}, sha256 {})\n  signature: {}\n  attestation: {}",
            o.model,
            o.files,
            o.verdict.as_str(),
            o.root_sha256.as_deref().unwrap_or(""),
            o.signature.as_deref().unwrap_or(""),
            o.attestation.as_deref().unwrap_or("")
        )
    } else {
        writeln!(
            out,
            "NOT admitted: {} (verdict {}); nothing written",
            o.model,
            o.verdict.as_str()
        )?;
        for r in &o.reasons {
            writeln!(out, "  {r}")?;
        }
        Ok(())
    }
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Make an ECDSA P-256 key pair for `admit`/`verify`: PREFIX.key (PKCS#8 PEM, mode 0600)
    /// and PREFIX.pub (SPKI PEM). The same keys work with `model_signing sign|verify key`.
    Keygen {
        /// Path prefix of the two files.
        #[arg(long, short, value_name = "PREFIX", default_value = "quarantine")]
        out: PathBuf,
    },
    /// Check that a model's files are exactly the admitted ones: the signature is valid, every
    /// file is present with its signed digest, none was added, and the admission verdict passes
    /// the current policy. Also verifies `model_signing sign key` bundles (--signature-only).
    #[command(
        after_help = "Exit codes:\n  0  verified\n  1  not verified (what failed is listed)\n  2  usage error"
    )]
    Verify(Box<VerifyArgs>),
    /// The audit log: check its chain and checkpoints, print its head, sign a checkpoint.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// List the admitted releases under DIR (attestations written with `admit -o DIR`), newest
    /// first, each marked by whether the files at its path still verify.
    Admitted {
        dir: PathBuf,
        /// Public key the attestations are checked with [default: $QUARANTINE_VERIFY_KEY].
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// What changed between two releases of a model: files, pickle globals and calls, ONNX
    /// operators and nodes, tensors, metadata; and whether the structure changed or only values.
    Diff(super::diff::DiffArgs),
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The model: a directory or a file.
    pub path: PathBuf,
    /// Public key (PEM) [default: the PEM text in $QUARANTINE_VERIFY_KEY].
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,
    /// The model signature [default: PATH/model.sig, or FILE.sig beside a file].
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
    /// The admission attestation [default: the signature's name with `.admission.sig`].
    #[arg(long, value_name = "FILE")]
    pub attestation: Option<PathBuf>,
    /// Accept a signature without an admission attestation (integrity only, no verdict).
    #[arg(long)]
    pub signature_only: bool,
    /// List files that are not in the signature instead of failing on them.
    #[arg(long)]
    pub allow_extra: bool,
    /// The policy whose fail_on the admitted verdict must pass [default: built-in, suspicious].
    /// A policy inside the model is never used.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(clap::Subcommand, Debug)]
pub enum LogCommand {
    /// Check the chain line by line (and checkpoints with --key); names the first bad line.
    Verify {
        file: PathBuf,
        /// Public key of the checkpoints.
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
        /// The head hash kept elsewhere (`quarantine log head`): a cut tail no longer reaches it.
        #[arg(long, value_name = "HASH")]
        expect_head: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the sequence number and hash of the last line, to keep elsewhere.
    Head { file: PathBuf },
    /// Append a signed checkpoint now.
    Checkpoint {
        file: PathBuf,
        /// Private key [default: $QUARANTINE_LOG_KEY].
        #[arg(long, value_name = "KEY")]
        key: Option<PathBuf>,
    },
}

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Keygen { out } => {
            let (private, public) = keys::keygen(&out)?;
            println!(
                "private key: {} (mode 0600; keep it secret)\npublic key: {}",
                private.display(),
                public.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify(args) => run_verify(&args),
        Command::Log { command } => run_log(command),
        Command::Admitted { dir, key, format } => {
            let key = PublicKey::load(key.as_deref())?;
            let releases = verify::admitted(&dir, &key)
                .with_context(|| format!("cannot read {}", dir.display()))?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&releases)?),
                Format::Text => {
                    if releases.is_empty() {
                        println!("no admission attestations under {}", dir.display());
                    }
                    for r in &releases {
                        println!(
                            "{:<15} {}  {}  {}  {}{}",
                            r.status,
                            if r.admitted_at.is_empty() {
                                "-"
                            } else {
                                r.admitted_at.as_str()
                            },
                            if r.model.is_empty() {
                                "?"
                            } else {
                                r.model.as_str()
                            },
                            r.verdict.map_or("-", |v| v.as_str()),
                            if r.path.is_empty() {
                                r.attestation.as_str()
                            } else {
                                r.path.as_str()
                            },
                            if r.detail.is_empty() {
                                String::new()
                            } else {
                                format!("  ({})", r.detail)
                            }
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff(args) => super::diff::run(&args),
    }
}

fn run_verify(args: &VerifyArgs) -> Result<ExitCode> {
    let key = PublicKey::load(args.key.as_deref())?;
    let policy = match &args.policy {
        Some(p) => Policy::load(p)?,
        None => Policy::default(),
    };
    let fail_on = policy.fail_on().unwrap_or(FailOn::Suspicious);
    let options = VerifyOptions {
        signature: args.signature.clone(),
        attestation: args.attestation.clone(),
        signature_only: args.signature_only,
        allow_extra: args.allow_extra,
    };
    let report = verify::verify(&args.path, &key, &options, fail_on);
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => print!("{}", verify::render(&report)),
    }
    if let Some(log) = args.log.open(&policy, None)? {
        log.append(
            "verify",
            json!({
                "model": report.model,
                "ok": report.ok,
                "root_sha256": report.root_sha256,
                "key": report.key_hint,
                "problems": report.problems,
                "changed": report.changed.iter().map(|c| &c.name).collect::<Vec<_>>(),
                "missing": report.missing,
                "extra": report.extra,
            }),
        )?;
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_log(command: LogCommand) -> Result<ExitCode> {
    match command {
        LogCommand::Verify {
            file,
            key,
            expect_head,
            format,
        } => {
            let key = match &key {
                Some(k) => Some(PublicKey::load(Some(k))?),
                None => None,
            };
            let check = log::verify(&file, key.as_ref(), expect_head.as_deref())?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&check)?),
                Format::Text => {
                    if check.ok() {
                        println!(
                            "log intact: {} lines, {} checkpoints{}, head {}",
                            check.lines,
                            check.checkpoints,
                            if key.is_some() {
                                " (signatures checked)"
                            } else {
                                ""
                            },
                            check.head
                        );
                    } else {
                        println!("log TAMPERED: {}", file.display());
                    }
                    if let Some((line, why)) = &check.first_bad {
                        println!("  first bad line: {line}: {why}");
                    }
                    for p in &check.problems {
                        println!("  problem: {p}");
                    }
                    for n in &check.notes {
                        println!("  note: {n}");
                    }
                }
            }
            Ok(if check.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        LogCommand::Head { file } => {
            let (seq, head) = log::head(&file)?;
            println!("{seq} {head}");
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::Checkpoint { file, key } => {
            let key = match &key {
                Some(k) => PrivateKey::load(Some(k))?,
                None => match std::env::var(LOG_KEY_ENV) {
                    Ok(pem) if !pem.trim().is_empty() => PrivateKey::from_pem(&pem, LOG_KEY_ENV)?,
                    _ => anyhow::bail!("give --key KEY or set {LOG_KEY_ENV}"),
                },
            };
            let log = AuditLog {
                path: file,
                key: Some(key),
                // On demand: no interval to record.
                every: 0,
            };
            let head = log.checkpoint()?;
            println!("checkpoint signed; head {head}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

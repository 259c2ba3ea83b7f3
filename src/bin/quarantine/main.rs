//! The `quarantine` command line: parse arguments, call the library, render, set the exit code.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use quarantine::batch::Shard;
use quarantine::config::{DeviceKind, LimitOverrides, ProbeMode, ProbeSettings, Size};
use quarantine::policy::{self, Policy};
use quarantine::signatures::{Signatures, cache, sources};

mod commands;

/// The exit-code table, in `--help` of every command that scans (the README has it too).
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0  every artifact is below the --fail-on level, and every one was read
  1  an artifact reached the --fail-on level (default: suspicious), or an artifact could not
     be read or analysed (verdict `error`: unreadable, vanished, special file, walk error,
     symbolic link leaving the tree); `error` fails whatever --fail-on says, unless
     --allow-errors
  2  usage error: a bad option, a path on the command line that does not exist, an invalid
     policy or rule file, an --output that cannot be written; or the scanner could not run

Limits and time budgets that leave part of an artifact unanalysed are findings that make it
`suspicious` (exit 1 at the default --fail-on)."
    };
}

const EXIT_CODES: &str = exit_codes!();

const SCAN_HELP: &str = concat!(
    "What is scanned: every file below the given directories, whatever its name (content \
     decides the format), except `.git` directories and what --exclude/--include leave out. \
     Paths named on the command line are always scanned. Special files (FIFOs, sockets, \
     devices) are never opened: they are `error` results.\n\n",
    exit_codes!()
);

#[derive(Parser)]
#[command(
    name = "quarantine",
    version,
    about = "Static scanner for ML model artifacts: is this file safe to load, and why not.",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan files and directories (recursively) without loading anything.
    #[command(after_help = SCAN_HELP)]
    Scan(Box<ScanArgs>),
    /// List every rule id with a one-line summary, signature rules included.
    Rules(RulesArgs),
    /// Print a rule's full explanation and fix.
    Explain {
        /// A rule id (`PKL001`, `YAR:reverse_shells.bash_dev_tcp`) or name (`pickle-denied-global`).
        rule: String,
        #[command(flatten)]
        signatures: SignatureArgs,
    },
    /// Print the default policy file, or check one.
    Policy {
        /// Print a commented `quarantine.toml` with every key at its default.
        #[arg(long, conflicts_with = "check")]
        print_default: bool,
        /// Parse a policy file and report the first error, naming its key and line.
        #[arg(long, value_name = "FILE")]
        check: Option<PathBuf>,
    },
    /// Combine the JSONL outputs of several runs (the shards of one) into one report.
    #[command(after_help = EXIT_CODES)]
    Merge(MergeArgs),
    /// Scan, and when every artifact passes, sign the model (an OpenSSF Model Signing bundle)
    /// and the admission (an in-toto attestation of the verdict). A failing verdict writes
    /// nothing and exits 1; a malicious finding is never admitted. The scan report goes to
    /// standard output or --report FILE.
    #[command(after_help = EXIT_CODES, mut_arg("output", |a| a.short(None).long("report")))]
    Admit(Box<AdmitArgs>),
    #[command(flatten)]
    Provenance(quarantine::provenance::cli::Command),
    /// Print a shell completion script: `quarantine completions bash > /etc/bash_completion.d/quarantine`,
    /// `quarantine completions zsh > "${fpath[1]}/_quarantine"`,
    /// `quarantine completions fish > ~/.config/fish/completions/quarantine.fish`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `quarantine man > /usr/local/share/man/man1/quarantine.1`.
    Man,
}

#[derive(clap::Args)]
struct AdmitArgs {
    #[command(flatten)]
    scan: ScanArgs,
    #[command(flatten)]
    admit: quarantine::provenance::cli::AdmitArgs,
}

#[derive(clap::Args)]
struct OutputArgs {
    /// Output format. `jsonl` streams one artifact per line as each completes; `summary` is
    /// one line per artifact (verdict, path, format, top rule) for large trees.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Lowest verdict that makes the exit code 1 [default: the policy's, else suspicious].
    /// An artifact that could not be read (`error`) fails the run whatever this says.
    #[arg(long, value_enum)]
    fail_on: Option<FailOn>,
    /// Let artifacts that could not be read (verdict `error`) pass the exit code. They are
    /// still reported.
    #[arg(long)]
    allow_errors: bool,
    /// Text and summary output: show only artifacts that are not clean, and the final verdict
    /// line.
    #[arg(long, short, conflicts_with = "verbose")]
    quiet: bool,
    /// Text output: show clean artifacts in full (model summaries, info findings) and the
    /// robustness probe's figures.
    #[arg(long, short)]
    verbose: bool,
    /// SARIF: make artifact URIs relative to DIR [default: the git work tree around the
    /// current directory, else the current directory].
    #[arg(long, value_name = "DIR")]
    sarif_root: Option<PathBuf>,
    /// When to colour text output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

#[derive(clap::Args)]
struct MergeArgs {
    /// JSONL files written by `quarantine scan --format jsonl`.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
struct RulesArgs {
    /// Compile the YARA rules under DIR (with the shipped ones) and report errors and warnings
    /// without scanning anything. Exit code 2 when a rule does not compile.
    #[arg(long, value_name = "DIR")]
    check: Option<PathBuf>,
    #[command(flatten)]
    signatures: SignatureArgs,
}

/// Signature (YARA-X) rules: the shipped set plus the user's.
#[derive(clap::Args)]
#[command(next_help_heading = "Signature rules")]
struct SignatureArgs {
    /// Also use the YARA rules in DIR (`*.yar`, `*.yara`, recursively; the namespace is the
    /// file stem). Repeatable.
    #[arg(long = "rules", value_name = "DIR")]
    rule_dirs: Vec<PathBuf>,
    /// Compile the rules every run instead of using the cache of compiled rules
    /// ($XDG_CACHE_HOME/quarantine, else ~/.cache/quarantine).
    #[arg(long)]
    no_rules_cache: bool,
}

impl SignatureArgs {
    /// Compiles (or loads from the cache) the shipped rules and those of `--rules`. Warnings go
    /// to stderr.
    fn load(&self, policy_dirs: &[PathBuf]) -> Result<Signatures> {
        let mut all = sources::shipped();
        for dir in policy_dirs.iter().chain(&self.rule_dirs) {
            all.extend(sources::from_dir(dir)?);
        }
        let dir = if self.no_rules_cache {
            None
        } else {
            cache::default_dir()
        };
        let (signatures, outcome) = cache::load(&all, dir.as_deref())?;
        for warning in signatures.warnings() {
            eprintln!("quarantine: warning: {warning} [{}]", warning.code);
        }
        if let cache::CacheOutcome::Miss {
            write_error: Some(e),
            ..
        } = outcome
        {
            eprintln!("quarantine: note: compiled rules not cached: {e}");
        }
        Ok(signatures)
    }
}

#[derive(clap::Args)]
struct ScanArgs {
    /// Files or directories to scan, or Hugging Face model repositories as
    /// `hf://org/name[@revision]` (downloaded, verified against the Hub's hashes, then scanned).
    /// Directories are walked recursively; nothing is skipped except `.git` directories and what
    /// --exclude/--include leave out. `-` alone reads one artifact from standard input, named
    /// `<stdin>` in the report.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Keep the verified files of `hf://` repositories in DIR under their real names.
    #[arg(long, value_name = "DIR")]
    download_to: Option<PathBuf>,
    /// Bytes downloaded per `hf://` repository at most [default: 256G].
    #[arg(long, value_name = "SIZE")]
    max_download_bytes: Option<Size>,
    /// Skip files and directories matching GLOB below a scanned directory (ripgrep/gitignore
    /// syntax: `.venv`, `build/`, `**/*.pyc`). Repeatable; adds to the policy's `exclude`.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Scan only files matching GLOB below a scanned directory (directories are still entered).
    /// Repeatable; adds to the policy's `include`. An exclude wins over an include.
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    #[command(flatten)]
    output: OutputArgs,
    /// Policy file [default: the first quarantine.toml in the scan root or above].
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Apply no policy file, even if one is found.
    #[arg(long, conflicts_with = "policy")]
    no_policy: bool,
    /// Artifacts scanned in parallel [default: one per core].
    #[arg(
        long,
        short,
        value_name = "N",
        default_value_t = 0,
        hide_default_value = true
    )]
    jobs: usize,
    /// Reuse results of earlier scans kept in DIR (keyed by content and settings).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Report only findings that the JSON report FILE (an earlier `--format json` run) does
    /// not have; the verdicts and the exit code are decided by the new findings alone. A
    /// finding is known when the artifact's SHA-256, rule id, member, offset, line and evidence
    /// agree.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Scan only shard K of N (1 <= K <= N) of the artifact set, by a stable hash of each
    /// artifact's path; `quarantine merge` combines the shards' JSONL outputs.
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
    /// Treat a pickle global as safe (`module.name`, or `module.*`). Repeatable.
    #[arg(long = "allow-global", value_name = "GLOBAL")]
    allow_globals: Vec<String>,
    /// Treat a pickle global as dangerous (`module.name`, or `module.*`). Repeatable.
    #[arg(long = "deny-global", value_name = "GLOBAL")]
    deny_globals: Vec<String>,
    /// Keep a copy of every unpacked member below DIR for review (private directories, names
    /// made safe). Without it nothing is written to disk.
    #[arg(long, value_name = "DIR")]
    keep_zone: Option<PathBuf>,
    /// Also match signature rules against the raw bytes of every artifact and member (tensor
    /// data included), streaming. Slower; for looking inside weights.
    #[arg(long)]
    deep: bool,
    #[command(flatten)]
    signatures: SignatureArgs,
    /// Every limit, from the settings table (`quarantine::settings`).
    #[command(flatten)]
    limits: LimitOverrides,
    #[command(flatten)]
    probe: ProbeArgs,
    #[command(flatten)]
    log: quarantine::provenance::cli::LogArgs,
}

/// The robustness probe: weights read into candle, models run without their code and attacked
/// (FGSM/PGD) before the verdict. Never for artifacts already found malicious.
#[derive(clap::Args)]
#[command(next_help_heading = "Robustness probe")]
struct ProbeArgs {
    /// `auto` probes supported models and says why not for others; `require` makes a skipped
    /// probe a finding [default: the policy's, else auto].
    #[arg(long = "probe", value_enum)]
    mode: Option<ProbeChoice>,
    /// Wall-clock budget of the probe per artifact, in seconds [default: the policy's, else 5].
    #[arg(long = "probe-budget", value_name = "SECONDS")]
    budget: Option<f64>,
    /// Where the probe computes; `cuda` needs a build with the `cuda` feature and a GPU.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
    /// Inputs for the behaviour probe (`.npy`, rows of the model's input width) instead of
    /// seeded synthetic ones.
    #[arg(long = "probe-inputs", value_name = "FILE.npy")]
    inputs: Option<PathBuf>,
    /// Make robustness a gate: a model whose PGD flip rate at 4/255 exceeds RATE (0 to 1, or
    /// a percentage such as `25%`) gets a PRB003 finding (suspicious). Without it, and without
    /// the policy's `[probe] gate_max_flip_rate`, robustness is reported, never judged.
    #[arg(long = "probe-gate", value_name = "RATE", value_parser = parse_rate)]
    gate: Option<f64>,
}

/// A flip rate: a fraction in [0, 1], or a percentage (`25%`).
fn parse_rate(text: &str) -> Result<f64, String> {
    let (number, scale) = match text.trim().strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (text.trim(), 1.0),
    };
    let rate = number
        .trim()
        .parse::<f64>()
        .map_err(|_| format!("`{text}` is not a rate (0.25 or 25%)"))?
        / scale;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("`{text}` is not between 0 and 1 (0% and 100%)"))
    }
}

impl ProbeArgs {
    /// The probe settings: these options, else the policy's, else the defaults.
    fn settings(&self, policy: &Policy) -> Result<ProbeSettings> {
        let defaults = ProbeSettings::default();
        let budget = match self.budget {
            Some(seconds) => Duration::try_from_secs_f64(seconds)
                .ok()
                .filter(|b| !b.is_zero())
                .with_context(|| {
                    format!("--probe-budget {seconds} is not a positive number of seconds")
                })?,
            None => policy.probe_budget().unwrap_or(defaults.budget),
        };
        let mode = match self.mode {
            Some(ProbeChoice::Off) => ProbeMode::Off,
            Some(ProbeChoice::Auto) => ProbeMode::Auto,
            Some(ProbeChoice::Require) => ProbeMode::Require,
            None => policy.probe_mode().unwrap_or(defaults.mode),
        };
        let device = match self.device {
            DeviceChoice::Cpu => DeviceKind::Cpu,
            DeviceChoice::Cuda => DeviceKind::Cuda,
        };
        if mode != ProbeMode::Off {
            quarantine::probe::device::open(device)?;
        }
        if let Some(path) = &self.inputs {
            std::fs::metadata(path)
                .with_context(|| format!("--probe-inputs {}", path.display()))?;
        }
        let gate = self.gate.or(policy.probe_gate());
        Ok(ProbeSettings {
            mode,
            budget,
            device,
            inputs: self.inputs.clone(),
            gate_flip_permille: gate.map(|r| (r * 1000.0).round() as u16),
            ..defaults
        })
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ProbeChoice {
    Off,
    Auto,
    Require,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceChoice {
    Cpu,
    Cuda,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
    Jsonl,
    Sarif,
    Summary,
    /// One self-contained HTML file (charts, a sortable, filterable table of artifacts).
    Html,
}

#[derive(Clone, Copy, ValueEnum)]
enum FailOn {
    Suspicious,
    Malicious,
}

impl FailOn {
    fn policy(self) -> policy::FailOn {
        match self {
            FailOn::Suspicious => policy::FailOn::Suspicious,
            FailOn::Malicious => policy::FailOn::Malicious,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// candle asks for its thread count on every matrix product and, unless `RAYON_NUM_THREADS` is
/// set, works it out by parsing `/proc/cpuinfo` each time: most of the probe's time on a
/// checkpoint of 1,500 small tensors. Setting the variable once, to the count rayon uses by
/// default, lets it answer from the environment.
fn pin_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        // SAFETY: called first thing in `main`, before any other thread exists, so nothing
        // reads the environment at the same time.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
    }
}

fn main() -> ExitCode {
    pin_thread_count();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match commands::run(cli) {
        Ok(code) => code,
        // The reader of the output went away (`quarantine scan … | head`): end quietly, as
        // ripgrep does. The exit code still says the run did not deliver its verdict.
        Err(e) if is_broken_pipe(&e) => ExitCode::from(2),
        Err(e) => {
            eprintln!("quarantine: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether `error` comes from writing to a pipe whose reader has closed it.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

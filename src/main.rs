//! The `quarantine` command line: parse arguments, call the library, render, set the exit code.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use quarantine::batch::{Batch, Cache, Plan, Shard};
use quarantine::config::SignatureSettings;
use quarantine::config::{DeviceKind, OnnxLimits, ProbeMode, ProbeSettings, SafetensorsLimits};
use quarantine::config::{LimitOverrides, Size};
use quarantine::policy::{self, Policy};
use quarantine::report::output::ReportFile;
use quarantine::report::progress::Progress;
use quarantine::report::{self, Buffered, RunInfo, Scanned, Sink, Tally};
use quarantine::signatures::{self, Signatures, cache, sources};
use quarantine::{Config, RuleId, RuleRef, Verdict};

const EXIT_CODES: &str = "Exit codes:
  0  no artifact reached the --fail-on level
  1  at least one artifact did (an `error` verdict counts as suspicious: fail closed)
  2  usage error, or the scanner itself could not run";

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
    #[command(after_help = EXIT_CODES)]
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
    /// Output format. `jsonl` streams one artifact per line as each completes.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Lowest verdict that makes the exit code 1 [default: the policy's, else suspicious].
    #[arg(long, value_enum)]
    fail_on: Option<FailOn>,
    /// Text output: show only artifacts that are not clean, and no summary line.
    #[arg(long, short)]
    quiet: bool,
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
    /// Files or directories to scan.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
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
    /// Seconds all signature scans of one artifact may take together; past it, a YAR001
    /// finding and no further matching.
    #[arg(long, value_name = "SECS", default_value_t = SignatureSettings::default().timeout.as_secs())]
    signature_timeout: u64,
    /// Files and members up to SIZE are matched against signature rules whole [default: 1M].
    #[arg(long, value_name = "SIZE")]
    small_file_size: Option<Size>,
    #[command(flatten)]
    signatures: SignatureArgs,
    #[command(flatten)]
    limits: LimitArgs,
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
        Ok(ProbeSettings {
            mode,
            budget,
            device,
            inputs: self.inputs.clone(),
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

/// Limits of the secure zone. Defaults are secure; raise one explicitly when a genuine artifact
/// needs it. Sizes take K, M, G or T suffixes (powers of 1024). Each one given wins over the
/// policy file.
#[derive(clap::Args)]
#[command(next_help_heading = "Secure zone limits")]
struct LimitArgs {
    /// Total bytes unpacked from one artifact, all members and levels together [default: 16G].
    #[arg(long, value_name = "SIZE")]
    max_total_bytes: Option<Size>,
    /// Bytes inflated from a single archive member (stored members are read in place and not
    /// cut) [default: 4G].
    #[arg(long, value_name = "SIZE")]
    max_member_bytes: Option<Size>,
    /// Largest compression ratio accepted for a member (checked past 1 MiB unpacked)
    /// [default: 200].
    #[arg(long, value_name = "N")]
    max_ratio: Option<u64>,
    /// Members opened per artifact, all nesting levels together [default: 100000].
    #[arg(long, value_name = "N")]
    max_members: Option<u64>,
    /// Container nesting depth [default: 8].
    #[arg(long, value_name = "N")]
    max_depth: Option<u32>,
    /// Bytes in one member path [default: 4096].
    #[arg(long, value_name = "N")]
    max_path_len: Option<usize>,
    /// Bytes of a safetensors JSON header [default: 100M].
    #[arg(long, value_name = "SIZE")]
    max_safetensors_header: Option<Size>,
    /// Bytes of an ONNX model decoded (its external data files are not counted) [default: 2G].
    #[arg(long, value_name = "SIZE")]
    max_onnx_bytes: Option<Size>,
    /// Nodes in one ONNX model, all graphs and functions together [default: 1000000].
    #[arg(long, value_name = "N")]
    max_onnx_nodes: Option<u64>,
}

impl LimitArgs {
    fn overrides(&self) -> LimitOverrides {
        LimitOverrides {
            max_total_bytes: self.max_total_bytes,
            max_member_bytes: self.max_member_bytes,
            max_ratio: self.max_ratio,
            max_members: self.max_members,
            max_depth: self.max_depth,
            max_path_len: self.max_path_len,
        }
    }

    fn onnx(&self) -> OnnxLimits {
        let defaults = OnnxLimits::default();
        OnnxLimits {
            max_bytes: self.max_onnx_bytes.map_or(defaults.max_bytes, |Size(v)| v),
            max_nodes: self.max_onnx_nodes.unwrap_or(defaults.max_nodes),
            ..defaults
        }
    }

    fn safetensors(&self) -> SafetensorsLimits {
        let defaults = SafetensorsLimits::default();
        SafetensorsLimits {
            max_header: self
                .max_safetensors_header
                .map_or(defaults.max_header, |Size(v)| v),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
    Jsonl,
    Sarif,
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

fn main() -> ExitCode {
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
    match run(cli) {
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

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => scan(*args),
        Command::Merge(args) => merge(args),
        Command::Admit(args) => admit(*args),
        Command::Provenance(command) => quarantine::provenance::cli::run(command),
        Command::Policy {
            print_default,
            check,
        } => {
            if let Some(path) = check {
                Policy::load(&path)?;
                writeln!(io::stdout(), "{}: valid", path.display())?;
            } else if print_default {
                write!(io::stdout(), "{}", policy::DEFAULT)?;
            } else {
                anyhow::bail!("say --print-default or --check FILE");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules(args) => rules(args),
        Command::Explain { rule, signatures } => {
            if let Ok(RuleRef::Signature(code)) = rule.parse::<RuleRef>() {
                let loaded = signatures.load(&[])?;
                let info = loaded
                    .rules()
                    .iter()
                    .find(|i| i.id.code() == &*code)
                    .with_context(|| {
                        format!("no signature rule `{code}` (run `quarantine rules`)")
                    })?;
                writeln!(
                    io::stdout(),
                    "{} ({}, implies {})\n\n{}\n\nA signature (YARA) rule from the `{}` rule file: it matched content the analysers extracted from the artifact (a pickle call argument, a text member, a small file, or with --deep raw bytes). The finding's evidence shows the matched strings with their offsets inside that content.{}",
                    info.id,
                    info.severity.as_str(),
                    Verdict::from(info.implies).as_str(),
                    info.description.as_deref().unwrap_or("(no description)"),
                    info.namespace,
                    info.reference
                        .as_deref()
                        .map_or(String::new(), |r| format!("\n\nReference: {r}"))
                )?;
                return Ok(ExitCode::SUCCESS);
            }
            let id: RuleId = rule.parse()?;
            let rule = id.info();
            writeln!(
                io::stdout(),
                "{} {} ({}, implies {})\n\n{}\n\n{}\n\nFix: {}",
                rule.code,
                rule.name,
                rule.severity.as_str(),
                Verdict::from(rule.implies).as_str(),
                rule.summary,
                rule.explanation,
                rule.remediation
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn rules(args: RulesArgs) -> Result<ExitCode> {
    if let Some(dir) = &args.check {
        let mut found = sources::from_dir(dir)?;
        if found.is_empty() {
            anyhow::bail!("no *.yar or *.yara files under {}", dir.display());
        }
        let mut all = sources::shipped();
        all.append(&mut found);
        let compiled = match signatures::compile(&all) {
            Ok(compiled) => compiled,
            Err(e) => {
                eprintln!("quarantine: {e}");
                return Ok(ExitCode::from(2));
            }
        };
        for warning in compiled.warnings() {
            eprintln!("{}", warning.report);
        }
        let own = compiled
            .rules()
            .iter()
            .filter(|r| found_namespace(&all, dir, &r.namespace))
            .count();
        writeln!(
            io::stdout(),
            "{}: {own} rules compiled, {} warnings",
            dir.display(),
            compiled.warnings().len()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let loaded = args.signatures.load(&[])?;
    let mut out = io::stdout().lock();
    for id in RuleId::ALL {
        let rule = id.info();
        writeln!(
            out,
            "{}  {:<10} {:<10} {:<28} {}",
            rule.code,
            rule.severity.as_str(),
            Verdict::from(rule.implies).as_str(),
            rule.name,
            rule.summary
        )?;
    }
    for rule in loaded.rules() {
        writeln!(
            out,
            "{}  {:<10} {:<10} {}",
            rule.id,
            rule.severity.as_str(),
            Verdict::from(rule.implies).as_str(),
            rule.description.as_deref().unwrap_or("")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether `namespace` comes from a rule file under `dir`.
fn found_namespace(all: &[signatures::Source], dir: &Path, namespace: &str) -> bool {
    all.iter()
        .any(|s| s.namespace == namespace && Path::new(&s.file).starts_with(dir))
}

/// The policy and scan settings of a `scan` (or `admit`) command line.
fn prepare(args: &ScanArgs) -> Result<(Policy, Config)> {
    let policy = load_policy(args.policy.clone(), args.no_policy, &args.paths)?;
    let signatures = args.signatures.load(policy.rule_dirs())?;
    let config = Config {
        probe: args.probe.settings(&policy)?,
        onnx: args.limits.onnx(),
        safetensors: args.limits.safetensors(),
        allow_globals: args.allow_globals.clone(),
        deny_globals: args.deny_globals.clone(),
        keep_zone: args.keep_zone.clone(),
        signatures: SignatureSettings {
            rules: Some(Arc::new(signatures)),
            small_file_bytes: args
                .small_file_size
                .map_or(SignatureSettings::default().small_file_bytes, |Size(v)| v),
            deep: args.deep || policy.deep().unwrap_or(false),
            timeout: Duration::from_secs(args.signature_timeout),
        },
        ..Config::default()
    };
    quarantine::formats::pickle::validate_config(&config)?;
    Ok((policy, config))
}

fn scan(args: ScanArgs) -> Result<ExitCode> {
    let (policy, config) = prepare(&args)?;
    let cache = match &args.cache {
        Some(dir) => match Cache::open(dir) {
            Ok(cache) => Some(cache),
            // An untrustworthy cache is not used; the scan itself goes on without it.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                eprintln!("quarantine: warning: not using the cache: {e}");
                None
            }
            Err(e) => return Err(e).with_context(|| format!("cannot use cache {}", dir.display())),
        },
        None => None,
    };
    let fail_on = args.output.fail_on.map(FailOn::policy).or(policy.fail_on());
    let log = args.log.open(&policy, None)?;
    let (inner, report_file) = open_sink(&args.output, &args.paths)?;
    let mut sink = quarantine::provenance::cli::LogTee::new(inner);
    let plan = Plan::new(&args.paths, args.shard, args.jobs).context("starting workers")?;
    let batch = Batch {
        config: &config,
        cli_limits: &args.limits.overrides(),
        policy: &policy,
        cache: cache.as_ref(),
        jobs: args.jobs,
    };
    let mut progress = Progress::new(&mut sink, plan.len() as u64);
    let tally = batch
        .run(&plan, &mut progress)
        .context("writing the report")?;
    drop(progress);
    let records = std::mem::take(&mut sink.records);
    commit_report(Box::new(sink), report_file)?;
    if let Some(log) = &log {
        quarantine::provenance::cli::log_scan(log, &args.paths, &policy, &tally, records)?;
    }
    Ok(exit_code(&tally, fail_on))
}

fn admit(args: AdmitArgs) -> Result<ExitCode> {
    let AdmitArgs { scan, admit } = args;
    let (mut policy, config) = prepare(&scan)?;
    policy.for_admission();
    let fail_on = scan
        .output
        .fail_on
        .map(FailOn::policy)
        .or(policy.fail_on())
        .unwrap_or(policy::FailOn::Suspicious);
    let batch = Batch {
        config: &config,
        cli_limits: &scan.limits.overrides(),
        policy: &policy,
        cache: None,
        jobs: scan.jobs,
    };
    let (sink, report_file) = open_sink(&scan.output, &scan.paths)?;
    let code = quarantine::provenance::cli::admit(
        &admit,
        &scan.log,
        &scan.paths,
        &batch,
        scan.jobs,
        fail_on,
        sink,
    )?;
    if let Some(report_file) = report_file {
        report_file.commit().context("writing the report")?;
    }
    Ok(code)
}

/// The policy to apply: `--policy`, else the first `quarantine.toml` above the first scan path.
///
/// A discovered policy that sits inside a scanned directory may have come with the artifacts
/// (a downloaded model repository can ship one). It is applied only when it cannot weaken the
/// scan; one that would must be named with `--policy`, an explicit choice.
fn load_policy(given: Option<PathBuf>, none: bool, paths: &[PathBuf]) -> Result<Policy> {
    if none {
        return Ok(Policy::default());
    }
    if let Some(path) = given {
        return Ok(Policy::load(&path)?);
    }
    let Some(found) = paths.first().and_then(|p| Policy::discover(p)) else {
        return Ok(Policy::default());
    };
    let mut policy = Policy::load(&found)?;
    if let Some(log) = policy.forget_log() {
        eprintln!(
            "quarantine: ignoring [log] path = {} of discovered policy {} (name it with --policy)",
            log.display(),
            found.display()
        );
    }
    let weakens = policy.weakens();
    if !weakens.is_empty() && inside_scanned_dir(&found, paths) {
        anyhow::bail!(
            "policy {} lies inside the tree being scanned and weakens the scan ({}); a model \
             download can ship such a file. Apply it deliberately with --policy {0}, or ignore \
             it with --no-policy",
            found.display(),
            weakens.join(", ")
        );
    }
    eprintln!("quarantine: applying policy {}", found.display());
    Ok(policy)
}

/// Whether `policy` is inside one of the scanned directories.
fn inside_scanned_dir(policy: &Path, paths: &[PathBuf]) -> bool {
    let Some(policy_dir) = policy.parent() else {
        return false;
    };
    paths.iter().any(|p| {
        p.is_dir() && std::fs::canonicalize(p).is_ok_and(|root| policy_dir.starts_with(root))
    })
}

/// The report's destination: `--output FILE` (created before any scan starts, so a path that
/// cannot be written fails at once) or standard output.
fn open_sink(args: &OutputArgs, inputs: &[PathBuf]) -> Result<(Box<dyn Sink>, Option<ReportFile>)> {
    let choice = match args.color {
        ColorChoice::Auto => anstream::ColorChoice::Auto,
        ColorChoice::Always => anstream::ColorChoice::Always,
        ColorChoice::Never => anstream::ColorChoice::Never,
    };
    // Only text output has colour to strip; the other formats go to the destination as is.
    let text = matches!(args.format, OutputFormat::Text);
    let mut report_file = None;
    let out: Box<dyn Write> = match &args.output {
        Some(path) => {
            let streaming = matches!(args.format, OutputFormat::Jsonl);
            let (file, pending) = ReportFile::create(path, streaming, inputs)
                .with_context(|| format!("cannot write --output {}", path.display()))?;
            report_file = Some(pending);
            if !text || matches!(args.color, ColorChoice::Always) {
                Box::new(BufWriter::new(file))
            } else {
                Box::new(BufWriter::new(anstream::StripStream::new(file)))
            }
        }
        None if text => Box::new(anstream::AutoStream::new(io::stdout(), choice)),
        None => Box::new(BufWriter::new(io::stdout())),
    };
    let sink: Box<dyn Sink> = match args.format {
        OutputFormat::Text => Box::new(report::text::Text::new(out, args.quiet)),
        OutputFormat::Jsonl => Box::new(report::jsonl::Jsonl::new(out)),
        OutputFormat::Json => buffered(out, |out, items, info, tally| {
            report::json::write(out, items, info, tally)
        }),
        OutputFormat::Sarif => buffered(out, |out, items, info, _| {
            report::sarif::write(out, items, info)
        }),
    };
    Ok((sink, report_file))
}

/// Moves a finished report file into place, once its sink has written and flushed everything.
fn commit_report(sink: Box<dyn Sink>, report_file: Option<ReportFile>) -> Result<()> {
    drop(sink);
    if let Some(report_file) = report_file {
        report_file.commit().context("writing the report")?;
    }
    Ok(())
}

type Render = fn(&mut dyn Write, &[Scanned], &RunInfo, &Tally) -> io::Result<()>;

fn buffered(mut out: Box<dyn Write>, render: Render) -> Box<dyn Sink> {
    Box::new(Buffered::new(
        move |items: &[Scanned], info: &RunInfo, tally: &Tally| {
            render(out.as_mut(), items, info, tally)
        },
    ))
}

fn merge(args: MergeArgs) -> Result<ExitCode> {
    let mut inputs = Vec::new();
    for path in &args.inputs {
        let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        inputs.push((
            path.display().to_string(),
            Box::new(io::BufReader::new(file)) as Box<dyn io::BufRead>,
        ));
    }
    let (items, info) = report::jsonl::merge(&mut inputs)?;
    let (mut sink, report_file) = open_sink(&args.output, &args.inputs)?;
    let mut tally = Tally::default();
    for item in items {
        tally.add(&item);
        sink.artifact(item).context("writing the report")?;
    }
    sink.finish(&info, &tally).context("writing the report")?;
    commit_report(sink, report_file)?;
    let fail_on = args.output.fail_on.map(FailOn::policy);
    Ok(exit_code(&tally, fail_on))
}

fn exit_code(tally: &Tally, fail_on: Option<policy::FailOn>) -> ExitCode {
    let fail_on = fail_on.unwrap_or(policy::FailOn::Suspicious);
    let s = tally.summary;
    let worst = [
        (s.malicious, Verdict::Malicious),
        (s.suspicious, Verdict::Suspicious),
        (s.error, Verdict::Error),
    ];
    let failed = worst.iter().any(|(n, v)| *n > 0 && fail_on.fails(*v));
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

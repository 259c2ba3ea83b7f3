//! The `quarantine` command line: parse arguments, call the library, render, set the exit code.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use quarantine::config::{
    DeviceKind, OnnxLimits, ProbeMode, ProbeSettings, SafetensorsLimits, ZoneLimits,
};
use quarantine::{Config, RuleId, Verdict, report};

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
    Scan(ScanArgs),
    /// List every rule id with a one-line summary.
    Rules,
    /// Print a rule's full explanation and fix.
    Explain {
        /// A rule id (`PKL001`) or name (`pickle-denied-global`).
        rule: String,
    },
}

#[derive(clap::Args)]
struct ScanArgs {
    /// Files or directories to scan.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Lowest verdict that makes the exit code 1.
    #[arg(long, value_enum, default_value_t = FailOn::Suspicious)]
    fail_on: FailOn,
    /// Text output: show only artifacts that are not clean, and no summary line.
    #[arg(long, short)]
    quiet: bool,
    /// When to colour text output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
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
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    probe: ProbeArgs,
}

/// The robustness probe: weights read into candle, models run without their code and attacked
/// (FGSM/PGD) before the verdict. Never for artifacts already found malicious.
#[derive(clap::Args)]
#[command(next_help_heading = "Robustness probe")]
struct ProbeArgs {
    /// `auto` probes supported models and says why not for others; `require` makes a skipped
    /// probe a finding.
    #[arg(long = "probe", value_enum, default_value_t = ProbeChoice::Auto)]
    mode: ProbeChoice,
    /// Wall-clock budget of the probe per artifact, in seconds.
    #[arg(long = "probe-budget", value_name = "SECONDS", default_value_t = ProbeSettings::default().budget.as_secs_f64())]
    budget: f64,
    /// Where the probe computes; `cuda` needs a build with the `cuda` feature and a GPU.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
    /// Inputs for the behaviour probe (`.npy`, rows of the model's input width) instead of
    /// seeded synthetic ones.
    #[arg(long = "probe-inputs", value_name = "FILE.npy")]
    inputs: Option<PathBuf>,
}

impl ProbeArgs {
    fn settings(&self) -> Result<ProbeSettings> {
        let budget = Duration::try_from_secs_f64(self.budget)
            .ok()
            .filter(|b| !b.is_zero())
            .with_context(|| {
                format!(
                    "--probe-budget {} is not a positive number of seconds",
                    self.budget
                )
            })?;
        let device = match self.device {
            DeviceChoice::Cpu => DeviceKind::Cpu,
            DeviceChoice::Cuda => DeviceKind::Cuda,
        };
        if self.mode != ProbeChoice::Off {
            quarantine::probe::device::open(device)?;
        }
        if let Some(path) = &self.inputs {
            std::fs::metadata(path)
                .with_context(|| format!("--probe-inputs {}", path.display()))?;
        }
        Ok(ProbeSettings {
            mode: match self.mode {
                ProbeChoice::Off => ProbeMode::Off,
                ProbeChoice::Auto => ProbeMode::Auto,
                ProbeChoice::Require => ProbeMode::Require,
            },
            budget,
            device,
            inputs: self.inputs.clone(),
            ..ProbeSettings::default()
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
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
/// needs it. Sizes take K, M, G or T suffixes (powers of 1024).
#[derive(clap::Args)]
#[command(next_help_heading = "Secure zone limits")]
struct LimitArgs {
    /// Total bytes unpacked from one artifact, all members and levels together.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value_t = ZoneLimits::default().max_total_bytes)]
    max_total_bytes: u64,
    /// Bytes inflated from a single archive member (stored members are read in place and not cut).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value_t = ZoneLimits::default().max_member_bytes)]
    max_member_bytes: u64,
    /// Largest compression ratio accepted for a member (checked past 1 MiB unpacked).
    #[arg(long, value_name = "N", default_value_t = ZoneLimits::default().max_ratio)]
    max_ratio: u64,
    /// Members opened per artifact, all nesting levels together.
    #[arg(long, value_name = "N", default_value_t = ZoneLimits::default().max_members)]
    max_members: u64,
    /// Container nesting depth.
    #[arg(long, value_name = "N", default_value_t = ZoneLimits::default().max_depth)]
    max_depth: u32,
    /// Bytes in one member path.
    #[arg(long, value_name = "N", default_value_t = ZoneLimits::default().max_path_len)]
    max_path_len: usize,
    /// Bytes of a safetensors JSON header.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value_t = SafetensorsLimits::default().max_header)]
    max_safetensors_header: u64,
    /// Bytes of an ONNX model decoded (its external data files are not counted).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value_t = OnnxLimits::default().max_bytes)]
    max_onnx_bytes: u64,
    /// Nodes in one ONNX model, all graphs and functions together.
    #[arg(long, value_name = "N", default_value_t = OnnxLimits::default().max_nodes)]
    max_onnx_nodes: u64,
}

impl LimitArgs {
    fn zone(&self) -> ZoneLimits {
        ZoneLimits {
            max_total_bytes: self.max_total_bytes,
            max_member_bytes: self.max_member_bytes,
            max_ratio: self.max_ratio,
            max_members: self.max_members,
            max_depth: self.max_depth,
            max_path_len: self.max_path_len,
        }
    }

    fn onnx(&self) -> OnnxLimits {
        OnnxLimits {
            max_bytes: self.max_onnx_bytes,
            max_nodes: self.max_onnx_nodes,
            ..OnnxLimits::default()
        }
    }
}

/// `4096`, `64K`, `512M`, `16G`, `1T` (powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("unknown size suffix `{c}` (use K, M, G or T)")),
            };
            (&text[..i], shift)
        }
        _ => (text, 0),
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size"))?;
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum FailOn {
    Suspicious,
    Malicious,
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
        Err(e) => {
            eprintln!("quarantine: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => scan(args),
        Command::Rules => {
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { rule } => {
            let id: RuleId = rule.parse()?;
            let rule = id.info();
            println!(
                "{} {} ({}, implies {})\n\n{}\n\n{}\n\nFix: {}",
                rule.code,
                rule.name,
                rule.severity.as_str(),
                Verdict::from(rule.implies).as_str(),
                rule.summary,
                rule.explanation,
                rule.remediation
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn scan(args: ScanArgs) -> Result<ExitCode> {
    let config = Config {
        probe: args.probe.settings()?,
        zone: args.limits.zone(),
        onnx: args.limits.onnx(),
        safetensors: SafetensorsLimits {
            max_header: args.limits.max_safetensors_header,
        },
        allow_globals: args.allow_globals,
        deny_globals: args.deny_globals,
        keep_zone: args.keep_zone,
        ..Config::default()
    };
    quarantine::formats::pickle::validate_config(&config)?;
    let reports = quarantine::scan(&args.paths, &config);

    let choice = match args.color {
        ColorChoice::Auto => anstream::ColorChoice::Auto,
        ColorChoice::Always => anstream::ColorChoice::Always,
        ColorChoice::Never => anstream::ColorChoice::Never,
    };
    let mut out = anstream::AutoStream::new(io::stdout().lock(), choice);
    match args.format {
        OutputFormat::Text => report::text::write(&mut out, &reports, args.quiet),
        OutputFormat::Json => report::json::write(&mut out, &reports),
    }
    .context("writing the report")?;
    out.flush().context("writing the report")?;

    let threshold = match args.fail_on {
        FailOn::Suspicious => Verdict::Suspicious.rank(),
        FailOn::Malicious => Verdict::Malicious.rank(),
    };
    let failed = reports.iter().any(|r| r.verdict.rank() >= threshold);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

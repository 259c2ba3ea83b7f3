//! The `quarantine` command line: parse arguments, call the library, render, set the exit code.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use quarantine::config::{SignatureSettings, ZoneLimits};
use quarantine::signatures::{self, Signatures, cache, sources};
use quarantine::{Config, RuleId, RuleRef, Verdict, report};

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
    /// List every rule id with a one-line summary, signature rules included.
    Rules(RulesArgs),
    /// Print a rule's full explanation and fix.
    Explain {
        /// A rule id (`PKL001`, `YAR:reverse_shells.bash_dev_tcp`) or name (`pickle-denied-global`).
        rule: String,
        #[command(flatten)]
        signatures: SignatureArgs,
    },
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
    fn load(&self) -> Result<Signatures> {
        let mut all = sources::shipped();
        for dir in &self.rule_dirs {
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
    /// Also match signature rules against the raw bytes of every artifact and member (tensor
    /// data included), streaming. Slower; for looking inside weights.
    #[arg(long)]
    deep: bool,
    /// Seconds all signature scans of one artifact may take together; past it, a YAR001
    /// finding and no further matching.
    #[arg(long, value_name = "SECS", default_value_t = SignatureSettings::default().timeout.as_secs())]
    signature_timeout: u64,
    /// Files and members up to SIZE are matched against signature rules whole.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value_t = SignatureSettings::default().small_file_bytes)]
    small_file_size: u64,
    #[command(flatten)]
    signatures: SignatureArgs,
    #[command(flatten)]
    limits: LimitArgs,
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
        Command::Rules(args) => rules(args),
        Command::Explain { rule, signatures } => {
            if let Ok(RuleRef::Signature(code)) = rule.parse::<RuleRef>() {
                let loaded = signatures.load()?;
                let info = loaded
                    .rules()
                    .iter()
                    .find(|i| i.id.code() == &*code)
                    .with_context(|| {
                        format!("no signature rule `{code}` (run `quarantine rules`)")
                    })?;
                println!(
                    "{} ({}, implies {})\n\n{}\n\nA signature (YARA) rule from the `{}` rule file: it matched content the analysers extracted from the artifact (a pickle call argument, a text member, a small file, or with --deep raw bytes). The finding's evidence shows the matched strings with their offsets inside that content.{}",
                    info.id,
                    info.severity.as_str(),
                    Verdict::from(info.implies).as_str(),
                    info.description.as_deref().unwrap_or("(no description)"),
                    info.namespace,
                    info.reference
                        .as_deref()
                        .map_or(String::new(), |r| format!("\n\nReference: {r}"))
                );
                return Ok(ExitCode::SUCCESS);
            }
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
        println!(
            "{}: {own} rules compiled, {} warnings",
            dir.display(),
            compiled.warnings().len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let loaded = args.signatures.load()?;
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

fn scan(args: ScanArgs) -> Result<ExitCode> {
    let signatures = args.signatures.load()?;
    let config = Config {
        zone: args.limits.zone(),
        allow_globals: args.allow_globals,
        deny_globals: args.deny_globals,
        keep_zone: args.keep_zone,
        signatures: SignatureSettings {
            rules: Some(Arc::new(signatures)),
            small_file_bytes: args.small_file_size,
            deep: args.deep,
            timeout: Duration::from_secs(args.signature_timeout),
        },
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

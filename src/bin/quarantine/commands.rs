//! What each command does with its parsed arguments: load the policy, build the settings, run
//! the library, render, and decide the exit code.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;

use quarantine::batch::{Batch, Cache, Plan};
use quarantine::config::SignatureSettings;
use quarantine::config::Size;
use quarantine::hub;
use quarantine::policy::{self, Policy};
use quarantine::report::baseline::Baseline;
use quarantine::report::output::ReportFile;
use quarantine::report::progress::Progress;
use quarantine::report::{self, Buffered, RunInfo, Scanned, Sink, Tally};
use quarantine::signatures::{self, sources};
use quarantine::zone::filter::Filter;
use quarantine::{Config, RuleId, RuleRef, Verdict};

use super::*;

pub(super) fn run(cli: Cli) -> Result<ExitCode> {
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
        Command::Completions { shell } => {
            let mut out = io::stdout().lock();
            clap_complete::generate(shell, &mut Cli::command(), "quarantine", &mut out);
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let mut out = io::stdout().lock();
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
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
fn prepare(args: &ScanArgs) -> Result<(Policy, Config, Signatures)> {
    let stdin = reads_stdin(&args.paths)?;
    // `hf://` references are downloaded later; the policy is looked for above local paths only.
    let local: Vec<PathBuf> = args
        .paths
        .iter()
        .filter(|p| p.to_str().and_then(hub::parse_ref).is_none())
        .cloned()
        .collect();
    for path in &local {
        if stdin {
            break;
        }
        if let Err(e) = std::fs::metadata(path)
            && e.kind() == io::ErrorKind::NotFound
        {
            anyhow::bail!("{}: no such file or directory", path.display());
        }
    }
    // Standard input has no place in a tree: only a policy named with --policy applies.
    let scanned: &[PathBuf] = if stdin { &[] } else { &local };
    let policy = load_policy(args.policy.clone(), args.no_policy, scanned)?;
    let signatures = args.signatures.load(policy.rule_dirs())?;
    // The limits (`args.limits`) are applied per artifact, over the policy's: `Policy::config_for`.
    let config = Config {
        probe: args.probe.settings(&policy)?,
        allow_globals: args.allow_globals.clone(),
        deny_globals: args.deny_globals.clone(),
        keep_zone: args.keep_zone.clone(),
        signatures: SignatureSettings {
            deep: args.deep || policy.deep().unwrap_or(false),
            ..SignatureSettings::default()
        },
        ..Config::default()
    };
    quarantine::formats::pickle::validate_config(&config)?;
    Ok((policy, config, signatures))
}

/// Whether the paths say `-` (standard input), which must then stand alone.
fn reads_stdin(paths: &[PathBuf]) -> Result<bool> {
    let dash = paths.iter().any(|p| p.as_os_str() == "-");
    if dash && paths.len() > 1 {
        anyhow::bail!("`-` (standard input) is scanned alone, not with other paths");
    }
    Ok(dash)
}

/// `quarantine scan -`: one artifact from standard input.
fn scan_stdin(
    args: ScanArgs,
    policy: Policy,
    config: Config,
    signatures: Signatures,
) -> Result<ExitCode> {
    if args.shard.is_some() || args.cache.is_some() || args.log.log.is_some() {
        anyhow::bail!("--shard, --cache and --log do not apply to standard input");
    }
    let fail_on = args.output.fail_on.map(FailOn::policy).or(policy.fail_on());
    let baseline = load_baseline(args.baseline.as_deref())?;
    let input =
        quarantine::batch::stdin::read(io::stdin().lock(), quarantine::batch::stdin::MEMORY_LIMIT)
            .context("reading standard input")?;
    let (mut sink, report_file) = open_sink(&args.output, &[], Some(&signatures))?;
    let batch = Batch {
        config: &config,
        signatures: Some(&signatures),
        cli_limits: &args.limits,
        policy: &policy,
        cache: None,
        jobs: 1,
        baseline: baseline.as_ref(),
        progress: None,
    };
    let tally = batch
        .run_stdin(input.bytes(), sink.as_mut())
        .context("writing the report")?;
    commit_report(sink, report_file)?;
    Ok(exit_code(&tally, fail_on, args.output.allow_errors))
}

fn scan(args: ScanArgs) -> Result<ExitCode> {
    let (policy, config, signatures) = prepare(&args)?;
    if reads_stdin(&args.paths)? {
        return scan_stdin(args, policy, config, signatures);
    }
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
    let baseline = load_baseline(args.baseline.as_deref())?;
    let log = args.log.open(&policy, None)?;
    let filter = scan_filter(&args, &policy)?;
    let (paths, fetched) = fetch_hub_repositories(
        &args.paths,
        args.max_download_bytes,
        args.download_to.clone(),
    )?;
    let (inner, report_file) = open_sink(&args.output, &paths, Some(&signatures))?;
    let mut sink = quarantine::provenance::cli::LogTee::new(inner, log.is_some());
    let mut plan = Plan::new(&paths, args.shard, args.jobs, &filter).context("starting workers")?;
    for repo in &fetched {
        plan.relabel(&repo.dir, &repo.display_prefix);
        for (display, message) in &repo.errors {
            plan.add_unreadable(display.clone(), message.clone());
        }
    }
    let mut progress = Progress::new(&mut sink, plan.len() as u64, || plan.bytes());
    let advance = progress.advance();
    let advance = |n: u64| advance.by(n);
    let batch = Batch {
        config: &config,
        signatures: Some(&signatures),
        cli_limits: &args.limits,
        policy: &policy,
        cache: cache.as_ref(),
        jobs: args.jobs,
        baseline: baseline.as_ref(),
        progress: Some(&advance),
    };
    let tally = batch
        .run(&plan, &mut progress)
        .context("writing the report")?;
    drop(progress);
    let records = std::mem::take(&mut sink.records);
    commit_report(Box::new(sink), report_file)?;
    if let Some(log) = &log {
        quarantine::provenance::cli::log_scan(log, &args.paths, &policy, &tally, records)?;
    }
    Ok(exit_code(&tally, fail_on, args.output.allow_errors))
}

/// Downloads the `hf://` repositories among the scan paths; returns the paths to walk (their
/// temporary folders in place of the references) and the downloads, kept alive for the scan.
fn fetch_hub_repositories(
    given: &[PathBuf],
    max_download_bytes: Option<Size>,
    download_to: Option<PathBuf>,
) -> Result<(Vec<PathBuf>, Vec<hub::Fetched>)> {
    let options = hub::Options::from_env(
        max_download_bytes.map_or(256 << 30, |Size(v)| v),
        download_to,
    );
    let mut paths = Vec::new();
    let mut fetched = Vec::new();
    for path in given {
        match path.to_str().and_then(hub::parse_ref) {
            None => paths.push(path.clone()),
            Some(Err(why)) => anyhow::bail!("cannot scan {}: {why}", path.display()),
            Some(Ok(reference)) => {
                let repo = hub::fetch(&reference, &options)
                    .map_err(|e| anyhow::anyhow!("cannot download {}: {e}", path.display()))?;
                paths.push(repo.dir.clone());
                fetched.push(repo);
            }
        }
    }
    Ok((paths, fetched))
}

/// The `--include`/`--exclude` globs of a scan, after the policy's own.
fn scan_filter(args: &ScanArgs, policy: &Policy) -> Result<Filter> {
    let include: Vec<String> = policy
        .include()
        .iter()
        .chain(&args.include)
        .cloned()
        .collect();
    let exclude: Vec<String> = policy
        .exclude()
        .iter()
        .chain(&args.exclude)
        .cloned()
        .collect();
    Filter::new(&include, &exclude).map_err(anyhow::Error::msg)
}

fn admit(args: AdmitArgs) -> Result<ExitCode> {
    let AdmitArgs { scan, admit } = args;
    if scan.baseline.is_some() {
        anyhow::bail!("admit judges every finding; --baseline applies to scan only");
    }
    if reads_stdin(&scan.paths)? {
        anyhow::bail!("admit signs files on disk; it does not read standard input");
    }
    if scan
        .paths
        .iter()
        .any(|p| p.to_str().and_then(hub::parse_ref).is_some())
    {
        anyhow::bail!(
            "admit signs files on disk: download the repository with `scan hf://… --download-to DIR`, then admit DIR"
        );
    }
    let (mut policy, config, signatures) = prepare(&scan)?;
    policy.for_admission();
    let fail_on = scan
        .output
        .fail_on
        .map(FailOn::policy)
        .or(policy.fail_on())
        .unwrap_or(policy::FailOn::Suspicious);
    let batch = Batch {
        config: &config,
        signatures: Some(&signatures),
        cli_limits: &scan.limits,
        policy: &policy,
        cache: None,
        jobs: scan.jobs,
        baseline: None,
        progress: None,
    };
    // Everything `admit` signs is scanned: exclusions would admit files nobody looked at.
    if !scan_filter(&scan, &policy)?.is_empty() {
        anyhow::bail!(
            "admit scans every file it signs; --include/--exclude (and a policy's include/exclude) \
             cannot be used with it"
        );
    }
    let (sink, report_file) = open_sink(&scan.output, &scan.paths, Some(&signatures))?;
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

/// `--baseline FILE`: the findings of an earlier JSON report.
fn load_baseline(path: Option<&Path>) -> Result<Option<Baseline>> {
    path.map(|p| Baseline::load(p).map_err(anyhow::Error::msg))
        .transpose()
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
    if !policy.accepts().is_empty() && beside_scanned(&found, paths) {
        eprintln!(
            "quarantine: warning: not honouring the [[accept]] entries of {} (it lies inside the \
             scanned tree; name it with --policy to accept risks); findings they match count \
             and are reported as ACC002",
            found.display()
        );
        policy.refuse_accepts(format!(
            "policy {} lies inside the scanned tree (a model download can ship one); only a \
             policy named with --policy or found above the scan root may accept risks",
            found.display()
        ));
    }
    eprintln!("quarantine: applying policy {}", found.display());
    Ok(policy)
}

/// Whether `policy` is inside one of the scanned directories or beside one of the scanned
/// files: a place a downloaded artifact could have brought it from.
fn beside_scanned(policy: &Path, paths: &[PathBuf]) -> bool {
    let Some(policy_dir) = policy.parent() else {
        return true;
    };
    inside_scanned_dir(policy, paths)
        || paths.iter().any(|p| {
            !p.is_dir()
                && std::fs::canonicalize(p)
                    .ok()
                    .and_then(|f| f.parent().map(|d| d == policy_dir))
                    .unwrap_or(false)
        })
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
fn open_sink(
    args: &OutputArgs,
    inputs: &[PathBuf],
    signatures: Option<&Signatures>,
) -> Result<(Box<dyn Sink>, Option<ReportFile>)> {
    let choice = match args.color {
        ColorChoice::Auto => anstream::ColorChoice::Auto,
        ColorChoice::Always => anstream::ColorChoice::Always,
        ColorChoice::Never => anstream::ColorChoice::Never,
    };
    // Only text output has colour to strip; the other formats go to the destination as is.
    let text = matches!(args.format, OutputFormat::Text | OutputFormat::Summary);
    let mut report_file = None;
    let mut out: Box<dyn Write> = match &args.output {
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
    let view = report::text::View {
        quiet: args.quiet,
        verbose: args.verbose,
    };
    let sink: Box<dyn Sink> = match args.format {
        OutputFormat::Text => Box::new(report::text::Text::new(out, view)),
        OutputFormat::Summary => Box::new(report::text::OneLine::new(out, view)),
        OutputFormat::Jsonl => Box::new(report::jsonl::Jsonl::new(out)),
        OutputFormat::Json => buffered(out, |out, items, info, tally| {
            report::json::write(out, items, info, tally)
        }),
        OutputFormat::Html => buffered(out, |out, items, info, tally| {
            report::html::write(out, items, info, tally)
        }),
        OutputFormat::Sarif => {
            let options = report::sarif::Options {
                root: sarif_root(args.sarif_root.as_deref())?,
                signatures: signatures.map(|s| s.rules().to_vec()).unwrap_or_default(),
            };
            Box::new(Buffered::new(
                move |items: &[Scanned], info: &RunInfo, _: &Tally| {
                    report::sarif::write(out.as_mut(), items, info, &options)
                },
            ))
        }
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

/// The directory SARIF URIs are relative to: `--sarif-root`, else the top of the git work tree
/// around the current directory, else the current directory.
fn sarif_root(given: Option<&Path>) -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    if let Some(dir) = given {
        return std::fs::canonicalize(cwd.join(dir))
            .with_context(|| format!("--sarif-root {}", dir.display()));
    }
    let top = cwd
        .ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(&cwd);
    Ok(top.to_path_buf())
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
    let (mut sink, report_file) = open_sink(&args.output, &args.inputs, None)?;
    let mut tally = Tally::default();
    for item in items {
        tally.add(&item);
        sink.artifact(item).context("writing the report")?;
    }
    sink.finish(&info, &tally).context("writing the report")?;
    commit_report(sink, report_file)?;
    let fail_on = args.output.fail_on.map(FailOn::policy);
    Ok(exit_code(&tally, fail_on, args.output.allow_errors))
}

/// 1 when an artifact reached `fail_on`, or when one could not be read (`error`) and errors
/// are not explicitly allowed: an unread artifact is never a pass.
fn exit_code(tally: &Tally, fail_on: Option<policy::FailOn>, allow_errors: bool) -> ExitCode {
    let fail_on = fail_on.unwrap_or(policy::FailOn::Suspicious);
    let s = tally.summary;
    let worst = [
        (s.malicious, Verdict::Malicious),
        (s.suspicious, Verdict::Suspicious),
    ];
    let failed = worst.iter().any(|(n, v)| *n > 0 && fail_on.fails(*v));
    if failed || (s.error > 0 && !allow_errors) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

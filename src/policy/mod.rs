//! The policy file, `quarantine.toml`: fail-on level, extra pickle globals, disabled rules,
//! severity overrides, zone limits, signature rule directories, probe settings, and per-path
//! overrides selected by glob.
//!
//! Discovery walks up from the scan root; `--policy FILE` names one. Unknown keys are errors
//! that name the key and its line, so a typo cannot silently weaken a scan.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::{Config, LimitOverrides, ProbeMode};
use crate::model::finding::{ArtifactReport, Implies, Severity, Verdict};
use crate::model::rules::RuleRef;
use crate::zone::digest;

pub mod accept;

/// The file name looked for in the scan root and its parents.
pub const FILE_NAME: &str = "quarantine.toml";

/// `quarantine policy --print-default`: every key with its default, commented.
pub const DEFAULT: &str = include_str!("default.toml");

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid policy {path}: {message}")]
    Invalid { path: String, message: String },
}

/// The lowest verdict that fails a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    Suspicious,
    Malicious,
}

impl FailOn {
    pub fn fails(self, verdict: Verdict) -> bool {
        let threshold = match self {
            FailOn::Suspicious => Verdict::Suspicious,
            FailOn::Malicious => Verdict::Malicious,
        };
        verdict.rank() >= threshold.rank()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PickleSection {
    #[serde(default)]
    allow_globals: Vec<String>,
    #[serde(default)]
    deny_globals: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesSection {
    #[serde(default)]
    disabled: Vec<RuleRef>,
    #[serde(default)]
    severity: BTreeMap<RuleRef, Severity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    pickle: PickleSection,
    #[serde(default)]
    rules: RulesSection,
    #[serde(default)]
    limits: LimitOverrides,
}

/// `[signatures]`: applies to the whole run (rules are compiled once).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignaturesSection {
    /// Rule directories, relative to the policy file's directory.
    #[serde(default)]
    dirs: Vec<PathBuf>,
    deep: Option<bool>,
}

/// `[probe]`: applies to the whole run.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeSection {
    mode: Option<ProbeModeName>,
    budget_seconds: Option<f64>,
    /// PGD flip rate at 4/255 above which a model is not clean (PRB003); unset: no gate.
    gate_max_flip_rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ProbeModeName {
    Off,
    Auto,
    Require,
}

/// `[log]`: the audit log. Honoured only from a policy named with `--policy` (see
/// [`Policy::forget_log`]): a log path is a place the scanner writes to.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogSection {
    /// Relative to the policy file's directory.
    path: Option<PathBuf>,
    checkpoint_every: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideSection {
    paths: Vec<Spanned<String>>,
    #[serde(default)]
    pickle: PickleSection,
    #[serde(default)]
    rules: RulesSection,
    #[serde(default)]
    limits: LimitOverrides,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    fail_on: Option<FailOn>,
    /// Globs (ripgrep syntax) of files and directories the walk leaves out / keeps only.
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    pickle: PickleSection,
    #[serde(default)]
    rules: RulesSection,
    #[serde(default)]
    limits: LimitOverrides,
    #[serde(default)]
    signatures: SignaturesSection,
    #[serde(default)]
    probe: ProbeSection,
    #[serde(default)]
    log: LogSection,
    #[serde(default)]
    overrides: Vec<OverrideSection>,
    /// Accepted risks (see [`accept`]).
    #[serde(default)]
    accept: Vec<accept::EntryFile>,
}

/// Which policy file a run applied, as recorded in its report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySource {
    pub path: String,
    pub sha256: String,
}

/// A parsed policy: the top level, then each override with its compiled globs.
#[derive(Debug, Default)]
pub struct Policy {
    pub source: Option<PolicySource>,
    fail_on: Option<FailOn>,
    /// `[signatures] dirs`, relative to the policy file until [`Policy::load`] resolves them.
    rule_dirs: Vec<PathBuf>,
    deep: Option<bool>,
    probe_mode: Option<ProbeMode>,
    probe_budget: Option<Duration>,
    probe_gate: Option<f64>,
    exclude: Vec<String>,
    include: Vec<String>,
    log_path: Option<PathBuf>,
    log_every: Option<u64>,
    /// Set for `admit`: disabled rules never drop a finding that implies `malicious`.
    admission: bool,
    base: Settings,
    overrides: Vec<(GlobSet, Settings)>,
    /// `[[accept]]`: accepted risks.
    accepts: Vec<accept::Entry>,
    /// Why the accepted risks may not accept anything (the policy is not trusted), if so.
    accepts_refused: Option<String>,
    /// The date acceptances are judged on (`YYYY-MM-DD`); unset: today, in UTC.
    today: Option<String>,
}

impl Policy {
    /// The first `quarantine.toml` in `start` (or its directory, for a file) and its parents.
    pub fn discover(start: &Path) -> Option<PathBuf> {
        let start = std::fs::canonicalize(start).ok()?;
        let dir = if start.is_dir() {
            start.as_path()
        } else {
            start.parent()?
        };
        dir.ancestors()
            .map(|d| d.join(FILE_NAME))
            .find(|candidate| candidate.is_file())
    }

    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: shown.clone(),
            source,
        })?;
        let mut policy = Policy::parse(&text).map_err(|message| PolicyError::Invalid {
            path: shown.clone(),
            message,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for rules in &mut policy.rule_dirs {
            *rules = confined(dir, rules).map_err(|message| PolicyError::Invalid {
                path: shown.clone(),
                message,
            })?;
        }
        if let Some(log) = &mut policy.log_path {
            *log = dir.join(&*log);
        }
        policy.source = Some(PolicySource {
            path: shown,
            sha256: digest::sha256_hex(text.as_bytes()),
        });
        Ok(policy)
    }

    /// Parses policy text; the error names the key and line at fault.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut overrides = Vec::new();
        for section in file.overrides {
            let mut globs = GlobSetBuilder::new();
            for pattern in &section.paths {
                let glob = Glob::new(pattern.get_ref()).map_err(|e| {
                    format!(
                        "line {}: overrides.paths: bad glob `{}`: {}",
                        line_of(text, pattern.span().start),
                        pattern.get_ref(),
                        e.kind()
                    )
                })?;
                globs.add(glob);
            }
            let globs = globs.build().map_err(|e| e.to_string())?;
            let settings = Settings {
                pickle: section.pickle,
                rules: section.rules,
                limits: section.limits,
            };
            overrides.push((globs, settings));
        }
        let probe_budget = match file.probe.budget_seconds {
            Some(seconds) => Some(
                Duration::try_from_secs_f64(seconds)
                    .ok()
                    .filter(|b| !b.is_zero())
                    .ok_or_else(|| {
                        format!("[probe] budget_seconds: {seconds} is not a positive number")
                    })?,
            ),
            None => None,
        };
        if let Some(rate) = file.probe.gate_max_flip_rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(format!(
                "[probe] gate_max_flip_rate: {rate} is not a rate between 0 and 1"
            ));
        }
        crate::zone::filter::Filter::new(&file.include, &file.exclude)
            .map_err(|e| format!("include/exclude: {e}"))?;
        let accepts = file
            .accept
            .into_iter()
            .enumerate()
            .map(|(i, entry)| accept::Entry::check(entry, i + 1))
            .collect::<Result<Vec<_>, _>>()?;
        let policy = Policy {
            source: None,
            fail_on: file.fail_on,
            exclude: file.exclude,
            include: file.include,
            probe_gate: file.probe.gate_max_flip_rate,
            rule_dirs: file.signatures.dirs,
            deep: file.signatures.deep,
            probe_mode: file.probe.mode.map(|m| match m {
                ProbeModeName::Off => ProbeMode::Off,
                ProbeModeName::Auto => ProbeMode::Auto,
                ProbeModeName::Require => ProbeMode::Require,
            }),
            probe_budget,
            log_path: file.log.path,
            log_every: file.log.checkpoint_every,
            admission: false,
            base: Settings {
                pickle: file.pickle,
                rules: file.rules,
                limits: file.limits,
            },
            overrides,
            accepts,
            accepts_refused: None,
            today: None,
        };
        for settings in policy.all_settings() {
            let config = Config {
                allow_globals: settings.pickle.allow_globals.clone(),
                deny_globals: settings.pickle.deny_globals.clone(),
                ..Config::default()
            };
            crate::formats::pickle::validate_config(&config)
                .map_err(|e| format!("[pickle] allow_globals/deny_globals: {e}"))?;
        }
        Ok(policy)
    }

    pub fn fail_on(&self) -> Option<FailOn> {
        self.fail_on
    }

    /// The settings of this policy that make a scan less strict than the defaults (failing
    /// only on malicious, disabled rules, allowed pickle globals, the probe switched off, limits
    /// raised) or that make the scanner read files of the policy's choosing (rule directories).
    pub fn weakens(&self) -> Vec<&'static str> {
        let mut found = Vec::new();
        if !self.rule_dirs.is_empty() {
            found.push("signatures.dirs");
        }
        if self.all_settings().any(|s| !s.limits.raised().is_empty()) {
            found.push("limits raised above the defaults");
        }
        if self.fail_on == Some(FailOn::Malicious) {
            found.push("fail_on = \"malicious\"");
        }
        if self.all_settings().any(|s| !s.rules.disabled.is_empty()) {
            found.push("rules.disabled");
        }
        if self
            .all_settings()
            .any(|s| !s.pickle.allow_globals.is_empty())
        {
            found.push("pickle.allow_globals");
        }
        if self.probe_mode == Some(ProbeMode::Off) {
            found.push("probe.mode = \"off\"");
        }
        // Leaving files out of the walk is the plainest way to weaken a scan.
        if !self.exclude.is_empty() {
            found.push("exclude");
        }
        if !self.include.is_empty() {
            found.push("include");
        }
        found
    }

    /// `exclude`: globs the walk leaves out.
    pub fn exclude(&self) -> &[String] {
        &self.exclude
    }

    /// `include`: globs of the only files the walk takes.
    pub fn include(&self) -> &[String] {
        &self.include
    }

    /// `[probe] gate_max_flip_rate`, when set.
    pub fn probe_gate(&self) -> Option<f64> {
        self.probe_gate
    }

    /// `[signatures] dirs`: rule directories to compile with the shipped rules.
    pub fn rule_dirs(&self) -> &[PathBuf] {
        &self.rule_dirs
    }

    /// `[signatures] deep`, when set.
    pub fn deep(&self) -> Option<bool> {
        self.deep
    }

    /// `[log] path`, resolved against the policy's directory, when set and trusted.
    pub fn log_path(&self) -> Option<&Path> {
        self.log_path.as_deref()
    }

    /// `[log] checkpoint_every`, when set.
    pub fn log_every(&self) -> Option<u64> {
        self.log_every
    }

    /// Drops `[log] path` from a policy that was discovered rather than named with `--policy`:
    /// a file shipped with a model must not choose where the scanner writes. Returns the
    /// path dropped.
    pub fn forget_log(&mut self) -> Option<PathBuf> {
        self.log_path.take()
    }

    /// For `admit`: a malicious artifact is never admitted, so no disabled rule may hide a
    /// finding that implies `malicious`.
    pub fn for_admission(&mut self) {
        self.admission = true;
    }

    /// `[[accept]]`: the accepted risks.
    pub fn accepts(&self) -> &[accept::Entry] {
        &self.accepts
    }

    /// Refuses every `[[accept]]` entry (`why`: the policy is not trusted to accept risks, for
    /// one found inside the scanned tree); a finding an entry matches then counts, with an
    /// `ACC002` finding that says why.
    pub fn refuse_accepts(&mut self, why: String) {
        self.accepts_refused = Some(why);
    }

    /// Judges acceptances as of `date` (`YYYY-MM-DD`) rather than today.
    pub fn set_today(&mut self, date: &str) {
        self.today = Some(date.to_owned());
    }

    /// `[probe] mode`, when set.
    pub fn probe_mode(&self) -> Option<ProbeMode> {
        self.probe_mode
    }

    /// `[probe] budget_seconds`, when set.
    pub fn probe_budget(&self) -> Option<Duration> {
        self.probe_budget
    }

    fn all_settings(&self) -> impl Iterator<Item = &Settings> {
        std::iter::once(&self.base).chain(self.overrides.iter().map(|(_, s)| s))
    }

    /// The settings that apply to an artifact at `relative` (below the scan root): the top
    /// level, then every matching override in file order.
    fn settings_for<'a>(&'a self, relative: &'a str) -> impl Iterator<Item = &'a Settings> {
        std::iter::once(&self.base).chain(
            self.overrides
                .iter()
                .filter(move |(globs, _)| globs.is_match(relative))
                .map(|(_, s)| s),
        )
    }

    /// The scan configuration for the artifact at `relative`: the policy's limits and globals
    /// on top of `cli` defaults, then the command line's own limits and globals on top.
    pub fn config_for(&self, cli: &Config, cli_limits: &LimitOverrides, relative: &str) -> Config {
        let mut config = Config {
            allow_globals: Vec::new(),
            deny_globals: Vec::new(),
            ..cli.clone()
        };
        for settings in self.settings_for(relative) {
            settings.limits.apply(&mut config);
            config
                .allow_globals
                .extend_from_slice(&settings.pickle.allow_globals);
            config
                .deny_globals
                .extend_from_slice(&settings.pickle.deny_globals);
        }
        cli_limits.apply(&mut config);
        config.allow_globals.extend_from_slice(&cli.allow_globals);
        config.deny_globals.extend_from_slice(&cli.deny_globals);
        config
    }

    /// Drops findings of disabled rules, applies severity overrides and accepted risks, and
    /// decides the verdict again from what is left.
    pub fn adjust(&self, relative: &str, report: &mut ArtifactReport) {
        self.adjust_rules(relative, report);
        if self.accepts.is_empty() {
            return;
        }
        let today = self.today.clone().unwrap_or_else(accept::today_utc);
        let policy = self
            .source
            .as_ref()
            .map_or("the policy", |s| s.path.as_str());
        accept::Apply {
            entries: &self.accepts,
            refused: self.accepts_refused.as_deref(),
            admission: self.admission,
            today: &today,
            policy,
        }
        .apply(report);
    }

    fn adjust_rules(&self, relative: &str, report: &mut ArtifactReport) {
        let mut disabled = Vec::new();
        let mut severity = BTreeMap::new();
        for settings in self.settings_for(relative) {
            disabled.extend_from_slice(&settings.rules.disabled);
            severity.extend(settings.rules.severity.iter().map(|(k, v)| (k.clone(), *v)));
        }
        if disabled.is_empty() && severity.is_empty() {
            return;
        }
        let keep_malicious = self.admission;
        report.findings.retain(|f| {
            !disabled.contains(&f.rule_id) || (keep_malicious && f.verdict == Implies::Malicious)
        });
        for finding in &mut report.findings {
            if let Some(s) = severity.get(&finding.rule_id) {
                finding.severity = *s;
            }
        }
        report.verdict = ArtifactReport::decide(&report.findings, report.error.as_deref());
    }
}

/// 1-based line of a byte offset.
/// `name` joined to the policy's directory `dir`, which it may not leave: a policy names rule
/// directories of its own tree, never files elsewhere on the machine.
fn confined(dir: &Path, name: &Path) -> Result<PathBuf, String> {
    let joined = dir.join(name);
    let root = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    match std::fs::canonicalize(&joined) {
        Ok(real) if real.starts_with(&root) => Ok(joined),
        Ok(real) => Err(format!(
            "[signatures] dirs: `{}` resolves to {}, outside the policy's directory",
            name.display(),
            real.display()
        )),
        // A directory that does not exist fails later with its own message.
        Err(_)
            if !name.is_absolute()
                && !name
                    .components()
                    .any(|c| c == std::path::Component::ParentDir) =>
        {
            Ok(joined)
        }
        Err(e) => Err(format!("[signatures] dirs: `{}`: {e}", name.display())),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |t| t.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::finding::{Finding, Location};
    use crate::model::rules::RuleId;

    fn report(rule: RuleId) -> ArtifactReport {
        let location = Location {
            path: "m.pkl".to_owned(),
            member: None,
            member_chain: Vec::new(),
            offset: None,
            line: None,
        };
        let findings = vec![Finding::new(rule, location, "m".to_owned(), None)];
        ArtifactReport {
            verdict: ArtifactReport::decide(&findings, None),
            findings,
            error: None,
            ..ArtifactReport::failed("m.pkl".to_owned(), String::new())
        }
    }

    #[test]
    fn the_default_policy_is_the_default() {
        let policy = Policy::parse(DEFAULT).unwrap();
        assert_eq!(policy.fail_on(), Some(FailOn::Suspicious));
        let config = policy.config_for(&Config::default(), &LimitOverrides::default(), "a/b");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn overrides_apply_by_glob_in_file_order_and_the_command_line_wins() {
        let policy = Policy::parse(
            "[limits]\nmax_depth = 3\nmax_total_bytes = \"1G\"\n\
             [rules]\ndisabled = [\"FMT002\"]\n\
             [[overrides]]\npaths = [\"legacy/**\"]\nlimits.max_depth = 5\n\
             rules.severity = { PKL002 = \"info\" }\npickle.allow_globals = [\"lab.*\"]\n\
             [[overrides]]\npaths = [\"legacy/old/*.pkl\"]\nlimits.max_depth = 6\n",
        )
        .unwrap();
        let cli = Config {
            allow_globals: vec!["cli.Model".to_owned()],
            ..Config::default()
        };
        let none = LimitOverrides::default();
        let top = policy.config_for(&cli, &none, "new/m.pkl");
        assert_eq!((top.zone.max_depth, top.zone.max_total_bytes), (3, 1 << 30));
        assert_eq!(top.allow_globals, ["cli.Model"]);
        let legacy = policy.config_for(&cli, &none, "legacy/a/m.pkl");
        assert_eq!(legacy.zone.max_depth, 5);
        assert_eq!(legacy.allow_globals, ["lab.*", "cli.Model"]);
        assert_eq!(
            policy
                .config_for(&cli, &none, "legacy/old/m.pkl")
                .zone
                .max_depth,
            6
        );
        let given = LimitOverrides {
            max_depth: Some(2),
            ..LimitOverrides::default()
        };
        assert_eq!(
            policy
                .config_for(&cli, &given, "legacy/old/m.pkl")
                .zone
                .max_depth,
            2
        );

        let mut r = report(RuleId::PickleUnknownGlobal);
        policy.adjust("legacy/x.pkl", &mut r);
        assert_eq!(r.findings[0].severity, Severity::Info);
        assert_eq!(
            r.verdict,
            Verdict::Suspicious,
            "severity does not change the verdict"
        );
        let mut r = report(RuleId::ExtensionMismatch);
        assert_eq!(r.verdict, Verdict::Suspicious);
        policy.adjust("anywhere", &mut r);
        assert!(r.findings.is_empty());
        assert_eq!(r.verdict, Verdict::Clean);
    }

    #[test]
    fn every_limit_of_the_settings_table_is_a_policy_key() {
        let policy = Policy::parse(
            "[limits]\nmax_pickle_stack = 4\nmax_onnx_graph_depth = 3\nsignature_timeout = 5\n\
             [[overrides]]\npaths = [\"big/**\"]\nlimits.max_pickle_string = \"1K\"\n\
             limits.max_safetensors_header = \"200M\"\n",
        )
        .unwrap();
        let none = LimitOverrides::default();
        let top = policy.config_for(&Config::default(), &none, "m.pkl");
        assert_eq!(top.pickle.max_stack, 4);
        assert_eq!(top.onnx.max_graph_depth, 3);
        assert_eq!(top.signatures.timeout, Duration::from_secs(5));
        assert_eq!(top.pickle.max_string, Config::default().pickle.max_string);
        let big = policy.config_for(&Config::default(), &none, "big/m.pkl");
        assert_eq!((big.pickle.max_stack, big.pickle.max_string), (4, 1024));
        assert_eq!(big.safetensors.max_header, 200 << 20);
        // Raising one of them is a weakening, like raising a zone limit.
        assert_eq!(policy.weakens(), ["limits raised above the defaults"]);
        let err = Policy::parse("[limits]\nmax_pickle_stak = 1\n").unwrap_err();
        assert!(err.contains("max_pickle_stak"), "{err}");
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let err = Policy::parse("fail_on = \"malicious\"\n\n[limits]\nmax_dept = 1\n").unwrap_err();
        assert!(err.contains("line 4") && err.contains("max_dept"), "{err}");
        let err = Policy::parse("fail_on = \"sometimes\"\n").unwrap_err();
        assert!(err.contains("line 1") && err.contains("sometimes"), "{err}");
        let err = Policy::parse("[[overrides]]\nrules.disabled = []\n").unwrap_err();
        assert!(err.contains("paths"), "{err}");
        let err = Policy::parse("[[overrides]]\n\npaths = [\"a{\"]\n").unwrap_err();
        assert!(err.contains("line 3") && err.contains("a{"), "{err}");
    }
}

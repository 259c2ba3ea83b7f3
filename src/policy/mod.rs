//! The policy file, `quarantine.toml`: fail-on level, extra pickle globals, disabled rules,
//! severity overrides, zone limits, and per-path overrides selected by glob.
//!
//! Discovery walks up from the scan root; `--policy FILE` names one. Unknown keys are errors
//! that name the key and its line, so a typo cannot silently weaken a scan.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::{Config, LimitOverrides};
use crate::finding::{ArtifactReport, Severity, Verdict};
use crate::rules::RuleId;
use crate::zone::digest;

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
    disabled: Vec<RuleId>,
    #[serde(default)]
    severity: BTreeMap<RuleId, Severity>,
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
    #[serde(default)]
    pickle: PickleSection,
    #[serde(default)]
    rules: RulesSection,
    #[serde(default)]
    limits: LimitOverrides,
    #[serde(default)]
    overrides: Vec<OverrideSection>,
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
    base: Settings,
    overrides: Vec<(GlobSet, Settings)>,
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
        let policy = Policy {
            source: None,
            fail_on: file.fail_on,
            base: Settings {
                pickle: file.pickle,
                rules: file.rules,
                limits: file.limits,
            },
            overrides,
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
            settings.limits.apply(&mut config.zone);
            config
                .allow_globals
                .extend_from_slice(&settings.pickle.allow_globals);
            config
                .deny_globals
                .extend_from_slice(&settings.pickle.deny_globals);
        }
        cli_limits.apply(&mut config.zone);
        config.allow_globals.extend_from_slice(&cli.allow_globals);
        config.deny_globals.extend_from_slice(&cli.deny_globals);
        config
    }

    /// Drops findings of disabled rules, applies severity overrides and decides the verdict
    /// again from what is left.
    pub fn adjust(&self, relative: &str, report: &mut ArtifactReport) {
        let mut disabled = Vec::new();
        let mut severity = BTreeMap::new();
        for settings in self.settings_for(relative) {
            disabled.extend_from_slice(&settings.rules.disabled);
            severity.extend(settings.rules.severity.iter().map(|(k, v)| (*k, *v)));
        }
        if disabled.is_empty() && severity.is_empty() {
            return;
        }
        report.findings.retain(|f| !disabled.contains(&f.rule_id));
        for finding in &mut report.findings {
            if let Some(s) = severity.get(&finding.rule_id) {
                finding.severity = *s;
            }
        }
        report.verdict = ArtifactReport::decide(&report.findings, report.error.as_deref());
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |t| t.matches('\n').count() + 1)
}

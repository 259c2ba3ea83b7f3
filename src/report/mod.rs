//! Renderers. They know findings and rules, never analysers.
//!
//! A run hands each artifact's result to one [`Sink`] as it completes; workers never print.
//! Text output streams in walk order, JSONL in completion order (each line carries its `seq`,
//! the walk position), and JSON and SARIF, which are single documents, are written at the end.

pub mod baseline;
pub mod html;
pub mod json;
pub mod jsonl;
pub mod output;
pub mod progress;
pub mod rules_doc;
pub mod sarif;
pub mod text;

use std::collections::BTreeMap;
use std::io;

use serde::{Deserialize, Serialize};

use crate::batch::Shard;
use crate::model::finding::{ArtifactReport, Finding, Severity, Verdict};
use crate::policy::PolicySource;

/// Version of the JSON report schema. Fields may be added freely; renaming or removing one
/// bumps this number.
pub const SCHEMA_VERSION: u32 = 1;

/// One artifact's result as a run reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scanned {
    /// Position in the walk of the whole artifact set (all shards together). Reports list
    /// artifacts in this order; `merge` restores it.
    pub seq: u64,
    #[serde(flatten)]
    pub report: ArtifactReport,
    /// The path relative to the scan root it was found under, `/`-separated.
    pub relative_path: String,
    /// Taken from `--cache` rather than analysed in this run.
    #[serde(default)]
    pub cached: bool,
    /// Wall time spent on this artifact in this run, in milliseconds.
    #[serde(default)]
    pub duration_ms: u64,
}

/// What a run applied, recorded in every report format.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The policy file applied, if any, and its SHA-256.
    pub policy: Option<PolicySource>,
    /// `K/N` when this run scanned one shard of the artifact set.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shard: Option<Shard>,
    /// `--baseline`: the previous report and how many of its findings were left out.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub baseline: Option<baseline::BaselineInfo>,
}

/// Where a run's results go.
pub trait Sink {
    /// Whether results must arrive in walk order (the run reorders them) rather than as they
    /// complete.
    fn ordered(&self) -> bool;
    fn artifact(&mut self, item: Scanned) -> io::Result<()>;
    /// Called whenever no further result is waiting: streaming sinks flush here, so output
    /// follows the scan closely without a system call per artifact under load.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self, info: &RunInfo, tally: &Tally) -> io::Result<()>;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub artifacts: usize,
    pub clean: usize,
    pub suspicious: usize,
    pub malicious: usize,
    pub error: usize,
}

impl Summary {
    pub fn add(&mut self, verdict: Verdict) {
        self.artifacts += 1;
        match verdict {
            Verdict::Clean => self.clean += 1,
            Verdict::Suspicious => self.suspicious += 1,
            Verdict::Malicious => self.malicious += 1,
            Verdict::Error => self.error += 1,
        }
    }

    /// The verdict of the whole run: malicious if anything is, then suspicious, then error.
    pub fn verdict(&self) -> Verdict {
        if self.malicious > 0 {
            Verdict::Malicious
        } else if self.suspicious > 0 {
            Verdict::Suspicious
        } else if self.error > 0 {
            Verdict::Error
        } else {
            Verdict::Clean
        }
    }
}

/// The finding that decides an artifact's verdict (highest verdict, then severity), the one a
/// one-line view names; info findings of a clean artifact are not shown as its top rule, nor
/// are accepted findings.
pub fn top_finding(report: &ArtifactReport) -> Option<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.accepted.is_none())
        .filter(|f| f.severity > Severity::Info || report.verdict != Verdict::Clean)
        .max_by(|a, b| {
            a.verdict
                .cmp(&b.verdict)
                .then(a.severity.cmp(&b.severity))
                .then(b.rule_id.cmp(&a.rule_id))
        })
}

/// How many artifacts a rule fired on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCount {
    pub rule_id: String,
    pub artifacts: usize,
}

/// A slow artifact, for the end-of-run summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slow {
    pub path: String,
    pub duration_ms: u64,
}

/// The end-of-run summary, gathered as results arrive in bounded memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub summary: Summary,
    /// Artifacts taken from the cache.
    pub cached: usize,
    /// Bytes of all artifacts.
    pub bytes: u64,
    /// Findings a policy's `[[accept]]` entries accepted (they decide no verdict).
    #[serde(default)]
    pub accepted: usize,
    rules: BTreeMap<String, usize>,
    slowest: Vec<Slow>,
}

/// How many of the slowest artifacts the summary keeps.
const SLOWEST: usize = 5;

impl Tally {
    pub fn add(&mut self, item: &Scanned) {
        self.summary.add(item.report.verdict);
        self.cached += usize::from(item.cached);
        self.bytes = self.bytes.saturating_add(item.report.size);
        let accepted = item
            .report
            .findings
            .iter()
            .filter(|f| f.accepted.is_some())
            .count();
        self.accepted = self.accepted.saturating_add(accepted);
        let mut ids: Vec<String> = item
            .report
            .findings
            .iter()
            .filter(|f| f.accepted.is_none())
            .map(|f| f.rule_id.to_string())
            .collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            *self.rules.entry(id).or_default() += 1;
        }
        if !item.cached {
            self.slowest.push(Slow {
                path: item.report.path.clone(),
                duration_ms: item.duration_ms,
            });
            self.slowest
                .sort_by(|a, b| b.duration_ms.cmp(&a.duration_ms).then(a.path.cmp(&b.path)));
            self.slowest.truncate(SLOWEST);
        }
    }

    /// Rules by the number of artifacts they fired on, most frequent first.
    pub fn top_rules(&self) -> Vec<RuleCount> {
        let mut rules: Vec<RuleCount> = self
            .rules
            .iter()
            .map(|(id, n)| RuleCount {
                rule_id: id.clone(),
                artifacts: *n,
            })
            .collect();
        rules.sort_by(|a, b| {
            b.artifacts
                .cmp(&a.artifacts)
                .then(a.rule_id.cmp(&b.rule_id))
        });
        rules
    }

    pub fn slowest(&self) -> &[Slow] {
        &self.slowest
    }
}

/// A sink that keeps every result and renders one document at the end, in walk order.
pub struct Buffered<F> {
    items: Vec<Scanned>,
    render: F,
}

impl<F> Buffered<F>
where
    F: FnMut(&[Scanned], &RunInfo, &Tally) -> io::Result<()>,
{
    pub fn new(render: F) -> Self {
        Buffered {
            items: Vec::new(),
            render,
        }
    }
}

impl<F> Sink for Buffered<F>
where
    F: FnMut(&[Scanned], &RunInfo, &Tally) -> io::Result<()>,
{
    fn ordered(&self) -> bool {
        false
    }

    fn artifact(&mut self, item: Scanned) -> io::Result<()> {
        self.items.push(item);
        Ok(())
    }

    fn finish(&mut self, info: &RunInfo, tally: &Tally) -> io::Result<()> {
        self.items.sort_by_key(|i| i.seq);
        (self.render)(&self.items, info, tally)
    }
}

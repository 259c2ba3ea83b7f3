//! JSON Lines: one artifact per line, written as each completes (so in completion order; `seq`
//! is the walk position) and flushed whenever no other result is waiting, then one summary
//! line. `quarantine merge` reads these.
//!
//! ```json
//! {"type": "artifact", "seq": 0, "path": ..., <every field of a JSON report's artifact>}
//! {"type": "summary", "scanner": {...}, "verdict", "summary": {...}, "cached", "bytes",
//!  "top_rules": [...], "slowest": [...], "policy": {...} | null, "shard": "2/4"}
//! ```

use std::collections::HashSet;
use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

use super::json::Scanner;
use super::{RuleCount, RunInfo, Scanned, Sink, Slow, Summary, Tally};
use crate::batch::Shard;
use crate::model::finding::Verdict;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryLine {
    pub scanner: Scanner,
    pub verdict: Verdict,
    pub summary: Summary,
    pub cached: usize,
    pub bytes: u64,
    pub top_rules: Vec<RuleCount>,
    pub slowest: Vec<Slow>,
    #[serde(flatten)]
    pub info: RunInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Line {
    Artifact(Box<Scanned>),
    Summary(Box<SummaryLine>),
}

pub struct Jsonl<W> {
    out: W,
    /// The line being written: serialised here first, then written whole (the writer is often
    /// a `Box<dyn Write>`, and serde writes a line in many small pieces).
    buf: Vec<u8>,
}

impl<W: Write> Jsonl<W> {
    pub fn new(out: W) -> Self {
        Jsonl {
            out,
            buf: Vec::new(),
        }
    }

    fn line(&mut self, line: &Line) -> io::Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, line)?;
        self.buf.push(b'\n');
        self.out.write_all(&self.buf)?;
        // One huge report need not hold its memory for the rest of the run.
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        }
        Ok(())
    }
}

impl<W: Write> Sink for Jsonl<W> {
    fn ordered(&self) -> bool {
        false
    }

    fn artifact(&mut self, item: Scanned) -> io::Result<()> {
        self.line(&Line::Artifact(Box::new(item)))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, info: &RunInfo, tally: &Tally) -> io::Result<()> {
        self.line(&Line::Summary(Box::new(SummaryLine {
            scanner: Scanner::this(),
            verdict: tally.summary.verdict(),
            summary: tally.summary,
            cached: tally.cached,
            bytes: tally.bytes,
            top_rules: tally.top_rules(),
            slowest: tally.slowest().to_vec(),
            info: info.clone(),
        })))?;
        self.out.flush()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{file}: cannot read: {source}")]
    Read { file: String, source: io::Error },
    #[error("{file}:{line}: not a quarantine JSONL line: {source}")]
    Parse {
        file: String,
        line: usize,
        source: serde_json::Error,
    },
    #[error("{file}: no summary line: that run did not finish, its results are incomplete")]
    Incomplete { file: String },
    #[error("{file}: artifact {seq} ({path}) is also in another input")]
    Duplicate {
        file: String,
        seq: u64,
        path: String,
    },
    #[error("inputs applied different policies ({0} and {1}); merge runs of one policy")]
    PolicyMismatch(String, String),
    #[error("shards missing from the inputs: {0} (each of 1..{1} is needed once)")]
    MissingShards(String, u32),
}

/// Reads the JSONL outputs of several runs (normally the shards of one) and returns their
/// artifacts in walk order with the policy they applied. Refuses inputs that are incomplete,
/// overlap, applied different policies, or leave out a shard.
pub fn merge(
    inputs: &mut [(String, Box<dyn BufRead>)],
) -> Result<(Vec<Scanned>, RunInfo), MergeError> {
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    let mut infos: Vec<RunInfo> = Vec::new();
    for (file, reader) in inputs.iter_mut() {
        let mut summary = None;
        for (n, text) in reader.lines().enumerate() {
            let text = text.map_err(|source| MergeError::Read {
                file: file.clone(),
                source,
            })?;
            if text.trim().is_empty() {
                continue;
            }
            let line = serde_json::from_str(&text).map_err(|source| MergeError::Parse {
                file: file.clone(),
                line: n + 1,
                source,
            })?;
            match line {
                Line::Artifact(item) => {
                    if !seen.insert(item.seq) {
                        return Err(MergeError::Duplicate {
                            file: file.clone(),
                            seq: item.seq,
                            path: item.report.path,
                        });
                    }
                    items.push(*item);
                }
                Line::Summary(line) => summary = Some(line.info),
            }
        }
        infos.push(summary.ok_or_else(|| MergeError::Incomplete { file: file.clone() })?);
    }
    items.sort_by_key(|i| i.seq);
    let policy = infos.first().and_then(|i| i.policy.clone());
    if let Some(other) = infos.iter().find(|i| i.policy != policy) {
        let name = |p: &Option<crate::policy::PolicySource>| {
            p.as_ref().map_or("no policy".to_owned(), |p| {
                format!("{} ({})", p.path, p.sha256)
            })
        };
        return Err(MergeError::PolicyMismatch(
            name(&policy),
            name(&other.policy),
        ));
    }
    check_shards(&infos)?;
    Ok((
        items,
        RunInfo {
            policy,
            shard: None,
            // Shards scanned against one baseline: the findings each left out, added up.
            baseline: infos
                .iter()
                .filter_map(|i| i.baseline.clone())
                .reduce(|a, b| crate::report::baseline::BaselineInfo {
                    findings: a.findings.saturating_add(b.findings),
                    ..a
                }),
        },
    ))
}

/// When the inputs are shards, every shard 1..N must be there exactly once.
fn check_shards(infos: &[RunInfo]) -> Result<(), MergeError> {
    let shards: Vec<Shard> = infos.iter().filter_map(|i| i.shard).collect();
    let Some(count) = shards.iter().map(|s| s.count).max() else {
        return Ok(());
    };
    let missing: Vec<String> = (1..=count)
        .filter(|k| !shards.iter().any(|s| s.index == *k && s.count == count))
        .map(|k| format!("{k}/{count}"))
        .collect();
    if missing.is_empty() && shards.len() == infos.len() {
        Ok(())
    } else {
        Err(MergeError::MissingShards(missing.join(", "), count))
    }
}

//! Human-readable output: one line per artifact with its verdict, then its findings with
//! location, evidence and fix, then a summary line.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::{RunInfo, Scanned, Sink, Tally};
use crate::finding::{ArtifactReport, Finding, Severity, Verdict};

fn verdict_style(verdict: Verdict) -> Style {
    let color = match verdict {
        Verdict::Clean => AnsiColor::Green,
        Verdict::Suspicious => AnsiColor::Yellow,
        Verdict::Malicious => AnsiColor::Red,
        Verdict::Error => AnsiColor::Magenta,
    };
    Style::new().fg_color(Some(color.into())).bold()
}

fn severity_style(severity: Severity) -> Style {
    let color = match severity {
        Severity::Critical | Severity::High => AnsiColor::Red,
        Severity::Medium => AnsiColor::Yellow,
        Severity::Low | Severity::Info => AnsiColor::Cyan,
    };
    Style::new().fg_color(Some(color.into()))
}

const DIM: Style = Style::new().dimmed();

/// Text output, written as results arrive in walk order. `quiet` leaves out clean artifacts
/// and the summary. ANSI styles are always written; the caller's stream strips them when
/// colour is off.
pub struct Text<W> {
    out: W,
    quiet: bool,
}

impl<W: Write> Text<W> {
    pub fn new(out: W, quiet: bool) -> Self {
        Text { out, quiet }
    }
}

impl<W: Write> Sink for Text<W> {
    fn ordered(&self) -> bool {
        true
    }

    fn artifact(&mut self, item: Scanned) -> io::Result<()> {
        if self.quiet && item.report.verdict == Verdict::Clean {
            return Ok(());
        }
        write_artifact(&mut self.out, &item.report, item.cached)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, info: &RunInfo, tally: &Tally) -> io::Result<()> {
        if !self.quiet {
            write_summary(&mut self.out, info, tally)?;
        }
        self.out.flush()
    }
}

fn write_summary(out: &mut dyn Write, info: &RunInfo, tally: &Tally) -> io::Result<()> {
    let s = tally.summary;
    let v = verdict_style(s.verdict());
    write!(
        out,
        "{v}{}{v:#}: {} artifacts scanned, {} clean, {} suspicious, {} malicious, {} error",
        s.verdict().as_str(),
        s.artifacts,
        s.clean,
        s.suspicious,
        s.malicious,
        s.error
    )?;
    if tally.cached > 0 {
        write!(out, " ({} from cache)", tally.cached)?;
    }
    writeln!(out)?;
    let rules = tally.top_rules();
    if !rules.is_empty() {
        let list: Vec<String> = rules
            .iter()
            .take(5)
            .map(|r| format!("{} ({})", r.rule_id, r.artifacts))
            .collect();
        writeln!(out, "{DIM}most frequent rules: {}{DIM:#}", list.join(", "))?;
    }
    if s.artifacts > 1
        && let Some(slow) = tally.slowest().first()
    {
        writeln!(
            out,
            "{DIM}slowest: {} ({} ms){DIM:#}",
            slow.path, slow.duration_ms
        )?;
    }
    if let Some(policy) = &info.policy {
        let digest = policy.sha256.get(..16).unwrap_or(&policy.sha256);
        writeln!(out, "{DIM}policy: {} (sha256 {digest}){DIM:#}", policy.path)?;
    }
    if let Some(shard) = info.shard {
        writeln!(out, "{DIM}shard {shard} of the artifact set{DIM:#}")?;
    }
    Ok(())
}

fn write_artifact(out: &mut dyn Write, report: &ArtifactReport, cached: bool) -> io::Result<()> {
    let v = verdict_style(report.verdict);
    let digest = report.sha256.as_deref().map_or(String::new(), |d| {
        format!(", sha256 {}", d.get(..16).unwrap_or(d))
    });
    let cached = if cached { ", cached" } else { "" };
    writeln!(
        out,
        "{v}{:<10}{v:#} {}  {DIM}({}, {} bytes{digest}{cached}){DIM:#}",
        report.verdict.as_str(),
        report.path,
        report.format,
        report.size
    )?;
    for alias in &report.aliases {
        writeln!(out, "    {DIM}also at {alias}{DIM:#}")?;
    }
    if let Some(error) = &report.error {
        writeln!(out, "    error: {error}")?;
    }
    let mut findings: Vec<&Finding> = report.findings.iter().collect();
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule_id.cmp(&b.rule_id)));
    let mut last_rule = None;
    for finding in findings {
        let s = severity_style(finding.severity);
        if last_rule != Some(finding.rule_id) {
            let info = finding.rule_id.info();
            writeln!(
                out,
                "    {s}{} {}{s:#} {DIM}{}: {}{DIM:#}",
                finding.rule_id,
                finding.severity.as_str(),
                info.name,
                info.summary
            )?;
            writeln!(out, "      fix: {}", finding.remediation)?;
            last_rule = Some(finding.rule_id);
        }
        let mut place = Vec::new();
        if let Some(member) = &finding.location.member {
            place.push(format!("in {member}"));
        }
        if let Some(offset) = finding.location.offset {
            place.push(format!("at byte {offset}"));
        }
        let place = if place.is_empty() {
            String::new()
        } else {
            format!(" {DIM}({}){DIM:#}", place.join(" "))
        };
        writeln!(out, "      - {}{place}", finding.message)?;
        if let Some(evidence) = &finding.evidence {
            writeln!(out, "        evidence: {evidence}")?;
        }
    }
    Ok(())
}

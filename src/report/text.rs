//! Human-readable output: one line per artifact with its verdict, then its findings with
//! location, evidence and fix, then a summary line.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::Summary;
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

/// Writes the report. `quiet` leaves out clean artifacts and the summary line. ANSI styles are
/// always written; the caller's stream strips them when colour is off.
pub fn write(out: &mut dyn Write, reports: &[ArtifactReport], quiet: bool) -> io::Result<()> {
    for report in reports {
        if quiet && report.verdict == Verdict::Clean {
            continue;
        }
        write_artifact(out, report)?;
    }
    if !quiet {
        let s = Summary::of(reports);
        let v = verdict_style(s.verdict());
        writeln!(
            out,
            "{v}{}{v:#}: {} artifacts scanned, {} clean, {} suspicious, {} malicious, {} error",
            s.verdict().as_str(),
            s.artifacts,
            s.clean,
            s.suspicious,
            s.malicious,
            s.error
        )?;
    }
    Ok(())
}

fn write_artifact(out: &mut dyn Write, report: &ArtifactReport) -> io::Result<()> {
    let v = verdict_style(report.verdict);
    let digest = report.sha256.as_deref().map_or(String::new(), |d| {
        format!(", sha256 {}", d.get(..16).unwrap_or(d))
    });
    writeln!(
        out,
        "{v}{:<10}{v:#} {}  {DIM}({}, {} bytes{digest}){DIM:#}",
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
        if last_rule != Some(&finding.rule_id) {
            let about = match finding.rule_id.builtin() {
                Some(id) => format!("{}: {}", id.info().name, id.info().summary),
                None => "signature match".to_owned(),
            };
            writeln!(
                out,
                "    {s}{} {}{s:#} {DIM}{about}{DIM:#}",
                finding.rule_id,
                finding.severity.as_str(),
            )?;
            writeln!(out, "      fix: {}", finding.remediation)?;
            last_rule = Some(&finding.rule_id);
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

//! Human-readable output: one line per artifact with its verdict, then its findings with
//! location, evidence and fix, then a summary line.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::{RunInfo, Scanned, Sink, Tally};
use crate::model::finding::{ArtifactReport, Finding, Severity, Verdict};
use crate::model::robustness::Robustness;
use crate::model::summary::{Dim, ModelReport, ModelSummary, TensorInfo};

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
    for model in &report.models {
        writeln!(out, "    {DIM}{}{DIM:#}", model_line(model))?;
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
    if let Some(robustness) = &report.robustness {
        write_robustness(out, robustness)?;
    }
    Ok(())
}

/// The probe's grade line, its weight totals and its epsilon table.
fn write_robustness(out: &mut dyn Write, r: &Robustness) -> io::Result<()> {
    let device = if r.device.is_empty() {
        String::new()
    } else {
        format!(", {}", r.device)
    };
    writeln!(
        out,
        "    probe: {}  {DIM}({} ms{device}){DIM:#}",
        r.summary, r.runtime_ms
    )?;
    if let Some(w) = &r.weights {
        let mut line = format!(
            "weights: {} tensors ({} probed, {} parameters), {} NaN, {} Inf, {} zero, {} constant, {} with outliers",
            w.tensors,
            w.probed,
            w.parameters,
            w.nan,
            w.inf,
            w.zero_tensors,
            w.constant_tensors,
            w.outlier_tensors
        );
        if let Some(s) = &w.max_spectral_norm {
            line.push_str(&format!(
                "; largest spectral norm {:.3} ({})",
                s.value, s.tensor
            ));
        }
        if let Some(l) = w.lipschitz_bound {
            line.push_str(&format!("; Lipschitz bound {l:.3}"));
        }
        writeln!(out, "      {DIM}{line}{DIM:#}")?;
    }
    if let Some(b) = &r.behaviour {
        writeln!(out, "      {DIM}{} on {}{DIM:#}", b.model, b.inputs)?;
        writeln!(
            out,
            "      {DIM}epsilon  flips: fgsm   pgd  noise   output change: fgsm   pgd  noise{DIM:#}"
        )?;
        for e in &b.epsilons {
            writeln!(
                out,
                "      {DIM}{:<7}        {:>4.0}% {:>4.0}% {:>5.0}%                 {:>5.3} {:>5.3} {:>6.3}{DIM:#}",
                e.label,
                e.fgsm_flip_rate * 100.0,
                e.pgd_flip_rate * 100.0,
                e.noise_flip_rate * 100.0,
                e.fgsm_output_change,
                e.pgd_output_change,
                e.noise_output_change
            )?;
        }
    }
    Ok(())
}

/// `model: onnx (pytorch 2.1, IR 8, ai.onnx 17): 12 nodes, 1200 parameters; in x float[1,N]; out y float[1,2]`
fn model_line(model: &ModelReport) -> String {
    let place = model
        .member
        .as_ref()
        .map_or(String::new(), |m| format!(" in {m}"));
    match &model.summary {
        ModelSummary::Onnx(m) => {
            let opsets: Vec<String> = m
                .opset_imports
                .iter()
                .map(|o| format!("{} {}", o.domain, o.version))
                .collect();
            let io = |values: &[TensorInfo]| -> String {
                if values.is_empty() {
                    return "-".to_owned();
                }
                values
                    .iter()
                    .map(tensor_text)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "model{place}: onnx ({} {}, IR {}, {}): {} nodes, {} parameters; in {}; out {}",
                m.producer,
                m.producer_version,
                m.ir_version,
                opsets.join(", "),
                m.nodes,
                m.parameters,
                io(&m.inputs),
                io(&m.outputs)
            )
        }
        ModelSummary::Safetensors(m) => {
            let dtypes: Vec<String> = m
                .dtypes
                .iter()
                .map(|(dtype, t)| format!("{dtype} {}", t.parameters))
                .collect();
            format!(
                "model{place}: safetensors: {} tensors, {} parameters ({})",
                m.tensors,
                m.parameters,
                dtypes.join(", ")
            )
        }
    }
}

/// `x float[1,N]`
fn tensor_text(t: &TensorInfo) -> String {
    let dtype = t.dtype.as_deref().unwrap_or("?");
    let shape = t.shape.as_ref().map_or(String::new(), |dims| {
        let dims: Vec<String> = dims
            .iter()
            .map(|d| match d {
                Dim::Value(v) => v.to_string(),
                Dim::Param(p) => p.clone(),
                Dim::Unknown => "?".to_owned(),
            })
            .collect();
        format!("[{}]", dims.join(","))
    });
    format!("{} {dtype}{shape}", t.name)
}

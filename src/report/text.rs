//! Human-readable output, sized for a terminal: one line per clean artifact; for the others
//! their findings with location, evidence and fix; then the verdict line and a short summary.
//! `--verbose` shows clean artifacts in full and the robustness probe's figures; `--quiet`
//! only what is not clean and the verdict line. [`OneLine`] (`--format summary`) is one line
//! per artifact whatever it holds.

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

/// How much the text formats show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct View {
    /// Only artifacts that are not clean, and the verdict line.
    pub quiet: bool,
    /// Clean artifacts in full, and the probe's figures.
    pub verbose: bool,
}

/// Text output, written as results arrive in walk order. ANSI styles are always written; the
/// caller's stream strips them when colour is off.
pub struct Text<W> {
    out: W,
    view: View,
}

impl<W: Write> Text<W> {
    pub fn new(out: W, view: View) -> Self {
        Text { out, view }
    }
}

/// `1 artifact`, `2 artifacts`.
/// Whether a policy accepted a malicious finding of the artifact (`allow_malicious = true`).
fn accepts_malicious(report: &ArtifactReport) -> bool {
    report
        .findings
        .iter()
        .any(|f| f.accepted.as_ref().is_some_and(|a| a.allow_malicious))
}

pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl<W: Write> Sink for Text<W> {
    fn ordered(&self) -> bool {
        true
    }

    fn artifact(&mut self, item: Scanned) -> io::Result<()> {
        // An accepted malicious finding is always shown in full, whatever the verdict.
        let clean = item.report.verdict == Verdict::Clean && !accepts_malicious(&item.report);
        if self.view.quiet && clean {
            return Ok(());
        }
        if clean && !self.view.verbose {
            return write_header(&mut self.out, &item.report, item.cached, true);
        }
        write_artifact(&mut self.out, &item.report, item.cached, self.view.verbose)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, info: &RunInfo, tally: &Tally) -> io::Result<()> {
        write_summary(&mut self.out, info, tally, self.view.quiet)?;
        self.out.flush()
    }
}

/// `--format summary`: one line per artifact (verdict, path, format, top rule), then the
/// verdict line.
pub struct OneLine<W> {
    out: W,
    view: View,
}

impl<W: Write> OneLine<W> {
    pub fn new(out: W, view: View) -> Self {
        OneLine { out, view }
    }
}

impl<W: Write> Sink for OneLine<W> {
    fn ordered(&self) -> bool {
        true
    }

    fn artifact(&mut self, item: Scanned) -> io::Result<()> {
        let report = &item.report;
        if self.view.quiet && report.verdict == Verdict::Clean && !accepts_malicious(report) {
            return Ok(());
        }
        let v = verdict_style(report.verdict);
        let top = super::top_finding(report);
        let about = match (top, &report.error) {
            (Some(f), _) => {
                let others = report.findings.len() - 1;
                let more = if others > 0 {
                    format!(" (+{})", plural(others, "finding", "findings"))
                } else {
                    String::new()
                };
                format!("{} {}{more}", f.rule_id, f.severity.as_str())
            }
            (None, Some(error)) => format!("error: {error}"),
            (None, None) => "-".to_owned(),
        };
        writeln!(
            self.out,
            "{v}{:<10}{v:#} {}  {DIM}{}{DIM:#}  {about}",
            report.verdict.as_str(),
            report.path,
            report.format
        )
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, info: &RunInfo, tally: &Tally) -> io::Result<()> {
        write_summary(&mut self.out, info, tally, self.view.quiet)?;
        self.out.flush()
    }
}

/// The verdict line (always), then, unless `quiet`, the most frequent rules, the slowest
/// artifact, the policy and the shard.
fn write_summary(
    out: &mut dyn Write,
    info: &RunInfo,
    tally: &Tally,
    quiet: bool,
) -> io::Result<()> {
    let s = tally.summary;
    let v = verdict_style(s.verdict());
    write!(
        out,
        "{v}{}{v:#}: {} scanned, {} clean, {} suspicious, {} malicious, {} error",
        s.verdict().as_str(),
        plural(s.artifacts, "artifact", "artifacts"),
        s.clean,
        s.suspicious,
        s.malicious,
        s.error
    )?;
    if tally.cached > 0 {
        write!(out, " ({} from cache)", tally.cached)?;
    }
    if tally.accepted > 0 {
        write!(
            out,
            "; {} accepted by the policy",
            plural(tally.accepted, "finding", "findings")
        )?;
    }
    writeln!(out)?;
    if quiet {
        return Ok(());
    }
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
    if let Some(baseline) = &info.baseline {
        writeln!(
            out,
            "{DIM}baseline {}: {} left out (only new findings are shown and decide){DIM:#}",
            baseline.path,
            plural(
                usize::try_from(baseline.findings).unwrap_or(usize::MAX),
                "known finding",
                "known findings"
            )
        )?;
    }
    Ok(())
}

/// The artifact's line: verdict, path, format, size, digest; `brief` (a clean artifact shown
/// in one line) adds how many notes `--verbose` would show.
fn write_header(
    out: &mut dyn Write,
    report: &ArtifactReport,
    cached: bool,
    brief: bool,
) -> io::Result<()> {
    let v = verdict_style(report.verdict);
    let digest = report.sha256.as_deref().map_or(String::new(), |d| {
        format!(", sha256 {}", d.get(..16).unwrap_or(d))
    });
    let cached = if cached { ", cached" } else { "" };
    let accepted = report
        .findings
        .iter()
        .filter(|f| f.accepted.is_some())
        .count();
    let notes = if brief && !report.findings.is_empty() {
        let accepted = if accepted > 0 {
            format!(", {accepted} accepted")
        } else {
            String::new()
        };
        format!(
            ", {}{accepted} (-v)",
            plural(report.findings.len(), "note", "notes")
        )
    } else {
        String::new()
    };
    writeln!(
        out,
        "{v}{:<10}{v:#} {}  {DIM}({}, {}{digest}{cached}{notes}){DIM:#}",
        report.verdict.as_str(),
        report.path,
        report.format,
        plural(
            usize::try_from(report.size).unwrap_or(usize::MAX),
            "byte",
            "bytes"
        )
    )
}

fn write_artifact(
    out: &mut dyn Write,
    report: &ArtifactReport,
    cached: bool,
    verbose: bool,
) -> io::Result<()> {
    write_header(out, report, cached, false)?;
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
        if let Some(accepted) = &finding.accepted {
            let malicious = if accepted.allow_malicious {
                "ACCEPTED MALICIOUS finding (allow_malicious = true)"
            } else {
                "accepted"
            };
            writeln!(
                out,
                "        {malicious}: by {} until {} (entry {}): {}",
                accepted.by, accepted.expires, accepted.entry, accepted.reason
            )?;
        }
        if let Some(evidence) = &finding.evidence {
            writeln!(out, "        evidence: {evidence}")?;
        }
    }
    if let Some(robustness) = &report.robustness {
        let probed = report
            .findings
            .iter()
            .any(|f| f.rule_id.to_string().starts_with("PRB"));
        if verbose {
            write_robustness(out, robustness)?;
        } else if probed {
            writeln!(out, "    probe: {}", robustness.summary)?;
        }
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
        if !w.non_finite.is_empty() {
            let list: Vec<String> = w
                .non_finite
                .iter()
                .map(|n| {
                    format!(
                        "{} {:?} {} NaN {} Inf ({})",
                        n.tensor, n.shape, n.nan, n.inf, n.place
                    )
                })
                .collect();
            writeln!(out, "      {DIM}non-finite: {}{DIM:#}", list.join("; "))?;
        }
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
        ModelSummary::Keras(m) => framework_line("keras", &place, m),
        ModelSummary::Hdf5(m) => framework_line("hdf5", &place, m),
        ModelSummary::Tensorflow(m) => framework_line("tensorflow", &place, m),
        ModelSummary::Tflite(m) => framework_line("tflite", &place, m),
        ModelSummary::Torchscript(m) => framework_line("torchscript", &place, m),
        ModelSummary::Executorch(m) => framework_line("executorch", &place, m),
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
        ModelSummary::Gguf(m) => {
            let types: Vec<String> = m
                .types
                .iter()
                .map(|(t, total)| format!("{t} {}", total.parameters))
                .collect();
            let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".to_owned());
            let context = m
                .context_length
                .map_or_else(String::new, |c| format!(", context {c}"));
            let templates = if m.chat_templates.is_empty() {
                String::new()
            } else {
                format!("; chat templates {}", m.chat_templates.join(", "))
            };
            format!(
                "model{place}: gguf v{} ({} `{}`{context}): {} tensors, {} parameters ({}){templates}",
                m.version,
                or(&m.architecture),
                or(&m.name),
                m.tensors,
                m.parameters,
                types.join(", ")
            )
        }
    }
}

/// `model: keras (keras 3.12.0): Sequential, 3 layers (Dense 2, InputLayer 1); 1 Lambda`
fn framework_line(
    format: &str,
    place: &str,
    m: &crate::model::summary::FrameworkSummary,
) -> String {
    let mut top: Vec<(&String, &u64)> = m.histogram.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut shown: Vec<String> = top
        .iter()
        .take(8)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if top.len() > 8 {
        shown.push(format!("+{} more", top.len() - 8));
    }
    let producer = [m.producer.as_str(), m.version.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let mut line = format!("model{place}: {format}");
    if !producer.is_empty() {
        line.push_str(&format!(" ({producer})"));
    }
    line.push_str(": ");
    if !m.entry.is_empty() {
        line.push_str(&format!("{}, ", m.entry));
    }
    line.push_str(&format!("{} {}", m.count, m.units));
    if !shown.is_empty() {
        line.push_str(&format!(" ({})", shown.join(", ")));
    }
    for note in &m.notes {
        line.push_str(&format!("; {note}"));
    }
    line
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

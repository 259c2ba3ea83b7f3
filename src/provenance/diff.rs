//! `quarantine diff OLD NEW`: what changed between two releases of a model.
//!
//! Files are compared by SHA-256. Changed files are scanned (statically, with the default
//! settings and no signature rules) and their reports compared: pickle globals and calls
//! (from findings' evidence), ONNX operators, nodes and graph inputs/outputs (model summaries),
//! safetensors tensors (names, dtypes, shapes; and for tensors whose bytes changed, summary
//! statistics), and JSON/YAML-like config keys. Structure changes (files, code, operators,
//! tensor names/shapes/dtypes, config keys) are told apart from value-only changes (weights).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::Value;

use super::cli::Format;
use super::oms;

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The older release (a directory or a file).
    pub old: PathBuf,
    /// The newer release.
    pub new: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Default, Serialize)]
pub struct Diff {
    pub schema_version: u32,
    pub old: String,
    pub new: String,
    /// `identical`, `values` (only tensor values changed) or `structure`.
    pub change: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<FileDiff>,
}

#[derive(Debug, Default, Serialize)]
pub struct FileDiff {
    pub path: String,
    pub old_sha256: String,
    pub new_sha256: String,
    pub old_format: String,
    pub new_format: String,
    /// Whether this file's change touches structure (anything but tensor values).
    pub structural: bool,
    /// Human-readable changes, one per line, `+`/`-`/`~` prefixed.
    pub changes: Vec<String>,
    pub verdict_old: String,
    pub verdict_new: String,
}

pub fn run(args: &DiffArgs) -> Result<ExitCode> {
    let diff = diff(&args.old, &args.new)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&diff)?),
        Format::Text => print!("{}", render(&diff)),
    }
    Ok(ExitCode::SUCCESS)
}

fn files(root: &Path) -> Result<BTreeMap<String, (PathBuf, String)>> {
    let ignore: Vec<String> = oms::GIT_PATHS.iter().map(|s| (*s).to_owned()).collect();
    let listed = oms::list_files(root, &ignore, true)?;
    let hashed = oms::hash_files(&listed)?;
    Ok(listed
        .into_iter()
        .zip(hashed)
        .filter(|(f, _)| !f.name.ends_with("model.sig") && !f.name.ends_with(".admission.sig"))
        .map(|(f, r)| (f.name, (f.path, r.digest)))
        .collect())
}

pub fn diff(old: &Path, new: &Path) -> Result<Diff> {
    if old.is_dir() != new.is_dir() {
        bail!("compare a directory with a directory, or a file with a file");
    }
    let a = files(old)?;
    let b = files(new)?;
    let mut out = Diff {
        schema_version: 1,
        old: old.display().to_string(),
        new: new.display().to_string(),
        ..Diff::default()
    };
    out.added = b.keys().filter(|k| !a.contains_key(*k)).cloned().collect();
    out.removed = a.keys().filter(|k| !b.contains_key(*k)).cloned().collect();
    for (name, (old_path, old_digest)) in &a {
        let Some((new_path, new_digest)) = b.get(name) else {
            continue;
        };
        if old_digest == new_digest {
            continue;
        }
        out.changed
            .push(file_diff(name, old_path, old_digest, new_path, new_digest));
    }
    let structural = !out.added.is_empty()
        || !out.removed.is_empty()
        || out.changed.iter().any(|c| c.structural);
    out.change = if structural {
        "structure"
    } else if out.changed.is_empty() {
        "identical"
    } else {
        "values"
    }
    .to_owned();
    Ok(out)
}

/// What a scan report says about a file's content, reduced to comparable sets.
#[derive(Default)]
struct Shape {
    format: String,
    verdict: String,
    /// Pickle globals and calls, ONNX ops, etc: anything whose addition is a structure change.
    code: BTreeSet<String>,
    /// ONNX: op histogram, inputs/outputs; safetensors: tensors name -> dtype/shape.
    graph: BTreeMap<String, String>,
    /// Tensor data locations (name -> (offset range)); used to find value-changed tensors.
    tensors: BTreeMap<String, TensorInfo>,
    /// Flattened config keys -> JSON value text.
    config: Option<BTreeMap<String, String>>,
}

#[derive(Clone, PartialEq)]
struct TensorInfo {
    dtype: String,
    shape: Vec<u64>,
    range: (u64, u64),
}

fn shape_of(path: &Path) -> Shape {
    let config = crate::config::Config {
        probe: crate::config::ProbeSettings {
            mode: crate::config::ProbeMode::Off,
            ..crate::config::ProbeSettings::default()
        },
        ..crate::config::Config::default()
    };
    let report = crate::scan::scan_file(path, &path.display().to_string(), &config);
    let mut shape = Shape {
        format: report.format.to_string(),
        verdict: report.verdict.as_str().to_owned(),
        ..Shape::default()
    };
    for f in &report.findings {
        if let Some(e) = &f.evidence {
            shape.code.insert(format!("{} {e}", f.rule_id));
        } else {
            shape.code.insert(format!("{} {}", f.rule_id, f.message));
        }
    }
    for m in &report.models {
        let member = m.member.clone().unwrap_or_default();
        match &m.summary {
            crate::model::summary::ModelSummary::Onnx(o) => {
                for (op, n) in &o.op_histogram {
                    shape
                        .graph
                        .insert(format!("{member}op {op}"), format!("{n} nodes"));
                }
                for i in &o.inputs {
                    shape.graph.insert(
                        format!("{member}input {}", i.name),
                        format!("{:?} {:?}", i.dtype, i.shape),
                    );
                }
                for i in &o.outputs {
                    shape.graph.insert(
                        format!("{member}output {}", i.name),
                        format!("{:?} {:?}", i.dtype, i.shape),
                    );
                }
                shape
                    .graph
                    .insert(format!("{member}nodes"), o.nodes.to_string());
                shape
                    .graph
                    .insert(format!("{member}initializers"), o.initializers.to_string());
                shape
                    .graph
                    .insert(format!("{member}parameters"), o.parameters.to_string());
                shape
                    .graph
                    .insert(format!("{member}opsets"), format!("{:?}", o.opset_imports));
            }
            crate::model::summary::ModelSummary::Keras(f)
            | crate::model::summary::ModelSummary::Hdf5(f)
            | crate::model::summary::ModelSummary::Tensorflow(f)
            | crate::model::summary::ModelSummary::Tflite(f)
            | crate::model::summary::ModelSummary::Torchscript(f)
            | crate::model::summary::ModelSummary::Executorch(f) => {
                for (unit, n) in &f.histogram {
                    shape
                        .graph
                        .insert(format!("{member}{} {unit}", f.units), n.to_string());
                }
                shape
                    .graph
                    .insert(format!("{member}entry"), f.entry.clone());
                shape
                    .graph
                    .insert(format!("{member}{}", f.units), f.count.to_string());
                shape.graph.insert(
                    format!("{member}producer"),
                    format!("{} {}", f.producer, f.version),
                );
            }
            crate::model::summary::ModelSummary::Gguf(g) => {
                let fields = [
                    ("architecture", format!("{:?}", g.architecture)),
                    ("file type", format!("{:?}", g.file_type)),
                    ("context length", format!("{:?}", g.context_length)),
                    ("tensors", g.tensors.to_string()),
                    ("parameters", g.parameters.to_string()),
                    ("chat templates", g.chat_templates.join(", ")),
                ];
                for (key, value) in fields {
                    shape.graph.insert(format!("{member}{key}"), value);
                }
                for (ty, total) in &g.types {
                    shape.graph.insert(
                        format!("{member}type {ty}"),
                        format!("{} tensors", total.tensors),
                    );
                }
            }
            crate::model::summary::ModelSummary::Safetensors(_) => {}
        }
    }
    if report.format.name() == "safetensors" {
        shape.tensors = safetensors_tensors(path).unwrap_or_default();
        for (name, t) in &shape.tensors {
            shape.graph.insert(
                format!("tensor {name}"),
                format!("{} {:?}", t.dtype, t.shape),
            );
        }
    }
    if looks_like_config(path) {
        shape.config = config_keys(path);
    }
    shape
}

fn looks_like_config(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() <= 16 << 20)
        && std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|v| v.is_object())
}

fn config_keys(path: &Path) -> Option<BTreeMap<String, String>> {
    let value: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let mut out = BTreeMap::new();
    flatten("", &value, &mut out, 0);
    Some(out)
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>, depth: u32) {
    match value {
        Value::Object(map) if depth < 32 && out.len() < 100_000 => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out, depth + 1);
            }
        }
        other => {
            let mut text = other.to_string();
            if text.len() > 200 {
                text.truncate(200);
                text.push('…');
            }
            out.insert(prefix.to_owned(), text);
        }
    }
}

/// Tensor names, dtypes, shapes and data ranges of a safetensors file (header only; the header
/// length is bounded before it is read).
fn safetensors_tensors(path: &Path) -> Option<BTreeMap<String, TensorInfo>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).ok()?;
    let len = u64::from_le_bytes(len);
    if len > 100 << 20 {
        return None;
    }
    let mut header = vec![0u8; usize::try_from(len).ok()?];
    file.read_exact(&mut header).ok()?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    let base = 8 + len;
    let mut out = BTreeMap::new();
    for (name, t) in header.as_object()? {
        if name == "__metadata__" {
            continue;
        }
        let offsets = t["data_offsets"].as_array()?;
        let (start, end) = (offsets.first()?.as_u64()?, offsets.get(1)?.as_u64()?);
        out.insert(
            name.clone(),
            TensorInfo {
                dtype: t["dtype"].as_str()?.to_owned(),
                shape: t["shape"]
                    .as_array()?
                    .iter()
                    .filter_map(Value::as_u64)
                    .collect(),
                range: (base + start, base + end),
            },
        );
    }
    Some(out)
}

/// Mean, standard deviation and max |difference| of two float tensors (F32/F16/BF16/F64),
/// streamed from the files; None for other dtypes.
fn value_stats(old: &Path, new: &Path, a: &TensorInfo, b: &TensorInfo) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let width = match a.dtype.as_str() {
        "F64" => 8,
        "F32" => 4,
        "F16" | "BF16" => 2,
        _ => return None,
    };
    let decode = |bytes: &[u8]| -> f64 {
        match a.dtype.as_str() {
            "F64" => f64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])),
            "F32" => f64::from(f32::from_le_bytes(bytes.try_into().unwrap_or([0; 4]))),
            "BF16" => f64::from(f32::from_bits(
                u32::from(u16::from_le_bytes(bytes.try_into().unwrap_or([0; 2]))) << 16,
            )),
            _ => half_to_f64(u16::from_le_bytes(bytes.try_into().unwrap_or([0; 2]))),
        }
    };
    let mut fa = std::fs::File::open(old).ok()?;
    let mut fb = std::fs::File::open(new).ok()?;
    fa.seek(SeekFrom::Start(a.range.0)).ok()?;
    fb.seek(SeekFrom::Start(b.range.0)).ok()?;
    let total = a.range.1.saturating_sub(a.range.0);
    let mut left = total;
    let (mut n, mut sum, mut sum_sq, mut max_abs, mut changed) = (0u64, 0f64, 0f64, 0f64, 0u64);
    let mut ba = vec![0u8; 1 << 20];
    let mut bb = vec![0u8; 1 << 20];
    while left > 0 {
        let step = usize::try_from(left.min(1 << 20)).ok()?;
        fa.read_exact(&mut ba[..step]).ok()?;
        fb.read_exact(&mut bb[..step]).ok()?;
        for (x, y) in ba[..step]
            .chunks_exact(width)
            .zip(bb[..step].chunks_exact(width))
        {
            let d = decode(y) - decode(x);
            if d != 0.0 {
                changed += 1;
            }
            n += 1;
            sum += d;
            sum_sq += d * d;
            max_abs = max_abs.max(d.abs());
        }
        left -= step as u64;
    }
    let mean = sum / n.max(1) as f64;
    let std = (sum_sq / n.max(1) as f64 - mean * mean).max(0.0).sqrt();
    Some(format!(
        "{changed}/{n} values changed, delta mean {mean:.3e}, std {std:.3e}, max |delta| {max_abs:.3e}"
    ))
}

fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 => {
            if frac == 0.0 {
                sign * f64::INFINITY
            } else {
                f64::NAN
            }
        }
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

fn file_diff(name: &str, old: &Path, old_digest: &str, new: &Path, new_digest: &str) -> FileDiff {
    let a = shape_of(old);
    let b = shape_of(new);
    let mut changes = Vec::new();
    let mut structural = a.format != b.format;
    if a.format != b.format {
        changes.push(format!("~ format {} -> {}", a.format, b.format));
    }
    for c in b.code.difference(&a.code) {
        changes.push(format!("+ {c}"));
        structural = true;
    }
    for c in a.code.difference(&b.code) {
        changes.push(format!("- {c}"));
        structural = true;
    }
    for (k, v) in &b.graph {
        match a.graph.get(k) {
            None => changes.push(format!("+ {k}: {v}")),
            Some(old) if old != v => changes.push(format!("~ {k}: {old} -> {v}")),
            Some(_) => continue,
        }
        structural = true;
    }
    for (k, v) in &a.graph {
        if !b.graph.contains_key(k) {
            changes.push(format!("- {k}: {v}"));
            structural = true;
        }
    }
    if let (Some(ca), Some(cb)) = (&a.config, &b.config) {
        for (k, v) in cb {
            match ca.get(k) {
                None => changes.push(format!("+ config {k} = {v}")),
                Some(old) if old != v => changes.push(format!("~ config {k}: {old} -> {v}")),
                Some(_) => continue,
            }
            structural = true;
        }
        for (k, v) in ca {
            if !cb.contains_key(k) {
                changes.push(format!("- config {k} = {v}"));
                structural = true;
            }
        }
    }
    // Tensors with the same name, dtype and shape whose bytes differ: values only.
    for (tname, ta) in &a.tensors {
        if let Some(tb) = b.tensors.get(tname)
            && ta.dtype == tb.dtype
            && ta.shape == tb.shape
            && let Some(stats) = value_stats(old, new, ta, tb)
            && !stats.starts_with("0/")
        {
            changes.push(format!("~ tensor {tname} values: {stats}"));
        }
    }
    if changes.is_empty() {
        // Bytes differ, yet nothing the analysers read did: treat as structure unless the file
        // is a tensor container whose values we could not compare.
        changes.push("~ content changed (no finer comparison for this format)".to_owned());
        structural = !matches!(a.format.as_str(), "safetensors" | "numpy" | "onnx");
    }
    FileDiff {
        path: name.to_owned(),
        old_sha256: old_digest.to_owned(),
        new_sha256: new_digest.to_owned(),
        old_format: a.format,
        new_format: b.format,
        structural,
        changes,
        verdict_old: a.verdict,
        verdict_new: b.verdict,
    }
}

pub fn render(diff: &Diff) -> String {
    let mut out = format!(
        "{} -> {}: {}\n",
        diff.old,
        diff.new,
        match diff.change.as_str() {
            "identical" => "identical",
            "values" => "values only changed (same files, code, graph and tensor shapes)",
            _ => "STRUCTURE changed",
        }
    );
    for a in &diff.added {
        out.push_str(&format!("+ file {a}\n"));
    }
    for r in &diff.removed {
        out.push_str(&format!("- file {r}\n"));
    }
    for c in &diff.changed {
        out.push_str(&format!(
            "~ file {} ({} -> {}, {}; verdict {} -> {})\n",
            c.path,
            c.old_format,
            c.new_format,
            if c.structural { "structure" } else { "values" },
            c.verdict_old,
            c.verdict_new
        ));
        for line in &c.changes {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

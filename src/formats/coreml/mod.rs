//! Core ML models (`.mlmodel`, and the `model.mlmodel` inside an `.mlpackage`): a protobuf
//! `CoreML.Specification.Model` (coremltools' `Model.proto`). Read with a small bounds-checked
//! protobuf walk ([`walk`]), not a full decode: only the parts that reach outside the model are
//! followed.
//!
//! - `customModel` (field 555): the whole model is a class the application implements
//!   (`MLCustomModel`, looked up by `className`), native code outside the file;
//! - a neural network's `custom` layer (`CustomLayerParams`, layer field 500): likewise an
//!   `MLCustomLayer` class of the application;
//! - `linkedModel` (556): another compiled model loaded by file name and search path, which must
//!   stay inside the model's folder;
//! - pipelines (200–202) nest models, walked to a bounded depth.

pub mod package;
#[cfg(test)]
mod tests;

use crate::model::rules::RuleId;
use crate::scan::context::Ctx;
use crate::zone::sibling;

/// Nesting of pipelines and messages followed.
const MAX_DEPTH: u32 = 32;
/// Items listed per finding.
const MAX_LISTED: usize = 32;
/// Protobuf fields read per model before the walk stops.
const MAX_FIELDS: u64 = 50_000_000;

/// The `Type` oneof of `Model`: every model kind coremltools defines.
const MODEL_TYPES: &[u64] = &[
    200, 201, 202, 300, 301, 302, 303, 304, 400, 401, 402, 403, 404, 500, 501, 502, 555, 556, 560,
    600, 601, 602, 603, 604, 605, 606, 607, 608, 609, 610, 900, 2000, 2001, 2002, 2003, 2004, 2005,
    2006, 3000,
];
const CUSTOM_MODEL: u64 = 555;
const LINKED_MODEL: u64 = 556;
/// Neural network kinds (`NeuralNetwork`, `…Classifier`, `…Regressor`): `layers` is field 1.
const NEURAL_NETWORKS: &[u64] = &[303, 403, 500];
/// Pipelines: `Pipeline` (202) holds `models` (1); the classifier/regressor forms wrap one (1).
const PIPELINE: u64 = 202;
const PIPELINE_WRAPPERS: &[u64] = &[200, 201];
/// `NeuralNetworkLayer.custom`.
const CUSTOM_LAYER: u64 = 500;
/// `Model.mlProgram` (MIL.proto `Program`).
const ML_PROGRAM: u64 = 502;

/// One protobuf field: number and value.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The fields of one message, or `None` when it does not parse.
fn fields(data: &[u8]) -> Option<Vec<(u64, Value<'_>)>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        let key = varint(data, &mut at)?;
        let (number, wire) = (key >> 3, key & 7);
        if number == 0 {
            return None;
        }
        let value = match wire {
            0 => Value::Varint(varint(data, &mut at)?),
            1 => {
                at = at.checked_add(8).filter(|&e| e <= data.len())?;
                Value::Fixed
            }
            2 => {
                let len = usize::try_from(varint(data, &mut at)?).ok()?;
                let end = at.checked_add(len).filter(|&e| e <= data.len())?;
                let bytes = data.get(at..end)?;
                at = end;
                Value::Bytes(bytes)
            }
            5 => {
                at = at.checked_add(4).filter(|&e| e <= data.len())?;
                Value::Fixed
            }
            _ => return None,
        };
        out.push((number, value));
    }
    Some(out)
}

fn bytes_field<'a>(fields: &[(u64, Value<'a>)], number: u64) -> Option<&'a [u8]> {
    fields.iter().rev().find_map(|(n, v)| match v {
        Value::Bytes(b) if *n == number => Some(*b),
        _ => None,
    })
}

fn string_field(fields: &[(u64, Value<'_>)], number: u64) -> Option<String> {
    bytes_field(fields, number).map(|b| String::from_utf8_lossy(b).into_owned())
}

/// Whether `data` is a Core ML model: a protobuf whose top-level fields are
/// `specificationVersion` (1, a small varint), `description` (2), `isUpdatable` (10) and exactly
/// one model type of the `Type` oneof, which ONNX's `ModelProto` (fields 1–25) never has.
pub fn looks_like_coreml(data: &[u8]) -> bool {
    if data.first() != Some(&0x08) {
        return false;
    }
    let Some(top) = fields(data) else {
        return false;
    };
    let version_ok = matches!(top.first(), Some((1, Value::Varint(v))) if (1..=100).contains(v));
    let types = top.iter().filter(|(n, _)| MODEL_TYPES.contains(n)).count();
    version_ok
        && types >= 1
        && top
            .iter()
            .all(|(n, _)| matches!(n, 1 | 2 | 10) || MODEL_TYPES.contains(n))
}

#[derive(Default)]
struct Found {
    custom_models: Vec<(String, String)>,
    custom_layers: Vec<(String, String)>,
    linked: Vec<(String, String)>,
    /// Blob files an ML program reads its weights from (`BlobFileValue.fileName`), deduplicated.
    blob_files: std::collections::BTreeSet<String>,
    problems: Vec<String>,
    visited: u64,
}

fn model(data: &[u8], path: &str, depth: u32, found: &mut Found) {
    if depth > MAX_DEPTH {
        found
            .problems
            .push(format!("{path}: pipelines nest deeper than {MAX_DEPTH}"));
        return;
    }
    let Some(top) = fields(data) else {
        found
            .problems
            .push(format!("{path}: not a protobuf message"));
        return;
    };
    found.visited += top.len() as u64;
    if found.visited > MAX_FIELDS {
        return;
    }
    for (number, value) in &top {
        let Value::Bytes(body) = value else { continue };
        let here = format!("{path}.{}", type_name(*number));
        match *number {
            CUSTOM_MODEL => {
                let f = fields(body).unwrap_or_default();
                let class = string_field(&f, 10).unwrap_or_default();
                found.custom_models.push((here, class));
            }
            LINKED_MODEL => {
                let f = fields(body).unwrap_or_default();
                // LinkedModelFile (1): linkedModelFileName (1), linkedModelSearchPath (2), each a
                // StringParameter whose defaultValue is field 1.
                let file = bytes_field(&f, 1).and_then(fields).unwrap_or_default();
                let param = |n| {
                    bytes_field(&file, n)
                        .and_then(fields)
                        .and_then(|p| string_field(&p, 1))
                        .unwrap_or_default()
                };
                let (name, search) = (param(1), param(2));
                found.linked.push((here, format!("{search}{name}")));
                if !search.is_empty() {
                    found
                        .linked
                        .push((format!("{path}.linkedModel search path"), search));
                }
            }
            PIPELINE => pipeline(body, &here, depth, found),
            ML_PROGRAM => program(body, found),
            n if PIPELINE_WRAPPERS.contains(&n) => {
                if let Some(inner) = fields(body).and_then(|f| bytes_field(&f, 1)) {
                    pipeline(inner, &here, depth, found);
                }
            }
            n if NEURAL_NETWORKS.contains(&n) => {
                let Some(nn) = fields(body) else {
                    found
                        .problems
                        .push(format!("{here}: not a protobuf message"));
                    continue;
                };
                for (i, (ln, layer)) in nn.iter().enumerate() {
                    let (1, Value::Bytes(layer)) = (ln, layer) else {
                        continue;
                    };
                    let Some(lf) = fields(layer) else {
                        found
                            .problems
                            .push(format!("{here}.layers[{i}]: not a protobuf message"));
                        continue;
                    };
                    if let Some(custom) = bytes_field(&lf, CUSTOM_LAYER) {
                        let name = string_field(&lf, 1).unwrap_or_default();
                        let class = fields(custom)
                            .and_then(|c| string_field(&c, 10))
                            .unwrap_or_default();
                        found
                            .custom_layers
                            .push((format!("{here} layer `{name}`"), class));
                    }
                }
            }
            _ => {}
        }
    }
}

/// The messages of a protobuf map field `number` (entries: key 1, value 2) in `f`.
fn map_values<'a>(f: &[(u64, Value<'a>)], number: u64) -> Vec<&'a [u8]> {
    f.iter()
        .filter_map(|(n, v)| match v {
            Value::Bytes(entry) if *n == number => fields(entry).and_then(|e| bytes_field(&e, 2)),
            _ => None,
        })
        .collect()
}

/// The repeated message field `number` of `f`.
fn repeated<'a, 'f>(f: &'f [(u64, Value<'a>)], number: u64) -> impl Iterator<Item = &'a [u8]> + 'f {
    f.iter().filter_map(move |(n, v)| match v {
        Value::Bytes(b) if *n == number => Some(*b),
        _ => None,
    })
}

/// An ML program (MIL.proto): the blob files its values read weights from, in its attributes,
/// its functions' attributes and blocks, and their operations' inputs and attributes
/// (`Program.functions` 2 → `Function.block_specializations` 3 → `Block.operations` 3 →
/// `Operation.inputs` 2 (`Argument.arguments` 1 → `Binding.value` 2), `.attributes` 5, nested
/// `.blocks` 4; `Value.blobFileValue` 5 → `fileName` 1).
fn program(data: &[u8], found: &mut Found) {
    let Some(p) = fields(data) else {
        found
            .problems
            .push("Model.mlProgram: not a protobuf message".to_owned());
        return;
    };
    values(&map_values(&p, 4), found);
    for function in map_values(&p, 2) {
        let Some(f) = fields(function) else { continue };
        values(&map_values(&f, 4), found);
        for block in map_values(&f, 3) {
            mil_block(block, 0, found);
        }
    }
}

fn mil_block(data: &[u8], depth: u32, found: &mut Found) {
    let Some(b) = fields(data) else { return };
    found.visited += b.len() as u64;
    if depth > MAX_DEPTH || found.visited > MAX_FIELDS {
        return;
    }
    values(&map_values(&b, 4), found);
    for op in repeated(&b, 3) {
        let Some(o) = fields(op) else { continue };
        found.visited += o.len() as u64;
        values(&map_values(&o, 5), found);
        for argument in map_values(&o, 2) {
            let bindings = fields(argument).unwrap_or_default();
            for binding in repeated(&bindings, 1) {
                if let Some(value) = fields(binding).and_then(|f| bytes_field(&f, 2)) {
                    values(&[value], found);
                }
            }
        }
        for inner in repeated(&o, 4) {
            mil_block(inner, depth + 1, found);
        }
    }
}

fn values(list: &[&[u8]], found: &mut Found) {
    for value in list {
        let file = fields(value)
            .and_then(|v| bytes_field(&v, 5))
            .and_then(fields)
            .and_then(|b| string_field(&b, 1));
        if let Some(file) = file
            && found.blob_files.len() < MAX_LISTED
        {
            found.blob_files.insert(file);
        }
    }
}

/// Where a blob file name leads when it leaves the model's package: Core ML resolves
/// `@model_path/` to the folder of the model specification.
fn blob_file_outside(name: &str) -> bool {
    let rest = name.strip_prefix("@model_path/").unwrap_or(name);
    package::leaves_package(rest)
}

fn pipeline(data: &[u8], path: &str, depth: u32, found: &mut Found) {
    let Some(f) = fields(data) else {
        found
            .problems
            .push(format!("{path}: not a protobuf message"));
        return;
    };
    for (i, (n, v)) in f.iter().enumerate() {
        if let (1, Value::Bytes(m)) = (n, v) {
            model(m, &format!("{path}.models[{i}]"), depth + 1, found);
        }
    }
}

fn type_name(number: u64) -> String {
    match number {
        200 => "pipelineClassifier".to_owned(),
        201 => "pipelineRegressor".to_owned(),
        202 => "pipeline".to_owned(),
        303 => "neuralNetworkRegressor".to_owned(),
        403 => "neuralNetworkClassifier".to_owned(),
        500 => "neuralNetwork".to_owned(),
        502 => "mlProgram".to_owned(),
        555 => "customModel".to_owned(),
        556 => "linkedModel".to_owned(),
        n => format!("field {n}"),
    }
}

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let mut found = Found::default();
    model(data, "Model", 0, &mut found);
    for (path, class) in found.custom_models.iter().take(MAX_LISTED) {
        ctx.report(
            RuleId::CoremlCustomCode,
            None,
            format!(
                "{path}: the whole model is the application's class `{class}` (MLCustomModel): native code outside the file runs it"
            ),
            Some(format!("customModel.className = {class:?}")),
        );
    }
    for (path, class) in found.custom_layers.iter().take(MAX_LISTED) {
        ctx.report(
            RuleId::CoremlCustomCode,
            None,
            format!(
                "{path} is a custom layer run by the application's class `{class}` (MLCustomLayer): native code outside the file"
            ),
            Some(format!("custom.className = {class:?}")),
        );
    }
    for (path, file) in found.linked.iter().take(MAX_LISTED) {
        if let Some(why) = sibling::lexical_escape(file) {
            ctx.report(
                RuleId::CoremlLinkedOutside,
                None,
                format!("{path} loads another model from {why}: a file outside the model's folder"),
                Some(file.clone()),
            );
        }
    }
    for file in found.blob_files.iter().filter(|f| blob_file_outside(f)) {
        ctx.report(
            RuleId::CoremlPackagePathOutside,
            None,
            format!(
                "the ML program reads weights from `{file}`, outside the model's package: Core ML maps that file when it loads the model"
            ),
            Some(format!("blobFileValue.fileName: {file}")),
        );
    }
    if !found.problems.is_empty() {
        let list: Vec<&str> = found
            .problems
            .iter()
            .take(MAX_LISTED)
            .map(String::as_str)
            .collect();
        ctx.report(
            RuleId::CoremlMalformed,
            None,
            format!(
                "the Core ML model does not parse as the protobuf Core ML reads ({} problem(s))",
                found.problems.len()
            ),
            Some(list.join("; ")),
        );
    }
}

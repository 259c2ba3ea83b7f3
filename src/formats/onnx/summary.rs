//! The model's identity for the report (producer, operator sets, inputs and outputs), and the
//! sanity of its version fields.

use std::collections::{HashMap, HashSet};

use super::proto::tensor_proto::DataType;
use super::proto::tensor_shape_proto::dimension::Value as DimValue;
use super::proto::type_proto::Value as TypeValue;
use super::proto::{ModelProto, ValueInfoProto};
use crate::model::rules::RuleId;
use crate::model::summary::{Dim, OnnxSummary, OpsetImport, TensorInfo};
use crate::scan::context::Ctx;

/// Versions past these are not written by any exporter (ONNX is at IR 11, opset 23 in 2025);
/// the margin leaves room for releases to come.
const MAX_IR_VERSION: i64 = 100;
const MAX_OPSET_VERSION: i64 = 1000;

/// Reports a missing operator set import, a domain imported twice, and absurd versions.
pub fn check_versions(model: &ModelProto, ctx: &mut Ctx<'_>) {
    if !(1..=MAX_IR_VERSION).contains(&model.ir_version) {
        ctx.report(
            RuleId::OnnxBadOpset,
            None,
            format!("IR version {} does not exist", model.ir_version),
            None,
        );
    }
    if model.opset_import.is_empty() {
        ctx.report(
            RuleId::OnnxBadOpset,
            None,
            "the model imports no operator set, so no node can be resolved",
            None,
        );
    }
    let mut seen: HashMap<&str, i64> = HashMap::new();
    for opset in &model.opset_import {
        let domain = normalise(&opset.domain);
        if !(1..=MAX_OPSET_VERSION).contains(&opset.version) {
            ctx.report(
                RuleId::OnnxBadOpset,
                None,
                format!(
                    "imports operator set `{domain}` at version {}, which does not exist",
                    opset.version
                ),
                None,
            );
        }
        if let Some(first) = seen.insert(domain, opset.version) {
            ctx.report(
                RuleId::OnnxBadOpset,
                None,
                format!(
                    "imports operator set `{domain}` twice (versions {first} and {}): runtimes disagree on which applies",
                    opset.version
                ),
                None,
            );
        }
    }
}

/// `ai.onnx` is the default domain's other name.
fn normalise(domain: &str) -> &str {
    if domain.is_empty() { "ai.onnx" } else { domain }
}

/// The report's summary: the model's identity plus what the walk counted.
pub fn summarise(model: &ModelProto, counted: OnnxSummary) -> OnnxSummary {
    let graph = model.graph.as_ref();
    let initializers: HashSet<&str> = graph
        .map(|g| g.initializer.iter().map(|t| t.name.as_str()).collect())
        .unwrap_or_default();
    let io = |values: Option<&Vec<ValueInfoProto>>| -> Vec<TensorInfo> {
        values
            .into_iter()
            .flatten()
            .filter(|v| !initializers.contains(v.name.as_str()))
            .map(tensor_info)
            .collect()
    };
    OnnxSummary {
        ir_version: model.ir_version,
        producer: model.producer_name.clone(),
        producer_version: model.producer_version.clone(),
        opset_imports: model
            .opset_import
            .iter()
            .map(|o| OpsetImport {
                domain: normalise(&o.domain).to_owned(),
                version: o.version,
            })
            .collect(),
        inputs: io(graph.map(|g| &g.input)),
        outputs: io(graph.map(|g| &g.output)),
        ..counted
    }
}

fn tensor_info(value: &ValueInfoProto) -> TensorInfo {
    let (dtype, shape) = match value.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::TensorType(t)) => {
            (Some(elem_name(t.elem_type)), t.shape.as_ref().map(dims))
        }
        Some(TypeValue::SparseTensorType(t)) => (
            Some(format!("sparse {}", elem_name(t.elem_type))),
            t.shape.as_ref().map(dims),
        ),
        Some(other) => (Some(kind(other).to_owned()), None),
        None => (None, None),
    };
    TensorInfo {
        name: value.name.clone(),
        dtype,
        shape,
    }
}

fn dims(shape: &super::proto::TensorShapeProto) -> Vec<Dim> {
    shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(DimValue::DimValue(v)) => Dim::Value(*v),
            Some(DimValue::DimParam(p)) => Dim::Param(p.clone()),
            None => Dim::Unknown,
        })
        .collect()
}

/// `float`, `int64`, … (`type 99` for a number no version of ONNX defines).
fn elem_name(elem_type: i32) -> String {
    DataType::try_from(elem_type).map_or_else(
        |_| format!("type {elem_type}"),
        |t| t.as_str_name().to_ascii_lowercase(),
    )
}

fn kind(value: &TypeValue) -> &'static str {
    match value {
        TypeValue::TensorType(_) => "tensor",
        TypeValue::SparseTensorType(_) => "sparse tensor",
        TypeValue::SequenceType(_) => "sequence",
        TypeValue::MapType(_) => "map",
        TypeValue::OptionalType(_) => "optional",
        TypeValue::OpaqueType(_) => "opaque",
    }
}

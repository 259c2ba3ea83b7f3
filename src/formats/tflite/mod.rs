//! TFLite models: a FlatBuffer (`TFL3` identifier) read by our own bounds-checked table reader
//! ([`fb`]): operator codes (builtin, custom, Flex), subgraphs, operators, buffers and metadata.
//! Flex ops run TensorFlow kernels through the Flex delegate, so they are judged with the same
//! op table as TensorFlow graphs; other custom ops need native code registered by the
//! application. Recognised by the file identifier and a table layout that verifies.

pub mod fb;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::formats::tensorflow::ops::{self, Danger};
use crate::model::Budget;
use crate::model::rules::RuleId;
use crate::model::summary::{FrameworkSummary, ModelSummary};
use crate::scan::context::{Ctx, Origin};
use fb::Buf;

/// Limits on what one model may declare.
const MAX_SUBGRAPHS: usize = 10_000;
const MAX_OPERATORS: usize = 1_000_000;
const MAX_CODES: usize = 100_000;

/// Custom ops that MediaPipe and the TFLite task libraries register themselves: native code
/// shipped with the runtime, not with the model.
const KNOWN_CUSTOM: &[&str] = &[
    "Convolution2DTransposeBias",
    "MaxPoolingWithArgmax2D",
    "MaxUnpooling2D",
    "TFLite_Detection_PostProcess",
    "Landmarks2TransformMatrix",
    "TransformLandmarks",
    "TransformTensorBilinear",
    "TransformTensor",
    "RoIToTransformMatrix",
    "Resampler",
];

/// Whether `data` is a TFLite FlatBuffer: the `TFL3` identifier at 4 and a root table that
/// verifies with a version field.
pub fn looks_like_tflite(data: &[u8]) -> bool {
    data.get(4..8) == Some(b"TFL3") && fb::root(data).is_some()
}

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let buf = Buf::new(data);
    let Some(model) = fb::root(data) else {
        return ctx.report(
            RuleId::TfliteMalformed,
            Some(0),
            "the FlatBuffer's root table is outside the file",
            None,
        );
    };
    let mut problems = Vec::new();
    let version = model.u32(&buf, 0).unwrap_or(0);
    let description = model.string(&buf, 3).unwrap_or_default();
    let codes = Codes::read(&model, &buf, &mut problems);
    let graphs = Graphs::read(&model, &buf, &codes.names, ctx, &mut problems);
    let buffers = match model.vector_len(&buf, 4, 4) {
        Ok(n) => n,
        Err(why) => {
            problems.push(format!("buffers: {why}"));
            0
        }
    };
    extract_metadata_names(&model, &buf, ctx);
    let mut listed = Budget::new(MAX_PROBLEMS);
    for problem in &problems {
        if listed.admit() {
            ctx.report(RuleId::TfliteMalformed, None, problem.clone(), None);
        }
    }
    ctx.report_not_listed(RuleId::TfliteMalformed, &listed, "in this model");
    codes.report(ctx);
    let mut notes = vec![format!(
        "{} subgraph(s), {buffers} buffers",
        graphs.subgraphs
    )];
    if !codes.flex.is_empty() {
        notes.push(format!("{} Flex op code(s)", codes.flex.len()));
    }
    ctx.summarise(ModelSummary::Tflite(FrameworkSummary {
        producer: description,
        version: format!("schema {version}"),
        entry: String::new(),
        units: "ops".to_owned(),
        count: graphs.operators,
        histogram: graphs.histogram,
        notes,
    }));
}

/// Malformations reported per model.
const MAX_PROBLEMS: u64 = 64;

/// The model's operator codes.
struct Codes {
    /// The name of each code, by index (`?` for a custom code without a name).
    names: Vec<String>,
    /// Flex codes: index, TensorFlow op name.
    flex: Vec<(usize, String)>,
    /// Custom codes that are neither Flex nor registered by the usual task libraries.
    custom: Vec<String>,
}

impl Codes {
    fn read(model: &fb::Table, buf: &Buf<'_>, problems: &mut Vec<String>) -> Codes {
        let mut codes = Codes {
            names: Vec::new(),
            flex: Vec::new(),
            custom: Vec::new(),
        };
        let list = match model.tables(buf, 1, MAX_CODES) {
            Ok(list) => list,
            Err(why) => {
                problems.push(format!("operator codes: {why}"));
                return codes;
            }
        };
        for (i, code) in list.iter().enumerate() {
            let deprecated = code.i8(buf, 0).unwrap_or(0);
            let builtin = code.i32(buf, 3).unwrap_or(0);
            let builtin = i32::from(deprecated).max(builtin);
            let name = if builtin == CUSTOM {
                match code.string(buf, 1) {
                    Some(c) => c,
                    None => {
                        problems.push(format!("operator code {i} is custom without a name"));
                        "?".to_owned()
                    }
                }
            } else {
                builtin_name(builtin)
            };
            if builtin == CUSTOM {
                if let Some(op) = name.strip_prefix("Flex") {
                    codes.flex.push((i, op.to_owned()));
                } else if !KNOWN_CUSTOM.contains(&name.as_str()) {
                    codes.custom.push(name.clone());
                }
            }
            codes.names.push(name);
        }
        codes
    }

    /// Flex ops judged by the TensorFlow op table, and the custom ops the runtime lacks.
    fn report(&self, ctx: &mut Ctx<'_>) {
        for (index, op) in &self.flex {
            let evidence = Some(format!("operator code {index}: custom_code \"Flex{op}\""));
            // The Flex op's attributes are not read here, so DecodeProto's descriptor source is
            // unknown (it may name no file at all): suspicious, not malicious.
            let decode_proto = ops::base_name(op) == "DecodeProto";
            match ops::danger(op) {
                Some(Danger::Python(why) | Danger::Write(why) | Danger::Read(why)) if !decode_proto => ctx.report(
                    RuleId::TfliteFlexOp,
                    None,
                    format!("the model runs the TensorFlow op `{op}` through the Flex delegate, which {why}"),
                    evidence,
                ),
                Some(_) => ctx.report(
                    RuleId::TfliteCustomOp,
                    None,
                    format!("the model runs the TensorFlow op `{op}` through the Flex delegate, which touches files or the network"),
                    evidence,
                ),
                None => {}
            }
        }
        if self.flex.is_empty() && self.custom.is_empty() {
            return;
        }
        let mut names: Vec<String> = self.flex.iter().map(|(_, o)| format!("Flex{o}")).collect();
        names.extend(self.custom.iter().cloned());
        names.sort();
        names.dedup();
        let only_benign_flex =
            self.custom.is_empty() && self.flex.iter().all(|(_, o)| ops::danger(o).is_none());
        if !only_benign_flex {
            ctx.report(
                RuleId::TfliteCustomOp,
                None,
                format!(
                    "the model needs custom ops the TFLite runtime does not ship: {}",
                    names.join(", ")
                ),
                Some(names.join(", ")),
            );
        }
    }
}

/// What the subgraphs hold: operators by name, their count, and how many subgraphs.
struct Graphs {
    histogram: BTreeMap<String, u64>,
    operators: u64,
    subgraphs: usize,
}

impl Graphs {
    /// Counts every operator of every subgraph by its code's name, and hands their custom
    /// options to the signature scan.
    fn read(
        model: &fb::Table,
        buf: &Buf<'_>,
        codes: &[String],
        ctx: &mut Ctx<'_>,
        problems: &mut Vec<String>,
    ) -> Graphs {
        let mut graphs = Graphs {
            histogram: BTreeMap::new(),
            operators: 0,
            subgraphs: 0,
        };
        let subgraphs = match model.tables(buf, 2, MAX_SUBGRAPHS) {
            Ok(subgraphs) => subgraphs,
            Err(why) => {
                problems.push(format!("subgraphs: {why}"));
                return graphs;
            }
        };
        graphs.subgraphs = subgraphs.len();
        for (s, sub) in subgraphs.iter().enumerate() {
            let ops_list = match sub.tables(buf, 3, MAX_OPERATORS) {
                Ok(ops_list) => ops_list,
                Err(why) => {
                    problems.push(format!("subgraph {s} operators: {why}"));
                    continue;
                }
            };
            for (o, op) in ops_list.iter().enumerate() {
                graphs.operators += 1;
                let index = op.u32(buf, 0).unwrap_or(0) as usize;
                match codes.get(index) {
                    Some(name) => *graphs.histogram.entry(name.clone()).or_default() += 1,
                    None => problems.push(format!(
                        "subgraph {s} operator {o} uses operator code {index}, but there are {}",
                        codes.len()
                    )),
                }
                if let Some(options) = op.bytes(buf, 5)
                    && !options.is_empty()
                    && ctx.wants_extracts()
                {
                    ctx.extract(
                        Origin::FrameworkString,
                        &format!("subgraph {s} operator {o} custom options"),
                        None,
                        options,
                    );
                }
            }
        }
        graphs
    }
}

/// Metadata names (`min_runtime_version`, `TFLITE_METADATA`) are strings for signatures.
fn extract_metadata_names(model: &fb::Table, buf: &Buf<'_>, ctx: &mut Ctx<'_>) {
    let Ok(metadata) = model.tables(buf, 6, 10_000) else {
        return;
    };
    for m in &metadata {
        if let Some(name) = m.string(buf, 0)
            && ctx.wants_extracts()
        {
            ctx.extract(
                Origin::FrameworkString,
                "metadata name",
                None,
                name.as_bytes(),
            );
        }
    }
}

const CUSTOM: i32 = 32;

/// Builtin operator names (tensorflow/lite/schema/schema.fbs `BuiltinOperator`, TF 2.18).
const BUILTINS: &[&str] = &[
    "ADD",
    "AVERAGE_POOL_2D",
    "CONCATENATION",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE",
    "DEQUANTIZE",
    "EMBEDDING_LOOKUP",
    "FLOOR",
    "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION",
    "L2_POOL_2D",
    "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC",
    "LSH_PROJECTION",
    "LSTM",
    "MAX_POOL_2D",
    "MUL",
    "RELU",
    "RELU_N1_TO_1",
    "RELU6",
    "RESHAPE",
    "RESIZE_BILINEAR",
    "RNN",
    "SOFTMAX",
    "SPACE_TO_DEPTH",
    "SVDF",
    "TANH",
    "CONCAT_EMBEDDINGS",
    "SKIP_GRAM",
    "CALL",
    "CUSTOM",
    "EMBEDDING_LOOKUP_SPARSE",
    "PAD",
    "UNIDIRECTIONAL_SEQUENCE_RNN",
    "GATHER",
    "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND",
    "TRANSPOSE",
    "MEAN",
    "SUB",
    "DIV",
    "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "STRIDED_SLICE",
    "BIDIRECTIONAL_SEQUENCE_RNN",
    "EXP",
    "TOPK_V2",
    "SPLIT",
    "LOG_SOFTMAX",
    "DELEGATE",
    "BIDIRECTIONAL_SEQUENCE_LSTM",
    "CAST",
    "PRELU",
    "MAXIMUM",
    "ARG_MAX",
    "MINIMUM",
    "LESS",
    "NEG",
    "PADV2",
    "GREATER",
    "GREATER_EQUAL",
    "LESS_EQUAL",
    "SELECT",
    "SLICE",
    "SIN",
    "TRANSPOSE_CONV",
    "SPARSE_TO_DENSE",
    "TILE",
    "EXPAND_DIMS",
    "EQUAL",
    "NOT_EQUAL",
    "LOG",
    "SUM",
    "SQRT",
    "RSQRT",
    "SHAPE",
    "POW",
    "ARG_MIN",
    "FAKE_QUANT",
    "REDUCE_PROD",
    "REDUCE_MAX",
    "PACK",
    "LOGICAL_OR",
    "ONE_HOT",
    "LOGICAL_AND",
    "LOGICAL_NOT",
    "UNPACK",
    "REDUCE_MIN",
    "FLOOR_DIV",
    "REDUCE_ANY",
    "SQUARE",
    "ZEROS_LIKE",
    "FILL",
    "FLOOR_MOD",
    "RANGE",
    "RESIZE_NEAREST_NEIGHBOR",
    "LEAKY_RELU",
    "SQUARED_DIFFERENCE",
    "MIRROR_PAD",
    "ABS",
    "SPLIT_V",
    "UNIQUE",
    "CEIL",
    "REVERSE_V2",
    "ADD_N",
    "GATHER_ND",
    "COS",
    "WHERE",
    "RANK",
    "ELU",
    "REVERSE_SEQUENCE",
    "MATRIX_DIAG",
    "QUANTIZE",
    "MATRIX_SET_DIAG",
    "ROUND",
    "HARD_SWISH",
    "IF",
    "WHILE",
    "NON_MAX_SUPPRESSION_V4",
    "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND",
    "SELECT_V2",
    "DENSIFY",
    "SEGMENT_SUM",
    "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES",
    "CUMSUM",
    "CALL_ONCE",
    "BROADCAST_TO",
    "RFFT2D",
    "CONV_3D",
    "IMAG",
    "REAL",
    "COMPLEX_ABS",
    "HASHTABLE",
    "HASHTABLE_FIND",
    "HASHTABLE_IMPORT",
    "HASHTABLE_SIZE",
    "REDUCE_ALL",
    "CONV_3D_TRANSPOSE",
    "VAR_HANDLE",
    "READ_VARIABLE",
    "ASSIGN_VARIABLE",
    "BROADCAST_ARGS",
    "RANDOM_STANDARD_NORMAL",
    "BUCKETIZE",
    "RANDOM_UNIFORM",
    "MULTINOMIAL",
    "GELU",
    "DYNAMIC_UPDATE_SLICE",
    "RELU_0_TO_1",
    "UNSORTED_SEGMENT_PROD",
    "UNSORTED_SEGMENT_MAX",
    "UNSORTED_SEGMENT_SUM",
    "ATAN2",
    "UNSORTED_SEGMENT_MIN",
    "SIGN",
    "BITCAST",
    "BITWISE_XOR",
    "RIGHT_SHIFT",
];

fn builtin_name(code: i32) -> String {
    usize::try_from(code)
        .ok()
        .and_then(|c| BUILTINS.get(c))
        .map_or_else(|| format!("BUILTIN_{code}"), |s| (*s).to_owned())
}

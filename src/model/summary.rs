//! What an analysed model holds, for the report: format, producer, operator sets, inputs and
//! outputs, operator histogram, parameter count. Analysers fill these in; renderers print them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One analysed model: which member it was (null for the file itself) and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelReport {
    pub member: Option<String>,
    #[serde(flatten)]
    pub summary: ModelSummary,
}

/// The summary of one model, tagged with its format (`"format": "onnx"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "lowercase")]
pub enum ModelSummary {
    Onnx(OnnxSummary),
    Safetensors(SafetensorsSummary),
    Gguf(GgufSummary),
    Keras(FrameworkSummary),
    Hdf5(FrameworkSummary),
    Tensorflow(FrameworkSummary),
    Tflite(FrameworkSummary),
    Torchscript(FrameworkSummary),
    Executorch(FrameworkSummary),
}

/// What a framework model holds (Keras, HDF5, TensorFlow, TFLite, TorchScript): its producer,
/// its entry point (model class, signature), and a histogram of its layers or operators.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameworkSummary {
    /// Who wrote it (`keras`, `tensorflow`, `TOCO Converted.`) as far as the file says.
    pub producer: String,
    pub version: String,
    /// The model's class or main graph (`Sequential`, `serving_default`).
    pub entry: String,
    /// What `count` and `histogram` count: `layers`, `ops`, `objects`.
    pub units: String,
    pub count: u64,
    /// Count per layer class or operator.
    pub histogram: BTreeMap<String, u64>,
    /// Anything else worth a line (custom objects, Lambda count, subgraphs).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnnxSummary {
    pub ir_version: i64,
    pub producer: String,
    pub producer_version: String,
    pub opset_imports: Vec<OpsetImport>,
    /// The main graph's inputs that are not initializers (what a caller feeds).
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    /// Nodes per operator, `domain.op` outside the default domain; all graphs and functions.
    pub op_histogram: BTreeMap<String, u64>,
    pub nodes: u64,
    /// Graphs walked: the main graph, every nested subgraph, training graphs.
    pub graphs: u64,
    pub functions: u64,
    pub initializers: u64,
    /// Elements of every initializer, dense and sparse (dims multiplied).
    pub parameters: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpsetImport {
    pub domain: String,
    pub version: i64,
}

/// A graph input or output: its name, element type and shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorInfo {
    pub name: String,
    /// `float`, `int64`…, or `sequence`, `map`… for non-tensor types; null when not given.
    pub dtype: Option<String>,
    /// Null when the shape is not given (any rank).
    pub shape: Option<Vec<Dim>>,
}

/// One dimension: a number, a symbolic name (`batch`), or null when unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    Value(i64),
    Param(String),
    Unknown,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetensorsSummary {
    pub tensors: u64,
    pub parameters: u64,
    /// Per dtype (`F32`, `BF16`…): tensors, elements and bytes.
    pub dtypes: BTreeMap<String, DtypeTotal>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DtypeTotal {
    pub tensors: u64,
    pub parameters: u64,
    pub bytes: u64,
}

/// A GGUF file: what its metadata says the model is, and what its tensors hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GgufSummary {
    pub version: u32,
    pub big_endian: bool,
    /// `general.architecture` (`llama`, `qwen2`…).
    pub architecture: Option<String>,
    /// `general.name`.
    pub name: Option<String>,
    /// `general.file_type` by its llama.cpp name (`MOSTLY_Q4_K_M`), or the number.
    pub file_type: Option<String>,
    /// `<arch>.context_length`, `<arch>.block_count`, `<arch>.embedding_length`.
    pub context_length: Option<u64>,
    pub block_count: Option<u64>,
    pub embedding_length: Option<u64>,
    /// `tokenizer.ggml.model` and the number of `tokenizer.ggml.tokens`.
    pub tokenizer: Option<String>,
    pub vocabulary: Option<u64>,
    /// Chat templates carried: `default` for `tokenizer.chat_template`, else the name.
    pub chat_templates: Vec<String>,
    pub metadata_entries: u64,
    pub tensors: u64,
    pub parameters: u64,
    /// Per ggml type (`Q4_K`, `F16`…): tensors, elements and bytes.
    pub types: BTreeMap<String, DtypeTotal>,
}

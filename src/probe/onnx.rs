//! ONNX models: initializers go through the weight probe, and a graph made only of operators
//! in [`onnx_ops::SUPPORTED`] with one float input of declared shape is run by our own small
//! interpreter (nodes in their stored, topological order) and attacked. Memory is estimated
//! from the declared shapes of inputs, outputs, value infos and initializers before anything
//! is allocated.

use std::collections::HashMap;

use bytes::Bytes;
use candle_core::{DType, Device, Tensor};
use prost::Message;

use super::behaviour::{self, Plan};
use super::onnx_ops::{self, OpError};
use super::{Model, ProbeError, RawTensor};
use crate::formats::onnx::proto::{
    GraphProto, ModelProto, TensorProto, ValueInfoProto, tensor_shape_proto::dimension, type_proto,
};

const FLOAT: i32 = 1;
const INT32: i32 = 6;
const INT64: i32 = 7;
const FLOAT16: i32 = 10;
const DOUBLE: i32 = 11;
const BFLOAT16: i32 = 16;
const EXTERNAL: i32 = 1;

/// A decoded model's initializers, their bytes in hand.
pub struct Decoded {
    pub graph: GraphProto,
    /// name, dtype, dims, bytes (little-endian, as `raw_data` holds them).
    pub tensors: Vec<(String, DType, Vec<usize>, Bytes)>,
    /// `name: reason` for initializers that were not read.
    pub unread: Vec<String>,
}

/// Decodes the model; `shared` (the mapped file as [`Bytes`]) keeps initializer data in place.
pub fn decode(data: &[u8], shared: Option<Bytes>) -> Result<Decoded, String> {
    let model = match shared {
        Some(bytes) => ModelProto::decode(bytes),
        None => ModelProto::decode(data),
    }
    .map_err(|e| format!("the model does not decode: {e}"))?;
    let graph = model.graph.ok_or("the model has no graph")?;
    let mut tensors = Vec::new();
    let mut unread = Vec::new();
    for t in &graph.initializer {
        match initializer(t) {
            Ok((dtype, dims, bytes)) => tensors.push((t.name.clone(), dtype, dims, bytes)),
            Err(why) => unread.push(format!("{}: {why}", t.name)),
        }
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Decoded {
        graph,
        tensors,
        unread,
    })
}

/// An initializer's dtype, dims and little-endian bytes.
fn initializer(t: &TensorProto) -> Result<(DType, Vec<usize>, Bytes), String> {
    if t.data_location == EXTERNAL {
        return Err("external data is not read by the probe".to_owned());
    }
    let dims = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
        .collect::<Result<Vec<_>, _>>()?;
    let dtype = match t.data_type {
        FLOAT => DType::F32,
        DOUBLE => DType::F64,
        FLOAT16 => DType::F16,
        BFLOAT16 => DType::BF16,
        INT64 => DType::I64,
        INT32 => DType::I32,
        other => return Err(format!("data type {other} is not read")),
    };
    let bytes = if !t.raw_data.is_empty() {
        t.raw_data.clone()
    } else {
        let le: Vec<u8> = match t.data_type {
            FLOAT => t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DOUBLE => t.double_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            INT64 => t.int64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            INT32 => t.int32_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            // 16-bit floats are stored one per int32_data element.
            _ => t
                .int32_data
                .iter()
                .flat_map(|&v| (v as u16).to_le_bytes())
                .collect(),
        };
        Bytes::from(le)
    };
    let expected = dims
        .iter()
        .try_fold(dtype.size_in_bytes(), |acc, &d| acc.checked_mul(d))
        .ok_or("its size overflows")?;
    if bytes.len() != expected {
        return Err(format!(
            "holds {} bytes where its dims need {expected}",
            bytes.len()
        ));
    }
    Ok((dtype, dims, bytes))
}

/// The raw tensors of a decoded model, for the weight probe.
pub fn raw_tensors(decoded: &Decoded) -> Vec<RawTensor<'_>> {
    decoded
        .tensors
        .iter()
        .map(|(name, dtype, dims, bytes)| RawTensor {
            name: name.clone(),
            dtype: *dtype,
            shape: dims.clone(),
            data: bytes,
        })
        .collect()
}

/// A declared dimension: a number, or `None` when symbolic or missing.
fn declared(info: &ValueInfoProto) -> Option<(i32, Vec<Option<u64>>)> {
    let Some(type_proto::Value::TensorType(t)) = info.r#type.as_ref()?.value.as_ref() else {
        return None;
    };
    let dims = t
        .shape
        .as_ref()?
        .dim
        .iter()
        .map(|d| match d.value {
            Some(dimension::Value::DimValue(v)) => u64::try_from(v).ok(),
            _ => None,
        })
        .collect();
    Some((t.elem_type, dims))
}

/// The graph as a runnable model, or why it is not one.
pub fn plan(decoded: &Decoded, max_bytes: u64) -> Result<Plan<'_>, String> {
    let graph = &decoded.graph;
    if let Some(node) = graph.node.iter().find(|n| {
        !(n.domain.is_empty() || n.domain == "ai.onnx")
            || !onnx_ops::SUPPORTED.contains(&n.op_type.as_str())
    }) {
        return Err(format!(
            "operator {} (node `{}`) is not in the probe's subset",
            node.op_type, node.name
        ));
    }
    let initialized: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !initialized.contains(&i.name.as_str()))
        .collect();
    let [input] = inputs[..] else {
        return Err(format!(
            "the graph has {} inputs; the probe runs graphs with one",
            inputs.len()
        ));
    };
    let output = graph
        .output
        .first()
        .ok_or("the graph has no output")?
        .name
        .clone();
    let (elem, dims) = declared(input).ok_or("the input has no declared tensor shape")?;
    if elem != FLOAT {
        return Err(format!(
            "input `{}` is not float (type {elem}): integer inputs are not attacked",
            input.name
        ));
    }
    let sample: Vec<usize> = dims
        .iter()
        .skip(1)
        .map(|d| d.and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            format!(
                "input `{}` has a dynamic dimension with no default",
                input.name
            )
        })?;
    if dims.is_empty() || sample.contains(&0) {
        return Err(format!(
            "input `{}` is zero-sized or has no batch dimension",
            input.name
        ));
    }
    let weights: u128 = decoded.tensors.iter().map(|t| t.3.len() as u128 * 4).sum();
    // Declared activations per sample (first dimension taken as the batch).
    let per_sample: u128 = graph
        .input
        .iter()
        .chain(&graph.output)
        .chain(&graph.value_info)
        .filter(|i| !initialized.contains(&i.name.as_str()))
        .filter_map(declared)
        .map(|(_, dims)| {
            dims.iter()
                .skip(1)
                .map(|d| u128::from(d.unwrap_or(1)))
                .product::<u128>()
        })
        .fold(0u128, u128::saturating_add);
    let input_name = input.name.clone();
    let max_values = usize::try_from(u128::from(max_bytes) / 4 / behaviour::ACTIVATION_COPIES)
        .unwrap_or(usize::MAX);
    Ok(Plan {
        input: sample,
        memory: Box::new(move |n| {
            weights.saturating_add(
                (n as u128)
                    .saturating_mul(per_sample)
                    .saturating_mul(4 * behaviour::ACTIVATION_COPIES),
            )
        }),
        load: Box::new(move |device| {
            Ok(Box::new(Graph::load(
                decoded, input_name, output, max_values, device,
            )?) as Box<dyn Model>)
        }),
    })
}

/// The graph on a device: initializers as tensors (floats as f32).
struct Graph<'a> {
    graph: &'a GraphProto,
    /// Values one node's output may hold.
    max_values: usize,
    consts: HashMap<String, Tensor>,
    input: String,
    output: String,
}

impl<'a> Graph<'a> {
    fn load(
        decoded: &'a Decoded,
        input: String,
        output: String,
        max_values: usize,
        device: &Device,
    ) -> Result<Self, ProbeError> {
        let mut consts = HashMap::new();
        for (name, dtype, dims, bytes) in &decoded.tensors {
            let t = Tensor::from_raw_buffer(bytes, *dtype, dims, device)?;
            let t = if super::is_float(*dtype) {
                t.to_dtype(DType::F32)?
            } else {
                t
            };
            consts.insert(name.clone(), t);
        }
        Ok(Graph {
            graph: &decoded.graph,
            max_values,
            consts,
            input,
            output,
        })
    }
}

impl Model for Graph<'_> {
    fn forward(&self, x: &Tensor) -> Result<Tensor, ProbeError> {
        let mut env: HashMap<&str, Tensor> = self
            .consts
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        env.insert(self.input.as_str(), x.clone());
        for node in &self.graph.node {
            let inputs: Vec<Option<Tensor>> = node
                .input
                .iter()
                .map(|name| {
                    if name.is_empty() {
                        None
                    } else {
                        env.get(name.as_str()).cloned()
                    }
                })
                .collect();
            let out = onnx_ops::eval(node, &inputs, self.max_values).map_err(|e| match e {
                OpError::Unsupported(why) => ProbeError::Unsupported(why),
                OpError::Probe(e) => e,
            })?;
            if let Some(name) = node.output.first() {
                env.insert(name.as_str(), out);
            }
        }
        let out = env.remove(self.output.as_str()).ok_or_else(|| {
            ProbeError::Unsupported(format!("no node computes the output `{}`", self.output))
        })?;
        super::logits(out)
    }

    fn describe(&self) -> String {
        let mut ops: Vec<&str> = self.graph.node.iter().map(|n| n.op_type.as_str()).collect();
        ops.dedup();
        format!(
            "onnx graph of {} nodes ({})",
            self.graph.node.len(),
            ops.join(", ")
        )
    }
}

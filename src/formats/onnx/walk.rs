//! Walks every graph of a model: the main graph, subgraphs held by node attributes (If, Loop,
//! Scan bodies) at any depth, training graphs and model-local functions. Each node's operator
//! is judged, every string the model carries goes to the signature engine, and the summary is
//! counted on the way.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::external::ExternalData;
use super::ops;
use super::proto::tensor_proto::{DataLocation, DataType};
use super::proto::{
    AttributeProto, FunctionProto, GraphProto, ModelProto, NodeProto, SparseTensorProto,
    StringStringEntryProto, TensorProto, ValueInfoProto,
};
use crate::config::OnnxLimits;
use crate::model::rules::RuleId;
use crate::model::summary::OnnxSummary;
use crate::scan::context::{Ctx, Origin};

/// Distinct operators listed in the summary's histogram; the rest are counted as `(other)`.
const MAX_HISTOGRAM: usize = 1024;
/// Operator names listed per custom domain in a finding.
const MAX_LISTED_OPS: usize = 20;
/// Characters of code shown in evidence.
const MAX_EVIDENCE: usize = 200;

pub struct Walker<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    limits: OnnxLimits,
    external: ExternalData,
    /// Operators the model defines itself (`FunctionProto` domain and name): the runtime
    /// inlines them, so calling one loads nothing.
    local: HashSet<(String, String)>,
    /// Non-standard operators, per domain.
    custom: BTreeMap<String, BTreeSet<String>>,
    summary: OnnxSummary,
    /// A node or initializer limit was hit: the walk stops.
    stopped: bool,
}

impl<'c, 'a> Walker<'c, 'a> {
    pub fn new(ctx: &'c mut Ctx<'a>, model: &ModelProto) -> Self {
        let limits = ctx.config().onnx.clone();
        let external = ExternalData::new(ctx.disk_path());
        let local = model
            .functions
            .iter()
            .map(|f| (f.domain.clone(), f.name.clone()))
            .collect();
        Walker {
            ctx,
            limits,
            external,
            local,
            custom: BTreeMap::new(),
            summary: OnnxSummary::default(),
            stopped: false,
        }
    }

    /// Walks the whole model and returns what it counted.
    pub fn model(mut self, model: &ModelProto) -> OnnxSummary {
        self.text(Origin::OnnxDocString, "model doc_string", &model.doc_string);
        self.metadata("model", &model.metadata_props);
        if let Some(graph) = &model.graph {
            self.graph(graph, "graph", 0);
        }
        for (i, training) in model.training_info.iter().enumerate() {
            for (name, graph) in [
                ("initialization", &training.initialization),
                ("algorithm", &training.algorithm),
            ] {
                if let Some(graph) = graph {
                    self.graph(graph, &format!("training_info[{i}].{name}"), 0);
                }
            }
        }
        for function in &model.functions {
            self.function(function);
        }
        self.report_custom_domains();
        self.summary
    }

    fn graph(&mut self, graph: &GraphProto, path: &str, depth: u32) {
        if self.stopped {
            return;
        }
        if depth > self.limits.max_graph_depth {
            let limit = self.limits.max_graph_depth;
            self.ctx.report(
                RuleId::OnnxLimitExceeded,
                None,
                format!(
                    "subgraph `{}` is nested deeper than {limit} graphs and was not analysed",
                    tail(path)
                ),
                None,
            );
            return;
        }
        self.summary.graphs += 1;
        self.text(
            Origin::OnnxDocString,
            &format!("{path} doc_string"),
            &graph.doc_string,
        );
        self.metadata(path, &graph.metadata_props);
        for value in graph
            .input
            .iter()
            .chain(&graph.output)
            .chain(&graph.value_info)
        {
            self.value_info(value, path);
        }
        for tensor in &graph.initializer {
            if !self.count_initializer(path) {
                return;
            }
            self.summary.parameters = self
                .summary
                .parameters
                .saturating_add(elements(&tensor.dims));
            self.tensor(tensor, &format!("{path} initializer `{}`", tensor.name));
        }
        for sparse in &graph.sparse_initializer {
            if !self.count_initializer(path) {
                return;
            }
            self.summary.parameters = self
                .summary
                .parameters
                .saturating_add(elements(&sparse.dims));
            self.sparse(sparse, &format!("{path} sparse initializer"));
        }
        for (i, node) in graph.node.iter().enumerate() {
            if self.stopped {
                return;
            }
            self.node(node, i, path, depth);
        }
    }

    fn function(&mut self, function: &FunctionProto) {
        self.summary.functions += 1;
        let path = format!("function `{}.{}`", function.domain, function.name);
        self.text(
            Origin::OnnxDocString,
            &format!("{path} doc_string"),
            &function.doc_string,
        );
        self.metadata(&path, &function.metadata_props);
        for value in &function.value_info {
            self.value_info(value, &path);
        }
        for attribute in &function.attribute_proto {
            self.attribute(
                attribute,
                ("", false),
                &format!("{path} default attribute"),
                &path,
                0,
            );
        }
        for (i, node) in function.node.iter().enumerate() {
            if self.stopped {
                return;
            }
            self.node(node, i, &path, 0);
        }
    }

    fn node(&mut self, node: &NodeProto, index: usize, path: &str, depth: u32) {
        self.summary.nodes += 1;
        if self.summary.nodes > self.limits.max_nodes {
            let limit = self.limits.max_nodes;
            self.ctx.report(
                RuleId::OnnxLimitExceeded,
                None,
                format!("more than {limit} nodes; the rest of the model was not analysed"),
                None,
            );
            self.stopped = true;
            return;
        }
        let op = qualified(&node.domain, &node.op_type);
        self.count_op(&op);
        let label = if node.name.is_empty() {
            format!("{path} node #{index} ({op})")
        } else {
            format!("{path} node `{}` ({op})", node.name)
        };
        let local = self
            .local
            .contains(&(node.domain.clone(), node.op_type.clone()));
        if !local && !ops::is_standard(&node.domain, &node.op_type) {
            self.custom
                .entry(node.domain.clone())
                .or_default()
                .insert(node.op_type.clone());
        }
        if ops::is_python_op(&node.domain, &node.op_type) {
            self.ctx.report(
                RuleId::OnnxPythonOperator,
                None,
                format!("{label} is a Python operator: running the model calls Python code registered by the loading process"),
                Some(op.clone()),
            );
        }
        self.text(
            Origin::OnnxDocString,
            &format!("{label} doc_string"),
            &node.doc_string,
        );
        self.metadata(&label, &node.metadata_props);
        let subgraph_path = if node.name.is_empty() {
            format!("{path}/#{index}")
        } else {
            format!("{path}/{}", node.name)
        };
        let standard = ops::is_standard(&node.domain, &node.op_type);
        for attribute in &node.attribute {
            self.attribute(attribute, (&op, standard), &label, &subgraph_path, depth);
        }
    }

    /// `(op, standard)`: the node's qualified operator, and whether the runtime ships it.
    fn attribute(
        &mut self,
        a: &AttributeProto,
        (op, standard): (&str, bool),
        label: &str,
        path: &str,
        depth: u32,
    ) {
        let context = format!("{label} attribute `{}`", a.name);
        for (i, s) in std::iter::once(&a.s).chain(&a.strings).enumerate() {
            if s.is_empty() {
                continue;
            }
            let at = if i == 0 {
                context.clone()
            } else {
                format!("{context}[{}]", i - 1)
            };
            self.ctx.extract(Origin::OnnxAttribute, &at, None, s);
            if ops::carries_code(&a.name, s, standard) {
                self.ctx.report(
                    RuleId::OnnxPythonOperator,
                    None,
                    format!("{at} carries source code"),
                    Some(format!("{op} {}={}", a.name, excerpt(s))),
                );
            }
        }
        self.text(
            Origin::OnnxDocString,
            &format!("{context} doc_string"),
            &a.doc_string,
        );
        for tensor in a.t.iter().chain(&a.tensors) {
            self.tensor(tensor, &context);
        }
        for sparse in a.sparse_tensor.iter().chain(&a.sparse_tensors) {
            self.sparse(sparse, &context);
        }
        for (i, graph) in a.g.iter().chain(&a.graphs).enumerate() {
            let name = if a.g.is_some() && i == 0 {
                format!("{path}.{}", a.name)
            } else {
                format!("{path}.{}[{i}]", a.name)
            };
            self.graph(graph, &name, depth + 1);
        }
    }

    fn tensor(&mut self, tensor: &TensorProto, context: &str) {
        if tensor.data_location == DataLocation::External as i32 || !tensor.external_data.is_empty()
        {
            self.external.check(self.ctx, tensor, context);
        } else if !tensor.dims.is_empty() && elements(&tensor.dims) > 0 && !carries_data(tensor) {
            // `onnx.checker` rejects it; a tool that allocates by the declared shape (a
            // converter, `numpy_helper.to_array`) is asked for memory the file never held.
            self.ctx.report(
                RuleId::OnnxMalformed,
                None,
                format!(
                    "{context} declares {:?} ({} elements) and carries no data",
                    tensor.dims,
                    elements(&tensor.dims)
                ),
                None,
            );
        }
        if tensor.data_type == DataType::String as i32 {
            for (i, s) in tensor.string_data.iter().enumerate() {
                if !s.is_empty() {
                    let at = format!("{context} string element {i}");
                    self.ctx.extract(Origin::OnnxStringTensor, &at, None, s);
                }
            }
        }
        self.text(
            Origin::OnnxDocString,
            &format!("{context} doc_string"),
            &tensor.doc_string,
        );
        self.metadata(context, &tensor.metadata_props);
    }

    fn sparse(&mut self, sparse: &SparseTensorProto, context: &str) {
        for tensor in sparse.values.iter().chain(&sparse.indices) {
            self.tensor(tensor, context);
        }
    }

    fn value_info(&mut self, value: &ValueInfoProto, path: &str) {
        let context = format!("{path} value `{}`", value.name);
        self.text(
            Origin::OnnxDocString,
            &format!("{context} doc_string"),
            &value.doc_string,
        );
        self.metadata(&context, &value.metadata_props);
    }

    /// Counts an initializer; false (and the walk stops) past the limit.
    fn count_initializer(&mut self, path: &str) -> bool {
        self.summary.initializers += 1;
        if self.summary.initializers <= self.limits.max_initializers {
            return true;
        }
        let limit = self.limits.max_initializers;
        self.ctx.report(
            RuleId::OnnxLimitExceeded,
            None,
            format!(
                "more than {limit} initializers (at {path}); the rest of the model was not analysed"
            ),
            None,
        );
        self.stopped = true;
        false
    }

    fn count_op(&mut self, op: &str) {
        let histogram = &mut self.summary.op_histogram;
        let key = if histogram.len() < MAX_HISTOGRAM || histogram.contains_key(op) {
            op
        } else {
            "(other)"
        };
        *histogram.entry(key.to_owned()).or_default() += 1;
    }

    fn text(&mut self, origin: Origin, context: &str, text: &str) {
        if !text.is_empty() {
            self.ctx.extract(origin, context, None, text.as_bytes());
        }
    }

    fn metadata(&mut self, context: &str, props: &[StringStringEntryProto]) {
        for entry in props {
            let at = format!("{context} metadata `{}`", entry.key);
            self.text(Origin::OnnxMetadata, &at, &entry.value);
        }
    }

    fn report_custom_domains(&mut self) {
        for (domain, names) in std::mem::take(&mut self.custom) {
            let mut listed: Vec<&str> = names
                .iter()
                .take(MAX_LISTED_OPS)
                .map(String::as_str)
                .collect();
            if names.len() > MAX_LISTED_OPS {
                listed.push("…");
            }
            let shown = if domain.is_empty() {
                "(default)"
            } else {
                domain.as_str()
            };
            self.ctx.report(
                RuleId::OnnxCustomDomain,
                None,
                format!(
                    "{} operator(s) of domain `{shown}` need a custom operator library (native code) to run",
                    names.len()
                ),
                Some(format!("{shown}: {}", listed.join(", "))),
            );
        }
    }
}

/// `Conv` for the default domain, `com.microsoft.FusedMatMul` otherwise.
fn qualified(domain: &str, op_type: &str) -> String {
    if domain.is_empty() || domain == "ai.onnx" {
        op_type.to_owned()
    } else {
        format!("{domain}.{op_type}")
    }
}

/// Whether a tensor holds values in any of its data fields.
fn carries_data(tensor: &TensorProto) -> bool {
    !(tensor.raw_data.is_empty()
        && tensor.float_data.is_empty()
        && tensor.int32_data.is_empty()
        && tensor.string_data.is_empty()
        && tensor.int64_data.is_empty()
        && tensor.double_data.is_empty()
        && tensor.uint64_data.is_empty())
}

/// Elements of a tensor with these dims (negative dims count as zero).
fn elements(dims: &[i64]) -> u64 {
    dims.iter()
        .map(|&d| u64::try_from(d).unwrap_or(0))
        .fold(1u64, u64::saturating_mul)
}

/// The end of a long graph path, which is where the subgraph is.
fn tail(path: &str) -> String {
    let count = path.chars().count();
    if count <= MAX_EVIDENCE {
        return path.to_owned();
    }
    let kept: String = path.chars().skip(count - MAX_EVIDENCE).collect();
    format!("…{kept}")
}

/// The start of some text as a quoted, escaped excerpt with its length when cut.
fn excerpt(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let cut: String = text.chars().take(MAX_EVIDENCE).collect();
    if cut.len() < text.len() {
        format!("{cut:?}… ({} bytes)", data.len())
    } else {
        format!("{cut:?}")
    }
}

//! ONNX Runtime's own model format (`.ort`, `session.save_model_format=ORT` or
//! `python -m onnxruntime.tools.convert_onnx_models_to_ort`): a FlatBuffer with the file
//! identifier `ORTM` whose root `InferenceSession` holds a `Model` and its `Graph`
//! (`onnxruntime/core/flatbuffers/schema/ort.fbs`). Read with TFLite's bounds-checked table
//! reader; every node's domain and operator is judged as an ONNX model's is (custom domains
//! need a native operator library, Python operators run host code), subgraphs of control-flow
//! attributes included, within the ONNX limits.

use std::collections::BTreeMap;

use crate::formats::tflite::fb::{self, Buf, Table};
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, Origin};

use super::ops;

/// Fields of the tables read (their index in the schema).
mod field {
    pub const SESSION_ORT_VERSION: usize = 0;
    pub const SESSION_MODEL: usize = 1;
    pub const MODEL_OPSET_IMPORT: usize = 1;
    pub const MODEL_PRODUCER: usize = 2;
    pub const MODEL_GRAPH: usize = 7;
    pub const OPSET_DOMAIN: usize = 0;
    pub const GRAPH_NODES: usize = 2;
    pub const NODE_DOMAIN: usize = 2;
    pub const NODE_OP_TYPE: usize = 5;
    pub const NODE_ATTRIBUTES: usize = 10;
    pub const ATTRIBUTE_NAME: usize = 0;
    pub const ATTRIBUTE_S: usize = 5;
    pub const ATTRIBUTE_G: usize = 7;
    pub const ATTRIBUTE_GRAPHS: usize = 12;
}
/// Subgraph nesting followed.
const MAX_DEPTH: usize = 32;
/// Attributes of one node, opset imports, subgraphs of one attribute.
const MAX_LIST: usize = 1 << 16;

/// Whether `data` is an ORT-format model: the `ORTM` identifier and a root table in bounds.
pub fn looks_like_ort(data: &[u8]) -> bool {
    data.get(4..8) == Some(b"ORTM") && fb::root(data).is_some()
}

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let buf = Buf::new(data);
    let malformed = |ctx: &mut Ctx<'_>, why: String| {
        ctx.report(
            RuleId::OnnxMalformed,
            None,
            format!("the ORT-format model does not read as ONNX Runtime reads it: {why}"),
            None,
        );
    };
    let Some(session) = fb::root(data) else {
        return malformed(ctx, "its root table is outside the file".to_owned());
    };
    let Some(model) = session.table(&buf, field::SESSION_MODEL) else {
        return malformed(ctx, "it holds no model".to_owned());
    };
    let version = session
        .string(&buf, field::SESSION_ORT_VERSION)
        .unwrap_or_default();
    let producer = model
        .string(&buf, field::MODEL_PRODUCER)
        .unwrap_or_default();
    match model.tables(&buf, field::MODEL_OPSET_IMPORT, MAX_LIST) {
        Ok(imports) => {
            for import in imports {
                if let Some(domain) = import.string(&buf, field::OPSET_DOMAIN) {
                    ctx.extract(
                        Origin::OnnxMetadata,
                        "opset_import domain",
                        None,
                        domain.as_bytes(),
                    );
                }
            }
        }
        Err(why) => malformed(ctx, format!("opset imports: {why}")),
    }
    let Some(graph) = model.table(&buf, field::MODEL_GRAPH) else {
        return malformed(ctx, "the model has no graph".to_owned());
    };
    let max_nodes = usize::try_from(ctx.config().onnx.max_nodes).unwrap_or(usize::MAX);
    let mut walk = Walk {
        buf: &buf,
        nodes: 0,
        max_nodes,
        custom: BTreeMap::new(),
        python: Vec::new(),
        problems: Vec::new(),
        strings: Vec::new(),
    };
    walk.graph(graph, 0, "graph");
    for (context, value) in &walk.strings {
        ctx.extract(Origin::OnnxAttribute, context, None, value);
    }
    for (what, context) in &walk.python {
        ctx.report(
            RuleId::OnnxPythonOperator,
            None,
            format!(
                "{context}: operator `{what}` runs Python code registered in the loading process"
            ),
            Some(what.clone()),
        );
    }
    for (domain, names) in &walk.custom {
        let listed: Vec<&str> = names.iter().map(String::as_str).take(16).collect();
        ctx.report(
            RuleId::OnnxCustomDomain,
            None,
            format!(
                "{} operator(s) of domain `{domain}` need a custom operator library (native code) to run",
                names.len()
            ),
            Some(format!("{domain}: {}", listed.join(", "))),
        );
    }
    for why in walk.problems.iter().take(16) {
        malformed(ctx, why.clone());
    }
    if walk.nodes > max_nodes {
        ctx.report(
            RuleId::OnnxLimitExceeded,
            None,
            format!("more than {max_nodes} nodes; the rest were not judged"),
            None,
        );
    }
    ctx.extract(
        Origin::OnnxMetadata,
        "ort_version",
        None,
        version.as_bytes(),
    );
    ctx.extract(
        Origin::OnnxMetadata,
        "producer_name",
        None,
        producer.as_bytes(),
    );
}

struct Walk<'b, 'a> {
    buf: &'b Buf<'a>,
    nodes: usize,
    max_nodes: usize,
    /// Custom domain → its operator types.
    custom: BTreeMap<String, std::collections::BTreeSet<String>>,
    /// Python operators and where they are.
    python: Vec<(String, String)>,
    problems: Vec<String>,
    /// String attributes, for the signature engine.
    strings: Vec<(String, Vec<u8>)>,
}
/// String attributes handed to the signature engine.
const MAX_STRINGS: usize = 4096;

impl Walk<'_, '_> {
    fn graph(&mut self, graph: Table, depth: usize, context: &str) {
        if depth > MAX_DEPTH {
            self.problems
                .push(format!("{context}: subgraphs nest deeper than {MAX_DEPTH}"));
            return;
        }
        let nodes = match graph.tables(self.buf, field::GRAPH_NODES, self.max_nodes) {
            Ok(n) => n,
            Err(why) => {
                self.problems.push(format!("{context} nodes: {why}"));
                return;
            }
        };
        for node in nodes {
            self.nodes += 1;
            if self.nodes > self.max_nodes {
                return;
            }
            let domain = node
                .string(self.buf, field::NODE_DOMAIN)
                .unwrap_or_default();
            let op_type = node
                .string(self.buf, field::NODE_OP_TYPE)
                .unwrap_or_default();
            if ops::is_python_op(&domain, &op_type) {
                self.python
                    .push((format!("{domain}.{op_type}"), context.to_owned()));
            } else if !ops::is_standard(&domain, &op_type) {
                self.custom
                    .entry(domain.clone())
                    .or_default()
                    .insert(op_type.clone());
            }
            let attributes = match node.tables(self.buf, field::NODE_ATTRIBUTES, MAX_LIST) {
                Ok(a) => a,
                Err(why) => {
                    self.problems
                        .push(format!("{context} node `{op_type}` attributes: {why}"));
                    continue;
                }
            };
            for attribute in attributes {
                let name = attribute
                    .string(self.buf, field::ATTRIBUTE_NAME)
                    .unwrap_or_default();
                if ops::is_python_op(&domain, &op_type)
                    && let Some(s) = attribute.bytes(self.buf, field::ATTRIBUTE_S)
                    && ops::carries_code(&name, s, false)
                {
                    self.python
                        .push((format!("{domain}.{op_type} ({name})"), context.to_owned()));
                }
                if let Some(s) = attribute.bytes(self.buf, field::ATTRIBUTE_S)
                    && !s.is_empty()
                    && self.strings.len() < MAX_STRINGS
                {
                    self.strings
                        .push((format!("node {op_type} attribute {name}"), s.to_vec()));
                }
                let inner = format!("{context} > {op_type}.{name}");
                if let Some(g) = attribute.table(self.buf, field::ATTRIBUTE_G) {
                    self.graph(g, depth + 1, &inner);
                }
                match attribute.tables(self.buf, field::ATTRIBUTE_GRAPHS, MAX_LIST) {
                    Ok(graphs) => {
                        for g in graphs {
                            self.graph(g, depth + 1, &inner);
                        }
                    }
                    Err(why) => self.problems.push(format!("{inner}: {why}")),
                }
            }
        }
    }
}

//! What decoding a model whole would cost, read from the wire format before anything is
//! decoded, and a bounded decode for models that would not fit the artifact's memory budget.
//!
//! prost turns every message into a struct of its own: a node of one empty attribute is five
//! bytes on the wire and over a kilobyte decoded, so a 20 MB file of five million such nodes
//! takes gigabytes. The census walks the graph's fields (nodes, their attributes, subgraphs and
//! tensors) without allocating and estimates the decoded size; past the budget, the model is
//! decoded without its nodes and initializers, which are then added one by one while they fit.

use std::mem::size_of;
use std::ops::Range;

use bytes::Bytes;
use prost::Message;

use super::proto;

/// `ModelProto.graph`, `ModelProto.training_info`, `ModelProto.functions`.
const MODEL_GRAPH: u64 = 7;
const MODEL_TRAINING_INFO: u64 = 20;
const MODEL_FUNCTIONS: u64 = 25;
/// `TrainingInfoProto.initialization` and `.algorithm` (graphs); `FunctionProto.node`.
const TRAINING_INITIALIZATION: u64 = 1;
const TRAINING_ALGORITHM: u64 = 2;
const FUNCTION_NODE: u64 = 7;
/// `GraphProto.node`, `GraphProto.initializer`.
const GRAPH_NODE: u64 = 1;
const GRAPH_INITIALIZER: u64 = 5;
/// `NodeProto.attribute`.
const NODE_ATTRIBUTE: u64 = 5;
/// `AttributeProto` fields holding a tensor, a graph, tensors, graphs.
const ATTRIBUTE_TENSOR: u64 = 5;
const ATTRIBUTE_GRAPH: u64 = 6;
const ATTRIBUTE_TENSORS: u64 = 10;
const ATTRIBUTE_GRAPHS: u64 = 11;
/// `TensorProto.raw_data`.
const TENSOR_RAW_DATA: u64 = 9;
/// Subgraphs deeper than this are costed by their size alone (prost refuses 100 levels).
const MAX_DEPTH: u32 = 32;
/// What one length-delimited field costs decoded besides its bytes: a `String`, `Vec` or
/// `Bytes` header.
const FIELD_OVERHEAD: u64 = 32;

/// One protobuf field: its number, wire type, the whole field's bytes and its payload.
struct Field {
    number: u64,
    wire: u64,
    whole: Range<usize>,
    payload: Range<usize>,
}

/// The fields of a message, in order; `None` once the bytes stop being protobuf.
fn fields(data: &[u8]) -> impl Iterator<Item = Option<Field>> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at >= data.len() {
            return None;
        }
        let start = at;
        let field = read_field(data, start);
        at = field.as_ref().map_or(data.len(), |f| f.whole.end);
        Some(field)
    })
}

fn read_field(data: &[u8], start: usize) -> Option<Field> {
    let (tag, next) = crate::bytes::varint(data, start)?;
    let (number, wire) = (tag >> 3, tag & 7);
    let payload = match wire {
        0 => next..crate::bytes::varint(data, next)?.1,
        1 => next..next.checked_add(8)?,
        2 => {
            let (len, from) = crate::bytes::varint(data, next)?;
            from..from.checked_add(usize::try_from(len).ok()?)?
        }
        5 => next..next.checked_add(4)?,
        _ => return None,
    };
    (payload.end <= data.len()).then_some(Field {
        number,
        wire,
        whole: start..payload.end,
        payload,
    })
}

/// How decoded sizes are estimated: whether tensor bytes (`raw_data`) stay in place as slices of
/// the mapped file, or are copied.
#[derive(Clone, Copy)]
struct Costing {
    in_place: bool,
}

impl Costing {
    fn graph(self, data: &[u8], depth: u32) -> u64 {
        if depth > MAX_DEPTH {
            return flat(data, size_of::<proto::GraphProto>());
        }
        self.message::<proto::GraphProto>(data, |field, payload| match field {
            GRAPH_NODE => Some(self.node(payload, depth)),
            GRAPH_INITIALIZER => Some(self.tensor(payload)),
            _ => None,
        })
    }

    fn node(self, data: &[u8], depth: u32) -> u64 {
        self.message::<proto::NodeProto>(data, |field, payload| {
            (field == NODE_ATTRIBUTE).then(|| self.attribute(payload, depth))
        })
    }

    fn attribute(self, data: &[u8], depth: u32) -> u64 {
        self.message::<proto::AttributeProto>(data, |field, payload| match field {
            ATTRIBUTE_GRAPH | ATTRIBUTE_GRAPHS => Some(self.graph(payload, depth + 1)),
            ATTRIBUTE_TENSOR | ATTRIBUTE_TENSORS => Some(self.tensor(payload)),
            _ => None,
        })
    }

    fn function(self, data: &[u8]) -> u64 {
        self.message::<proto::FunctionProto>(data, |field, payload| {
            (field == FUNCTION_NODE).then(|| self.node(payload, 1))
        })
    }

    fn training(self, data: &[u8]) -> u64 {
        self.message::<proto::TrainingInfoProto>(data, |field, payload| match field {
            TRAINING_INITIALIZATION | TRAINING_ALGORITHM => Some(self.graph(payload, 1)),
            _ => None,
        })
    }

    /// A top-level field of the model: what its messages cost, if it is one that can be large.
    fn model_field(self, field: &Field, payload: &[u8]) -> Option<u64> {
        match (field.number, field.wire) {
            (MODEL_GRAPH, 2) => Some(self.graph(payload, 0)),
            (MODEL_FUNCTIONS, 2) => Some(self.function(payload)),
            (MODEL_TRAINING_INFO, 2) => Some(self.training(payload)),
            _ => None,
        }
    }

    fn tensor(self, data: &[u8]) -> u64 {
        self.message::<proto::TensorProto>(data, |field, _| {
            (field == TENSOR_RAW_DATA && self.in_place).then_some(FIELD_OVERHEAD)
        })
    }

    /// The struct `M`, plus each length-delimited field: what `inner` says for a message field
    /// it knows, else the field's bytes and a header.
    fn message<M>(self, data: &[u8], inner: impl Fn(u64, &[u8]) -> Option<u64>) -> u64 {
        let mut cost = size_of::<M>() as u64;
        for field in fields(data).map_while(|f| f).filter(|f| f.wire == 2) {
            let payload = data.get(field.payload.clone()).unwrap_or_default();
            let field_cost =
                inner(field.number, payload).unwrap_or(payload.len() as u64 + FIELD_OVERHEAD);
            cost = cost.saturating_add(field_cost);
        }
        cost
    }
}

/// Decoded bytes of a message whose every length-delimited field is copied whole.
fn flat(data: &[u8], base: usize) -> u64 {
    let fields = fields(data)
        .map_while(|f| f)
        .filter(|f| f.wire == 2)
        .count() as u64;
    base as u64 + data.len() as u64 + fields * FIELD_OVERHEAD
}

/// The graph fields of a model (protobuf merges repeated occurrences into one graph), when the
/// model's top level reads as protobuf.
fn graph_fields(data: &[u8]) -> Option<Vec<Field>> {
    let mut graphs = Vec::new();
    for field in fields(data) {
        let field = field?;
        if field.number == MODEL_GRAPH && field.wire == 2 {
            graphs.push(field);
        }
    }
    Some(graphs)
}

/// Estimated bytes a whole decode of the model's graphs and functions takes, or `None` when the
/// top level is not protobuf (the normal decode then says why). `in_place`: tensor bytes will be
/// slices of the mapped file rather than copies.
pub fn estimate(data: &[u8], in_place: bool) -> Option<u64> {
    let costing = Costing { in_place };
    let mut total = 0u64;
    for field in fields(data) {
        let field = field?;
        let payload = data.get(field.payload.clone()).unwrap_or_default();
        total = total.saturating_add(costing.model_field(&field, payload).unwrap_or(0));
    }
    Some(total)
}

/// A model decoded within a memory budget, and what was left out.
pub struct Bounded {
    pub model: proto::ModelProto,
    pub nodes: (u64, u64),
    pub initializers: (u64, u64),
    /// Functions and training graphs left out because together they would not fit.
    pub left_out: u64,
}

/// Decodes the model without its graph's nodes and initializers, then adds them in file order
/// while their estimated cost fits `budget`. `shared` is the whole file's mapping when `data` is
/// the whole file: initializer bytes are then slices of it rather than copies.
pub fn decode_bounded(
    data: &[u8],
    shared: Option<&Bytes>,
    budget: u64,
) -> Result<Bounded, prost::DecodeError> {
    let graphs = graph_fields(data).unwrap_or_default();
    let costing = Costing {
        in_place: shared.is_some(),
    };
    // Functions and training graphs are kept whole if together they fit half the budget, else
    // left out (and counted); the graph's nodes and initializers share the rest.
    let extras: u64 = fields(data)
        .map_while(|f| f)
        .filter(|f| f.number != MODEL_GRAPH)
        .filter_map(|f| costing.model_field(&f, data.get(f.payload.clone()).unwrap_or_default()))
        .fold(0, u64::saturating_add);
    let keep_extras = extras <= budget / 2;
    let mut rest = Vec::new();
    let mut left_out = 0;
    for field in fields(data).map_while(|f| f) {
        let large = matches!(field.number, MODEL_FUNCTIONS | MODEL_TRAINING_INFO);
        if field.number == MODEL_GRAPH && field.wire == 2 {
            continue;
        }
        if large && field.wire == 2 && !keep_extras {
            left_out += 1;
            continue;
        }
        rest.extend_from_slice(data.get(field.whole).unwrap_or_default());
    }
    let mut model = proto::ModelProto::decode(rest.as_slice())?;
    let budget = if keep_extras { budget - extras } else { budget };
    let mut graph = proto::GraphProto::default();
    let mut spent = 0u64;
    let mut bounded = Bounded {
        model: proto::ModelProto::default(),
        nodes: (0, 0),
        initializers: (0, 0),
        left_out,
    };
    let piece = |range: Range<usize>| match shared {
        Some(whole) => whole.slice(range),
        None => Bytes::copy_from_slice(data.get(range).unwrap_or_default()),
    };
    for outer in &graphs {
        let payload = data.get(outer.payload.clone()).unwrap_or_default();
        let mut others = Vec::new();
        for field in fields(payload).map_while(|f| f) {
            let absolute =
                outer.payload.start + field.payload.start..outer.payload.start + field.payload.end;
            let bytes = payload.get(field.payload.clone()).unwrap_or_default();
            match (field.number, field.wire) {
                (GRAPH_NODE, 2) => {
                    bounded.nodes.1 += 1;
                    let cost = costing.node(bytes, 0);
                    if spent.saturating_add(cost) <= budget {
                        spent += cost;
                        bounded.nodes.0 += 1;
                        graph.node.push(proto::NodeProto::decode(piece(absolute))?);
                    }
                }
                (GRAPH_INITIALIZER, 2) => {
                    bounded.initializers.1 += 1;
                    let cost = costing.tensor(bytes);
                    if spent.saturating_add(cost) <= budget {
                        spent += cost;
                        bounded.initializers.0 += 1;
                        graph
                            .initializer
                            .push(proto::TensorProto::decode(piece(absolute))?);
                    }
                }
                _ => others.extend_from_slice(payload.get(field.whole).unwrap_or_default()),
            }
        }
        graph.merge(others.as_slice())?;
    }
    if !graphs.is_empty() {
        model.graph = Some(graph);
    }
    bounded.model = model;
    Ok(bounded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_with_attribute() -> proto::NodeProto {
        proto::NodeProto {
            op_type: "Relu".to_owned(),
            attribute: vec![proto::AttributeProto {
                name: "a".to_owned(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn model(nodes: usize) -> Vec<u8> {
        proto::ModelProto {
            ir_version: 8,
            graph: Some(proto::GraphProto {
                name: "g".to_owned(),
                node: vec![node_with_attribute(); nodes],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn the_estimate_grows_with_decoded_structs_not_wire_bytes() {
        let data = model(1000);
        let estimate = estimate(&data, false).unwrap();
        let per_node = (size_of::<proto::NodeProto>() + size_of::<proto::AttributeProto>()) as u64;
        assert!(estimate >= 1000 * per_node, "{estimate}");
        assert!(estimate > 20 * data.len() as u64);
    }

    #[test]
    fn a_bounded_decode_keeps_what_fits_and_the_rest_of_the_graph() {
        let data = model(1000);
        let budget = estimate(&data, false).unwrap() / 10;
        let bounded = decode_bounded(&data, None, budget).unwrap();
        let graph = bounded.model.graph.unwrap();
        assert_eq!(graph.name, "g");
        assert_eq!(bounded.nodes.1, 1000);
        assert!(
            bounded.nodes.0 > 0 && bounded.nodes.0 < 150,
            "{:?}",
            bounded.nodes
        );
        assert_eq!(graph.node.len() as u64, bounded.nodes.0);
        assert_eq!(graph.node[0], node_with_attribute());
        assert_eq!(bounded.model.ir_version, 8);
    }

    #[test]
    fn functions_are_costed_and_left_out_when_they_do_not_fit() {
        let data = proto::ModelProto {
            ir_version: 8,
            graph: Some(proto::GraphProto::default()),
            functions: vec![proto::FunctionProto {
                name: "f".to_owned(),
                node: vec![node_with_attribute(); 1000],
                ..Default::default()
            }],
            ..Default::default()
        }
        .encode_to_vec();
        let estimate = estimate(&data, true).unwrap();
        assert!(estimate > 1000 * size_of::<proto::AttributeProto>() as u64);
        let bounded = decode_bounded(&data, None, estimate / 4).unwrap();
        assert_eq!(bounded.left_out, 1);
        assert!(bounded.model.functions.is_empty());
        let whole = decode_bounded(&data, None, estimate * 4).unwrap();
        assert_eq!((whole.left_out, whole.model.functions.len()), (0, 1));
    }

    #[test]
    fn tensor_bytes_read_in_place_cost_nothing_but_copies_do() {
        let data = proto::ModelProto {
            graph: Some(proto::GraphProto {
                initializer: vec![proto::TensorProto {
                    raw_data: vec![0u8; 1 << 20].into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        assert!(estimate(&data, true).unwrap() < 4096);
        assert!(estimate(&data, false).unwrap() > 1 << 20);
    }

    #[test]
    fn graphs_split_over_two_fields_are_merged_like_protobuf_does() {
        let mut data = model(3);
        data.extend_from_slice(&model(2));
        let whole = proto::ModelProto::decode(data.as_slice()).unwrap();
        let bounded = decode_bounded(&data, None, u64::MAX).unwrap();
        assert_eq!(bounded.model, whole);
        assert_eq!(bounded.nodes, (5, 5));
    }
}

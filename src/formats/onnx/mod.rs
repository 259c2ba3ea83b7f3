//! ONNX: the `ModelProto` is decoded with prost into our own message types ([`proto`]), then
//! every graph is walked ([`walk`]): operators from custom domains and Python operators, tensors
//! whose external data leaves the model's directory, operator set imports, and every string
//! the model carries for the signature engine. Recognising a `ModelProto` is structural, so
//! that bytes that merely start like one are not called ONNX.

mod census;
mod external;
mod ops;
pub mod ort;
mod owner;
pub mod proto;
mod summary;
mod tensor;
#[cfg(test)]
mod tests;
mod utf8;
mod walk;

use prost::Message;

pub use census::estimate as decoded_size;
pub use owner::external_data_owner;
pub use tensor::analyse_tensor;

use crate::bytes::varint;
use crate::model::rules::RuleId;
use crate::model::summary::ModelSummary;
use crate::scan::context::Ctx;

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let max_bytes = ctx.config().onnx.max_bytes;
    if data.len() as u64 > max_bytes {
        return ctx.report(
            RuleId::OnnxLimitExceeded,
            Some(0),
            format!(
                "the model is {} bytes, over the {max_bytes}-byte limit of what is decoded",
                data.len()
            ),
            None,
        );
    }
    // Decoding from the shared mapping makes initializer bytes slices of the file, not copies.
    let shared = ctx.shared(data);
    let budget = ctx.config().zone.max_memory;
    let decoded = match census::estimate(data, shared.is_some()) {
        Some(estimate) if estimate > budget => {
            census::decode_bounded(data, shared.as_ref(), budget / 2).map(|bounded| {
                report_bounded(ctx, estimate, budget, &bounded);
                bounded.model
            })
        }
        _ => match shared {
            Some(bytes) => proto::ModelProto::decode(bytes),
            None => proto::ModelProto::decode(data),
        },
    };
    let model = match decoded {
        Ok(model) => model,
        Err(_) if tensor::analyse_tensor(data, ctx) => return,
        Err(e) => match utf8::decode_lossily(data) {
            Some((model, fixed)) => {
                ctx.report(
                    RuleId::OnnxMalformed,
                    None,
                    format!(
                        "{fixed} text field(s) hold bytes that are not UTF-8; onnx and ONNX Runtime load such a model anyway (proto2 does not check), so it was analysed with those bytes replaced"
                    ),
                    None,
                );
                model
            }
            None => {
                // prost stops at 100 nested messages: a recursion bomb of subgraphs.
                let rule = if e.to_string().contains("recursion limit") {
                    RuleId::OnnxLimitExceeded
                } else {
                    RuleId::OnnxMalformed
                };
                return ctx.report(
                    rule,
                    None,
                    format!(
                        "does not decode as an ONNX ModelProto: {}",
                        short(&e.to_string())
                    ),
                    None,
                );
            }
        },
    };
    if model.graph.is_none() {
        ctx.report(
            RuleId::OnnxMalformed,
            None,
            "the model has no graph: nothing a runtime could load",
            None,
        );
    }
    summary::check_versions(&model, ctx);
    let counted = walk::Walker::new(ctx, &model).model(&model);
    ctx.summarise(ModelSummary::Onnx(summary::summarise(&model, counted)));
}

/// Says that a model too large to decode whole within the memory budget was analysed in part.
fn report_bounded(ctx: &mut Ctx<'_>, estimate: u64, budget: u64, bounded: &census::Bounded) {
    let ((nodes, all_nodes), (inits, all_inits)) = (bounded.nodes, bounded.initializers);
    let left_out = match bounded.left_out {
        0 => String::new(),
        n => format!("; {n} function(s) or training graph(s) were left out"),
    };
    ctx.report(
        RuleId::OnnxLimitExceeded,
        None,
        format!(
            "decoding the whole model would take about {estimate} bytes of memory, over the artifact's budget of {budget} (`max_memory`); the first {nodes} of {all_nodes} graph nodes and {inits} of {all_inits} initializers were analysed{left_out}"
        ),
        None,
    );
}

/// prost names every message on the way down to a decoding error; deep nesting makes that
/// path long, and its end is what matters.
fn short(message: &str) -> String {
    const KEEP: usize = 160;
    match message.char_indices().rev().nth(KEEP) {
        Some((at, _)) => format!("…{}", &message[at..]),
        None => message.to_owned(),
    }
}

/// `ModelProto` field numbers (ONNX IR version 10) with their wire types: ir_version (varint),
/// producer_name, producer_version, domain (strings), model_version (varint), doc_string,
/// graph, opset_import, metadata_props, training_info, functions, configuration. The wire
/// types matter: a TensorFlow `fingerprint.pb` is fields 1 to 5 as varints and 6 and 7 as
/// messages, which field numbers alone would take for a model.
const MODEL_FIELDS: &[(u64, u64)] = &[
    (1, 0),
    (2, 2),
    (3, 2),
    (4, 2),
    (5, 0),
    (6, 2),
    (7, 2),
    (8, 2),
    (14, 2),
    (20, 2),
    (25, 2),
    (26, 2),
];
const IR_VERSION: u64 = 1;
const GRAPH: u64 = 7;
const OPSET_IMPORT: u64 = 8;

/// Whether `data` is, field by field, a protobuf `ModelProto` with an `ir_version` and a graph
/// or an operator set import: every top-level field is one the ONNX IR defines, with a fitting
/// wire type, and the fields cover the data exactly. Length-delimited fields (the graph) are skipped, so this costs a
/// few reads however large the model.
pub fn looks_like_onnx(data: &[u8]) -> bool {
    let (mut at, mut ir_version, mut graph) = (0usize, false, false);
    // A model without a graph is still recognised by its opset import, so that it is reported.
    while at < data.len() {
        let Some((tag, next)) = varint(data, at) else {
            return false;
        };
        let (field, wire) = (tag >> 3, tag & 7);
        if !MODEL_FIELDS.contains(&(field, wire)) {
            return false;
        }
        at = match wire {
            0 => match varint(data, next) {
                Some((_, end)) => end,
                None => return false,
            },
            2 => match varint(data, next) {
                Some((len, start)) => {
                    match usize::try_from(len).ok().and_then(|l| start.checked_add(l)) {
                        Some(end) if end <= data.len() => end,
                        _ => return false,
                    }
                }
                None => return false,
            },
            _ => return false,
        };
        ir_version |= field == IR_VERSION && wire == 0;
        graph |= (field == GRAPH || field == OPSET_IMPORT) && wire == 2;
    }
    ir_version && graph
}

#[cfg(test)]
mod detect_tests {
    use super::looks_like_onnx;

    /// ir_version 8, producer "t", an (empty-bodied) graph of 3 bytes, an opset import.
    fn model() -> Vec<u8> {
        let mut m = vec![0x08, 0x08, 0x12, 0x01, b't', 0x3a, 0x03, 0x0a, 0x01, b'g'];
        m.extend_from_slice(&[0x42, 0x02, 0x10, 0x11]);
        m
    }

    #[test]
    fn the_proto_types_decode_a_model() {
        use prost::Message;
        let mut named = model();
        named[7] = 0x12; // the graph's field 2, its name
        let decoded = super::proto::ModelProto::decode(named.as_slice()).unwrap();
        assert_eq!(decoded.ir_version, 8);
        assert_eq!(decoded.producer_name, "t");
        assert_eq!(decoded.graph.unwrap().name, "g");
        assert_eq!(decoded.opset_import[0].version, 17);
    }

    #[test]
    fn a_model_proto_is_onnx() {
        assert!(looks_like_onnx(&model()));
    }

    #[test]
    fn lookalikes_are_not() {
        let mut no_graph = model();
        no_graph.truncate(5);
        assert!(!looks_like_onnx(&no_graph));
        let mut overrun = model();
        overrun[6] = 0x7f;
        assert!(!looks_like_onnx(&overrun));
        let mut trailing = model();
        trailing.push(0x00);
        assert!(!looks_like_onnx(&trailing));
        assert!(!looks_like_onnx(b"\x08\x03 then some text"));
        assert!(!looks_like_onnx(&[0x08; 64]));
        // A TensorFlow fingerprint.pb: hashes as varints in fields 1 to 5, a version message
        // and a uuid string.
        let mut fingerprint = Vec::new();
        for field in 1u8..=5 {
            fingerprint.extend([field << 3, 0x2a]);
        }
        fingerprint.extend([0x32, 0x02, 0x08, 0x01, 0x3a, 0x01, b'u']);
        assert!(!looks_like_onnx(&fingerprint));
    }
}

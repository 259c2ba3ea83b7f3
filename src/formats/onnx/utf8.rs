//! Text fields that are not UTF-8. `onnx.proto` is proto2, where protobuf does not check that a
//! `string` holds UTF-8: Python's protobuf and ONNX Runtime's C++ reader load such a model, and
//! the rest of it (external data locations, operators) does what it says. prost refuses the
//! whole message instead. So when a model does not decode, its string fields are rewritten
//! lossily (each invalid sequence as U+FFFD) and the copy is decoded, so that one bad byte in a
//! doc string cannot hide the rest of the model from the analysis.

use prost::Message;

use super::proto::ModelProto;
use crate::bytes::varint;

// `SCHEMA`: for each ONNX message, its string fields (`None`) and message fields (`Some(index
// of the message)`) by field number; `MODEL_PROTO`: the index of `ModelProto`. Written by
// build.rs from the same descriptors as the message types.
include!(concat!(env!("OUT_DIR"), "/onnx_schema.rs"));

/// Models larger than this are not copied to be rewritten: they stay undecoded (and flagged).
const MAX_REWRITE: usize = 256 << 20;
/// prost's own nesting limit.
const MAX_DEPTH: u32 = 100;

/// The model decoded from a copy of `data` whose non-UTF-8 string fields were made UTF-8, and
/// how many fields that changed; `None` when no string field was the problem.
pub fn decode_lossily(data: &[u8]) -> Option<(ModelProto, usize)> {
    if data.len() > MAX_REWRITE {
        return None;
    }
    let mut out = Vec::with_capacity(data.len());
    let mut fixed = 0;
    rewrite(data, MODEL_PROTO, 0, &mut out, &mut fixed)?;
    if fixed == 0 {
        return None;
    }
    let model = ModelProto::decode(out.as_slice()).ok()?;
    Some((model, fixed))
}

fn rewrite(
    data: &[u8],
    message: usize,
    depth: u32,
    out: &mut Vec<u8>,
    fixed: &mut usize,
) -> Option<()> {
    let fields = SCHEMA.get(message)?;
    let mut at = 0;
    while at < data.len() {
        let (tag, next) = varint(data, at)?;
        let end = match tag & 7 {
            0 => varint(data, next)?.1,
            1 => next.checked_add(8)?,
            5 => next.checked_add(4)?,
            2 => {
                let (len, start) = varint(data, next)?;
                let end = start.checked_add(usize::try_from(len).ok()?)?;
                let body = data.get(start..end)?;
                let number = u32::try_from(tag >> 3).ok()?;
                match fields
                    .iter()
                    .find(|(n, _)| *n == number)
                    .map(|&(_, kind)| kind)
                {
                    Some(None) if std::str::from_utf8(body).is_err() => {
                        *fixed += 1;
                        let text = String::from_utf8_lossy(body);
                        push_field(out, tag, text.as_bytes());
                    }
                    Some(Some(inner)) if depth < MAX_DEPTH => {
                        let mut nested = Vec::with_capacity(body.len());
                        rewrite(body, inner, depth + 1, &mut nested, fixed)?;
                        push_field(out, tag, &nested);
                    }
                    _ => out.extend_from_slice(data.get(at..end)?),
                }
                at = end;
                continue;
            }
            _ => return None,
        };
        out.extend_from_slice(data.get(at..end)?);
        at = end;
    }
    Some(())
}

fn push_field(out: &mut Vec<u8>, tag: u64, body: &[u8]) {
    prost::encoding::encode_varint(tag, out);
    prost::encoding::encode_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::onnx::proto::{GraphProto, NodeProto, OperatorSetIdProto};

    #[test]
    fn a_doc_string_of_invalid_bytes_no_longer_hides_the_model() {
        let model = ModelProto {
            ir_version: 8,
            graph: Some(GraphProto {
                node: vec![NodeProto {
                    op_type: "Relu".into(),
                    doc_string: "PLACEHOLDER".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            }],
            ..Default::default()
        };
        let mut bytes = model.encode_to_vec();
        let at = bytes.windows(11).position(|w| w == b"PLACEHOLDER").unwrap();
        bytes[at] = 0xff;
        bytes[at + 1] = 0xfe;
        assert!(ModelProto::decode(bytes.as_slice()).is_err());
        let (decoded, fixed) = decode_lossily(&bytes).unwrap();
        assert_eq!(fixed, 1);
        let node = &decoded.graph.unwrap().node[0];
        assert_eq!(node.op_type, "Relu");
        assert_eq!(node.doc_string, "\u{FFFD}\u{FFFD}ACEHOLDER");
        // A model that fails for another reason stays undecoded.
        assert!(decode_lossily(&[0x08]).is_none());
    }
}

//! A bare ONNX `TensorProto`: the test data of the ONNX Model Zoo and of onnx's backend tests
//! (`test_data_set_0/input_0.pb`, written by `numpy_helper.from_array(...).SerializeToString()`)
//! and anything `onnx.save_tensor` writes. Recognised field by field (only fields a
//! `TensorProto` defines, with their wire types, covering the data exactly, with a known data
//! type), decoded with prost, and its external data judged as a model's is: `onnx.load_tensor`
//! reads an external location relative to the tensor file.

use prost::Message;

use super::external::ExternalData;
use super::proto::TensorProto;
use crate::bytes::varint;
use crate::model::rules::RuleId;
use crate::scan::context::Ctx;

/// `TensorProto` fields and the wire types a writer uses for each (repeated numbers packed or
/// not): dims, data_type, segment, float_data, int32_data, string_data, int64_data, name,
/// raw_data, double_data, uint64_data, doc_string, external_data, data_location,
/// metadata_props.
const TENSOR_FIELDS: &[(u64, u64)] = &[
    (1, 0),
    (1, 2),
    (2, 0),
    (3, 2),
    (4, 2),
    (4, 5),
    (5, 0),
    (5, 2),
    (6, 2),
    (7, 0),
    (7, 2),
    (8, 2),
    (9, 2),
    (10, 1),
    (10, 2),
    (11, 0),
    (11, 2),
    (12, 2),
    (13, 2),
    (14, 0),
    (16, 2),
];
/// The last data type of the IR (FLOAT4E2M1 is 23; later IRs add a few).
const MAX_DATA_TYPE: u64 = 26;

/// Whether `data` is, field by field, a `TensorProto` with a known data type.
pub fn looks_like_tensor(data: &[u8]) -> bool {
    let (mut at, mut data_type) = (0usize, None);
    while at < data.len() {
        let Some((tag, next)) = varint(data, at) else {
            return false;
        };
        let (field, wire) = (tag >> 3, tag & 7);
        if !TENSOR_FIELDS.contains(&(field, wire)) {
            return false;
        }
        let end = match wire {
            0 => varint(data, next).map(|(value, end)| {
                if field == 2 {
                    data_type = Some(value);
                }
                end
            }),
            1 => next.checked_add(8),
            5 => next.checked_add(4),
            _ => varint(data, next).and_then(|(len, start)| {
                usize::try_from(len).ok().and_then(|l| start.checked_add(l))
            }),
        };
        match end {
            Some(end) if end <= data.len() => at = end,
            _ => return false,
        }
    }
    data_type.is_some_and(|t| (1..=MAX_DATA_TYPE).contains(&t))
}

/// Analyses `data` as a bare `TensorProto`; `false` when it is not one.
pub fn analyse_tensor(data: &[u8], ctx: &mut Ctx<'_>) -> bool {
    if !looks_like_tensor(data) {
        return false;
    }
    let Ok(tensor) = TensorProto::decode(data) else {
        return false;
    };
    let name = if tensor.name.is_empty() {
        String::new()
    } else {
        format!(" `{}`", tensor.name)
    };
    ctx.report(
        RuleId::OnnxTensorFile,
        Some(0),
        format!(
            "an ONNX tensor{name} (data type {}, dims {:?}): test or input data that no runtime runs",
            tensor.data_type, tensor.dims
        ),
        None,
    );
    if tensor.data_location == 1 || !tensor.external_data.is_empty() {
        let path = ctx.disk_path();
        ExternalData::new(path).check(ctx, &tensor, &format!("the tensor{name}"));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_are_recognised_and_lookalikes_are_not() {
        let tensor = TensorProto {
            dims: vec![1, 3],
            data_type: 1,
            name: "x".into(),
            raw_data: vec![0; 12].into(),
            ..Default::default()
        }
        .encode_to_vec();
        assert!(looks_like_tensor(&tensor));
        let strings = TensorProto {
            dims: vec![2],
            data_type: 8,
            string_data: vec![b"a".to_vec(), b"b".to_vec()],
            ..Default::default()
        }
        .encode_to_vec();
        assert!(looks_like_tensor(&strings));
        // No data type, an unknown one, a cut or a field a tensor does not have: not a tensor.
        assert!(!looks_like_tensor(&[0x08, 0x01]));
        assert!(!looks_like_tensor(&[0x10, 0x63]));
        assert!(!looks_like_tensor(&tensor[..tensor.len() - 1]));
        assert!(!looks_like_tensor(b"\x80\x04\x95"));
        let mut fingerprint = Vec::new();
        for field in 1u8..=5 {
            fingerprint.extend([field << 3, 0x2a]);
        }
        fingerprint.extend([0x32, 0x02, 0x08, 0x01, 0x3a, 0x01, b'u']);
        assert!(!looks_like_tensor(&fingerprint));
    }
}

//! PyTorch checkpoints: the tensors the pickle engine found in `_rebuild_tensor_v2` calls
//! (`crate::model::tensors`), read from their storages — the `data/<key>` members of a zip
//! checkpoint or TorchScript archive, the raw storages after a legacy `torch.save` file's key
//! list. Nothing the file declares is trusted: offset, shape and stride are checked with
//! checked arithmetic against the storage's real length before a byte is read, and a tensor that
//! does not fit is skipped with the reason.

use std::collections::HashMap;

use candle_core::DType;

use crate::config::ProbeSettings;
use crate::containers::zip::MemberBytes;
use crate::model::robustness::Robustness;
use crate::model::tensors::{PickledTensor, PickledTensors};
use crate::scan::context::Ctx;

use super::{RawTensor, device, skipped, weights_then_behaviour};

/// Dimensions a tensor may declare.
const MAX_RANK: usize = 64;

/// The element type of a storage type, when the probe reads it: floats are weights; integer
/// and boolean storages (counters, indices, masks) are counted but not read.
pub fn storage_dtype(storage_type: &str) -> Result<DType, Option<&'static str>> {
    match storage_type {
        "FloatStorage" => Ok(DType::F32),
        "HalfStorage" => Ok(DType::F16),
        "BFloat16Storage" => Ok(DType::BF16),
        "DoubleStorage" => Ok(DType::F64),
        "LongStorage" | "IntStorage" | "ShortStorage" | "CharStorage" | "ByteStorage"
        | "BoolStorage" => Err(None),
        "ComplexFloatStorage" | "ComplexDoubleStorage" => Err(Some("complex values are not read")),
        "QInt32Storage" | "QInt8Storage" | "QUInt8Storage" | "QUInt4x2Storage"
        | "QUInt2x4Storage" => Err(Some("quantised storages are not read")),
        _ => Err(Some("the storage type is not one the probe reads")),
    }
}

/// Bytes per element of a float dtype.
fn item_size(dtype: DType) -> usize {
    dtype.size_in_bytes()
}

/// The bytes of tensor `t` in its storage `bytes`, or why the declaration does not fit.
pub fn locate<'s>(
    t: &PickledTensor,
    dtype: DType,
    bytes: &'s [u8],
) -> Result<(Vec<usize>, &'s [u8]), String> {
    let offset = t.offset.ok_or("its storage offset is not an integer")?;
    let offset =
        u64::try_from(offset).map_err(|_| format!("its storage offset {offset} is negative"))?;
    let shape = t
        .shape
        .as_ref()
        .ok_or("its size is not a tuple of integers")?;
    let stride = t
        .stride
        .as_ref()
        .ok_or("its stride is not a tuple of integers")?;
    if shape.len() > MAX_RANK {
        return Err(format!("it declares {} dimensions", shape.len()));
    }
    if shape.len() != stride.len() {
        return Err(format!(
            "its size {shape:?} and stride {stride:?} have different ranks"
        ));
    }
    let dims = shape
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| format!("its size {shape:?} has a negative dimension"))
        })
        .collect::<Result<Vec<usize>, String>>()?;
    let elements = dims
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .ok_or_else(|| format!("its size {shape:?} overflows"))?;
    // Row-major contiguity, as `Tensor.is_contiguous` judges it: dimensions of size 1 may have
    // any stride.
    let mut expected: u64 = 1;
    for (&d, &s) in dims.iter().zip(stride).rev() {
        if d != 1 && u64::try_from(s).ok() != Some(expected) {
            return Err(format!(
                "its stride {stride:?} is not contiguous for size {shape:?} (views and transposes are not read)"
            ));
        }
        expected = expected.saturating_mul(d as u64);
    }
    let item = item_size(dtype) as u64;
    let range = offset
        .checked_mul(item)
        .and_then(|start| Some((start, start.checked_add(elements.checked_mul(item)?)?)))
        .filter(|&(_, end)| end <= bytes.len() as u64)
        .ok_or_else(|| {
            format!(
                "it declares {elements} elements at offset {offset}, past the end of its {}-byte storage `{}`",
                bytes.len(),
                t.storage_key
            )
        })?;
    let (start, end) = (
        usize::try_from(range.0).map_err(|_| "its offset does not fit this machine")?,
        usize::try_from(range.1).map_err(|_| "its size does not fit this machine")?,
    );
    let data = bytes
        .get(start..end)
        .ok_or("its bytes are not in the storage")?;
    Ok((dims, data))
}

/// Weights and, for a plain MLP state dict, behaviour of the tensors `record` describes, with
/// `storage(key)` giving each storage's bytes.
fn probe_record<'s>(
    record: &PickledTensors,
    storages: &HashMap<String, Result<MemberBytes<'s>, String>>,
    settings: &ProbeSettings,
    ctx: &mut Ctx<'_>,
) -> Robustness {
    let device = match device::open(settings.device) {
        Ok(device) => device,
        Err(e) => return skipped(&e.to_string()),
    };
    let mut tensors = Vec::new();
    let mut not_probed = Vec::new();
    let mut ignored = 0u64;
    for t in &record.tensors {
        let dtype = match storage_dtype(&t.storage_type) {
            Ok(dtype) => dtype,
            Err(None) => {
                ignored += 1;
                continue;
            }
            Err(Some(why)) => {
                not_probed.push(format!("{}: {why} ({})", t.name, t.storage_type));
                continue;
            }
        };
        let bytes = match storages.get(&t.storage_key) {
            Some(Ok(bytes)) => bytes.as_ref(),
            Some(Err(why)) => {
                not_probed.push(format!("{}: storage `{}`: {why}", t.name, t.storage_key));
                continue;
            }
            None => {
                not_probed.push(format!(
                    "{}: its storage `{}` is not in the file",
                    t.name, t.storage_key
                ));
                continue;
            }
        };
        match locate(t, dtype, bytes) {
            Ok((shape, data)) => tensors.push(RawTensor {
                name: t.name.clone(),
                dtype,
                shape,
                data,
            }),
            Err(why) => not_probed.push(format!("{}: {why}", t.name)),
        }
    }
    if record.left_out > 0 {
        not_probed.push(format!(
            "{} tensors past the recording limit",
            record.left_out
        ));
    }
    weights_then_behaviour(tensors, not_probed, ignored, &device, settings, ctx)
}

/// A zip checkpoint (`<archive>/data.pkl`, storages at `<archive>/data/<key>`) or a
/// TorchScript archive (tensors in `<archive>/data.pkl`, storages beside it).
pub fn zip_checkpoint(data: &[u8], settings: &ProbeSettings, ctx: &mut Ctx<'_>) -> Robustness {
    // The archive's own top-level data.pkl (not one of a checkpoint nested inside it).
    let record = ctx
        .pickled_tensors()
        .iter()
        .find(|r| {
            r.member.as_deref().is_some_and(|m| {
                !m.contains('!')
                    && m.strip_suffix("data.pkl")
                        .and_then(|dir| dir.strip_suffix('/'))
                        .is_some_and(|dir| !dir.is_empty() && !dir.contains('/'))
            })
        })
        .cloned();
    let Some(record) = record else {
        return skipped("the checkpoint's data.pkl rebuilds no tensor from a storage");
    };
    let Some(base) = record
        .member
        .as_deref()
        .and_then(|m| m.strip_suffix("data.pkl"))
        .map(str::to_owned)
    else {
        return skipped("the checkpoint's data.pkl rebuilds no tensor from a storage");
    };
    let prefix = format!("{base}data/");
    let max_members = ctx.config().zone.max_members;
    let mut storages: HashMap<String, Result<MemberBytes<'_>, String>> = HashMap::new();
    // Inflated storages are held together; stored ones are slices of the mapped file.
    let mut held: u64 = 0;
    crate::containers::zip::members(
        data,
        max_members,
        settings.max_bytes,
        |name| name.starts_with(prefix.as_bytes()),
        |name, bytes| {
            let key = String::from_utf8_lossy(name.get(prefix.len()..).unwrap_or_default());
            let bytes = bytes.and_then(|b| {
                if let MemberBytes::Inflated(owned) = &b {
                    held = held.saturating_add(owned.len() as u64);
                    if held > settings.max_bytes {
                        return Err(format!(
                            "compressed storages inflate to more than the probe's limit of {} bytes",
                            settings.max_bytes
                        ));
                    }
                }
                Ok(b)
            });
            storages.insert(key.into_owned(), bytes);
        },
    );
    probe_record(&record, &storages, settings, ctx)
}

/// A pickle: a legacy `torch.save` file's tensors, read from the storages after its key list.
pub fn pickle(data: &[u8], settings: &ProbeSettings, ctx: &mut Ctx<'_>) -> Robustness {
    let record = ctx
        .pickled_tensors()
        .iter()
        .find(|r| r.member.is_none() && !r.storages.is_empty())
        .cloned();
    let Some(record) = record else {
        return skipped(
            "the pickle rebuilds no tensor from storages the probe can read (only legacy torch.save files hold them)",
        );
    };
    let storages: HashMap<String, Result<MemberBytes<'_>, String>> = record
        .storages
        .iter()
        .map(|(key, range)| {
            let bytes = data
                .get(range.clone())
                .map(MemberBytes::Stored)
                .ok_or_else(|| "its bytes are not in the file".to_owned());
            (key.clone(), bytes)
        })
        .collect();
    probe_record(&record, &storages, settings, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(offset: i64, shape: &[i64], stride: &[i64]) -> PickledTensor {
        PickledTensor {
            name: "w".into(),
            storage_key: "0".into(),
            storage_type: "FloatStorage".into(),
            offset: Some(offset),
            shape: Some(shape.to_vec()),
            stride: Some(stride.to_vec()),
        }
    }

    #[test]
    fn a_contiguous_tensor_is_its_slice_of_the_storage() {
        let bytes = vec![0u8; 4 * 10];
        let (shape, data) = locate(&tensor(2, &[2, 4], &[4, 1]), DType::F32, &bytes).unwrap();
        assert_eq!(shape, vec![2, 4]);
        assert_eq!(data.len(), 32);
        // Size-1 dimensions may have any stride; a scalar is one element.
        assert!(locate(&tensor(0, &[1, 3], &[99, 1]), DType::F32, &bytes).is_ok());
        let (shape, data) = locate(&tensor(9, &[], &[]), DType::F32, &bytes).unwrap();
        assert_eq!((shape.len(), data.len()), (0, 4));
    }

    #[test]
    fn declarations_that_do_not_fit_are_refused() {
        let bytes = vec![0u8; 4 * 10];
        let why = |t: PickledTensor| locate(&t, DType::F32, &bytes).unwrap_err();
        assert!(why(tensor(0, &[3, 4], &[4, 1])).contains("past the end"));
        assert!(why(tensor(8, &[3], &[1])).contains("past the end"));
        assert!(why(tensor(-1, &[3], &[1])).contains("negative"));
        assert!(why(tensor(0, &[2, -3], &[1, 1])).contains("negative"));
        assert!(why(tensor(0, &[2, 2], &[1, 2])).contains("not contiguous"));
        assert!(why(tensor(0, &[2], &[1, 1])).contains("ranks"));
        assert!(why(tensor(i64::MAX, &[2], &[1])).contains("past the end"));
        assert!(why(tensor(0, &[i64::MAX, i64::MAX, 4], &[1, 1, 1])).contains("overflow"));
        let mut t = tensor(0, &[2], &[1]);
        t.shape = None;
        assert!(why(t).contains("size"));
    }

    /// Protocol-2 opcodes, written by hand (nothing is unpickled).
    struct P(Vec<u8>);

    impl P {
        fn op(mut self, bytes: &[u8]) -> P {
            self.0.extend_from_slice(bytes);
            self
        }
        fn s(self, text: &str) -> P {
            let len = u32::try_from(text.len()).unwrap().to_le_bytes();
            self.op(b"X").op(&len).op(text.as_bytes())
        }
        fn global(self, module: &str, name: &str) -> P {
            self.op(format!("c{module}\n{name}\n").as_bytes())
        }
        fn int(self, n: u8) -> P {
            self.op(&[b'K', n])
        }
        /// `_rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', 4), 0, (2, 2), (2, 1),
        /// False, {})`.
        fn tensor(self, key: &str) -> P {
            self.global("torch._utils", "_rebuild_tensor_v2")
                .op(b"((")
                .s("storage")
                .global("torch", "FloatStorage")
                .s(key)
                .s("cpu")
                .int(4)
                .op(b"tQ")
                .int(0)
                .int(2)
                .int(2)
                .op(&[0x86])
                .int(2)
                .int(1)
                .op(&[0x86, 0x89])
                .op(b"}tR")
        }
    }

    /// The names the probe reports for the tensors of `data_pkl` in a zip checkpoint whose
    /// storages are missing (each is then named in `not_probed`).
    fn names(data_pkl: &[u8]) -> Vec<String> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("archive/data.pkl", stored).unwrap();
        w.write_all(data_pkl).unwrap();
        w.start_file("archive/version", stored).unwrap();
        w.write_all(b"3\n").unwrap();
        let zip = w.finish().unwrap().into_inner();
        let config = crate::config::Config::default();
        let report = crate::scan::scan_bytes(&zip, std::path::Path::new("m.pt"), "m.pt", &config);
        let weights = report.robustness.and_then(|r| r.weights).unwrap();
        weights
            .not_probed
            .iter()
            .map(|n| n.split(':').next().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn tensors_are_named_by_their_keys_through_dicts_objects_and_module_states() {
        let proto = P(vec![0x80, 2]);
        // {'model': OrderedDict([('fc.weight', tensor), ('fc.bias', Parameter(tensor))])}
        let nested = proto
            .op(b"}(")
            .s("model")
            .global("collections", "OrderedDict")
            .op(b")R(")
            .s("fc.weight")
            .tensor("0")
            .s("fc.bias")
            .global("torch._utils", "_rebuild_parameter")
            .op(b"(")
            .tensor("1")
            .op(&[0x88])
            .op(b"}tR")
            .op(b"uu.");
        assert_eq!(names(&nested.0), vec!["model.fc.bias", "model.fc.weight"]);
        // A TorchScript-style module: attributes in BUILD states.
        let module = P(vec![0x80, 2])
            .global("__torch__", "Net")
            .op(&[b')', 0x81])
            .op(b"}(")
            .s("fc")
            .global("__torch__", "Linear")
            .op(&[b')', 0x81])
            .op(b"}(")
            .s("weight")
            .tensor("0")
            .op(b"ub")
            .op(b"ub.");
        assert_eq!(names(&module.0), vec!["fc.weight"]);
        // A tensor reached through no dict is numbered.
        let bare = P(vec![0x80, 2]).tensor("0").op(b".");
        assert_eq!(names(&bare.0), vec!["tensor 0"]);
    }
}

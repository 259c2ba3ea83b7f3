//! GGUF tensors: located by our own parser (`formats::gguf::placed_tensors`, every size checked
//! against the file), F32/F16/BF16/F64 read directly from the mapped file, quantised types
//! (Q4_0 … Q8_1, the K-quants) dequantised block by block with candle's kernels
//! (`candle_core::quantized`). A large quantised tensor is dequantised from an evenly spread
//! sample of its blocks, bounded by [`MAX_SAMPLE_ELEMENTS`] and the probe's `max_bytes`; the
//! result counts such tensors in `sampled_tensors`. Types candle has no kernel for (the IQ and
//! ternary types, MXFP4) and big-endian files are skipped with the reason.

use std::borrow::Cow;

use candle_core::DType;
use candle_core::quantized::GgmlDType;

use crate::config::ProbeSettings;
use crate::formats::gguf::{self, types};
use crate::scan::context::Ctx;

use super::{Deadline, Holds, RawTensor, WeightPass, device, skipped};
use crate::model::robustness::Robustness;

/// Values dequantised from one tensor (16 MiB of f32, the weight probe's chunk): a larger
/// tensor is read from an evenly spread sample of its blocks, so that the probe's budget covers
/// many tensors of a large model rather than the first few in full.
pub const MAX_SAMPLE_ELEMENTS: usize = 1 << 22;

/// How the probe reads a ggml type.
enum Reading {
    Direct(DType),
    Quantised(GgmlDType),
    /// Integer tensors hold no weights: counted, not read.
    Integer,
    Unsupported,
}

fn reading(ggml_type: u32) -> Reading {
    match ggml_type {
        0 => Reading::Direct(DType::F32),
        1 => Reading::Direct(DType::F16),
        30 => Reading::Direct(DType::BF16),
        28 => Reading::Direct(DType::F64),
        24..=27 => Reading::Integer,
        2 => Reading::Quantised(GgmlDType::Q4_0),
        3 => Reading::Quantised(GgmlDType::Q4_1),
        6 => Reading::Quantised(GgmlDType::Q5_0),
        7 => Reading::Quantised(GgmlDType::Q5_1),
        8 => Reading::Quantised(GgmlDType::Q8_0),
        9 => Reading::Quantised(GgmlDType::Q8_1),
        10 => Reading::Quantised(GgmlDType::Q2K),
        11 => Reading::Quantised(GgmlDType::Q3K),
        12 => Reading::Quantised(GgmlDType::Q4K),
        13 => Reading::Quantised(GgmlDType::Q5K),
        14 => Reading::Quantised(GgmlDType::Q6K),
        15 => Reading::Quantised(GgmlDType::Q8K),
        _ => Reading::Unsupported,
    }
}

/// Weight statistics of every tensor of a GGUF file.
pub fn gguf(data: &[u8], settings: &ProbeSettings, ctx: &mut Ctx<'_>) -> Robustness {
    let device = match device::open(settings.device) {
        Ok(device) => device,
        Err(e) => return skipped(&e.to_string()),
    };
    let (big_endian, tensors) = match gguf::placed_tensors(data) {
        Ok(placed) => placed,
        Err(why) => return skipped(&why),
    };
    let deadline = Deadline::after(settings.budget);
    let mut pass = WeightPass::new(Vec::new(), tensors.len() as u64, Holds::Weights);
    // Values one sampled tensor may dequantise: the probe's memory bound holds the blocks,
    // the f32 values and their bytes at once.
    let cap =
        MAX_SAMPLE_ELEMENTS.min(usize::try_from(settings.max_bytes / 16).unwrap_or(usize::MAX));
    for t in &tensors {
        let type_name = types::ggml_type(t.ggml_type).map_or("unknown", |(n, _, _)| n);
        let range = match &t.bytes {
            Ok(range) => range.clone(),
            Err(why) => {
                pass.not_probed(format!("{}: {why}", t.name));
                continue;
            }
        };
        let Some(bytes) = data.get(range) else {
            pass.not_probed(format!("{}: its bytes are not in the file", t.name));
            continue;
        };
        if deadline.check().is_err() {
            pass.not_probed(format!("{}: the time budget ran out", t.name));
            continue;
        }
        let read = reading(t.ggml_type);
        if big_endian && !matches!(read, Reading::Integer) {
            pass.not_probed(format!("{}: big-endian tensor data is not read", t.name));
            continue;
        }
        let shape: Option<Vec<usize>> = t
            .dims
            .iter()
            .rev()
            .map(|&d| usize::try_from(d).ok())
            .collect();
        let Some(shape) = shape else {
            pass.not_probed(format!("{}: its shape does not fit this machine", t.name));
            continue;
        };
        match read {
            Reading::Integer => {}
            Reading::Unsupported => pass.not_probed(format!(
                "{}: {type_name} is not dequantised (candle has no kernel for it)",
                t.name
            )),
            Reading::Direct(dtype) => {
                let tensor = RawTensor {
                    name: t.name.clone(),
                    dtype,
                    shape,
                    data: bytes,
                };
                pass.tensor(&tensor, &device, &deadline, ctx);
            }
            Reading::Quantised(dtype) => match dequantise(bytes, t.ggml_type, dtype, shape, cap) {
                Ok((values, shape, sampled)) => {
                    let tensor = RawTensor {
                        name: t.name.clone(),
                        dtype: DType::F32,
                        shape,
                        data: &values,
                    };
                    if pass.tensor(&tensor, &device, &deadline, ctx) && sampled {
                        pass.sampled();
                    }
                }
                Err(why) => pass.not_probed(format!("{}: {why}", t.name)),
            },
        }
    }
    let mut result = pass.finish(None);
    result.device = device::name(&device).to_owned();
    result
}

/// The values of a quantised tensor (`bytes`, whole blocks) as little-endian f32 bytes, with the
/// shape they have and whether they are a sample: every block when the tensor has at most `cap`
/// values, else `cap / block` blocks spread evenly (a 1-D sample).
fn dequantise(
    bytes: &[u8],
    ggml_type: u32,
    dtype: GgmlDType,
    shape: Vec<usize>,
    cap: usize,
) -> Result<(Vec<u8>, Vec<usize>, bool), String> {
    let (name, block, block_bytes) = types::ggml_type(ggml_type).ok_or("unknown ggml type")?;
    let (block, block_bytes) = (
        usize::try_from(block).map_err(|_| "block size does not fit")?,
        usize::try_from(block_bytes).map_err(|_| "block size does not fit")?,
    );
    if dtype.block_size() != block || dtype.type_size() != block_bytes {
        return Err(format!(
            "{name}: candle's block ({} values in {} bytes) differs from GGUF's ({block} in {block_bytes})",
            dtype.block_size(),
            dtype.type_size()
        ));
    }
    if block == 0 || block_bytes == 0 || !bytes.len().is_multiple_of(block_bytes) {
        return Err(format!("{name}: the data is not a whole number of blocks"));
    }
    let blocks = bytes.len() / block_bytes;
    let keep = (cap / block).max(1).min(blocks);
    let sampled = keep < blocks;
    // Blocks are copied to a buffer aligned for candle's block types (at most 4-byte aligned).
    let len = keep
        .checked_mul(block_bytes)
        .ok_or("the sample overflows")?;
    let mut buffer = vec![0u8; len + 8];
    let shift = (8 - buffer.as_ptr() as usize % 8) % 8;
    let aligned = buffer
        .get_mut(shift..shift + len)
        .ok_or("the sample buffer is too small")?;
    for (i, slot) in aligned.chunks_exact_mut(block_bytes).enumerate() {
        // Evenly spread: block i of the sample is block i * blocks / keep of the tensor.
        let b = (i as u128 * blocks as u128 / keep as u128) as usize;
        let from = b * block_bytes;
        let src = bytes
            .get(from..from + block_bytes)
            .ok_or("a block is past the tensor's end")?;
        slot.copy_from_slice(src);
    }
    let values = keep * block;
    let quantised = dtype.from_data(Cow::Borrowed(&*aligned));
    let floats = match quantised.dequantize(values) {
        Ok(candle_core::CpuStorage::F32(v)) => v,
        Ok(_) => return Err(format!("{name}: candle did not dequantise to f32")),
        Err(e) => return Err(format!("{name}: {e}")),
    };
    let out: Vec<u8> = floats.iter().flat_map(|v| v.to_le_bytes()).collect();
    let shape = if sampled { vec![values] } else { shape };
    Ok((out, shape, sampled))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q8_0 blocks: an f16 scale and 32 signed bytes.
    fn q8_0(scale_f16_bits: u16, values: &[i8; 32]) -> Vec<u8> {
        let mut block = scale_f16_bits.to_le_bytes().to_vec();
        block.extend(values.iter().map(|&v| v as u8));
        block
    }

    fn f32s(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    #[test]
    fn q8_0_dequantises_to_scale_times_value() {
        let mut values = [0i8; 32];
        for (i, v) in values.iter_mut().enumerate() {
            *v = i as i8 - 16;
        }
        let mut bytes = q8_0(0x3800, &values);
        bytes.extend(q8_0(0x4000, &values));
        let (out, shape, sampled) =
            dequantise(&bytes, 8, GgmlDType::Q8_0, vec![2, 32], 1 << 20).unwrap();
        assert!(!sampled);
        assert_eq!(shape, vec![2, 32]);
        let out = f32s(&out);
        assert_eq!(out[0], -8.0);
        assert_eq!(out[32 + 31], 30.0);
    }

    #[test]
    fn large_tensors_are_sampled_and_partial_blocks_refused() {
        let values = [1i8; 32];
        let bytes: Vec<u8> = (0..100).flat_map(|_| q8_0(0x3c00, &values)).collect();
        let (out, shape, sampled) =
            dequantise(&bytes, 8, GgmlDType::Q8_0, vec![100, 32], 64).unwrap();
        assert!(sampled);
        assert_eq!(shape, vec![64]);
        assert_eq!(f32s(&out), vec![1.0; 64]);
        assert!(dequantise(&bytes[..40], 8, GgmlDType::Q8_0, vec![40], 1 << 20).is_err());
    }
}

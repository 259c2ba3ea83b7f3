//! whisper.cpp models (`ggml-*.bin`): the unversioned `ggml` magic that pre-GGUF llama.cpp files
//! also use, but a format whisper.cpp still loads today. The file is walked the way
//! `whisper_model_load` reads it: eleven `int32` hyperparameters, the mel filter bank, the
//! vocabulary (length-prefixed tokens), then tensors to the end of the file (dimension count,
//! name length, ggml type, dimensions innermost first, name, data). Every count and length is
//! checked against the bytes left before it is used, and the tensors must end exactly at the
//! end of the file.

use crate::bytes::ReadRef;

use super::types;

/// Offset of the first hyperparameter after the magic.
const HPARAMS: usize = 4;
/// `n_vocab` of the English-only (51864), multilingual (51865) and large-v3 (51866) models.
const N_VOCAB: std::ops::RangeInclusive<u32> = 51_864..=51_866;
/// `n_audio_ctx` (1500 frames of 20 ms) and `n_text_ctx` (448 tokens) of every Whisper model.
const N_AUDIO_CTX: u32 = 1500;
const N_TEXT_CTX: u32 = 448;
/// Bounds that no Whisper model comes near; past them the file is refused as malformed.
const MAX_TOKENS: u32 = 1 << 20;
const MAX_TOKEN_LEN: u32 = 1 << 16;
const MAX_NAME_LEN: u32 = 1 << 12;
const MAX_TENSORS: usize = 1 << 16;

/// Whether the hyperparameters after the `ggml` magic are a Whisper model's.
pub fn is_whisper(data: &[u8]) -> bool {
    let word = |i: usize| data.u32_le(HPARAMS + 4 * i).ok();
    data.get(..4) == Some(b"lmgg")
        && word(0).is_some_and(|n| N_VOCAB.contains(&n))
        && word(1) == Some(N_AUDIO_CTX)
        && word(5) == Some(N_TEXT_CTX)
        && word(9).is_some_and(|mels| mels == 80 || mels == 128)
}

/// What the walk found: the tensor count, or where and why the file stops making sense.
pub fn walk(data: &[u8]) -> Result<usize, (usize, String)> {
    let mut at = HPARAMS + 11 * 4;
    let n_mel = read_u32(data, at)?;
    let n_fft = read_u32(data, at + 4)?;
    at += 8;
    let filters = u64::from(n_mel) * u64::from(n_fft) * 4;
    at = advance(data, at, filters, "the mel filter bank")?;
    let tokens = read_u32(data, at)?;
    if tokens > MAX_TOKENS {
        return Err((at, format!("declares {tokens} vocabulary tokens")));
    }
    at += 4;
    for _ in 0..tokens {
        let len = read_u32(data, at)?;
        if len > MAX_TOKEN_LEN {
            return Err((at, format!("a vocabulary token of {len} bytes")));
        }
        at = advance(data, at + 4, u64::from(len), "a vocabulary token")?;
    }
    let mut count = 0;
    while at < data.len() {
        if count == MAX_TENSORS {
            return Err((at, format!("more than {MAX_TENSORS} tensors")));
        }
        at = tensor(data, at)?;
        count += 1;
    }
    Ok(count)
}

/// Reads one tensor record at `at`; where the next one starts.
fn tensor(data: &[u8], at: usize) -> Result<usize, (usize, String)> {
    let n_dims = read_u32(data, at)?;
    let name_len = read_u32(data, at + 4)?;
    let ttype = read_u32(data, at + 8)?;
    if !(1..=4).contains(&n_dims) {
        return Err((at, format!("a tensor with {n_dims} dimensions")));
    }
    if name_len > MAX_NAME_LEN {
        return Err((at, format!("a tensor name of {name_len} bytes")));
    }
    let Some((type_name, block, block_bytes)) = types::ggml_type(ttype) else {
        return Err((at, format!("a tensor of unknown ggml type {ttype}")));
    };
    let mut dims = Vec::with_capacity(4);
    let mut next = at + 12;
    for _ in 0..n_dims {
        dims.push(u64::from(read_u32(data, next)?));
        next += 4;
    }
    let next = advance(data, next, u64::from(name_len), "a tensor name")?;
    let (_, bytes) = types::tensor_bytes(&dims, block, block_bytes)
        .map_err(|why| (at, format!("a {type_name} tensor: {why}")))?;
    advance(data, next, bytes, "a tensor's data")
}

fn read_u32(data: &[u8], at: usize) -> Result<u32, (usize, String)> {
    data.u32_le(at)
        .map_err(|_| (at, "the file ends inside a record".to_owned()))
}

/// `at + len`, if the file holds that many bytes from `at`.
fn advance(data: &[u8], at: usize, len: u64, what: &str) -> Result<usize, (usize, String)> {
    usize::try_from(len)
        .ok()
        .and_then(|len| at.checked_add(len))
        .filter(|&end| end <= data.len())
        .ok_or_else(|| {
            (
                at,
                format!("{what} ({len} bytes) runs past the end of the file"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small model laid out as whisper.cpp's `convert-pt-to-ggml.py` writes it.
    pub(crate) fn model() -> Vec<u8> {
        let mut out = b"lmgg".to_vec();
        for v in [51865u32, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&2u32.to_le_bytes()); // n_mel
        out.extend_from_slice(&3u32.to_le_bytes()); // n_fft
        out.extend_from_slice(&[0u8; 24]);
        out.extend_from_slice(&2u32.to_le_bytes());
        for token in [&b"hello"[..], b" world"] {
            out.extend_from_slice(&u32::try_from(token.len()).unwrap().to_le_bytes());
            out.extend_from_slice(token);
        }
        let name = b"encoder.conv1.bias";
        for v in [1, u32::try_from(name.len()).unwrap(), 0, 4] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(name);
        out.extend_from_slice(&[0u8; 16]);
        out
    }

    #[test]
    fn a_whisper_model_walks_to_its_end() {
        let data = model();
        assert!(is_whisper(&data));
        assert_eq!(walk(&data), Ok(1));
    }

    #[test]
    fn cut_or_padded_files_are_refused() {
        let data = model();
        assert!(walk(&data[..data.len() - 1]).is_err());
        let mut padded = data.clone();
        padded.extend_from_slice(b"import os");
        assert!(walk(&padded).is_err());
        let mut llama = data;
        llama[8..12].copy_from_slice(&512u32.to_le_bytes());
        assert!(!is_whisper(&llama));
    }
}

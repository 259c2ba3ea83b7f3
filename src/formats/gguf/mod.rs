//! GGUF (llama.cpp, Ollama, LM Studio): our own strict reader ([`parse`]) of the header,
//! metadata and tensor infos, then the tensor layout as llama.cpp computes it (alignment from
//! `general.alignment`, tensors packed in order, each padded). Chat templates in the metadata
//! (`tokenizer.chat_template`, `tokenizer.chat_template.<name>`, and any other string value
//! that is Jinja) go to the template analyser; every other string to the signature rules.
//! Bytes after the last tensor are analysed as content of their own. The pre-GGUF magics
//! (`ggml`, `ggmf`, `ggjt`) are recognised by [`is_legacy`].
#![deny(clippy::indexing_slicing, clippy::cast_possible_truncation)] // a binary parser: hostile offsets and sizes

pub mod parse;
pub mod types;
mod whisper;

use std::collections::HashSet;

use crate::formats::template::{self, Strictness};
use crate::model::rules::RuleId;
use crate::model::summary::{GgufSummary, ModelSummary};
use crate::scan::context::{Ctx, MemberKind, Origin};

use parse::{Value, ValueType};

/// llama.cpp's `GGUF_DEFAULT_ALIGNMENT`.
const DEFAULT_ALIGNMENT: u64 = 32;
/// String array values are handed to the signature rules in pieces of at most this many bytes.
const EXTRACT_PIECE: usize = 16 << 20;

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let (gguf, malformed) = parse::parse(data);
    if let Some(m) = &malformed {
        ctx.report(
            RuleId::GgufMalformed,
            Some(m.offset),
            format!("the GGUF file cannot be read further: {}", m.reason),
            None,
        );
    }
    let Some(gguf) = gguf else {
        return;
    };
    let mut summary = GgufSummary {
        version: gguf.version,
        big_endian: gguf.endian == parse::Endian::Big,
        metadata_entries: gguf.kvs.len() as u64,
        ..GgufSummary::default()
    };
    let mut seen = HashSet::new();
    for kv in &gguf.kvs {
        if !seen.insert(kv.key.as_str()) {
            ctx.report(
                RuleId::GgufMalformed,
                Some(kv.offset),
                format!(
                    "metadata key `{}` occurs twice; llama.cpp refuses the file and other readers keep either value",
                    kv.key
                ),
                None,
            );
        }
        metadata(kv, ctx, &mut summary);
    }
    let alignment = alignment(&gguf, ctx);
    let arch = summary.architecture.clone().unwrap_or_default();
    for kv in &gguf.kvs {
        let Some(v) = kv.value.as_u64() else { continue };
        match kv.key.strip_prefix(arch.as_str()) {
            Some(".context_length") if !arch.is_empty() => summary.context_length = Some(v),
            Some(".block_count") if !arch.is_empty() => summary.block_count = Some(v),
            Some(".embedding_length") if !arch.is_empty() => summary.embedding_length = Some(v),
            _ => {}
        }
    }
    if let (Some(infos_end), Some(alignment)) = (gguf.infos_end, alignment) {
        layout(data, &gguf.tensors, infos_end, alignment, ctx, &mut summary);
    }
    ctx.summarise(ModelSummary::Gguf(summary));
}

fn is_template_key(key: &str) -> bool {
    key == "tokenizer.chat_template" || key.starts_with("tokenizer.chat_template.")
}

/// One metadata entry: the summary's fields, templates to the template analyser, strings to the
/// signature rules.
fn metadata(kv: &parse::KeyValue<'_>, ctx: &mut Ctx<'_>, summary: &mut GgufSummary) {
    let context = format!("metadata `{}`", kv.key);
    match (&kv.value, kv.key.as_str()) {
        (Value::Str(_), "general.architecture") => {
            summary.architecture = kv.value.as_str().map(str::to_owned);
        }
        (Value::Str(_), "general.name") => summary.name = kv.value.as_str().map(str::to_owned),
        (Value::Str(_), "tokenizer.ggml.model") => {
            summary.tokenizer = kv.value.as_str().map(str::to_owned);
        }
        (Value::UInt(v), "general.file_type") => {
            summary.file_type =
                Some(types::file_type_name(*v).map_or_else(|| v.to_string(), str::to_owned));
        }
        (Value::Array { len, .. }, "tokenizer.ggml.tokens") => summary.vocabulary = Some(*len),
        _ => {}
    }
    match &kv.value {
        Value::Str(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            if is_template_key(&kv.key) {
                let name = kv
                    .key
                    .strip_prefix("tokenizer.chat_template.")
                    .unwrap_or("default");
                summary.chat_templates.push(name.to_owned());
                template::analyse_template(
                    &text,
                    &context,
                    Some(kv.value_offset),
                    Strictness::Template,
                    ctx,
                );
                ctx.extract(Origin::ChatTemplate, &context, Some(kv.value_offset), bytes);
            } else {
                if template::looks_like_jinja(&text) {
                    template::analyse_template(
                        &text,
                        &context,
                        Some(kv.value_offset),
                        Strictness::MaybeTemplate,
                        ctx,
                    );
                }
                ctx.extract(Origin::GgufMetadata, &context, Some(kv.value_offset), bytes);
            }
        }
        Value::Array { items, .. } if !items.is_empty() && ctx.wants_extracts() => {
            extract_strings(items, &context, kv.value_offset, ctx);
        }
        _ => {}
    }
}

/// The strings of an array value (nested arrays flattened), one a line, in pieces.
fn extract_strings(items: &[Value<'_>], context: &str, offset: u64, ctx: &mut Ctx<'_>) {
    let mut piece = Vec::new();
    let mut stack: Vec<std::slice::Iter<'_, Value<'_>>> = vec![items.iter()];
    while let Some(top) = stack.last_mut() {
        let Some(item) = top.next() else {
            stack.pop();
            continue;
        };
        match item {
            Value::Str(s) => {
                piece.extend_from_slice(s);
                piece.push(b'\n');
                if piece.len() >= EXTRACT_PIECE {
                    ctx.extract(Origin::GgufMetadata, context, Some(offset), &piece);
                    piece.clear();
                }
            }
            Value::Array { items, .. } => stack.push(items.iter()),
            _ => {}
        }
    }
    ctx.extract(Origin::GgufMetadata, context, Some(offset), &piece);
}

/// `general.alignment` as llama.cpp reads it: a uint32 power of two, 32 when absent.
fn alignment(gguf: &parse::Gguf<'_>, ctx: &mut Ctx<'_>) -> Option<u64> {
    let Some(kv) = gguf.kvs.iter().find(|kv| kv.key == "general.alignment") else {
        return Some(DEFAULT_ALIGNMENT);
    };
    match (&kv.value, kv.ty) {
        (Value::UInt(a), ValueType::U32) if a.is_power_of_two() => Some(*a),
        _ => {
            ctx.report(
                RuleId::GgufMalformed,
                Some(kv.value_offset),
                format!(
                    "`general.alignment` is {:?} ({}); llama.cpp needs a uint32 power of two and refuses the file",
                    kv.value,
                    kv.ty.name()
                ),
                None,
            );
            None
        }
    }
}

fn align_up(n: u64, alignment: u64) -> Option<u64> {
    n.checked_add(alignment - 1)
        .map(|n| n / alignment * alignment)
}

/// Checks every tensor's type, size and range, the packing llama.cpp expects, and what
/// follows the last tensor.
fn layout(
    data: &[u8],
    tensors: &[parse::TensorInfo],
    infos_end: u64,
    alignment: u64,
    ctx: &mut Ctx<'_>,
    summary: &mut GgufSummary,
) {
    let Some(data_start) = align_up(infos_end, alignment) else {
        return;
    };
    let mut layout = Layout {
        file_len: data.len() as u64,
        data_start,
        alignment,
        names: HashSet::new(),
        ranges: Vec::new(),
        expected: Some(0),
        packed: true,
    };
    for (i, t) in tensors.iter().enumerate() {
        layout.tensor(i, t, ctx, summary);
    }
    let mut ranges = layout.ranges;
    ranges.sort_unstable();
    report_overlaps(&ranges, tensors, ctx);
    trailing_data(data, tensors, &ranges, data_start, alignment, ctx);
}

/// The tensor data as the tensor infos lay it out, checked one tensor at a time.
struct Layout<'t> {
    file_len: u64,
    data_start: u64,
    alignment: u64,
    names: HashSet<&'t str>,
    /// (start, end, index) of every tensor whose range could be computed.
    ranges: Vec<(u64, u64, usize)>,
    /// Where llama.cpp expects the next tensor, packed in order.
    expected: Option<u64>,
    /// Every tensor so far sits where llama.cpp expects it (one finding for the first that
    /// does not).
    packed: bool,
}

impl<'t> Layout<'t> {
    /// Checks tensor `i`'s name, type, size, alignment, range and packing, and counts it.
    fn tensor(
        &mut self,
        i: usize,
        t: &'t parse::TensorInfo,
        ctx: &mut Ctx<'_>,
        summary: &mut GgufSummary,
    ) {
        let at = Some(t.info_offset);
        let bad = |ctx: &mut Ctx<'_>, message: String| {
            ctx.report(RuleId::GgufBadLayout, at, message, None);
        };
        if !self.names.insert(t.name.as_str()) {
            bad(
                ctx,
                format!(
                    "tensor name `{}` is used twice; llama.cpp refuses the file",
                    t.name
                ),
            );
        }
        let Some((type_name, block, block_bytes)) = types::ggml_type(t.ggml_type) else {
            bad(
                ctx,
                format!(
                    "tensor `{}` has unknown ggml type {}; loaders refuse it or read it with the wrong size",
                    t.name, t.ggml_type
                ),
            );
            self.packed = false;
            return;
        };
        let (elements, bytes) = match types::tensor_bytes(&t.dims, block, block_bytes) {
            Ok(size) => size,
            Err(why) => {
                bad(
                    ctx,
                    format!("tensor `{}` ({type_name}) cannot exist: {why}", t.name),
                );
                self.packed = false;
                return;
            }
        };
        summary.tensors += 1;
        summary.parameters = summary.parameters.saturating_add(elements);
        let total = summary.types.entry(type_name.to_owned()).or_default();
        total.tensors += 1;
        total.parameters = total.parameters.saturating_add(elements);
        total.bytes = total.bytes.saturating_add(bytes);
        let (alignment, file_len) = (self.alignment, self.file_len);
        if !t.offset.is_multiple_of(alignment) {
            bad(
                ctx,
                format!(
                    "tensor `{}` starts at data offset {}, not a multiple of the alignment {alignment}",
                    t.name, t.offset
                ),
            );
        }
        let range = self
            .data_start
            .checked_add(t.offset)
            .and_then(|start| Some((start, start.checked_add(bytes)?)));
        match range {
            Some((start, end)) if end <= file_len => self.ranges.push((start, end, i)),
            _ => {
                bad(
                    ctx,
                    format!(
                        "tensor `{}` ({type_name}, {bytes} bytes at data offset {}) runs past the end of the {file_len}-byte file",
                        t.name, t.offset
                    ),
                );
                self.packed = false;
            }
        }
        if self.packed && self.expected != Some(t.offset) {
            self.packed = false;
            bad(
                ctx,
                format!(
                    "tensor `{}` is at data offset {}, but llama.cpp expects the tensors packed in order and this one at {}",
                    t.name,
                    t.offset,
                    self.expected
                        .map_or_else(|| "an overflowing offset".to_owned(), |e| e.to_string())
                ),
            );
        }
        self.expected = self
            .expected
            .and_then(|e| e.checked_add(bytes))
            .and_then(|e| align_up(e, alignment));
    }
}

/// Reports each tensor whose bytes overlap the one before it (`ranges` sorted by start).
fn report_overlaps(ranges: &[(u64, u64, usize)], tensors: &[parse::TensorInfo], ctx: &mut Ctx<'_>) {
    for pair in ranges.windows(2) {
        let &[(_, end_a, a), (start_b, _, b)] = pair else {
            continue;
        };
        if start_b < end_a
            && let (Some(a), Some(b)) = (tensors.get(a), tensors.get(b))
        {
            ctx.report(
                RuleId::GgufBadLayout,
                Some(b.info_offset),
                format!("tensor `{}` overlaps tensor `{}`", b.name, a.name),
                None,
            );
        }
    }
}

/// What follows the data (llama.cpp's data size is every tensor padded to the alignment) is
/// reported and analysed as content of its own, when every tensor's range is known.
fn trailing_data(
    data: &[u8],
    tensors: &[parse::TensorInfo],
    ranges: &[(u64, u64, usize)],
    data_start: u64,
    alignment: u64,
    ctx: &mut Ctx<'_>,
) {
    let file_len = data.len() as u64;
    let data_end = ranges
        .iter()
        .map(|&(_, end, _)| end)
        .max()
        .unwrap_or(data_start)
        .max(data_start);
    let padded_end = align_up(data_end, alignment).unwrap_or(data_end);
    let trailing_from = if padded_end <= file_len && data_end <= file_len {
        padded_end
    } else {
        data_end
    };
    let all_ranged = ranges.len() == tensors.len();
    if let Some(trailing) = data.get(usize::try_from(trailing_from).unwrap_or(usize::MAX)..)
        && all_ranged
        && !trailing.is_empty()
        && !(tensors.is_empty() && trailing.iter().all(|&b| b == 0))
    {
        ctx.report(
            RuleId::GgufTrailingData,
            Some(trailing_from),
            format!(
                "{} bytes follow the last tensor; they were analysed as content of their own",
                trailing.len()
            ),
            None,
        );
        ctx.nested(
            &format!("trailing data@{trailing_from}"),
            trailing,
            MemberKind::File,
        );
    }
}

/// The pre-GGUF llama.cpp magics as they appear on disk (little-endian u32s): `ggml`
/// (unversioned), `ggmf` and `ggjt` (versioned), with a plausible field after them.
pub fn is_legacy(data: &[u8]) -> bool {
    let word = |at: usize| -> Option<u32> {
        data.get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
    };
    match data.get(..4) {
        Some(b"lmgg") => word(4).is_some_and(|n_vocab| (1..=10_000_000).contains(&n_vocab)),
        Some(b"fmgg") => word(4) == Some(1),
        Some(b"tjgg") => word(4).is_some_and(|v| (1..=3).contains(&v)),
        _ => false,
    }
}

/// Reports a pre-GGUF file; walks a whisper.cpp model, which keeps the `ggml` magic.
pub fn analyse_legacy(data: &[u8], ctx: &mut Ctx<'_>) {
    if whisper::is_whisper(data) {
        if let Err((at, why)) = whisper::walk(data) {
            ctx.report(
                RuleId::GgufMalformed,
                Some(at as u64),
                format!(
                    "a whisper.cpp model whose layout breaks off: {why}; whisper.cpp refuses or misreads it, and the bytes from there on were analysed as content of their own"
                ),
                None,
            );
            if let Some(rest) = data.get(at..).filter(|rest| !rest.is_empty()) {
                ctx.nested(&format!("data@{at}"), rest, MemberKind::File);
            }
        }
        return;
    }
    let magic = match data.get(..4) {
        Some(b"lmgg") => "ggml (unversioned)",
        Some(b"fmgg") => "ggmf",
        _ => "ggjt",
    };
    ctx.report(
        RuleId::GgufLegacyFormat,
        Some(0),
        format!("a pre-GGUF llama.cpp file ({magic} magic); its content was not analysed"),
        None,
    );
}

#[cfg(test)]
mod tests;

/// One tensor of a GGUF file as llama.cpp would place it, for the robustness probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedTensor {
    pub name: String,
    pub ggml_type: u32,
    /// Dimensions, innermost first (as GGUF stores them).
    pub dims: Vec<u64>,
    /// The byte range of its data in the file, or why it has none (unknown type, impossible
    /// size, past the end of the file).
    pub bytes: Result<std::ops::Range<usize>, String>,
}

/// The tensors of a GGUF file located by our own parser, every size checked against the file:
/// whether the file is big-endian, and each tensor with its byte range or why it has none.
/// `Err` when the header or tensor infos do not parse as far as the data section.
pub fn placed_tensors(data: &[u8]) -> Result<(bool, Vec<PlacedTensor>), String> {
    let (gguf, malformed) = parse::parse(data);
    let gguf = gguf.ok_or_else(|| {
        malformed.map_or_else(|| "the GGUF header does not parse".to_owned(), |m| m.reason)
    })?;
    let infos_end = gguf
        .infos_end
        .ok_or("the tensor infos do not parse to their end")?;
    let alignment = match gguf.kvs.iter().find(|kv| kv.key == "general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(kv) => match (&kv.value, kv.ty) {
            (Value::UInt(a), ValueType::U32) if a.is_power_of_two() => *a,
            _ => return Err("`general.alignment` is not a uint32 power of two".to_owned()),
        },
    };
    let data_start = align_up(infos_end, alignment).ok_or("the data section overflows")?;
    let file_len = data.len() as u64;
    let tensors = gguf
        .tensors
        .iter()
        .map(|t| {
            let bytes = (|| {
                let (type_name, block, block_bytes) = types::ggml_type(t.ggml_type)
                    .ok_or_else(|| format!("unknown ggml type {}", t.ggml_type))?;
                let (_, bytes) = types::tensor_bytes(&t.dims, block, block_bytes)
                    .map_err(|why| format!("{type_name} tensor cannot exist: {why}"))?;
                let start = data_start
                    .checked_add(t.offset)
                    .ok_or("its offset overflows")?;
                let end = start
                    .checked_add(bytes)
                    .filter(|&end| end <= file_len)
                    .ok_or_else(|| {
                        format!(
                            "its {bytes} bytes of {type_name} at data offset {} run past the end of the {file_len}-byte file",
                            t.offset
                        )
                    })?;
                let start = usize::try_from(start).map_err(|_| "its offset does not fit")?;
                let end = usize::try_from(end).map_err(|_| "its size does not fit")?;
                Ok(start..end)
            })();
            PlacedTensor {
                name: t.name.clone(),
                ggml_type: t.ggml_type,
                dims: t.dims.clone(),
                bytes,
            }
        })
        .collect();
    Ok((gguf.endian == parse::Endian::Big, tensors))
}

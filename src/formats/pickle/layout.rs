//! Files that hold several pickle streams, or pickles followed by raw data: every stream is
//! analysed to the end of the data, legacy PyTorch storages are skipped by their layout (joblib's
//! inline arrays are skipped inside the stream, see `inspect.rs`), and anything else after the
//! last stream is trailing data.

use std::collections::HashMap;

use crate::detect::hex_prefix;
use crate::model::format::Format;
use crate::model::rules::RuleId;
use crate::model::tensors::PickledTensors;
use crate::scan::context::{Ctx, MemberKind};

use super::frames::{self, FileReading};
use super::plain;
use super::sniff::looks_like_pickle;
use super::vm::{self, Outcome, Storage, StreamOptions, Summary, Workspace};

/// Streams a legacy `torch.save` file holds: magic number, protocol version, system info, the
/// object, storage keys.
const LEGACY_STREAMS: usize = 5;

fn is_padding(data: &[u8]) -> bool {
    data.iter()
        .all(|b| matches!(b, 0 | b'\n' | b'\r' | b' ' | b'\t'))
}

/// Bytes per element of the storage types legacy checkpoints name.
fn element_size(type_name: &str) -> Option<u64> {
    Some(match type_name {
        "DoubleStorage" | "LongStorage" | "ComplexFloatStorage" => 8,
        "FloatStorage" | "IntStorage" | "QInt32Storage" => 4,
        "HalfStorage" | "BFloat16Storage" | "ShortStorage" => 2,
        "ComplexDoubleStorage" => 16,
        "CharStorage" | "ByteStorage" | "BoolStorage" | "QInt8Storage" | "QUInt8Storage"
        | "QUInt4x2Storage" | "QUInt2x4Storage" | "UntypedStorage" => 1,
        _ => return None,
    })
}

/// Tracks whether the streams seen so far follow the legacy PyTorch layout.
#[derive(Default)]
struct Legacy {
    candidate: bool,
    storages: Vec<Storage>,
    keys: Option<Vec<String>>,
    /// Tensors the streams describe, kept until the storages are located.
    tensors: PickledTensors,
}

impl Legacy {
    fn observe(&mut self, index: usize, outcome: &mut Outcome, offset: usize, ctx: &mut Ctx<'_>) {
        if index == 0 {
            self.candidate = outcome.summary == Summary::TorchMagic;
        }
        if !self.candidate {
            return;
        }
        self.storages.append(&mut outcome.storages);
        let (mut tensors, left_out) = std::mem::take(&mut outcome.tensors);
        self.tensors.tensors.append(&mut tensors);
        self.tensors.left_out += left_out;
        if index + 1 == LEGACY_STREAMS {
            match std::mem::replace(&mut outcome.summary, Summary::Other) {
                Summary::Strings(keys) => self.keys = Some(keys),
                _ => {
                    self.candidate = false;
                    ctx.report(
                        RuleId::TorchLayoutMismatch,
                        Some(offset as u64),
                        "legacy PyTorch file whose fifth pickle is not the list of storage keys",
                        None,
                    );
                }
            }
        }
    }

    /// Skips the raw storages after the key list; returns where they end, or `None` when they
    /// do not follow the layout (reported). The byte range of each storage's data goes to
    /// `self.tensors`.
    fn skip_storages(&mut self, data: &[u8], mut pos: usize, ctx: &mut Ctx<'_>) -> Option<usize> {
        let by_key: HashMap<&str, &Storage> =
            self.storages.iter().map(|s| (s.key.as_str(), s)).collect();
        let keys = self.keys.as_deref().unwrap_or_default();
        for key in keys {
            let mismatch = |why: String| (RuleId::TorchLayoutMismatch, Some(pos as u64), why);
            let result = (|| {
                let storage = by_key.get(key.as_str()).ok_or_else(|| {
                    mismatch(format!(
                        "storage key `{key}` is not named by any persistent id"
                    ))
                })?;
                let size = element_size(&storage.type_name).ok_or_else(|| {
                    mismatch(format!(
                        "storage `{key}` has the unknown type `{}`",
                        storage.type_name
                    ))
                })?;
                let header: [u8; 8] = data
                    .get(pos..pos.saturating_add(8))
                    .and_then(|h| h.try_into().ok())
                    .ok_or_else(|| mismatch(format!("the data ends before storage `{key}`")))?;
                let numel = u64::from_le_bytes(header);
                let end = numel
                    .checked_mul(size)
                    .and_then(|n| usize::try_from(n).ok())
                    .and_then(|n| n.checked_add(pos + 8))
                    .filter(|&end| end <= data.len())
                    .ok_or_else(|| {
                        mismatch(format!(
                            "storage `{key}` declares {numel} elements of {size} bytes, more than the file holds"
                        ))
                    })?;
                if storage
                    .numel
                    .is_some_and(|n| u64::try_from(n).ok() != Some(numel))
                {
                    return Err(mismatch(format!(
                        "storage `{key}` holds {numel} elements but its persistent id says {}",
                        storage.numel.unwrap_or_default()
                    )));
                }
                Ok(end)
            })();
            match result {
                Ok(end) => {
                    self.tensors
                        .storages
                        .push((key.clone(), pos.saturating_add(8)..end));
                    pos = end;
                }
                Err((rule, offset, why)) => {
                    ctx.report(
                        rule,
                        offset,
                        format!("legacy PyTorch storages do not follow the layout: {why}"),
                        None,
                    );
                    return None;
                }
            }
        }
        Some(pos)
    }
}

/// The records of a legacy tar checkpoint's `storages` or `tensors` member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordKind {
    /// `pickle((key, location, storage_type))`, int64 element count, the elements.
    Storage,
    /// `pickle((key, storage_id, tensor_type))`, int32 ndim, 4 bytes, ndim sizes and strides
    /// (int64), int64 storage offset.
    Tensor,
}

/// Follows the `storages` and `tensors` members of a legacy tar checkpoint the way
/// `torch.serialization._legacy_load`'s tar branch reads them: a pickled count, then per record
/// a pickled argument tuple followed by raw bytes the loader reads itself (never as opcodes),
/// then, in `storages`, a pickled list of storage views. Every one of those pickles is a full
/// `pickle.load`, so each is analysed; the raw bytes are skipped by their declared size, checked
/// against the data.
#[derive(Default)]
struct TarRecords {
    /// Records the count promises and the loader has still to read.
    left: u64,
    /// Known from the member's name, else from the first record's type.
    kind: Option<RecordKind>,
}

impl TarRecords {
    fn by_name(name: &str) -> Option<RecordKind> {
        // The tar reader may add ` (… reading)` to the member's name.
        match name.split(" (").next().unwrap_or(name) {
            "storages" => Some(RecordKind::Storage),
            "tensors" => Some(RecordKind::Tensor),
            _ => None,
        }
    }

    fn active(&self) -> bool {
        self.left > 0
    }

    /// Looks at stream `index`'s value; returns the kind of raw record that follows it, if any.
    fn observe(&mut self, index: usize, summary: &Summary, name: &str) -> Option<RecordKind> {
        if index == 0 {
            if let Summary::Int(n) = *summary
                && n > 0
            {
                self.left = n.unsigned_abs();
                self.kind = Self::by_name(name);
            }
            return None;
        }
        if !self.active() {
            return None;
        }
        let kind = match (self.kind, summary) {
            (Some(kind), _) => kind,
            (None, Summary::Triple(Some(ty))) if ty.ends_with("Storage") => RecordKind::Storage,
            (None, Summary::Triple(Some(ty))) if ty.ends_with("Tensor") => RecordKind::Tensor,
            _ => {
                // Neither named so nor shaped so: not a tar checkpoint's member.
                self.left = 0;
                return None;
            }
        };
        self.kind = Some(kind);
        self.left -= 1;
        Some(kind)
    }
}

/// The length of the raw record at `pos` (after a record's pickled arguments), or why the data
/// does not hold one.
fn record_len(
    data: &[u8],
    pos: usize,
    kind: RecordKind,
    summary: &Summary,
) -> Result<usize, String> {
    let room = data.len().saturating_sub(pos);
    match kind {
        RecordKind::Storage => {
            let ty = match summary {
                Summary::Triple(Some(ty)) => ty.as_str(),
                _ => "",
            };
            let size = element_size(ty).ok_or_else(|| {
                format!(
                    "a storage record whose type is not a storage class the loader knows the element size of (`{ty}`)"
                )
            })?;
            let numel = data
                .get(pos..pos.saturating_add(8))
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_le_bytes)
                .ok_or("the data ends inside a storage's element count")?;
            // `_new_with_file` reads an int64 count and count × element size bytes.
            numel
                .checked_mul(size)
                .and_then(|n| usize::try_from(n).ok())
                .and_then(|n| n.checked_add(8))
                .filter(|&n| n <= room)
                .ok_or_else(|| {
                    format!(
                        "a storage declares {numel} elements of {size} bytes, more than the {room} bytes left"
                    )
                })
        }
        RecordKind::Tensor => {
            let ndim = data
                .get(pos..pos.saturating_add(4))
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(i32::from_le_bytes)
                .ok_or("the data ends inside a tensor's ndim")?;
            let ndim = usize::try_from(ndim)
                .map_err(|_| format!("a tensor record declares {ndim} dimensions"))?;
            ndim.checked_mul(16)
                .and_then(|n| n.checked_add(16))
                .filter(|&n| n <= room)
                .ok_or_else(|| {
                    format!(
                        "a tensor record declares {ndim} dimensions, more than the {room} bytes left hold"
                    )
                })
        }
    }
}

/// Analyses every pickle stream in `data`.
pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let mut pos = 0usize;
    let mut index = 0usize;
    let mut legacy = Legacy::default();
    let mut tar = TarRecords::default();
    let mut workspace = Workspace::default();
    while let Some(rest) = data.get(pos..).filter(|r| !r.is_empty()) {
        if index > 0 && is_padding(rest) {
            return;
        }
        if index > 0 && !looks_like_pickle(rest) {
            ctx.report(
                RuleId::PickleTrailingData,
                Some(pos as u64),
                format!(
                    "{} bytes follow the last pickle stream and belong to no known layout",
                    rest.len()
                ),
                Some(hex_prefix(rest, 16)),
            );
            ctx.nested(&format!("trailing data@{pos}"), rest, MemberKind::File);
            return;
        }
        let mut options = StreamOptions {
            joblib: true,
            want_strings: legacy.candidate && index + 1 == LEGACY_STREAMS,
            want_layout: index == 0 || tar.active(),
            shadow: false,
        };
        let mut plain = (!options.want_strings && !tar.active())
            .then(|| plain::plain_data_end(data, pos, &ctx.config().pickle))
            .flatten();
        // A tiny first stream may be a tar checkpoint member's record count: its value is
        // needed, so the machine reads it (plain data costs it nothing to follow).
        if index == 0 && plain.is_some_and(|end| end - pos <= 64) {
            plain = None;
        }
        options.want_layout &= plain.is_none();
        let mut outcome = match plain {
            // Plain data imports and calls nothing: the full machine would find nothing.
            Some(end) => Outcome::plain_data(end),
            None => vm::run_stream(data, pos, ctx, options, &mut workspace),
        };
        if outcome.skipped_arrays {
            // joblib reads array bytes after each NumpyArrayWrapper; `pickle.load` reads the
            // same bytes as opcodes. Read the stream that way too, so that a payload hidden as
            // "array data" of a file handed to `pickle.load` is still found.
            let plain = StreamOptions {
                shadow: true,
                ..StreamOptions::default()
            };
            vm::run_stream(data, pos, ctx, plain, &mut workspace);
        }
        // The plain-data reading refuses streams a file reader would read otherwise, and so
        // does a machine that read the stream in order to its STOP; other streams get the
        // quick test of their own, whatever made the machine halt.
        let max_opcodes = ctx.config().pickle.max_opcodes;
        if plain.is_none()
            && !outcome.frames_agree
            && let Some(reading) = frames::file_reading(data, pos, max_opcodes)
        {
            report_file_reading(data, pos, &reading, ctx);
        }
        let Some(end) = outcome.end else {
            return;
        };
        let record = tar.observe(index, &outcome.summary, ctx.name());
        legacy.observe(index, &mut outcome, pos, ctx);
        if !legacy.candidate {
            let (tensors, left_out) = std::mem::take(&mut outcome.tensors);
            ctx.record_tensors(PickledTensors {
                tensors,
                left_out,
                ..PickledTensors::default()
            });
        }
        index += 1;
        pos = end;
        if let Some(kind) = record {
            match record_len(data, pos, kind, &outcome.summary) {
                Ok(len) => {
                    let raw = data.get(pos..).unwrap_or_default();
                    if looks_like_pickle(raw) {
                        // A reader that takes the record for the next stream reads other opcodes:
                        // analyse that reading too.
                        ctx.nested_as(
                            Format::Pickle,
                            &format!("record read as a pickle@{pos}"),
                            raw,
                            MemberKind::File,
                        );
                    }
                    pos += len;
                }
                Err(why) => {
                    let rest = data.get(pos..).unwrap_or_default();
                    ctx.report(
                        RuleId::TorchLayoutMismatch,
                        Some(pos as u64),
                        format!(
                            "legacy tar checkpoint records do not follow the layout torch.load reads: {why}"
                        ),
                        Some(hex_prefix(rest, 16)),
                    );
                    if !rest.is_empty() {
                        ctx.nested(&format!("trailing data@{pos}"), rest, MemberKind::File);
                    }
                    return;
                }
            }
            continue;
        }
        if legacy.keys.is_some() {
            let Some(after) = legacy.skip_storages(data, pos, ctx) else {
                return;
            };
            ctx.record_tensors(std::mem::take(&mut legacy.tensors));
            let rest = data.get(after..).unwrap_or_default();
            if !is_padding(rest) {
                ctx.report(
                    RuleId::TorchLayoutMismatch,
                    Some(after as u64),
                    format!(
                        "{} bytes follow the last storage of a legacy PyTorch file",
                        rest.len()
                    ),
                    Some(hex_prefix(rest, 16)),
                );
                ctx.nested(&format!("trailing data@{after}"), rest, MemberKind::File);
            }
            return;
        }
    }
}

/// Reports a stream whose operand straddles a frame end and analyses the file reader's reading.
fn report_file_reading(data: &[u8], pos: usize, reading: &FileReading, ctx: &mut Ctx<'_>) {
    ctx.report(
        RuleId::PickleFrameOverrun,
        Some(reading.op_at as u64),
        format!(
            "the operand of the {} at offset {} runs past the end of its frame: an unpickler \
             reading from a file (torch.load, pickle.load) drops the {} bytes left in the frame \
             and reads on after it, so it runs different opcodes from pickle.loads; both \
             readings are analysed",
            reading.op.name(),
            reading.op_at,
            reading.skipped,
        ),
        Some(hex_prefix(
            data.get(reading.op_at..).unwrap_or_default(),
            16,
        )),
    );
    ctx.nested_as(
        Format::Pickle,
        &format!("file reading@{pos}"),
        &reading.bytes,
        MemberKind::File,
    );
}

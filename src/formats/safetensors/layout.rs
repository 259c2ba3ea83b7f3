//! Our own reading of a safetensors header, stricter than loaders': every entry well-typed,
//! `__metadata__` a string-to-string map, every dtype known, `shape × dtype size` equal to the
//! byte range, ranges inside the data and tiling it without overlaps or gaps.

use safetensors::Dtype;
use serde_json::{Map, Value};

use crate::model::summary::SafetensorsSummary;

/// One tensor as the header describes it.
struct Entry<'h> {
    name: &'h str,
    start: u64,
    end: u64,
}

/// What the header says, and what is wrong with it.
#[derive(Debug, Default)]
pub struct Layout {
    /// Problems with the header's form (SFT001).
    pub malformed: Vec<String>,
    /// Problems with the layout of the data (SFT002).
    pub bad_layout: Vec<String>,
    /// `__metadata__` entries.
    pub metadata: Vec<(String, String)>,
    /// Where the tensor data ends, relative to the start of the data region.
    pub data_end: u64,
    pub summary: SafetensorsSummary,
}

/// Checks a parsed header against a data region of `data_len` bytes.
pub fn check(header: &Map<String, Value>, data_len: u64) -> Layout {
    let mut layout = Layout::default();
    let mut entries = Vec::new();
    for (name, info) in header {
        if name == "__metadata__" {
            metadata(info, &mut layout);
            continue;
        }
        match tensor(name, info, &mut layout) {
            Ok(entry) => entries.push(entry),
            Err(why) => layout.malformed.push(format!("tensor `{name}`: {why}")),
        }
    }
    entries.sort_by_key(|e| (e.start, e.end));
    let mut previous: Option<&Entry> = None;
    for entry in &entries {
        if entry.end > data_len {
            layout.bad_layout.push(format!(
                "tensor `{}` ends at byte {} of a {data_len}-byte data region",
                entry.name, entry.end
            ));
        }
        let expected_start = previous.map_or(0, |p| p.end);
        match previous {
            Some(p) if entry.start < p.end => layout.bad_layout.push(format!(
                "tensors `{}` and `{}` overlap (bytes {}..{} and {}..{})",
                p.name, entry.name, p.start, p.end, entry.start, entry.end
            )),
            _ if entry.start > expected_start => layout.bad_layout.push(format!(
                "bytes {expected_start}..{} before tensor `{}` belong to no tensor",
                entry.start, entry.name
            )),
            _ => {}
        }
        if previous.is_none_or(|p| entry.end > p.end) {
            previous = Some(entry);
        }
        layout.data_end = layout.data_end.max(entry.end);
    }
    layout
}

fn metadata(info: &Value, layout: &mut Layout) {
    let Some(map) = info.as_object() else {
        return layout
            .malformed
            .push("`__metadata__` is not an object of strings".to_owned());
    };
    for (key, value) in map {
        match value.as_str() {
            Some(text) => layout.metadata.push((key.clone(), text.to_owned())),
            None => layout.malformed.push(format!(
                "`__metadata__` value of `{key}` is not a string (loaders refuse it)"
            )),
        }
    }
}

/// Reads one tensor entry, checks its size against its range, and counts it in the summary.
fn tensor<'h>(name: &'h str, info: &Value, layout: &mut Layout) -> Result<Entry<'h>, String> {
    let info = info.as_object().ok_or("not an object")?;
    let dtype_name = info
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or("no dtype string")?;
    let dtype: Dtype = serde_json::from_value(Value::String(dtype_name.to_owned()))
        .map_err(|_| format!("unknown dtype `{dtype_name}`"))?;
    let shape = info
        .get("shape")
        .and_then(Value::as_array)
        .and_then(|dims| dims.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
        .ok_or("shape is not a list of non-negative integers")?;
    let offsets = info
        .get("data_offsets")
        .and_then(Value::as_array)
        .and_then(|o| match o.as_slice() {
            [start, end] => Some((start.as_u64()?, end.as_u64()?)),
            _ => None,
        })
        .ok_or("data_offsets is not a pair of non-negative integers")?;
    let (start, end) = offsets;
    if let Some(extra) = info
        .keys()
        .find(|k| !matches!(k.as_str(), "dtype" | "shape" | "data_offsets"))
    {
        return Err(format!("unexpected field `{extra}`"));
    }
    let elements = shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d))
        .ok_or("shape overflows")?;
    let bits = elements
        .checked_mul(dtype.bitsize() as u64)
        .ok_or("shape overflows")?;
    if end < start {
        layout.bad_layout.push(format!(
            "tensor `{name}` ends (byte {end}) before it starts (byte {start})"
        ));
    } else if bits % 8 != 0 || bits / 8 != end - start {
        layout.bad_layout.push(format!(
            "tensor `{name}` is {dtype_name} {shape:?} ({} bits) but covers {} bytes",
            bits,
            end - start
        ));
    }
    let summary = &mut layout.summary;
    summary.tensors += 1;
    summary.parameters = summary.parameters.saturating_add(elements);
    let total = summary.dtypes.entry(dtype_name.to_owned()).or_default();
    total.tensors += 1;
    total.parameters = total.parameters.saturating_add(elements);
    total.bytes = total.bytes.saturating_add(end.saturating_sub(start));
    Ok(Entry { name, start, end })
}

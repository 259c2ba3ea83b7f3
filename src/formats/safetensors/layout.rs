//! Our own reading of a safetensors header, stricter than loaders': every entry well-typed,
//! `__metadata__` a string-to-string map, every dtype known, `shape × dtype size` equal to the
//! byte range, ranges inside the data and tiling it without overlaps or gaps.
//!
//! The header is read one entry at a time (a loader accepts headers of 100 MB, a million
//! tensors): only each tensor's name and byte range are kept, never the parsed JSON of all of
//! them, and at most [`MAX_LISTED`] problems of each kind are written out.

use std::fmt;

use safetensors::Dtype;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::model::summary::SafetensorsSummary;

/// Problems of one kind written out in full; the rest are counted.
const MAX_LISTED: usize = 256;

/// One tensor as the header describes it.
struct Entry {
    name: Box<str>,
    start: u64,
    end: u64,
}

/// Problems of one kind: the first [`MAX_LISTED`] in words, then a count.
#[derive(Debug, Default)]
pub struct Problems {
    pub listed: Vec<String>,
    pub more: u64,
}

impl Problems {
    fn push(&mut self, why: String) {
        if self.listed.len() < MAX_LISTED {
            self.listed.push(why);
        } else {
            self.more += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }
}

/// What the header says, and what is wrong with it.
#[derive(Debug, Default)]
pub struct Layout {
    /// Problems with the header's form (SFT001).
    pub malformed: Problems,
    /// Problems with the layout of the data (SFT002).
    pub bad_layout: Problems,
    /// `__metadata__` entries.
    pub metadata: Vec<(String, String)>,
    /// Where the tensor data ends, relative to the start of the data region.
    pub data_end: u64,
    pub summary: SafetensorsSummary,
}

/// Reads the header's JSON object entry by entry into `layout` and `entries`.
struct Reader<'r> {
    layout: &'r mut Layout,
    entries: &'r mut Vec<Entry>,
}

impl<'de> DeserializeSeed<'de> for Reader<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Reader<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            let info: Value = map.next_value()?;
            if name == "__metadata__" {
                metadata(&info, self.layout);
                continue;
            }
            match tensor(&name, &info, self.layout) {
                Ok((start, end)) => self.entries.push(Entry {
                    name: name.into_boxed_str(),
                    start,
                    end,
                }),
                Err(why) => self
                    .layout
                    .malformed
                    .push(format!("tensor `{name}`: {why}")),
            }
        }
        Ok(())
    }
}

/// Checks the header's JSON against a data region of `data_len` bytes; an error when the
/// header is not a JSON object.
pub fn check(header: &[u8], data_len: u64) -> Result<Layout, serde_json::Error> {
    let mut layout = Layout::default();
    let mut entries = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(header);
    Reader {
        layout: &mut layout,
        entries: &mut entries,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
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
    Ok(layout)
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

/// Reads one tensor entry, checks its size against its range, and counts it in the summary:
/// its byte range.
fn tensor(name: &str, info: &Value, layout: &mut Layout) -> Result<(u64, u64), String> {
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
    Ok((start, end))
}

//! MessagePack, as Flax (`flax.serialization.to_bytes`, `msgpack_serialize`) writes model
//! state: a map of nested maps whose leaves are numbers, strings and extension values (code 1:
//! a numpy array as msgpack `(shape, dtype, buffer)`; 2: a complex number; 3: a numpy scalar).
//!
//! msgpack carries no code, so the checks are structural: the value is walked with bounds
//! (markers by the `rmp` crate; every declared length checked against the bytes left before it
//! is used; nesting and item counts capped; no allocation sized by the input), extension codes
//! are counted, and the strings (keys and values) go to the signature scan.
#![deny(clippy::indexing_slicing, clippy::cast_possible_truncation)] // a binary parser: hostile offsets and sizes

use rmp::Marker;

pub use crate::formats::walked::Error;
use crate::formats::walked::{Strings, err};
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, Origin};

/// Nesting the walk follows (Flax trees are a few levels deep).
const MAX_DEPTH: usize = 512;
/// Values walked before the walk stops.
const MAX_VALUES: u64 = 50_000_000;

/// What a walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Where the first value ends.
    pub end: usize,
    pub values: u64,
    pub maps: u64,
    /// Extension values per code (Flax: 1 ndarray, 2 complex, 3 numpy scalar).
    pub ext: std::collections::BTreeMap<i8, u64>,
    /// Strings worth a signature scan (bounded in total).
    pub strings: Strings,
}

fn be(data: &[u8], at: usize, n: usize) -> Result<u64, Error> {
    let bytes = data
        .get(at..at + n)
        .ok_or_else(|| err(at, "a length or number runs past the end"))?;
    Ok(bytes.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
}

/// Walks the first msgpack value of `data`.
pub fn walk(data: &[u8], collect: bool) -> Result<Walk, Error> {
    let mut out = Walk::default();
    // Values still expected per open container (a map counts keys and values).
    let mut stack: Vec<u64> = vec![1];
    let mut at = 0usize;
    while let Some(top) = stack.last_mut() {
        if *top == 0 {
            stack.pop();
            continue;
        }
        *top -= 1;
        out.values += 1;
        if out.values > MAX_VALUES {
            return Err(err(at, format!("more than {MAX_VALUES} values")));
        }
        let byte = *data
            .get(at)
            .ok_or_else(|| err(at, "the data ends inside a value"))?;
        let start = at;
        at += 1;
        let skip = |n: u64, at: usize| -> Result<usize, Error> {
            let n = usize::try_from(n).map_err(|_| err(at, "a length past the address space"))?;
            let end = at
                .checked_add(n)
                .filter(|&e| e <= data.len())
                .ok_or_else(|| {
                    err(
                        at,
                        format!("a declared length of {n} bytes runs past the end"),
                    )
                })?;
            Ok(end)
        };
        let container = |count: u64, at: usize, stack: &mut Vec<u64>| -> Result<(), Error> {
            // Every item takes at least one byte.
            if count > (data.len() - at) as u64 {
                return Err(err(
                    at,
                    format!("a container declares {count} items, more than the bytes left"),
                ));
            }
            if stack.len() >= MAX_DEPTH {
                return Err(err(at, format!("nested deeper than {MAX_DEPTH} levels")));
            }
            stack.push(count);
            Ok(())
        };
        match Marker::from_u8(byte) {
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => {
            }
            Marker::Reserved => return Err(err(start, "the reserved marker 0xc1")),
            Marker::U8 | Marker::I8 => at = skip(1, at)?,
            Marker::U16 | Marker::I16 => at = skip(2, at)?,
            Marker::U32 | Marker::I32 | Marker::F32 => at = skip(4, at)?,
            Marker::U64 | Marker::I64 | Marker::F64 => at = skip(8, at)?,
            Marker::FixStr(n) => at = self::string(data, at, u64::from(n), collect, &mut out)?,
            Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                let w = match byte {
                    0xd9 => 1,
                    0xda => 2,
                    _ => 4,
                };
                let n = be(data, at, w)?;
                at = self::string(data, at + w, n, collect, &mut out)?;
            }
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                let w = match byte {
                    0xc4 => 1,
                    0xc5 => 2,
                    _ => 4,
                };
                let n = be(data, at, w)?;
                at = skip(n, at + w)?;
            }
            Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16
            | Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32 => {
                let (n, w) = match byte {
                    0xd4 => (1, 0),
                    0xd5 => (2, 0),
                    0xd6 => (4, 0),
                    0xd7 => (8, 0),
                    0xd8 => (16, 0),
                    0xc7 => (be(data, at, 1)?, 1),
                    0xc8 => (be(data, at, 2)?, 2),
                    _ => (be(data, at, 4)?, 4),
                };
                let code = *data
                    .get(at + w)
                    .ok_or_else(|| err(at, "an extension ends before its type"))?
                    as i8;
                *out.ext.entry(code).or_default() += 1;
                at = skip(n, at + w + 1)?;
            }
            Marker::FixArray(n) => container(u64::from(n), at, &mut stack)?,
            Marker::Array16 | Marker::Array32 => {
                let w = if byte == 0xdc { 2 } else { 4 };
                let n = be(data, at, w)?;
                at += w;
                container(n, at, &mut stack)?;
            }
            Marker::FixMap(n) => {
                out.maps += 1;
                container(u64::from(n) * 2, at, &mut stack)?;
            }
            Marker::Map16 | Marker::Map32 => {
                out.maps += 1;
                let w = if byte == 0xde { 2 } else { 4 };
                let n = be(data, at, w)?;
                at += w;
                container(n.saturating_mul(2), at, &mut stack)?;
            }
        }
    }
    out.end = at;
    Ok(out)
}

fn string(data: &[u8], at: usize, n: u64, collect: bool, out: &mut Walk) -> Result<usize, Error> {
    let n = usize::try_from(n).map_err(|_| err(at, "a length past the address space"))?;
    let bytes = at
        .checked_add(n)
        .and_then(|end| data.get(at..end))
        .ok_or_else(|| err(at, format!("a string of {n} bytes runs past the end")))?;
    if collect {
        out.strings.note(at, bytes);
    }
    Ok(at + n)
}

/// Whether `data` is one msgpack map whose first key is a short printable string and which
/// ends exactly where the data ends: how a Flax checkpoint starts and ends.
pub fn looks_like_msgpack(data: &[u8]) -> bool {
    (starts_like_msgpack(data) || starts_with_short_key(data) || data == [0x80])
        && matches!(walk(data, false), Ok(w) if w.end == data.len())
}

/// A map whose first key is one printable character (`{"w": ...}`), or an empty map alone (what
/// spaCy writes for an empty `vocab/key2row`): too weak a start on its own, so only a map that
/// reads whole counts.
fn starts_with_short_key(data: &[u8]) -> bool {
    let key_at = match data.first() {
        Some(0x81..=0x8f) => 1,
        Some(0xde) => 3,
        Some(0xdf) => 5,
        _ => return false,
    };
    data.get(key_at) == Some(&0xa1) && data.get(key_at + 1).is_some_and(u8::is_ascii_graphic)
}

/// Whether `data` starts with a msgpack map whose first key is a short printable string (a
/// Flax checkpoint cut short or tampered with still starts so).
pub fn starts_like_msgpack(data: &[u8]) -> bool {
    let key_at = match data.first() {
        Some(0x81..=0x8f) => 1,
        Some(0xde) => 3,
        Some(0xdf) => 5,
        _ => return false,
    };
    let key_len = match data.get(key_at) {
        Some(&b) if (0xa1..=0xbf).contains(&b) => usize::from(b - 0xa0),
        _ => return false,
    };
    let Some(key) = data.get(key_at + 1..key_at + 1 + key_len) else {
        return false;
    };
    key.len() >= 2 && key.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
}

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let collect = ctx.wants_extracts();
    match walk(data, collect) {
        Ok(w) => {
            if w.end < data.len() {
                ctx.report(
                    RuleId::MsgpackMalformed,
                    Some(w.end as u64),
                    format!(
                        "{} bytes follow the msgpack value; `msgpack.unpackb` refuses extra data, a streaming reader sees more values",
                        data.len() - w.end
                    ),
                    None,
                );
            }
            for (at, s) in w.strings.iter() {
                ctx.extract(
                    Origin::FrameworkString,
                    "msgpack string",
                    Some(*at as u64),
                    s.as_bytes(),
                );
            }
        }
        Err(e) => ctx.report(
            RuleId::MsgpackMalformed,
            Some(e.at as u64),
            format!("msgpack structure could not be read whole: {}", e.why),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{"params": {"dense": {"kernel": ext1(...), "bias": [0.5]}}}` as msgpack.
    fn flax_like() -> Vec<u8> {
        let mut v = vec![0x81, 0xa6];
        v.extend_from_slice(b"params");
        v.extend_from_slice(&[0x81, 0xa5]);
        v.extend_from_slice(b"dense");
        v.extend_from_slice(&[0x82, 0xa6]);
        v.extend_from_slice(b"kernel");
        v.extend_from_slice(&[0xc7, 3, 1, 0x93, 0x01, 0x02]);
        v.extend_from_slice(&[0xa4]);
        v.extend_from_slice(b"bias");
        v.extend_from_slice(&[0x91, 0xcb]);
        v.extend_from_slice(&0.5f64.to_be_bytes());
        v
    }

    #[test]
    fn reads_a_flax_tree() {
        let data = flax_like();
        assert!(looks_like_msgpack(&data));
        let w = walk(&data, true).unwrap();
        assert_eq!(w.end, data.len());
        assert_eq!(w.ext.get(&1), Some(&1));
        assert!(w.strings.iter().any(|(_, s)| s == "kernel"));
    }

    #[test]
    fn lengths_and_depth_are_bounded() {
        // A map declaring 2^32-1 entries in a few bytes.
        assert!(walk(&[0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0], false).is_err());
        assert!(walk(&[0xdb, 0xff, 0xff, 0xff, 0xff], false).is_err());
        let deep = vec![0x91u8; 100_000];
        assert!(walk(&deep, false).unwrap_err().why.contains("nested"));
        let mut data = flax_like();
        data.truncate(data.len() - 3);
        assert!(!looks_like_msgpack(&data));
        assert!(walk(&data, false).is_err());
        // An empty map alone is spaCy's empty `vocab/key2row`; a pickle's PROTO opcode
        // followed by anything is not a map.
        assert!(looks_like_msgpack(b"\x80"));
        assert!(!looks_like_msgpack(b"\x80\x04\x95"));
        assert!(!looks_like_msgpack(b"\x80\x04K\x01."));
        // One-letter keys count only when the map reads whole.
        assert!(looks_like_msgpack(b"\x81\xa1w\x01"));
        assert!(!looks_like_msgpack(b"\x81\xa1w"));
        assert!(!looks_like_msgpack(b"hello"));
    }
}

//! The zip records themselves: central directory entries, local file headers, ZIP64 extra
//! fields and data descriptors, parsed with the bounds-checked reader and never trusted beyond
//! what the file holds.

use crate::bytes::ReadRef;

pub(super) use crate::detect::{ZIP_END as END_SIG, ZIP_LOCAL as LOCAL_SIG};

pub(super) const CENTRAL_SIG: &[u8] = b"PK\x01\x02";
pub(super) const END64_SIG: &[u8] = b"PK\x06\x06";
pub(super) const END64_LOCATOR_SIG: &[u8] = b"PK\x06\x07";
pub(super) const DESCRIPTOR_SIG: &[u8] = b"PK\x07\x08";

pub(super) const LOCAL_LEN: usize = 30;
pub(super) const CENTRAL_LEN: usize = 46;
pub(super) const END_LEN: usize = 22;
pub(super) const END64_LEN: usize = 56;
pub(super) const END64_LOCATOR_LEN: usize = 20;

/// General-purpose flag bits.
pub(super) const FLAG_ENCRYPTED: u16 = 0x0001;
pub(super) const FLAG_DESCRIPTOR: u16 = 0x0008;
pub(super) const FLAG_PATCHED: u16 = 0x0020;
pub(super) const FLAG_STRONG: u16 = 0x0040;
/// Bits no standard writer sets: enhanced deflate (4), patched data (5), strong encryption (6),
/// unused (7-10), PKWARE-reserved (12), masked local headers (13), reserved (14-15).
pub(super) const FLAGS_ANOMALOUS: u16 =
    0x0010 | FLAG_PATCHED | FLAG_STRONG | 0x0780 | 0x1000 | 0x2000 | 0xc000;

pub(super) const METHOD_STORED: u16 = 0;
pub(super) const METHOD_DEFLATE: u16 = 8;
pub(super) const METHOD_DEFLATE64: u16 = 9;
pub(super) const METHOD_BZIP2: u16 = 12;
pub(super) const METHOD_LZMA: u16 = 14;
pub(super) const METHOD_ZSTD: u16 = 93;
pub(super) const METHOD_XZ: u16 = 95;
pub(super) const METHOD_AES: u16 = 99;

/// The fields of a ZIP64 extended-information extra field (tag 1) that the fixed fields defer
/// to, in the order the format stores them. `wanted` says which are present.
pub(super) fn zip64_fields(extra: &[u8], wanted: &[bool]) -> Result<Vec<Option<u64>>, String> {
    let mut pos = 0usize;
    while let (Ok(tag), Ok(size)) = (extra.u16_le(pos), extra.u16_le(pos + 2)) {
        let body = extra
            .read_at(pos + 4, usize::from(size))
            .unwrap_or_default();
        if tag == 1 {
            let mut at = 0usize;
            return wanted
                .iter()
                .map(|&want| {
                    if !want {
                        return Ok(None);
                    }
                    let v = body
                        .u64_le(at)
                        .map_err(|_| "the ZIP64 extra field is too short")?;
                    at += 8;
                    Ok(Some(v))
                })
                .collect();
        }
        pos = pos.saturating_add(4).saturating_add(usize::from(size));
    }
    if wanted.iter().any(|&w| w) {
        return Err("sizes defer to a ZIP64 extra field that is missing".to_owned());
    }
    Ok(vec![None; wanted.len()])
}

/// Looks for an extra field by tag.
pub(super) fn extra_field(extra: &[u8], wanted: u16) -> Option<&[u8]> {
    let mut pos = 0usize;
    while let (Ok(tag), Ok(size)) = (extra.u16_le(pos), extra.u16_le(pos + 2)) {
        let body = extra.read_at(pos + 4, usize::from(size)).ok()?;
        if tag == wanted {
            return Some(body);
        }
        pos = pos.checked_add(4 + usize::from(size))?;
    }
    None
}

/// One central directory entry.
#[derive(Debug, Clone)]
pub(super) struct CentralEntry {
    /// Where the entry sits in the data.
    pub at: usize,
    pub flags: u16,
    pub method: u16,
    pub crc: u32,
    pub csize: u64,
    pub usize: u64,
    /// The local header offset as stored (before the reading's shift is added).
    pub local_offset: u64,
    pub external: u32,
    pub name: Vec<u8>,
}

impl CentralEntry {
    /// Where the entry's local header is, given the reading's shift.
    pub fn local_at(&self, shift: i128) -> Option<usize> {
        usize::try_from(i128::from(self.local_offset) + shift).ok()
    }
}

/// Parses the central header at `at`; returns it and where the next one starts.
pub(super) fn parse_central_entry(data: &[u8], at: usize) -> Result<(CentralEntry, usize), String> {
    parse_central(data, at, false)
}

/// A central directory entry as CPython's `zipfile` reads it from the directory's bytes
/// (`io.BytesIO(fp.read(size_cd))`): a name, extra field or comment cut short by the end of
/// `data` is read short, not refused; the offset after it is where the stated lengths end.
pub(super) fn parse_central_entry_short(
    data: &[u8],
    at: usize,
) -> Result<(CentralEntry, usize), String> {
    parse_central(data, at, true)
}

fn parse_central(data: &[u8], at: usize, short: bool) -> Result<(CentralEntry, usize), String> {
    let fixed = data
        .read_at(at, CENTRAL_LEN)
        .map_err(|_| "a central header is truncated")?;
    if !fixed.starts_with(CENTRAL_SIG) {
        return Err(format!("no central header signature at offset {at}"));
    }
    let f16 = |o| fixed.u16_le(o).unwrap_or_default();
    let f32 = |o| fixed.u32_le(o).unwrap_or_default();
    let name_len = usize::from(f16(28));
    let extra_len = usize::from(f16(30));
    let comment_len = usize::from(f16(32));
    let name_at = at + CENTRAL_LEN;
    let read = |from: usize, len: usize, what: &str| match data.read_at(from, len) {
        Ok(bytes) => Ok(bytes),
        Err(_) if short => Ok(data.get(from.min(data.len())..).unwrap_or_default()),
        Err(_) => Err(format!("a central header's {what} is truncated")),
    };
    let name = read(name_at, name_len, "name")?;
    let extra = read(name_at + name_len, extra_len, "extra field")?;
    let next = name_at + name_len + extra_len + comment_len;
    if next > data.len() && !short {
        return Err("a central header's comment is truncated".to_owned());
    }
    let (csize, usize, offset) = (f32(20), f32(24), f32(42));
    let disk = f16(34);
    let z = zip64_fields(
        extra,
        &[
            usize == u32::MAX,
            csize == u32::MAX,
            offset == u32::MAX,
            disk == u16::MAX,
        ],
    )?;
    let pick = |i: usize, v: u32| z.get(i).copied().flatten().unwrap_or(u64::from(v));
    Ok((
        CentralEntry {
            at,
            flags: f16(8),
            method: f16(10),
            crc: f32(16),
            usize: pick(0, usize),
            csize: pick(1, csize),
            local_offset: pick(2, offset),
            external: f32(38),
            name: name.to_vec(),
        },
        next,
    ))
}

/// A local file header.
#[derive(Debug, Clone)]
pub(super) struct LocalHeader {
    pub at: usize,
    pub flags: u16,
    pub method: u16,
    pub crc: u32,
    pub csize: u64,
    pub usize: u64,
    pub name: Vec<u8>,
    pub data_start: usize,
    /// Carries a ZIP64 extra field (its data descriptor then has 8-byte sizes).
    pub zip64: bool,
}

pub(super) fn parse_local(data: &[u8], at: usize) -> Result<LocalHeader, String> {
    let fixed = data
        .read_at(at, LOCAL_LEN)
        .map_err(|_| "the local header is truncated")?;
    if !fixed.starts_with(LOCAL_SIG) {
        return Err("no local header signature".to_owned());
    }
    let f16 = |o| fixed.u16_le(o).unwrap_or_default();
    let f32 = |o| fixed.u32_le(o).unwrap_or_default();
    let name_len = usize::from(f16(26));
    let extra_len = usize::from(f16(28));
    let name = data
        .read_at(at + LOCAL_LEN, name_len)
        .map_err(|_| "the local header's name is truncated")?;
    let extra = data
        .read_at(at + LOCAL_LEN + name_len, extra_len)
        .map_err(|_| "the local header's extra field is truncated")?;
    let (csize, usize) = (f32(18), f32(22));
    let z = zip64_fields(extra, &[usize == u32::MAX, csize == u32::MAX]).unwrap_or_default();
    let pick = |i: usize, v: u32| z.get(i).copied().flatten().unwrap_or(u64::from(v));
    Ok(LocalHeader {
        at,
        flags: f16(6),
        method: f16(8),
        crc: f32(14),
        usize: pick(0, usize),
        csize: pick(1, csize),
        name: name.to_vec(),
        data_start: at + LOCAL_LEN + name_len + extra_len,
        zip64: extra_field(extra, 1).is_some(),
    })
}

/// The values a data descriptor repeats after the member data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Descriptor {
    pub crc: u32,
    pub csize: u64,
    pub usize: u64,
}

/// Reads a data descriptor at `at` for data of `len` bytes; `None` when none is there.
pub(super) fn descriptor_at(
    data: &[u8],
    at: usize,
    len: usize,
    zip64: bool,
) -> Option<(Descriptor, usize)> {
    let signed = data.has_at(at, DESCRIPTOR_SIG);
    let base = if signed { at + 4 } else { at };
    let wide = |p: usize| -> Option<(Descriptor, usize)> {
        Some((
            Descriptor {
                crc: data.u32_le(p).ok()?,
                csize: data.u64_le(p + 4).ok()?,
                usize: data.u64_le(p + 12).ok()?,
            },
            p + 20,
        ))
    };
    let narrow = |p: usize| -> Option<(Descriptor, usize)> {
        Some((
            Descriptor {
                crc: data.u32_le(p).ok()?,
                csize: u64::from(data.u32_le(p + 4).ok()?),
                usize: u64::from(data.u32_le(p + 8).ok()?),
            },
            p + 12,
        ))
    };
    let fits = |d: &(Descriptor, usize)| d.0.csize == len as u64;
    let (first, second) = if zip64 {
        (wide(base), narrow(base))
    } else {
        (narrow(base), wide(base))
    };
    first
        .filter(fits)
        .or(second.filter(fits))
        .or(if signed { first } else { None })
}

//! Zip archives, including PyTorch checkpoints and NumPy `.npz` files.
//!
//! Readers disagree about zip files, and attacks live in the disagreement: PyTorch's reader
//! (miniz) trusts the central directory, ignores CRCs and most flag bits and never looks at the
//! local header's name; Python's `zipfile` checks CRCs and refuses flag bits; streaming readers
//! see only local headers. So the archive is read three ways:
//!
//! * our own lenient central-directory reader, which keeps every entry (duplicates included)
//!   and handles prepended data the way Python does;
//! * the `zip` crate as a strict reader, whose failure or differing names are findings;
//! * our own walk over the local file headers, as a streaming reader sees them.
//!
//! Every central entry is read the way miniz reads it (sizes and method from the central
//! directory, the data offset from its local header); when the local header describes different
//! bytes, that reading is analysed too. Local headers that no central entry points at are
//! analysed as well. Stored members are handed over as slices of the input; compressed ones are
//! inflated within the zone's limits.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use memchr::memmem;

use crate::containers::compress::{self, Capped, Stop};
use crate::containers::members::{self, Names};
use crate::detect::{self, ZIP_END as END_SIG, ZIP_LOCAL as LOCAL_SIG};
use crate::model::Format;
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, LimitHit, MemberKind};

const CENTRAL_SIG: &[u8] = b"PK\x01\x02";
const END64_SIG: &[u8] = b"PK\x06\x06";
const END64_LOCATOR_SIG: &[u8] = b"PK\x06\x07";
const DESCRIPTOR_SIG: &[u8] = b"PK\x07\x08";

const LOCAL_LEN: usize = 30;
const CENTRAL_LEN: usize = 46;
const END_LEN: usize = 22;

/// The end record sits in the last 64 KiB (the longest comment) plus its own size.
const END_WINDOW: usize = END_LEN + 0xffff;

/// End records tried, from the last one back.
const MAX_END_CANDIDATES: usize = 4;

/// General-purpose flag bits.
const FLAG_ENCRYPTED: u16 = 0x0001;
const FLAG_DESCRIPTOR: u16 = 0x0008;
const FLAG_PATCHED: u16 = 0x0020;
const FLAG_STRONG: u16 = 0x0040;
/// Bits no standard writer sets: enhanced deflate (4), patched data (5), strong encryption (6),
/// unused (7-10), PKWARE-reserved (12), masked local headers (13), reserved (14-15).
const FLAGS_ANOMALOUS: u16 =
    0x0010 | FLAG_PATCHED | FLAG_STRONG | 0x0780 | 0x1000 | 0x2000 | 0xc000;

const METHOD_STORED: u16 = 0;
const METHOD_DEFLATE: u16 = 8;
const METHOD_DEFLATE64: u16 = 9;
const METHOD_BZIP2: u16 = 12;
const METHOD_LZMA: u16 = 14;
const METHOD_ZSTD: u16 = 93;
const METHOD_XZ: u16 = 95;
const METHOD_AES: u16 = 99;

/// Little-endian field readers; `None` past the end of the data.
fn u16_at(data: &[u8], pos: usize) -> Option<u16> {
    let b = data.get(pos..pos.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(data: &[u8], pos: usize) -> Option<u32> {
    let b = data.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(data: &[u8], pos: usize) -> Option<u64> {
    let b = data.get(pos..pos.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

fn sig_at(data: &[u8], pos: usize, sig: &[u8]) -> bool {
    pos.checked_add(sig.len())
        .and_then(|end| data.get(pos..end))
        .is_some_and(|b| b == sig)
}

fn slice(data: &[u8], start: usize, len: usize) -> Option<&[u8]> {
    data.get(start..start.checked_add(len)?)
}

/// The fields of a ZIP64 extended-information extra field (tag 1) that the fixed fields defer
/// to, in the order the format stores them. `wanted` says which are present.
fn zip64_fields(extra: &[u8], wanted: &[bool]) -> Result<Vec<Option<u64>>, String> {
    let mut pos = 0usize;
    while let (Some(tag), Some(size)) = (u16_at(extra, pos), u16_at(extra, pos + 2)) {
        let body = slice(extra, pos + 4, usize::from(size)).unwrap_or_default();
        if tag == 1 {
            let mut at = 0usize;
            return wanted
                .iter()
                .map(|&want| {
                    if !want {
                        return Ok(None);
                    }
                    let v = u64_at(body, at).ok_or("the ZIP64 extra field is too short")?;
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
fn extra_field(extra: &[u8], wanted: u16) -> Option<&[u8]> {
    let mut pos = 0usize;
    while let (Some(tag), Some(size)) = (u16_at(extra, pos), u16_at(extra, pos + 2)) {
        let body = slice(extra, pos + 4, usize::from(size))?;
        if tag == wanted {
            return Some(body);
        }
        pos = pos.checked_add(4 + usize::from(size))?;
    }
    None
}

/// One central directory entry, as miniz and Python read it.
#[derive(Debug, Clone)]
struct CentralEntry {
    /// Where the entry sits in the data.
    at: usize,
    flags: u16,
    method: u16,
    crc: u32,
    csize: u64,
    usize: u64,
    /// The local header offset as stored (before the archive offset is added).
    local_offset: u64,
    external: u32,
    name: Vec<u8>,
}

impl CentralEntry {
    /// Where the entry's local header is, given the archive's shift.
    fn local_at(&self, shift: i128) -> Option<usize> {
        usize::try_from(i128::from(self.local_offset) + shift).ok()
    }
}

#[derive(Debug, Default)]
struct CentralDirectory {
    entries: Vec<CentralEntry>,
    /// What to add to stored offsets to find the headers: bytes prepended to the archive that
    /// its offsets do not account for, or (negative) bytes cut from its front.
    shift: i128,
    /// Where the first central header is.
    start: usize,
    /// Entries the end record declares.
    declared: u64,
    /// Why reading stopped early, when it did (the entries before are kept).
    problem: Option<String>,
    /// More entries than the member limit.
    too_many: bool,
}

fn parse_central_entry(data: &[u8], at: usize) -> Result<(CentralEntry, usize), String> {
    let fixed = slice(data, at, CENTRAL_LEN).ok_or("a central header is truncated")?;
    if !fixed.starts_with(CENTRAL_SIG) {
        return Err(format!("no central header signature at offset {at}"));
    }
    let f16 = |o| u16_at(fixed, o).unwrap_or_default();
    let f32 = |o| u32_at(fixed, o).unwrap_or_default();
    let name_len = usize::from(f16(28));
    let extra_len = usize::from(f16(30));
    let comment_len = usize::from(f16(32));
    let name_at = at + CENTRAL_LEN;
    let name = slice(data, name_at, name_len).ok_or("a central header's name is truncated")?;
    let extra = slice(data, name_at + name_len, extra_len)
        .ok_or("a central header's extra field is truncated")?;
    let next = name_at + name_len + extra_len + comment_len;
    if next > data.len() {
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

/// Reads the central directory from the end record that yields the most sensible directory.
fn read_central(data: &[u8], max_entries: usize) -> Result<CentralDirectory, String> {
    let window = data.len().saturating_sub(END_WINDOW);
    let tail = data.get(window..).unwrap_or_default();
    let mut first_failure: Option<Result<CentralDirectory, String>> = None;
    // Loaders read one end record; trying a few covers stray signatures in a comment without
    // letting a comment full of them multiply the work.
    for rel in memmem::rfind_iter(tail, END_SIG).take(MAX_END_CANDIDATES) {
        let at = window + rel;
        let attempt = read_central_from(data, at, max_entries);
        match attempt {
            Ok(cd) if cd.problem.is_none() => return Ok(cd),
            other => {
                if first_failure.is_none() {
                    first_failure = Some(other);
                }
            }
        }
    }
    first_failure.unwrap_or_else(|| Err("no end-of-central-directory record".to_owned()))
}

fn read_central_from(
    data: &[u8],
    end_at: usize,
    max_entries: usize,
) -> Result<CentralDirectory, String> {
    let end = slice(data, end_at, END_LEN).ok_or("the end record is truncated")?;
    let e16 = |o| u16_at(end, o).unwrap_or_default();
    let e32 = |o| u32_at(end, o).unwrap_or_default();
    let (mut declared, mut size, mut offset) =
        (u64::from(e16(10)), u64::from(e32(12)), u64::from(e32(16)));
    // The directory ends where the end record (or the ZIP64 end record) begins.
    let mut dir_end = end_at as u64;
    if end_at >= 20 && sig_at(data, end_at - 20, END64_LOCATOR_SIG) {
        let stated = u64_at(data, end_at - 20 + 8).unwrap_or(u64::MAX);
        let adjacent = (end_at - 20).checked_sub(56);
        let record = usize::try_from(stated)
            .ok()
            .filter(|&p| sig_at(data, p, END64_SIG))
            .or(adjacent.filter(|&p| sig_at(data, p, END64_SIG)))
            .ok_or("the ZIP64 end record is missing")?;
        declared = u64_at(data, record + 32).ok_or("the ZIP64 end record is truncated")?;
        size = u64_at(data, record + 40).ok_or("the ZIP64 end record is truncated")?;
        offset = u64_at(data, record + 48).ok_or("the ZIP64 end record is truncated")?;
        dir_end = record as u64;
    }
    // miniz takes the stated offset; Python finds the directory just before the end record and
    // shifts every offset by the difference (bytes prepended, or the archive embedded in a
    // larger file).
    let stated = usize::try_from(offset)
        .ok()
        .filter(|&p| sig_at(data, p, CENTRAL_SIG));
    let (start, shift) = match stated {
        Some(p) => (p, 0),
        None => {
            let actual = dir_end.checked_sub(size);
            match actual.and_then(|p| usize::try_from(p).ok()) {
                Some(p) if sig_at(data, p, CENTRAL_SIG) => (p, p as i128 - i128::from(offset)),
                _ if declared == 0 && size == 0 => (end_at, 0),
                _ => {
                    return Err(format!(
                        "the central directory is not where the end record says (offset {offset})"
                    ));
                }
            }
        }
    };
    let limit = usize::try_from(size)
        .ok()
        .and_then(|s| start.checked_add(s))
        .filter(|&l| l <= data.len());
    let mut cd = CentralDirectory {
        shift,
        start,
        declared,
        ..CentralDirectory::default()
    };
    let limit = match limit {
        Some(limit) => limit,
        None => {
            cd.problem = Some("the central directory runs past the end of the file".to_owned());
            data.len()
        }
    };
    let mut pos = start;
    while pos < limit && sig_at(data, pos, CENTRAL_SIG) {
        if cd.entries.len() >= max_entries {
            cd.too_many = true;
            break;
        }
        match parse_central_entry(data, pos) {
            Ok((entry, next)) => {
                cd.entries.push(entry);
                pos = next;
            }
            Err(why) => {
                cd.problem = Some(why);
                break;
            }
        }
    }
    if cd.problem.is_none() && !cd.too_many && pos < limit {
        cd.problem = Some(format!(
            "the central directory is broken at offset {pos} after {} entries",
            cd.entries.len()
        ));
    }
    Ok(cd)
}

/// A local file header.
#[derive(Debug, Clone)]
struct LocalHeader {
    at: usize,
    flags: u16,
    method: u16,
    crc: u32,
    csize: u64,
    usize: u64,
    name: Vec<u8>,
    data_start: usize,
    /// Carries a ZIP64 extra field (its data descriptor then has 8-byte sizes).
    zip64: bool,
}

fn parse_local(data: &[u8], at: usize) -> Result<LocalHeader, String> {
    let fixed = slice(data, at, LOCAL_LEN).ok_or("the local header is truncated")?;
    if !fixed.starts_with(LOCAL_SIG) {
        return Err("no local header signature".to_owned());
    }
    let f16 = |o| u16_at(fixed, o).unwrap_or_default();
    let f32 = |o| u32_at(fixed, o).unwrap_or_default();
    let name_len = usize::from(f16(26));
    let extra_len = usize::from(f16(28));
    let name =
        slice(data, at + LOCAL_LEN, name_len).ok_or("the local header's name is truncated")?;
    let extra = slice(data, at + LOCAL_LEN + name_len, extra_len)
        .ok_or("the local header's extra field is truncated")?;
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
struct Descriptor {
    crc: u32,
    csize: u64,
    usize: u64,
}

/// A member found by walking the local headers.
#[derive(Debug, Clone)]
struct Walked {
    header: LocalHeader,
    /// End of the member data (clamped to the file).
    data_end: usize,
    /// The declared data runs past the end of the file.
    truncated: bool,
    descriptor: Option<Descriptor>,
}

#[derive(Debug, Default)]
struct Walk {
    entries: Vec<Walked>,
    /// Where the first local header is.
    first: Option<usize>,
    /// Structural problems met on the way: offset and description.
    problems: Vec<(usize, String)>,
    too_many: bool,
}

/// Reads a data descriptor at `at` for data of `len` bytes; `None` when none is there.
fn descriptor_at(data: &[u8], at: usize, len: usize, zip64: bool) -> Option<(Descriptor, usize)> {
    let signed = sig_at(data, at, DESCRIPTOR_SIG);
    let base = if signed { at + 4 } else { at };
    let wide = |p| -> Option<(Descriptor, usize)> {
        Some((
            Descriptor {
                crc: u32_at(data, p)?,
                csize: u64_at(data, p + 4)?,
                usize: u64_at(data, p + 12)?,
            },
            p + 20,
        ))
    };
    let narrow = |p| -> Option<(Descriptor, usize)> {
        Some((
            Descriptor {
                crc: u32_at(data, p)?,
                csize: u64::from(u32_at(data, p + 4)?),
                usize: u64::from(u32_at(data, p + 8)?),
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

/// The next local or central header signature at or after `from`, in one pass (the cost is the
/// distance to it, so walking every header stays linear in the file size).
fn next_header(data: &[u8], from: usize) -> Option<usize> {
    let rest = data.get(from..)?;
    memmem::find_iter(rest, b"PK")
        .find(|&rel| {
            let tag = rest.get(rel + 2..rel + 4);
            tag == Some(b"\x03\x04") || tag == Some(b"\x01\x02")
        })
        .map(|rel| from + rel)
}

/// Finds where the data of a member with an unknown size ends, searching no further than `bound`
/// (the next header): at a descriptor that states the distance, or just before that header.
/// Returns the end, the descriptor, where the next header is, and whether the end was found.
fn find_data_end(
    data: &[u8],
    start: usize,
    bound: usize,
    zip64: bool,
) -> (usize, Option<Descriptor>, usize, bool) {
    let region = data.get(start..bound).unwrap_or_default();
    for rel in memmem::find_iter(region, DESCRIPTOR_SIG) {
        if let Some((d, next)) = descriptor_at(data, start + rel, rel, zip64)
            && d.csize == rel as u64
        {
            return (start + rel, Some(d), next, true);
        }
    }
    if bound < data.len() {
        for width in [12usize, 20] {
            if let Some(end) = bound.checked_sub(width).filter(|&e| e >= start)
                && let Some((d, _)) = descriptor_at(data, end, end - start, width == 20)
                && d.csize == (end - start) as u64
            {
                return (end, Some(d), bound, true);
            }
        }
    }
    (bound, None, bound, false)
}

/// Inflates raw deflate data only to learn where the stream ends; output is discarded.
fn deflate_end(data: &[u8], cap: u64) -> Option<usize> {
    let mut inflater = flate2::Decompress::new(false);
    let mut scratch = vec![0u8; 64 << 10];
    loop {
        let consumed = usize::try_from(inflater.total_in()).ok()?;
        let input = data.get(consumed..)?;
        let before = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress(input, &mut scratch, flate2::FlushDecompress::None)
            .ok()?;
        if status == flate2::Status::StreamEnd {
            return usize::try_from(inflater.total_in()).ok();
        }
        if (inflater.total_in(), inflater.total_out()) == before || inflater.total_out() > cap {
            return None;
        }
    }
}

/// Walks the local headers from the first one, as a streaming reader would.
fn walk_local(data: &[u8], hints: &HashMap<usize, u64>, max_entries: usize, cap: u64) -> Walk {
    let mut walk = Walk::default();
    let Some(mut pos) = memmem::find(data, LOCAL_SIG) else {
        return walk;
    };
    walk.first = Some(pos);
    while pos < data.len() {
        if sig_at(data, pos, LOCAL_SIG) {
            if walk.entries.len() >= max_entries {
                walk.too_many = true;
                break;
            }
            let header = match parse_local(data, pos) {
                Ok(h) => h,
                Err(why) => {
                    walk.problems.push((pos, why));
                    break;
                }
            };
            let start = header.data_start.min(data.len());
            let sized = header.flags & FLAG_DESCRIPTOR == 0 || header.csize != 0;
            // Without a size, nothing may be searched past the next header: that keeps the
            // walk linear however the headers lie.
            let bound = if sized || hints.contains_key(&pos) {
                data.len()
            } else {
                next_header(data, start).unwrap_or(data.len())
            };
            let known = if sized {
                Some(header.csize)
            } else if let Some(&csize) = hints.get(&pos) {
                Some(csize)
            } else if header.method == METHOD_DEFLATE {
                data.get(start..bound)
                    .and_then(|d| deflate_end(d, cap))
                    .map(|n| n as u64)
            } else {
                None
            };
            let (data_end, truncated, mut descriptor, mut next) = match known {
                Some(csize) => {
                    let end = (start as u64).saturating_add(csize);
                    let truncated = end > data.len() as u64;
                    let end = usize::try_from(end).unwrap_or(usize::MAX).min(data.len());
                    (end, truncated, None, end)
                }
                None => {
                    let (end, d, next, found) = find_data_end(data, start, bound, header.zip64);
                    if !found {
                        walk.problems.push((
                            pos,
                            "the end of a member with a data descriptor could not be found"
                                .to_owned(),
                        ));
                    }
                    (end, false, d, next)
                }
            };
            if header.flags & FLAG_DESCRIPTOR != 0
                && descriptor.is_none()
                && let Some((d, after)) =
                    descriptor_at(data, data_end, data_end - start, header.zip64)
            {
                descriptor = Some(d);
                next = after;
            }
            walk.entries.push(Walked {
                header,
                data_end,
                truncated,
                descriptor,
            });
            if truncated {
                break;
            }
            pos = next.max(pos + 1);
        } else if [CENTRAL_SIG, END_SIG, END64_SIG, END64_LOCATOR_SIG]
            .iter()
            .any(|sig| sig_at(data, pos, sig))
        {
            break;
        } else {
            match next_header(data, pos).map(|p| p - pos) {
                Some(rel) => {
                    walk.problems.push((
                        pos,
                        format!("{rel} bytes between members belong to no member"),
                    ));
                    pos += rel;
                }
                None => break,
            }
        }
    }
    walk
}

/// One way of reading a member: where its bytes are and how to decode them.
#[derive(Debug, Clone)]
struct Reading<'a> {
    name: Vec<u8>,
    /// Position of the local header (for finding offsets).
    at: usize,
    flags: u16,
    method: u16,
    crc: u32,
    usize: u64,
    csize: u64,
    /// The compressed bytes as far as the file holds them.
    raw: &'a [u8],
    truncated: bool,
    /// Unix mode bits from the external attributes (central entries only).
    mode: u32,
    /// The reading is an additional view of an entry already counted.
    alternate: bool,
    /// The CRC and uncompressed size are known (not deferred to a descriptor never found).
    verifiable: bool,
}

/// Which folders hold raw tensor storages: `<dir>/data/` next to `<dir>/data.pkl` (what
/// `torch.save` writes) and `<dir>/constants/` next to `<dir>/constants.pkl` (TorchScript).
fn torch_prefixes<'n>(names: impl Iterator<Item = &'n [u8]>) -> Vec<Vec<u8>> {
    let mut prefixes = Vec::new();
    for name in names {
        for (pickle, folder) in [
            (&b"data.pkl"[..], &b"data/"[..]),
            (b"constants.pkl", b"constants/"),
        ] {
            if let Some(dir) = name.strip_suffix(pickle)
                && (dir.is_empty() || dir.ends_with(b"/"))
            {
                let mut prefix = dir.to_vec();
                prefix.extend_from_slice(folder);
                if !prefixes.contains(&prefix) {
                    prefixes.push(prefix);
                }
            }
        }
    }
    prefixes
}

struct Analysis<'d, 'c, 'x> {
    data: &'d [u8],
    ctx: &'c mut Ctx<'x>,
    names: Names,
    torch: Vec<Vec<u8>>,
    /// Byte ranges already analysed, with the method and kind (overlapping entries are read once).
    done: HashSet<(usize, usize, u16, bool)>,
}

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let limits = ctx.config().zone.clone();
    let max_entries = usize::try_from(limits.max_members)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let central = read_central(data, max_entries);
    let cd_usable = matches!(&central, Ok(cd) if cd.problem.is_none());
    let cd = central.as_ref().ok();
    let cd_entries: &[CentralEntry] = cd.map_or(&[], |cd| &cd.entries);
    let shift = cd.map_or(0, |cd| cd.shift);
    let local_pos = |e: &CentralEntry| e.local_at(shift);
    let hints: HashMap<usize, u64> = cd_entries
        .iter()
        .filter_map(|e| Some((local_pos(e)?, e.csize)))
        .collect();
    let walk = walk_local(data, &hints, max_entries, limits.max_member_bytes);

    match &central {
        Err(why) => ctx.report(
            RuleId::ArchiveRecovered,
            None,
            format!(
                "the central directory is unusable ({why}); {} members were recovered from local headers",
                walk.entries.len()
            ),
            None,
        ),
        Ok(cd) => {
            if let Some(why) = &cd.problem {
                ctx.report(
                    RuleId::ArchiveRecovered,
                    Some(cd.start as u64),
                    format!(
                        "the central directory is broken ({why}); loaders refuse the archive, lenient readers still extract from local headers, which were all analysed"
                    ),
                    None,
                );
            }
            if cd.declared != cd.entries.len() as u64 && !cd.too_many && cd.problem.is_none() {
                ctx.report(
                    RuleId::ArchiveHeaderMismatch,
                    Some(cd.start as u64),
                    format!(
                        "the end record declares {} members but the central directory holds {}; readers that trust the count see a different archive",
                        cd.declared,
                        cd.entries.len()
                    ),
                    None,
                );
            }
            // Offsets that point before these bytes mean an archive cut out of a larger file
            // (a pickle's trailing data): the `zip` crate cannot read it on its own, and the
            // whole file is judged at the outer level.
            if cd_usable && cd.shift >= 0 {
                strict_cross_check(data, cd, ctx);
            }
        }
    }
    if walk.too_many || cd.is_some_and(|cd| cd.too_many) {
        ctx.report(
            RuleId::ArchiveLimitExceeded,
            None,
            format!(
                "the archive holds more than {} members; the rest were not opened",
                limits.max_members
            ),
            None,
        );
    }
    let mut names = Names::default();
    for (at, why) in &walk.problems {
        names.budget.report(
            ctx,
            RuleId::ArchiveCorrupt,
            Some(*at as u64),
            why.clone(),
            None,
        );
    }

    let first_header = cd_entries
        .iter()
        .filter_map(local_pos)
        .chain(walk.first)
        .chain(cd.filter(|_| cd_usable).map(|cd| cd.start))
        .min();
    if let Some(first) = first_header.filter(|&f| f > 0) {
        prefix(data, first, ctx);
    }

    let all_names = cd_entries
        .iter()
        .map(|e| e.name.as_slice())
        .chain(walk.entries.iter().map(|w| w.header.name.as_slice()));
    let torch = torch_prefixes(all_names);
    let mut run = Analysis {
        data,
        ctx,
        names,
        torch,
        done: HashSet::new(),
    };
    if run.central_members(cd_entries, shift, &walk).is_ok() {
        run.local_only(cd_entries, shift, cd_usable, &walk);
    }
    run.names.budget.finish(run.ctx);
}

/// The reading a streaming reader makes of a walked local header.
fn local_reading<'a>(data: &'a [u8], w: &Walked, alternate: bool) -> Reading<'a> {
    let h = &w.header;
    let d = w.descriptor;
    let described = h.flags & FLAG_DESCRIPTOR != 0 && h.csize == 0;
    Reading {
        name: h.name.clone(),
        at: h.at,
        flags: h.flags,
        method: h.method,
        crc: d.filter(|_| described).map_or(h.crc, |d| d.crc),
        usize: d.filter(|_| described).map_or(h.usize, |d| d.usize),
        csize: if described {
            d.map_or((w.data_end.saturating_sub(h.data_start)) as u64, |d| {
                d.csize
            })
        } else {
            h.csize
        },
        raw: data
            .get(h.data_start.min(w.data_end)..w.data_end)
            .unwrap_or_default(),
        truncated: w.truncated,
        mode: 0,
        alternate,
        verifiable: !described || d.is_some(),
    }
}

/// Reads the archive with the `zip` crate, a strict reader: if it refuses what lenient readers
/// accept, or names a member differently (it honours Unicode path extra fields), readers
/// disagree about this file.
fn strict_cross_check(data: &[u8], cd: &CentralDirectory, ctx: &mut Ctx<'_>) {
    let strict = catch_unwind(AssertUnwindSafe(|| {
        zip::ZipArchive::new(Cursor::new(data))
            .map(|z| z.file_names_raw().map(<[u8]>::to_vec).collect::<Vec<_>>())
            .map_err(|e| e.to_string())
    }))
    .unwrap_or_else(|_| Err("the zip reader failed".to_owned()));
    match strict {
        Err(why) => ctx.report(
            RuleId::ArchiveCorrupt,
            Some(cd.start as u64),
            format!("strict zip readers refuse this archive ({why}); lenient readers such as PyTorch's load it, and the scanner analysed what they see"),
            None,
        ),
        Ok(names) => {
            let ours: HashSet<&[u8]> = cd.entries.iter().map(|e| e.name.as_slice()).collect();
            let mut checks = Names::default();
            for name in names.iter().filter(|n| !ours.contains(n.as_slice())) {
                let shown = checks.check(ctx, name, None, false);
                checks.budget.report(
                    ctx,
                    RuleId::ArchiveHeaderMismatch,
                    None,
                    format!("a reader that honours Unicode path extra fields names a member `{shown}`, which the central directory does not"),
                    Some(shown),
                );
            }
            checks.budget.finish(ctx);
        }
    }
}

/// Bytes before the first local header: data prepended to the archive, or a polyglot.
fn prefix(data: &[u8], first: usize, ctx: &mut Ctx<'_>) {
    let bytes = data.get(..first).unwrap_or_default();
    let format = detect::detect(bytes);
    let recognised = !matches!(format, Format::Unknown | Format::Empty);
    ctx.report(
        RuleId::ArchiveCorrupt,
        Some(0),
        if recognised {
            format!("{first} bytes of {} content precede the first member; other readers load the file as that (a polyglot), so it was analysed too", format.name())
        } else {
            format!("{first} bytes that belong to no member precede the first one (data prepended to the archive)")
        },
        None,
    );
    // When the whole file is something else from its start (a polyglot read a second time as a
    // zip), that first reading already covered these bytes.
    let primary = detect::detect(data) == Format::Zip;
    if recognised && primary && ctx.charge_unpacked("prefix@0", bytes.len() as u64).is_ok() {
        ctx.nested("prefix@0", bytes, MemberKind::Opaque);
    }
}

impl Analysis<'_, '_, '_> {
    /// Members that only local headers know about.
    fn local_only(&mut self, entries: &[CentralEntry], shift: i128, cd_usable: bool, walk: &Walk) {
        let claimed: HashSet<usize> = entries.iter().filter_map(|e| e.local_at(shift)).collect();
        for w in walk
            .entries
            .iter()
            .filter(|w| !claimed.contains(&w.header.at))
        {
            if cd_usable {
                let name = String::from_utf8_lossy(&w.header.name).into_owned();
                self.names.budget.report(
                    self.ctx,
                    RuleId::ArchiveHeaderMismatch,
                    Some(w.header.at as u64),
                    format!(
                        "local header for `{name}` at offset {} is not in the central directory; streaming readers extract it, the scanner analysed it",
                        w.header.at
                    ),
                    Some(name),
                );
            }
            let reading = local_reading(self.data, w, false);
            if self.member(&reading).is_err() {
                return;
            }
        }
    }

    fn central_members(
        &mut self,
        entries: &[CentralEntry],
        shift: i128,
        walk: &Walk,
    ) -> Result<(), LimitHit> {
        let walked: HashMap<usize, &Walked> =
            walk.entries.iter().map(|w| (w.header.at, w)).collect();
        let mut ranges: Vec<(usize, usize, usize)> = Vec::new();
        for (index, e) in entries.iter().enumerate() {
            let at = e.local_at(shift);
            let parsed = match at {
                Some(at) => parse_local(self.data, at),
                None => Err("the offset overflows".to_owned()),
            };
            let header = match parsed {
                Ok(h) => h,
                Err(why) => {
                    let name = self.names.check(self.ctx, &e.name, Some(e.at as u64), true);
                    self.names.budget.report(
                        self.ctx,
                        RuleId::ArchiveCorrupt,
                        Some(e.at as u64),
                        format!(
                            "member `{name}` points at offset {} where there is no valid local header ({why}); it was not analysed",
                            i128::from(e.local_offset) + shift
                        ),
                        None,
                    );
                    continue;
                }
            };
            let start = header.data_start;
            let declared_end = (start as u64).saturating_add(e.csize);
            let truncated = declared_end > self.data.len() as u64;
            let end = usize::try_from(declared_end)
                .unwrap_or(usize::MAX)
                .min(self.data.len());
            ranges.push((header.at, end.max(start), index));
            let walked = walked.get(&header.at).copied();
            self.compare(e, &header, walked);
            let primary = Reading {
                name: e.name.clone(),
                at: header.at,
                flags: e.flags,
                method: e.method,
                crc: e.crc,
                usize: e.usize,
                csize: e.csize,
                raw: self.data.get(start.min(end)..end).unwrap_or_default(),
                truncated,
                mode: e.external >> 16,
                alternate: false,
                verifiable: true,
            };
            let local = match walked {
                Some(w) => Some(local_reading(self.data, w, true)),
                None if header.flags & FLAG_DESCRIPTOR == 0 => {
                    let w = Walked {
                        data_end: usize::try_from((start as u64).saturating_add(header.csize))
                            .unwrap_or(usize::MAX)
                            .min(self.data.len()),
                        truncated: (start as u64).saturating_add(header.csize)
                            > self.data.len() as u64,
                        header: header.clone(),
                        descriptor: None,
                    };
                    Some(local_reading(self.data, &w, true))
                }
                None => None,
            };
            self.member(&primary)?;
            if let Some(mut local) = local {
                let same_bytes = local.raw.as_ptr() == primary.raw.as_ptr()
                    && local.raw.len() == primary.raw.len()
                    && local.method == primary.method;
                if !same_bytes {
                    if local.name == primary.name {
                        local.name.extend_from_slice(b" (local header)");
                    }
                    self.member(&local)?;
                }
            }
        }
        self.overlaps(&mut ranges, entries);
        Ok(())
    }

    /// Reports where the local header (or its data descriptor) tells a different story than the
    /// central directory.
    fn compare(&mut self, e: &CentralEntry, h: &LocalHeader, walked: Option<&Walked>) {
        let mut diffs = Vec::new();
        if h.name != e.name {
            diffs.push(format!(
                "name (`{}` locally)",
                String::from_utf8_lossy(&h.name)
            ));
        }
        if h.method != e.method {
            diffs.push(format!(
                "compression method ({} locally, {} centrally)",
                h.method, e.method
            ));
        }
        let risky = FLAG_ENCRYPTED | FLAG_PATCHED | FLAG_STRONG;
        if h.flags & risky != e.flags & risky {
            diffs.push(format!(
                "flags (0x{:04x} locally, 0x{:04x} centrally)",
                h.flags, e.flags
            ));
        }
        let local_sizes = h.flags & FLAG_DESCRIPTOR == 0 || h.csize != 0 || h.usize != 0;
        if local_sizes && (h.csize, h.usize) != (e.csize, e.usize) {
            diffs.push(format!(
                "sizes ({}/{} locally, {}/{} centrally)",
                h.csize, h.usize, e.csize, e.usize
            ));
        }
        if h.flags & FLAG_DESCRIPTOR == 0 && h.crc != e.crc {
            diffs.push(format!(
                "CRC ({:08x} locally, {:08x} centrally)",
                h.crc, e.crc
            ));
        }
        if let Some(d) = walked.and_then(|w| w.descriptor)
            && (d.csize, d.usize, d.crc) != (e.csize, e.usize, e.crc)
        {
            diffs.push(format!(
                "data descriptor ({}/{} crc {:08x}, central {}/{} crc {:08x})",
                d.csize, d.usize, d.crc, e.csize, e.usize, e.crc
            ));
        }
        if !diffs.is_empty() {
            let name = String::from_utf8_lossy(&e.name).into_owned();
            self.names.budget.report(
                self.ctx,
                RuleId::ArchiveHeaderMismatch,
                Some(h.at as u64),
                format!(
                    "local header and central directory disagree for `{name}`: {}",
                    diffs.join(", ")
                ),
                Some(name),
            );
        }
    }

    fn overlaps(&mut self, ranges: &mut [(usize, usize, usize)], entries: &[CentralEntry]) {
        ranges.sort_unstable();
        let mut furthest: Option<(usize, usize)> = None;
        for &(start, end, index) in ranges.iter() {
            if let Some((reach, owner)) = furthest
                && start < reach
            {
                let name = |i: usize| {
                    entries
                        .get(i)
                        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
                        .unwrap_or_default()
                };
                self.names.budget.report(
                    self.ctx,
                    RuleId::ArchiveCorrupt,
                    Some(start as u64),
                    format!(
                        "members `{}` and `{}` overlap in the file; no writer produces this (overlapping entries build zip bombs and reader differentials)",
                        name(owner),
                        name(index)
                    ),
                    None,
                );
                return;
            }
            if furthest.is_none_or(|(reach, _)| end > reach) {
                furthest = Some((end, index));
            }
        }
    }

    fn kind(&self, name: &[u8]) -> MemberKind {
        if self.torch.iter().any(|p| name.starts_with(p)) {
            MemberKind::Opaque
        } else {
            MemberKind::File
        }
    }

    /// Analyses one reading of a member.
    fn member(&mut self, r: &Reading<'_>) -> Result<(), LimitHit> {
        let at = Some(r.at as u64);
        let name = self.names.check(self.ctx, &r.name, at, !r.alternate);
        let kind = self.kind(&r.name);
        let file_type = r.mode & 0o170000;
        let special = match file_type {
            0o120000 => Some("a symbolic link"),
            0o020000 => Some("a character device"),
            0o060000 => Some("a block device"),
            0o010000 => Some("a FIFO"),
            0o140000 => Some("a socket"),
            _ => None,
        };
        if let Some(what) = special {
            let target = (r.method == METHOD_STORED && r.raw.len() <= 4096)
                .then(|| String::from_utf8_lossy(r.raw).into_owned());
            self.names.budget.report(
                self.ctx,
                RuleId::ArchiveLinkMember,
                at,
                match &target {
                    Some(t) => format!("member `{name}` is {what} to `{t}`"),
                    None => format!("member `{name}` is {what}"),
                },
                target,
            );
        }
        if r.truncated {
            self.names.budget.report(
                self.ctx,
                RuleId::ArchiveCorrupt,
                at,
                format!(
                    "member `{name}` declares {} bytes of data but the file ends after {}; what is there was analysed",
                    r.csize,
                    r.raw.len()
                ),
                None,
            );
        }
        if r.name.ends_with(b"/") && r.raw.is_empty() && r.usize == 0 {
            return Ok(());
        }
        let key = (
            r.raw.as_ptr() as usize,
            r.raw.len(),
            r.method,
            kind == MemberKind::File,
        );
        if !self.done.insert(key) {
            return Ok(());
        }
        if r.method == METHOD_AES {
            self.names.budget.report(
                self.ctx,
                RuleId::ArchiveEncryptedMember,
                at,
                format!("member `{name}` is AES-encrypted; its content cannot be inspected"),
                Some(name),
            );
            return Ok(());
        }
        let decoded = self.decode(r, &name);
        let flagged = r.flags & (FLAG_ENCRYPTED | FLAG_STRONG) != 0;
        if flagged {
            // A real encryption header makes the data unreadable; a member that decodes to its
            // CRC, or is stored with plain recognisable content, is not encrypted at all.
            let plain = match &decoded {
                Decoded::Stored(bytes) => {
                    r.csize == r.usize
                        || !matches!(
                            detect::detect(bytes),
                            Format::Unknown | Format::Empty | Format::Text
                        )
                }
                Decoded::Inflated(c) => {
                    c.stop == Stop::Complete && crc32fast::hash(&c.data) == r.crc
                }
                Decoded::Unsupported => false,
            };
            if !plain {
                self.names.budget.report(
                    self.ctx,
                    RuleId::ArchiveEncryptedMember,
                    at,
                    format!("member `{name}` is encrypted; its content cannot be inspected"),
                    Some(name),
                );
                return Ok(());
            }
        }
        let odd = r.flags & (FLAGS_ANOMALOUS | FLAG_ENCRYPTED);
        if odd != 0 {
            let what = if flagged {
                "is flagged as encrypted but its content is plain"
            } else {
                "sets flag bits that standard writers never use"
            };
            self.names.budget.report(
                self.ctx,
                RuleId::ArchiveFlagAnomaly,
                at,
                format!(
                    "member `{name}` {what} (general-purpose flags 0x{:04x}, odd bits 0x{odd:04x}); strict readers refuse it, PyTorch's reader ignores the flags and loads it (CVE-2025-1945)",
                    r.flags
                ),
                Some(name.clone()),
            );
        }
        match decoded {
            Decoded::Stored(bytes) => {
                if r.usize != r.csize && r.verifiable {
                    self.names.budget.report(
                        self.ctx,
                        RuleId::ArchiveHeaderMismatch,
                        at,
                        format!(
                            "stored member `{name}` declares {} bytes compressed but {} uncompressed; readers disagree on where it ends",
                            r.csize, r.usize
                        ),
                        None,
                    );
                }
                if !r.truncated && r.verifiable {
                    self.check_crc(&name, at, bytes, r.crc);
                }
                members::hand_over_slice(self.ctx, &name, bytes, kind)
            }
            Decoded::Inflated(c) => {
                let what = method_name(r.method);
                match &c.stop {
                    Stop::Complete if !r.verifiable => {}
                    Stop::Complete => {
                        if c.data.len() as u64 != r.usize {
                            self.names.budget.report(
                                self.ctx,
                                RuleId::ArchiveCorrupt,
                                at,
                                format!(
                                    "member `{name}` declares {} bytes but its {what} data holds {}",
                                    r.usize,
                                    c.data.len()
                                ),
                                None,
                            );
                        }
                        self.check_crc(&name, at, &c.data, r.crc);
                    }
                    Stop::Limit(why) => self.names.budget.report(
                        self.ctx,
                        RuleId::ArchiveLimitExceeded,
                        at,
                        format!(
                            "member `{name}` {why}; only the first {} bytes were analysed",
                            c.data.len()
                        ),
                        None,
                    ),
                    Stop::Corrupt(why) => self.names.budget.report(
                        self.ctx,
                        RuleId::ArchiveCorrupt,
                        at,
                        format!(
                            "member `{name}` ({what}): {why}; the {} bytes before that were analysed",
                            c.data.len()
                        ),
                        None,
                    ),
                }
                if c.data.is_empty() && c.stop != Stop::Complete {
                    return Ok(());
                }
                members::hand_over(self.ctx, &name, &c.data, kind)
            }
            Decoded::Unsupported => {
                self.names.budget.report(
                    self.ctx,
                    RuleId::ArchiveCorrupt,
                    at,
                    format!(
                        "member `{name}` uses compression method {} which no model loader supports; its raw bytes were checked for known content only",
                        r.method
                    ),
                    None,
                );
                if matches!(detect::detect(r.raw), Format::Unknown | Format::Empty) {
                    return Ok(());
                }
                members::hand_over_slice(self.ctx, &name, r.raw, MemberKind::Opaque)
            }
        }
    }

    fn check_crc(&mut self, name: &str, at: Option<u64>, bytes: &[u8], expected: u32) {
        let actual = crc32fast::hash(bytes);
        if actual != expected {
            self.names.budget.report(
                self.ctx,
                RuleId::ArchiveCrcMismatch,
                at,
                format!(
                    "member `{name}` has CRC-32 {actual:08x} but its header records {expected:08x}; PyTorch loads it anyway, strict readers refuse it (CVE-2025-10156)"
                ),
                Some(name.to_owned()),
            );
        }
    }

    fn decode<'r>(&mut self, r: &Reading<'r>, name: &str) -> Decoded<'r> {
        let limits = self.ctx.config().zone.clone();
        if r.method != METHOD_STORED && r.usize > limits.max_member_bytes {
            self.names.budget.report(
                self.ctx,
                RuleId::ArchiveLimitExceeded,
                Some(r.at as u64),
                format!(
                    "member `{name}` declares {} unpacked bytes, over the per-member limit of {}; at most that much was unpacked",
                    r.usize, limits.max_member_bytes
                ),
                None,
            );
        }
        let compressed = r.raw.len() as u64;
        let capped = match r.method {
            METHOD_STORED => return Decoded::Stored(r.raw),
            METHOD_DEFLATE => compress::read_capped(
                flate2::read::DeflateDecoder::new(r.raw),
                compressed,
                &limits,
            ),
            METHOD_DEFLATE64 => {
                compress::read_capped(deflate64::Deflate64Decoder::new(r.raw), compressed, &limits)
            }
            METHOD_BZIP2 => {
                compress::read_capped(bzip2::read::BzDecoder::new(r.raw), compressed, &limits)
            }
            METHOD_LZMA => zip_lzma(r, &limits),
            METHOD_ZSTD => match zstd::stream::read::Decoder::with_buffer(r.raw) {
                Ok(d) => compress::read_capped(d, compressed, &limits),
                Err(e) => Capped {
                    data: Vec::new(),
                    stop: Stop::Corrupt(e.to_string()),
                },
            },
            METHOD_XZ => compress::read_capped(
                lzma_rust2::XzReader::new_mem_limit(
                    r.raw,
                    true,
                    compress::decoder_memory_kb(&limits),
                ),
                compressed,
                &limits,
            ),
            _ => return Decoded::Unsupported,
        };
        Decoded::Inflated(capped)
    }
}

enum Decoded<'a> {
    Stored(&'a [u8]),
    Inflated(Capped),
    Unsupported,
}

fn method_name(method: u16) -> &'static str {
    match method {
        METHOD_DEFLATE => "deflate",
        METHOD_DEFLATE64 => "deflate64",
        METHOD_BZIP2 => "bzip2",
        METHOD_LZMA => "LZMA",
        METHOD_ZSTD => "zstd",
        METHOD_XZ => "xz",
        _ => "compressed",
    }
}

/// Zip's LZMA (method 14): a 4-byte version/properties-size header, the 5 LZMA properties, then
/// the raw stream (with an end marker when flag bit 1 is set).
fn zip_lzma(r: &Reading<'_>, limits: &crate::config::ZoneLimits) -> Capped {
    let corrupt = |why: &str| Capped {
        data: Vec::new(),
        stop: Stop::Corrupt(why.to_owned()),
    };
    let (Some(props_len), Some(&props), Some(dict)) =
        (u16_at(r.raw, 2), r.raw.get(4), u32_at(r.raw, 5))
    else {
        return corrupt("the LZMA properties are truncated");
    };
    let Some(stream) = r.raw.get(4 + usize::from(props_len)..) else {
        return corrupt("the LZMA properties are truncated");
    };
    let size = if r.flags & 0x0002 != 0 {
        u64::MAX
    } else {
        r.usize
    };
    let dict = compress::clamp_dictionary(dict, limits);
    match lzma_rust2::LzmaReader::new_with_props(stream, size, props, dict, None) {
        Ok(reader) => compress::read_capped(reader, r.raw.len() as u64, limits),
        Err(e) => corrupt(&format!("the LZMA properties are invalid: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use zip::CompressionMethod;
    use zip::write::SimpleFileOptions;

    use super::*;
    use crate::config::Config;
    use crate::model::finding::ArtifactReport;
    use crate::testing::{PICKLE, container_codes as codes, scan, scan_with};

    const STORED: CompressionMethod = CompressionMethod::Stored;
    const DEFLATED: CompressionMethod = CompressionMethod::Deflated;

    /// Members of the archive itself (not what analysers found inside them).
    fn members(report: &ArtifactReport) -> Vec<(String, String)> {
        report
            .members
            .iter()
            .filter(|m| !m.member.contains('!'))
            .map(|m| (m.member.clone(), m.format.name().to_owned()))
            .collect()
    }

    fn build(files: &[(&str, &[u8], CompressionMethod)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, method) in files {
            w.start_file(
                *name,
                SimpleFileOptions::default().compression_method(*method),
            )
            .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn find_all(data: &[u8], sig: &[u8]) -> Vec<usize> {
        memmem::find_iter(data, sig).collect()
    }

    fn put16(data: &mut [u8], at: usize, v: u16) {
        data[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn put32(data: &mut [u8], at: usize, v: u32) {
        data[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Replaces a name of the same length everywhere it is stored.
    fn rename(data: &mut [u8], from: &[u8], to: &[u8], local: bool, central: bool) {
        assert_eq!(from.len(), to.len());
        for at in find_all(data, from) {
            let is_local = at >= LOCAL_LEN && sig_at(data, at - LOCAL_LEN, LOCAL_SIG);
            let is_central = at >= CENTRAL_LEN && sig_at(data, at - CENTRAL_LEN, CENTRAL_SIG);
            if (is_local && local) || (is_central && central) {
                data[at..at + to.len()].copy_from_slice(to);
            }
        }
    }

    /// Not text, not any known magic: what tensor bytes look like.
    fn tensor_bytes() -> Vec<u8> {
        (0..64u8).map(|i| i.wrapping_mul(37) | 0x80).collect()
    }

    #[test]
    fn stored_and_deflated_members_are_analysed() {
        let data = build(&[("data.pkl", PICKLE, STORED), ("d/x.pkl", PICKLE, DEFLATED)]);
        let report = scan(&data);
        assert_eq!(report.format, "zip");
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert_eq!(
            members(&report),
            [
                ("data.pkl".to_owned(), "pickle".to_owned()),
                ("d/x.pkl".to_owned(), "pickle".to_owned())
            ]
        );
    }

    #[test]
    fn stored_members_are_slices_of_the_input() {
        let data = build(&[("data.pkl", PICKLE, STORED)]);
        let cd = read_central(&data, 10).unwrap();
        let h = parse_local(&data, 0).unwrap();
        assert_eq!(cd.entries.len(), 1);
        assert_eq!(&data[h.data_start..h.data_start + PICKLE.len()], PICKLE);
    }

    #[test]
    fn torch_storages_are_opaque() {
        let tensor = tensor_bytes();
        let data = build(&[
            ("archive/data.pkl", PICKLE, STORED),
            ("archive/data/0", &tensor, STORED),
            ("archive/version", b"3\n", STORED),
        ]);
        let report = scan(&data);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert_eq!(report.members[1].format, "unknown");
        // Without data.pkl the same bytes are an unknown file.
        let data = build(&[("archive/data/0", &tensor, STORED)]);
        assert_eq!(codes(&scan(&data)), ["FMT001"]);
    }

    #[test]
    fn crc_mismatch_is_reported_and_the_member_analysed() {
        let mut data = build(&[("data.pkl", PICKLE, STORED)]);
        let l = find_all(&data, LOCAL_SIG)[0];
        let c = find_all(&data, CENTRAL_SIG)[0];
        put32(&mut data, l + 14, 0xdead_beef);
        put32(&mut data, c + 16, 0xdead_beef);
        let report = scan(&data);
        assert_eq!(codes(&report), ["ARC002"]);
        assert_eq!(report.members[0].format, "pickle");
    }

    #[test]
    fn flag_bits_on_plain_members_are_anomalies_not_encryption() {
        for (flag, method) in [
            (0x1, STORED),
            (0x20, STORED),
            (0x40, STORED),
            (0x1, DEFLATED),
        ] {
            let mut data = build(&[("model/config.pkl", PICKLE, method)]);
            let l = find_all(&data, LOCAL_SIG)[0];
            let c = find_all(&data, CENTRAL_SIG)[0];
            put16(&mut data, l + 6, flag);
            put16(&mut data, c + 8, flag);
            let report = scan(&data);
            assert_eq!(
                codes(&report),
                ["ARC009"],
                "flag {flag:#x}: {:?}",
                report.findings
            );
            assert_eq!(report.members[0].format, "pickle");
        }
    }

    #[test]
    fn really_encrypted_member_is_reported_not_analysed() {
        // Traditional encryption: 12-byte header, then ciphertext; compressed = plain + 12.
        let ciphertext: Vec<u8> = (0..27u8)
            .map(|i| i.wrapping_mul(151) ^ 0xa5 | 0x80)
            .collect();
        let mut data = build(&[("test.txt", &ciphertext, STORED)]);
        let l = find_all(&data, LOCAL_SIG)[0];
        let c = find_all(&data, CENTRAL_SIG)[0];
        put16(&mut data, l + 6, 1);
        put16(&mut data, c + 8, 1);
        put32(&mut data, l + 22, 15);
        put32(&mut data, c + 24, 15);
        let report = scan(&data);
        assert_eq!(codes(&report), ["ARC004"], "{:?}", report.findings);
        assert!(report.members.is_empty());
    }

    #[test]
    fn local_name_differs_from_central_name() {
        let mut data = build(&[("data.pkl", PICKLE, STORED)]);
        rename(&mut data, b"data.pkl", b"datap.kl", true, false);
        let report = scan(&data);
        assert_eq!(codes(&report), ["ARC003"]);
        assert_eq!(
            members(&report),
            [("data.pkl".to_owned(), "pickle".to_owned())]
        );
    }

    #[test]
    fn local_size_differs_and_both_readings_are_analysed() {
        let mut content = PICKLE.to_vec();
        content.extend_from_slice(&tensor_bytes());
        let mut data = build(&[("data.pkl", &content, STORED)]);
        let c = find_all(&data, CENTRAL_SIG)[0];
        put32(&mut data, c + 20, PICKLE.len() as u32);
        put32(&mut data, c + 24, PICKLE.len() as u32);
        let report = scan(&data);
        let codes = codes(&report);
        assert!(codes.contains(&"ARC003"), "{codes:?}");
        let own: Vec<_> = report
            .members
            .iter()
            .filter(|m| !m.member.contains('!'))
            .collect();
        assert_eq!(own.len(), 2, "{own:?}");
        assert_eq!(own[0].size, PICKLE.len() as u64);
        assert_eq!(own[1].member, "data.pkl (local header)");
        assert_eq!(own[1].size, content.len() as u64);
    }

    #[test]
    fn method_mismatch_is_reported() {
        let mut data = build(&[("data.pkl", PICKLE, STORED)]);
        let l = find_all(&data, LOCAL_SIG)[0];
        put16(&mut data, l + 8, 8);
        let report = scan(&data);
        assert!(codes(&report).contains(&"ARC003"), "{:?}", report.findings);
        assert_eq!(report.members[0].format, "pickle");
    }

    #[test]
    fn duplicate_names_are_reported_and_all_copies_analysed() {
        let mut data = build(&[("a.pkl", PICKLE, STORED), ("b.pkl", b"hello", STORED)]);
        rename(&mut data, b"b.pkl", b"a.pkl", true, true);
        let report = scan(&data);
        assert_eq!(codes(&report), ["ARC008"], "{:?}", report.findings);
        assert_eq!(report.members.len(), 2);
        assert!(report.members.iter().all(|m| m.member == "a.pkl"));
    }

    #[test]
    fn unsafe_paths_are_reported() {
        let mut data = build(&[
            ("aa/evil.pkl", PICKLE, STORED),
            ("xetc/passwd", b"x", STORED),
            ("Cx\\win.pkl", b"x", STORED),
            ("a\\bb\\x", b"x", STORED),
        ]);
        rename(&mut data, b"aa/evil.pkl", b"../evil.pkl", true, true);
        rename(&mut data, b"xetc/passwd", b"/etc/passwd", true, true);
        rename(&mut data, b"Cx\\win.pkl", b"C:\\win.pkl", true, true);
        rename(&mut data, b"a\\bb\\x", b"a\\..\\x", true, true);
        let report = scan(&data);
        assert_eq!(codes(&report), ["ARC006"; 4], "{:?}", report.findings);
        assert_eq!(report.members[0].format, "pickle");
    }

    #[test]
    fn symlinks_are_reported() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.add_symlink("weights.bin", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
        let data = w.finish().unwrap().into_inner();
        let report = scan(&data);
        assert_eq!(codes(&report), ["ARC007"], "{:?}", report.findings);
        assert!(report.findings[0].message.contains("/etc/passwd"));
    }

    #[test]
    fn declared_sizes_over_the_limit() {
        let mut config = Config::default();
        config.zone.max_member_bytes = 1000;
        config.zone.max_ratio = u64::MAX;
        let big = vec![b'a'; 5000];
        let data = build(&[("big.txt", &big, DEFLATED), ("s.txt", &big, STORED)]);
        let report = scan_with(&data, &config);
        assert!(
            codes(&report).iter().all(|c| *c == "ARC005"),
            "{:?}",
            report.findings
        );
        // Inflating stops at the limit; a stored member is a slice of the input, allocated by
        // nobody, and is analysed whole.
        let sizes: Vec<_> = report
            .members
            .iter()
            .map(|m| (m.member.as_str(), m.size))
            .collect();
        assert_eq!(sizes, [("big.txt", 1000), ("s.txt", 5000)]);
    }

    #[test]
    fn declared_ten_terabytes_is_not_trusted() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default()
            .compression_method(DEFLATED)
            .large_file(true);
        w.start_file("data.pkl", options).unwrap();
        w.write_all(PICKLE).unwrap();
        let mut data = w.finish().unwrap().into_inner();
        // Patch the uncompressed size in every ZIP64 extra field to 10 TB.
        for at in find_all(&data, b"\x01\x00\x10\x00")
            .into_iter()
            .chain(find_all(&data, b"\x01\x00\x18\x00"))
        {
            data[at + 4..at + 12].copy_from_slice(&(10u64 << 40).to_le_bytes());
        }
        let c = find_all(&data, CENTRAL_SIG)[0];
        let (entry, _) = parse_central_entry(&data, c).unwrap();
        assert_eq!(entry.usize, 10 << 40);
        let report = scan(&data);
        let codes = codes(&report);
        assert!(codes.contains(&"ARC005"), "{codes:?}");
        assert_eq!(report.members[0].format, "pickle");
        assert_eq!(report.members[0].size, PICKLE.len() as u64);
    }

    #[test]
    fn stored_size_past_the_end_is_truncated_but_analysed() {
        let mut data = build(&[("data.pkl", PICKLE, STORED)]);
        let c = find_all(&data, CENTRAL_SIG)[0];
        put32(&mut data, c + 20, 0xffff_fff0);
        put32(&mut data, c + 24, 0xffff_fff0);
        let report = scan(&data);
        assert!(codes(&report).contains(&"ARC001"), "{:?}", report.findings);
        assert_eq!(report.members[0].format, "pickle");
    }

    #[test]
    fn truncated_archive_is_recovered_from_local_headers() {
        let data = build(&[
            ("a.pkl", PICKLE, STORED),
            ("b.pkl", &PICKLE.repeat(20), DEFLATED),
        ]);
        let cd = find_all(&data, CENTRAL_SIG)[0];
        let report = scan(&data[..cd - 3]);
        let found = codes(&report);
        assert!(
            found.contains(&"ARC001") && found.contains(&"ARC010"),
            "{found:?}"
        );
        assert_eq!(members(&report).len(), 2);
        assert_eq!(report.members[0].format, "pickle");
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.message.contains("the file ends after")),
            "{:?}",
            report.findings
        );
        // Cut inside the first member's data.
        let report = scan(&data[..LOCAL_LEN + 5 + 4]);
        let found = codes(&report);
        assert!(
            found.contains(&"ARC001") && found.contains(&"ARC010"),
            "{found:?}"
        );
        assert_eq!(members(&report).len(), 1);
    }

    #[test]
    fn broken_central_directory_is_recovered() {
        let mut data = build(&[("a.pkl", PICKLE, STORED), ("b.pkl", PICKLE, STORED)]);
        let c = find_all(&data, CENTRAL_SIG)[1];
        data[c..c + 4].copy_from_slice(b"XXXX");
        let report = scan(&data);
        assert_eq!(codes(&report), ["ARC010"], "{:?}", report.findings);
        assert_eq!(report.members.len(), 2);
    }

    #[test]
    fn header_only_archives() {
        let mut eocd = END_SIG.to_vec();
        eocd.extend_from_slice(&[0; 18]);
        let report = scan(&eocd);
        assert_eq!(report.format, "zip");
        assert!(report.findings.is_empty() && report.members.is_empty());
        // Local headers and nothing else: no data, no directory.
        let mut headers = Vec::new();
        for _ in 0..3 {
            headers.extend_from_slice(LOCAL_SIG);
            headers.extend_from_slice(&[0; 26]);
        }
        let report = scan(&headers);
        assert_eq!(
            codes(&report),
            ["ARC008", "ARC010"],
            "{:?}",
            report.findings
        );
        // A local header cut short.
        let report = scan(&headers[..40]);
        assert_eq!(
            codes(&report),
            ["ARC001", "ARC010"],
            "{:?}",
            report.findings
        );
    }

    #[test]
    fn overlapping_entries_are_reported() {
        let mut data = build(&[("a.pkl", PICKLE, STORED), ("b.pkl", PICKLE, STORED)]);
        let c = find_all(&data, CENTRAL_SIG)[1];
        put32(&mut data, c + 42, 0);
        let report = scan(&data);
        let codes = codes(&report);
        assert!(codes.contains(&"ARC001"), "{codes:?}");
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.message.contains("overlap"))
        );
    }

    #[test]
    fn local_header_missing_from_the_directory_is_analysed() {
        let mut data = build(&[("a.pkl", PICKLE, STORED), ("b.pkl", PICKLE, STORED)]);
        // Drop the second central entry from the count and size.
        let c = find_all(&data, CENTRAL_SIG);
        let e = find_all(&data, END_SIG)[0];
        let second_len = (e - c[1]) as u32;
        let size = u32_at(&data, e + 12).unwrap();
        put16(&mut data, e + 8, 1);
        put16(&mut data, e + 10, 1);
        put32(&mut data, e + 12, size - second_len);
        let report = scan(&data);
        assert!(codes(&report).contains(&"ARC003"), "{:?}", report.findings);
        assert_eq!(report.members.len(), 2);
    }

    #[test]
    fn prepended_bytes_are_reported_and_offsets_shifted() {
        let zip = build(&[("a.pkl", PICKLE, STORED)]);
        let mut data = tensor_bytes();
        data.extend_from_slice(&zip);
        let report = scan(&data);
        assert_eq!(report.format, "zip");
        assert_eq!(codes(&report), ["ARC001"], "{:?}", report.findings);
        assert_eq!(report.members.len(), 1);
        assert_eq!(report.members[0].format, "pickle");
    }

    #[test]
    fn data_descriptors_are_followed() {
        // A streamed member: sizes and CRC only after the data.
        let mut w = zip::write::ZipWriter::new_stream(Vec::new());
        w.start_file(
            "archive/data.pkl",
            SimpleFileOptions::default().compression_method(STORED),
        )
        .unwrap();
        w.write_all(PICKLE).unwrap();
        w.start_file(
            "archive/x.pkl",
            SimpleFileOptions::default().compression_method(DEFLATED),
        )
        .unwrap();
        w.write_all(PICKLE).unwrap();
        let data = w.finish().unwrap().into_inner();
        let report = scan(&data);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert_eq!(report.members.len(), 2);
        // Without the directory the walk still finds both members.
        let cd = find_all(&data, CENTRAL_SIG)[0];
        let walk = walk_local(&data[..cd], &HashMap::new(), 10, 1 << 20);
        assert_eq!(walk.entries.len(), 2);
        assert!(walk.entries.iter().all(|w| w.descriptor.is_some()));
        let report = scan(&data[..cd]);
        assert_eq!(codes(&report), ["ARC010"], "{:?}", report.findings);
        assert_eq!(report.members.len(), 2);
    }

    #[test]
    fn unknown_method_is_corrupt() {
        let mut data = build(&[("a.pkl", PICKLE, STORED)]);
        let l = find_all(&data, LOCAL_SIG)[0];
        let c = find_all(&data, CENTRAL_SIG)[0];
        put16(&mut data, l + 8, 77);
        put16(&mut data, c + 10, 77);
        let report = scan(&data);
        assert_eq!(codes(&report), ["ARC001"], "{:?}", report.findings);
        // Recognisable raw content is still analysed.
        assert_eq!(report.members[0].format, "pickle");
    }

    #[test]
    fn other_compression_methods_are_read() {
        let mut exercised = 0;
        for method in [
            CompressionMethod::Bzip2,
            CompressionMethod::Zstd,
            CompressionMethod::Xz,
            CompressionMethod::Deflate64,
        ] {
            let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
            if w.start_file(
                "a.pkl",
                SimpleFileOptions::default().compression_method(method),
            )
            .is_err()
            {
                continue;
            }
            w.write_all(PICKLE).unwrap();
            let data = w.finish().unwrap().into_inner();
            let report = scan(&data);
            assert!(
                report.findings.is_empty(),
                "{method:?}: {:?}",
                report.findings
            );
            assert_eq!(report.members[0].format, "pickle", "{method:?}");
            exercised += 1;
        }
        assert!(exercised >= 3);
    }

    #[test]
    fn zip_lzma_members_are_read() {
        // The zip crate cannot write method 14, so build one: version, properties size,
        // properties, then the raw stream with an end marker (flag bit 1).
        let mut alone = lzma_rust2::LzmaWriter::new_use_header(
            Vec::new(),
            &lzma_rust2::LzmaOptions::default(),
            None,
        )
        .unwrap();
        alone.write_all(PICKLE).unwrap();
        let alone = alone.finish().unwrap();
        let mut body = vec![0x10, 0x02, 0x05, 0x00];
        body.extend_from_slice(&alone[..5]);
        body.extend_from_slice(&alone[13..]);
        let mut data = build(&[("a.pkl", &body, STORED)]);
        let l = find_all(&data, LOCAL_SIG)[0];
        let c = find_all(&data, CENTRAL_SIG)[0];
        let crc = crc32fast::hash(PICKLE);
        for (flags, method, crc_at, usize_at) in [
            (l + 6, l + 8, l + 14, l + 22),
            (c + 8, c + 10, c + 16, c + 24),
        ] {
            put16(&mut data, flags, 0x0002);
            put16(&mut data, method, METHOD_LZMA);
            put32(&mut data, crc_at, crc);
            put32(&mut data, usize_at, PICKLE.len() as u32);
        }
        let report = scan(&data);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert_eq!(
            members(&report),
            [("a.pkl".to_owned(), "pickle".to_owned())]
        );
    }

    #[test]
    fn unicode_path_extra_field_naming_another_file_is_a_differential() {
        let shown = b"../evil.pkl";
        let mut extra = vec![1u8];
        extra.extend_from_slice(&crc32fast::hash(b"safe.pkl").to_le_bytes());
        extra.extend_from_slice(shown);
        let mut options = zip::write::FullFileOptions::default().compression_method(STORED);
        options.add_extra_field(0x7075, extra, false).unwrap();
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("safe.pkl", options).unwrap();
        w.write_all(PICKLE).unwrap();
        let data = w.finish().unwrap().into_inner();
        let report = scan(&data);
        assert_eq!(
            codes(&report),
            ["ARC003", "ARC006"],
            "{:?}",
            report.findings
        );
        assert_eq!(
            members(&report),
            [("safe.pkl".to_owned(), "pickle".to_owned())]
        );
    }

    #[test]
    fn member_count_limit() {
        let mut config = Config::default();
        config.zone.max_members = 2;
        let data = build(&[
            ("a", b"1", STORED),
            ("b", b"2", STORED),
            ("c", b"3", STORED),
        ]);
        let report = scan_with(&data, &config);
        assert_eq!(codes(&report), ["ARC005"], "{:?}", report.findings);
    }

    #[test]
    fn deflate_bomb_stops_at_the_ratio() {
        let data = build(&[("zeros", &vec![b'a'; 32 << 20], DEFLATED)]);
        let report = scan(&data);
        assert_eq!(codes(&report), ["ARC005"], "{:?}", report.findings);
        assert!(report.members[0].size < 32 << 20);
    }

    #[test]
    fn garbage_never_panics() {
        let base = build(&[
            ("a.pkl", PICKLE, STORED),
            ("b.pkl", &PICKLE.repeat(9), DEFLATED),
        ]);
        let mut seed = 0x1234_5678u32;
        for round in 0..400 {
            let mut data = base.clone();
            for _ in 0..(round % 7 + 1) {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let at = seed as usize % data.len();
                data[at] = (seed >> 24) as u8;
            }
            let cut = if round % 5 == 0 {
                data.len() - round % 50
            } else {
                data.len()
            };
            let _ = scan(&data[..cut]);
        }
    }

    #[test]
    fn findings_per_rule_are_capped() {
        let names: Vec<String> = (0..300).map(|i| format!("aa/{i:04}.txt")).collect();
        let files: Vec<(&str, &[u8], CompressionMethod)> = names
            .iter()
            .map(|n| (n.as_str(), &b"x"[..], STORED))
            .collect();
        let mut data = build(&files);
        rename(&mut data, b"aa/", b"../", true, true);
        let report = scan(&data);
        let unsafe_paths = report
            .findings
            .iter()
            .filter(|f| f.rule_id == RuleId::ArchiveUnsafePath)
            .count();
        assert_eq!(unsafe_paths, 65);
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.message.contains("236 more findings"))
        );
        assert_eq!(members(&report).len(), 300);
    }

    #[test]
    fn headers_without_sizes_do_not_make_the_walk_quadratic() {
        // 50,000 stored members with data descriptors, no directory, no descriptor anywhere.
        let mut header = LOCAL_SIG.to_vec();
        header.extend_from_slice(&[20, 0, 8, 0, 0, 0]);
        header.extend_from_slice(&[0; 20]);
        let data = header.repeat(50_000);
        let started = std::time::Instant::now();
        let walk = walk_local(&data, &HashMap::new(), 100_001, 1 << 20);
        assert_eq!(walk.entries.len(), 50_000);
        assert!(started.elapsed().as_secs() < 10);
    }

    #[test]
    fn archive_cut_from_a_larger_file_is_read_with_a_negative_shift() {
        // Offsets count from the start of an enclosing file 48 bytes earlier (a zip embedded after
        // a pickle, handed over as the pickle's trailing data).
        let mut data = build(&[("a.pkl", PICKLE, STORED), ("b.pkl", PICKLE, DEFLATED)]);
        for c in find_all(&data, CENTRAL_SIG) {
            let offset = u32_at(&data, c + 42).unwrap();
            put32(&mut data, c + 42, offset + 48);
        }
        let e = find_all(&data, END_SIG)[0];
        let offset = u32_at(&data, e + 16).unwrap();
        put32(&mut data, e + 16, offset + 48);
        let report = scan(&data);
        assert!(codes(&report).is_empty(), "{:?}", report.findings);
        assert_eq!(members(&report).len(), 2);
    }
}

//! Finding the central directory, the way each loader finds it.
//!
//! * [`Reader::Zipfile`] is CPython's `zipfile` (`_EndRecData`, `_EndRecData64`,
//!   `ZipFile._RealGetContents`, unchanged from 3.8 to 3.14): the end record is the last 22 bytes
//!   when they are one with an empty comment, otherwise the *last* `PK\5\6` in the final 64 KiB +
//!   22 bytes (with fewer than 22 bytes after it the file is not a zip at all). A ZIP64 locator
//!   right before it counts only when the ZIP64 record sits right before the locator; a locator
//!   without its record is ignored. The directory is read where the end record says it ends:
//!   it starts `size` bytes before the end record (before the ZIP64 structures), and the
//!   difference from the stated offset ("concat", bytes prepended to the archive) is added to
//!   every local header offset. Entries are read until `size` bytes are consumed; the entry count
//!   is never used, and anything that is not a central header inside that span is fatal.
//! * [`Reader::Miniz`] is miniz as vendored by PyTorch (`mz_zip_reader_locate_header_sig`,
//!   `mz_zip_reader_read_central_dir`): the last `PK\5\6` with at least 22 bytes after it; a
//!   ZIP64 locator's stated record offset is used if a ZIP64 record is there (past the end of
//!   the file is fatal, elsewhere it is ignored); the directory is at the *stated* offset, no
//!   adjustment; exactly `count` entries are read and bytes left over in the stated size are
//!   accepted (slack); a stored entry whose sizes differ, or whose data would run past the end
//!   of the file, is fatal.
//! * [`Reader::EndRecord`]: every other end-record candidate in the window, read leniently
//!   (stated offset when a central header is there, else computed back from the record), so a
//!   directory that only some other reader would find is analysed too.

use memchr::memmem;

use super::records::{
    CENTRAL_LEN, CENTRAL_SIG, CentralEntry, END_LEN, END_SIG, END64_LEN, END64_LOCATOR_LEN,
    END64_LOCATOR_SIG, END64_SIG, METHOD_STORED, parse_central_entry, parse_central_entry_short,
};
use crate::bytes::ReadRef;

/// The end record sits in the last 64 KiB (the longest comment) plus its own size.
const END_WINDOW: usize = END_LEN + 0xffff;

/// Other end-record candidates read, from the last one back: enough for the stray signatures a
/// comment can hold, without letting a comment full of them multiply the work.
const MAX_OTHER_CANDIDATES: usize = 8;

/// Who reads the directory this way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reader {
    /// CPython's `zipfile` (numpy's `np.load` of `.npz`, Keras, `zipfile` users).
    Zipfile,
    /// miniz as vendored by PyTorch (`torch.load`, `torch.jit.load`).
    Miniz,
    /// Another end-of-central-directory record at this offset.
    EndRecord(usize),
}

impl Reader {
    /// The reading's name in messages and evidence.
    pub fn label(self) -> String {
        match self {
            Reader::Zipfile => "Python zipfile".to_owned(),
            Reader::Miniz => "miniz (PyTorch)".to_owned(),
            Reader::EndRecord(at) => format!("end record at offset {at}"),
        }
    }
}

/// One reading of the central directory.
#[derive(Debug)]
pub(super) struct Directory {
    pub reader: Reader,
    /// Where its end record is.
    pub end_at: usize,
    pub entries: Vec<CentralEntry>,
    /// What to add to stored local header offsets to find the headers: bytes prepended to the
    /// archive that its offsets do not account for, or (negative) bytes cut from its front.
    pub shift: i128,
    /// Where the first central header is.
    pub start: usize,
    /// Entries the end record declares.
    pub declared: u64,
    /// Why the reader refuses the archive, when it does (the entries read before are kept).
    pub problem: Option<String>,
    /// More entries than the member limit.
    pub too_many: bool,
}

impl Directory {
    /// The reader accepts the archive.
    pub fn usable(&self) -> bool {
        self.problem.is_none()
    }
}

/// A reader that finds no directory at all, and why.
#[derive(Debug)]
pub(super) struct Refused {
    pub reader: Reader,
    pub why: String,
}

/// miniz's reading alone (what `torch.jit.load` and `PyTorchFileReader` get for the whole file).
pub(super) fn miniz_reading(data: &[u8], max_entries: usize) -> Result<Directory, String> {
    let window = data.len().saturating_sub(END_WINDOW);
    let tail = data.get(window..).unwrap_or_default();
    let candidates: Vec<usize> = memmem::rfind_iter(tail, END_SIG)
        .map(|rel| window + rel)
        .collect();
    miniz(data, &candidates, max_entries)
}

/// Every reading: Python's, miniz's, then each other end-record candidate.
pub(super) fn readings(data: &[u8], max_entries: usize) -> Vec<Result<Directory, Refused>> {
    let window = data.len().saturating_sub(END_WINDOW);
    let tail = data.get(window..).unwrap_or_default();
    let candidates: Vec<usize> = memmem::rfind_iter(tail, END_SIG)
        .map(|rel| window + rel)
        .collect();
    let mut out = vec![
        zipfile(data, &candidates, max_entries).map_err(|why| Refused {
            reader: Reader::Zipfile,
            why,
        }),
        miniz(data, &candidates, max_entries).map_err(|why| Refused {
            reader: Reader::Miniz,
            why,
        }),
    ];
    let taken: Vec<usize> = out
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|d| d.end_at))
        .collect();
    for &at in candidates
        .iter()
        .filter(|at| !taken.contains(at))
        .take(MAX_OTHER_CANDIDATES)
    {
        if let Ok(dir) = lenient(data, at, max_entries) {
            out.push(Ok(dir));
        }
    }
    out
}

/// The ZIP64 end record's (entries, size, offset), at `record`.
fn end64_fields(data: &[u8], record: usize) -> Result<(u64, u64, u64), String> {
    let field = |o: usize| {
        data.u64_le(record + o)
            .map_err(|e| format!("the ZIP64 end record is truncated ({e})"))
    };
    Ok((field(32)?, field(40)?, field(48)?))
}

/// CPython's `zipfile`.
fn zipfile(data: &[u8], candidates: &[usize], max_entries: usize) -> Result<Directory, String> {
    let last = data.len().checked_sub(END_LEN);
    let end_at = match last {
        Some(at) if data.has_at(at, END_SIG) && data.u16_le(at + 20) == Ok(0) => at,
        _ => {
            let at = *candidates
                .first()
                .ok_or("no end-of-central-directory record")?;
            if at + END_LEN > data.len() {
                return Err(format!(
                    "the last end-record signature (offset {at}) is cut short by the end of the file"
                ));
            }
            at
        }
    };
    let (mut size, mut offset) = (
        u64::from(data.u32_le(end_at + 12).unwrap_or_default()),
        u64::from(data.u32_le(end_at + 16).unwrap_or_default()),
    );
    let mut declared = u64::from(data.u16_le(end_at + 10).unwrap_or_default());
    let mut dir_end = end_at as u64;
    if let Some(locator) = end_at
        .checked_sub(END64_LOCATOR_LEN)
        .filter(|&l| data.has_at(l, END64_LOCATOR_SIG))
    {
        let disk = data.u32_le(locator + 4).unwrap_or_default();
        let disks = data.u32_le(locator + 16).unwrap_or_default();
        if disk != 0 || disks > 1 {
            return Err("zipfiles that span multiple disks are not supported".to_owned());
        }
        // "Assume no 'zip64 extensible data'": the record must sit right before the locator.
        if let Some(record) = locator
            .checked_sub(END64_LEN)
            .filter(|&r| data.has_at(r, END64_SIG))
        {
            (declared, size, offset) = end64_fields(data, record)?;
            dir_end = record as u64;
        }
    }
    let start = dir_end
        .checked_sub(size)
        .and_then(|s| usize::try_from(s).ok())
        .ok_or("Bad offset for central directory")?;
    let shift = start as i128 - i128::from(offset);
    let mut dir = Directory {
        reader: Reader::Zipfile,
        end_at,
        entries: Vec::new(),
        shift,
        start,
        declared,
        problem: None,
        too_many: false,
    };
    // `fp.read(size_cd)` stops at the end of the file.
    let limit = usize::try_from(size)
        .ok()
        .and_then(|s| start.checked_add(s))
        .map_or(data.len(), |l| l.min(data.len()));
    let span = size;
    let mut pos = start;
    let mut total = 0u64;
    while total < span {
        if dir.entries.len() >= max_entries {
            dir.too_many = true;
            break;
        }
        if pos.saturating_add(CENTRAL_LEN) > limit {
            dir.problem = Some("Truncated central directory".to_owned());
            break;
        }
        if !data.has_at(pos, CENTRAL_SIG) {
            dir.problem = Some(format!(
                "Bad magic number for central directory (offset {pos})"
            ));
            break;
        }
        // Versions past 6.3 are refused outright.
        if data.read_u8(pos + 6).unwrap_or_default() > 63 {
            dir.problem = Some("the zip file version is over 6.3 (NotImplementedError)".to_owned());
            break;
        }
        // Name, extra field and comment are read from the directory's bytes: cut short by
        // their end, they are read short (`BytesIO.read`), not refused.
        let directory = data.get(..limit).unwrap_or_default();
        match parse_central_entry_short(directory, pos) {
            Ok((entry, next)) => {
                if let Err(why) = check_extra(directory, pos) {
                    dir.problem = Some(why);
                    break;
                }
                total = total.saturating_add((next - pos) as u64);
                dir.entries.push(entry);
                pos = next;
            }
            Err(why) => {
                dir.problem = Some(why);
                break;
            }
        }
    }
    Ok(dir)
}

/// `ZipInfo._decodeExtra`: an extra field whose length runs past the extra data is fatal.
fn check_extra(data: &[u8], at: usize) -> Result<(), String> {
    let name_len = usize::from(data.u16_le(at + 28).unwrap_or_default());
    let extra_len = usize::from(data.u16_le(at + 30).unwrap_or_default());
    let from = at + CENTRAL_LEN + name_len;
    let extra = data
        .read_at(from, extra_len)
        .or_else(|_| data.get(from.min(data.len())..).ok_or(()))
        .unwrap_or_default();
    let mut pos = 0usize;
    while extra.len().saturating_sub(pos) >= 4 {
        let len = usize::from(extra.u16_le(pos + 2).unwrap_or_default());
        if pos + 4 + len > extra.len() {
            return Err(format!("Corrupt extra field (entry at offset {at})"));
        }
        pos += 4 + len;
    }
    Ok(())
}

/// miniz, as PyTorch vendors it.
fn miniz(data: &[u8], candidates: &[usize], max_entries: usize) -> Result<Directory, String> {
    let end_at = *candidates
        .iter()
        .find(|&&at| data.len() - at >= END_LEN)
        .ok_or("no end-of-central-directory record")?;
    let e16 = |o| u64::from(data.u16_le(end_at + o).unwrap_or_default());
    let e32 = |o| u64::from(data.u32_le(end_at + o).unwrap_or_default());
    let (mut total, mut on_disk, mut this_disk, mut dir_disk, mut size, mut offset) =
        (e16(10), e16(8), e16(4), e16(6), e32(12), e32(16));
    if end_at >= END64_LOCATOR_LEN + END64_LEN
        && data.has_at(end_at - END64_LOCATOR_LEN, END64_LOCATOR_SIG)
    {
        let stated = data
            .u64_le(end_at - END64_LOCATOR_LEN + 8)
            .unwrap_or(u64::MAX);
        if stated > (data.len() - END64_LEN) as u64 {
            return Err(format!(
                "the ZIP64 locator points past the end of the file (offset {stated})"
            ));
        }
        let record = usize::try_from(stated).unwrap_or(usize::MAX);
        if data.has_at(record, END64_SIG) {
            let r64 = |o| data.u64_le(record + o).unwrap_or_default();
            let r32 = |o| u64::from(data.u32_le(record + o).unwrap_or_default());
            (total, on_disk, this_disk, dir_disk, size, offset) =
                (r64(32), r64(24), r32(16), r32(20), r64(40), r64(48));
        }
    }
    if total != on_disk {
        return Err(format!(
            "the end record declares {total} entries in all but {on_disk} on this disk"
        ));
    }
    if (this_disk | dir_disk) != 0 && (this_disk != 1 || dir_disk != 1) {
        return Err("the archive spans several disks".to_owned());
    }
    if size < total.saturating_mul(CENTRAL_LEN as u64) {
        return Err(format!(
            "a central directory of {size} bytes cannot hold {total} entries"
        ));
    }
    if offset.saturating_add(size) > data.len() as u64 {
        return Err(format!(
            "the central directory (offset {offset}, {size} bytes) runs past the end of the file"
        ));
    }
    let start = usize::try_from(offset).map_err(|_| "the directory offset overflows")?;
    let mut dir = Directory {
        reader: Reader::Miniz,
        end_at,
        entries: Vec::new(),
        shift: 0,
        start,
        declared: total,
        problem: None,
        too_many: false,
    };
    let mut left = size;
    let mut pos = start;
    for _ in 0..total {
        if dir.entries.len() >= max_entries {
            dir.too_many = true;
            break;
        }
        if left < CENTRAL_LEN as u64 || !data.has_at(pos, CENTRAL_SIG) {
            dir.problem = Some(format!("no central header at offset {pos}"));
            break;
        }
        let (entry, next) = match parse_central_entry(data, pos) {
            Ok(parsed) => parsed,
            Err(why) => {
                dir.problem = Some(why);
                break;
            }
        };
        let header = (next - pos) as u64;
        if let Err(why) = miniz_entry_checks(data, &entry, header, left) {
            dir.problem = Some(why);
            break;
        }
        left -= header;
        dir.entries.push(entry);
        pos = next;
    }
    Ok(dir)
}

/// The per-entry checks of `mz_zip_reader_read_central_dir`.
fn miniz_entry_checks(data: &[u8], e: &CentralEntry, header: u64, left: u64) -> Result<(), String> {
    let name = String::from_utf8_lossy(&e.name);
    let raw_c = data.u32_le(e.at + 20).unwrap_or_default();
    let raw_u = data.u32_le(e.at + 24).unwrap_or_default();
    if raw_c != u32::MAX
        && raw_u != u32::MAX
        && ((e.method == METHOD_STORED && raw_u != raw_c) || (raw_u != 0 && raw_c == 0))
    {
        return Err(format!(
            "entry `{name}` declares sizes miniz refuses ({raw_c} compressed, {raw_u} uncompressed)"
        ));
    }
    if raw_c != u32::MAX {
        let local = u64::from(data.u32_le(e.at + 42).unwrap_or_default());
        if local + 30 + u64::from(raw_c) > data.len() as u64 {
            return Err(format!(
                "entry `{name}`'s data would run past the end of the file"
            ));
        }
    }
    if e.flags & 0x2000 != 0 {
        return Err(format!("entry `{name}` has masked local headers"));
    }
    if header > left {
        return Err(format!(
            "entry `{name}` runs past the size the end record gives the directory"
        ));
    }
    Ok(())
}

/// Any other end record: the stated offset when a central header is there, else the directory
/// computed back from the record.
fn lenient(data: &[u8], end_at: usize, max_entries: usize) -> Result<Directory, String> {
    let end = data
        .read_at(end_at, END_LEN)
        .map_err(|_| "the end record is truncated")?;
    let declared = u64::from(end.u16_le(10).unwrap_or_default());
    let size = u64::from(end.u32_le(12).unwrap_or_default());
    let offset = u64::from(end.u32_le(16).unwrap_or_default());
    let stated = usize::try_from(offset)
        .ok()
        .filter(|&p| data.has_at(p, CENTRAL_SIG));
    let (start, shift) = match stated {
        Some(p) => (p, 0),
        None => {
            let back = (end_at as u64)
                .checked_sub(size)
                .and_then(|p| usize::try_from(p).ok())
                .filter(|&p| data.has_at(p, CENTRAL_SIG))
                .ok_or("no central directory where this end record says")?;
            (back, back as i128 - i128::from(offset))
        }
    };
    let mut dir = Directory {
        reader: Reader::EndRecord(end_at),
        end_at,
        entries: Vec::new(),
        shift,
        start,
        declared,
        problem: None,
        too_many: false,
    };
    let mut pos = start;
    while data.has_at(pos, CENTRAL_SIG) && pos < end_at {
        if dir.entries.len() >= max_entries {
            dir.too_many = true;
            break;
        }
        match parse_central_entry(data, pos) {
            Ok((entry, next)) => {
                dir.entries.push(entry);
                pos = next;
            }
            Err(why) => {
                dir.problem = Some(why);
                break;
            }
        }
    }
    Ok(dir)
}

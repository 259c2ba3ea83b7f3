//! The local-header walk: the archive as a streaming reader sees it (Java's `ZipInputStream`,
//! `stream-unzip`, `unzip -` on a pipe, recovery tools), from the first local header to the end
//! of the file. A central directory or end record met on the way does not stop the walk: local
//! headers after it (a second archive appended, members hidden behind a directory) are read
//! too.

use std::collections::HashMap;

use memchr::memmem;

use super::records::{
    CENTRAL_SIG, DESCRIPTOR_SIG, Descriptor, END_SIG, END64_LOCATOR_SIG, END64_SIG,
    FLAG_DESCRIPTOR, LOCAL_SIG, LocalHeader, METHOD_DEFLATE, descriptor_at, parse_local,
};
use crate::bytes::ReadRef;

/// A member found by walking the local headers.
#[derive(Debug, Clone)]
pub(super) struct Walked {
    pub header: LocalHeader,
    /// End of the member data (clamped to the file).
    pub data_end: usize,
    /// The declared data runs past the end of the file.
    pub truncated: bool,
    pub descriptor: Option<Descriptor>,
}

#[derive(Debug, Default)]
pub(super) struct Walk {
    pub entries: Vec<Walked>,
    /// Where the first local header is.
    pub first: Option<usize>,
    /// Structural problems met on the way: offset and description.
    pub problems: Vec<(usize, String)>,
    pub too_many: bool,
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

/// Walks the local headers from the first one to the end of the file. `hints` maps local
/// header offsets to the compressed sizes central directories give them (for members whose
/// local header defers its size to a data descriptor).
pub(super) fn walk_local(
    data: &[u8],
    hints: &HashMap<usize, u64>,
    max_entries: usize,
    cap: u64,
) -> Walk {
    let mut walk = Walk::default();
    let Some(mut pos) = memmem::find(data, LOCAL_SIG) else {
        return walk;
    };
    walk.first = Some(pos);
    while pos < data.len() {
        if data.has_at(pos, LOCAL_SIG) {
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
            let (entry, next) = walk_member(data, header, hints, cap, &mut walk.problems);
            let truncated = entry.truncated;
            walk.entries.push(entry);
            if truncated {
                break;
            }
            pos = next.max(pos + 1);
        } else if [CENTRAL_SIG, END_SIG, END64_SIG, END64_LOCATOR_SIG]
            .iter()
            .any(|sig| data.has_at(pos, sig))
        {
            // A directory is not the end of what a streaming reader may meet: carry on at the
            // next local header after it, if there is one.
            match data
                .get(pos + 4..)
                .and_then(|rest| memmem::find(rest, LOCAL_SIG))
            {
                Some(rel) => pos += 4 + rel,
                None => break,
            }
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

/// Reads one walked member's extent; returns it and where the walk goes next.
fn walk_member(
    data: &[u8],
    header: LocalHeader,
    hints: &HashMap<usize, u64>,
    cap: u64,
    problems: &mut Vec<(usize, String)>,
) -> (Walked, usize) {
    let pos = header.at;
    let start = header.data_start.min(data.len());
    let sized = header.flags & FLAG_DESCRIPTOR == 0 || header.csize != 0;
    // Without a size, nothing may be searched past the next header: that keeps the walk linear
    // however the headers lie.
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
                problems.push((
                    pos,
                    "the end of a member with a data descriptor could not be found".to_owned(),
                ));
            }
            (end, false, d, next)
        }
    };
    if header.flags & FLAG_DESCRIPTOR != 0
        && descriptor.is_none()
        && let Some((d, after)) = descriptor_at(data, data_end, data_end - start, header.zip64)
    {
        descriptor = Some(d);
        next = after;
    }
    (
        Walked {
            header,
            data_end,
            truncated,
            descriptor,
        },
        next,
    )
}

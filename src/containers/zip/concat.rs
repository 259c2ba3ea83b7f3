//! Zip archives written back to back. `torch.distributed.checkpoint` (DCP) saves each item of a
//! rank's state as its own `torch.save` archive and appends them to one `.distcp` file; the
//! `.metadata` pickle beside it records each item's offset and length, and the loader opens
//! every item as the archive it is. Read as one zip, the file is an archive with dozens of
//! unlisted local headers and duplicate names, which is what it is not.
//!
//! The split is strict: the file starts with a local header; each archive ends at an end record
//! whose central directory (ZIP64 records honoured) lies exactly between the archive's start
//! plus the directory's stated offset and the end record, starting with a central header; the
//! next archive starts right after the end record and its comment, and the last one ends the
//! file. Anything else is not split, and is read as one zip as before. Every archive is
//! analysed as a member of its own (its byte range in the name), so nothing of the file goes
//! unread; `zipfile` (and so `torch.load`) reading the whole file sees the last archive only.

use std::io::Read;

use crate::bytes::ReadRef;
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, MemberKind};

const LOCAL: &[u8] = b"PK\x03\x04";
const CENTRAL: &[u8] = b"PK\x01\x02";
const END: &[u8] = b"PK\x05\x06";
const END64: &[u8] = b"PK\x06\x06";
const LOCATOR64: &[u8] = b"PK\x06\x07";
/// The part of the `.metadata` beside a shard read to tell that it is DCP's.
const METADATA_HEAD: u64 = 1 << 16;

/// The byte ranges of the archives `data` is made of, when it is two or more zips back to back
/// (at most `max` of them).
pub(super) fn split(data: &[u8], max: usize) -> Option<Vec<(usize, usize)>> {
    if !data.starts_with(LOCAL) || last_archive_start(data)? == 0 {
        return None;
    }
    let mut parts = Vec::new();
    let mut start = 0;
    for end_at in memchr::memmem::find_iter(data, END) {
        if end_at < start {
            continue;
        }
        let Some(end) = archive_end(data, start, end_at) else {
            continue;
        };
        parts.push((start, end));
        if end == data.len() {
            break;
        }
        if parts.len() >= max || !data.get(end..)?.starts_with(LOCAL) {
            return None;
        }
        start = end;
    }
    (parts.len() >= 2 && parts.last().is_some_and(|&(_, end)| end == data.len())).then_some(parts)
}

/// Where the archive that ends the file starts, found from its end record (within the last
/// 64 KiB, the comment's reach) as `zipfile` finds it: the directory ends at the end record (or
/// its ZIP64 records) and starts its stated size before, and the archive its stated offset
/// before that. Zero for an ordinary zip, which is then not searched any further: a
/// multi-gigabyte checkpoint is not read through for end records.
fn last_archive_start(data: &[u8]) -> Option<usize> {
    let from = data.len().saturating_sub(22 + usize::from(u16::MAX));
    let tail = data.get(from..)?;
    let end_at = from + memchr::memmem::rfind(tail, END)?;
    let mut cd_size = u64::from(data.u32_le(end_at + 12).ok()?);
    let mut cd_offset = u64::from(data.u32_le(end_at + 16).ok()?);
    let mut dir_end = end_at;
    if let Some(locator) = end_at.checked_sub(20)
        && data.has_at(locator, LOCATOR64)
    {
        let record = locator.checked_sub(56)?;
        if data.has_at(record, END64) {
            cd_size = data.u64_le(record + 40).ok()?;
            cd_offset = data.u64_le(record + 48).ok()?;
            dir_end = record;
        }
    }
    let cd_start = dir_end.checked_sub(usize::try_from(cd_size).ok()?)?;
    cd_start.checked_sub(usize::try_from(cd_offset).ok()?)
}

/// Where the archive starting at `start` ends, if the end record at `end_at` is its own.
fn archive_end(data: &[u8], start: usize, end_at: usize) -> Option<usize> {
    let comment = usize::from(data.u16_le(end_at + 20).ok()?);
    let end = end_at.checked_add(22)?.checked_add(comment)?;
    if end > data.len() {
        return None;
    }
    let entries = u64::from(data.u16_le(end_at + 10).ok()?);
    let mut cd_size = u64::from(data.u32_le(end_at + 12).ok()?);
    let mut cd_offset = u64::from(data.u32_le(end_at + 16).ok()?);
    let mut entries = entries;
    let mut dir_end = end_at;
    // ZIP64: the locator right before the end record names the ZIP64 end record, relative to
    // the archive's start; its values are the real ones.
    if let Some(locator) = end_at.checked_sub(20).filter(|&l| l >= start)
        && data.has_at(locator, LOCATOR64)
    {
        let record = usize::try_from(data.u64_le(locator + 8).ok()?)
            .ok()?
            .checked_add(start)?;
        if record >= locator || !data.has_at(record, END64) {
            return None;
        }
        entries = data.u64_le(record + 32).ok()?;
        cd_size = data.u64_le(record + 40).ok()?;
        cd_offset = data.u64_le(record + 48).ok()?;
        dir_end = record;
    }
    let cd_start = usize::try_from(cd_offset).ok()?.checked_add(start)?;
    let cd_end = cd_start.checked_add(usize::try_from(cd_size).ok()?)?;
    (entries > 0 && cd_end == dir_end && data.has_at(cd_start, CENTRAL)).then_some(end)
}

/// Whether a DCP `.metadata` pickle is beside the file at `path`.
fn dcp_metadata_beside(path: &std::path::Path) -> bool {
    let mut head = Vec::new();
    let read = std::fs::File::open(path.with_file_name(".metadata"))
        .and_then(|f| f.take(METADATA_HEAD).read_to_end(&mut head));
    read.is_ok()
        && head.first() == Some(&0x80)
        && memchr::memmem::find(&head, b"torch.distributed.checkpoint.metadata").is_some()
}

/// Analyses `data` as archives back to back, each as a member of its own; `false` when it is
/// not made of two or more archives.
pub fn analyse_concatenated(data: &[u8], ctx: &mut Ctx<'_>) -> bool {
    let max = usize::try_from(ctx.config().zone.max_members).unwrap_or(usize::MAX);
    let Some(parts) = split(data, max) else {
        return false;
    };
    let count = parts.len();
    let owned = ctx.disk_path().is_some_and(dcp_metadata_beside);
    if owned {
        ctx.report(
            RuleId::ArchiveDcpShard,
            None,
            format!("a torch.distributed.checkpoint shard: {count} torch.save archives back to back, which the `.metadata` beside it indexes; each was analysed as an archive of its own"),
            None,
        );
    } else {
        ctx.report(
            RuleId::ArchiveConcatenated,
            None,
            format!("{count} zip archives back to back; `zipfile` and `torch.load` read only the last one, streaming readers every one; each was analysed as an archive of its own"),
            Some(format!("{count} archives")),
        );
    }
    for (i, &(start, end)) in parts.iter().enumerate() {
        let Some(bytes) = data.get(start..end) else {
            continue;
        };
        ctx.nested(
            &format!("archive {} of {count} (bytes {start}..{end})", i + 1),
            bytes,
            MemberKind::File,
        );
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(name: &str, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(&mut out));
        w.start_file(
            name,
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored),
        )
        .unwrap();
        std::io::Write::write_all(&mut w, body).unwrap();
        w.finish().unwrap();
        out
    }

    #[test]
    fn splits_archives_back_to_back_and_nothing_else() {
        let a = zip_of("a/data.pkl", b"one");
        let b = zip_of("b/data.pkl", b"two");
        let mut both = a.clone();
        both.extend(&b);
        assert_eq!(
            split(&both, 100),
            Some(vec![(0, a.len()), (a.len(), both.len())])
        );
        // One archive, a limit of one, trailing bytes, or a gap are not split.
        assert_eq!(split(&a, 100), None);
        assert_eq!(split(&both, 1), None);
        let mut tail = both.clone();
        tail.extend(b"junk");
        assert_eq!(split(&tail, 100), None);
        let mut gap = a.clone();
        gap.extend(b"junk");
        gap.extend(&b);
        assert_eq!(split(&gap, 100), None);
        // An archive stored inside another is a member, not a split point.
        let nested = zip_of("outer.zip", &a);
        assert_eq!(split(&nested, 100), None);
        for cut in 0..both.len() {
            let _ = split(&both[..cut], 100);
            let _ = split(&both[cut..], 100);
        }
    }
}

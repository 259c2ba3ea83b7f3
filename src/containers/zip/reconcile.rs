//! Putting the readings together: every member a directory reading or the local-header walk
//! yields is analysed (each reading of an entry as the reader makes it: sizes and method from
//! the directory, data from where its local header says, and the local header's own view when
//! it differs), and where readings disagree, that disagreement is a finding naming both.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::central::{Directory, Reader};
use super::decode::{self, Reading};
use super::records::{
    CentralEntry, FLAG_DESCRIPTOR, FLAG_ENCRYPTED, FLAG_PATCHED, FLAG_STRONG, LocalHeader,
    parse_local,
};
use super::walk::{Walk, Walked};
use crate::containers::members::Names;
use crate::detect;
use crate::model::Format;
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, LimitHit, MemberKind};

pub(super) struct Analysis<'d, 'c, 'x> {
    pub data: &'d [u8],
    pub ctx: &'c mut Ctx<'x>,
    pub names: Names,
    /// Members that are raw tensor storages: named by a persistent id of the pickle beside them.
    pub storages: HashSet<Vec<u8>>,
    /// Byte ranges already analysed, with the method and kind (overlapping entries are read once).
    pub done: HashSet<(usize, usize, u16, bool)>,
    /// SHA-256 (and kind) of every inflated member already analysed.
    pub contents: HashSet<([u8; 32], bool)>,
    /// Entries already read through an earlier directory reading: local header, compressed
    /// size, method.
    pub entries_seen: HashSet<(usize, u64, u16)>,
    /// Symbolic links whose target is known (a stored member's data), judged once all are
    /// known (`members::report_links`).
    pub links: Vec<crate::containers::members::LinkMember>,
}

/// A directory entry as one reading sees it, for comparing readings.
type EntryKey = (Vec<u8>, Option<usize>, u64, u16);

fn keys(dir: &Directory) -> Vec<EntryKey> {
    dir.entries
        .iter()
        .map(|e| (e.name.clone(), e.local_at(dir.shift), e.csize, e.method))
        .collect()
}

/// Names of up to four entries, for messages.
fn some_names(keys: &[&EntryKey]) -> String {
    let mut shown: Vec<String> = keys
        .iter()
        .take(4)
        .map(|k| format!("`{}`", String::from_utf8_lossy(&k.0)))
        .collect();
    if keys.len() > 4 {
        shown.push(format!("and {} more", keys.len() - 4));
    }
    if shown.is_empty() {
        "nothing".to_owned()
    } else {
        shown.join(", ")
    }
}

/// Reports where two readings that both accept the archive see different members.
pub(super) fn report_disagreement(ctx: &mut Ctx<'_>, a: &Directory, b: &Directory) {
    let (ka, kb) = (keys(a), keys(b));
    // Sets for the lookups: two readings of an archive of 70,000 members are compared in
    // linear time, not 4.9 billion comparisons.
    let (set_a, set_b): (HashSet<&EntryKey>, HashSet<&EntryKey>) =
        (ka.iter().collect(), kb.iter().collect());
    let only_a: Vec<&EntryKey> = ka.iter().filter(|k| !set_b.contains(k)).collect();
    let only_b: Vec<&EntryKey> = kb.iter().filter(|k| !set_a.contains(k)).collect();
    if only_a.is_empty() && only_b.is_empty() {
        return;
    }
    let (la, lb) = (a.reader.label(), b.reader.label());
    ctx.report(
        RuleId::ArchiveReadersDisagree,
        Some(b.end_at as u64),
        format!(
            "{la} (end record at offset {}, directory at {}) and {lb} (end record at offset {}, directory at {}) read different members: only {la} sees {}; only {lb} sees {}; every member of both readings was analysed",
            a.end_at,
            a.start,
            b.end_at,
            b.start,
            some_names(&only_a),
            some_names(&only_b)
        ),
        Some(format!("{la} vs {lb}")),
    );
}

/// Reports a reader that refuses an archive another reader accepts.
pub(super) fn report_refusal(ctx: &mut Ctx<'_>, refused: Reader, why: &str, accepted: &Directory) {
    let (lr, la) = (refused.label(), accepted.reader.label());
    ctx.report(
        RuleId::ArchiveReadersDisagree,
        None,
        format!(
            "{lr} refuses this archive ({why}) while {la} reads {} members from it; scanners built on one reader can be blinded to what the other loads. Every member {la} reads was analysed",
            accepted.entries.len()
        ),
        Some(format!("{lr} vs {la}")),
    );
}

/// Whether the directory (end record and central headers) lies inside the data of one member of
/// `outer`: an archive stored as a member, which is analysed as that member, not a second
/// reading of the file.
pub(super) fn inside_a_member(data: &[u8], dir: &Directory, outer: &Directory) -> bool {
    outer.entries.iter().any(|e| {
        let Some(h) = e
            .local_at(outer.shift)
            .and_then(|at| parse_local(data, at).ok())
        else {
            return false;
        };
        let end = (h.data_start as u64).saturating_add(e.csize);
        (h.data_start as u64) <= dir.start as u64 && (dir.end_at as u64) < end
    })
}

/// A `torch.export.save` (`.pt2`) archive's weight and constant configurations: each names the
/// files of its folder that hold one tensor's raw bytes (or, with `use_pickle`, a `torch.save`
/// of it, which detection still follows as content that can carry code).
const PT2_CONFIGS: [(&[u8], &[u8]); 2] = [
    (b"data/weights/", b"data/weights/model_weights_config.json"),
    (
        b"data/constants/",
        b"data/constants/model_constants_config.json",
    ),
];
/// Entries of one configuration read.
const MAX_PT2_ENTRIES: usize = 1 << 20;

/// The `path_name`s of a pt2 weight or constant configuration (`{"config": {name: {"path_name":
/// ...}}}`): plain file names of the configuration's own folder.
fn pt2_paths(json: &[u8]) -> Vec<String> {
    let Ok(serde_json::Value::Object(top)) = serde_json::from_slice::<serde_json::Value>(json)
    else {
        return Vec::new();
    };
    let Some(serde_json::Value::Object(config)) = top.get("config") else {
        return Vec::new();
    };
    config
        .values()
        .take(MAX_PT2_ENTRIES)
        .filter_map(|entry| entry.get("path_name")?.as_str())
        .filter(|p| !p.is_empty() && !p.contains(['/', '\\']) && *p != "." && *p != "..")
        .map(str::to_owned)
        .collect()
}

/// The members PyTorch reads as raw tensor storage: `<dir>/data/<key>` (and `<dir>/constants/`
/// for TorchScript) where `<key>` is a string of a pickle beside it (`<dir>/data.pkl`,
/// `<dir>/constants.pkl`) that loads persistent ids. A `data.pkl` that references no storage
/// makes nothing opaque.
pub(super) fn torch_storages(
    data: &[u8],
    dirs: &[&Directory],
    limits: &crate::config::ZoneLimits,
) -> HashSet<Vec<u8>> {
    let mut storages = HashSet::new();
    for dir in dirs {
        for e in &dir.entries {
            if let Some((folder, base)) = PT2_CONFIGS
                .iter()
                .find_map(|(folder, config)| Some((*folder, e.name.strip_suffix(*config)?)))
            {
                if let Some(bytes) = central_reading(data, e, dir.shift)
                    .and_then(|reading| decode::peek(&reading, limits))
                {
                    for path in pt2_paths(&bytes) {
                        let mut name = base.to_vec();
                        name.extend_from_slice(folder);
                        name.extend_from_slice(path.as_bytes());
                        storages.insert(name);
                    }
                }
                continue;
            }
            let Some(base) = [&b"data.pkl"[..], b"constants.pkl"]
                .iter()
                .find_map(|p| e.name.strip_suffix(*p))
            else {
                continue;
            };
            if !(base.is_empty() || base.ends_with(b"/")) {
                continue;
            }
            let Some(reading) = central_reading(data, e, dir.shift) else {
                continue;
            };
            let Some(bytes) = decode::peek(&reading, limits) else {
                continue;
            };
            for key in crate::formats::pickle::persistent_keys(&bytes) {
                for folder in [&b"data/"[..], b"constants/"] {
                    let mut name = base.to_vec();
                    name.extend_from_slice(folder);
                    name.extend_from_slice(&key);
                    storages.insert(name);
                }
            }
        }
    }
    storages
}

/// How miniz and Python read a central entry's bytes: sizes and method from the directory, the
/// data from after the local header the entry points at.
pub(super) fn central_reading<'a>(
    data: &'a [u8],
    e: &CentralEntry,
    shift: i128,
) -> Option<Reading<'a>> {
    let header = parse_local(data, e.local_at(shift)?).ok()?;
    Some(primary_reading(data, e, &header))
}

fn primary_reading<'a>(data: &'a [u8], e: &CentralEntry, header: &LocalHeader) -> Reading<'a> {
    let start = header.data_start;
    let declared_end = (start as u64).saturating_add(e.csize);
    let end = usize::try_from(declared_end)
        .unwrap_or(usize::MAX)
        .min(data.len());
    Reading {
        name: e.name.clone(),
        at: header.at,
        flags: e.flags,
        method: e.method,
        crc: e.crc,
        usize: e.usize,
        csize: e.csize,
        raw: data.get(start.min(end)..end).unwrap_or_default(),
        truncated: declared_end > data.len() as u64,
        mode: e.external >> 16,
        alternate: false,
        verifiable: true,
    }
}

/// The reading a streaming reader makes of a walked local header.
pub(super) fn local_reading<'a>(data: &'a [u8], w: &Walked, alternate: bool) -> Reading<'a> {
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
pub(super) fn strict_cross_check(data: &[u8], cd: &Directory, ctx: &mut Ctx<'_>) {
    let read = |config: zip::read::Config| {
        catch_unwind(AssertUnwindSafe(|| {
            zip::ZipArchive::with_config(config, Cursor::new(data))
                .map(|z| z.file_names_raw().map(<[u8]>::to_vec).collect::<Vec<_>>())
                .map_err(|e| e.to_string())
        }))
        .unwrap_or_else(|_| Err("the zip reader failed".to_owned()))
    };
    // The `zip` crate (9.8) ignores ZIP64 end records in front of an end record whose fields
    // fit in 32 bits, and first looks for the directory where its size puts it before the end
    // record: 76 bytes (the ZIP64 record and locator) too late, which is a central header
    // whenever the first entry is 76 bytes long. PyTorch writes the ZIP64 records into every
    // archive, so a `torch.save` or `torch.export.save` archive whose first member name is 30
    // bytes long is refused. Python's `zipfile` subtracts the ZIP64 records; told the archive's
    // offset (where our own reading found it), the crate reads the directory where `zipfile`
    // does, and only a refusal of that reading is the strict readers' refusal.
    let strict = read(zip::read::Config::default()).or_else(|why| match u64::try_from(cd.shift) {
        Ok(offset) if cd.usable() => read(zip::read::Config {
            archive_offset: zip::read::ArchiveOffset::Known(offset),
        })
        .map_err(|_| why),
        _ => Err(why),
    });
    match strict {
        Err(why) => ctx.report(
            RuleId::ArchiveCorrupt,
            Some(cd.start as u64),
            format!("strict zip readers refuse this archive ({why}); lenient readers such as PyTorch's load it, and the scanner analysed what they see"),
            None,
        ),
        Ok(names) => {
            let ours: HashSet<&[u8]> = cd.entries.iter().map(|e| e.name.as_slice()).collect();
            // Past the member limit only the first entries were read: compare those alone
            // (the strict reader keeps directory order), or every later name would differ.
            let compared = if cd.too_many {
                cd.entries.len()
            } else {
                names.len()
            };
            let mut checks = Names::default();
            for name in names
                .iter()
                .take(compared)
                .filter(|n| !ours.contains(n.as_slice()))
            {
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
pub(super) fn prefix(data: &[u8], first: usize, ctx: &mut Ctx<'_>) {
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
    pub(super) fn kind(&self, name: &[u8]) -> MemberKind {
        if self.storages.contains(name) {
            MemberKind::Opaque
        } else {
            MemberKind::File
        }
    }

    /// Members that only local headers know about. `report`: a directory is usable, so a
    /// header it does not list is a disagreement.
    pub(super) fn local_only(&mut self, claimed: &HashSet<usize>, report: bool, walk: &Walk) {
        for w in walk
            .entries
            .iter()
            .filter(|w| !claimed.contains(&w.header.at))
        {
            if report {
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

    /// The members of one directory reading. `label`: the reading's name, for members that an
    /// earlier reading did not have (`None` for the first reading).
    pub(super) fn directory_members(
        &mut self,
        dir: &Directory,
        walk: &Walk,
        label: Option<&str>,
    ) -> Result<(), LimitHit> {
        let walked: HashMap<usize, &Walked> =
            walk.entries.iter().map(|w| (w.header.at, w)).collect();
        let mut ranges: Vec<(usize, usize, usize)> = Vec::new();
        let mut read_here: Vec<(usize, u64, u16)> = Vec::new();
        for (index, e) in dir.entries.iter().enumerate() {
            let at = e.local_at(dir.shift);
            if let Some(at) = at {
                if self.entries_seen.contains(&(at, e.csize, e.method)) {
                    continue;
                }
                read_here.push((at, e.csize, e.method));
            }
            let header = match at.map(|at| parse_local(self.data, at)) {
                Some(Ok(h)) => h,
                Some(Err(why)) => {
                    self.unreadable_entry(e, dir.shift, &why, label);
                    continue;
                }
                None => {
                    self.unreadable_entry(e, dir.shift, "the offset overflows", label);
                    continue;
                }
            };
            let mut primary = primary_reading(self.data, e, &header);
            let end = usize::try_from((header.data_start as u64).saturating_add(e.csize))
                .unwrap_or(usize::MAX)
                .min(self.data.len());
            ranges.push((header.at, end.max(header.data_start), index));
            let walked = walked.get(&header.at).copied();
            self.compare(e, &header, walked);
            if let Some(label) = label {
                primary
                    .name
                    .extend_from_slice(format!(" ({label} reading)").as_bytes());
                primary.alternate = true;
            }
            let local = match walked {
                Some(w) => Some(local_reading(self.data, w, true)),
                None if header.flags & FLAG_DESCRIPTOR == 0 => {
                    let end = (header.data_start as u64).saturating_add(header.csize);
                    let w = Walked {
                        data_end: usize::try_from(end)
                            .unwrap_or(usize::MAX)
                            .min(self.data.len()),
                        truncated: end > self.data.len() as u64,
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
                    if local.name == e.name {
                        local.name.extend_from_slice(b" (local header)");
                    }
                    self.member(&local)?;
                }
            }
        }
        if label.is_none() {
            self.overlaps(&mut ranges, &dir.entries);
        }
        self.entries_seen.extend(read_here);
        Ok(())
    }

    fn unreadable_entry(&mut self, e: &CentralEntry, shift: i128, why: &str, label: Option<&str>) {
        let name = self
            .names
            .check(self.ctx, &e.name, Some(e.at as u64), label.is_none());
        let reading = label.map_or(String::new(), |l| format!(" in the {l} reading"));
        self.names.budget.report(
            self.ctx,
            RuleId::ArchiveCorrupt,
            Some(e.at as u64),
            format!(
                "member `{name}`{reading} points at offset {} where there is no valid local header ({why}); it was not analysed",
                i128::from(e.local_offset) + shift
            ),
            None,
        );
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
}

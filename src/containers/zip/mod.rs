//! Zip archives, including PyTorch checkpoints and NumPy `.npz` files.
//!
//! Readers disagree about zip files, and attacks live in the disagreement. So the archive is
//! read every way a loader reads it (which loader reads which way, with the source functions,
//! is in `docs/readers.md`):
//!
//! * `central`: the central directory as CPython's `zipfile` finds it (computed back from the
//!   end record, prepended bytes shifting every offset), as miniz (PyTorch) finds it (at the
//!   stated offset, `count` entries, slack accepted), and through every other end-record
//!   candidate near the end of the file;
//! * `walk`: the local headers from the first one to the end of the file, as a streaming reader
//!   sees them (not stopping at a central directory);
//! * the `zip` crate as a strict reader, whose refusal or differing names are findings.
//!
//! `reconcile` analyses every member any reading yields (the same bytes once) and reports where
//! readings disagree (ARC011, naming both readings; ARC003 between a local header and its
//! directory entry). `decode` reads one member: stored members are slices of the input,
//! compressed ones are inflated within the zone's limits and what was inflated before a limit
//! is analysed. `records` parses the records themselves.
#![deny(clippy::indexing_slicing, clippy::cast_possible_truncation)] // a binary parser: hostile offsets and sizes

mod central;
mod concat;
mod decode;
mod reconcile;
mod records;
mod walk;

pub use decode::MemberBytes;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use central::{Directory, Reader};
pub use concat::analyse_concatenated;
use reconcile::Analysis;

use crate::containers::members::Names;
use crate::model::rules::RuleId;
use crate::scan::context::Ctx;

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let limits = ctx.config().zone.clone();
    let max_entries = usize::try_from(limits.max_members)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let all = central::readings(data, max_entries);
    let found: Vec<&Directory> = all.iter().filter_map(|r| r.as_ref().ok()).collect();
    // The reading members are named after: the first reader that accepts the archive, else the
    // first that read anything.
    let primary = found
        .iter()
        .copied()
        .find(|d| d.usable())
        .or_else(|| found.iter().copied().find(|d| !d.entries.is_empty()));
    // Another reading whose directory lies inside one member of the primary reading is an
    // archive stored as that member (analysed through it), not a second reading of the file.
    let dirs: Vec<&Directory> = found
        .iter()
        .copied()
        .filter(|d| {
            primary.is_none_or(|p| std::ptr::eq(*d, p) || !reconcile::inside_a_member(data, d, p))
        })
        .collect();
    let hints: HashMap<usize, u64> = dirs
        .iter()
        .flat_map(|d| {
            d.entries
                .iter()
                .filter_map(|e| Some((e.local_at(d.shift)?, e.csize)))
        })
        .collect();
    let walk = walk::walk_local(data, &hints, max_entries, limits.max_member_bytes);

    report_directories(data, ctx, &all, primary, &dirs, walk.entries.len());
    if walk.too_many || dirs.iter().any(|d| d.too_many) {
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
    let usable = primary.is_some_and(|p| p.usable());
    let first_header = primary
        .into_iter()
        .flat_map(|p| p.entries.iter().filter_map(|e| e.local_at(p.shift)))
        .chain(walk.first)
        .chain(primary.filter(|p| p.usable()).map(|p| p.start))
        .min();
    if let Some(first) = first_header.filter(|&f| f > 0) {
        reconcile::prefix(data, first, ctx);
    }

    let storages = reconcile::torch_storages(data, &dirs, &limits);
    let mut run = Analysis {
        data,
        ctx,
        names,
        storages,
        done: HashSet::new(),
        contents: HashSet::new(),
        entries_seen: HashSet::new(),
        links: Vec::new(),
    };
    let mut ordered: Vec<&Directory> = primary.into_iter().collect();
    ordered.extend(
        dirs.iter()
            .copied()
            .filter(|d| !primary.is_some_and(|p| std::ptr::eq(*d, p))),
    );
    let mut stopped = false;
    for (i, dir) in ordered.iter().enumerate() {
        let label = (i > 0).then(|| dir.reader.label());
        if run.directory_members(dir, &walk, label.as_deref()).is_err() {
            stopped = true;
            break;
        }
    }
    if !stopped {
        let claimed: HashSet<usize> = dirs
            .iter()
            .flat_map(|d| d.entries.iter().filter_map(|e| e.local_at(d.shift)))
            .collect();
        run.local_only(&claimed, usable, &walk);
    }
    crate::containers::members::report_links(run.ctx, &mut run.names.budget, &run.links);
    run.names.budget.finish(run.ctx);
}

/// Findings about the directory readings: none usable (recovered from local headers), readers
/// that refuse what another accepts, readers that see different members, a wrong entry count,
/// and the strict reader's view.
fn report_directories(
    data: &[u8],
    ctx: &mut Ctx<'_>,
    all: &[Result<Directory, central::Refused>],
    primary: Option<&Directory>,
    dirs: &[&Directory],
    walked: usize,
) {
    let Some(primary) = primary.filter(|p| p.usable()) else {
        let why = match (primary, all.first()) {
            (Some(p), _) => format!(
                "the central directory is broken ({}); loaders refuse the archive, lenient readers still extract from local headers, which were all analysed",
                p.problem.as_deref().unwrap_or_default()
            ),
            (None, Some(Err(refused))) => format!(
                "the central directory is unusable ({}); {walked} members were recovered from local headers",
                refused.why
            ),
            _ => format!(
                "the central directory is unusable; {walked} members were recovered from local headers"
            ),
        };
        ctx.report(
            RuleId::ArchiveRecovered,
            primary.map(|p| p.start as u64),
            why,
            None,
        );
        return;
    };
    // Python's zipfile refusing what miniz loads blinds every scanner built on zipfile while
    // `torch.load` reads the file. The other way round blinds only miniz-based tools, and miniz
    // refuses ordinary archives zipfile reads (encrypted stored members), so that is not
    // reported.
    for reading in all {
        match reading {
            Err(refused) if refused.reader == Reader::Zipfile => {
                reconcile::report_refusal(ctx, refused.reader, &refused.why, primary);
            }
            Ok(d) if !d.usable() && d.reader == Reader::Zipfile => {
                let why = d.problem.as_deref().unwrap_or_default();
                reconcile::report_refusal(ctx, d.reader, why, primary);
            }
            _ => {}
        }
    }
    for other in dirs
        .iter()
        .filter(|d| d.usable() && !std::ptr::eq(**d, primary))
    {
        reconcile::report_disagreement(ctx, primary, other);
    }
    if primary.declared != primary.entries.len() as u64 && !primary.too_many {
        ctx.report(
            RuleId::ArchiveHeaderMismatch,
            Some(primary.start as u64),
            format!(
                "the end record declares {} members but the central directory holds {}; readers that trust the count see a different archive",
                primary.declared,
                primary.entries.len()
            ),
            None,
        );
    }
    // Offsets that point before these bytes mean an archive cut out of a larger file (a
    // pickle's trailing data): the `zip` crate cannot read it on its own, and the whole file is
    // judged at the outer level.
    if primary.shift >= 0 {
        reconcile::strict_cross_check(data, primary, ctx);
    }
}

/// Whether miniz's rule, applied to all of `data`, finds central entries (the entries read
/// before a check miniz fails count too: lenient readers of the same rule list them). It reads
/// the directory and every local header at the offsets the records state, counted from the
/// start of what it is given, so its reading of a whole file differs from its reading of any
/// slice that starts later (a pickle's trailing data).
pub fn miniz_finds_entries(data: &[u8]) -> bool {
    central::miniz_reading(data, 1 << 16).is_ok_and(|d| !d.entries.is_empty())
}

/// The members of an archive as the first reader that accepts it reads them (the central
/// directory PyTorch's miniz and NumPy's `zipfile` use), for analysers that need some members
/// before the archive is walked (TorchScript code) and for the robustness probe: `visit` gets
/// each wanted member's name and bytes — a slice of `data` for a stored member, inflated up to
/// `cap` bytes otherwise — or why they cannot be had, one member at a time (an inflated member
/// is dropped when `visit` returns it unkept). Reports nothing (the analysis did).
pub fn members<'a>(
    data: &'a [u8],
    max_members: u64,
    cap: u64,
    wanted: impl Fn(&[u8]) -> bool,
    mut visit: impl FnMut(&[u8], Result<MemberBytes<'a>, String>),
) {
    let max_entries = usize::try_from(max_members).unwrap_or(usize::MAX);
    let all = central::readings(data, max_entries);
    let Some(dir) = all
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .find(|d| d.usable())
    else {
        return;
    };
    let limits = crate::config::ZoneLimits {
        max_member_bytes: cap,
        max_total_bytes: cap,
        ..crate::config::ZoneLimits::default()
    };
    for e in dir.entries.iter().filter(|e| wanted(&e.name)) {
        let bytes = (|| {
            let reading = reconcile::central_reading(data, e, dir.shift)
                .ok_or_else(|| "its local header does not parse".to_owned())?;
            if reading.truncated {
                return Err("the member runs past the end of the file".to_owned());
            }
            if reading.method != records::METHOD_STORED && e.usize > cap {
                return Err(format!(
                    "the member inflates to {} bytes, over the probe's limit of {cap}",
                    e.usize
                ));
            }
            decode::peek(&reading, &limits).ok_or_else(|| {
                format!(
                    "compression method {} is not read",
                    decode::method_name(reading.method)
                )
            })
        })();
        visit(&e.name, bytes);
    }
}

//! What every container does with a member before its bytes go back to detection: check its
//! name (unsafe paths, length, duplicates), bound its size, and charge it to the zone.

use std::collections::HashSet;

use crate::model::PerRule;
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, LimitHit, MemberKind};

/// Findings of one rule listed per container; the rest are counted in one summary finding, so
/// that an archive of a hundred thousand crafted members yields a readable report (and does
/// not make collecting findings quadratic).
const MAX_PER_RULE: u64 = 64;

/// Per-member findings of one container, capped per rule.
#[derive(Default)]
pub(crate) struct ArchiveFindings {
    caps: PerRule<RuleId, MAX_PER_RULE>,
}

impl ArchiveFindings {
    pub(crate) fn report(
        &mut self,
        ctx: &mut Ctx<'_>,
        rule: RuleId,
        offset: Option<u64>,
        message: impl Into<String>,
        evidence: Option<String>,
    ) {
        if self.caps.admit(rule) {
            ctx.report(rule, offset, message, evidence);
        }
    }

    /// Reports how many findings each rule had beyond those listed.
    pub(crate) fn finish(&self, ctx: &mut Ctx<'_>) {
        for (&rule, budget) in self.caps.overflowing() {
            ctx.report_not_listed(rule, budget, "in this archive");
        }
    }
}

/// What a Unix mode's file type makes a member, when it is not a regular file or a directory:
/// the one table of special files for every container that stores Unix modes.
pub(crate) fn special_file(mode: u32) -> Option<&'static str> {
    match mode & 0o170000 {
        0o120000 => Some("a symbolic link"),
        0o020000 => Some("a character device"),
        0o060000 => Some("a block device"),
        0o010000 => Some("a FIFO"),
        0o140000 => Some("a socket"),
        _ => None,
    }
}

/// Why a member path would write outside the extraction directory, if it would.
pub(crate) fn unsafe_path(name: &str) -> Option<&'static str> {
    // C extractors stop at a NUL byte; judge the name they would use.
    let name = name.split('\0').next().unwrap_or_default();
    let bytes = name.as_bytes();
    if bytes.first().is_some_and(|&b| b == b'/' || b == b'\\') {
        return Some("is an absolute path");
    }
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Some("starts with a drive letter");
    }
    if name.split(['/', '\\']).any(|c| c == "..") {
        return Some("climbs out of the extraction directory with `..`");
    }
    None
}

/// Characters that Unicode compatibility normalisation (NFKC) or the Windows best-fit
/// conversion to a legacy code page turn into `.`, `/`, `\` or `:`.
const LOOKALIKES: &[(char, &str)] = &[
    ('\u{FF0E}', "."),  // fullwidth full stop
    ('\u{FE52}', "."),  // small full stop
    ('\u{2024}', "."),  // one dot leader
    ('\u{2025}', ".."), // two dot leader
    ('\u{FF0F}', "/"),  // fullwidth solidus
    ('\u{2215}', "/"),  // division slash
    ('\u{2044}', "/"),  // fraction slash
    ('\u{FF3C}', "\\"), // fullwidth reverse solidus
    ('\u{FE68}', "\\"), // small reverse solidus
    ('\u{2216}', "\\"), // set minus
    ('\u{FF1A}', ":"),  // fullwidth colon
];

/// The name a normalising extractor would use, and why it would write outside the extraction
/// directory, when the name as stored is safe but that reading is not.
pub(crate) fn lookalike_path(name: &str) -> Option<(String, &'static str)> {
    if name.is_ascii() || unsafe_path(name).is_some() {
        return None;
    }
    let mut read = String::with_capacity(name.len());
    for c in name.chars() {
        match LOOKALIKES.iter().find(|(l, _)| *l == c) {
            Some((_, ascii)) => read.push_str(ascii),
            None => read.push(c),
        }
    }
    let why = unsafe_path(&read)?;
    Some((read, why))
}

/// Name checks across the members of one container, and the container's finding budget.
#[derive(Default)]
pub(crate) struct Names {
    pub(crate) budget: ArchiveFindings,
    seen: HashSet<Vec<u8>>,
    duplicates: HashSet<Vec<u8>>,
    judged: HashSet<Vec<u8>>,
}

impl Names {
    /// Checks a member name as stored (`raw`) and returns the name to show for it. Reports an
    /// unsafe path (ARC006) and an overlong name (ARC005) once per distinct name; a repeated
    /// name (ARC008) when `count` is set (readings of the same entry pass `false`).
    pub(crate) fn check(
        &mut self,
        ctx: &mut Ctx<'_>,
        raw: &[u8],
        offset: Option<u64>,
        count: bool,
    ) -> String {
        let limit = ctx.config().zone.max_path_len;
        let lossy = crate::model::names::escaped(raw);
        let display = if raw.len() > limit {
            let mut cut = limit;
            while !lossy.is_char_boundary(cut.min(lossy.len())) {
                cut -= 1;
            }
            format!("{}…", lossy.get(..cut.min(lossy.len())).unwrap_or_default())
        } else {
            lossy.clone().into_owned()
        };
        if self.judged.insert(raw.to_vec()) {
            if raw.len() > limit {
                self.budget.report(
                    ctx,
                    RuleId::ArchiveLimitExceeded,
                    offset,
                    format!(
                        "member name is {} bytes long, over the limit of {limit}",
                        raw.len()
                    ),
                    Some(display.clone()),
                );
            }
            // Judged on the bytes an extractor would use, not on the escaped display.
            let stored = String::from_utf8_lossy(raw);
            if let Some(why) = unsafe_path(&stored) {
                self.budget.report(
                    ctx,
                    RuleId::ArchiveUnsafePath,
                    offset,
                    format!("member `{display}` {why}"),
                    Some(display.clone()),
                );
            } else if let Some((read, why)) = lookalike_path(&stored) {
                self.budget.report(
                    ctx,
                    RuleId::ArchiveLookalikePath,
                    offset,
                    format!("member `{display}` reads as `{read}` once lookalike characters are normalised, which {why}"),
                    Some(display.clone()),
                );
            }
        }
        if count && !self.seen.insert(raw.to_vec()) && self.duplicates.insert(raw.to_vec()) {
            self.budget.report(
                ctx,
                RuleId::ArchiveDuplicateMember,
                offset,
                format!("more than one member is named `{display}`; every copy was analysed"),
                Some(display.clone()),
            );
        }
        display
    }
}

/// Charges an inflated member to the zone and analyses it; `Err` means the artifact's limits
/// are used up and the container should stop. A member that passes the limit on unpacked bytes
/// has what still fits analysed (a limit degrades the analysis, it never blinds it).
pub(crate) fn hand_over(
    ctx: &mut Ctx<'_>,
    name: &str,
    data: &[u8],
    kind: MemberKind,
) -> Result<(), LimitHit> {
    let room = usize::try_from(ctx.unpacked_room()).unwrap_or(usize::MAX);
    if let Some(fits) = data
        .get(..room)
        .filter(|f| f.len() < data.len() && !f.is_empty())
    {
        ctx.charge_unpacked(name, fits.len() as u64)?;
        ctx.nested(name, fits, kind);
        ctx.charge_unpacked(name, (data.len() - fits.len()) as u64)?;
        return Err(LimitHit);
    }
    ctx.charge_unpacked(name, data.len() as u64)?;
    ctx.nested(name, data, kind);
    Ok(())
}

/// Like [`hand_over`] for a member that is a slice of bytes already in hand (stored entries):
/// see [`Ctx::charge_slice`].
pub(crate) fn hand_over_slice(
    ctx: &mut Ctx<'_>,
    name: &str,
    data: &[u8],
    kind: MemberKind,
) -> Result<(), LimitHit> {
    ctx.charge_slice(name, data.len() as u64)?;
    ctx.nested(name, data, kind);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths() {
        for bad in [
            "/etc/passwd",
            "\\\\server\\share",
            "C:\\Windows\\x",
            "c:evil",
            "../x",
            "a/../../x",
            "a\\..\\x",
            "..",
            "a/..\0.txt",
        ] {
            assert!(unsafe_path(bad).is_some(), "{bad}");
        }
        for good in ["a/b", "..a/b", "a..b", "archive/data.pkl", "./x", ""] {
            assert!(unsafe_path(good).is_none(), "{good}");
        }
    }

    #[test]
    fn lookalike_paths() {
        for (bad, read) in [
            ("\u{FF0E}\u{FF0E}/etc/x", "../etc/x"),
            ("a\u{FF0F}\u{2025}\u{FF0F}\u{2025}\u{FF0F}x", "a/../../x"),
            ("\u{2024}\u{2024}\u{FF3C}x", "..\\x"),
            ("\u{FF0F}etc\u{FF0F}passwd", "/etc/passwd"),
            ("C\u{FF1A}\u{FF3C}x", "C:\\x"),
        ] {
            assert_eq!(
                lookalike_path(bad).map(|(r, _)| r).as_deref(),
                Some(read),
                "{bad}"
            );
        }
        // Already unsafe as stored (ARC006), plain names, and harmless lookalikes.
        for fine in [
            "../x",
            "a/b",
            "modèle/\u{FF0E}x",
            "v1\u{2024}2.pkl",
            "données.pkl",
        ] {
            assert_eq!(lookalike_path(fine), None, "{fine}");
        }
    }
}

/// A link member of an archive, as the archive records it.
#[derive(Debug, Clone)]
pub(crate) struct LinkMember {
    pub name: String,
    pub target: String,
    /// A hard link names another member (from the archive's root); a symbolic link is
    /// resolved from its own directory.
    pub hard: bool,
    pub offset: Option<u64>,
}

/// The path components of a member name or link target: `/` and `\` both separate (Windows
/// extractors read `\` as one), empty and `.` components dropped.
fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split(['/', '\\'])
        .filter(|c| !c.is_empty() && *c != ".")
}

/// Whether extracting `link` creates a link to something inside the extraction directory:
/// its target is relative (no leading `/` or `\`, no drive letter, no NUL), and resolved from
/// the link's directory (a hard link: from the root) component by component it never climbs
/// above the root. A path that reaches another link member (`links`: their names) and then
/// climbs with `..` is not judged lexically (the other link can point anywhere inside, so
/// `..` after it can leave), and counts as leaving.
pub(crate) fn link_stays_inside(link: &LinkMember, links: &HashSet<String>) -> bool {
    let target = link.target.as_str();
    let drive = target.as_bytes().get(1) == Some(&b':');
    if target.is_empty() || target.starts_with(['/', '\\']) || drive || target.contains('\0') {
        return false;
    }
    let parent: Vec<&str> = if link.hard {
        Vec::new()
    } else {
        let mut own: Vec<&str> = components(&link.name).collect();
        own.pop();
        own
    };
    let mut at: Vec<&str> = Vec::new();
    let mut through_link = false;
    for part in parent.into_iter().chain(components(target)) {
        if part == ".." {
            if through_link || at.pop().is_none() {
                return false;
            }
            continue;
        }
        at.push(part);
        through_link |= links.contains(&at.join("/"));
    }
    true
}

/// The name a link member is known by in `link_stays_inside`'s set.
pub(crate) fn link_key(name: &str) -> String {
    components(name).collect::<Vec<_>>().join("/")
}

/// Reports the link members of one archive once all are known: ARC007 for a link that can
/// leave the extraction directory, ARC015 (info) for one that stays inside.
pub(crate) fn report_links(
    ctx: &mut Ctx<'_>,
    findings: &mut ArchiveFindings,
    links: &[LinkMember],
) {
    let names: HashSet<String> = links.iter().map(|l| link_key(&l.name)).collect();
    for link in links {
        let what = if link.hard {
            "a hard link"
        } else {
            "a symbolic link"
        };
        let (rule, how) = if link_stays_inside(link, &names) {
            (
                RuleId::ArchiveInternalLink,
                "which stays inside the archive",
            )
        } else {
            (
                RuleId::ArchiveLinkMember,
                "which can lead outside the extraction directory",
            )
        };
        findings.report(
            ctx,
            rule,
            link.offset,
            format!(
                "member `{}` is {what} to `{}`, {how}",
                link.name, link.target
            ),
            Some(link.target.clone()),
        );
    }
}

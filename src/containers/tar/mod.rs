//! tar archives, read two ways over the bytes in memory: with the `tar` crate, and the way
//! CPython's `tarfile` reads them (`tarfile`, which `torch.load` uses for legacy checkpoints).
//! Every member either reading yields is analysed; where they disagree (a directory entry whose
//! size one skips and the other reads as further headers, a pax or prefix name one honours), the
//! disagreement is a finding naming both readings. Regular files are handed to detection as
//! slices of the input (tar stores them raw, so nothing is copied); links, devices and FIFOs
//! are reported and never created or followed.
#![deny(clippy::indexing_slicing, clippy::cast_possible_truncation)] // a binary parser: hostile offsets and sizes

mod tarfile;

use std::collections::HashSet;
use std::io::Cursor;

use tar::EntryType;

use crate::containers::codec::{self, Stop};
use crate::containers::members::{self, Names};
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, MemberKind};

/// What the crate's reading handed over: member names with the byte range of their data (a
/// sparse member by its header offset and `usize::MAX`), and whether a limit stopped it.
#[derive(Default)]
struct Seen {
    members: Vec<(Vec<u8>, usize, usize)>,
    stopped: bool,
    /// Symbolic and hard links, judged once every link is known (`members::report_links`).
    links: Vec<members::LinkMember>,
}

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let mut names = Names::default();
    let mut seen = Seen::default();
    let mut archive = tar::Archive::new(Cursor::new(data));
    match archive.entries_with_seek() {
        Ok(entries) => {
            read_entries(data, entries, ctx, &mut names, &mut seen);
            members::report_links(ctx, &mut names.budget, &seen.links);
        }
        Err(e) => ctx.report(
            RuleId::ArchiveCorrupt,
            Some(0),
            format!("the tar archive cannot be read: {e}"),
            None,
        ),
    }
    if !seen.stopped {
        python_reading(data, ctx, &mut names, &seen);
    }
    names.budget.finish(ctx);
}

/// The `tarfile` reading: members the crate did not hand over are analysed, and a difference in
/// what the two readings list is reported once, naming both.
fn python_reading(data: &[u8], ctx: &mut Ctx<'_>, names: &mut Names, seen: &Seen) {
    const LABEL: &str = "Python tarfile";
    let limit = usize::try_from(ctx.config().zone.max_members).unwrap_or(usize::MAX);
    let cap = usize::try_from(ctx.config().zone.max_member_bytes).unwrap_or(usize::MAX);
    let reading = tarfile::read(data, limit.saturating_add(1));
    let crate_keys: HashSet<(&[u8], usize, usize)> = seen
        .members
        .iter()
        .map(|(n, s, l)| (n.as_slice(), *s, *l))
        .collect();
    let crate_ranges: HashSet<(usize, usize)> =
        seen.members.iter().map(|(_, s, l)| (*s, *l)).collect();
    let mut only_python: Vec<String> = Vec::new();
    let mut python_keys: HashSet<(Vec<u8>, usize, usize)> = HashSet::new();
    for m in &reading.members {
        let (start, len) = match &m.kind {
            tarfile::PyKind::Data { start, len } => (*start, *len),
            tarfile::PyKind::Sparse { .. } => (m.header_at, usize::MAX),
            tarfile::PyKind::NoData => continue,
        };
        if len == 0 {
            // An empty member carries nothing to analyse or to disagree about.
            continue;
        }
        python_keys.insert((m.name.clone(), start, len));
        if crate_keys.contains(&(m.name.as_slice(), start, len)) {
            continue;
        }
        let shown = names.check(ctx, &m.name, Some(m.header_at as u64), false);
        only_python.push(format!("`{shown}`"));
        if crate_ranges.contains(&(start, len)) {
            continue;
        }
        let name = format!("{shown} ({LABEL} reading)");
        let handed = match &m.kind {
            tarfile::PyKind::Data { start, len } => {
                let slice = data.get(*start..start + len).unwrap_or_default();
                members::hand_over_slice(ctx, &name, slice, MemberKind::File)
            }
            tarfile::PyKind::Sparse { start, map, size } => {
                let bytes = tarfile::expand_sparse(data, *start, map, *size, cap);
                members::hand_over(ctx, &name, &bytes, MemberKind::File)
            }
            tarfile::PyKind::NoData => Ok(()),
        };
        if handed.is_err() {
            break;
        }
    }
    let only_crate: Vec<String> = seen
        .members
        .iter()
        .filter(|(n, s, l)| *l != 0 && !python_keys.contains(&(n.clone(), *s, *l)))
        .map(|(n, _, _)| format!("`{}`", String::from_utf8_lossy(n)))
        .collect();
    if only_python.is_empty() && only_crate.is_empty() {
        return;
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "nothing".to_owned()
        } else if v.len() > 4 {
            let shown = v.get(..4).unwrap_or_default();
            format!("{} and {} more", shown.join(", "), v.len() - shown.len())
        } else {
            v.join(", ")
        }
    };
    let stopped = reading
        .problem
        .map(|p| format!(" ({LABEL} stopped at {p})"))
        .unwrap_or_default();
    ctx.report(
        RuleId::ArchiveReadersDisagree,
        Some(0),
        format!(
            "{LABEL} and the tar crate read different members: only {LABEL} sees {}; only the tar crate sees {}{stopped}; every member of both readings was analysed",
            list(&only_python),
            list(&only_crate)
        ),
        Some(format!("{LABEL} vs tar crate")),
    );
}

fn read_entries(
    data: &[u8],
    entries: tar::Entries<'_, Cursor<&[u8]>>,
    ctx: &mut Ctx<'_>,
    names: &mut Names,
    seen: &mut Seen,
) {
    let mut last_header = 0u64;
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                ctx.report(
                    RuleId::ArchiveCorrupt,
                    Some(last_header),
                    format!(
                        "tar header after offset {last_header} is corrupt ({e}); the members after it were not analysed"
                    ),
                    None,
                );
                return;
            }
        };
        let header_at = entry.raw_header_position();
        last_header = header_at;
        let entry_type = entry.header().entry_type();
        if matches!(entry_type, EntryType::XGlobalHeader) {
            continue;
        }
        let raw_name = entry.path_bytes().into_owned();
        let is_dir = entry_type == EntryType::Directory;
        let name = names.check(ctx, &raw_name, Some(header_at), !is_dir);
        let special = match entry_type {
            EntryType::Symlink => Some("a symbolic link"),
            EntryType::Link => Some("a hard link"),
            EntryType::Char => Some("a character device"),
            EntryType::Block => Some("a block device"),
            EntryType::Fifo => Some("a FIFO"),
            _ => None,
        };
        let target = entry
            .link_name_bytes()
            .map(|t| String::from_utf8_lossy(&t).into_owned());
        if let (EntryType::Symlink | EntryType::Link, Some(t)) = (entry_type, &target)
            && !t.is_empty()
        {
            seen.links.push(members::LinkMember {
                name: name.clone(),
                target: t.clone(),
                hard: entry_type == EntryType::Link,
                offset: Some(header_at),
            });
            continue;
        }
        if let Some(what) = special {
            let message = match &target {
                Some(t) if !t.is_empty() => format!("member `{name}` is {what} to `{t}`"),
                _ => format!("member `{name}` is {what}"),
            };
            names.budget.report(
                ctx,
                RuleId::ArchiveLinkMember,
                Some(header_at),
                message,
                target,
            );
            continue;
        }
        if is_dir {
            continue;
        }
        if entry_type == EntryType::GNUSparse {
            // Holes are expanded by the reader: read it like a compressed member, bounded by
            // the zone's caps (a sparse file can declare terabytes of holes).
            let packed = entry.header().entry_size().unwrap_or(0);
            let limits = ctx.config().zone.clone();
            let capped = codec::read_capped(entry, packed, &limits);
            match &capped.stop {
                Stop::Complete => {}
                Stop::Limit(why) => names.budget.report(
                    ctx,
                    RuleId::ArchiveLimitExceeded,
                    Some(header_at),
                    format!("sparse member `{name}` {why}; only its start was analysed"),
                    None,
                ),
                Stop::Corrupt(why) => names.budget.report(
                    ctx,
                    RuleId::ArchiveCorrupt,
                    Some(header_at),
                    format!("sparse member `{name}`: {why}"),
                    None,
                ),
            }
            seen.members.push((
                raw_name.clone(),
                usize::try_from(header_at).unwrap_or(usize::MAX),
                usize::MAX,
            ));
            if members::hand_over(ctx, &name, &capped.data, MemberKind::File).is_err() {
                seen.stopped = true;
                return;
            }
            continue;
        }
        let start = entry.raw_file_position();
        let size = entry.size();
        let end = start.checked_add(size);
        let available = (data.len() as u64).saturating_sub(start);
        let truncated = end.is_none_or(|end| end > data.len() as u64);
        let take = size.min(available);
        let slice = usize::try_from(start)
            .ok()
            .zip(usize::try_from(take).ok())
            .and_then(|(s, n)| data.get(s..s.checked_add(n)?))
            .unwrap_or_default();
        if truncated {
            ctx.report(
                RuleId::ArchiveCorrupt,
                Some(header_at),
                format!(
                    "member `{name}` declares {size} bytes but only {available} remain in the archive; what is there was analysed"
                ),
                None,
            );
        }
        seen.members.push((
            raw_name.clone(),
            usize::try_from(start).unwrap_or(usize::MAX),
            slice.len(),
        ));
        if members::hand_over_slice(ctx, &name, slice, MemberKind::File).is_err() {
            seen.stopped = true;
            return;
        }
        if truncated {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::testing::{PICKLE, container_codes as codes, scan, scan_with};

    fn header(name: &str, size: u64, kind: EntryType) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_cksum();
        h
    }

    fn build(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            b.append(&header(name, data.len() as u64, EntryType::Regular), *data)
                .unwrap();
        }
        b.into_inner().unwrap()
    }

    /// Writes a raw 512-byte header with any name and size field (the builder refuses both).
    fn raw_header(name: &[u8], size_field: &[u8; 12], kind: u8) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name);
        h[100..108].copy_from_slice(b"0000644\0");
        h[124..136].copy_from_slice(size_field);
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }

    #[test]
    fn members_are_analysed_as_slices() {
        let data = build(&[("model/data.pkl", PICKLE), ("README", b"hello\n")]);
        let report = scan(&data);
        assert_eq!(report.format, "tar");
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        let formats: Vec<_> = report
            .members
            .iter()
            .map(|m| (m.member.as_str(), m.format.name()))
            .collect();
        assert_eq!(formats, [("model/data.pkl", "pickle"), ("README", "text")]);
    }

    #[test]
    fn links_and_devices_are_reported_not_followed() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header("weights.bin", 0, EntryType::Symlink);
        h.set_link_name("/etc/passwd").unwrap();
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        let mut h = header("hard", 0, EntryType::Link);
        h.set_link_name("weights.bin").unwrap();
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        b.append(&header("dev", 0, EntryType::Char), &[][..])
            .unwrap();
        b.append(&header("fifo", 0, EntryType::Fifo), &[][..])
            .unwrap();
        let report = scan(&b.into_inner().unwrap());
        // The hard link names another member: it stays inside (ARC015, info).
        assert_eq!(codes(&report), ["ARC007"; 3]);
        assert!(crate::testing::codes(&report).contains(&"ARC015"));
        assert!(report.members.is_empty());
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.rule_id.code() == "ARC007" && f.message.contains("/etc/passwd"))
        );
    }

    fn links(entries: &[(&str, &str, EntryType)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, target, kind) in entries {
            let mut h = header(name, 0, *kind);
            h.set_link_name(target).unwrap();
            h.set_cksum();
            b.append(&h, &[][..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// Links that stay inside the archive (Lightning's `last.ckpt`, a Hugging Face cache
    /// snapshot's `../../blobs/…`) are info; absolute targets, targets that climb out, and
    /// `..` walked through another link member (which can point anywhere) stay ARC007.
    #[test]
    fn links_inside_the_archive_are_info_escaping_ones_are_not() {
        use EntryType::Symlink as S;
        for inside in [
            vec![("checkpoints/last.ckpt", "epoch=1-step=4.ckpt", S)],
            vec![("pkg/link.txt", "sub/f.txt", S)],
            vec![("m/snapshots/abc/config.json", "../../blobs/123", S)],
            vec![("a/b", "./c/../d", S)],
        ] {
            let report = scan(&links(&inside));
            assert!(codes(&report).is_empty(), "{inside:?}");
            assert_eq!(crate::testing::codes(&report), ["ARC015"], "{inside:?}");
            assert_eq!(report.verdict, crate::model::finding::Verdict::Clean);
        }
        for escaping in [
            vec![("link", "/etc/passwd", S)],
            vec![("link", "../outside", S)],
            vec![("a/link", "../../x", S)],
            vec![("a/link", "..\\..\\x", S)],
            vec![("link", "C:/Windows/x", S)],
            vec![("link", "x/../../y", S)],
            // `d` points at `.`; `d/../x` is `x` read lexically but `../x` on disk.
            vec![("d", ".", S), ("e", "d/../x", S)],
            // The same with the helper link written after the one that uses it.
            vec![("e", "d/../x", S), ("d", ".", S)],
            // The link's own directory is a link.
            vec![("d", ".", S), ("d/e", "../x", S)],
            vec![("hard", "../x", EntryType::Link)],
        ] {
            let report = scan(&links(&escaping));
            assert!(
                codes(&report).contains(&"ARC007"),
                "{escaping:?}: {:?}",
                report.findings
            );
            assert_eq!(
                report.verdict,
                crate::model::finding::Verdict::Suspicious,
                "{escaping:?}"
            );
        }
    }

    #[test]
    fn unsafe_and_duplicate_names() {
        let mut data = raw_header(b"../evil.pkl", b"00000000016\0", b'0').to_vec();
        data.extend_from_slice(PICKLE);
        data.resize(1024, 0);
        data.extend_from_slice(&raw_header(b"/abs", b"00000000000\0", b'0'));
        data.extend_from_slice(&raw_header(b"a", b"00000000000\0", b'0'));
        data.extend_from_slice(&raw_header(b"a", b"00000000000\0", b'0'));
        data.extend_from_slice(&[0u8; 1024]);
        let report = scan(&data);
        assert_eq!(
            codes(&report),
            ["ARC006", "ARC006", "ARC008"],
            "{:?}",
            report.findings
        );
        assert_eq!(report.members[0].format, "pickle");
    }

    #[test]
    fn size_past_the_end_is_corrupt_but_analysed() {
        let mut data = raw_header(b"x.pkl", b"77777777777\0", b'0').to_vec();
        data.extend_from_slice(PICKLE);
        data.resize(2048, 0);
        let report = scan(&data);
        assert_eq!(codes(&report), ["ARC001"]);
        assert_eq!(report.members.len(), 1);
        assert_eq!(report.members[0].format, "pickle");
    }

    #[test]
    fn huge_and_negative_base256_sizes() {
        let mut huge = [0u8; 12];
        huge[0] = 0x80;
        huge[4..].copy_from_slice(&(10u64 << 40).to_be_bytes());
        let mut data = raw_header(b"x.pkl", &huge, b'0').to_vec();
        data.extend_from_slice(PICKLE);
        data.resize(2048, 0);
        let report = scan(&data);
        assert_eq!(codes(&report), ["ARC001"]);
        let mut negative = [0xffu8; 12];
        negative[11] = 0xfe;
        let mut data = raw_header(b"x.pkl", &negative, b'0').to_vec();
        data.resize(2048, 0);
        let report = scan(&data);
        assert_eq!(codes(&report), ["ARC001"]);
    }

    #[test]
    fn bad_checksum_is_corrupt() {
        let mut data = build(&[("a", b"x"), ("b", b"y")]);
        data[1024 + 148] ^= 1;
        let report = scan(&data);
        assert_eq!(codes(&report), ["ARC001"]);
        assert_eq!(report.members.len(), 1);
    }

    #[test]
    fn limits_apply() {
        let mut config = Config::default();
        config.zone.max_members = 1;
        let report = scan_with(&build(&[("a", PICKLE), ("b", PICKLE)]), &config);
        assert_eq!(codes(&report), ["ARC005"]);
        assert_eq!(report.members.len(), 1);
        // Members are slices of the archive: the per-member limit (which bounds inflating) does
        // not cut them.
        let mut config = Config::default();
        config.zone.max_member_bytes = 4;
        let report = scan_with(&build(&[("a", PICKLE)]), &config);
        assert!(codes(&report).is_empty(), "{:?}", report.findings);
        assert_eq!(report.members[0].size, PICKLE.len() as u64);
        // Each byte of the input can always be read once, whatever the unpacked-bytes limit.
        let mut config = Config::default();
        config.zone.max_total_bytes = 0;
        let data = build(&[("a", &[7u8; 6000]), ("b", &[7u8; 6000])]);
        let report = scan_with(&data, &config);
        assert_eq!(report.members.len(), 2);
        assert!(!codes(&report).contains(&"ARC005"), "{:?}", report.findings);
        let mut config = Config::default();
        config.zone.max_path_len = 3;
        let report = scan_with(&build(&[("long-name", b"x")]), &config);
        assert_eq!(codes(&report), ["ARC005"]);
    }

    #[test]
    fn sparse_member_is_expanded_within_the_caps() {
        // One data chunk holding a pickle, then a terabyte of holes.
        let mut h = tar::Header::new_gnu();
        h.set_path("model.pkl").unwrap();
        h.set_entry_type(EntryType::GNUSparse);
        h.set_mode(0o644);
        h.set_size(512);
        {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.sparse[0].set_offset(0);
            gnu.sparse[0].set_length(512);
            // The map ends with an empty chunk at the real size.
            gnu.sparse[1].set_offset(1 << 40);
            gnu.sparse[1].set_length(0);
            gnu.set_real_size(1 << 40);
        }
        h.set_cksum();
        let mut data = h.as_bytes().to_vec();
        let mut chunk = PICKLE.to_vec();
        chunk.resize(512, 0);
        data.extend_from_slice(&chunk);
        data.extend_from_slice(&[0u8; 1024]);
        let report = scan(&data);
        assert!(codes(&report).contains(&"ARC005"), "{:?}", report.findings);
        assert_eq!(report.members[0].member, "model.pkl");
        assert!(report.members[0].size < 8 << 20);
    }

    fn sample(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("samples")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn a_directory_with_a_size_is_read_as_python_reads_it() {
        let data = sample("malicious/tar_directory_with_size.tar");
        let reading = tarfile::read(&data, 100);
        let names: Vec<_> = reading
            .members
            .iter()
            .map(|m| String::from_utf8_lossy(&m.name).into_owned())
            .collect();
        assert_eq!(names, ["model", "model/model.pkl", "model/README.md"]);
        let report = scan(&data);
        let disagreement = report
            .findings
            .iter()
            .find(|f| f.rule_id == RuleId::ArchiveReadersDisagree)
            .expect("ARC011");
        assert_eq!(
            disagreement.evidence.as_deref(),
            Some("Python tarfile vs tar crate")
        );
        assert!(disagreement.message.contains("`model/model.pkl`"));
        let hit = report
            .findings
            .iter()
            .find(|f| f.rule_id == RuleId::PickleDeniedGlobal)
            .expect("PKL001");
        assert_eq!(
            hit.location.member.as_deref(),
            Some("model/model.pkl (Python tarfile reading)")
        );
    }

    #[test]
    fn ordinary_tars_read_the_same_both_ways() {
        let data = build(&[("model/data.pkl", PICKLE), ("README", b"hello\n")]);
        let report = scan(&data);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        let reading = tarfile::read(&data, 100);
        assert_eq!(reading.members.len(), 2);
        assert!(reading.problem.is_none());
    }
}

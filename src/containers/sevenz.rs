//! 7z archives, read in memory with `sevenz-rust2`. Blocks are decoded one at a time so that an
//! encrypted or broken block does not hide the others; every entry is read through the zone's
//! caps (per member, and a compression ratio over the whole archive) before it is analysed.
#![deny(clippy::indexing_slicing, clippy::cast_possible_truncation)] // a binary parser: hostile offsets and sizes

use std::io::{Cursor, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};

use sevenz_rust2::{Archive, ArchiveEntry, BlockDecoder, EncoderMethod, Password};

use crate::config::ZoneLimits;
use crate::containers::codec::{self, Stop};
use crate::containers::members::{self, ArchiveFindings, Names};
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, MemberKind};

/// 7-Zip's largest dictionary (1.5 GiB): the decoder memory never needs to exceed it.
const MAX_DICTIONARY: u64 = 1536 << 20;
/// Decoder memory always allowed (7-Zip's ultra preset uses a 64 MiB dictionary).
const MIN_DECODER_MEMORY: u64 = 96 << 20;

/// Windows attribute bits: the high 16 bits hold a Unix mode; a reparse point (link).
const ATTR_UNIX_EXTENSION: u32 = 0x8000;
const ATTR_REPARSE_POINT: u32 = 0x0400;

/// Decoder memory for one archive, in KiB: enough for any archive 7-Zip writes with its defaults
/// and for the output a member may have, never more than 7-Zip's largest dictionary.
fn memory_kb(limits: &ZoneLimits) -> usize {
    usize::try_from(
        limits
            .max_member_bytes
            .clamp(MIN_DECODER_MEMORY, MAX_DICTIONARY)
            .saturating_add(MIN_DECODER_MEMORY)
            / 1024,
    )
    .unwrap_or(usize::MAX)
}

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let limits = ctx.config().zone.clone();
    let memory_kb = memory_kb(&limits);
    let mut source = Cursor::new(data);
    let Some(archive) = open(&mut source, memory_kb, ctx) else {
        return;
    };
    let mut names = Names::default();
    let shown = check_entries(&archive, &limits, ctx, &mut names);
    let mut run = Blocks {
        archive: &archive,
        shown: &shown,
        limits: &limits,
        memory_kb,
        packed: data.len() as u64,
        unpacked: 0,
    };
    for block_index in 0..archive.blocks.len() {
        if run.decode_block(block_index, &mut source, ctx, &mut names) == Flow::Stop {
            names.budget.finish(ctx);
            return;
        }
    }
    // Files without data belong to no block.
    for (index, entry) in archive.files.iter().enumerate() {
        let in_block = archive
            .stream_map
            .file_block_index
            .get(index)
            .copied()
            .flatten()
            .is_some();
        if in_block || entry.has_stream || entry.is_directory || entry.is_anti_item {
            continue;
        }
        let name = shown
            .get(index)
            .cloned()
            .flatten()
            .unwrap_or_else(|| entry.name.clone());
        if members::hand_over(ctx, &name, &[], MemberKind::File).is_err() {
            break;
        }
    }
    names.budget.finish(ctx);
}

/// Reads the archive's headers; `None` (after a finding) when they cannot be read.
fn open(source: &mut Cursor<&[u8]>, memory_kb: usize, ctx: &mut Ctx<'_>) -> Option<Archive> {
    let read = catch_unwind(AssertUnwindSafe(|| {
        Archive::read_with_memory_limit(source, &Password::empty(), memory_kb)
    }));
    match read {
        Ok(Ok(archive)) => Some(archive),
        Ok(Err(e)) if is_encryption(&e) => {
            ctx.report(
                RuleId::ArchiveEncryptedMember,
                Some(0),
                "the 7z archive's header is encrypted; neither its member list nor their content can be inspected",
                None,
            );
            None
        }
        Ok(Err(e)) => {
            ctx.report(
                RuleId::ArchiveCorrupt,
                Some(0),
                format!("the 7z archive cannot be read: {e}"),
                None,
            );
            None
        }
        Err(_) => {
            ctx.report(
                RuleId::ArchiveCorrupt,
                Some(0),
                "the 7z reader failed on this archive; its members were not analysed",
                None,
            );
            None
        }
    }
}

/// Checks that need no decoding: names, links, encryption, declared sizes. Returns the name to
/// show for each entry, by index (`None` for anti-items).
fn check_entries(
    archive: &Archive,
    limits: &ZoneLimits,
    ctx: &mut Ctx<'_>,
    names: &mut Names,
) -> Vec<Option<String>> {
    let mut shown = Vec::with_capacity(archive.files.len());
    for (index, entry) in archive.files.iter().enumerate() {
        if entry.is_anti_item {
            shown.push(None);
            continue;
        }
        let name = names.check(ctx, entry.name.as_bytes(), None, !entry.is_directory);
        if let Some(what) = link_kind(entry) {
            names.budget.report(
                ctx,
                RuleId::ArchiveLinkMember,
                None,
                format!("member `{name}` is {what}"),
                Some(name.clone()),
            );
        }
        if archive.is_file_encrypted(index) {
            names.budget.report(
                ctx,
                RuleId::ArchiveEncryptedMember,
                None,
                format!("member `{name}` is encrypted; its content cannot be inspected"),
                Some(name.clone()),
            );
        }
        if entry.size > limits.max_member_bytes {
            names.budget.report(ctx,
                RuleId::ArchiveLimitExceeded,
                None,
                format!(
                    "member `{name}` declares {} bytes, over the per-member limit of {}; at most that much was unpacked",
                    entry.size, limits.max_member_bytes
                ),
                None,
            );
        }
        shown.push(Some(name));
    }
    shown
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Next,
    Stop,
}

/// Decoding the blocks of one archive.
struct Blocks<'a> {
    archive: &'a Archive,
    shown: &'a [Option<String>],
    limits: &'a ZoneLimits,
    memory_kb: usize,
    /// The archive's size (the ratio is judged over all blocks together).
    packed: u64,
    /// Bytes unpacked from all blocks so far.
    unpacked: u64,
}

impl Blocks<'_> {
    /// Decodes one block and analyses its entries (identified by index: the decoder hands them
    /// out in order from the block's first file).
    fn decode_block(
        &mut self,
        block_index: usize,
        source: &mut Cursor<&[u8]>,
        ctx: &mut Ctx<'_>,
        names: &mut Names,
    ) -> Flow {
        let archive = self.archive;
        let encrypted = archive.blocks.get(block_index).is_some_and(|b| {
            b.coders
                .iter()
                .any(|c| c.encoder_method_id() == EncoderMethod::ID_AES256_SHA256)
        });
        if encrypted {
            return Flow::Next;
        }
        let first = archive
            .stream_map
            .block_first_file_index
            .get(block_index)
            .copied()
            .unwrap_or(0);
        let password = Password::empty();
        let decoder = BlockDecoder::new_with_memory_limit(
            1,
            self.memory_kb,
            block_index,
            archive,
            &password,
            source,
        );
        let mut next_index = first;
        let mut stopped = false;
        let mut own_panic = None;
        let mut each = |entry: &ArchiveEntry, reader: &mut dyn Read| {
            let index = next_index;
            next_index += 1;
            if entry.is_directory || entry.is_anti_item {
                return Ok(true);
            }
            let name = self
                .shown
                .get(index)
                .cloned()
                .flatten()
                .unwrap_or_else(|| entry.name.clone());
            let capped = codec::read_capped_after(reader, self.packed, self.unpacked, self.limits);
            self.unpacked = self.unpacked.saturating_add(capped.data.len() as u64);
            let keep_going = match &capped.stop {
                Stop::Complete => true,
                Stop::Limit(why) => {
                    names.budget.report(
                        ctx,
                        RuleId::ArchiveLimitExceeded,
                        None,
                        format!(
                            "member `{name}` {why}; only the first {} bytes were analysed",
                            capped.data.len()
                        ),
                        None,
                    );
                    false
                }
                Stop::Corrupt(why) => {
                    report_damage(ctx, &mut names.budget, &name, why, capped.data.len());
                    false
                }
            };
            // Our own analysis runs inside the decoder's callback; a panic there is ours, not
            // the decoder's, and must not be disguised as a damaged archive.
            let handed = catch_unwind(AssertUnwindSafe(|| {
                members::hand_over(ctx, &name, &capped.data, MemberKind::File)
            }));
            match handed {
                Ok(Ok(())) => Ok(keep_going),
                Ok(Err(_)) => {
                    stopped = true;
                    Ok(false)
                }
                Err(payload) => {
                    own_panic = Some(payload);
                    stopped = true;
                    Ok(false)
                }
            }
        };
        let result = catch_unwind(AssertUnwindSafe(|| decoder.for_each_entries(&mut each)));
        if let Some(payload) = own_panic.take() {
            std::panic::resume_unwind(payload);
        }
        self.report_block_end(block_index, result, ctx, names);
        if stopped { Flow::Stop } else { Flow::Next }
    }

    fn report_block_end(
        &self,
        block_index: usize,
        result: std::thread::Result<Result<bool, sevenz_rust2::Error>>,
        ctx: &mut Ctx<'_>,
        names: &mut Names,
    ) {
        let memory_kb = self.memory_kb;
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(sevenz_rust2::Error::MaxMemLimited { actaul_kb, .. })) => {
                names.budget.report(ctx,
                    RuleId::ArchiveLimitExceeded,
                    None,
                    format!("7z block {block_index} needs {actaul_kb} KiB of decoder memory, over the limit of {memory_kb} KiB; it was not analysed"),
                    None,
                );
            }
            Ok(Err(e)) => {
                let why = format!("{e}");
                if why.contains("ChecksumVerificationFailed") {
                    names.budget.report(ctx,
                        RuleId::ArchiveCrcMismatch,
                        None,
                        format!("a member of 7z block {block_index} does not match its CRC; it was analysed anyway"),
                        None,
                    );
                } else {
                    names.budget.report(
                        ctx,
                        RuleId::ArchiveCorrupt,
                        None,
                        format!("7z block {block_index} cannot be decoded to its end: {why}"),
                        None,
                    );
                }
            }
            Err(_) => names.budget.report(
                ctx,
                RuleId::ArchiveCorrupt,
                None,
                format!(
                    "the 7z decoder failed on block {block_index}; the rest of it was not analysed"
                ),
                None,
            ),
        }
    }
}

fn report_damage(
    ctx: &mut Ctx<'_>,
    budget: &mut ArchiveFindings,
    name: &str,
    why: &str,
    analysed: usize,
) {
    if why.contains("ChecksumVerificationFailed") {
        budget.report(
            ctx,
            RuleId::ArchiveCrcMismatch,
            None,
            format!("member `{name}` does not match its CRC; it was analysed anyway"),
            Some(name.to_owned()),
        );
    } else {
        budget.report(
            ctx,
            RuleId::ArchiveCorrupt,
            None,
            format!("member `{name}`: {why}; the {analysed} bytes before that were analysed"),
            None,
        );
    }
}

fn is_encryption(e: &sevenz_rust2::Error) -> bool {
    match e {
        sevenz_rust2::Error::PasswordRequired | sevenz_rust2::Error::MaybeBadPassword(_) => true,
        sevenz_rust2::Error::UnsupportedCompressionMethod(m) => {
            m.to_ascii_uppercase().contains("AES")
        }
        _ => false,
    }
}

/// What kind of link or special file an entry is, from its attributes.
fn link_kind(entry: &ArchiveEntry) -> Option<&'static str> {
    if !entry.has_windows_attributes {
        return None;
    }
    let attrs = entry.windows_attributes;
    if attrs & ATTR_UNIX_EXTENSION != 0
        && let Some(what) = members::special_file(attrs >> 16)
    {
        return Some(what);
    }
    (attrs & ATTR_REPARSE_POINT != 0).then_some("a reparse point (link)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::testing::{PICKLE, container_codes as codes, scan_with};
    use sevenz_rust2::{ArchiveWriter, EncoderConfiguration};

    fn build(
        files: &[(&str, &[u8])],
        methods: Option<Vec<EncoderConfiguration>>,
        solid: bool,
    ) -> Vec<u8> {
        let mut writer = ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
        if let Some(methods) = methods {
            writer.set_content_methods(methods);
        }
        if solid {
            let entries: Vec<_> = files
                .iter()
                .map(|(n, _)| ArchiveEntry::new_file(n))
                .collect();
            let readers: Vec<_> = files
                .iter()
                .map(|(_, d)| sevenz_rust2::SourceReader::new(*d))
                .collect();
            writer.push_archive_entries(entries, readers).unwrap();
        } else {
            for (name, data) in files {
                writer
                    .push_archive_entry(ArchiveEntry::new_file(name), Some(*data))
                    .unwrap();
            }
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn members_are_analysed() {
        let data = build(
            &[("data.pkl", PICKLE), ("notes.txt", b"hello")],
            None,
            false,
        );
        let report = scan_with(&data, &Config::default());
        assert_eq!(report.format, "7z");
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        let members: Vec<_> = report
            .members
            .iter()
            .map(|m| (m.member.as_str(), m.format.name()))
            .collect();
        assert_eq!(members, [("data.pkl", "pickle"), ("notes.txt", "text")]);
    }

    #[test]
    fn malicious_checkpoint_inside_is_found_through_both_containers() {
        let checkpoint = include_bytes!("../../samples/malicious/torch_zip_payload.pt");
        let data = build(&[("model/checkpoint.pt", checkpoint)], None, true);
        let report = scan_with(&data, &Config::default());
        assert_eq!(report.verdict, crate::Verdict::Malicious);
        let hit = report
            .findings
            .iter()
            .find(|f| f.rule_id == crate::RuleId::PickleDeniedGlobal)
            .expect("PKL001");
        assert!(
            hit.evidence
                .as_deref()
                .unwrap_or_default()
                .contains("posix.system")
        );
        assert_eq!(
            hit.location.member_chain.first().map(String::as_str),
            Some("model/checkpoint.pt")
        );
        assert!(
            hit.location
                .member
                .as_deref()
                .unwrap_or_default()
                .ends_with("data.pkl")
        );
    }

    #[test]
    fn solid_archive_members_are_analysed() {
        let data = build(&[("a.pkl", PICKLE), ("../b.pkl", PICKLE)], None, true);
        let report = scan_with(&data, &Config::default());
        assert_eq!(codes(&report), ["ARC006"]);
        assert_eq!(report.members.len(), 2);
    }

    #[test]
    fn bomb_stops_at_the_ratio() {
        // Not zeros: detection of all-zero data is exercised elsewhere.
        let zeros = vec![0x01u8; 8 << 20];
        let data = build(&[("zeros", &zeros)], None, false);
        assert!(data.len() < 1 << 20);
        let report = scan_with(&data, &Config::default());
        assert_eq!(codes(&report), ["ARC005"], "{:?}", report.findings);
        assert!(report.members[0].size < 8 << 20);
    }

    #[test]
    fn declared_size_over_the_limit_is_reported() {
        let mut config = Config::default();
        config.zone.max_member_bytes = 8;
        let data = build(&[("data.pkl", PICKLE)], None, false);
        let report = scan_with(&data, &config);
        // The eight bytes kept are no longer recognisable as a pickle (FMT001).
        assert!(
            codes(&report)
                .iter()
                .all(|c| *c == "ARC005" || *c == "FMT001"),
            "{:?}",
            report.findings
        );
        assert_eq!(report.members[0].size, 8);
    }

    #[test]
    fn corrupt_and_truncated_archives() {
        let data = build(&[("data.pkl", &PICKLE.repeat(50))], None, false);
        let report = scan_with(&data[..data.len() - 10], &Config::default());
        assert_eq!(codes(&report), ["ARC001"]);
        let mut flipped = data.clone();
        flipped[40] ^= 0xff;
        let report = scan_with(&flipped, &Config::default());
        assert!(!report.findings.is_empty());
        let report = scan_with(&data[..20], &Config::default());
        assert_eq!(codes(&report), ["ARC001"]);
    }

    #[test]
    fn stored_content_crc_mismatch_is_reported_and_analysed() {
        let methods = vec![EncoderConfiguration::new(EncoderMethod::COPY)];
        let data = build(&[("data.pkl", PICKLE)], Some(methods), false);
        let at = data
            .windows(PICKLE.len())
            .position(|w| w == PICKLE)
            .unwrap();
        let mut data = data;
        data[at + PICKLE.len() - 2] = b'\x02';
        let report = scan_with(&data, &Config::default());
        assert_eq!(codes(&report), ["ARC002"], "{:?}", report.findings);
        assert_eq!(report.members.len(), 1);
        assert_eq!(report.members[0].format, "pickle");
    }
}

//! One reading of a member: its flags and mode checked, its bytes decoded within the zone's
//! limits (stored members are slices of the input), and the result handed to detection. Every
//! member any reading yields goes through here; the same bytes are analysed once.

use sha2::{Digest, Sha256};

use super::reconcile::Analysis;
use super::records::{
    FLAG_ENCRYPTED, FLAG_STRONG, FLAGS_ANOMALOUS, METHOD_AES, METHOD_BZIP2, METHOD_DEFLATE,
    METHOD_DEFLATE64, METHOD_LZMA, METHOD_STORED, METHOD_XZ, METHOD_ZSTD,
};
use crate::containers::codec::{self, Capped, Codec, Stop};
use crate::containers::members;
use crate::detect;
use crate::model::Format;
use crate::model::rules::RuleId;
use crate::scan::context::{LimitHit, MemberKind};
use crate::zone::spill::Blob;

/// One way of reading a member: where its bytes are and how to decode them.
#[derive(Debug, Clone)]
pub(super) struct Reading<'a> {
    pub name: Vec<u8>,
    /// Position of the local header (for finding offsets).
    pub at: usize,
    pub flags: u16,
    pub method: u16,
    pub crc: u32,
    pub usize: u64,
    pub csize: u64,
    /// The compressed bytes as far as the file holds them.
    pub raw: &'a [u8],
    pub truncated: bool,
    /// Unix mode bits from the external attributes (central entries only).
    pub mode: u32,
    /// The reading is an additional view of an entry already counted.
    pub alternate: bool,
    /// The CRC and uncompressed size are known (not deferred to a descriptor never found).
    pub verifiable: bool,
}

pub(super) enum Decoded<'a> {
    Stored(&'a [u8]),
    Inflated(Capped),
    Unsupported,
}

pub(super) fn method_name(method: u16) -> &'static str {
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

/// The codec of a zip compression method, if the scanner reads it.
fn codec_of(r: &Reading<'_>) -> Option<Codec> {
    Some(match r.method {
        METHOD_DEFLATE => Codec::Deflate,
        METHOD_DEFLATE64 => Codec::Deflate64,
        METHOD_BZIP2 => Codec::Bzip2,
        METHOD_LZMA => Codec::ZipLzma {
            eos: r.flags & 0x0002 != 0,
            size: r.usize,
        },
        METHOD_ZSTD => Codec::Zstd,
        METHOD_XZ => Codec::Xz,
        _ => return None,
    })
}

impl Analysis<'_, '_, '_> {
    /// Analyses one reading of a member.
    pub(super) fn member(&mut self, r: &Reading<'_>) -> Result<(), LimitHit> {
        let at = Some(r.at as u64);
        let name = self.names.check(self.ctx, &r.name, at, !r.alternate);
        let kind = self.kind(&r.name);
        let target = (r.method == METHOD_STORED && r.raw.len() <= 4096)
            .then(|| String::from_utf8_lossy(r.raw).into_owned());
        if let (Some("a symbolic link"), Some(t)) = (members::special_file(r.mode), &target)
            && !t.is_empty()
        {
            // Info-ZIP's unzip creates it (Python's zipfile writes the target as a file).
            if !self.links.iter().any(|l| l.name == name && l.target == *t) {
                self.links.push(members::LinkMember {
                    name: name.clone(),
                    target: t.clone(),
                    hard: false,
                    offset: at,
                });
            }
        } else if let Some(what) = members::special_file(r.mode) {
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
        if !self.plain_enough(r, &name, &decoded) {
            return Ok(());
        }
        self.hand_decoded(r, &name, kind, decoded)
    }

    /// Reports encryption and odd flag bits; `false` when the member really is encrypted (its
    /// content cannot be analysed).
    fn plain_enough(&mut self, r: &Reading<'_>, name: &str, decoded: &Decoded<'_>) -> bool {
        let at = Some(r.at as u64);
        let flagged = r.flags & (FLAG_ENCRYPTED | FLAG_STRONG) != 0;
        if flagged {
            // A real encryption header makes the data unreadable; a member that decodes to its
            // CRC, or is stored with plain recognisable content, is not encrypted at all.
            let plain = match decoded {
                Decoded::Stored(bytes) => {
                    r.csize == r.usize
                        || !matches!(
                            detect::detect(bytes),
                            Format::Unknown | Format::Empty | Format::Text
                        )
                }
                // A complete deflate stream that decodes to recognisable content (text
                // included) is plain even when its CRC was changed: PyTorch's reader checks
                // neither the flag nor, then, anything that would refuse it.
                Decoded::Inflated(c) => {
                    c.stop == Stop::Complete
                        && (crc32fast::hash(&c.data) == r.crc
                            || !matches!(detect::detect(&c.data), Format::Unknown | Format::Empty))
                }
                Decoded::Unsupported => false,
            };
            if !plain {
                self.names.budget.report(
                    self.ctx,
                    RuleId::ArchiveEncryptedMember,
                    at,
                    format!("member `{name}` is encrypted; its content cannot be inspected"),
                    Some(name.to_owned()),
                );
                return false;
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
                Some(name.to_owned()),
            );
        }
        true
    }

    /// Checks the decoded bytes against the header and hands them to detection.
    fn hand_decoded(
        &mut self,
        r: &Reading<'_>,
        name: &str,
        kind: MemberKind,
        decoded: Decoded<'_>,
    ) -> Result<(), LimitHit> {
        let at = Some(r.at as u64);
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
                    self.check_crc(name, at, bytes, r.crc);
                }
                members::hand_over_slice(self.ctx, name, bytes, kind)?;
                // Python's zipfile stops reading a stored member at its uncompressed size,
                // whatever the compressed size says: that shorter reading is analysed too.
                match usize::try_from(r.usize).ok().and_then(|n| bytes.get(..n)) {
                    Some(prefix) if prefix.len() < bytes.len() => members::hand_over_slice(
                        self.ctx,
                        &format!("{name} (zipfile reading)"),
                        prefix,
                        kind,
                    ),
                    _ => Ok(()),
                }
            }
            Decoded::Inflated(c) => {
                self.report_stop(r, name, &c);
                if c.data.is_empty() && c.stop != Stop::Complete {
                    return Ok(());
                }
                // Readings that decode to the same bytes (an entry read through two directories,
                // a local header that agrees in the end) are analysed once.
                let digest: [u8; 32] = Sha256::digest(&*c.data).into();
                if !self.contents.insert((digest, kind == MemberKind::File)) {
                    return Ok(());
                }
                members::hand_over(self.ctx, name, &c.data, kind)
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
                members::hand_over_slice(self.ctx, name, r.raw, MemberKind::Opaque)
            }
        }
    }

    /// Reports how an inflation ended when it did not end cleanly, or disagrees with the header.
    fn report_stop(&mut self, r: &Reading<'_>, name: &str, c: &Capped) {
        let at = Some(r.at as u64);
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
                self.check_crc(name, at, &c.data, r.crc);
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

    pub(super) fn decode<'r>(&mut self, r: &Reading<'r>, name: &str) -> Decoded<'r> {
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
        if r.method == METHOD_STORED {
            return Decoded::Stored(r.raw);
        }
        match codec_of(r) {
            Some(codec) => Decoded::Inflated(codec::decode(codec, r.raw, &limits)),
            None => Decoded::Unsupported,
        }
    }
}

/// Decodes a member quietly (no findings), for looking inside it before the members are
/// analysed (PyTorch's `data.pkl`): `None` when it cannot be read.
pub(super) fn peek<'a>(
    r: &Reading<'a>,
    limits: &crate::config::ZoneLimits,
) -> Option<MemberBytes<'a>> {
    if r.method == METHOD_STORED {
        return Some(MemberBytes::Stored(r.raw));
    }
    let capped = codec::decode(codec_of(r)?, r.raw, limits);
    Some(MemberBytes::Inflated(capped.data))
}

/// A member's bytes as [`peek`] read them: a slice of the archive for a stored member, else
/// what was inflated (on the heap or in a mapped temporary file).
pub enum MemberBytes<'a> {
    Stored(&'a [u8]),
    Inflated(Blob),
}

impl std::ops::Deref for MemberBytes<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            MemberBytes::Stored(bytes) => bytes,
            MemberBytes::Inflated(blob) => blob,
        }
    }
}

//! Single-stream compressors: gzip (every member of a multi-member file), bzip2, xz, LZMA-alone
//! (joblib's `lzma`), zstd and bare zlib (joblib's `zlib`). The stream is decompressed into
//! memory within the zone's limits and the result goes back to detection as one member.
//!
//! [`read_capped`] is also the one place where the other containers inflate a member, so that
//! every decompression in the scanner is bounded the same way: at most `max_member_bytes` of
//! output, at most `max_ratio` times the compressed size once past 1 MiB, and no allocation
//! that was not earned by output actually produced (declared sizes are never trusted).

use std::io::{self, Read};

use crate::config::ZoneLimits;
use crate::detect;
use crate::model::Format;
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, MemberKind};

/// Output below this size is never judged by its compression ratio.
const RATIO_GRACE: u64 = 1 << 20;

/// Bytes read from a decoder per call.
const CHUNK: usize = 64 << 10;

/// Why decompression stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The stream ended where it should.
    Complete,
    /// A zone limit was reached; the output holds what came before it.
    Limit(String),
    /// The stream is truncated or corrupt; the output holds what came before the damage.
    Corrupt(String),
}

/// The output of a bounded decompression.
#[derive(Debug)]
pub(crate) struct Capped {
    pub data: Vec<u8>,
    pub stop: Stop,
}

/// Reads `reader` to its end within the zone's limits: at most `max_member_bytes` of output, and
/// once past 1 MiB at most `max_ratio` times `compressed_len`. Memory grows only with output
/// actually produced; an allocation failure is reported as a limit, never an abort.
pub(crate) fn read_capped<R: Read>(reader: R, compressed_len: u64, limits: &ZoneLimits) -> Capped {
    read_capped_after(reader, compressed_len, 0, limits)
}

/// Like [`read_capped`] for one of several members that share `compressed_len` bytes of packed
/// data (a solid 7z block, a whole archive): `already` bytes unpacked from it before count
/// towards the ratio.
pub(crate) fn read_capped_after<R: Read>(
    mut reader: R,
    compressed_len: u64,
    already: u64,
    limits: &ZoneLimits,
) -> Capped {
    let cap = usize::try_from(limits.max_member_bytes).unwrap_or(usize::MAX);
    let ratio_bound = limits
        .max_ratio
        .saturating_mul(compressed_len.max(1))
        .max(RATIO_GRACE);
    let mut out: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    let stop = loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break Stop::Complete,
            Ok(n) => n.min(buf.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Stop::Corrupt(describe(&e)),
        };
        let room = cap.saturating_sub(out.len());
        let take = n.min(room);
        if !grow(&mut out, take, cap) {
            break Stop::Limit(format!(
                "could not allocate memory for more than {} unpacked bytes",
                out.len()
            ));
        }
        out.extend_from_slice(buf.get(..take).unwrap_or_default());
        if take < n {
            break Stop::Limit(format!(
                "unpacks to more than {} bytes (the per-member limit)",
                limits.max_member_bytes
            ));
        }
        let produced = (out.len() as u64).saturating_add(already);
        if produced > ratio_bound {
            break Stop::Limit(format!(
                "unpacks to more than {} times its compressed size of {compressed_len} bytes (the ratio limit)",
                limits.max_ratio
            ));
        }
    };
    Capped { data: out, stop }
}

/// Makes room for `additional` bytes, growing geometrically but never past `cap`.
fn grow(out: &mut Vec<u8>, additional: usize, cap: usize) -> bool {
    let needed = out.len().saturating_add(additional);
    if needed <= out.capacity() {
        return true;
    }
    let target = out.len().saturating_mul(2).max(CHUNK).min(cap).max(needed);
    out.try_reserve_exact(target - out.len()).is_ok()
}

fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            "the stream ends before its end marker (truncated)".to_owned()
        }
        _ => format!("the stream is corrupt: {e}"),
    }
}

/// Decompresses a whole-file stream and analyses its content.
pub fn analyse(format: Format, data: &[u8], ctx: &mut Ctx<'_>) {
    let limits = ctx.config().zone.clone();
    let compressed = data.len() as u64;
    let mut name = "<decompressed>".to_owned();
    let capped = match format {
        Format::Gzip => {
            if let Some(fname) = gzip_file_name(data) {
                name = fname;
            }
            read_capped(flate2::read::MultiGzDecoder::new(data), compressed, &limits)
        }
        Format::Bzip2 => read_capped(bzip2::read::MultiBzDecoder::new(data), compressed, &limits),
        Format::Xz => {
            let mem_kb = decoder_memory_kb(&limits);
            read_capped(
                lzma_rust2::XzReader::new_mem_limit(data, true, mem_kb),
                compressed,
                &limits,
            )
        }
        Format::Lzma => match lzma_alone_reader(data, &limits) {
            Ok(reader) => read_capped(reader, compressed, &limits),
            Err(why) => Capped {
                data: Vec::new(),
                stop: Stop::Corrupt(why),
            },
        },
        Format::Zstd => match zstd::stream::read::Decoder::with_buffer(data) {
            Ok(decoder) => read_capped(decoder, compressed, &limits),
            Err(e) => Capped {
                data: Vec::new(),
                stop: Stop::Corrupt(describe(&e)),
            },
        },
        Format::Zlib => read_capped(flate2::read::ZlibDecoder::new(data), compressed, &limits),
        Format::JoblibZfile => {
            let stream = detect::joblib_zfile_stream(data).unwrap_or_default();
            read_capped(flate2::read::ZlibDecoder::new(stream), compressed, &limits)
        }
        _ => return,
    };
    let what = format.name();
    match &capped.stop {
        Stop::Complete => {}
        Stop::Limit(why) => ctx.report(
            RuleId::ArchiveLimitExceeded,
            None,
            format!(
                "{what} stream {why}; only the first {} bytes were analysed",
                capped.data.len()
            ),
            None,
        ),
        Stop::Corrupt(why) => ctx.report(
            RuleId::ArchiveCorrupt,
            None,
            format!(
                "{what} stream: {why}; the {} bytes decompressed before that were analysed",
                capped.data.len()
            ),
            None,
        ),
    }
    if capped.data.is_empty() && capped.stop != Stop::Complete {
        return;
    }
    if ctx
        .charge_unpacked(&name, capped.data.len() as u64)
        .is_err()
    {
        return;
    }
    // Old joblib compresses each array's raw bytes into a file of its own: no format to find.
    let kind = match format {
        Format::JoblibZfile => MemberKind::Opaque,
        _ => MemberKind::File,
    };
    ctx.nested(&name, &capped.data, kind);
}

/// Memory the LZMA-family decoders may use for their dictionaries, in KiB: never more than the
/// output they may produce (a dictionary larger than the output is never filled).
pub(crate) fn decoder_memory_kb(limits: &ZoneLimits) -> u32 {
    let kb = (limits.max_member_bytes / 1024).saturating_add(64 << 10);
    u32::try_from(kb).unwrap_or(u32::MAX)
}

/// Opens an LZMA-alone stream (13-byte header: properties, dictionary size, uncompressed size).
/// The declared dictionary is clamped to the output limit: LZMA never refers further back than
/// what it has produced, so a smaller buffer decodes the same bytes and a lying header cannot
/// make the scanner allocate gigabytes.
fn lzma_alone_reader<'a>(
    data: &'a [u8],
    limits: &ZoneLimits,
) -> Result<lzma_rust2::LzmaReader<&'a [u8]>, String> {
    let (Some(&props), Some(dict), Some(size), Some(rest)) = (
        data.first(),
        data.get(1..5),
        data.get(5..13),
        data.get(13..),
    ) else {
        return Err("the LZMA header is truncated".to_owned());
    };
    let dict = u32::from_le_bytes(dict.try_into().unwrap_or_default());
    let size = u64::from_le_bytes(size.try_into().unwrap_or_default());
    let dict = clamp_dictionary(dict, limits);
    lzma_rust2::LzmaReader::new_with_props(rest, size, props, dict, None)
        .map_err(|e| format!("the LZMA header is invalid: {e}"))
}

/// The dictionary an LZMA decoder needs to produce at most `max_member_bytes` of output.
pub(crate) fn clamp_dictionary(dict: u32, limits: &ZoneLimits) -> u32 {
    let cap = u32::try_from(limits.max_member_bytes.saturating_add(1)).unwrap_or(u32::MAX);
    dict.min(cap).max(4096)
}

/// The original file name stored in a gzip header (FNAME), if any, as a member name.
fn gzip_file_name(data: &[u8]) -> Option<String> {
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    let flags = *data.get(3)?;
    if flags & FNAME == 0 {
        return None;
    }
    let mut pos = 10usize;
    if flags & FEXTRA != 0 {
        let xlen = u16::from_le_bytes([*data.get(10)?, *data.get(11)?]);
        pos = pos.checked_add(2)?.checked_add(usize::from(xlen))?;
    }
    let rest = data.get(pos..)?;
    let end = rest.iter().take(4096).position(|&b| b == 0)?;
    let raw = rest.get(..end)?;
    if raw.is_empty() {
        return None;
    }
    // The header is ISO-8859-1; keep only the last path component for display.
    let name: String = raw.iter().map(|&b| char::from(b)).collect();
    let base = name.rsplit(['/', '\\']).next().unwrap_or(&name);
    (!base.is_empty()).then(|| base.to_owned())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::config::Config;
    use crate::model::finding::ArtifactReport;
    use crate::testing::{PICKLE, container_codes as codes};

    fn scan_bytes(data: &[u8], name: &str, config: &Config) -> ArtifactReport {
        crate::scan::scan_bytes(data, std::path::Path::new(name), name, config)
    }

    fn gzip(data: &[u8], name: Option<&str>) -> Vec<u8> {
        let mut builder = flate2::GzBuilder::new();
        if let Some(name) = name {
            builder = builder.filename(name);
        }
        let mut enc = builder.write(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gzip_member_is_analysed_under_its_name() {
        let report = scan_bytes(
            &gzip(PICKLE, Some("dir/model.pkl")),
            "t.gz",
            &Config::default(),
        );
        assert_eq!(report.members.len(), 1);
        assert_eq!(report.members[0].member, "model.pkl");
        assert_eq!(report.members[0].format, "pickle");
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }

    #[test]
    fn multi_member_gzip_is_read_to_the_end() {
        let mut data = gzip(b"\x80\x04\x95", None);
        data.extend(gzip(b"\x05\x00\x00\x00\x00\x00\x00\x00K\x01.", None));
        let report = scan_bytes(&data, "t.gz", &Config::default());
        assert_eq!(report.members[0].size, PICKLE.len() as u64);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }

    #[test]
    fn truncated_gzip_is_corrupt_but_its_start_is_analysed() {
        let data = gzip(&PICKLE.repeat(100), Some("x.pkl"));
        let cut = &data[..data.len() - 20];
        let report = scan_bytes(cut, "t.gz", &Config::default());
        assert_eq!(codes(&report), ["ARC001"]);
        assert_eq!(report.members.len(), 1);
        assert_eq!(report.members[0].format, "pickle");
    }

    #[test]
    fn gzip_bomb_stops_at_the_ratio_limit_quickly() {
        // 256 MiB in 256 gzip members of 1 MiB each (about 256 KiB of file in all).
        let member = gzip(&vec![0x01u8; 1 << 20], None);
        let bomb = member.repeat(256);
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        let started = std::time::Instant::now();
        let report = scan_bytes(&bomb, "bomb.gz", &Config::default());
        assert!(started.elapsed().as_secs() < 30);
        assert_eq!(codes(&report), ["ARC005"], "{:?}", report.findings);
        let analysed = report.members[0].size;
        assert!(analysed <= 200 * bomb.len() as u64 + CHUNK as u64 && analysed >= 1 << 20);
    }

    #[test]
    fn member_limit_caps_output() {
        let mut config = Config::default();
        config.zone.max_member_bytes = 1000;
        config.zone.max_ratio = u64::MAX;
        let data = gzip(&[b'a'; 5000], None);
        let report = scan_bytes(&data, "t.gz", &config);
        assert_eq!(codes(&report), ["ARC005"]);
        assert_eq!(report.members[0].size, 1000);
    }

    #[test]
    fn total_limit_is_charged() {
        let mut config = Config::default();
        config.zone.max_total_bytes = 10;
        let report = scan_bytes(&gzip(PICKLE, None), "t.gz", &config);
        assert_eq!(codes(&report), ["ARC005"]);
        assert!(report.members.is_empty());
    }

    #[test]
    fn other_compressors_round_trip() {
        let config = Config::default();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(PICKLE).unwrap();
        let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zl.write_all(PICKLE).unwrap();
        let zs = zstd::encode_all(PICKLE, 3).unwrap();
        let mut xz =
            lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default()).unwrap();
        xz.write_all(PICKLE).unwrap();
        let mut lz = lzma_rust2::LzmaWriter::new_use_header(
            Vec::new(),
            &lzma_rust2::LzmaOptions::default(),
            None,
        )
        .unwrap();
        lz.write_all(PICKLE).unwrap();
        for (data, format) in [
            (bz.finish().unwrap(), "bzip2"),
            (zl.finish().unwrap(), "zlib"),
            (zs, "zstd"),
            (xz.finish().unwrap(), "xz"),
            (lz.finish().unwrap(), "lzma"),
        ] {
            let report = scan_bytes(&data, "t", &config);
            assert_eq!(report.format, format);
            assert_eq!(report.members.len(), 1, "{format}");
            assert_eq!(report.members[0].format, "pickle", "{format}");
            assert!(
                report.findings.is_empty(),
                "{format}: {:?}",
                report.findings
            );
        }
    }

    #[test]
    fn corrupt_streams_are_reported() {
        let config = Config::default();
        for data in [
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff".to_vec(),
            b"BZh91AY&SY\xff\xff\xff\xff".to_vec(),
            b"\xfd7zXZ\x00\x00\x00\x00\x00".to_vec(),
            b"\x28\xb5\x2f\xfd\xff\xff\xff".to_vec(),
            b"\x78\x9c\xff\xff\xff".to_vec(),
            b"\x5d\x00\x00\x80\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(),
        ] {
            let report = scan_bytes(&data, "t", &config);
            assert!(
                codes(&report).contains(&"ARC001"),
                "{data:?}: {:?}",
                report.findings
            );
        }
    }

    #[test]
    fn lzma_dictionary_is_clamped() {
        let mut config = Config::default();
        config.zone.max_member_bytes = 1 << 20;
        // Declares a 2 GiB dictionary; must not allocate it.
        let mut data = vec![0x5d, 0x00, 0x00, 0x00, 0x80];
        data.extend_from_slice(&[0xff; 8]);
        data.extend_from_slice(&[0u8; 32]);
        let report = scan_bytes(&data, "t", &config);
        assert_eq!(report.format, "lzma");
        assert!(codes(&report).contains(&"ARC001"));
    }
}

//! Single-stream compressors: gzip (every member of a multi-member file), bzip2, xz, LZMA-alone
//! (joblib's `lzma`), zstd, bare zlib (joblib's `zlib`), LZ4 frames (joblib's `lz4`) and
//! joblib's old `ZF` files. The stream is decompressed into memory within the zone's limits
//! (through [`codec`], where every decompression is bounded) and the result goes back to
//! detection as one member; what was decompressed before a limit or damage is analysed too.

use crate::bytes::ReadRef;
use crate::containers::codec::{self, Codec, Stop};
use crate::containers::members;
use crate::detect;
use crate::model::Format;
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, MemberKind};

/// Decompresses a whole-file stream and analyses its content.
pub fn analyse(format: Format, data: &[u8], ctx: &mut Ctx<'_>) {
    let limits = ctx.config().zone.clone();
    let mut name = "<decompressed>".to_owned();
    let (codec, stream) = match format {
        Format::Gzip => {
            if let Some(fname) = gzip_file_name(data) {
                name = fname;
            }
            (Codec::Gzip, data)
        }
        Format::Bzip2 => (Codec::Bzip2, data),
        Format::Xz => (Codec::Xz, data),
        Format::Lzma => (Codec::LzmaAlone, data),
        Format::Zstd => (Codec::Zstd, data),
        Format::Zlib => (Codec::Zlib, data),
        Format::Lz4 => (Codec::Lz4Frame, data),
        Format::JoblibZfile => (
            Codec::Zlib,
            detect::joblib_zfile_stream(data).unwrap_or_default(),
        ),
        _ => return,
    };
    let capped = codec::decode(codec, stream, &limits);
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
    // Old joblib compresses each array's raw bytes into a file of its own: no format to find.
    let kind = match format {
        Format::JoblibZfile => MemberKind::Opaque,
        _ => MemberKind::File,
    };
    let _ = members::hand_over(ctx, &name, &capped.data, kind);
}

/// The original file name stored in a gzip header (FNAME), if any, as a member name.
fn gzip_file_name(data: &[u8]) -> Option<String> {
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    let flags = data.read_u8(3).ok()?;
    if flags & FNAME == 0 {
        return None;
    }
    let mut pos = 10usize;
    if flags & FEXTRA != 0 {
        let xlen = data.u16_le(10).ok()?;
        pos = pos.checked_add(2)?.checked_add(usize::from(xlen))?;
    }
    let rest = data.read_from(pos).ok()?;
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

    use crate::config::Config;
    use crate::containers::codec::CHUNK;
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
    fn zero_padding_between_gzip_members_is_skipped_as_python_does() {
        // Python's gzip skips zero bytes after a member; the member behind them is read.
        let mut data = gzip(b"", None);
        data.extend_from_slice(&[0; 8]);
        data.extend(gzip(PICKLE, None));
        data.extend_from_slice(&[0; 3]);
        let report = scan_bytes(&data, "t.gz", &Config::default());
        assert_eq!(report.members[0].size, PICKLE.len() as u64);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        // Anything else after a member is not gzip: Python raises there.
        let mut data = gzip(PICKLE, None);
        data.extend_from_slice(b"\x00\x00junk");
        assert!(codes(&scan_bytes(&data, "t.gz", &Config::default())).contains(&"ARC001"));
    }

    #[test]
    fn zstd_behind_skippable_frames_is_decompressed() {
        let mut data = vec![0x50, 0x2a, 0x4d, 0x18, 8, 0, 0, 0];
        data.extend_from_slice(&[0; 8]);
        data.extend(zstd::encode_all(PICKLE, 3).unwrap());
        let report = scan_bytes(&data, "t", &Config::default());
        assert_eq!(report.format, "zstd");
        assert_eq!(report.members[0].format, "pickle");
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
        // The first 10 bytes are no longer recognisable as a pickle (FMT001).
        assert_eq!(codes(&report), ["ARC005", "FMT001"]);
        // What fits the limit is analysed; the rest is not.
        assert_eq!(report.members.len(), 1);
        assert_eq!(report.members[0].size, 10);
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

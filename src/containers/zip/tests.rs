//! Tests of the zip readings, one archive trick per test.
#![allow(clippy::cast_possible_truncation, reason = "test fixtures are small")]
use std::io::Write;

use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

use super::central::{self, Reader};
use super::records::*;
use super::walk::walk_local;
use super::*;
use crate::bytes::ReadRef;
use crate::config::Config;
use crate::model::finding::ArtifactReport;
use crate::testing::{PICKLE, container_codes as codes, scan, scan_with};
use memchr::memmem;
use std::io::Cursor;

const STORED: CompressionMethod = CompressionMethod::Stored;
const DEFLATED: CompressionMethod = CompressionMethod::Deflated;

/// Members of the archive itself (not what analysers found inside them).
fn members(report: &ArtifactReport) -> Vec<(String, String)> {
    report
        .members
        .iter()
        .filter(|m| !m.member.contains('!'))
        .map(|m| (m.member.clone(), m.format.name().to_owned()))
        .collect()
}

fn build(files: &[(&str, &[u8], CompressionMethod)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data, method) in files {
        w.start_file(
            *name,
            SimpleFileOptions::default().compression_method(*method),
        )
        .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn find_all(data: &[u8], sig: &[u8]) -> Vec<usize> {
    memmem::find_iter(data, sig).collect()
}

fn put16(data: &mut [u8], at: usize, v: u16) {
    data[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(data: &mut [u8], at: usize, v: u32) {
    data[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Replaces a name of the same length everywhere it is stored.
fn rename(data: &mut [u8], from: &[u8], to: &[u8], local: bool, central: bool) {
    assert_eq!(from.len(), to.len());
    for at in find_all(data, from) {
        let is_local = at >= LOCAL_LEN && data.has_at(at - LOCAL_LEN, LOCAL_SIG);
        let is_central = at >= CENTRAL_LEN && data.has_at(at - CENTRAL_LEN, CENTRAL_SIG);
        if (is_local && local) || (is_central && central) {
            data[at..at + to.len()].copy_from_slice(to);
        }
    }
}

/// Not text, not any known magic: what tensor bytes look like.
fn tensor_bytes() -> Vec<u8> {
    (0..64u8).map(|i| i.wrapping_mul(37) | 0x80).collect()
}

#[test]
fn stored_and_deflated_members_are_analysed() {
    let data = build(&[("data.pkl", PICKLE, STORED), ("d/x.pkl", PICKLE, DEFLATED)]);
    let report = scan(&data);
    assert_eq!(report.format, "zip");
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(
        members(&report),
        [
            ("data.pkl".to_owned(), "pickle".to_owned()),
            ("d/x.pkl".to_owned(), "pickle".to_owned())
        ]
    );
}

#[test]
fn stored_members_are_slices_of_the_input() {
    let data = build(&[("data.pkl", PICKLE, STORED)]);
    let readings = central::readings(&data, 10);
    let cd = readings[0].as_ref().unwrap();
    assert_eq!(cd.reader, Reader::Zipfile);
    let h = parse_local(&data, 0).unwrap();
    assert_eq!(cd.entries.len(), 1);
    assert_eq!(&data[h.data_start..h.data_start + PICKLE.len()], PICKLE);
}

/// A data.pkl that loads one persistent id, `('storage', '0')`, as torch's do.
const TORCH_PKL: &[u8] = b"\x80\x02(X\x07\x00\x00\x00storageq\x00X\x01\x00\x00\x000q\x01tQ.";

#[test]
fn torch_storages_are_opaque() {
    let tensor = tensor_bytes();
    let data = build(&[
        ("archive/data.pkl", TORCH_PKL, STORED),
        ("archive/data/0", &tensor, STORED),
        ("archive/version", b"3\n", STORED),
    ]);
    let report = scan(&data);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.members[1].format, "unknown");
    // Without data.pkl the same bytes are an unknown file.
    let data = build(&[("archive/data/0", &tensor, STORED)]);
    assert_eq!(codes(&scan(&data)), ["FMT001"]);
}

#[test]
fn crc_mismatch_is_reported_and_the_member_analysed() {
    let mut data = build(&[("data.pkl", PICKLE, STORED)]);
    let l = find_all(&data, LOCAL_SIG)[0];
    let c = find_all(&data, CENTRAL_SIG)[0];
    put32(&mut data, l + 14, 0xdead_beef);
    put32(&mut data, c + 16, 0xdead_beef);
    let report = scan(&data);
    assert_eq!(codes(&report), ["ARC002"]);
    assert_eq!(report.members[0].format, "pickle");
}

#[test]
fn flag_bits_on_plain_members_are_anomalies_not_encryption() {
    for (flag, method) in [
        (0x1, STORED),
        (0x20, STORED),
        (0x40, STORED),
        (0x1, DEFLATED),
    ] {
        let mut data = build(&[("model/config.pkl", PICKLE, method)]);
        let l = find_all(&data, LOCAL_SIG)[0];
        let c = find_all(&data, CENTRAL_SIG)[0];
        put16(&mut data, l + 6, flag);
        put16(&mut data, c + 8, flag);
        let report = scan(&data);
        assert_eq!(
            codes(&report),
            ["ARC009"],
            "flag {flag:#x}: {:?}",
            report.findings
        );
        assert_eq!(report.members[0].format, "pickle");
    }
}

#[test]
fn really_encrypted_member_is_reported_not_analysed() {
    // Traditional encryption: 12-byte header, then ciphertext; compressed = plain + 12.
    let ciphertext: Vec<u8> = (0..27u8)
        .map(|i| i.wrapping_mul(151) ^ 0xa5 | 0x80)
        .collect();
    let mut data = build(&[("test.txt", &ciphertext, STORED)]);
    let l = find_all(&data, LOCAL_SIG)[0];
    let c = find_all(&data, CENTRAL_SIG)[0];
    put16(&mut data, l + 6, 1);
    put16(&mut data, c + 8, 1);
    put32(&mut data, l + 22, 15);
    put32(&mut data, c + 24, 15);
    let report = scan(&data);
    assert_eq!(codes(&report), ["ARC004"], "{:?}", report.findings);
    assert!(report.members.is_empty());
}

#[test]
fn local_name_differs_from_central_name() {
    let mut data = build(&[("data.pkl", PICKLE, STORED)]);
    rename(&mut data, b"data.pkl", b"datap.kl", true, false);
    let report = scan(&data);
    assert_eq!(codes(&report), ["ARC003"]);
    assert_eq!(
        members(&report),
        [("data.pkl".to_owned(), "pickle".to_owned())]
    );
}

#[test]
fn local_size_differs_and_both_readings_are_analysed() {
    let mut content = PICKLE.to_vec();
    content.extend_from_slice(&tensor_bytes());
    let mut data = build(&[("data.pkl", &content, STORED)]);
    let c = find_all(&data, CENTRAL_SIG)[0];
    put32(&mut data, c + 20, PICKLE.len() as u32);
    put32(&mut data, c + 24, PICKLE.len() as u32);
    let report = scan(&data);
    let codes = codes(&report);
    assert!(codes.contains(&"ARC003"), "{codes:?}");
    let own: Vec<_> = report
        .members
        .iter()
        .filter(|m| !m.member.contains('!'))
        .collect();
    assert_eq!(own.len(), 2, "{own:?}");
    assert_eq!(own[0].size, PICKLE.len() as u64);
    assert_eq!(own[1].member, "data.pkl (local header)");
    assert_eq!(own[1].size, content.len() as u64);
}

#[test]
fn method_mismatch_is_reported() {
    let mut data = build(&[("data.pkl", PICKLE, STORED)]);
    let l = find_all(&data, LOCAL_SIG)[0];
    put16(&mut data, l + 8, 8);
    let report = scan(&data);
    assert!(codes(&report).contains(&"ARC003"), "{:?}", report.findings);
    assert_eq!(report.members[0].format, "pickle");
}

#[test]
fn duplicate_names_are_reported_and_all_copies_analysed() {
    let mut data = build(&[("a.pkl", PICKLE, STORED), ("b.pkl", b"hello", STORED)]);
    rename(&mut data, b"b.pkl", b"a.pkl", true, true);
    let report = scan(&data);
    assert_eq!(codes(&report), ["ARC008"], "{:?}", report.findings);
    assert_eq!(report.members.len(), 2);
    assert!(report.members.iter().all(|m| m.member == "a.pkl"));
}

#[test]
fn unsafe_paths_are_reported() {
    let mut data = build(&[
        ("aa/evil.pkl", PICKLE, STORED),
        ("xetc/passwd", b"x", STORED),
        ("Cx\\win.pkl", b"x", STORED),
        ("a\\bb\\x", b"x", STORED),
    ]);
    rename(&mut data, b"aa/evil.pkl", b"../evil.pkl", true, true);
    rename(&mut data, b"xetc/passwd", b"/etc/passwd", true, true);
    rename(&mut data, b"Cx\\win.pkl", b"C:\\win.pkl", true, true);
    rename(&mut data, b"a\\bb\\x", b"a\\..\\x", true, true);
    let report = scan(&data);
    assert_eq!(codes(&report), ["ARC006"; 4], "{:?}", report.findings);
    assert_eq!(report.members[0].format, "pickle");
}

#[test]
fn symlinks_are_reported() {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.add_symlink("weights.bin", "/etc/passwd", SimpleFileOptions::default())
        .unwrap();
    let data = w.finish().unwrap().into_inner();
    let report = scan(&data);
    assert_eq!(codes(&report), ["ARC007"], "{:?}", report.findings);
    assert!(report.findings[0].message.contains("/etc/passwd"));
}

#[test]
fn declared_sizes_over_the_limit() {
    let mut config = Config::default();
    config.zone.max_member_bytes = 1000;
    config.zone.max_ratio = u64::MAX;
    let big = vec![b'a'; 5000];
    let data = build(&[("big.txt", &big, DEFLATED), ("s.txt", &big, STORED)]);
    let report = scan_with(&data, &config);
    assert!(
        codes(&report).iter().all(|c| *c == "ARC005"),
        "{:?}",
        report.findings
    );
    // Inflating stops at the limit; a stored member is a slice of the input, allocated by
    // nobody, and is analysed whole.
    let sizes: Vec<_> = report
        .members
        .iter()
        .map(|m| (m.member.as_str(), m.size))
        .collect();
    assert_eq!(sizes, [("big.txt", 1000), ("s.txt", 5000)]);
}

#[test]
fn declared_ten_terabytes_is_not_trusted() {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(DEFLATED)
        .large_file(true);
    w.start_file("data.pkl", options).unwrap();
    w.write_all(PICKLE).unwrap();
    let mut data = w.finish().unwrap().into_inner();
    // Patch the uncompressed size in every ZIP64 extra field to 10 TB.
    for at in find_all(&data, b"\x01\x00\x10\x00")
        .into_iter()
        .chain(find_all(&data, b"\x01\x00\x18\x00"))
    {
        data[at + 4..at + 12].copy_from_slice(&(10u64 << 40).to_le_bytes());
    }
    let c = find_all(&data, CENTRAL_SIG)[0];
    let (entry, _) = parse_central_entry(&data, c).unwrap();
    assert_eq!(entry.usize, 10 << 40);
    let report = scan(&data);
    let codes = codes(&report);
    assert!(codes.contains(&"ARC005"), "{codes:?}");
    assert_eq!(report.members[0].format, "pickle");
    assert_eq!(report.members[0].size, PICKLE.len() as u64);
}

#[test]
fn stored_size_past_the_end_is_truncated_but_analysed() {
    let mut data = build(&[("data.pkl", PICKLE, STORED)]);
    let c = find_all(&data, CENTRAL_SIG)[0];
    put32(&mut data, c + 20, 0xffff_fff0);
    put32(&mut data, c + 24, 0xffff_fff0);
    let report = scan(&data);
    assert!(codes(&report).contains(&"ARC001"), "{:?}", report.findings);
    assert_eq!(report.members[0].format, "pickle");
}

#[test]
fn truncated_archive_is_recovered_from_local_headers() {
    let data = build(&[
        ("a.pkl", PICKLE, STORED),
        ("b.pkl", &PICKLE.repeat(20), DEFLATED),
    ]);
    let cd = find_all(&data, CENTRAL_SIG)[0];
    let report = scan(&data[..cd - 3]);
    let found = codes(&report);
    assert!(
        found.contains(&"ARC001") && found.contains(&"ARC010"),
        "{found:?}"
    );
    assert_eq!(members(&report).len(), 2);
    assert_eq!(report.members[0].format, "pickle");
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.message.contains("the file ends after")),
        "{:?}",
        report.findings
    );
    // Cut inside the first member's data.
    let report = scan(&data[..LOCAL_LEN + 5 + 4]);
    let found = codes(&report);
    assert!(
        found.contains(&"ARC001") && found.contains(&"ARC010"),
        "{found:?}"
    );
    assert_eq!(members(&report).len(), 1);
}

#[test]
fn broken_central_directory_is_recovered() {
    let mut data = build(&[("a.pkl", PICKLE, STORED), ("b.pkl", PICKLE, STORED)]);
    let c = find_all(&data, CENTRAL_SIG)[1];
    data[c..c + 4].copy_from_slice(b"XXXX");
    let report = scan(&data);
    assert_eq!(codes(&report), ["ARC010"], "{:?}", report.findings);
    assert_eq!(report.members.len(), 2);
}

#[test]
fn header_only_archives() {
    let mut eocd = END_SIG.to_vec();
    eocd.extend_from_slice(&[0; 18]);
    let report = scan(&eocd);
    assert_eq!(report.format, "zip");
    assert!(report.findings.is_empty() && report.members.is_empty());
    // Local headers and nothing else: no data, no directory.
    let mut headers = Vec::new();
    for _ in 0..3 {
        headers.extend_from_slice(LOCAL_SIG);
        headers.extend_from_slice(&[0; 26]);
    }
    let report = scan(&headers);
    assert_eq!(
        codes(&report),
        ["ARC008", "ARC010"],
        "{:?}",
        report.findings
    );
    // A local header cut short.
    let report = scan(&headers[..40]);
    assert_eq!(
        codes(&report),
        ["ARC001", "ARC010"],
        "{:?}",
        report.findings
    );
}

#[test]
fn overlapping_entries_are_reported() {
    let mut data = build(&[("a.pkl", PICKLE, STORED), ("b.pkl", PICKLE, STORED)]);
    let c = find_all(&data, CENTRAL_SIG)[1];
    put32(&mut data, c + 42, 0);
    let report = scan(&data);
    let codes = codes(&report);
    assert!(codes.contains(&"ARC001"), "{codes:?}");
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.message.contains("overlap"))
    );
}

#[test]
fn local_header_missing_from_the_directory_is_analysed() {
    let mut data = build(&[("a.pkl", PICKLE, STORED), ("b.pkl", PICKLE, STORED)]);
    // Drop the second central entry from the count and size.
    let c = find_all(&data, CENTRAL_SIG);
    let e = find_all(&data, END_SIG)[0];
    let second_len = (e - c[1]) as u32;
    let size = data.u32_le(e + 12).unwrap();
    put16(&mut data, e + 8, 1);
    put16(&mut data, e + 10, 1);
    put32(&mut data, e + 12, size - second_len);
    let report = scan(&data);
    assert!(codes(&report).contains(&"ARC003"), "{:?}", report.findings);
    assert_eq!(report.members.len(), 2);
}

#[test]
fn prepended_bytes_are_reported_and_offsets_shifted() {
    let zip = build(&[("a.pkl", PICKLE, STORED)]);
    let mut data = tensor_bytes();
    data.extend_from_slice(&zip);
    let report = scan(&data);
    assert_eq!(report.format, "zip");
    assert_eq!(codes(&report), ["ARC001"], "{:?}", report.findings);
    assert_eq!(report.members.len(), 1);
    assert_eq!(report.members[0].format, "pickle");
}

#[test]
fn data_descriptors_are_followed() {
    // A streamed member: sizes and CRC only after the data.
    let mut w = zip::write::ZipWriter::new_stream(Vec::new());
    w.start_file(
        "archive/data.pkl",
        SimpleFileOptions::default().compression_method(STORED),
    )
    .unwrap();
    w.write_all(PICKLE).unwrap();
    w.start_file(
        "archive/x.pkl",
        SimpleFileOptions::default().compression_method(DEFLATED),
    )
    .unwrap();
    w.write_all(PICKLE).unwrap();
    let data = w.finish().unwrap().into_inner();
    let report = scan(&data);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.members.len(), 2);
    // Without the directory the walk still finds both members.
    let cd = find_all(&data, CENTRAL_SIG)[0];
    let walk = walk_local(&data[..cd], &std::collections::HashMap::new(), 10, 1 << 20);
    assert_eq!(walk.entries.len(), 2);
    assert!(walk.entries.iter().all(|w| w.descriptor.is_some()));
    let report = scan(&data[..cd]);
    assert_eq!(codes(&report), ["ARC010"], "{:?}", report.findings);
    assert_eq!(report.members.len(), 2);
}

#[test]
fn unknown_method_is_corrupt() {
    let mut data = build(&[("a.pkl", PICKLE, STORED)]);
    let l = find_all(&data, LOCAL_SIG)[0];
    let c = find_all(&data, CENTRAL_SIG)[0];
    put16(&mut data, l + 8, 77);
    put16(&mut data, c + 10, 77);
    let report = scan(&data);
    assert_eq!(codes(&report), ["ARC001"], "{:?}", report.findings);
    // Recognisable raw content is still analysed.
    assert_eq!(report.members[0].format, "pickle");
}

#[test]
fn other_compression_methods_are_read() {
    let mut exercised = 0;
    for method in [
        CompressionMethod::Bzip2,
        CompressionMethod::Zstd,
        CompressionMethod::Xz,
        CompressionMethod::Deflate64,
    ] {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        if w.start_file(
            "a.pkl",
            SimpleFileOptions::default().compression_method(method),
        )
        .is_err()
        {
            continue;
        }
        w.write_all(PICKLE).unwrap();
        let data = w.finish().unwrap().into_inner();
        let report = scan(&data);
        assert!(
            report.findings.is_empty(),
            "{method:?}: {:?}",
            report.findings
        );
        assert_eq!(report.members[0].format, "pickle", "{method:?}");
        exercised += 1;
    }
    assert!(exercised >= 3);
}

#[test]
fn zip_lzma_members_are_read() {
    // The zip crate cannot write method 14, so build one: version, properties size,
    // properties, then the raw stream with an end marker (flag bit 1).
    let mut alone = lzma_rust2::LzmaWriter::new_use_header(
        Vec::new(),
        &lzma_rust2::LzmaOptions::default(),
        None,
    )
    .unwrap();
    alone.write_all(PICKLE).unwrap();
    let alone = alone.finish().unwrap();
    let mut body = vec![0x10, 0x02, 0x05, 0x00];
    body.extend_from_slice(&alone[..5]);
    body.extend_from_slice(&alone[13..]);
    let mut data = build(&[("a.pkl", &body, STORED)]);
    let l = find_all(&data, LOCAL_SIG)[0];
    let c = find_all(&data, CENTRAL_SIG)[0];
    let crc = crc32fast::hash(PICKLE);
    for (flags, method, crc_at, usize_at) in [
        (l + 6, l + 8, l + 14, l + 22),
        (c + 8, c + 10, c + 16, c + 24),
    ] {
        put16(&mut data, flags, 0x0002);
        put16(&mut data, method, METHOD_LZMA);
        put32(&mut data, crc_at, crc);
        put32(&mut data, usize_at, PICKLE.len() as u32);
    }
    let report = scan(&data);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(
        members(&report),
        [("a.pkl".to_owned(), "pickle".to_owned())]
    );
}

#[test]
fn unicode_path_extra_field_naming_another_file_is_a_differential() {
    let shown = b"../evil.pkl";
    let mut extra = vec![1u8];
    extra.extend_from_slice(&crc32fast::hash(b"safe.pkl").to_le_bytes());
    extra.extend_from_slice(shown);
    let mut options = zip::write::FullFileOptions::default().compression_method(STORED);
    options.add_extra_field(0x7075, extra, false).unwrap();
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file("safe.pkl", options).unwrap();
    w.write_all(PICKLE).unwrap();
    let data = w.finish().unwrap().into_inner();
    let report = scan(&data);
    assert_eq!(
        codes(&report),
        ["ARC003", "ARC006"],
        "{:?}",
        report.findings
    );
    assert_eq!(
        members(&report),
        [("safe.pkl".to_owned(), "pickle".to_owned())]
    );
}

#[test]
fn member_count_limit() {
    let mut config = Config::default();
    config.zone.max_members = 2;
    let data = build(&[
        ("a", b"1", STORED),
        ("b", b"2", STORED),
        ("c", b"3", STORED),
    ]);
    let report = scan_with(&data, &config);
    assert_eq!(codes(&report), ["ARC005"], "{:?}", report.findings);
}

#[test]
fn deflate_bomb_stops_at_the_ratio() {
    let data = build(&[("zeros", &vec![b'a'; 32 << 20], DEFLATED)]);
    let report = scan(&data);
    assert_eq!(codes(&report), ["ARC005"], "{:?}", report.findings);
    assert!(report.members[0].size < 32 << 20);
}

#[test]
fn garbage_never_panics() {
    let base = build(&[
        ("a.pkl", PICKLE, STORED),
        ("b.pkl", &PICKLE.repeat(9), DEFLATED),
    ]);
    let mut seed = 0x1234_5678u32;
    for round in 0..400 {
        let mut data = base.clone();
        for _ in 0..(round % 7 + 1) {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let at = seed as usize % data.len();
            data[at] = (seed >> 24) as u8;
        }
        let cut = if round % 5 == 0 {
            data.len() - round % 50
        } else {
            data.len()
        };
        let _ = scan(&data[..cut]);
    }
}

#[test]
fn findings_per_rule_are_capped() {
    let names: Vec<String> = (0..300).map(|i| format!("aa/{i:04}.txt")).collect();
    let files: Vec<(&str, &[u8], CompressionMethod)> = names
        .iter()
        .map(|n| (n.as_str(), &b"x"[..], STORED))
        .collect();
    let mut data = build(&files);
    rename(&mut data, b"aa/", b"../", true, true);
    let report = scan(&data);
    let unsafe_paths = report
        .findings
        .iter()
        .filter(|f| f.rule_id == RuleId::ArchiveUnsafePath)
        .count();
    assert_eq!(unsafe_paths, 65);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.message.contains("236 more findings"))
    );
    assert_eq!(members(&report).len(), 300);
}

#[test]
fn headers_without_sizes_do_not_make_the_walk_quadratic() {
    // 50,000 stored members with data descriptors, no directory, no descriptor anywhere.
    let mut header = LOCAL_SIG.to_vec();
    header.extend_from_slice(&[20, 0, 8, 0, 0, 0]);
    header.extend_from_slice(&[0; 20]);
    let data = header.repeat(50_000);
    let started = std::time::Instant::now();
    let walk = walk_local(&data, &std::collections::HashMap::new(), 100_001, 1 << 20);
    assert_eq!(walk.entries.len(), 50_000);
    assert!(started.elapsed().as_secs() < 10);
}

#[test]
fn archive_cut_from_a_larger_file_is_read_with_a_negative_shift() {
    // Offsets count from the start of an enclosing file 48 bytes earlier (a zip embedded after
    // a pickle, handed over as the pickle's trailing data).
    let mut data = build(&[("a.pkl", PICKLE, STORED), ("b.pkl", PICKLE, DEFLATED)]);
    for c in find_all(&data, CENTRAL_SIG) {
        let offset = data.u32_le(c + 42).unwrap();
        put32(&mut data, c + 42, offset + 48);
    }
    let e = find_all(&data, END_SIG)[0];
    let offset = data.u32_le(e + 16).unwrap();
    put32(&mut data, e + 16, offset + 48);
    let report = scan(&data);
    assert!(codes(&report).is_empty(), "{:?}", report.findings);
    assert_eq!(members(&report).len(), 2);
}

// --- the readings of issue 13 ----------------------------------------------------------------

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples/malicious")
            .join(name),
    )
    .unwrap()
}

/// The finding of `rule` whose evidence names both readings.
fn evidence_of(report: &ArtifactReport, rule: &str) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.rule_id.code() == rule)
        .filter_map(|f| f.evidence.clone())
        .collect()
}

fn has_payload(report: &ArtifactReport) -> bool {
    report.findings.iter().any(|f| {
        f.rule_id.code() == "PKL001"
            && f.evidence
                .as_deref()
                .is_some_and(|e| e.contains("posix.system"))
    })
}

#[test]
fn miniz_and_zipfile_locate_different_directories() {
    let data = sample("zip_python_vs_miniz.pt");
    let readings = central::readings(&data, 100);
    let zipfile = readings[0].as_ref().unwrap();
    let miniz = readings[1].as_ref().unwrap();
    assert_eq!(
        (zipfile.reader, miniz.reader),
        (Reader::Zipfile, Reader::Miniz)
    );
    assert!(zipfile.usable() && miniz.usable());
    assert_ne!(zipfile.start, miniz.start);
    assert_eq!(zipfile.shift, 62);
    assert_eq!(miniz.shift, 0);
    let report = scan(&data);
    assert_eq!(
        evidence_of(&report, "ARC011"),
        ["Python zipfile vs miniz (PyTorch)"]
    );
    assert!(has_payload(&report), "{:?}", report.findings);
    // The payload is in the member only miniz reads.
    let hit = report
        .findings
        .iter()
        .find(|f| f.rule_id.code() == "PKL001")
        .unwrap();
    assert_eq!(
        hit.location.member.as_deref(),
        Some("archive/data.pkl (miniz (PyTorch) reading)")
    );
}

#[test]
fn a_cut_end_signature_blinds_zipfile_not_miniz() {
    let data = sample("zip_cut_end_signature.zip");
    let readings = central::readings(&data, 100);
    assert!(
        readings[0].is_err(),
        "zipfile must refuse: {:?}",
        readings[0]
    );
    assert!(readings[1].as_ref().is_ok_and(|d| d.usable()));
    let report = scan(&data);
    assert_eq!(
        evidence_of(&report, "ARC011"),
        ["Python zipfile vs miniz (PyTorch)"]
    );
    assert!(has_payload(&report), "{:?}", report.findings);
}

#[test]
fn every_end_record_candidate_is_read() {
    let data = sample("zip_second_end_record.zip");
    let report = scan(&data);
    let evidence = evidence_of(&report, "ARC011");
    assert!(
        evidence
            .iter()
            .any(|e| e.starts_with("Python zipfile vs end record at offset")),
        "{evidence:?}"
    );
    assert!(has_payload(&report), "{:?}", report.findings);
}

#[test]
fn a_zip64_locator_without_its_record_is_ignored() {
    let data = sample("zip64_locator_without_record.pt");
    let readings = central::readings(&data, 100);
    let miniz = readings[1].as_ref().unwrap();
    assert!(miniz.usable(), "{:?}", miniz.problem);
    assert_eq!(miniz.entries.len(), 2);
    let report = scan(&data);
    assert!(!codes(&report).contains(&"ARC010"), "{:?}", report.findings);
    assert!(has_payload(&report));
}

#[test]
fn slack_after_the_last_entry_is_accepted_as_miniz_does() {
    let data = sample("zip_directory_slack.pt");
    let readings = central::readings(&data, 100);
    assert!(readings[1].as_ref().is_ok_and(|d| d.usable()));
    assert!(readings[0].as_ref().is_ok_and(|d| !d.usable()));
    let report = scan(&data);
    assert!(!codes(&report).contains(&"ARC010"), "{:?}", report.findings);
    assert_eq!(
        evidence_of(&report, "ARC011"),
        ["Python zipfile vs miniz (PyTorch)"]
    );
    assert!(has_payload(&report));
}

#[test]
fn the_local_walk_goes_past_the_directory() {
    let data = sample("zip_member_after_directory.zip");
    let report = scan(&data);
    assert!(codes(&report).contains(&"ARC003"), "{:?}", report.findings);
    assert!(has_payload(&report), "{:?}", report.findings);
}

#[test]
fn storages_are_opaque_only_when_data_pkl_names_them() {
    let data = sample("torch_dummy_data_pkl.pt");
    let report = scan(&data);
    assert!(has_payload(&report), "{:?}", report.findings);
    let data = sample("torch_storage_is_object_npy.pt");
    let report = scan(&data);
    assert!(has_payload(&report), "{:?}", report.findings);
    // A real checkpoint's storages stay opaque: tensor bytes are not a finding.
    let tensor = tensor_bytes();
    let data = build(&[
        ("archive/data.pkl", TORCH_PKL, STORED),
        ("archive/data/0", &tensor, STORED),
    ]);
    let report = scan(&data);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    // Without a persistent id naming it, the same folder holds ordinary files.
    let data = build(&[
        ("archive/data.pkl", PICKLE, STORED),
        ("archive/data/0", &tensor, STORED),
    ]);
    assert_eq!(codes(&scan(&data)), ["FMT001"]);
}

#[test]
fn what_was_inflated_before_the_ratio_limit_is_analysed() {
    let data = sample("zip_bomb_payload_first.zip");
    let report = scan(&data);
    assert!(codes(&report).contains(&"ARC005"), "{:?}", report.findings);
    assert!(has_payload(&report), "{:?}", report.findings);
}

#[test]
fn the_same_inflated_bytes_are_analysed_once() {
    let data = build(&[("a.pkl", PICKLE, DEFLATED), ("b.pkl", PICKLE, DEFLATED)]);
    let report = scan(&data);
    assert_eq!(members(&report).len(), 1, "{:?}", report.members);
}

/// CPython's `zipfile` reads the directory from `fp.read(size_cd)` through a `BytesIO`: a
/// comment (or name, or extra field) whose stated length runs past the directory's bytes is
/// read short, and the member is still read. A seeded mutant of the oracle test made this.
#[test]
fn zipfile_reads_a_central_comment_running_past_the_directory() {
    let mut data = build(&[("a.pkl", PICKLE, DEFLATED)]);
    let c = find_all(&data, CENTRAL_SIG)[0];
    put16(&mut data, c + 32, 0xffec);
    let readings = central::readings(&data, 10);
    let zipfile = readings[0].as_ref().unwrap();
    assert_eq!(zipfile.reader, Reader::Zipfile);
    assert!(zipfile.usable(), "{:?}", zipfile.problem);
    assert_eq!(zipfile.entries.len(), 1);
    let report = scan(&data);
    assert!(
        report.members.iter().any(|m| m.member == "a.pkl"),
        "{:?}",
        report.members
    );
}

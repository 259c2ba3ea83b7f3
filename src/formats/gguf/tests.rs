#![allow(clippy::cast_possible_truncation, reason = "test fixtures are small")]
use crate::Verdict;
use crate::model::summary::ModelSummary;
use crate::testing::{codes, scan};

fn gstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A GGUF v3 file: metadata strings, then `(name, dims, type, offset)` tensors, then `data`.
fn file(kvs: &[(&str, &str)], tensors: &[(&str, &[u64], u32, u64)], data: &[u8]) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(kvs.len() as u64).to_le_bytes());
    for (k, v) in kvs {
        gstr(&mut out, k);
        out.extend_from_slice(&8u32.to_le_bytes());
        gstr(&mut out, v);
    }
    for (name, dims, ty, offset) in tensors {
        gstr(&mut out, name);
        out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in *dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
    }
    while !out.len().is_multiple_of(32) {
        out.push(0);
    }
    out.extend_from_slice(data);
    out
}

const ARCH: (&str, &str) = ("general.architecture", "llama");

#[test]
fn a_packed_file_is_clean_and_summarised() {
    let data = file(
        &[ARCH, ("general.name", "tiny")],
        &[("a", &[8], 0, 0), ("b", &[32, 2], 8, 32)],
        &[0; 32 + 68 + 28],
    );
    let report = scan(&data);
    assert_eq!(report.format, "gguf");
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    let ModelSummary::Gguf(s) = &report.models[0].summary else {
        panic!("{:?}", report.models)
    };
    assert_eq!((s.tensors, s.parameters), (2, 72));
    assert_eq!(s.architecture.as_deref(), Some("llama"));
    assert_eq!(s.types["Q8_0"].bytes, 68);
}

#[test]
fn layout_lies_are_found() {
    let out_of_file = file(&[ARCH], &[("a", &[8], 0, 1 << 40)], &[0; 32]);
    let report = scan(&out_of_file);
    assert!(codes(&report).contains(&"GGF002"), "{:?}", report.findings);
    assert!(report.findings[0].message.contains("runs past the end"));
    let overlap = file(&[ARCH], &[("a", &[16], 0, 0), ("b", &[8], 0, 32)], &[0; 64]);
    let report = scan(&overlap);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.message.contains("overlaps"))
    );
    let misaligned = file(&[ARCH], &[("a", &[8], 0, 0), ("b", &[1], 0, 36)], &[0; 64]);
    let report = scan(&misaligned);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.message.contains("not a multiple of the alignment"))
    );
    let twice = file(&[ARCH], &[("a", &[8], 0, 0), ("a", &[8], 0, 32)], &[0; 64]);
    assert!(
        scan(&twice)
            .findings
            .iter()
            .any(|f| f.message.contains("used twice"))
    );
    let unknown = file(&[ARCH], &[("a", &[8], 4, 0)], &[0; 32]);
    assert_eq!(codes(&scan(&unknown)), ["GGF002"]);
    let partial_block = file(&[ARCH], &[("a", &[31], 8, 0)], &[0; 64]);
    assert!(
        scan(&partial_block)
            .findings
            .iter()
            .any(|f| f.message.contains("multiple of the type's block"))
    );
    let overflow = file(&[ARCH], &[("a", &[u64::MAX / 2, 4], 0, 0)], &[0; 32]);
    assert_eq!(codes(&scan(&overflow)), ["GGF002"]);
}

#[test]
fn malformed_headers_are_suspicious_never_clean() {
    for bad in [
        &b"GGUF"[..],
        b"GGUF\x07\x00\x00\x00",
        b"GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00",
    ] {
        let report = scan(bad);
        assert_eq!(report.verdict, Verdict::Suspicious, "{bad:?}");
        assert!(codes(&report).contains(&"GGF001"), "{:?}", report.findings);
    }
    let mut twice = file(&[ARCH, ARCH], &[], &[]);
    twice.truncate(twice.len());
    assert!(
        scan(&twice)
            .findings
            .iter()
            .any(|f| f.message.contains("occurs twice"))
    );
}

#[test]
fn templates_in_metadata_are_analysed() {
    let evil = "{{ cycler|attr('__in' ~ 'it__')|attr('__glo' + 'bals__') }}";
    let report = scan(&file(
        &[ARCH, ("tokenizer.chat_template.rag", evil)],
        &[],
        &[],
    ));
    assert_eq!(report.verdict, Verdict::Malicious, "{:?}", report.findings);
    let f = report
        .findings
        .iter()
        .find(|f| f.rule_id.code() == "TPL001")
        .unwrap();
    assert!(
        f.message.contains("tokenizer.chat_template.rag"),
        "{}",
        f.message
    );
    assert!(
        f.evidence
            .as_deref()
            .unwrap()
            .contains("cycler.__init__.__globals__")
    );
    let ModelSummary::Gguf(s) = &report.models[0].summary else {
        panic!()
    };
    assert_eq!(s.chat_templates, ["rag"]);
    // A broken template under the template key is suspicious; Jinja-looking text elsewhere
    // that does not parse is not a finding.
    let broken = scan(&file(&[("tokenizer.chat_template", "{% if %}")], &[], &[]));
    assert_eq!(codes(&broken), ["TPL002"]);
    let other = scan(&file(
        &[("general.description", "use {{ and {% freely")],
        &[],
        &[],
    ));
    assert!(other.findings.is_empty(), "{:?}", other.findings);
}

#[test]
fn trailing_bytes_are_analysed() {
    let mut data = file(&[ARCH], &[("a", &[8], 0, 0)], &[0; 32]);
    data.extend_from_slice(
        b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.",
    );
    let report = scan(&data);
    assert!(codes(&report).contains(&"GGF003"));
    assert_eq!(report.verdict, Verdict::Malicious);
}

#[test]
fn legacy_magics_are_recognised() {
    let mut ggjt = b"tjgg".to_vec();
    ggjt.extend_from_slice(&3u32.to_le_bytes());
    ggjt.extend_from_slice(&[0; 28]);
    let report = scan(&ggjt);
    assert_eq!(report.format, "ggml");
    assert_eq!(codes(&report), ["GGF004"]);
}

/// A cheap stand-in for the fuzz target where cargo-fuzz is not installed: every file written
/// by gguf-py, cut short and with bytes flipped through its header, metadata and tensor infos,
/// is analysed without a panic, and a file the strict reader refuses is never clean.
#[test]
fn cut_and_flipped_real_files_never_panic_nor_pass_when_malformed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gguf");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let head = data.len().min(4096);
        let mut variants: Vec<Vec<u8>> = (0..head)
            .step_by(97)
            .map(|at| data[..at].to_vec())
            .collect();
        for at in (4..head).step_by(61) {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut v = data.clone();
                v[at] ^= flip;
                variants.push(v);
            }
        }
        for v in variants {
            let (gguf, malformed) = super::parse::parse(&v);
            let report = crate::scan::scan_bytes_as(
                crate::model::Format::Gguf,
                &v,
                std::path::Path::new("t.gguf"),
                "t.gguf",
                &crate::Config::default(),
            );
            if report.verdict == Verdict::Clean {
                assert!(gguf.is_some() && malformed.is_none(), "clean but malformed");
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

//! ExecuTorch programs from samples/gen_executorch.py (hand-built from schema/program.fbs).

use super::{extended_header, looks_like_pte};
use crate::testing::{codes, scan};

const XNNPACK: &[u8] = include_bytes!("../../../samples/benign/executorch_xnnpack.pte");
const CUSTOM_OP: &[u8] = include_bytes!("../../../samples/benign/executorch_custom_op.pte");
const UNKNOWN: &[u8] = include_bytes!("../../../samples/malicious/executorch_unknown_delegate.pte");
const OUT_OF_BOUNDS: &[u8] =
    include_bytes!("../../../samples/malicious/executorch_segment_out_of_bounds.pte");

#[test]
fn an_ordinary_program_is_clean_and_summarised() {
    let report = scan(XNNPACK);
    assert_eq!(report.format, "executorch");
    assert!(codes(&report).is_empty(), "{:?}", report.findings);
    let summary = serde_json::to_string(&report.models).unwrap();
    assert!(summary.contains("aten::add.out"), "{summary}");
    assert!(summary.contains("XnnpackBackend"), "{summary}");
}

#[test]
fn custom_ops_and_unknown_delegates_are_named() {
    let report = scan(CUSTOM_OP);
    assert_eq!(codes(&report), ["PTE002"]);
    let evidence = report.findings[0].evidence.as_deref().unwrap();
    assert!(evidence.contains("mycorp::fused_gelu.out"), "{evidence}");
    let report = scan(UNKNOWN);
    assert_eq!(codes(&report), ["PTE001"], "{:?}", report.findings);
}

#[test]
fn bounds_are_checked() {
    let report = scan(OUT_OF_BOUNDS);
    assert_eq!(codes(&report), ["PTE003"], "{:?}", report.findings);
    // Truncated anywhere before the end of its one segment (4096 on, then padding): never clean.
    for cut in (9..4100).step_by(97) {
        let report = scan(&XNNPACK[..cut]);
        assert_ne!(report.verdict, crate::Verdict::Clean, "cut at {cut}");
    }
    let mut bad = XNNPACK.to_vec();
    bad[12] = 8; // extended header shorter than its fields
    assert!(extended_header(&bad).is_err());
    assert!(!looks_like_pte(b"abcdET12 not a flatbuffer at all"));
}

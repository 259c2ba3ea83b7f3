//! Core ML models from samples/gen_coreml.py (hand-encoded from coremltools' protos).

use super::looks_like_coreml;
use crate::testing::{codes, scan};

const GLM: &[u8] = include_bytes!("../../../samples/benign/coreml_glm.mlmodel");
const NN: &[u8] = include_bytes!("../../../samples/benign/coreml_neural_network.mlmodel");
const LINKED: &[u8] = include_bytes!("../../../samples/benign/coreml_linked_model.mlmodel");
const CUSTOM_LAYER: &[u8] =
    include_bytes!("../../../samples/malicious/coreml_custom_layer.mlmodel");
const CUSTOM_MODEL: &[u8] =
    include_bytes!("../../../samples/malicious/coreml_custom_model.mlmodel");
const OUTSIDE: &[u8] = include_bytes!("../../../samples/malicious/coreml_linked_outside.mlmodel");

#[test]
fn ordinary_models_are_clean_and_named() {
    for data in [GLM, NN, LINKED] {
        let report = scan(data);
        assert_eq!(report.format, "coreml");
        assert!(codes(&report).is_empty(), "{:?}", report.findings);
    }
}

#[test]
fn custom_code_and_outside_links_are_reported() {
    let report = scan(CUSTOM_LAYER);
    assert_eq!(codes(&report), ["CML001"], "{:?}", report.findings);
    assert!(report.findings[0].message.contains("QSampleShellLayer"));
    assert_eq!(codes(&scan(CUSTOM_MODEL)), ["CML001"]);
    let report = scan(OUTSIDE);
    assert_eq!(codes(&report), ["CML002"], "{:?}", report.findings);
}

#[test]
fn recognition_needs_a_model_type() {
    assert!(looks_like_coreml(GLM));
    // An ONNX-like message (ir_version, producer_name, graph) is not Core ML.
    assert!(!looks_like_coreml(b"\x08\x07\x12\x04test\x3a\x00"));
    for cut in 1..GLM.len() {
        let _ = scan(&GLM[..cut]);
    }
    // A layer that is not a message inside a recognised model fails closed.
    let report = scan(b"\x08\x04\xa2\x1f\x03\x0a\x01\xff");
    assert_eq!(report.format, "coreml");
    assert_eq!(codes(&report), ["CML003"], "{:?}", report.findings);
}

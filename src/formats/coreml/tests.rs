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

/// The ML programs coremltools writes (scripts/coreml_package_reference.py) read their weights
/// from `@model_path/weights/weight.bin`, found by the MIL walk; nothing is reported.
#[test]
fn ml_program_blob_files_are_found() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/coreml_package");
    for name in ["linear.mlpackage", "mlp_fp32.mlpackage"] {
        let data =
            std::fs::read(root.join(name).join("Data/com.apple.CoreML/model.mlmodel")).unwrap();
        let mut found = super::Found::default();
        super::model(&data, "Model", 0, &mut found);
        let files: Vec<&str> = found.blob_files.iter().map(String::as_str).collect();
        assert_eq!(files, ["@model_path/weights/weight.bin"], "{name}");
        assert!(found.problems.is_empty(), "{:?}", found.problems);
    }
    assert!(super::blob_file_outside("@model_path/../../x.bin"));
    assert!(super::blob_file_outside("/etc/passwd"));
    assert!(!super::blob_file_outside("@model_path/weights/weight.bin"));
}

//! ONNX files written by the reference `onnx` package (`scripts/onnx_reference.py`) decode, are
//! judged as expected, and are summarised from what the package wrote.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use serde_json::Value;

fn scan(name: &str) -> Value {
    let path = common::repo().join("tests/data/onnx-reference").join(name);
    let (_, report) = common::scan_json(&[&path], &[]);
    common::artifacts(&report)[0].clone()
}

fn codes(artifact: &Value) -> Vec<&str> {
    artifact["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect()
}

#[test]
fn reference_models_are_clean_and_summarised() {
    for name in [
        "mlp.onnx",
        "if_subgraph.onnx",
        "function.onnx",
        "external.onnx",
    ] {
        let artifact = scan(name);
        assert_eq!(artifact["format"], "onnx", "{name}");
        assert_eq!(
            artifact["verdict"], "clean",
            "{name}: {}",
            artifact["findings"]
        );
        assert_eq!(
            artifact["models"][0]["producer"], "onnx-reference",
            "{name}"
        );
    }
    let mlp = &scan("mlp.onnx")["models"][0];
    assert_eq!(mlp["parameters"], 8 * 4 + 8 + 2 * 8);
    assert_eq!(mlp["inputs"][0]["name"], "x");
    assert_eq!(mlp["inputs"][0]["dtype"], "float");
    assert_eq!(mlp["inputs"][0]["shape"], serde_json::json!(["batch", 4]));
    assert_eq!(mlp["outputs"][0]["shape"], serde_json::json!(["batch", 2]));
    assert_eq!(mlp["op_histogram"]["Gemm"], 1);
    assert_eq!(mlp["opset_imports"][0]["version"], 17);
    let gated = &scan("if_subgraph.onnx")["models"][0];
    assert_eq!(gated["graphs"], 3);
    assert_eq!(gated["nodes"], 3);
    let function = &scan("function.onnx")["models"][0];
    assert_eq!(function["functions"], 1);
    assert_eq!(function["op_histogram"]["local.fn.Swish"], 1);
}

#[test]
fn reference_external_data_escape_is_malicious() {
    let artifact = scan("external_escape.onnx");
    assert_eq!(artifact["verdict"], "malicious");
    assert_eq!(codes(&artifact), ["ONX002"]);
}

//! GGUF files written by the real `gguf` package (gguf-py 0.17.1, `scripts/gguf_reference.py`),
//! carrying real chat templates: clean, with no finding above `info`, and summarised.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use serde_json::Value;

fn scan(name: &str) -> Value {
    let path = common::repo().join("tests/data/gguf").join(name);
    let (code, report) = common::scan_json(&[&path], &[]);
    assert_eq!(code, 0, "{name}: {report:#}");
    common::artifacts(&report)[0].clone()
}

#[test]
fn files_written_by_gguf_py_are_clean_and_summarised() {
    let dir = common::repo().join("tests/data/gguf");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".gguf"))
        .collect();
    names.sort();
    assert!(names.len() >= 7, "{names:?}");
    for name in &names {
        let artifact = scan(name);
        assert_eq!(artifact["format"], "gguf", "{name}");
        assert_eq!(artifact["verdict"], "clean", "{name}: {artifact:#}");
        let loud: Vec<&Value> = artifact["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] != "info")
            .collect();
        assert!(loud.is_empty(), "{name}: {loud:?}");
        assert_eq!(artifact["models"][0]["format"], "gguf", "{name}");
    }
}

#[test]
fn the_summary_says_what_the_model_is() {
    let model = &scan("llama3.1-tools-q8.gguf")["models"][0];
    assert_eq!(model["architecture"], "llama");
    assert_eq!(model["context_length"], 4096);
    assert_eq!(model["tensors"], 4);
    assert_eq!(model["parameters"], 3 * 1024 + 256);
    assert_eq!(model["types"]["Q8_0"]["bytes"], 4 * 8 * 34);
    assert_eq!(model["chat_templates"], serde_json::json!(["default"]));
    assert_eq!(model["file_type"], "MOSTLY_Q8_0");
    assert_eq!(model["vocabulary"], 64);
    let named = &scan("hermes-named-templates.gguf")["models"][0];
    assert_eq!(
        named["chat_templates"],
        serde_json::json!(["tool_use", "default"])
    );
    assert_eq!(
        scan("mistral-big-endian.gguf")["models"][0]["big_endian"],
        true
    );
    assert_eq!(scan("vocab-only.gguf")["models"][0]["tensors"], 0);
}

//! Hugging Face repository files written by the real `transformers` (4.46.3,
//! `scripts/hf_reference.py`, `tests/data/hf/`): configs, tokenizer configs with real chat
//! templates and ordinary modelling code are clean; the same code named by an `auto_map` is
//! remote code (HFR001) and nothing more.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::Path;

use serde_json::Value;

fn loud(artifact: &Value) -> Vec<Value> {
    artifact["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .cloned()
        .collect()
}

#[test]
fn files_written_by_transformers_are_clean() {
    let dir = common::repo().join("tests/data/hf");
    let (code, report) = common::scan_json(&[dir.as_path()], &[]);
    let artifacts = common::artifacts(&report);
    assert!(artifacts.len() >= 15, "{report:#}");
    let failures: Vec<String> = artifacts
        .iter()
        .filter(|a| a["verdict"] != "clean" || !loud(a).is_empty())
        .map(|a| format!("{}: {}", a["path"], a["findings"]))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(code, 0);
}

#[test]
fn ordinary_modelling_code_named_by_auto_map_is_remote_code_only() {
    let dir = tempfile::tempdir().unwrap();
    let modeling = common::repo().join("tests/data/hf/modeling");
    for name in ["modeling_llama.py", "configuration_llama.py"] {
        std::fs::copy(modeling.join(name), dir.path().join(name)).unwrap();
    }
    let config =
        std::fs::read_to_string(common::repo().join("tests/data/hf/llama/config.json")).unwrap();
    let mut config: Value = serde_json::from_str(&config).unwrap();
    config["auto_map"] = serde_json::json!({
        "AutoConfig": "configuration_llama.LlamaConfig",
        "AutoModelForCausalLM": "modeling_llama.LlamaForCausalLM"
    });
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    let (_, report) = common::scan_json(&[Path::new(&dir.path().join("config.json"))], &[]);
    let artifact = &common::artifacts(&report)[0];
    assert_eq!(artifact["verdict"], "suspicious", "{artifact:#}");
    let rules: Vec<&str> = artifact["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    assert!(rules.iter().all(|&r| r == "HFR001"), "{artifact:#}");
    let evidence = artifact["findings"].to_string();
    assert!(
        evidence.contains("modeling_llama.LlamaForCausalLM"),
        "{evidence}"
    );
}

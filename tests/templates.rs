//! Real chat templates of the popular model families (`tests/data/templates/`, sources in its
//! README) are clean: as template files, inside `tokenizer_config.json`, in both JSON shapes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

fn templates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![common::repo().join("tests/data/templates")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "jinja") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

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
fn every_collected_template_file_is_clean() {
    let all = templates();
    assert!(all.len() >= 50, "{}", all.len());
    let paths: Vec<&Path> = all.iter().map(PathBuf::as_path).collect();
    let (_, report) = common::scan_json(&paths, &[]);
    let mut failures = Vec::new();
    for artifact in common::artifacts(&report) {
        if artifact["verdict"] != "clean" || !loud(artifact).is_empty() {
            failures.push(format!("{}: {}", artifact["path"], artifact["findings"]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_collected_template_is_clean_inside_tokenizer_config_json() {
    let dir = tempfile::tempdir().unwrap();
    let all = templates();
    let mut written = Vec::new();
    for (i, path) in all.iter().enumerate() {
        let template = std::fs::read_to_string(path).unwrap();
        let config = if i % 2 == 0 {
            json!({"bos_token": "<s>", "eos_token": "</s>", "chat_template": template})
        } else {
            json!({"chat_template": [{"name": "default", "template": template},
                                     {"name": "tool_use", "template": template}]})
        };
        let file = dir.path().join(format!("tokenizer_config_{i}.json"));
        std::fs::write(&file, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        written.push(file);
    }
    let (code, report) = common::scan_json(&[dir.path()], &[]);
    let failures: Vec<String> = common::artifacts(&report)
        .iter()
        .filter(|a| a["verdict"] != "clean" || !loud(a).is_empty())
        .map(|a| format!("{}: {}", a["path"], a["findings"]))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(code, 0);
    assert_eq!(common::artifacts(&report).len(), written.len());
}

//! What users see, pinned: the text and JSON output of a handful of samples, compared with
//! golden files under `tests/snapshots/`. A change of output shows up in review as a change of
//! these files. Run with `BLESS=1` to rewrite them after an intended change.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::Path;

use common::{bin, repo};
use serde_json::Value;

/// Samples whose reports are pinned: one per kind of result.
const SAMPLES: &[&str] = &[
    "benign/plain_data_protocol2.pkl",
    "benign/linear.safetensors",
    "benign/mlp.onnx",
    "benign/arrays.npz",
    "malicious/getattr_import_chain.pkl",
];

/// Replaces what differs between runs and machines: wall-clock times, the scan root.
fn normalise_text(text: &str, root: &str) -> String {
    text.replace(root, "<samples>")
        .lines()
        .map(|line| {
            let words: Vec<String> = line
                .split(' ')
                .map(|w| {
                    let bare = w.trim_end_matches([',', ')', ';']);
                    let number = bare.trim_end_matches("ms").trim_end_matches('s');
                    if (bare.ends_with("ms") || bare.ends_with('s'))
                        && !number.is_empty()
                        && number.parse::<f64>().is_ok()
                    {
                        w.replace(bare, "<time>")
                    } else {
                        w.to_owned()
                    }
                })
                .collect();
            words.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn normalise_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if matches!(
                    key.as_str(),
                    "runtime_ms" | "elapsed_ms" | "started" | "duration_ms" | "seconds"
                ) {
                    *v = Value::Null;
                } else {
                    normalise_json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise_json),
        _ => {}
    }
}

fn check(name: &str, actual: &str) {
    let path = repo().join("tests/snapshots").join(name);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "{name} differs from the snapshot (rerun with BLESS=1 if intended)\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

fn snapshot_name(sample: &str) -> String {
    sample.replace(['/', '.'], "_")
}

#[test]
fn text_and_json_output_of_samples() {
    let root = repo().join("samples");
    for sample in SAMPLES {
        let path = root.join(sample);
        assert!(Path::new(&path).exists(), "{sample}");
        let text = bin()
            .args(["scan", "--color", "never", "--probe", "off"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        let root = root.display().to_string();
        check(
            &format!("{}.txt", snapshot_name(sample)),
            &normalise_text(&text, &root),
        );
        let json = bin()
            .args(["scan", "--format", "json", "--probe", "off"])
            .arg(&path)
            .output()
            .unwrap();
        let mut value: Value = serde_json::from_slice(&json.stdout).unwrap();
        normalise_json(&mut value);
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        check(
            &format!("{}.json", snapshot_name(sample)),
            &normalise_text(&pretty, &root),
        );
    }
}

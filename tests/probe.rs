//! The robustness probe through the command line: it ranks the brittle sample below the robust
//! one, honours --probe off/require and --probe-inputs, and refuses --device cuda in a build
//! without the feature with exit 2.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::PathBuf;

use common::{artifacts, bin, code, sample, scan_json};
use serde_json::Value;

fn robustness(path: &std::path::Path, extra: &[&str]) -> Value {
    let (_, report) = scan_json(&[path], extra);
    artifacts(&report)[0]["robustness"].clone()
}

/// The PGD flip rate at every epsilon.
fn pgd(r: &Value) -> Vec<f64> {
    r["behaviour"]["epsilons"]
        .as_array()
        .expect("epsilon table")
        .iter()
        .map(|e| e["pgd_flip_rate"].as_f64().unwrap())
        .collect()
}

#[test]
fn brittle_ranks_below_robust() {
    let robust = robustness(&sample("benign/probe_robust.safetensors"), &[]);
    let brittle = robustness(&sample("malicious/probe_brittle.safetensors"), &[]);
    assert_eq!(robust["grade"], "robust", "{robust}");
    assert_eq!(brittle["grade"], "brittle", "{brittle}");
    for (r, b) in pgd(&robust).iter().zip(pgd(&brittle)) {
        assert!(b > *r, "brittle {b} vs robust {r}");
    }
    // Brittleness, not noise sensitivity: the attack flips far more than noise of its size.
    let policy = &brittle["behaviour"]["epsilons"][1];
    assert!(
        policy["pgd_flip_rate"].as_f64().unwrap()
            > 5.0 * policy["noise_flip_rate"].as_f64().unwrap()
    );
    let bound = |r: &Value| r["weights"]["lipschitz_bound"].as_f64().unwrap();
    assert!(bound(&brittle) > 100.0 * bound(&robust));
}

#[test]
fn probe_off_leaves_no_section_and_require_flags_a_skip() {
    let robust = sample("benign/probe_robust.safetensors");
    assert!(robustness(&robust, &["--probe", "off"]).is_null());
    let pickle = sample("benign/plain_data_protocol2.pkl");
    let (exit, report) = scan_json(&[&pickle], &["--probe", "require"]);
    let artifact = &artifacts(&report)[0];
    assert_eq!(exit, 1, "{artifact}");
    assert!(artifact["robustness"]["skipped"].is_string());
    assert!(
        artifact["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule_id"] == "PRB005")
    );
    assert_eq!(
        scan_json(&[&pickle], &[]).0,
        0,
        "auto accepts what it cannot probe"
    );
}

#[test]
fn malicious_artifacts_are_not_probed() {
    let r = robustness(
        &sample("malicious/safetensors_appended_pickle.safetensors"),
        &[],
    );
    assert!(r.is_null(), "{r}");
}

#[test]
fn user_inputs_replace_synthetic_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inputs.npy");
    // 3 rows of 64 float32 values, in [0, 2).
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 64), }";
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let padded = format!("{header}{}\n", " ".repeat(63 - (10 + header.len()) % 64));
    npy.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    npy.extend_from_slice(padded.as_bytes());
    for i in 0..192u32 {
        npy.extend_from_slice(&((i % 7) as f32 / 3.5).to_le_bytes());
    }
    std::fs::write(&path, npy).unwrap();
    let inputs = path.to_str().unwrap();
    let r = robustness(
        &sample("benign/probe_robust.safetensors"),
        &["--probe-inputs", inputs],
    );
    assert_eq!(r["behaviour"]["samples"], 3, "{r}");
    assert!((r["behaviour"]["input_range"].as_f64().unwrap() - 6.0 / 3.5).abs() < 1e-6);
    let wrong = robustness(
        &sample("benign/probe_mlp.safetensors"),
        &["--probe-inputs", inputs],
    );
    assert!(
        wrong["skipped"]
            .as_str()
            .unwrap()
            .contains("input shape [8]"),
        "{wrong}"
    );
}

#[test]
fn cuda_without_the_feature_is_a_usage_error() {
    let output = bin()
        .args(["scan", "--device", "cuda"])
        .arg(sample("benign/probe_robust.safetensors"))
        .output()
        .unwrap();
    if cfg!(feature = "cuda") {
        return;
    }
    assert_eq!(code(&output), 2);
    assert!(String::from_utf8_lossy(&output.stderr).contains("--features cuda"));
}

#[test]
fn zero_sized_and_integer_tensors_are_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let header = r#"{"a.weight":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},"b.weight":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}"#;
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&[0; 16]);
    let path = dir.path().join("odd.safetensors");
    std::fs::write(&path, file).unwrap();
    let (exit, report) = scan_json(&[&path], &[]);
    let artifact = &artifacts(&report)[0];
    assert_eq!(exit, 0, "{artifact}");
    assert!(artifact["robustness"]["skipped"].is_string(), "{artifact}");
}

#[test]
fn onnx_graphs_are_interpreted_and_ranked() {
    let robust = robustness(&sample("benign/probe_robust.onnx"), &[]);
    let brittle = robustness(&sample("malicious/probe_brittle.onnx"), &[]);
    let cnn = robustness(&sample("benign/probe_cnn.onnx"), &[]);
    assert_eq!(robust["grade"], "robust", "{robust}");
    assert_eq!(brittle["grade"], "brittle", "{brittle}");
    assert_eq!(cnn["grade"], "robust", "{cnn}");
    for (r, b) in pgd(&robust).iter().zip(pgd(&brittle)) {
        assert!(b > *r, "brittle {b} vs robust {r}");
    }
}

#[test]
fn onnx_graphs_the_probe_cannot_run_say_why() {
    for (name, why) in [
        ("probe_unsupported_op.onnx", "Erf"),
        ("probe_dynamic_shape.onnx", "dynamic dimension"),
        ("probe_integer_input.onnx", "integer inputs"),
    ] {
        let r = robustness(&sample(&format!("benign/{name}")), &[]);
        assert!(r["skipped"].as_str().unwrap().contains(why), "{name}: {r}");
    }
    let huge = robustness(&sample("malicious/probe_terabytes.onnx"), &[]);
    assert_eq!(huge["grade"], "refused", "{huge}");
}

fn weights(r: &Value) -> (u64, u64, Vec<String>) {
    let w = &r["weights"];
    let not_probed = w["not_probed"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (
        w["tensors"].as_u64().unwrap_or(0),
        w["probed"].as_u64().unwrap_or(0),
        not_probed,
    )
}

fn gguf(name: &str) -> PathBuf {
    common::repo().join("tests/data/gguf").join(name)
}

#[test]
fn pytorch_checkpoints_npz_and_gguf_get_weight_figures() {
    for (path, tensors, probed) in [
        (sample("benign/torch_state_dict.pt"), 2, 2),
        (sample("benign/legacy_torch.pt"), 1, 1),
        (sample("benign/arrays.npz"), 2, 1),
        (gguf("llama3.1-tools-q8.gguf"), 4, 4),
        (gguf("qwen2.5-kquants.gguf"), 5, 5),
    ] {
        let r = robustness(&path, &[]);
        let (t, p, not_probed) = weights(&r);
        assert_eq!((t, p), (tensors, probed), "{}: {r}", path.display());
        assert!(not_probed.is_empty(), "{}: {not_probed:?}", path.display());
        assert!(r["skipped"].is_null(), "{}: {r}", path.display());
    }
    // A state dict that is a plain MLP is run, from a zip checkpoint and from a legacy file.
    for name in ["benign/probe_mlp_torch.pt", "benign/probe_mlp_legacy.pt"] {
        let r = robustness(&sample(name), &[]);
        assert_eq!(r["grade"], "robust", "{name}: {r}");
        assert_eq!(weights(&r).1, 4, "{name}: {r}");
        assert!(
            r["weights"]["lipschitz_bound"].as_f64().is_some(),
            "{name}: {r}"
        );
    }
}

#[test]
fn a_tensor_past_its_storage_is_skipped_with_the_reason() {
    let path = sample("benign/probe_torch_overrun.pt");
    let (exit, report) = scan_json(&[&path], &[]);
    let artifact = &artifacts(&report)[0];
    assert_eq!(exit, 0, "{artifact}");
    let (tensors, probed, not_probed) = weights(&artifact["robustness"]);
    assert_eq!((tensors, probed), (4, 3), "{artifact}");
    assert!(
        not_probed.iter().any(|n| n.starts_with("net.0.weight:")
            && n.contains("past the end of its 128-byte storage")),
        "{not_probed:?}"
    );
}

#[test]
fn a_truncated_gguf_tensor_is_skipped_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(gguf("llama3.1-tools-q8.gguf")).unwrap();
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &data[..data.len() - 700]).unwrap();
    let (_, report) = scan_json(&[&cut], &[]);
    let artifact = &artifacts(&report)[0];
    let (tensors, probed, not_probed) = weights(&artifact["robustness"]);
    assert_eq!(tensors, 4, "{artifact}");
    assert!(probed < 4, "{artifact}");
    assert!(
        not_probed.iter().any(|n| n.contains("run past the end")),
        "{not_probed:?}"
    );
}

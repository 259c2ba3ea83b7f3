//! A Hugging Face hub cache snapshot folder (`models--org--name/snapshots/<rev>`, every file a
//! link into `../../blobs`) is analysed file by file: blobs are followed, reported under their
//! snapshot names, a malicious blob fails the run, and links anywhere else stay refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]
#![cfg(unix)]

mod common;

use std::path::Path;

use serde_json::Value;

fn put(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

fn link(target: &str, at: &Path) {
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, at).unwrap();
}

#[test]
fn a_snapshot_folder_is_analysed_file_by_file_and_fails_on_a_malicious_blob() {
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("hub/models--org--tiny");
    let snap = repo.join("snapshots/0123456789abcdef");
    let samples = common::repo().join("samples");
    let gguf = std::fs::read(samples.join("malicious/gguf_template_cve_2024_34359.gguf")).unwrap();
    put(&repo.join("blobs/aaa"), br#"{"model_type": "llama"}"#);
    put(&repo.join("blobs/bbb"), &gguf);
    put(&root.path().join("secret"), b"not for the scanner");
    link("../../blobs/aaa", &snap.join("config.json"));
    link("../../../blobs/bbb", &snap.join("gguf/model.gguf"));
    link("../../../../secret", &snap.join("stolen.bin"));
    let (code, report) = common::scan_json(&[&snap], &["--fail-on", "malicious"]);
    assert_eq!(code, 1, "{report:#}");
    let artifacts = common::artifacts(&report);
    let verdict = |suffix: &str| -> &Value {
        let a = artifacts
            .iter()
            .find(|a| a["path"].as_str().unwrap().ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} not reported: {report:#}"));
        &a["verdict"]
    };
    assert_eq!(verdict("snapshots/0123456789abcdef/config.json"), "clean");
    assert_eq!(
        verdict("snapshots/0123456789abcdef/gguf/model.gguf"),
        "malicious"
    );
    // The link out of the cache repository is refused, never read.
    let stolen = artifacts
        .iter()
        .find(|a| a["path"].as_str().unwrap().ends_with("stolen.bin"))
        .expect("the escaping link is reported");
    assert_ne!(stolen["verdict"], "clean", "{stolen:#}");
    assert!(
        !report.to_string().contains("not for the scanner"),
        "the secret was read"
    );
}

#[test]
fn remote_code_named_by_a_snapshot_config_is_read_through_its_blob_link() {
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("models--org--custom");
    let snap = repo.join("snapshots/rev");
    put(
        &repo.join("blobs/cfg"),
        br#"{"model_type": "tiny", "auto_map": {"AutoModel": "modeling_tiny.TinyModel"}}"#,
    );
    put(
        &repo.join("blobs/py"),
        b"import os\nimport torch\n\nclass TinyModel(torch.nn.Module):\n    def __init__(self, config):\n        super().__init__()\n        os.system('echo quarantine-sample')\n",
    );
    link("../../blobs/cfg", &snap.join("config.json"));
    link("../../blobs/py", &snap.join("modeling_tiny.py"));
    let (code, report) = common::scan_json(&[&snap], &[]);
    let config = common::artifacts(&report)
        .iter()
        .find(|a| a["path"].as_str().unwrap().ends_with("config.json"))
        .unwrap();
    let rules: Vec<&str> = config["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"HFR001"), "{config:#}");
    if cfg!(feature = "python") {
        assert!(rules.contains(&"HFR003"), "{config:#}");
        assert_eq!(config["verdict"], "malicious");
        assert_eq!(code, 1);
    }
}

use std::path::Path;

use crate::Verdict;
use crate::model::finding::ArtifactReport;

fn scan(dir: &Path, name: &str) -> ArtifactReport {
    crate::scan::scan_file(&dir.join(name), name, &crate::Config::default())
}

fn codes(report: &ArtifactReport) -> Vec<&str> {
    let mut c: Vec<&str> = report.findings.iter().map(|f| f.rule_id.code()).collect();
    c.sort_unstable();
    c.dedup();
    c
}

const CONFIG: &str = r#"{"architectures": ["TinyModel"], "model_type": "tiny",
 "auto_map": {"AutoConfig": "configuration_tiny.TinyConfig", "AutoModel": "modeling_tiny.TinyModel"}}"#;

#[test]
fn ordinary_remote_code_is_suspicious_and_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), CONFIG).unwrap();
    std::fs::write(
        dir.path().join("configuration_tiny.py"),
        "from transformers import PretrainedConfig\nclass TinyConfig(PretrainedConfig):\n    model_type = 'tiny'\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("modeling_tiny.py"),
        "import torch\nfrom .configuration_tiny import TinyConfig\nclass TinyModel(torch.nn.Module):\n    def forward(self, x):\n        return x\n",
    )
    .unwrap();
    let report = scan(dir.path(), "config.json");
    assert_eq!(report.verdict, Verdict::Suspicious, "{:?}", report.findings);
    assert_eq!(codes(&report), ["HFR001"]);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.evidence.as_deref() == Some("modeling_tiny.TinyModel"))
    );
}

#[cfg(feature = "python")]
#[test]
fn remote_code_that_shells_out_is_malicious() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), CONFIG).unwrap();
    std::fs::write(
        dir.path().join("configuration_tiny.py"),
        "class TinyConfig: pass\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("modeling_tiny.py"),
        "from .helpers import setup\nclass TinyModel:\n    pass\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("helpers.py"),
        "import subprocess as sp\ndef setup():\n    sp.Popen('echo quarantine-sample', shell=True)\n",
    )
    .unwrap();
    let report = scan(dir.path(), "config.json");
    assert_eq!(report.verdict, Verdict::Malicious, "{:?}", report.findings);
    let f = report
        .findings
        .iter()
        .find(|f| f.rule_id.code() == "HFR003")
        .unwrap();
    let evidence = f.evidence.as_deref().unwrap();
    assert!(evidence.starts_with("helpers.py:3:"), "{evidence}");
    assert!(
        evidence.contains("sp.Popen('echo quarantine-sample'"),
        "{evidence}"
    );
    // The script alone: nothing loads it, and starting a process is not "clearly malicious".
    let alone = scan(dir.path(), "helpers.py");
    assert_eq!(alone.verdict, Verdict::Clean, "{:?}", alone.findings);
}

#[test]
fn nested_trust_and_hub_kernels_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type": "llava", "text_config": {"model_type": "llama", "trust_remote_code": true},
            "_attn_implementation_internal": "kernels-community/flash-attn3",
            "auto_map": {"AutoModel": "someone/other-repo--modeling_x.X"}}"#,
    )
    .unwrap();
    let report = scan(dir.path(), "config.json");
    assert_eq!(
        codes(&report),
        ["HFR001", "HFR002"],
        "{:?}",
        report.findings
    );
    let messages: Vec<&str> = report.findings.iter().map(|f| f.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("text_config.trust_remote_code"))
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("kernels-community/flash-attn3"))
    );
    assert!(messages.iter().any(|m| m.contains("someone/other-repo")));
}

#[test]
fn plain_configs_and_scripts_are_clean() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "_attn_implementation": "sdpa", "trust_remote_code": false}"#,
    )
    .unwrap();
    assert!(scan(dir.path(), "config.json").findings.is_empty());
    #[cfg(feature = "python")]
    python_scripts(dir.path());
}

#[cfg(feature = "python")]
fn python_scripts(dir: &Path) {
    std::fs::write(
        dir.join("train.py"),
        "import argparse, subprocess, torch\nsubprocess.run(['nvidia-smi'])\nopen('log.txt', 'w').write('x')\n",
    )
    .unwrap();
    assert!(scan(dir, "train.py").findings.is_empty());
    std::fs::write(
        dir.join("evil.py"),
        "import base64\nexec(base64.b64decode('ZWNobw=='))\n",
    )
    .unwrap();
    let evil = scan(dir, "evil.py");
    assert_eq!(evil.verdict, Verdict::Suspicious);
    assert_eq!(codes(&evil), ["HFR004"]);
}

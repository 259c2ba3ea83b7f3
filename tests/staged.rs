//! Staged payloads (issue 21): pickles carried as data are found behind every encoding, located
//! by a member chain with one entry per decoding step, and capped at `suspicious`; code-like
//! metadata is suspicious; ordinary data and metadata stay clean; the checks cost nothing on
//! ordinary checkpoints and stop at their budget.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

use quarantine::{Config, scan};

use common::sample;

fn scan_one(path: &Path) -> Value {
    let (_, report) = common::scan_json(&[path], &[]);
    common::artifacts(&report)
        .first()
        .expect("one artifact")
        .clone()
}

fn findings(artifact: &Value) -> &Vec<Value> {
    artifact["findings"].as_array().expect("findings")
}

fn chain(finding: &Value) -> Vec<String> {
    finding["location"]["member_chain"]
        .as_array()
        .expect("member_chain")
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// `…@N` in a chain (`value@N`, ``metadata `key`@N``) stands for any offset.
fn chain_matches(actual: &[String], expected: &[&str]) -> bool {
    actual.len() == expected.len()
        && actual.iter().zip(expected).all(|(a, e)| {
            if let Some(prefix) = e.strip_suffix("@N") {
                a.strip_prefix(prefix)
                    .and_then(|rest| rest.strip_prefix('@'))
                    .is_some_and(|n| n.parse::<u64>().is_ok())
            } else {
                a == e
            }
        })
}

#[test]
fn carried_pickles_are_found_behind_every_encoding_and_capped_at_suspicious() {
    let cases: &[(&str, &[&str])] = &[
        ("malicious/staged_raw_bytes.pkl", &["value@N"]),
        ("malicious/staged_base64.pkl", &["value@N", "base64"]),
        ("malicious/staged_base64_lines.pkl", &["value@N", "base64"]),
        ("malicious/staged_hex.pkl", &["value@N", "hex"]),
        ("malicious/staged_base85.pkl", &["value@N", "base85"]),
        (
            "malicious/staged_zlib_base64.pkl",
            &["value@N", "base64", "zlib"],
        ),
        ("malicious/staged_gzip.pkl", &["value@N", "gzip"]),
        ("malicious/staged_bz2_hex.pkl", &["value@N", "hex", "bz2"]),
        ("malicious/staged_xz.pkl", &["value@N", "xz"]),
        (
            "malicious/staged_two_stage.pkl",
            &["value@N", "base64", "value@N", "hex"],
        ),
        (
            "malicious/staged_bert_state_dict.pt",
            &["archive/data.pkl", "value@N"],
        ),
        (
            "malicious/staged_meta_pickle.safetensors",
            &["__metadata__ `optimizer`@8", "base64"],
        ),
        (
            "malicious/staged_onnx_doc_pickle.onnx",
            &["model doc_string", "hex"],
        ),
        (
            "malicious/staged_gguf_meta_pickle.gguf",
            &["metadata `general.notes`@N", "base64"],
        ),
    ];
    for (rel, expected) in cases {
        let artifact = scan_one(&sample(rel));
        assert_eq!(artifact["verdict"], "suspicious", "{rel}: {artifact:#}");
        let all = findings(&artifact);
        assert!(
            all.iter().all(|f| f["verdict"] != "malicious"),
            "{rel}: a carried pickle made the artifact malicious"
        );
        let staged = all
            .iter()
            .find(|f| f["rule_id"] == "PKL012" && chain_matches(&chain(f), expected))
            .unwrap_or_else(|| panic!("{rel}: no PKL012 at {expected:?}: {all:#?}"));
        assert_eq!(staged["severity"], "high", "{rel}");
        assert_eq!(staged["verdict"], "suspicious", "{rel}");
        assert!(
            staged["evidence"]
                .as_str()
                .unwrap()
                .contains("posix.system('echo quarantine-sample"),
            "{rel}: {staged:#}"
        );
        // The carried pickle's own finding sits at the same chain, with its verdict capped.
        let inner = all
            .iter()
            .find(|f| f["rule_id"] == "PKL001" && chain_matches(&chain(f), expected))
            .unwrap_or_else(|| panic!("{rel}: no PKL001 inside the carried pickle"));
        assert_eq!(inner["verdict"], "suspicious", "{rel}");
        assert!(inner["location"]["offset"].is_u64(), "{rel}: {inner:#}");
        assert!(
            inner["message"]
                .as_str()
                .unwrap()
                .contains("loading this file does not run it")
        );
        // The member is listed with its digest, like an archive member.
        let member = expected_member(&chain(staged));
        assert!(
            artifact["members"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["member"] == member.as_str() && m["format"] == "pickle"),
            "{rel}: member {member} not listed"
        );
    }
}

fn expected_member(chain: &[String]) -> String {
    chain.join("!")
}

#[test]
fn a_pickle_the_outer_pickle_hands_to_a_loader_stays_malicious() {
    let artifact = scan_one(&sample("malicious/staged_loader_call.pkl"));
    assert_eq!(artifact["verdict"], "malicious");
    assert!(
        findings(&artifact).iter().any(|f| f["rule_id"] == "PKL001"
            && f["verdict"] == "malicious"
            && chain(f).is_empty())
    );
}

#[test]
fn a_carried_pickle_of_allowed_content_is_an_info_note() {
    let artifact = scan_one(&sample("benign/staged_allowed_only.pkl"));
    assert_eq!(artifact["verdict"], "clean", "{artifact:#}");
    let note = findings(&artifact)
        .iter()
        .find(|f| f["rule_id"] == "PKL012")
        .expect("PKL012 note");
    assert_eq!(note["severity"], "info");
    assert_eq!(note["verdict"], "clean");
    assert!(chain_matches(&chain(note), &["value@N", "base64"]));
}

#[test]
fn code_in_metadata_is_suspicious_never_malicious() {
    let cases = [
        (
            "malicious/staged_meta_python.safetensors",
            "YAR:metadata_code.python_process_or_network_code",
        ),
        (
            "malicious/staged_meta_curl_sh.safetensors",
            "YAR:metadata_code.shell_command",
        ),
        (
            "malicious/staged_meta_wget_run.safetensors",
            "YAR:metadata_code.shell_command",
        ),
        (
            "malicious/staged_meta_rm_rf.safetensors",
            "YAR:metadata_code.shell_command",
        ),
        (
            "malicious/staged_meta_exfil_url.safetensors",
            "YAR:metadata_code.exfiltration_url",
        ),
        (
            "malicious/staged_meta_script.safetensors",
            "YAR:metadata_code.html_script",
        ),
        (
            "malicious/staged_onnx_metadata.onnx",
            "YAR:metadata_code.python_process_or_network_code",
        ),
        (
            "malicious/staged_gguf_meta_script.gguf",
            "YAR:metadata_code.html_script",
        ),
        (
            "malicious/staged_gguf_meta_shell.gguf",
            "YAR:metadata_code.shell_command",
        ),
    ];
    for (rel, rule) in cases {
        let artifact = scan_one(&sample(rel));
        assert_eq!(artifact["verdict"], "suspicious", "{rel}: {artifact:#}");
        let all = findings(&artifact);
        let hit = all
            .iter()
            .find(|f| f["rule_id"] == rule)
            .unwrap_or_else(|| panic!("{rel}: no {rule}: {all:#?}"));
        assert!(matches!(hit["severity"].as_str(), Some("low" | "medium")));
        assert!(
            hit["message"]
                .as_str()
                .unwrap()
                .contains("metadata is not executed by loading"),
            "{rel}: {hit:#}"
        );
        assert!(
            hit["signature"]["origin"]
                .as_str()
                .is_some_and(|o| o.contains("metadata"))
        );
        // A rule that is malicious where code runs is capped in metadata.
        assert!(all.iter().all(|f| f["verdict"] != "malicious"), "{rel}");
    }
}

#[test]
fn ordinary_buffers_images_and_model_cards_stay_clean() {
    for rel in [
        "benign/staged_random_buffers.pkl",
        "benign/staged_meta_ordinary.safetensors",
        "benign/staged_onnx_ordinary.onnx",
        "benign/staged_gguf_model_card.gguf",
        "benign/llama_chatml.gguf",
        "benign/torch_state_dict.pt",
        "benign/linear.safetensors",
    ] {
        let artifact = scan_one(&sample(rel));
        assert_eq!(artifact["verdict"], "clean", "{rel}: {artifact:#}");
        assert!(
            findings(&artifact).iter().all(|f| f["severity"] == "info"),
            "{rel}: {artifact:#}"
        );
    }
}

/// What the checks cost on ordinary checkpoints: values judged by their start, and full decodes
/// (none expected). `--nocapture` prints the figures.
#[test]
fn ordinary_checkpoints_cost_no_decode() {
    let config = Config::default();
    let mut files: Vec<PathBuf> = [
        "benign/torch_state_dict.pt",
        "benign/legacy_torch.pt",
        "benign/sklearn_logistic_regression.pkl",
        "benign/staged_random_buffers.pkl",
        "benign/staged_meta_ordinary.safetensors",
        "benign/staged_gguf_model_card.gguf",
    ]
    .iter()
    .map(|r| sample(r))
    .collect();
    files.push(common::repo().join("tests/data/framework/torchscript/silero_vad.jit"));
    let real = common::repo().join("tests/data/pickle-real");
    let mut real_files: Vec<PathBuf> = std::fs::read_dir(&real)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    real_files.sort();
    files.extend(real_files);
    let (mut probes, mut decodes) = (0, 0);
    for path in &files {
        if !path.exists() {
            continue;
        }
        let report = scan::scan_file(path, &path.display().to_string(), &config);
        println!(
            "{:<60} probes {:>5} decodes {:>3} carried {}",
            path.strip_prefix(common::repo()).unwrap_or(path).display(),
            report.staged.probes,
            report.staged.decodes,
            report.staged.carried
        );
        assert_eq!(report.staged.decodes, 0, "{}", path.display());
        assert_eq!(report.staged.carried, 0, "{}", path.display());
        probes += report.staged.probes;
        decodes += report.staged.decodes;
    }
    println!(
        "{} files: {probes} values judged by their start, {decodes} decoded",
        files.len()
    );
}

/// A protocol 4 pickle of a list of `n` strings.
fn list_of_strings(items: &[String]) -> Vec<u8> {
    let mut out = vec![0x80, 4, b']', b'('];
    for s in items {
        out.push(b'X');
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(b"e.");
    out
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn decoding_stops_at_its_budget_and_says_so() {
    // 400 distinct base64 values, each a small pickle of plain data.
    let items: Vec<String> = (0..400)
        .map(|i| {
            let text = format!("value number {i:04}");
            let mut pickle = vec![0x80, 4, 0x8c, text.len() as u8];
            pickle.extend_from_slice(text.as_bytes());
            pickle.push(b'.');
            base64(&pickle)
        })
        .collect();
    let data = list_of_strings(&items);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.pkl");
    std::fs::write(&path, &data).unwrap();
    let report = scan::scan_file(&path, "many.pkl", &Config::default());
    assert_eq!(report.staged.decodes, 256, "{:?}", report.staged);
    assert!(report.staged.carried >= 250);
    let limits: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule_id.code() == "PKL005")
        .collect();
    assert_eq!(limits.len(), 1, "{:#?}", report.findings);
    assert!(limits[0].message.contains("staged pickles"));
    assert_eq!(report.verdict, quarantine::Verdict::Suspicious);
}

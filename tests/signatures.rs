//! Signature rules from the command line: user rule directories, compile errors and warnings,
//! the cache of compiled rules, and the time budget.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::Path;
use std::process::Output;

use common::{bin, code, parse};
use serde_json::Value;

const USER_RULE: &str = r#"rule marker {
    meta:
        description = "the team's marker string"
        severity = "high"
        verdict = "malicious"
    strings:
        $m = "quarantine-user-marker"
    condition:
        $m and origin == "text_member"
}
"#;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `quarantine <args>` with its cache under `cache` (or none when `cache` is `None`).
fn run(args: &[&str], cache: Option<&Path>) -> Output {
    let mut cmd = bin();
    cmd.args(args);
    match cache {
        Some(dir) => cmd.env("XDG_CACHE_HOME", dir),
        None => cmd.arg("--no-rules-cache"),
    };
    cmd.output().unwrap()
}

fn yar_findings(report: &Value) -> Vec<&Value> {
    report["artifacts"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"].as_str().unwrap().starts_with("YAR"))
        .collect()
}

#[test]
fn user_rules_fire_with_their_meta_and_origin() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    write(&rules, "team.yar", USER_RULE);
    let notes = write(dir.path(), "notes.cfg", "hello quarantine-user-marker\n");
    let rules = rules.to_str().unwrap();
    let notes = notes.to_str().unwrap();

    let output = run(&["scan", "--format", "json", "--rules", rules, notes], None);
    assert_eq!(code(&output), 1);
    let report = parse(&output);
    let hits = yar_findings(&report);
    assert_eq!(hits.len(), 1, "{hits:?}");
    let hit = hits[0];
    assert_eq!(hit["rule_id"], "YAR:team.marker");
    assert_eq!(hit["severity"], "high");
    assert_eq!(report["artifacts"][0]["verdict"], "malicious");
    assert_eq!(hit["signature"]["origin"], "text_member");
    assert_eq!(hit["signature"]["matches"][0]["offset"], 6);
    assert!(
        hit["evidence"]
            .as_str()
            .unwrap()
            .contains("$m at 6: quarantine-user-marker")
    );

    let without = run(&["scan", "--format", "json", notes], None);
    assert_eq!(
        code(&without),
        0,
        "without --rules the marker is plain text"
    );

    let listed = run(&["rules", "--rules", rules], None);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("YAR:team.marker"));
    assert!(listed.contains("YAR:reverse_shells.bash_dev_tcp"));
    let explained = run(&["explain", "YAR:team.marker", "--rules", rules], None);
    assert!(String::from_utf8_lossy(&explained.stdout).contains("the team's marker string"));
}

#[test]
fn a_rule_that_does_not_compile_is_a_clear_error_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "bad.yar",
        "rule broken {\n    strings:\n        $a = \"x\n    condition:\n        $a\n}\n",
    );
    let rules = dir.path().to_str().unwrap();
    let target = write(dir.path(), "m.txt", "text\n");

    let scan = run(&["scan", "--rules", rules, target.to_str().unwrap()], None);
    assert_eq!(code(&scan), 2);
    let stderr = String::from_utf8_lossy(&scan.stderr);
    assert!(stderr.contains("bad.yar:3"), "{stderr}");
    assert!(stderr.contains("error"), "{stderr}");

    let check = run(&["rules", "--check", rules], None);
    assert_eq!(code(&check), 2);
    assert!(String::from_utf8_lossy(&check.stderr).contains("bad.yar:3"));

    let meta = tempfile::tempdir().unwrap();
    write(
        meta.path(),
        "meta.yar",
        "rule m { meta: severity = \"hgih\" condition: true }\n",
    );
    let check = run(&["rules", "--check", meta.path().to_str().unwrap()], None);
    assert_eq!(code(&check), 2);
    assert!(String::from_utf8_lossy(&check.stderr).contains("severity = \"hgih\""));
}

#[test]
fn rules_check_surfaces_slow_pattern_warnings() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "slow.yar",
        "rule slow {\n    strings:\n        $a = /[a-z]{0,40}x/\n    condition:\n        $a\n}\n",
    );
    let check = run(&["rules", "--check", dir.path().to_str().unwrap()], None);
    assert_eq!(code(&check), 0);
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains("slow pattern") && stderr.contains("slow.yar:3"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("1 rules compiled, 1 warnings"));
}

#[test]
fn cached_rules_give_identical_findings_and_a_corrupt_entry_is_rewritten() {
    let cache = tempfile::tempdir().unwrap();
    let sample = common::repo().join("samples/malicious/sig_bash_dev_tcp.pkl");
    let args = ["scan", "--format", "json", sample.to_str().unwrap()];
    let first = parse(&run(&args, Some(cache.path())));
    let entries: Vec<_> = std::fs::read_dir(cache.path().join("quarantine"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let second = parse(&run(&args, Some(cache.path())));
    assert_eq!(
        first["artifacts"][0]["findings"],
        second["artifacts"][0]["findings"]
    );
    assert!(!yar_findings(&first).is_empty());

    std::fs::write(&entries[0], b"QRC1 not rules").unwrap();
    let third = parse(&run(&args, Some(cache.path())));
    assert_eq!(
        first["artifacts"][0]["findings"],
        third["artifacts"][0]["findings"]
    );
    assert!(
        std::fs::read(&entries[0]).unwrap().len() > 1000,
        "entry rewritten"
    );
}

#[test]
fn a_spent_time_budget_is_a_finding_not_a_clean_verdict() {
    let sample = common::repo().join("samples/benign/sig_networking_notes.md");
    let output = run(
        &[
            "scan",
            "--format",
            "json",
            "--signature-timeout",
            "0",
            sample.to_str().unwrap(),
        ],
        None,
    );
    let report = parse(&output);
    let artifact = &report["artifacts"][0];
    assert_eq!(artifact["verdict"], "suspicious");
    assert_eq!(artifact["findings"][0]["rule_id"], "YAR001");
}

#[test]
fn deep_scans_find_strings_inside_tensor_data() {
    let dir = tempfile::tempdir().unwrap();
    // A "weights" blob of 2 MiB (past the small-file size) with a miner URL in the middle.
    let mut blob = vec![0u8; 2 << 20];
    let url = b"stratum+tcp://192.0.2.10:3333";
    blob[1 << 20..(1 << 20) + url.len()].copy_from_slice(url);
    let path = dir.path().join("weights.bin");
    std::fs::write(&path, &blob).unwrap();
    let path = path.to_str().unwrap();

    let plain = parse(&run(&["scan", "--format", "json", path], None));
    assert!(yar_findings(&plain).is_empty());
    let deep = parse(&run(&["scan", "--format", "json", "--deep", path], None));
    let hits = yar_findings(&deep);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["rule_id"], "YAR:miners.stratum_url");
    assert_eq!(hits[0]["signature"]["origin"], "raw_bytes");
    assert_eq!(hits[0]["signature"]["matches"][0]["offset"], 1 << 20);
}

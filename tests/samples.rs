//! Every shipped sample is judged as `samples/MANIFEST.tsv` says, for the right reason: the
//! verdict, the rule id, and a fragment of the evidence or message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::collections::BTreeMap;

use serde_json::Value;

struct Expectation {
    path: String,
    verdict: String,
    rule_id: String,
    fragment: String,
}

fn manifest() -> Vec<Expectation> {
    let text = std::fs::read_to_string(common::repo().join("samples/MANIFEST.tsv"))
        .expect("samples/MANIFEST.tsv (run `python3 samples/generate.py`)");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert!(cols.len() >= 4, "bad manifest line: {line}");
            Expectation {
                path: cols[0].to_owned(),
                verdict: cols[1].to_owned(),
                rule_id: cols[2].to_owned(),
                fragment: cols[3].to_owned(),
            }
        })
        .collect()
}

#[test]
fn every_sample_is_judged_for_the_right_reason() {
    let samples = common::repo().join("samples");
    // The probe measures and a gate decides: the brittle samples are judged at the reference
    // gate of 25 % (the manifest's expectations are under it).
    let (_, report) = common::scan_json(&[&samples], &["--probe-gate", "25%"]);
    let by_path: BTreeMap<String, &Value> = common::artifacts(&report)
        .iter()
        .map(|a| {
            let path = a["path"].as_str().unwrap();
            let rel = path.split("samples/").last().unwrap().to_owned();
            (rel, a)
        })
        .collect();

    let mut failures = Vec::new();
    for exp in manifest() {
        let Some(artifact) = by_path.get(&exp.path) else {
            failures.push(format!("{}: not scanned", exp.path));
            continue;
        };
        let verdict = artifact["verdict"].as_str().unwrap();
        if verdict != exp.verdict {
            failures.push(format!(
                "{}: verdict {verdict}, expected {}; findings: {}",
                exp.path, exp.verdict, artifact["findings"]
            ));
            continue;
        }
        let findings = artifact["findings"].as_array().unwrap();
        if exp.rule_id == "-" {
            let loud: Vec<_> = findings
                .iter()
                .filter(|f| f["severity"] != "info")
                .collect();
            if !loud.is_empty() {
                failures.push(format!("{}: clean sample has findings {loud:?}", exp.path));
            }
            continue;
        }
        let hit = findings.iter().any(|f| {
            f["rule_id"] == exp.rule_id.as_str()
                && (exp.fragment == "-"
                    || [&f["evidence"], &f["message"]]
                        .iter()
                        .any(|v| v.as_str().is_some_and(|s| s.contains(&exp.fragment))))
        });
        if !hit {
            failures.push(format!(
                "{}: no {} finding mentioning `{}`; findings: {}",
                exp.path,
                exp.rule_id,
                exp.fragment,
                serde_json::to_string_pretty(findings).unwrap()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} sample(s) misjudged:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_sample_file_is_in_the_manifest() {
    let listed: std::collections::HashSet<String> =
        manifest().into_iter().map(|e| e.path).collect();
    let mut dirs = vec!["benign".to_owned(), "malicious".to_owned()];
    while let Some(dir) = dirs.pop() {
        let root = common::repo().join("samples").join(&dir);
        for entry in std::fs::read_dir(&root).expect("samples dir") {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{dir}/{name}");
            if entry.file_type().unwrap().is_dir() {
                dirs.push(rel); // a sample that is a directory (a sharded checkpoint)
                continue;
            }
            assert!(
                listed.contains(&rel),
                "{rel} is not in samples/MANIFEST.tsv"
            );
        }
    }
}

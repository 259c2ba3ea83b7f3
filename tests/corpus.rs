//! The shared corpus (`../shared/corpus`, collected from other scanners' test suites): every bad
//! file caught, no benign file called malicious, and a benign file called suspicious only for a
//! reason a careful reviewer accepts. Prints a score table; skipped when the corpus is absent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::Path;

use quarantine::{Config, Verdict};

/// Rules that may make a benign corpus file suspicious: an encrypted member nobody can inspect,
/// a stream that is genuinely malformed, content that is not a model format at all.
const ACCEPTED_FOR_BENIGN: &[&str] = &["ARC004", "PKL003", "FMT001"];

#[test]
fn shared_corpus_is_classified_correctly() {
    let corpus = common::repo().join("../shared/corpus");
    let Ok(expected) = std::fs::read_to_string(corpus.join("EXPECTED.tsv")) else {
        eprintln!("skipped: ../shared/corpus is absent");
        return;
    };
    // The shipped signature rules too: none may fire on a benign corpus file.
    let signatures = quarantine::signatures::compile(&quarantine::signatures::sources::shipped())
        .expect("shipped rules compile");
    let config = Config::default();
    let mut scanner = signatures.scanner();
    let (mut caught, mut bad, mut false_alarms, mut benign) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    println!("{:<60} {:<10} {:<10} rules", "file", "expected", "verdict");
    for line in expected.lines().skip(1) {
        let mut cols = line.split('\t');
        let (Some(rel), Some(want)) = (cols.next(), cols.next()) else {
            continue;
        };
        let report =
            quarantine::scan::scan_file_with(&corpus.join(rel), rel, &config, Some(&mut scanner));
        let rules: Vec<String> = report
            .findings
            .iter()
            .map(|f| f.rule_id.to_string())
            .collect();
        println!(
            "{rel:<60} {want:<10} {:<10} {}",
            report.verdict.as_str(),
            rules.join(",")
        );
        let ok = match want {
            "malicious" => report.verdict == Verdict::Malicious,
            "suspicious" => report.verdict.rank() >= 1,
            "benign" => match report.verdict {
                Verdict::Clean => true,
                Verdict::Malicious => false,
                Verdict::Suspicious | Verdict::Error => report.findings.iter().all(|f| {
                    f.verdict == quarantine::model::finding::Implies::Clean
                        || ACCEPTED_FOR_BENIGN.contains(&f.rule_id.code())
                }),
            },
            other => panic!("unknown expectation {other} for {rel}"),
        };
        if want == "benign" {
            benign += 1;
            false_alarms += usize::from(!ok);
        } else {
            bad += 1;
            caught += usize::from(ok);
        }
        if !ok {
            failures.push(format!(
                "{rel}: expected {want}, got {} ({})",
                report.verdict.as_str(),
                rules.join(",")
            ));
        }
    }
    println!(
        "\ncorpus score: {caught}/{bad} bad files caught, {false_alarms}/{benign} false alarms"
    );
    assert!(Path::new(&corpus).exists());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

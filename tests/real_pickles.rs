//! Pickles written by the real libraries in ordinary use (`scripts/real_pickles.py`, pinned
//! versions; scikit-learn pipelines with text vectorisers, grid searches and scorers, pandas
//! frames with tz-aware, categorical and Arrow string columns, scipy sparse matrices, numpy
//! masked arrays, ufuncs and random generators, joblib dumps with every compressor, hand-built
//! Python 3.13 `pathlib._local` paths) are clean: no finding above info.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use quarantine::{Config, Severity, Verdict};

#[test]
fn real_library_pickles_are_clean() {
    let dir = common::repo().join("tests/data/pickle-real");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data/pickle-real (run scripts/real_pickles.py)")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 40, "{} fixtures", names.len());
    let config = Config::default();
    let mut failures = Vec::new();
    for name in &names {
        let report = quarantine::scan::scan_file(&dir.join(name), name, &config);
        let loud: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
            .map(|f| {
                format!(
                    "{} {} [{}]",
                    f.rule_id,
                    f.message,
                    f.evidence.as_deref().unwrap_or("")
                )
            })
            .collect();
        if report.verdict != Verdict::Clean || !loud.is_empty() {
            failures.push(format!(
                "{name} ({}): {}\n    {}",
                report.format,
                report.verdict.as_str(),
                loud.join("\n    ")
            ));
        }
        // Every fixture is read as a pickle (directly or inside joblib's compression).
        assert!(
            report.format.name().contains("pickle")
                || report.format.name().contains("joblib")
                || !report.members.is_empty(),
            "{name}: read as {}",
            report.format
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} real pickles are not clean:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}

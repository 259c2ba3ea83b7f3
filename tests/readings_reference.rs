//! Files written by the real libraries (`scripts/readings_reference.py`: joblib 1.5.2 with every
//! compressor including `lz4`, numpy 2.3.4 object, structured and Fortran-order arrays, `.npz`,
//! an `.npz` inside a tar) scan clean: no finding above `info`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

#[test]
fn real_writers_files_are_clean() {
    let dir = common::repo().join("tests/data/readings");
    let (_, report) = common::scan_json(&[&dir], &[]);
    let artifacts = common::artifacts(&report);
    assert!(artifacts.len() >= 14, "{}", artifacts.len());
    let mut loud = Vec::new();
    for a in artifacts {
        for f in a["findings"].as_array().into_iter().flatten() {
            if f["severity"] != "info" {
                loud.push(format!("{}: {} {}", a["path"], f["rule_id"], f["message"]));
            }
        }
        assert_eq!(a["verdict"], "clean", "{}", a["path"]);
    }
    assert!(loud.is_empty(), "{loud:#?}");
    let lz4 = artifacts
        .iter()
        .find(|a| {
            a["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("model-lz4.joblib"))
        })
        .expect("the lz4 dump");
    assert_eq!(lz4["format"], "lz4");
}

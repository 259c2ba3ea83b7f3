//! Long-tail formats written by the real libraries (tests/data/longtail/, made by
//! scripts/longtail_reference.py with skops, scikit-learn, dill, cloudpickle, OmegaConf, XGBoost,
//! LightGBM and Flax):
//! ordinary files are clean with no finding above info, functions pickled by value are
//! suspicious (never malicious), and what the same writers produce from hostile objects is
//! malicious with the rule and evidence that say why.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::path::PathBuf;

use quarantine::Verdict;

fn data(sub: &str) -> PathBuf {
    common::repo().join("tests/data/longtail").join(sub)
}

/// skops lists HistGradientBoosting's `_BinMapper` as untrusted itself (`get_untrusted_types`),
/// but it is a class scikit-learn defines, no gadget: the import policy's names table knows it,
/// so `skops_hgb.skops` is as clean as the rest (the loader's own trust prompt is not a finding).
#[test]
fn ordinary_files_are_clean() {
    let mut checked = 0;
    for path in common::files_in(&data("benign")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let report = common::scan_in_process(&path);
        assert_eq!(
            report.verdict,
            Verdict::Clean,
            "{name}: {:?}",
            common::above_info(&report)
        );
        assert!(common::above_info(&report).is_empty(), "{name}");
        checked += 1;
    }
    assert!(checked >= 17, "{checked}");
}

#[test]
fn formats_are_named_by_layout() {
    assert_eq!(
        common::scan_in_process(&data("benign/asr_model.nemo")).format,
        "nemo"
    );
    assert_eq!(
        common::scan_in_process(&data("benign/skops_tree.skops")).format,
        "skops"
    );
    assert_eq!(
        common::scan_in_process(&data("benign/xgboost_model.ubj")).format,
        "xgboost-ubj"
    );
    assert_eq!(
        common::scan_in_process(&data("benign/flax_mlp.msgpack")).format,
        "msgpack"
    );
    assert_eq!(
        common::scan_in_process(&data("benign/flax_state.msgpack")).format,
        "msgpack"
    );
}

#[test]
fn functions_pickled_by_value_are_suspicious_and_say_what_is_rebuilt() {
    for path in common::files_in(&data("code")) {
        let report = common::scan_in_process(&path);
        let name = path.display();
        assert_eq!(
            report.verdict,
            Verdict::Suspicious,
            "{name}: {:?}",
            common::above_info(&report)
        );
        let codes: Vec<&str> = report.findings.iter().map(|f| f.rule_id.code()).collect();
        assert!(codes.iter().all(|c| *c == "PKL010"), "{name}: {codes:?}");
        let evidence = report.findings[0].evidence.as_deref().unwrap();
        assert!(evidence.contains("builds code `"), "{name}: {evidence}");
    }
}

#[test]
fn hostile_objects_from_the_real_writers_are_malicious() {
    for (file, rule, evidence) in [
        ("cloudpickle_os_system.pkl", "PKL011", "system"),
        ("dill_os_system.pkl", "PKL011", "system"),
        ("dill_lambda_urlopen.pkl", "PKL011", "urlopen"),
        (
            "skops_func_posix_system.skops",
            "SKP001",
            "\"posix\"), \"system\"",
        ),
        ("skops_func_runstring.skops", "SKP001", "runstring"),
        ("skops_method_write_text.skops", "SKP001", "\"write_text\""),
        (
            "nemo_target_os_system.nemo",
            "NEM001",
            "os.system(command=\"echo quarantine-sample\")",
        ),
    ] {
        let report = common::scan_in_process(&data("attacks").join(file));
        assert_eq!(report.verdict, Verdict::Malicious, "{file}");
        let finding = report
            .findings
            .iter()
            .find(|f| f.rule_id.code() == rule)
            .unwrap_or_else(|| panic!("{file}: no {rule} in {:?}", common::above_info(&report)));
        let text = format!(
            "{} {}",
            finding.message,
            finding.evidence.as_deref().unwrap_or_default()
        );
        assert!(text.contains(evidence), "{file}: {text}");
        // No polyglot finding for a .nemo (its checkpoint is a member, not a second reading).
        assert!(
            report.findings.iter().all(|f| f.rule_id.code() != "FMT003"),
            "{file}"
        );
    }
}

/// A `.nemo` whose checkpoint member's tar size field is cut short (a seeded mutant of the
/// oracle test): `tarfile` hands over only the first 512 bytes of the checkpoint, but
/// `zipfile`, reading the whole file from its end record (the tar's bytes before the checkpoint
/// counted as prepended data), still reads every member of it. That zip reading is analysed too.
#[test]
fn a_tar_member_cut_short_does_not_hide_the_zip_read_from_the_end() {
    let mut bytes = std::fs::read(data("attacks").join("nemo_target_os_system.nemo")).unwrap();
    // The second header (the checkpoint's) is at 1024 in this file (two blocks of YAML before).
    let header = (0..bytes.len())
        .step_by(512)
        .find(|&b| bytes[b..b + 100].starts_with(b"./model_weights.ckpt"))
        .expect("checkpoint header");
    bytes[header + 124..header + 136].copy_from_slice(b"00000001000\0");
    bytes[header + 148..header + 156].copy_from_slice(b"        ");
    let sum: u32 = bytes[header..header + 512]
        .iter()
        .map(|&b| u32::from(b))
        .sum();
    bytes[header + 148..header + 156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.nemo");
    std::fs::write(&path, &bytes).unwrap();
    let report = common::scan_in_process(&path);
    let read_from_end: Vec<&str> = report
        .members
        .iter()
        .map(|m| m.member.as_str())
        .filter(|m| m.starts_with("(zip reading)!"))
        .collect();
    for member in ["data.pkl", "data/0", "version", "byteorder"] {
        assert!(
            read_from_end.iter().any(|m| m.ends_with(member)),
            "no `{member}` from the zip reading: {:?}",
            report.members.iter().map(|m| &m.member).collect::<Vec<_>>()
        );
    }
    assert!(
        report.findings.iter().any(|f| f.rule_id.code() == "FMT003"),
        "{:?}",
        common::above_info(&report)
    );
    assert_eq!(report.verdict, Verdict::Malicious);
}

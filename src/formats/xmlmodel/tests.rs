//! OpenVINO IR and PMML documents from samples/gen_xmlmodels.py and small hand-written ones.

use super::{Kind, detect, is_opset};
use crate::testing::{codes, scan};

const IR: &[u8] = include_bytes!("../../../samples/benign/openvino_ir/model.xml");
const CUSTOM: &[u8] = include_bytes!("../../../samples/malicious/openvino_custom_layer.xml");
const PMML: &[u8] = include_bytes!("../../../samples/benign/pmml_tree.pmml");
const PMML_XXE: &[u8] = include_bytes!("../../../samples/malicious/pmml_xxe.pmml");
const LAUGHS: &[u8] = include_bytes!("../../../samples/malicious/pmml_billion_laughs.pmml");
const CODE: &[u8] = include_bytes!("../../../samples/malicious/pmml_extension_python.pmml");

#[test]
fn documents_are_recognised_by_their_root() {
    assert_eq!(detect(IR), Some(Kind::Openvino));
    assert_eq!(detect(PMML), Some(Kind::Pmml));
    assert_eq!(detect(PMML_XXE), Some(Kind::Pmml));
    assert_eq!(
        detect(b"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<!-- c -->\n<pmml:PMML xmlns:pmml=\"x\"/>"),
        Some(Kind::Pmml)
    );
    assert_eq!(detect(b"<html><net/></html>"), None);
    assert_eq!(detect(b"net version"), None);
    assert!(is_opset("opset15"));
    assert!(!is_opset("opset") && !is_opset("custom_opset") && !is_opset("extension"));
}

#[test]
fn ordinary_documents_are_clean() {
    let report = scan(IR);
    assert_eq!(report.format, "openvino");
    assert!(codes(&report).is_empty(), "{:?}", report.findings);
    let report = scan(PMML);
    assert_eq!(report.format, "pmml");
    assert_eq!(codes(&report), ["PML004"], "{:?}", report.findings);
}

#[test]
fn custom_layers_entities_and_code_are_reported() {
    let report = scan(CUSTOM);
    assert_eq!(codes(&report), ["OVN001"], "{:?}", report.findings);
    assert!(
        report.findings[0]
            .evidence
            .as_deref()
            .unwrap()
            .contains("MyShellOp")
    );
    assert_eq!(codes(&scan(PMML_XXE)), ["PML001", "PML004"]);
    assert_eq!(codes(&scan(LAUGHS)), ["PML002", "PML004"]);
    let report = scan(CODE);
    assert_eq!(
        codes(&report),
        ["PML004", "PML005"],
        "{:?}",
        report.findings
    );
    #[cfg(feature = "python")]
    assert!(
        report.findings[1].message.contains("os.system"),
        "{}",
        report.findings[1].message
    );
}

#[test]
fn broken_documents_fail_closed() {
    for cut in (60..IR.len()).step_by(211) {
        let report = scan(&IR[..cut]);
        assert_eq!(report.format, "openvino", "cut at {cut}");
        assert!(
            codes(&report).contains(&"OVN004"),
            "cut at {cut}: {:?}",
            report.findings
        );
    }
    let report = scan(b"<?xml version=\"1.0\"?>\n<PMML version=\"4.4\"><Header></PMML>");
    assert_eq!(codes(&report), ["PML003"], "{:?}", report.findings);
    let report = scan(b"<net name=\"x\" version=\"11\"><edges/></net>");
    assert_eq!(codes(&report), ["OVN004"], "{:?}", report.findings);
}

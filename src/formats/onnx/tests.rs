//! The analyser on models built with our own proto types.

use prost::Message;

use super::proto::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    tensor_proto::DataLocation,
};
use crate::Config;
use crate::model::summary::ModelSummary;
use crate::testing::{codes, scan, scan_with};

fn node(domain: &str, op_type: &str) -> NodeProto {
    NodeProto {
        op_type: op_type.to_owned(),
        domain: domain.to_owned(),
        input: vec!["x".to_owned()],
        output: vec!["y".to_owned()],
        ..NodeProto::default()
    }
}

fn opset(domain: &str, version: i64) -> OperatorSetIdProto {
    OperatorSetIdProto {
        domain: domain.to_owned(),
        version,
    }
}

fn model(nodes: Vec<NodeProto>, initializer: Vec<TensorProto>) -> ModelProto {
    ModelProto {
        ir_version: 9,
        producer_name: "test".to_owned(),
        opset_import: vec![opset("", 19)],
        graph: Some(GraphProto {
            node: nodes,
            initializer,
            name: "g".to_owned(),
            ..GraphProto::default()
        }),
        ..ModelProto::default()
    }
}

fn external(location: &str, offset: u64, length: u64) -> TensorProto {
    let entry = |k: &str, v: String| StringStringEntryProto {
        key: k.to_owned(),
        value: v,
    };
    TensorProto {
        name: "w".to_owned(),
        dims: vec![4],
        data_type: 1,
        data_location: DataLocation::External as i32,
        external_data: vec![
            entry("location", location.to_owned()),
            entry("offset", offset.to_string()),
            entry("length", length.to_string()),
        ],
        ..TensorProto::default()
    }
}

#[test]
fn a_standard_model_is_clean_and_summarised() {
    let weights = TensorProto {
        name: "w".to_owned(),
        dims: vec![3, 4],
        data_type: 1,
        raw_data: vec![0u8; 48].into(),
        ..TensorProto::default()
    };
    let m = model(
        vec![node("", "Relu"), node("com.microsoft", "FusedMatMul")],
        vec![weights],
    );
    let report = scan(&m.encode_to_vec());
    assert_eq!(report.format, "onnx");
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    let ModelSummary::Onnx(summary) = &report.models[0].summary else {
        panic!("{:?}", report.models);
    };
    assert_eq!((summary.nodes, summary.parameters), (2, 12));
    assert_eq!(summary.op_histogram["com.microsoft.FusedMatMul"], 1);
}

#[test]
fn operators_outside_the_standard_set_are_listed() {
    let m = model(
        vec![node("com.microsoft", "NotAContribOp"), node("org.x", "A")],
        vec![],
    );
    let report = scan(&m.encode_to_vec());
    assert_eq!(codes(&report), ["ONX005", "ONX005"]);
}

#[test]
fn opset_imports_are_checked() {
    let mut m = model(vec![node("", "Relu")], vec![]);
    m.opset_import.push(opset("ai.onnx", 13));
    assert_eq!(codes(&scan(&m.encode_to_vec())), ["ONX006"]);
    m.opset_import = vec![opset("", 0)];
    m.ir_version = -1;
    assert_eq!(codes(&scan(&m.encode_to_vec())), ["ONX006", "ONX006"]);
}

#[test]
fn node_and_initializer_limits() {
    let m = model(vec![node("", "Relu"); 5], vec![TensorProto::default(); 5]);
    let mut config = Config::default();
    config.onnx.max_nodes = 4;
    assert_eq!(codes(&scan_with(&m.encode_to_vec(), &config)), ["ONX007"]);
    let mut config = Config::default();
    config.onnx.max_initializers = 4;
    assert_eq!(codes(&scan_with(&m.encode_to_vec(), &config)), ["ONX007"]);
    let mut config = Config::default();
    config.onnx.max_bytes = 8;
    assert_eq!(codes(&scan_with(&m.encode_to_vec(), &config)), ["ONX007"]);
}

#[test]
fn external_data_inside_an_archive_is_judged_by_name() {
    // Bytes in memory have no directory: a relative location cannot be checked on disk.
    let m = model(vec![], vec![external("w.bin", 0, 16)]);
    assert!(codes(&scan(&m.encode_to_vec())).is_empty());
    let m = model(vec![], vec![external("/etc/shadow", 0, 16)]);
    assert_eq!(codes(&scan(&m.encode_to_vec())), ["ONX002"]);
}

#[cfg(unix)]
#[test]
fn external_data_on_disk() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("model");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("w.bin"), [0u8; 16]).unwrap();
    std::fs::write(root.path().join("secret"), b"password").unwrap();
    std::os::unix::fs::symlink("../secret", dir.join("link.bin")).unwrap();
    let path = dir.join("model.onnx");
    let scan_with = |tensor: TensorProto| {
        std::fs::write(&path, model(vec![], vec![tensor]).encode_to_vec()).unwrap();
        let report = crate::scan::scan_file(&path, "m", &Config::default());
        codes(&report)
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert!(scan_with(external("w.bin", 0, 16)).is_empty());
    assert_eq!(scan_with(external("w.bin", 8, 16)), ["ONX003"]);
    assert_eq!(scan_with(external("gone.bin", 0, 16)), ["ONX003"]);
    assert_eq!(scan_with(external("link.bin", 0, 8)), ["ONX002"]);
    assert_eq!(scan_with(external("../secret", 0, 8)), ["ONX002"]);
}

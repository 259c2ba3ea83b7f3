//! TensorFlow graphs built with our own proto types.

use std::collections::HashMap;

use prost::Message;

use super::detect::{Kind, detect};
use super::proto::{
    AttrValue, FunctionDef, FunctionDefLibrary, GraphDef, MetaGraphDef, NodeDef, OpDef, SavedModel,
    TensorProto, attr_value,
};
use crate::testing::{codes, scan};

fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
    NodeDef {
        name: name.to_owned(),
        op: op.to_owned(),
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        ..NodeDef::default()
    }
}

fn const_str(name: &str, value: &str) -> NodeDef {
    let mut n = node(name, "Const", &[]);
    let tensor = TensorProto {
        dtype: 7,
        string_val: vec![value.as_bytes().to_vec()],
        ..TensorProto::default()
    };
    n.attr.insert(
        "value".to_owned(),
        AttrValue {
            value: Some(attr_value::Value::Tensor(tensor)),
        },
    );
    n
}

fn graph(nodes: Vec<NodeDef>) -> GraphDef {
    GraphDef {
        node: nodes,
        ..GraphDef::default()
    }
}

#[test]
fn kinds_are_told_apart_by_structure() {
    let g = graph(vec![
        node("x", "Placeholder", &[]),
        node("y", "Relu", &["x"]),
    ]);
    assert_eq!(detect(&g.encode_to_vec()), Some(Kind::GraphDef));
    let meta = MetaGraphDef {
        graph_def: Some(g.clone()),
        ..MetaGraphDef::default()
    };
    assert_eq!(detect(&meta.encode_to_vec()), Some(Kind::MetaGraph));
    let saved = SavedModel {
        saved_model_schema_version: 1,
        meta_graphs: vec![meta],
    };
    assert_eq!(detect(&saved.encode_to_vec()), Some(Kind::SavedModel));
    for not in [
        &b"hello world, plain text"[..],
        b"\x08\x08\x12\x01t:\x03\n\x01g",
        &[0u8; 64],
        b"\n\x05hello",
    ] {
        assert_eq!(detect(not), None, "{not:?}");
    }
}

#[test]
fn python_ops_in_nested_functions_are_found() {
    let f = FunctionDef {
        signature: Some(OpDef {
            name: "inner".to_owned(),
            ..OpDef::default()
        }),
        node_def: vec![node("p", "PyFunc", &["a"])],
        ret: HashMap::new(),
        attr: HashMap::new(),
    };
    let mut g = graph(vec![node("x", "Placeholder", &[])]);
    g.library = Some(FunctionDefLibrary {
        function: vec![f],
        gradient: Vec::new(),
    });
    let report = scan(&g.encode_to_vec());
    assert_eq!(codes(&report), ["TFG002"]);
    assert!(report.findings[0].message.contains("function `inner`"));
}

#[test]
fn file_ops_take_constant_paths_as_evidence() {
    let g = graph(vec![
        const_str("dir", "/etc"),
        const_str("file", "passwd"),
        node("j", "StringJoin", &["dir", "file"]),
        node("read", "ReadFile", &["j:0"]),
    ]);
    let report = scan(&g.encode_to_vec());
    assert_eq!(codes(&report), ["TFG003"]);
    assert!(
        report.findings[0]
            .evidence
            .as_deref()
            .unwrap()
            .contains("\"/etc\"")
    );
    // Fed at run time: suspicious only.
    let g = graph(vec![
        node("p", "Placeholder", &[]),
        node("read", "ReadFile", &["p"]),
    ]);
    assert_eq!(codes(&scan(&g.encode_to_vec())), ["TFG004"]);
}

#[test]
fn savers_are_ordinary_unless_their_path_escapes() {
    let saver = |prefix: NodeDef| {
        graph(vec![
            prefix,
            const_str("names", "w"),
            node("restore", "RestoreV2", &["prefix", "names"]),
        ])
    };
    let fed = saver(node("prefix", "Placeholder", &[]));
    assert!(codes(&scan(&fed.encode_to_vec())).is_empty());
    let inside = saver(const_str("prefix", "variables/variables"));
    assert!(codes(&scan(&inside.encode_to_vec())).is_empty());
    let outside = saver(const_str("prefix", "/tmp/planted/ckpt"));
    assert_eq!(codes(&scan(&outside.encode_to_vec())), ["TFG003"]);
}

#[test]
fn wide_fan_in_is_bounded() {
    let mut nodes: Vec<NodeDef> = (0..2000)
        .map(|i| node(&format!("n{i}"), "Identity", &[]))
        .collect();
    for (i, node) in nodes.iter_mut().enumerate().skip(1) {
        node.input = (0..i.min(50)).map(|j| format!("n{}", i - 1 - j)).collect();
    }
    nodes.push(node("read", "ReadFile", &["n1999"]));
    let report = scan(&graph(nodes).encode_to_vec());
    assert_eq!(codes(&report), ["TFG004"]);
}

/// A TF2 table initializer whose filename input is captured from an asset object reads the
/// model's own `assets/` file: nothing to report. An asset named outside the model, or an input
/// not bound to an asset, keeps the findings.
#[test]
fn a_table_reading_the_models_own_asset_is_not_reported() {
    use super::proto::{
        ArgDef, AssetFileDef, SavedAsset, SavedConcreteFunction, SavedObjectGraph,
        SavedObjectGraphNode,
    };
    let model = |filename: &str, bound: Vec<i32>| {
        let init = FunctionDef {
            signature: Some(OpDef {
                name: "__inference__initializer_1".to_owned(),
                input_arg: ["table_handle", "asset_filepath"]
                    .iter()
                    .map(|n| ArgDef {
                        name: (*n).to_owned(),
                    })
                    .collect(),
            }),
            node_def: vec![node(
                "init",
                "InitializeTableFromTextFileV2",
                &["table_handle", "asset_filepath"],
            )],
            ret: HashMap::new(),
            attr: HashMap::new(),
        };
        let mut g = graph(vec![node("x", "Placeholder", &[])]);
        g.library = Some(FunctionDefLibrary {
            function: vec![init],
            ..FunctionDefLibrary::default()
        });
        let objects = SavedObjectGraph {
            nodes: vec![
                SavedObjectGraphNode::default(),
                SavedObjectGraphNode {
                    asset: Some(SavedAsset {
                        asset_file_def_index: 0,
                    }),
                },
            ],
            concrete_functions: HashMap::from([(
                "__inference__initializer_1".to_owned(),
                SavedConcreteFunction {
                    bound_inputs: bound,
                },
            )]),
        };
        let meta = MetaGraphDef {
            graph_def: Some(g),
            asset_file_def: vec![AssetFileDef {
                tensor_info: None,
                filename: filename.to_owned(),
            }],
            object_graph_def: Some(objects),
            ..MetaGraphDef::default()
        };
        SavedModel {
            saved_model_schema_version: 1,
            meta_graphs: vec![meta],
        }
        .encode_to_vec()
    };
    let report = scan(&model("vocab.txt", vec![1]));
    assert!(codes(&report).is_empty(), "{:?}", report.findings);
    // The captured input is not the asset (node 0 is no asset): a path computed at run time.
    let report = scan(&model("vocab.txt", vec![0]));
    assert_eq!(codes(&report), ["TFG004"], "{:?}", report.findings);
    // The asset itself lies outside the model.
    let report = scan(&model("/etc/passwd", vec![1]));
    let mut found = codes(&report);
    found.sort_unstable();
    assert_eq!(found, ["TFG003", "TFG004"], "{:?}", report.findings);
}

//! The skops schema walk on hand-written schemas shaped like `skops.io.dumps` output.

use serde_json::{Value, json};

use crate::testing::{codes, scan};

fn node(loader: &str, module: &str, class: &str) -> Value {
    json!({"__class__": class, "__module__": module, "__loader__": loader, "__id__": 1})
}

fn schema(func: Value) -> Vec<u8> {
    let mut transformer = node(
        "ObjectNode",
        "sklearn.preprocessing._function_transformer",
        "FunctionTransformer",
    );
    transformer["content"] = json!({
        "__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
        "content": {"func": func, "validate": {"__class__": "str", "__module__": "builtins",
            "__loader__": "JsonNode", "content": "false", "is_json": true}},
        "key_types": {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
            "content": [node("TypeNode", "builtins", "str"), node("TypeNode", "builtins", "str")]}
    });
    let mut root = node("ObjectNode", "sklearn.pipeline", "Pipeline");
    root["content"] = json!({"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
        "content": {"steps": {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
            "content": [transformer]}}});
    root["protocol"] = json!(2);
    root["_skops_version"] = json!("0.11.0");
    serde_json::to_vec(&root).unwrap()
}

#[test]
fn an_ordinary_schema_is_clean() {
    let report = scan(&schema(node("FunctionNode", "numpy", "log1p")));
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[test]
fn denied_functions_are_malicious_with_what_skops_imports() {
    for (module, name, resolved) in [
        ("posix", "system", "system"),
        ("numpy.testing._private.utils", "runstring", "runstring"),
        ("builtins", "exec", "exec"),
    ] {
        let report = scan(&schema(node("FunctionNode", module, name)));
        assert_eq!(codes(&report), ["SKP001"], "{module}.{name}");
        let evidence = report.findings[0].evidence.as_deref().unwrap();
        assert!(evidence.contains(resolved), "{evidence}");
        assert!(evidence.contains("import_module"), "{evidence}");
        assert_eq!(
            report.verdict,
            crate::model::finding::Verdict::Malicious,
            "{module}.{name}"
        );
    }
}

#[test]
fn operator_nodes_resolve_in_operator_whatever_the_module_says() {
    let mut op = node("OperatorFuncNode", "sklearn.utils", "attrgetter");
    op["attrs"] = json!({"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": []});
    let report = scan(&schema(op));
    assert_eq!(codes(&report), ["SKP001"]);
    assert!(report.findings[0].message.contains("operator.attrgetter"));
}

#[test]
fn method_nodes_are_judged_on_their_object_type() {
    let mut path = node("ObjectNode", "pathlib", "PosixPath");
    path["__id__"] = json!(77);
    let method = json!({"__class__": "method", "__module__": "builtins", "__loader__": "MethodNode",
        "content": {"func": "write_text", "obj": path}});
    let report = scan(&schema(method));
    assert_eq!(codes(&report), ["SKP001"], "{:?}", report.findings);
    assert!(report.findings[0].message.contains("PosixPath.write_text"));
    let evidence = report.findings[0].evidence.as_deref().unwrap();
    assert!(evidence.contains("\"write_text\""), "{evidence}");
    // A memo reference to the object is followed to the node that defined it.
    let cached = json!({"__class__": "method", "__module__": "builtins", "__loader__": "MethodNode",
        "content": {"func": "write_bytes", "obj": {"__loader__": "CachedNode", "__id__": 77}}});
    let mut doc: Value = serde_json::from_slice(&schema(cached)).unwrap();
    doc["content"]["content"]["extra"] = {
        let mut p = node("ObjectNode", "pathlib", "PosixPath");
        p["__id__"] = json!(77);
        p
    };
    // The defining node comes first in document order when it is a key before `steps`.
    let report = scan(&serde_json::to_vec(&doc).unwrap());
    assert!(codes(&report).contains(&"SKP001"), "{:?}", report.findings);
}

#[test]
fn unknown_types_are_suspicious_and_unknown_loaders_malformed() {
    let report = scan(&schema(node("FunctionNode", "mypkg.features", "scale")));
    assert_eq!(codes(&report), ["SKP002"]);
    let report = scan(&schema(node("PickleNode", "builtins", "object")));
    assert_eq!(codes(&report), ["SKP003"]);
    let mut bare = schema(node("FunctionNode", "numpy", "log1p"));
    bare.truncate(bare.len() - 10);
    let report = scan(&bare);
    assert!(codes(&report).contains(&"SKP003"), "{:?}", report.findings);
}

#[test]
fn other_json_is_not_a_schema() {
    let report = scan(br#"{"__loader__": "x"}"#);
    assert!(!codes(&report).iter().any(|c| c.starts_with("SKP")));
    let report = scan(br#"{"a": 1}"#);
    assert!(report.findings.is_empty());
}

//! The Keras configuration walk on hand-written configurations.

use serde_json::json;

use crate::testing::{codes, scan};

fn config(layers: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "module": "keras", "class_name": "Sequential", "registered_name": null,
        "config": {"name": "s", "layers": layers}
    }))
    .unwrap()
}

fn dense() -> serde_json::Value {
    json!({"module": "keras.layers", "class_name": "Dense", "registered_name": null,
           "config": {"name": "d", "units": 2, "activation": "relu",
                      "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null}}})
}

#[test]
fn an_ordinary_config_is_clean_and_summarised() {
    let report = scan(&config(json!([dense(), dense()])));
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    let crate::model::summary::ModelSummary::Keras(s) = &report.models[0].summary else {
        panic!("no keras summary")
    };
    assert_eq!(s.entry, "Sequential");
    assert_eq!(s.histogram.get("Dense"), Some(&2));
}

#[test]
fn foreign_modules_are_judged_by_what_they_name() {
    let os = json!({"module": "os", "class_name": "function", "config": "system", "registered_name": "function"});
    let report = scan(&config(json!([os])));
    assert_eq!(codes(&report), ["KRS003"]);
    assert!(
        report.findings[0]
            .evidence
            .as_deref()
            .unwrap()
            .contains("\"system\"")
    );
    // A dangerous module whatever the function name.
    let sub = json!({"module": "subprocess", "class_name": "Whatever", "config": {}});
    assert_eq!(codes(&scan(&config(json!([sub])))), ["KRS003"]);
    let third = json!({"module": "acme.layers", "class_name": "Block", "config": {"name": "b"}});
    assert_eq!(codes(&scan(&config(json!([third])))), ["KRS004"]);
    // tensorflow.keras is Keras; tensorflow.io is not.
    let tfk = json!({"module": "tensorflow.keras.layers", "class_name": "Dense", "config": {"name": "x"}});
    assert!(codes(&scan(&config(json!([tfk])))).is_empty());
}

#[test]
fn gadgets_inside_keras_are_malicious() {
    for name in ["enable_unsafe_deserialization", "get_file", "load_model"] {
        let g = json!({"module": "keras.src.utils", "class_name": "function", "config": name, "registered_name": "function"});
        let report = scan(&config(json!([g])));
        assert_eq!(codes(&report), ["KRS005"], "{name}");
    }
    // The class name itself can be the function.
    let g = json!({"module": "keras.config", "class_name": "enable_unsafe_deserialization", "config": {}});
    assert_eq!(codes(&scan(&config(json!([g])))), ["KRS005"]);
}

#[test]
fn file_paths_in_layer_configs() {
    let lookup = |v: &str| json!({"module": "keras.layers", "class_name": "StringLookup", "config": {"name": "l", "vocabulary": v}});
    assert_eq!(
        codes(&scan(&config(json!([lookup("/etc/passwd")])))),
        ["KRS007"]
    );
    assert_eq!(
        codes(&scan(&config(json!([lookup("~/.ssh/id_rsa")])))),
        ["KRS007"]
    );
    assert_eq!(
        codes(&scan(&config(json!([lookup("assets/vocab.txt")])))),
        ["KRS006"]
    );
    let list = json!({"module": "keras.layers", "class_name": "StringLookup", "config": {"name": "l", "vocabulary": ["a", "b"]}});
    assert!(codes(&scan(&config(json!([list])))).is_empty());
    let url = json!({"module": "keras.layers", "class_name": "TextVectorization", "config": {"name": "t", "vocabulary": "https://192.0.2.1/v.txt"}});
    let report = scan(&config(json!([url])));
    assert!(codes(&report).contains(&"KRS007"), "{:?}", codes(&report));
}

#[test]
fn legacy_lambda_naming_a_module_function() {
    let lam = json!({"class_name": "Lambda", "config": {"name": "l", "function": "system", "function_type": "function", "module": "os"}});
    let report = scan(&config(json!([lam])));
    assert_eq!(codes(&report), ["KRS002"]);
    assert!(
        report.findings[0]
            .evidence
            .as_deref()
            .unwrap()
            .contains("os.system")
    );
}

#[test]
fn undecodable_lambda_code_is_still_suspicious() {
    let lam = json!({"class_name": "Lambda", "config": {"name": "l", "function": {"class_name": "__lambda__", "config": {"code": "AAAA"}}}});
    assert_eq!(codes(&scan(&config(json!([lam])))), ["KRS001"]);
}

#[test]
fn deep_configs_are_cut_not_overflowed() {
    let mut v = json!({"class_name": "Dense", "config": {}});
    for _ in 0..120 {
        v = json!({"class_name": "Wrapper", "config": {"layer": v}});
    }
    // serde_json refuses nesting past 128 levels; what parses is walked within bounds.
    let report = scan(&config(json!([v])));
    assert!(report.findings.iter().all(|f| f.rule_id.code() != "KRS003"));
}

#[test]
fn base64_is_lenient_like_binascii() {
    assert_eq!(super::base64("aGVs\nbG8=").unwrap(), b"hello");
    assert_eq!(super::base64("aGVsbG8").unwrap(), b"hello");
    assert!(super::base64("!!!").is_none());
}

#[test]
fn names_joined_from_fragments_are_judged_whole() {
    let strings = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let found = super::assembled_names(&strings(&["", "__subcl", "asses__", "sy", "stem"]));
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"__subclasses__"), "{names:?}");
    assert!(names.contains(&"system"), "{names:?}");
    // Ordinary attribute names, whole or split, are nothing.
    assert!(super::assembled_names(&strings(&["sha", "pe", "dtype", "mean"])).is_empty());
}

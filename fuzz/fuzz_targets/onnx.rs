//! The ONNX analyser on arbitrary bytes: no panic, and bytes analysed as ONNX never come out
//! `clean` unless they decode to a model with a graph.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use prost::Message;
use quarantine::formats::onnx::proto::ModelProto;
use quarantine::Format;
use quarantine::{Config, Verdict, scan};

fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    let report = scan::scan_bytes_as(Format::Onnx, data, Path::new("fuzz.onnx"), "fuzz", &config);
    assert!(report.error.is_none());
    if report.verdict == Verdict::Clean {
        let model = ModelProto::decode(data).expect("a clean verdict on bytes that do not decode");
        assert!(model.graph.is_some(), "a clean verdict on a model without a graph");
    }
});

//! the Core ML protobuf walk (custom models and layers, linked models, nested pipelines) on arbitrary bytes: no panic, no hang, and no `error` from the analysis itself.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::Format;
use quarantine::{Config, scan};

fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    let report = scan::scan_bytes_as(Format::Coreml, data, Path::new("fuzz"), "fuzz", &config);
    assert!(report.error.is_none());
});

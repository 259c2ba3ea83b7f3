//! the Core ML protobuf walk (custom models and layers, linked models, nested pipelines, ML
//! program blob files), the `.mlpackage` manifest check and the MIL blob storage recogniser on
//! arbitrary bytes: no panic, no hang, and no `error` from the analysis itself.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::Format;
use quarantine::{Config, scan};

fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    for format in [Format::Coreml, Format::Text, Format::Unknown] {
        let report = scan::scan_bytes_as(format, data, Path::new("fuzz"), "fuzz", &config);
        assert!(report.error.is_none());
    }
});

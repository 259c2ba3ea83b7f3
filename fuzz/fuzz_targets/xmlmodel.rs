//! The OpenVINO IR and PMML readers (quick-xml events, DOCTYPE judgement, layer and extension
//! walks) on arbitrary bytes: no panic, no hang, and no `error` from the analysis itself.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::Format;
use quarantine::{Config, scan};

fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    for format in [Format::Openvino, Format::Pmml] {
        let report = scan::scan_bytes_as(format, data, Path::new("fuzz"), "fuzz", &config);
        assert!(report.error.is_none());
    }
});

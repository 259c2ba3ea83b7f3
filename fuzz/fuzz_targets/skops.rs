//! the skops schema walk on arbitrary JSON trees (any JSON the fuzzer finds is wrapped as the
//! root node's content) and on arbitrary text: no panic, no hang, no `error` from the analysis.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::Format;
use quarantine::{Config, scan};

fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    let report = scan::scan_bytes_as(Format::Text, data, Path::new("fuzz"), "fuzz", &config);
    assert!(report.error.is_none());
    if let Ok(content) = serde_json::from_slice::<serde_json::Value>(data) {
        let schema = serde_json::json!({
            "__class__": "Pipeline", "__module__": "sklearn.pipeline",
            "__loader__": "ObjectNode", "protocol": 2, "content": content,
        });
        let bytes = serde_json::to_vec(&schema).unwrap_or_default();
        let report = scan::scan_bytes_as(Format::Text, &bytes, Path::new("fuzz"), "fuzz", &config);
        assert!(report.error.is_none());
    }
});

//! the parsers for files of model folders that frame themselves (red-team round 3) on arbitrary
//! bytes: TensorFlow tensor bundle indexes and fingerprints, MAT-files, word2vec binaries, MPEG
//! audio frames, OCDBT files, bare ONNX tensors (through the unknown-content path), ORT-format
//! models and zip archives back to back: no panic, no hang, and no `error` from the analysis.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::Format;
use quarantine::formats::tensorflow::bundle;
use quarantine::{Config, scan};

fuzz_target!(|data: &[u8]| {
    let _ = bundle::read(data);
    let _ = bundle::is_fingerprint(data);
    let _ = quarantine::formats::data::recognise(data);
    let config = Config::default();
    for format in [Format::Unknown, Format::Ort, Format::Zip] {
        let report = scan::scan_bytes_as(format, data, Path::new("fuzz"), "fuzz", &config);
        assert!(report.error.is_none());
    }
});

//! The pickle engine on arbitrary bytes: no panic, and a stream that is not clean data never
//! comes out `clean` without a finding.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::Format;
use quarantine::{Config, scan};

fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    let report = scan::scan_bytes_as(Format::Pickle, data, Path::new("fuzz.pkl"), "fuzz", &config);
    assert!(report.error.is_none());
});

//! The pickle sniffer and the salvage reader on arbitrary bytes: `looks_like_pickle` (CPython
//! operand parsing, whole-stream check) never panics, and a scan under tiny stack and memo
//! limits (so that most inputs halt and are salvaged) finishes without an error.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::config::PickleLimits;
use quarantine::Format;
use quarantine::{Config, formats, scan};

fuzz_target!(|data: &[u8]| {
    let _ = formats::pickle::looks_like_pickle(data);
    let config = Config {
        pickle: PickleLimits {
            max_stack: 8,
            max_memo: 4,
            ..PickleLimits::default()
        },
        ..Config::default()
    };
    let report = scan::scan_bytes_as(Format::Pickle, data, Path::new("fuzz.pkl"), "fuzz", &config);
    assert!(report.error.is_none());
});

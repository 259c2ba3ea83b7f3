//! The safetensors analyser on arbitrary bytes: no panic, and a file the reference reader
//! refuses never comes out `clean`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::Format;
use quarantine::{Config, Verdict, scan};

fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    let report = scan::scan_bytes_as(
        Format::Safetensors,
        data,
        Path::new("fuzz.safetensors"),
        "fuzz",
        &config,
    );
    assert!(report.error.is_none());
    if report.verdict == Verdict::Clean {
        assert!(
            safetensors::SafeTensors::deserialize(data).is_ok(),
            "a clean verdict on a file the safetensors crate refuses"
        );
    }
});

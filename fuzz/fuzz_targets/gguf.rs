//! The GGUF analyser on arbitrary bytes: no panic, and bytes our strict reader refuses never
//! come out `clean`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::formats::gguf::parse;
use quarantine::model::Format;
use quarantine::{Config, Verdict, scan};

fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    let report = scan::scan_bytes_as(Format::Gguf, data, Path::new("fuzz.gguf"), "fuzz", &config);
    assert!(report.error.is_none());
    if report.verdict == Verdict::Clean {
        let (gguf, malformed) = parse::parse(data);
        assert!(gguf.is_some() && malformed.is_none(), "clean verdict on a malformed GGUF");
    }
});

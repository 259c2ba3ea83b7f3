//! The readings of issue 13 on arbitrary bytes: zip (every directory rule and the local walk),
//! tar (the crate's reading and Python tarfile's), `.npy` headers (Python literal semantics) and
//! LZ4 frames. No panic, no error verdict; the first byte picks the reader so that one target
//! covers them all.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::Format;
use quarantine::{Config, scan};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let format = match pick % 4 {
        0 => Format::Zip,
        1 => Format::Tar,
        2 => Format::Numpy,
        _ => Format::Lz4,
    };
    let config = Config::default();
    let report = scan::scan_bytes_as(format, rest, Path::new("fuzz"), "fuzz", &config);
    assert!(report.error.is_none());
});

//! The whole engine (detection, containers, every analyser) on arbitrary bytes: no panic, and
//! every run ends in a report.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::{Config, scan};

fuzz_target!(|data: &[u8]| {
    let mut config = Config::default();
    // Small limits keep each run fast and make the limit paths reachable.
    config.zone.max_total_bytes = 64 << 20;
    config.zone.max_member_bytes = 16 << 20;
    let report = scan::scan_bytes(data, Path::new("fuzz.bin"), "fuzz", &config);
    assert!(report.sha256.is_some());
});

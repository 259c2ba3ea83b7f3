//! the bounded YAML tree builder and the Hydra/NeMo target walk on arbitrary text (made a Hydra
//! configuration by a leading `_target_` line): no panic, no hang, no `error` from the analysis.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::Format;
use quarantine::{Config, scan};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = quarantine::formats::nemo::yaml::parse(text);
    }
    let mut config_text = b"_target_: torch.nn.Linear\n".to_vec();
    config_text.extend_from_slice(data);
    let config = Config::default();
    let report = scan::scan_bytes_as(Format::Text, &config_text, Path::new("fuzz"), "fuzz", &config);
    assert!(report.error.is_none());
});

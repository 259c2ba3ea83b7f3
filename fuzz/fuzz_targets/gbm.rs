//! the UBJSON walker (XGBoost models), the XGBoost legacy binary walker, the OCDBT data file
//! walker (zstd frames and nodes of Orbax checkpoints), the msgpack walker (Flax state) and the CatBoost header
//! check on arbitrary bytes: no panic, no hang, no `error` from the analysis itself.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::Format;
use quarantine::{Config, scan};

fuzz_target!(|data: &[u8]| {
    let _ = quarantine::formats::ocdbt::walk(data);
    let config = Config::default();
    for format in [
        Format::XgboostUbj,
        Format::XgboostLegacy,
        Format::Msgpack,
        Format::Catboost,
    ] {
        let report = scan::scan_bytes_as(format, data, Path::new("fuzz"), "fuzz", &config);
        assert!(report.error.is_none());
    }
});

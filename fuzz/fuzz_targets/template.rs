//! Chat-template extraction (JSON shapes) and analysis (Jinja parse, AST walk, constant
//! folding) on arbitrary text: no panic, no runaway.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quarantine::formats::template;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = template::analyse_for_fuzzing(text);
    }
});

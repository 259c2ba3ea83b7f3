//! The Python-compatible JSON reader and the key prefilter on arbitrary bytes: no panic, no
//! stack growth with nesting, and a value that agrees with serde_json wherever serde_json reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quarantine::formats::json;

fuzz_target!(|data: &[u8]| {
    let _ = json::may_hold_key(data, &["\"auto_map\"", "_target_"]);
    let _ = json::starts_like_json(data);
    let _ = json::is_wide_json(data);
    let ours = json::parse_like_python(data);
    if let Ok(theirs) = serde_json::from_slice::<serde_json::Value>(data) {
        // serde reads a subset: whatever it reads, we read the same (numbers aside).
        let ours = ours.expect("serde_json reads it, so Python's rules must too");
        if !format!("{theirs}").contains(['.', 'e', 'E']) {
            assert_eq!(ours, theirs);
        }
    }
});

//! Staged payloads on arbitrary bytes: the fuzz input is carried as a bytes value and as a str
//! value of a data-only pickle, so every decoder (base64, base85, hex, zlib, gzip, bz2, xz, LZMA)
//! and the analysis of what they produce run on it. No panic, no scan error.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::Format;
use quarantine::{Config, scan};

fuzz_target!(|data: &[u8]| {
    let Ok(len) = u32::try_from(data.len()) else {
        return;
    };
    let config = Config::default();
    for opcode in [b'B', b'X'] {
        let mut pickle = vec![0x80, 4, opcode];
        pickle.extend_from_slice(&len.to_le_bytes());
        pickle.extend_from_slice(data);
        pickle.push(b'.');
        let report =
            scan::scan_bytes_as(Format::Pickle, &pickle, Path::new("fuzz.pkl"), "fuzz", &config);
        assert!(report.error.is_none());
    }
});

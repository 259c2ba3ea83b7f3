//! The Keras configuration walk and the marshal reader on arbitrary bytes: as a `config.json`
//! (JSON text), and as a Lambda's marshalled code (base64 of the input inside a config).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::formats::keras::{base64, marshal};
use quarantine::Format;
use quarantine::{Config, scan};

fuzz_target!(|data: &[u8]| {
    let _ = marshal::read(data);
    let config = Config::default();
    let report = scan::scan_bytes_as(Format::Text, data, Path::new("config.json"), "fuzz", &config);
    assert!(report.error.is_none());
    let mut text = String::new();
    for chunk in data.chunks(3) {
        let mut b = [0u8; 3];
        b[..chunk.len()].copy_from_slice(chunk);
        let n = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        for shift in [18, 12, 6, 0] {
            let v = ((n >> shift) & 63) as u8;
            text.push(char::from(match v {
                0..=25 => b'A' + v,
                26..=51 => b'a' + v - 26,
                52..=61 => b'0' + v - 52,
                62 => b'+',
                _ => b'/',
            }));
        }
    }
    assert!(base64(&text).is_none_or(|d| d.len() >= data.len()));
    let lambda = format!(
        "{{\"class_name\": \"Lambda\", \"config\": {{\"function\": {{\"class_name\": \"__lambda__\", \"config\": {{\"code\": \"{text}\"}}}}}}}}"
    );
    let report = scan::scan_bytes_as(Format::Text, lambda.as_bytes(), Path::new("config.json"), "fuzz", &config);
    assert!(report.error.is_none());
});

//! The probe's PyTorch reader on arbitrary `data.pkl` streams: the fuzz input is the data.pkl of
//! a stored zip checkpoint with four float storages (`archive/data/0` … `3`, 64 bytes each), so
//! whatever tensors the pickle declares (offsets, sizes, strides, storage keys) are checked
//! against real storages and read. No panic, no scan error.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quarantine::{Config, scan};

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A zip of stored members, local headers then the central directory.
fn stored_zip(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let at = out.len() as u32;
        let (crc, size, n) = (crc32(data), data.len() as u32, name.len() as u16);
        out.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&n.to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&at.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let (start, len) = (out.len() as u32, central.len() as u32);
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    let count = members.len() as u16;
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fuzz_target!(|data: &[u8]| {
    let mut members = vec![("archive/data.pkl".to_owned(), data.to_vec())];
    for key in 0..4u8 {
        let values: Vec<u8> = (0..16u8)
            .flat_map(|i: u8| (f32::from(i) * 0.1 - f32::from(key)).to_le_bytes())
            .collect();
        members.push((format!("archive/data/{key}"), values));
    }
    members.push(("archive/version".to_owned(), b"3\n".to_vec()));
    let zip = stored_zip(&members);
    let config = Config::default();
    let report = scan::scan_bytes(&zip, Path::new("fuzz.pt"), "fuzz", &config);
    assert!(report.error.is_none());
});

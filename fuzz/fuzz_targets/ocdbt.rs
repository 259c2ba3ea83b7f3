//! The OCDBT tree reader (the manifest, version and B+tree nodes of an Orbax checkpoint) and the
//! data file walk over the raw values it finds references to: no panic, no hang, bounded memory.
//! Every node carries a CRC-32C that a fuzzer does not guess, so the input is split at `|`
//! into bodies that this target frames itself: the first as the manifest, each other one as a
//! B+tree node (its first byte even) or a version tree node (odd), laid back to back in one
//! buffer that stands for every data file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quarantine::formats::ocdbt::{tree, walk_with};

const MANIFEST: [u8; 4] = [0x0c, 0xdb, 0x3a, 0x2a];
const BTREE: [u8; 4] = [0x0c, 0xdb, 0x20, 0xde];
const VERSION: [u8; 4] = [0x0c, 0xdb, 0x12, 0x34];

fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// An uncompressed node: magic, length, version 0, compression 0, body, CRC-32C.
fn frame(magic: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut node = magic.to_vec();
    node.extend_from_slice(&((body.len() + 18) as u64).to_le_bytes());
    node.extend_from_slice(&[0, 0]);
    node.extend_from_slice(body);
    let crc = crc32c(&node);
    node.extend_from_slice(&crc.to_le_bytes());
    node
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == b'|').filter(|p| !p.is_empty());
    let manifest = frame(MANIFEST, parts.next().unwrap_or_default());
    let mut buffer = Vec::new();
    for part in parts {
        let magic = if part[0] % 2 == 0 { BTREE } else { VERSION };
        buffer.extend(frame(magic, &part[1..]));
    }
    if let Some(values) = tree::value_references(&manifest, b"d/x", &mut tree::OneBuffer(&buffer)) {
        let _ = walk_with(&buffer, &values);
    }
});

//! A TensorFlow checkpoint: `<prefix>.index`, a tensor bundle (a LevelDB-format table whose
//! first entry, under the empty key, is a `BundleHeaderProto` and whose other entries map a
//! tensor name to a `BundleEntryProto`: dtype, shape, shard, offset and size), and the raw data
//! shards `<prefix>.data-NNNNN-of-MMMMM` it describes. A SavedModel keeps one under
//! `variables/`, `tf.train.Checkpoint` writes `ckpt-1.*`, Keras `ckpt.*`.
//!
//! The table is read far enough to list every entry's extent (no decompression: TensorFlow
//! writes bundle tables uncompressed, and a compressed block is refused), and a data shard is
//! vouched for only when the index beside it describes it: every tensor it places there lies
//! inside the file and together they cover it, so no byte of the shard is outside a tensor. The
//! SavedModel's `fingerprint.pb` (a `FingerprintDef`: hashes and a version) is recognised here
//! too: both are files that match no format by their content and that a model beside them owns.

use std::fs::File;
use std::path::Path;

use crate::bytes::{ReadRef, varint};
use crate::zone::mmap;

/// The magic number that ends a LevelDB-format table (`kTableMagicNumber`), little-endian.
const TABLE_MAGIC: [u8; 8] = [0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb];
/// A footer: two block handles (varints, padded to 40 bytes) and the magic.
const FOOTER: usize = 48;
/// A block's trailer: a compression type byte and a masked CRC-32C.
const TRAILER: usize = 5;
/// Entries read from one index, all blocks together; a bundle of a 100-billion-parameter model
/// has tens of thousands.
const MAX_ENTRIES: usize = 1 << 20;
/// Index files larger than this are not read to vouch for a shard.
const MAX_INDEX_BYTES: u64 = 512 << 20;
/// A fingerprint is five hashes, a version and a UUID: well under this.
const MAX_FINGERPRINT_BYTES: usize = 4096;

/// Where one tensor's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub shard: u64,
    pub offset: u64,
    pub size: u64,
}

/// What a bundle index says.
#[derive(Debug, Default)]
pub struct Bundle {
    pub num_shards: u64,
    pub extents: Vec<Extent>,
}

/// A block handle: offset and size of a block's contents (its trailer follows).
fn handle(data: &[u8], at: usize) -> Result<(u64, u64, usize), String> {
    let (offset, next) = varint(data, at).ok_or("a block handle does not decode")?;
    let (size, next) = varint(data, next).ok_or("a block handle does not decode")?;
    Ok((offset, size, next))
}

/// The contents of the block at `offset`/`size`, checked against the file and uncompressed.
fn block(table: &[u8], offset: u64, size: u64) -> Result<&[u8], String> {
    let offset = usize::try_from(offset).map_err(|_| "a block offset is out of range")?;
    let size = usize::try_from(size).map_err(|_| "a block size is out of range")?;
    let with_trailer = size
        .checked_add(TRAILER)
        .ok_or("a block size is out of range")?;
    let region = table
        .read_at(offset, with_trailer)
        .map_err(|_| format!("a block at {offset} of {size} bytes runs past the index"))?;
    match region[size] {
        0 => Ok(&region[..size]),
        kind => Err(format!(
            "the block at {offset} is compressed (type {kind}); TensorFlow writes bundle indexes uncompressed"
        )),
    }
}

/// The entries (value of each, and whether its key is empty) of one block.
fn entries<'a>(block: &'a [u8], out: &mut Vec<(bool, &'a [u8])>) -> Result<(), String> {
    let count = block
        .u32_le(block.len().saturating_sub(4))
        .map_err(|_| "a block is too short for its restart count")? as usize;
    let restarts = count
        .checked_mul(4)
        .and_then(|n| n.checked_add(4))
        .filter(|&n| n <= block.len())
        .ok_or("a block's restart array is larger than the block")?;
    let body = &block[..block.len() - restarts];
    let mut at = 0;
    let mut key_len: u64 = 0;
    while at < body.len() {
        if out.len() >= MAX_ENTRIES {
            return Err(format!("more than {MAX_ENTRIES} entries"));
        }
        let bad = || format!("entry at {at} of a block does not decode");
        let (shared, next) = varint(body, at).ok_or_else(bad)?;
        let (unshared, next) = varint(body, next).ok_or_else(bad)?;
        let (value_len, next) = varint(body, next).ok_or_else(bad)?;
        if shared > key_len {
            return Err(format!(
                "entry at {at} shares {shared} bytes with a key of {key_len}"
            ));
        }
        key_len = shared.checked_add(unshared).ok_or_else(bad)?;
        let value_at = usize::try_from(unshared)
            .ok()
            .and_then(|n| next.checked_add(n))
            .ok_or_else(bad)?;
        let value_len = usize::try_from(value_len).map_err(|_| bad())?;
        let value = body.read_at(value_at, value_len).map_err(|_| bad())?;
        out.push((key_len == 0, value));
        at = value_at + value_len;
    }
    Ok(())
}

/// Skips one protobuf field's payload of wire type `wire` at `at`.
fn skip(data: &[u8], wire: u64, at: usize) -> Option<usize> {
    match wire {
        0 => varint(data, at).map(|(_, n)| n),
        1 => at.checked_add(8).filter(|&n| n <= data.len()),
        2 => {
            let (len, start) = varint(data, at)?;
            start
                .checked_add(usize::try_from(len).ok()?)
                .filter(|&n| n <= data.len())
        }
        5 => at.checked_add(4).filter(|&n| n <= data.len()),
        _ => None,
    }
}

/// The varint fields of a message (number → last value), other fields skipped; `None` when it
/// does not parse.
fn varints(data: &[u8]) -> Option<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let (tag, next) = varint(data, at)?;
        let (number, wire) = (tag >> 3, tag & 7);
        if number == 0 {
            return None;
        }
        if wire == 0 {
            let (value, next) = varint(data, next)?;
            out.push((number, value));
            at = next;
        } else {
            at = skip(data, wire, next)?;
        }
    }
    Some(out)
}

fn field(fields: &[(u64, u64)], number: u64) -> u64 {
    fields
        .iter()
        .rev()
        .find(|(n, _)| *n == number)
        .map_or(0, |(_, v)| *v)
}

/// Reads a bundle index: its header and every tensor's extent.
pub fn read(table: &[u8]) -> Result<Bundle, String> {
    let footer_at = table
        .len()
        .checked_sub(FOOTER)
        .ok_or("shorter than a table footer")?;
    if table[table.len() - 8..] != TABLE_MAGIC {
        return Err("the table magic number is missing".to_owned());
    }
    let (_, _, next) = handle(table, footer_at)?;
    let (index_offset, index_size, _) = handle(table, next)?;
    let index = block(table, index_offset, index_size)?;
    let mut handles = Vec::new();
    entries(index, &mut handles)?;
    let mut bundle = Bundle::default();
    let mut header = false;
    let mut values = Vec::new();
    for (_, value) in handles {
        let (offset, size, _) = handle(value, 0)?;
        entries(block(table, offset, size)?, &mut values)?;
        if values.len() > MAX_ENTRIES {
            return Err(format!("more than {MAX_ENTRIES} entries"));
        }
    }
    for (empty_key, value) in values {
        let fields = varints(value).ok_or("an entry's protobuf does not decode")?;
        if empty_key {
            header = true;
            bundle.num_shards = field(&fields, 1);
        } else {
            bundle.extents.push(Extent {
                shard: field(&fields, 3),
                offset: field(&fields, 4),
                size: field(&fields, 5),
            });
        }
    }
    if !header {
        return Err("no bundle header (the entry under the empty key)".to_owned());
    }
    Ok(bundle)
}

/// A data shard's place in its checkpoint, from its name: `<prefix>.data-NNNNN-of-MMMMM`
/// gives the prefix, the shard and the count, as TensorFlow names them.
fn shard_name(name: &str) -> Option<(&str, u64, u64)> {
    let (prefix, tail) = name.rsplit_once(".data-")?;
    let (shard, count) = tail.split_once("-of-")?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if prefix.is_empty() || !digits(shard) || !digits(count) {
        return None;
    }
    Some((prefix, shard.parse().ok()?, count.parse().ok()?))
}

/// What the index beside a data shard says about it.
#[derive(Debug, PartialEq, Eq)]
pub enum Shard {
    /// The index describes the shard whole: `tensors` tensors cover its bytes.
    Described { index: String, tensors: usize },
    /// The index is there but does not describe this file as it is.
    Mismatch { index: String, why: String },
}

fn map(path: &Path, max: u64) -> Option<mmap::Mapped> {
    let meta = path.metadata().ok()?;
    if !meta.is_file() || meta.len() > max {
        return None;
    }
    File::open(path).and_then(|f| mmap::map(&f)).ok()
}

/// The index beside `path` (a file of `len` bytes named as a data shard), and whether it
/// describes the file; `None` when the name is not a shard's or no index is beside it.
pub fn shard(path: &Path, len: u64) -> Option<Shard> {
    let name = path.file_name()?.to_str()?;
    let (prefix, number, count) = shard_name(name)?;
    let index_name = format!("{prefix}.index");
    let index_path = path.with_file_name(&index_name);
    let mismatch = |why: String| {
        Some(Shard::Mismatch {
            index: index_name.clone(),
            why,
        })
    };
    if !index_path.is_file() {
        return None;
    }
    let Some(table) = map(&index_path, MAX_INDEX_BYTES) else {
        return mismatch(format!(
            "the index could not be read, or is over {MAX_INDEX_BYTES} bytes"
        ));
    };
    let bundle = match read(&table) {
        Ok(b) => b,
        Err(why) => return mismatch(format!("the index does not decode: {why}")),
    };
    if bundle.num_shards != count || number >= count {
        return mismatch(format!(
            "the index declares {} shard(s); this file is named shard {number} of {count}",
            bundle.num_shards
        ));
    }
    let mut mine: Vec<(u64, u64)> = Vec::new();
    for e in bundle.extents.iter().filter(|e| e.shard == number) {
        let end = e.offset.checked_add(e.size).filter(|&end| end <= len);
        let Some(end) = end else {
            return mismatch(format!(
                "a tensor at offset {} of {} bytes runs past the file's {len} bytes",
                e.offset, e.size
            ));
        };
        if e.size > 0 {
            mine.push((e.offset, end));
        }
    }
    mine.sort_unstable();
    let mut covered = 0u64;
    for &(start, end) in &mine {
        if start > covered {
            return mismatch(format!(
                "bytes {covered}..{start} are in no tensor the index describes"
            ));
        }
        covered = covered.max(end);
    }
    if covered < len {
        return mismatch(format!(
            "bytes {covered}..{len} are in no tensor the index describes"
        ));
    }
    Some(Shard::Described {
        index: index_name,
        tensors: mine.len(),
    })
}

/// Whether `data` is a `FingerprintDef`: the five hash fields (varints), a `VersionDef` and a
/// UUID string of digits, covering the data exactly, with at least one hash.
pub fn is_fingerprint(data: &[u8]) -> bool {
    if data.is_empty() || data.len() > MAX_FINGERPRINT_BYTES {
        return false;
    }
    let mut at = 0;
    let mut hashes = 0;
    while at < data.len() {
        let Some((tag, next)) = varint(data, at) else {
            return false;
        };
        at = match (tag >> 3, tag & 7) {
            (1..=5, 0) => {
                hashes += 1;
                match varint(data, next) {
                    Some((_, n)) => n,
                    None => return false,
                }
            }
            (6 | 7, 2) => {
                let Some((len, start)) = varint(data, next) else {
                    return false;
                };
                let Some(body) = usize::try_from(len)
                    .ok()
                    .and_then(|n| data.read_at(start, n).ok())
                else {
                    return false;
                };
                let ok = if tag >> 3 == 6 {
                    is_version_def(body)
                } else {
                    body.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
                };
                if !ok {
                    return false;
                }
                start + body.len()
            }
            _ => return false,
        };
    }
    hashes > 0
}

/// A `VersionDef`: producer, min_consumer (varints) and bad_consumers (varints, packed or not).
fn is_version_def(data: &[u8]) -> bool {
    let mut at = 0;
    while at < data.len() {
        let Some((tag, next)) = varint(data, at) else {
            return false;
        };
        let next = match (tag >> 3, tag & 7) {
            (1..=3, 0) | (3, 2) => skip(data, tag & 7, next),
            _ => None,
        };
        match next {
            Some(n) => at = n,
            None => return false,
        }
    }
    true
}

/// Whether a SavedModel (`saved_model.pb` recognised by its content) is beside `path`.
pub fn saved_model_beside(path: &Path) -> bool {
    map(
        &path.with_file_name("saved_model.pb"),
        super::MAX_BYTES as u64,
    )
    .is_some_and(|m| super::detect(&m) == Some(super::Kind::SavedModel))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of one data block holding `entries` (key, value), with its index block.
    pub(crate) fn table(entries: &[(&[u8], Vec<u8>)]) -> Vec<u8> {
        fn push_varint(out: &mut Vec<u8>, mut v: u64) {
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        fn block(entries: &[(&[u8], Vec<u8>)]) -> Vec<u8> {
            let mut b = Vec::new();
            for (key, value) in entries {
                push_varint(&mut b, 0);
                push_varint(&mut b, key.len() as u64);
                push_varint(&mut b, value.len() as u64);
                b.extend_from_slice(key);
                b.extend_from_slice(value);
            }
            b.extend(0u32.to_le_bytes());
            b.extend(1u32.to_le_bytes());
            b
        }
        let mut out = block(entries);
        let data_size = out.len() as u64;
        out.extend([0, 0, 0, 0, 0]);
        let mut handle = Vec::new();
        push_varint(&mut handle, 0);
        push_varint(&mut handle, data_size);
        let index_at = out.len() as u64;
        let index = block(&[(b"~", handle)]);
        let index_size = index.len() as u64;
        out.extend(index);
        out.extend([0, 0, 0, 0, 0]);
        let mut footer = Vec::new();
        push_varint(&mut footer, 0);
        push_varint(&mut footer, 0);
        push_varint(&mut footer, index_at);
        push_varint(&mut footer, index_size);
        footer.resize(40, 0);
        footer.extend(TABLE_MAGIC);
        out.extend(footer);
        out
    }

    pub(crate) fn entry(offset: u8, size: u8) -> Vec<u8> {
        vec![0x08, 0x01, 0x20, offset, 0x28, size]
    }

    #[test]
    fn reads_a_bundle_and_vouches_only_for_what_it_describes() {
        let index = table(&[
            (b"", vec![0x08, 0x01]),
            (b"a", entry(0, 8)),
            (b"b", entry(8, 4)),
        ]);
        let bundle = read(&index).unwrap();
        assert_eq!(bundle.num_shards, 1);
        assert_eq!(bundle.extents.len(), 2);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ckpt.index"), &index).unwrap();
        let shard = dir.path().join("ckpt.data-00000-of-00001");
        assert!(matches!(
            super::shard(&shard, 12),
            Some(Shard::Described { tensors: 2, .. })
        ));
        // Bytes past the last tensor, or a tensor past the end, are not vouched for.
        assert!(matches!(
            super::shard(&shard, 20),
            Some(Shard::Mismatch { .. })
        ));
        assert!(matches!(
            super::shard(&shard, 10),
            Some(Shard::Mismatch { .. })
        ));
        // A shard the index does not count, or a name that is not a shard's, is not either.
        let other = dir.path().join("ckpt.data-00001-of-00002");
        assert!(matches!(
            super::shard(&other, 12),
            Some(Shard::Mismatch { .. })
        ));
        assert_eq!(super::shard(&dir.path().join("ckpt.bin"), 12), None);
        assert_eq!(
            super::shard(&dir.path().join("other.data-00000-of-00001"), 12),
            None
        );
        // A broken index is refused, never read past its end.
        for cut in 0..index.len() {
            let _ = read(&index[cut..]);
            let _ = read(&index[..cut]);
        }
        assert!(block(&[1, 2, 3, 1, 0, 0, 0, 0], 0, 3).is_err());
        assert_eq!(block(&[1, 2, 3, 0, 0, 0, 0, 0], 0, 3), Ok(&[1u8, 2, 3][..]));
    }

    #[test]
    fn fingerprints() {
        // Five hashes, a version {producer: 4} and a UUID of digits, as TensorFlow writes them.
        let mut fp = vec![0x08, 0x01, 0x10, 0x02, 0x18, 0x03, 0x20, 0x04, 0x28, 0x05];
        fp.extend([0x32, 0x02, 0x08, 0x04, 0x3a, 0x03, b'1', b'2', b'3']);
        assert!(is_fingerprint(&fp));
        assert!(!is_fingerprint(&fp[..fp.len() - 1]));
        assert!(!is_fingerprint(b"\x80\x04\x95"));
        assert!(!is_fingerprint(&[0x3a, 0x03, b'1', b'2', b'3']));
        assert!(!is_fingerprint(&[0x08, 0x01, 0x42, 0x01, 0x00]));
    }
}

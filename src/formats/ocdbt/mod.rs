//! The data files of an OCDBT key-value store (TensorStore's format, the default of Orbax
//! checkpoints: `<checkpoint>/d/<id>` beside `<checkpoint>/manifest.ocdbt`, and the same under
//! each `ocdbt.process_N/`). TensorStore's format document: a data file has no header of its
//! own; it is the out-of-line values and the encoded tree nodes written into it, back to back,
//! each referenced by offset and length from the tree. Orbax writes each array chunk as a zarr3
//! chunk compressed with zstd, so a data file of an Orbax checkpoint is a run of zstd frames and
//! self-framing OCDBT nodes (magic, length, version, CRC-32C).
//!
//! Written with `use_compression=False` (Orbax's handler option; TensorStore's zarr driver
//! without a compressor), a value is the raw array bytes, with no framing or structure of its
//! own to walk. Then the structure is the database's: the manifest leads to every version's
//! B+tree, whose leaves give each out-of-line value's data file, offset and length
//! ([`tree`]). A data file is then walked as a run of those referenced values and
//! self-framing nodes; a byte that no reference or node accounts for fails the walk.
//!
//! A file is vouched for only when both hold: a valid OCDBT manifest sits where TensorStore
//! looks for it (the folder above `d/`), and the file's content walks whole as that run, every
//! zstd frame read to its end by its block headers (nothing decompressed), every node's length
//! and checksum holding, and every raw value one the manifest's trees reference. What is
//! vouched for is bytes TensorStore hands to the zarr driver as chunks (decompressed, if at
//! all, into arrays), never to a deserialiser. Anything else is left to the rest of the
//! analysis (a stream that does not walk is still decompressed and judged, an unknown binary is
//! still `FMT001`; a file whose first value reads as a pickle is analysed as one).

pub mod tree;

use std::borrow::Cow;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::bytes::ReadRef;
use crate::formats::data;
use crate::model::rules::RuleId;
use crate::scan::context::Ctx;

const ZSTD_MAGIC: u32 = 0xFD2F_B528;

/// What a walk of a data file found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Segments {
    pub frames: u64,
    pub nodes: u64,
    /// Raw values, known by the tree's references.
    pub values: u64,
}

/// The end of the zstd frame (or skippable frame) at `at`, read by its header and block headers.
fn zstd_frame_end(data: &[u8], at: usize) -> Option<usize> {
    let magic = data.u32_le(at).ok()?;
    if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
        let size = data.u32_le(at + 4).ok()? as usize;
        return at
            .checked_add(8)?
            .checked_add(size)
            .filter(|&e| e <= data.len());
    }
    if magic != ZSTD_MAGIC {
        return None;
    }
    let descriptor = *data.get(at + 4)?;
    if descriptor & 0x08 != 0 {
        return None; // reserved bit
    }
    let single_segment = descriptor & 0x20 != 0;
    let fcs = match descriptor >> 6 {
        0 => usize::from(single_segment),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let dict = [0, 1, 2, 4][usize::from(descriptor & 3)];
    let mut pos = at + 5 + usize::from(!single_segment) + dict + fcs;
    loop {
        let header = data.read_at(pos, 3).ok()?;
        let header = u32::from(header[0]) | u32::from(header[1]) << 8 | u32::from(header[2]) << 16;
        pos += 3;
        let size = (header >> 3) as usize;
        pos = match (header >> 1) & 3 {
            0 | 2 => pos.checked_add(size)?,
            1 => pos + 1,
            _ => return None,
        };
        if pos > data.len() {
            return None;
        }
        if header & 1 == 1 {
            break;
        }
    }
    if descriptor & 0x04 != 0 {
        pos += 4;
    }
    (pos <= data.len()).then_some(pos)
}

/// Walks `data` as a run of zstd frames and OCDBT nodes covering it exactly.
pub fn walk(data: &[u8]) -> Option<Segments> {
    walk_with(data, &[])
}

/// Walks `data` as a run of zstd frames, OCDBT nodes and the raw values at the sorted
/// `(offset, length)` references `values`, covering it exactly.
pub fn walk_with(data: &[u8], values: &[(u64, u64)]) -> Option<Segments> {
    let mut seg = Segments::default();
    let mut at = 0usize;
    while at < data.len() {
        // The longest value referenced at this offset (keys may share one).
        let value = values
            .iter()
            .skip(values.partition_point(|&(o, _)| o < at as u64))
            .take_while(|&&(o, _)| o == at as u64)
            .map(|&(_, len)| len)
            .max()
            .filter(|&len| len > 0);
        if let Some(len) = value {
            at = at.checked_add(usize::try_from(len).ok()?)?;
            if at > data.len() {
                return None;
            }
            seg.values += 1;
        } else if let Some(end) = zstd_frame_end(data, at) {
            seg.frames += 1;
            at = end;
        } else if data.get(at..at + 2) == Some(&[0x0c, 0xdb][..]) {
            let len = usize::try_from(data.u64_le(at + 4).ok()?).ok()?;
            let node = data.get(at..at.checked_add(len)?)?;
            data::ocdbt(node)?;
            seg.nodes += 1;
            at += len;
        } else {
            return None;
        }
    }
    (at == data.len() && seg.frames + seg.nodes + seg.values > 0).then_some(seg)
}

/// The data files of the database whose `manifest.ocdbt` is in `root`, read from disk; the
/// file being analysed (`target`, `d/<id>`) from its bytes.
struct Disk<'a> {
    root: &'a Path,
    target: &'a [u8],
    data: &'a [u8],
}

impl tree::Source for Disk<'_> {
    fn read(&mut self, path: &[u8], offset: u64, length: u64) -> Option<Cow<'_, [u8]>> {
        let offset_at = usize::try_from(offset).ok()?;
        let len = usize::try_from(length).ok()?;
        if path == self.target {
            return self.data.read_at(offset_at, len).ok().map(Cow::Borrowed);
        }
        // Only plain relative paths inside the database folder, only regular files.
        let path = std::str::from_utf8(path).ok()?;
        if path.is_empty()
            || path.starts_with('/')
            || path.contains('\\')
            || path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return None;
        }
        let full = self.root.join(path);
        let meta = std::fs::metadata(&full).ok()?;
        if !meta.is_file() || offset.checked_add(length)? > meta.len() {
            return None;
        }
        let mut file = std::fs::File::open(&full).ok()?;
        file.seek(SeekFrom::Start(offset)).ok()?;
        let mut bytes = vec![0u8; len];
        file.read_exact(&mut bytes).ok()?;
        Some(Cow::Owned(bytes))
    }
}

/// The OCDBT manifest that owns a data file at `path`, with its bytes: `manifest.ocdbt` in the
/// folder above the file's `d/` folder, when it is a valid one.
fn owner(path: &Path) -> Option<(std::path::PathBuf, Vec<u8>)> {
    let folder = path.parent()?;
    if folder.file_name()? != "d" {
        return None;
    }
    let manifest = folder.parent()?.join("manifest.ocdbt");
    let meta = std::fs::metadata(&manifest).ok()?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return None;
    }
    let bytes = std::fs::read(&manifest).ok()?;
    data::ocdbt(&bytes)
        .is_some_and(|kind| kind.starts_with("OCDBT manifest"))
        .then_some((manifest, bytes))
}

/// The manifest that owns the data file at `path` and the walk of its bytes `data`, when both
/// hold (see the module comment).
fn vouch(path: &Path, data: &[u8]) -> Option<(std::path::PathBuf, Segments)> {
    let (manifest, manifest_bytes) = owner(path)?;
    let walked = walk(data).or_else(|| {
        // Raw values: covered by the references of the manifest's trees.
        let mut target = b"d/".to_vec();
        target.extend_from_slice(path.file_name()?.to_str()?.as_bytes());
        let mut disk = Disk {
            root: manifest.parent()?,
            target: &target,
            data,
        };
        let values = tree::value_references(&manifest_bytes, &target, &mut disk)?;
        walk_with(data, &values)
    })?;
    Some((manifest, walked))
}

/// Reports a data file of an Orbax/TensorStore OCDBT checkpoint (see the module comment);
/// returns whether `data` was one.
pub fn analyse_data_file(data: &[u8], ctx: &mut Ctx<'_>) -> bool {
    if ctx.depth() != 0 || data.is_empty() {
        return false;
    }
    let Some((manifest, seg)) = ctx.disk_path().and_then(|path| vouch(path, data)) else {
        return false;
    };
    let shown = manifest
        .parent()
        .and_then(Path::file_name)
        .map_or_else(|| "..".to_owned(), |n| n.to_string_lossy().into_owned());
    ctx.report(
        RuleId::DataFile,
        Some(0),
        format!(
            "an OCDBT data file of the Orbax/TensorStore checkpoint `{shown}` (manifest.ocdbt beside its d/ folder): {} zstd-compressed value(s), {} raw value(s) its trees reference and {} tree node(s) covering the file, data that no model loader runs",
            seg.frames, seg.values, seg.nodes
        ),
        None,
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::encode_all(data, 3).unwrap()
    }

    #[test]
    fn runs_of_frames_and_nodes_walk_whole() {
        let a = zstd(&[7u8; 5000]);
        let b = zstd(b"some other chunk bytes, not repeated much 0123456789");
        let mut file = a.clone();
        file.extend(&b);
        assert_eq!(
            walk(&file),
            Some(Segments {
                frames: 2,
                nodes: 0,
                values: 0
            })
        );
        assert_eq!(
            walk(&a),
            Some(Segments {
                frames: 1,
                nodes: 0,
                values: 0
            })
        );
        // A frame cut short, bytes after the last frame, nothing at all.
        assert_eq!(walk(&file[..file.len() - 1]), None);
        let mut tail = file.clone();
        tail.extend(b"\x80\x04K\x01.");
        assert_eq!(walk(&tail), None);
        assert_eq!(walk(b""), None);
    }

    fn data_files(fixture: &str) -> Vec<std::path::PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(fixture);
        let mut data_files = Vec::new();
        for folder in [root.join("d"), root.join("ocdbt.process_0/d")] {
            for entry in std::fs::read_dir(folder).unwrap() {
                data_files.push(entry.unwrap().path());
            }
        }
        assert!(!data_files.is_empty());
        data_files
    }

    #[test]
    fn real_data_files_walk_whole() {
        for path in &data_files("orbax_ocdbt") {
            let bytes = std::fs::read(path).unwrap();
            assert!(walk(&bytes).is_some(), "{}", path.display());
            assert!(vouch(path, &bytes).is_some(), "{}", path.display());
        }
    }

    /// `use_compression=False`: the values are raw array bytes, covered by the references of
    /// the manifest's trees (the 18 KiB kernel and the 8 KiB embedding of the fixture).
    #[test]
    fn raw_values_are_covered_by_the_trees() {
        let mut values = 0;
        for path in &data_files("orbax_ocdbt_raw") {
            let bytes = std::fs::read(path).unwrap();
            let (_, seg) = vouch(path, &bytes).unwrap_or_else(|| panic!("{}", path.display()));
            values += seg.values;
            if seg.values > 0 {
                // A byte no reference accounts for, anywhere, fails the walk.
                for cut in [1, bytes.len() / 2] {
                    let mut changed = bytes.clone();
                    changed.insert(cut, 0);
                    assert!(vouch(path, &changed).is_none(), "{cut}");
                }
                let mut tail = bytes.clone();
                tail.extend(b"\x80\x04K\x01.");
                assert!(vouch(path, &tail).is_none());
            }
        }
        assert_eq!(values, 2);
    }

    /// The tree reader over one buffer (what the fuzz target does): a manifest whose version
    /// references nothing decodes to no values; bytes that are no manifest to nothing.
    #[test]
    fn tree_reader_is_bounded_on_any_bytes() {
        let manifest = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/orbax_ocdbt_raw/manifest.ocdbt"),
        )
        .unwrap();
        assert!(tree::value_references(&manifest, b"d/x", &mut tree::OneBuffer(&[])).is_none());
        for cut in 0..manifest.len() {
            let part = &manifest[..cut];
            assert!(tree::value_references(part, b"d/x", &mut tree::OneBuffer(part)).is_none());
        }
    }
}

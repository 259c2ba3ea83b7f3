//! The data files of an OCDBT key-value store (TensorStore's format, the default of Orbax
//! checkpoints: `<checkpoint>/d/<id>` beside `<checkpoint>/manifest.ocdbt`, and the same under
//! each `ocdbt.process_N/`). TensorStore's format document: a data file has no header of its
//! own; it is the out-of-line values and the encoded tree nodes written into it, back to back,
//! each referenced by offset and length from the tree. Orbax writes each array chunk as a zarr3
//! chunk compressed with zstd, so a data file of an Orbax checkpoint is a run of zstd frames and
//! self-framing OCDBT nodes (magic, length, version, CRC-32C).
//!
//! A file is vouched for only when both hold: a valid OCDBT manifest sits where TensorStore
//! looks for it (the folder above `d/`), and the file's content walks whole as that run, every
//! zstd frame read to its end by its block headers (nothing decompressed) and every node's
//! length and checksum holding. Anything else is left to the rest of the analysis (a stream
//! that does not walk is still decompressed and judged, an unknown binary is still `FMT001`).

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
    let mut seg = Segments::default();
    let mut at = 0usize;
    while at < data.len() {
        if let Some(end) = zstd_frame_end(data, at) {
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
    (at == data.len() && seg.frames + seg.nodes > 0).then_some(seg)
}

/// The OCDBT manifest that owns a data file at `path`: `manifest.ocdbt` in the folder above the
/// file's `d/` folder, when it is a valid one.
fn owner(path: &Path) -> Option<std::path::PathBuf> {
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
        .then_some(manifest)
}

/// Reports a data file of an Orbax/TensorStore OCDBT checkpoint (see the module comment);
/// returns whether `data` was one.
pub fn analyse_data_file(data: &[u8], ctx: &mut Ctx<'_>) -> bool {
    if ctx.depth() != 0 || data.len() < 8 {
        return false;
    }
    let first = data.u32_le(0).unwrap_or(0);
    if first != ZSTD_MAGIC && first & 0xFFFF_FFF0 != 0x184D_2A50 && !data.starts_with(&[0x0c, 0xdb])
    {
        return false;
    }
    let Some(path) = ctx.disk_path() else {
        return false;
    };
    let Some(manifest) = owner(path) else {
        return false;
    };
    let Some(seg) = walk(data) else {
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
            "an OCDBT data file of the Orbax/TensorStore checkpoint `{shown}` (manifest.ocdbt beside its d/ folder): {} zstd-compressed value(s) and {} tree node(s) covering the file, data that no model loader runs",
            seg.frames, seg.nodes
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
                nodes: 0
            })
        );
        assert_eq!(
            walk(&a),
            Some(Segments {
                frames: 1,
                nodes: 0
            })
        );
        // A frame cut short, bytes after the last frame, nothing at all.
        assert_eq!(walk(&file[..file.len() - 1]), None);
        let mut tail = file.clone();
        tail.extend(b"\x80\x04K\x01.");
        assert_eq!(walk(&tail), None);
        assert_eq!(walk(b""), None);
    }

    #[test]
    fn real_data_files_walk_whole() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/orbax_ocdbt");
        let mut data_files = Vec::new();
        for folder in [root.join("d"), root.join("ocdbt.process_0/d")] {
            for entry in std::fs::read_dir(folder).unwrap() {
                data_files.push(entry.unwrap().path());
            }
        }
        assert!(!data_files.is_empty());
        for path in &data_files {
            let bytes = std::fs::read(path).unwrap();
            assert!(walk(&bytes).is_some(), "{}", path.display());
            assert!(owner(path).is_some(), "{}", path.display());
        }
    }
}

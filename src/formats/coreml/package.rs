//! Core ML model packages (`.mlpackage`, what coremltools writes for ML programs): a folder with
//! a `Manifest.json` whose `itemInfoEntries` name the package's items by a path under
//! `Data/` (`com.apple.CoreML/model.mlmodel`, the model specification, analysed as any
//! `.mlmodel`; `com.apple.CoreML/weights`, the folder of the program's weights), and
//! `rootModelIdentifier` the entry Core ML loads as the model.
//!
//! - The manifest is recognised by its keys, not its name; an item path that is absolute or
//!   climbs out with `..` makes Core ML open a file outside the package (`CML004`), a manifest
//!   whose entries or root model do not hold together is reported (`CML005`).
//! - `weights/weight.bin` is MIL blob storage (coremltools `MILBlob/Blob/StorageFormat.hpp`): a
//!   64-byte header (`count`, `version` 2, zero padding), then per blob a 64-byte metadata record
//!   (sentinel `0xDEADBEEF`, data type, size, offset of the data, padding bits, reserved) and the
//!   data, each 64-byte aligned. It is raw numbers no loader runs; [`blob_storage`] recognises
//!   it only when every record holds together and covers the file.

use serde_json::Value;

use crate::bytes::ReadRef;
use crate::formats::json;
use crate::model::rules::RuleId;
use crate::scan::context::Ctx;

/// The blob storage's alignment, header and metadata size.
const ALIGN: u64 = 64;
/// `blob_metadata.sentinel`.
const SENTINEL: u32 = 0xDEAD_BEEF;
/// `BlobDataType` values coremltools defines (Float16 = 1 … Float8E5M2 = 17).
const MAX_DTYPE: u32 = 17;
/// Manifests larger than this are not Core ML's (a real one is under 1 KB).
const MAX_MANIFEST: usize = 1 << 20;
/// Entries reported per manifest.
const MAX_LISTED: usize = 32;

fn align(v: u64) -> Option<u64> {
    v.checked_add(ALIGN - 1).map(|v| v / ALIGN * ALIGN)
}

/// What `data` is when it is MIL blob storage (a Core ML ML program's `weight.bin`) whose every
/// metadata record carries the sentinel and a known data type, whose blobs lie in order inside
/// the file, aligned, each after its record, and after whose last blob at most alignment
/// padding follows.
pub fn blob_storage(data: &[u8]) -> Option<&'static str> {
    let header = data.get(..ALIGN as usize)?;
    let count = u64::from(header.u32_le(0).ok()?);
    if header.u32_le(4).ok()? != 2 || header.get(8..)?.iter().any(|&b| b != 0) {
        return None;
    }
    let len = data.len() as u64;
    if count > len / ALIGN {
        return None;
    }
    let mut at = ALIGN;
    let mut end = ALIGN;
    for _ in 0..count {
        let meta = data.get(at as usize..(at + ALIGN) as usize)?;
        let dtype = meta.u32_le(4).ok()?;
        let size = meta.u64_le(8).ok()?;
        let offset = meta.u64_le(16).ok()?;
        if meta.u32_le(0).ok()? != SENTINEL
            || !(1..=MAX_DTYPE).contains(&dtype)
            || meta.get(32..)?.iter().any(|&b| b != 0)
            || offset % ALIGN != 0
            || offset < at + ALIGN
        {
            return None;
        }
        end = offset.checked_add(size).filter(|&e| e <= len)?;
        at = align(end)?;
    }
    let tail = data.get(end as usize..)?;
    (tail.len() < ALIGN as usize && tail.iter().all(|&b| b == 0))
        .then_some("Core ML weight blob storage (an ML program's weights/weight.bin)")
}

/// Whether an item path of a package leaves it: absolute, a drive or UNC path, or a `..`
/// component (with `/` or `\` as separators).
pub fn leaves_package(path: &str) -> bool {
    let bytes = path.as_bytes();
    path.starts_with(['/', '\\'])
        || (bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic())
        || path.split(['/', '\\']).any(|c| c == "..")
}

/// Analyses a text file that is an `.mlpackage` manifest (an object with `itemInfoEntries`
/// and `rootModelIdentifier` or `fileFormatVersion`); returns whether it was one.
pub fn analyse_manifest(data: &[u8], ctx: &mut Ctx<'_>) -> bool {
    if data.len() > MAX_MANIFEST || memchr::memmem::find(data, b"itemInfoEntries").is_none() {
        return false;
    }
    let Ok(doc) = json::parse_like_python(data) else {
        return false;
    };
    let Some(entries) = doc.get("itemInfoEntries") else {
        return false;
    };
    let is_manifest =
        doc.get("rootModelIdentifier").is_some() || doc.get("fileFormatVersion").is_some();
    if !is_manifest {
        return false;
    }
    let Some(entries) = entries.as_object() else {
        malformed(
            ctx,
            "has an `itemInfoEntries` that is not an object".to_owned(),
        );
        return true;
    };
    let mut listed = 0usize;
    for (id, entry) in entries {
        let Some(path) = entry.get("path").and_then(Value::as_str) else {
            malformed(ctx, format!("has an entry `{id}` without a `path` string"));
            continue;
        };
        if leaves_package(path) && listed < MAX_LISTED {
            listed += 1;
            ctx.report(
                RuleId::CoremlPackagePathOutside,
                None,
                format!(
                    "the package item `{id}` is at `{path}`, outside the package's `Data/` folder: Core ML opens that file when it loads the package"
                ),
                Some(format!("itemInfoEntries.{id}.path: {path}")),
            );
        }
    }
    match doc.get("rootModelIdentifier").and_then(Value::as_str) {
        Some(root) if entries.contains_key(root) => {}
        Some(root) => malformed(
            ctx,
            format!("names a root model `{root}` that is not one of its `itemInfoEntries`"),
        ),
        None => malformed(
            ctx,
            "names no root model (`rootModelIdentifier`)".to_owned(),
        ),
    }
    true
}

fn malformed(ctx: &mut Ctx<'_>, what: String) {
    ctx.report(
        RuleId::CoremlPackageMalformed,
        None,
        format!(
            "the Core ML package manifest {what}; which model Core ML loads cannot be established"
        ),
        None,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blob storage as coremltools writes it: the header, then each blob's record and data.
    fn storage(blobs: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![0u8; 64];
        out[..4].copy_from_slice(&(blobs.len() as u32).to_le_bytes());
        out[4..8].copy_from_slice(&2u32.to_le_bytes());
        for blob in blobs {
            let at = out.len() as u64;
            let mut meta = vec![0u8; 64];
            meta[..4].copy_from_slice(&SENTINEL.to_le_bytes());
            meta[4..8].copy_from_slice(&1u32.to_le_bytes());
            meta[8..16].copy_from_slice(&(blob.len() as u64).to_le_bytes());
            meta[16..24].copy_from_slice(&(at + 64).to_le_bytes());
            out.extend(meta);
            out.extend(*blob);
            out.resize(align(out.len() as u64).unwrap() as usize, 0);
        }
        out
    }

    #[test]
    fn blob_storage_is_recognised_whole() {
        let s = storage(&[&[1u8; 24], &[2u8; 130]]);
        assert!(blob_storage(&s).is_some());
        // The last blob's padding may be left out, as coremltools does.
        assert!(blob_storage(&s[..s.len() - 62]).is_some());
        assert!(blob_storage(&storage(&[])).is_some());
        // Cut inside a blob, a bad sentinel, bytes after the last blob, a huge count.
        assert!(blob_storage(&s[..s.len() - 64]).is_none());
        let mut bad = s.clone();
        bad[64] ^= 1;
        assert!(blob_storage(&bad).is_none());
        let mut bad = s.clone();
        bad.extend(b"\x80\x04payload");
        assert!(blob_storage(&bad).is_none());
        let mut bad = s.clone();
        bad[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(blob_storage(&bad).is_none());
        // A blob placed over its own record.
        let mut bad = s;
        bad[80..88].copy_from_slice(&64u64.to_le_bytes());
        assert!(blob_storage(&bad).is_none());
    }

    fn manifest(weights: &str, root: &str) -> Vec<u8> {
        format!(
            r#"{{"fileFormatVersion": "1.0.0", "itemInfoEntries": {{"A": {{"name": "model.mlmodel", "path": "com.apple.CoreML/model.mlmodel"}}, "B": {{"name": "weights", "path": "{weights}"}}}}, "rootModelIdentifier": "{root}"}}"#
        )
        .into_bytes()
    }

    #[test]
    fn manifests_are_judged() {
        use crate::testing::{codes, scan};
        let report = scan(&manifest("com.apple.CoreML/weights", "A"));
        assert!(codes(&report).is_empty(), "{:?}", report.findings);
        let report = scan(&manifest("../../../tmp/w", "A"));
        assert_eq!(codes(&report), ["CML004"], "{:?}", report.findings);
        let evidence = report.findings[0].evidence.as_deref().unwrap();
        assert_eq!(evidence, "itemInfoEntries.B.path: ../../../tmp/w");
        let report = scan(&manifest("com.apple.CoreML/weights", "C"));
        assert_eq!(codes(&report), ["CML005"], "{:?}", report.findings);
        // Not a package manifest: no finding, left to the other text analysers.
        let report = scan(br#"{"itemInfoEntries": 3}"#);
        assert!(codes(&report).is_empty(), "{:?}", report.findings);
    }

    #[test]
    fn item_paths() {
        for p in [
            "com.apple.CoreML/model.mlmodel",
            "com.apple.CoreML/weights",
            "a..b/c",
        ] {
            assert!(!leaves_package(p), "{p}");
        }
        for p in [
            "/etc/passwd",
            "../../x",
            "com.apple.CoreML/../../x",
            "C:\\x",
            "\\\\host\\s",
            "a\\..\\..\\b",
        ] {
            assert!(leaves_package(p), "{p}");
        }
    }
}

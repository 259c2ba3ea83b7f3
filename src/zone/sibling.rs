//! Files a model names next to itself (ONNX external data, safetensors shards). Loaders join
//! the name to the model's directory; a name that leaves the directory reads an arbitrary file
//! of the loading machine. Names are judged lexically first, then resolved with
//! `canonicalize`, which follows links without opening anything: nothing outside the model's
//! directory is ever opened.

use std::path::{Path, PathBuf};

/// What a name resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A regular file inside the model's directory, of this many bytes.
    File(u64),
    /// Outside the directory, through a link: the real path.
    Escapes(PathBuf),
    /// Nothing usable there: why.
    Missing(String),
}

/// The canonical directory of a model file on disk (`.` for a bare file name).
pub fn model_dir(model: &Path) -> Option<PathBuf> {
    let parent = model.parent().filter(|p| !p.as_os_str().is_empty());
    parent.unwrap_or(Path::new(".")).canonicalize().ok()
}

/// Why `name` leaves the directory by its text alone: an absolute path (Unix, a Windows drive
/// or UNC path) or a `..` component.
pub fn lexical_escape(name: &str) -> Option<&'static str> {
    let drive = matches!(name.as_bytes(), [letter, b':', ..] if letter.is_ascii_alphabetic());
    if name.starts_with(['/', '\\']) || drive {
        Some("an absolute path")
    } else if name.split(['/', '\\']).any(|part| part == "..") {
        Some("a path that climbs out of the model's directory with `..`")
    } else {
        None
    }
}

/// The Hugging Face hub cache repository (`…/models--org--name`, also `datasets--`, `spaces--`)
/// that the canonical path `path` lies in, if any.
pub fn hub_repo_root(path: &Path) -> Option<&Path> {
    path.ancestors().find(|a| {
        a.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            ["models--", "datasets--", "spaces--"]
                .iter()
                .any(|p| n.starts_with(p) && n.len() > p.len())
        })
    })
}

/// Whether `real` is a blob of the hub cache repository that the snapshot directory `dir`
/// belongs to: snapshot files are links to `../../blobs/<hash>`, which is the file a loader reads.
pub fn hub_blob_of(dir: &Path, real: &Path) -> bool {
    hub_repo_root(dir).is_some_and(|repo| {
        dir.starts_with(repo.join("snapshots")) && real.starts_with(repo.join("blobs"))
    })
}

/// Resolves `name` (already lexically inside) against the canonical directory `dir`.
pub fn resolve(dir: &Path, name: &str) -> Resolved {
    match dir.join(name).canonicalize() {
        Err(e) => Resolved::Missing(format!("which cannot be found next to the model ({e})")),
        Ok(real) if !real.starts_with(dir) && !hub_blob_of(dir, &real) => Resolved::Escapes(real),
        Ok(real) => match real.metadata() {
            Ok(meta) if meta.is_file() => Resolved::File(meta.len()),
            Ok(_) => Resolved::Missing("which is not a regular file".to_owned()),
            Err(e) => Resolved::Missing(format!("which cannot be read ({e})")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_by_name() {
        assert!(lexical_escape("/etc/passwd").is_some());
        assert!(lexical_escape("C:\\Windows\\win.ini").is_some());
        assert!(lexical_escape("\\\\server\\share").is_some());
        assert!(lexical_escape("weights/../../x").is_some());
        assert!(lexical_escape("..\\x").is_some());
        assert!(lexical_escape("weights.bin").is_none());
        assert!(lexical_escape("data/w..bin").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn hub_snapshot_links_to_blobs_resolve_inside() {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("models--org--name");
        let snap = repo.join("snapshots/abc");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::write(repo.join("blobs/123"), b"1234").unwrap();
        std::fs::write(root.path().join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink("../../blobs/123", snap.join("w.bin")).unwrap();
        std::os::unix::fs::symlink("../../../secret", snap.join("s.bin")).unwrap();
        let dir = snap.canonicalize().unwrap();
        assert_eq!(resolve(&dir, "w.bin"), Resolved::File(4));
        assert!(matches!(resolve(&dir, "s.bin"), Resolved::Escapes(_)));
    }

    #[cfg(unix)]
    #[test]
    fn links_out_of_the_directory_escape() {
        let root = tempfile::tempdir().unwrap();
        let model = root.path().join("model");
        std::fs::create_dir(&model).unwrap();
        std::fs::write(root.path().join("secret"), b"key").unwrap();
        std::fs::write(model.join("w.bin"), b"1234").unwrap();
        std::os::unix::fs::symlink("../secret", model.join("link.bin")).unwrap();
        let dir = model_dir(&model.join("m.onnx")).unwrap();
        assert_eq!(resolve(&dir, "w.bin"), Resolved::File(4));
        assert!(matches!(resolve(&dir, "link.bin"), Resolved::Escapes(_)));
        assert!(matches!(resolve(&dir, "gone.bin"), Resolved::Missing(_)));
        assert!(matches!(resolve(&dir, "."), Resolved::Missing(_)));
    }
}

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

/// Resolves `name` (already lexically inside) against the canonical directory `dir`.
pub fn resolve(dir: &Path, name: &str) -> Resolved {
    match dir.join(name).canonicalize() {
        Err(e) => Resolved::Missing(format!("which cannot be found next to the model ({e})")),
        Ok(real) if !real.starts_with(dir) => Resolved::Escapes(real),
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

//! Where rule sources come from: the shipped rules embedded in the binary, and rule directories
//! given with `--rules`.

use std::path::Path;

use super::SignatureError;

/// One rule file: its namespace (the file stem), where it came from, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub namespace: String,
    pub file: String,
    pub text: String,
}

/// The shipped rules, embedded so that the binary works wherever it is installed and scans with
/// exactly the rules it was tested with. A test checks that every file under `signatures/` is
/// listed here.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "signatures/campaigns.yar",
        include_str!("../../signatures/campaigns.yar"),
    ),
    (
        "signatures/credentials.yar",
        include_str!("../../signatures/credentials.yar"),
    ),
    (
        "signatures/download_exec.yar",
        include_str!("../../signatures/download_exec.yar"),
    ),
    (
        "signatures/encoded_python.yar",
        include_str!("../../signatures/encoded_python.yar"),
    ),
    (
        "signatures/exfiltration.yar",
        include_str!("../../signatures/exfiltration.yar"),
    ),
    (
        "signatures/metadata_code.yar",
        include_str!("../../signatures/metadata_code.yar"),
    ),
    (
        "signatures/miners.yar",
        include_str!("../../signatures/miners.yar"),
    ),
    (
        "signatures/persistence.yar",
        include_str!("../../signatures/persistence.yar"),
    ),
    (
        "signatures/reverse_shells.yar",
        include_str!("../../signatures/reverse_shells.yar"),
    ),
    (
        "signatures/template_injection.yar",
        include_str!("../../signatures/template_injection.yar"),
    ),
];

/// The shipped rules as sources.
pub fn shipped() -> Vec<Source> {
    SHIPPED
        .iter()
        .map(|(file, text)| Source {
            namespace: namespace_of(Path::new(file)),
            file: (*file).to_owned(),
            text: (*text).to_owned(),
        })
        .collect()
}

/// Every `*.yar` and `*.yara` file under `dir` (recursively, in name order). A path that is a
/// file is read as one rule file.
pub fn from_dir(dir: &Path) -> Result<Vec<Source>, SignatureError> {
    let mut files = Vec::new();
    collect(dir, 0, &mut files)?;
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|source| SignatureError::Read {
                path: path.clone(),
                source,
            })?;
            Ok(Source {
                namespace: namespace_of(&path),
                file: path.display().to_string(),
                text,
            })
        })
        .collect()
}

/// Directory levels followed below a `--rules` directory.
const MAX_DEPTH: u32 = 16;

fn collect(
    path: &Path,
    depth: u32,
    out: &mut Vec<std::path::PathBuf>,
) -> Result<(), SignatureError> {
    let read = |source| SignatureError::Read {
        path: path.to_owned(),
        source,
    };
    if path.metadata().map_err(read)?.is_file() {
        // Only rule files are read: a compile error quotes its input, and must never quote
        // another file's content (`/proc/self/environ`, a key).
        if !is_rule_file(path) {
            return Err(read(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a rule file (*.yar, *.yara)",
            )));
        }
        out.push(path.to_owned());
        return Ok(());
    }
    if depth > MAX_DEPTH {
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(read)? {
        let entry = entry.map_err(read)?;
        let child = entry.path();
        let kind = entry.file_type().map_err(read)?;
        if kind.is_dir() {
            collect(&child, depth + 1, out)?;
        } else if is_rule_file(&child) {
            out.push(child);
        }
    }
    Ok(())
}

fn is_rule_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yar" || e == "yara")
}

/// The file stem with every character outside `[A-Za-z0-9_]` replaced by `_`, so that a rule
/// id `YAR:<namespace>.<rule>` has exactly one dot.
pub fn namespace_of(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "default".to_owned()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_rule_file_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let on_disk = from_dir(&root.join("signatures")).unwrap();
        let mut files: Vec<String> = on_disk
            .iter()
            .map(|s| {
                Path::new(&s.file)
                    .strip_prefix(root)
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        files.sort();
        let listed: Vec<&str> = SHIPPED.iter().map(|(f, _)| *f).collect();
        assert_eq!(files, listed, "update signatures::sources::SHIPPED");
    }

    #[test]
    fn namespaces_are_identifiers() {
        assert_eq!(namespace_of(Path::new("a/my-rules.v2.yar")), "my_rules_v2");
        assert_eq!(namespace_of(Path::new("shells.yar")), "shells");
    }
}

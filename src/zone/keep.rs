//! `--keep-zone DIR`: a copy of every unpacked member for a reviewer. The scan itself never
//! needs the disk (members are unpacked in memory); this writes them out only when asked, and
//! only ever below DIR: every path component is rebuilt from a safe alphabet, `.` and `..`
//! cannot occur, directories are private (0700), files are created new (0600) and never
//! through an existing link.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Writes `data`, found at `chain` inside the artifact shown as `artifact`, below `dir`, and
/// returns where it went.
pub fn keep(dir: &Path, artifact: &str, chain: &[String], data: &[u8]) -> io::Result<PathBuf> {
    let mut path = dir.to_path_buf();
    for part in artifact
        .split(['/', '\\'])
        .chain(chain.iter().flat_map(|m| m.split(['/', '\\'])))
    {
        if !part.is_empty() {
            path.push(safe_component(part));
        }
    }
    let parent = path.parent().unwrap_or(dir).to_path_buf();
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&parent)?;
    // A link planted inside DIR could lead elsewhere: the directory written to must still be
    // below DIR once every link is resolved.
    if !fs::canonicalize(&parent)?.starts_with(fs::canonicalize(dir)?) {
        return Err(io::Error::other(
            "refusing to write outside the zone directory",
        ));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for attempt in 1..100 {
        let candidate = if attempt == 1 {
            parent.join(&name)
        } else {
            parent.join(format!("{name}~{attempt}"))
        };
        // O_CREAT|O_EXCL: fails on anything already there, a symbolic link included.
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&candidate);
        match opened {
            Ok(mut file) => {
                file.write_all(data)?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("too many members with the same name"))
}

/// A path component made only of `[A-Za-z0-9._+-]` (anything else becomes `_`), never empty,
/// `.` or `..`.
fn safe_component(part: &str) -> String {
    let cleaned: String = part
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        format!("_{cleaned}")
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_stay_inside_the_zone() {
        let zone = tempfile::tempdir().unwrap();
        let chain = ["../../etc/passwd".to_owned(), "/abs\\..\\x.pkl".to_owned()];
        let written = keep(zone.path(), "../models/a.zip", &chain, b"data").unwrap();
        assert!(written.starts_with(zone.path()), "{written:?}");
        assert_eq!(fs::read(&written).unwrap(), b"data");
        let again = keep(zone.path(), "../models/a.zip", &chain, b"more").unwrap();
        assert_ne!(written, again);
        assert!(written.components().all(|c| c.as_os_str() != ".."));
    }

    #[test]
    fn a_planted_link_is_not_followed() {
        let zone = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), zone.path().join("a.zip")).unwrap();
        assert!(keep(zone.path(), "a.zip", &["m.pkl".to_owned()], b"x").is_err());
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}

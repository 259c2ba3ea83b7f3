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
    let mut parts: Vec<String> = artifact
        .split(['/', '\\'])
        .chain(chain.iter().flat_map(|m| m.split(['/', '\\'])))
        .filter(|part| !part.is_empty())
        .map(safe_component)
        .collect();
    let name = parts.pop().unwrap_or_else(|| "_".to_owned());
    let parent = make_dirs(dir, &parts)?;
    // A link planted inside DIR could lead elsewhere: the directory written to must still be
    // below DIR once every link is resolved.
    if !fs::canonicalize(&parent)?.starts_with(fs::canonicalize(dir)?) {
        return Err(io::Error::other(
            "refusing to write outside the zone directory",
        ));
    }
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

/// Creates the directories `parts` below `dir` one level at a time, never through a link:
/// a name already taken by a file (a nested archive kept as a file, whose members go below it)
/// or by a link gets a directory of its own, `<name>.d` (`<name>.d~2`, …), instead.
fn make_dirs(dir: &Path, parts: &[String]) -> io::Result<PathBuf> {
    // DIR itself is the user's choice: made with its parents, like `mkdir -p`.
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let mut at = dir.to_path_buf();
    for part in parts {
        let mut attempt = 1;
        loop {
            let candidate = match attempt {
                1 => at.join(part),
                2 => at.join(format!("{part}.d")),
                n => at.join(format!("{part}.d~{n}")),
            };
            match DirBuilder::new().mode(0o700).create(&candidate) {
                Ok(()) => {}
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                Err(_) => {}
            }
            // lstat: a link is never entered, whatever it points to.
            if fs::symlink_metadata(&candidate)?.is_dir() {
                at = candidate;
                break;
            }
            attempt += 1;
            if attempt > 100 {
                return Err(io::Error::other("too many members with the same name"));
            }
        }
    }
    Ok(at)
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
        let written = keep(zone.path(), "a.zip", &["sub/m.pkl".to_owned()], b"x").unwrap();
        assert!(
            written.starts_with(zone.path().join("a.zip.d")),
            "{written:?}"
        );
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    /// A nested archive is kept as a file and its members below `<name>.d`, in either order.
    #[test]
    fn members_of_nested_archives_are_kept_too() {
        let zone = tempfile::tempdir().unwrap();
        let inner = keep(zone.path(), "a.zip", &["inner.zip".to_owned()], b"zip").unwrap();
        let chain = ["inner.zip".to_owned(), "data/x.pkl".to_owned()];
        let member = keep(zone.path(), "a.zip", &chain, b"pkl").unwrap();
        assert_eq!(fs::read(&inner).unwrap(), b"zip");
        assert_eq!(fs::read(&member).unwrap(), b"pkl");
        assert!(
            member.ends_with("a.zip/inner.zip.d/data/x.pkl"),
            "{member:?}"
        );
    }
}

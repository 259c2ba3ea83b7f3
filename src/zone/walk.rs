//! Turning the paths given on the command line into the list of artifacts to scan.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

/// One file to scan, with the path to show for it and the other paths that lead to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub path: PathBuf,
    pub display: String,
    /// The path relative to the root it was found under, `/`-separated (the file name for a
    /// file given directly): what policy globs and `--shard` see, and SARIF reports.
    pub relative: String,
    /// Other paths (links) under which the same file was found; it is scanned once.
    pub aliases: Vec<String>,
}

/// A path that could not be walked; it becomes an `error` result, the walk goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkError {
    pub display: String,
    pub message: String,
}

/// Expands `roots` into artifacts. Directories are walked recursively in name order (so output
/// is deterministic) and `.git` is skipped. A symbolic link inside a directory is followed only
/// when its target lies inside the same root; one that leaves it is reported, never followed.
/// Every file and directory is visited once, however many links lead to it, so link loops end.
/// A path named explicitly is scanned even when it is a link: the user asked for it.
///
/// The Hugging Face hub cache keeps each file once under `blobs/` and links to it from every
/// `snapshots/<revision>/` that contains it: such a blob is reported under its snapshot path
/// (the name the model uses), with the other paths as aliases.
pub fn walk(roots: &[PathBuf]) -> (Vec<Artifact>, Vec<WalkError>) {
    let mut walker = Walker::default();
    for root in roots {
        walker.root.clone_from(root);
        match (fs::metadata(root), fs::canonicalize(root)) {
            (Ok(meta), Ok(canonical)) if meta.is_dir() => {
                walker.visited.insert(canonical.clone());
                walker.walk_dir(root, &canonical, &canonical);
            }
            (Ok(_), Ok(canonical)) => walker.add_file(root.clone(), canonical),
            (Err(e), _) | (_, Err(e)) => walker.error(root, format!("cannot access: {e}")),
        }
    }
    (walker.artifacts, walker.errors)
}

#[derive(Default)]
struct Walker {
    artifacts: Vec<Artifact>,
    errors: Vec<WalkError>,
    /// Directories already walked, by canonical path.
    visited: HashSet<PathBuf>,
    /// The root being walked, as given.
    root: PathBuf,
    /// Files already listed: canonical path to their index in `artifacts`.
    files: HashMap<PathBuf, usize>,
}

impl Walker {
    fn error(&mut self, path: &Path, message: String) {
        self.errors.push(WalkError {
            display: path.display().to_string(),
            message,
        });
    }

    fn add_file(&mut self, path: PathBuf, canonical: PathBuf) {
        let display = path.display().to_string();
        let relative = relative(&self.root, &path);
        let Some(&index) = self.files.get(&canonical) else {
            self.files.insert(canonical, self.artifacts.len());
            self.artifacts.push(Artifact {
                path,
                display,
                relative,
                aliases: Vec::new(),
            });
            return;
        };
        let Some(artifact) = self.artifacts.get_mut(index) else {
            return;
        };
        if is_hub_blob(&artifact.path) && !is_hub_blob(&path) {
            let blob = std::mem::replace(&mut artifact.display, display);
            artifact.path = path;
            artifact.relative = relative;
            artifact.aliases.push(blob);
        } else {
            artifact.aliases.push(display);
        }
    }

    /// Walks `dir`, whose canonical path is `canonical_dir`. Entries that are not links get
    /// their canonical path by joining, and their type from the directory listing, so a plain
    /// tree costs no system call per file beyond listing it.
    fn walk_dir(&mut self, dir: &Path, canonical_dir: &Path, root: &Path) {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => return self.error(dir, format!("cannot list directory: {e}")),
        };
        let mut entries: Vec<(PathBuf, fs::DirEntry)> = entries
            .filter_map(|e| e.ok().map(|e| (e.path(), e)))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, entry) in entries {
            let file_type = match entry.file_type() {
                Ok(file_type) => file_type,
                Err(e) => {
                    self.error(&path, format!("cannot read metadata: {e}"));
                    continue;
                }
            };
            if !file_type.is_symlink() {
                let canonical = canonical_dir.join(entry.file_name());
                if file_type.is_dir() {
                    self.enter_dir(&path, canonical, root);
                } else if file_type.is_file() {
                    self.add_file(path, canonical);
                } else {
                    self.not_regular(&path);
                }
                continue;
            }
            let canonical = match fs::canonicalize(&path) {
                Ok(canonical) => canonical,
                Err(e) => {
                    self.error(
                        &path,
                        format!("cannot resolve (dangling or looping link?): {e}"),
                    );
                    continue;
                }
            };
            if !canonical.starts_with(root) {
                self.error(
                    &path,
                    format!(
                        "symbolic link to {} leaves the scanned directory; not followed",
                        canonical.display()
                    ),
                );
                continue;
            }
            match fs::metadata(&canonical) {
                Ok(meta) if meta.is_dir() => self.enter_dir(&path, canonical, root),
                Ok(meta) if meta.is_file() => self.add_file(path, canonical),
                Ok(_) => self.not_regular(&path),
                Err(e) => self.error(&path, format!("cannot access: {e}")),
            }
        }
    }

    fn enter_dir(&mut self, path: &Path, canonical: PathBuf, root: &Path) {
        let skip = path.file_name().is_some_and(|n| n == ".git");
        if !skip && self.visited.insert(canonical.clone()) {
            self.walk_dir(path, &canonical, root);
        }
    }

    fn not_regular(&mut self, path: &Path) {
        self.error(
            path,
            "not a regular file (device, socket or pipe)".to_owned(),
        );
    }
}

/// `path` below `root`, `/`-separated; the file name when `path` is `root` itself.
fn relative(root: &Path, path: &Path) -> String {
    let below = match path.strip_prefix(root) {
        Ok(below) if below.as_os_str().is_empty() => path.file_name().map(Path::new),
        Ok(below) => Some(below),
        Err(_) => None,
    };
    below
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// `…/models--org--name/blobs/<hash>`: a file of the Hugging Face hub cache under its content
/// name rather than the name a snapshot gives it.
fn is_hub_blob(path: &Path) -> bool {
    let mut parents = path.ancestors().skip(1);
    let blobs = parents.next().and_then(Path::file_name);
    let repo = parents.next().and_then(Path::file_name);
    blobs.is_some_and(|b| b == "blobs")
        && repo.is_some_and(|r| {
            let r = r.to_string_lossy();
            r.starts_with("models--") || r.starts_with("datasets--") || r.starts_with("spaces--")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_in_order_skips_git_and_outside_links() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/.git")).unwrap();
        std::fs::write(root.join("b/.git/config"), b"x").unwrap();
        std::fs::write(root.join("b/model.pkl"), b"x").unwrap();
        std::fs::write(root.join("a.bin"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("escape")).unwrap();
        std::os::unix::fs::symlink(root.join("a.bin"), root.join("inside")).unwrap();
        std::os::unix::fs::symlink(root, root.join("b/loop")).unwrap();
        let (artifacts, errors) = walk(&[root.to_path_buf()]);
        let names: Vec<_> = artifacts
            .iter()
            .map(|a| a.path.strip_prefix(root).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            names,
            [PathBuf::from("a.bin"), PathBuf::from("b/model.pkl")]
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.contains("leaves the scanned directory"));
    }

    #[test]
    fn hub_cache_blob_is_scanned_once_under_its_snapshot_paths() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("models--org--name");
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots/rev1")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots/rev2")).unwrap();
        std::fs::write(repo.join("blobs/abc123"), b"x").unwrap();
        for rev in ["rev1", "rev2"] {
            std::os::unix::fs::symlink(
                "../../blobs/abc123",
                repo.join("snapshots").join(rev).join("pytorch_model.bin"),
            )
            .unwrap();
        }
        let (artifacts, errors) = walk(&[dir.path().to_path_buf()]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(artifacts.len(), 1, "{artifacts:?}");
        let artifact = &artifacts[0];
        assert!(
            artifact
                .display
                .ends_with("snapshots/rev1/pytorch_model.bin"),
            "{artifact:?}"
        );
        assert_eq!(artifact.aliases.len(), 2);
        assert!(artifact.aliases.iter().any(|a| a.ends_with("blobs/abc123")));
        assert!(
            artifact
                .aliases
                .iter()
                .any(|a| a.ends_with("rev2/pytorch_model.bin"))
        );
    }
}

//! Turning the paths given on the command line into the list of artifacts to scan.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::filter::Filter;
use crate::model::names::escaped_os;

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
///
/// Directories reached without a link are listed ahead in parallel on `pool`; the walk itself,
/// which decides order, links and duplicates, stays sequential on the calling thread.
pub fn walk(roots: &[PathBuf], pool: &rayon::ThreadPool) -> (Vec<Artifact>, Vec<WalkError>) {
    walk_filtered(roots, pool, &Filter::default())
}

/// Like [`walk`], skipping what `filter` excludes below each root (a root itself is always
/// taken: the user named it).
pub fn walk_filtered(
    roots: &[PathBuf],
    pool: &rayon::ThreadPool,
    filter: &Filter,
) -> (Vec<Artifact>, Vec<WalkError>) {
    let mut walker = Walker {
        filter: filter.clone(),
        ..Walker::default()
    };
    for root in roots {
        walker.root.clone_from(root);
        match (fs::metadata(root), fs::canonicalize(root)) {
            (Ok(meta), Ok(canonical)) if meta.is_dir() => {
                walker.visited.insert(canonical.clone().into_os_string());
                let listing = pool.install(|| list(root, LIST_AHEAD));
                walker.walk_dir(root, &canonical, &canonical, listing);
            }
            (Ok(meta), Ok(canonical)) if meta.is_file() => {
                walker.add_file(root.clone(), canonical);
            }
            (Ok(meta), Ok(_)) => walker.not_regular(root, meta.file_type()),
            (Err(e), _) | (_, Err(e)) => walker.error(root, format!("cannot access: {e}")),
        }
    }
    (walker.artifacts, walker.errors)
}

/// What a file that is neither a regular file nor a directory is, for messages.
pub fn special_kind(file_type: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "a named pipe (FIFO)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

#[derive(Default)]
struct Walker {
    artifacts: Vec<Artifact>,
    errors: Vec<WalkError>,
    /// Directories already walked, by canonical path. Canonical paths are normal (no `.`, `..`
    /// or doubled separators), so their bytes compare as their components do, and hash faster.
    visited: HashSet<OsString>,
    /// The root being walked, as given.
    root: PathBuf,
    /// Files already listed: canonical path to their index in `artifacts`.
    files: HashMap<OsString, usize>,
    /// `--include` / `--exclude`.
    filter: Filter,
}

impl Walker {
    fn error(&mut self, path: &Path, message: String) {
        self.errors.push(WalkError {
            display: escaped_os(path.as_os_str()).into_owned(),
            message,
        });
    }

    fn add_file(&mut self, path: PathBuf, canonical: PathBuf) {
        let display = escaped_os(path.as_os_str()).into_owned();
        let relative = relative(&self.root, &path);
        let Some(&index) = self.files.get(canonical.as_os_str()) else {
            self.files
                .insert(canonical.into_os_string(), self.artifacts.len());
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
    fn walk_dir(&mut self, dir: &Path, canonical_dir: &Path, root: &Path, listing: Listed) {
        let mut listing = match listing {
            Ok(listing) => listing,
            Err(e) => return self.error(dir, format!("cannot list directory: {e}")),
        };
        for (name, file_type) in std::mem::take(&mut listing.entries) {
            let path = dir.join(&name);
            if !self.filter.is_empty() {
                let is_dir = match &file_type {
                    Ok(t) if t.is_symlink() => fs::metadata(&path).is_ok_and(|m| m.is_dir()),
                    Ok(t) => t.is_dir(),
                    Err(_) => false,
                };
                if self.filter.skips(&relative(&self.root, &path), is_dir) {
                    continue;
                }
            }
            let file_type = match file_type {
                Ok(file_type) => file_type,
                Err(e) => {
                    self.error(&path, format!("cannot read metadata: {e}"));
                    continue;
                }
            };
            if !file_type.is_symlink() {
                let canonical = canonical_dir.join(&name);
                if file_type.is_dir() {
                    let sub = listing.subdirs.remove(&name);
                    self.enter_dir(&path, canonical, root, sub);
                } else if file_type.is_file() {
                    self.add_file(path, canonical);
                } else {
                    self.not_regular(&path, file_type);
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
            // A hub cache snapshot links every file to `../../blobs/<hash>` of its repository:
            // followed (the blob is the file the model uses), and nothing else outside the root.
            let hub_blob =
                crate::zone::sibling::hub_blob_of(canonical_dir, &canonical) && canonical.is_file();
            if !canonical.starts_with(root) && !hub_blob {
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
                Ok(meta) if meta.is_dir() => self.enter_dir(&path, canonical, root, None),
                Ok(meta) if meta.is_file() => self.add_file(path, canonical),
                Ok(meta) => self.not_regular(&path, meta.file_type()),
                Err(e) => self.error(&path, format!("cannot access: {e}")),
            }
        }
    }

    /// Walks a subdirectory once, with its listing when it was listed ahead.
    fn enter_dir(&mut self, path: &Path, canonical: PathBuf, root: &Path, listing: Option<Listed>) {
        if !is_git(path) && self.visited.insert(canonical.clone().into_os_string()) {
            let listing = listing.unwrap_or_else(|| list(path, 0));
            self.walk_dir(path, &canonical, root, listing);
        }
    }

    fn not_regular(&mut self, path: &Path, file_type: fs::FileType) {
        self.error(
            path,
            format!(
                "{}, not a regular file: not opened (reading it could block or never end)",
                special_kind(file_type)
            ),
        );
    }
}

fn is_git(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == ".git")
}

/// A directory's entries in name order, and the listings of its subdirectories that are not
/// links (listed in parallel).
struct Listing {
    entries: Vec<(OsString, io::Result<fs::FileType>)>,
    subdirs: HashMap<OsString, Listed>,
}

type Listed = io::Result<Listing>;

/// How many directory levels are listed ahead: deeper ones are listed as the walk reaches
/// them, so a hostile tree thousands of levels deep cannot exhaust a worker's stack.
const LIST_AHEAD: u32 = 48;

/// Lists `dir`, and `ahead` levels of subdirectories below it in parallel.
fn list(dir: &Path, ahead: u32) -> Listed {
    let mut entries: Vec<_> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| (e.file_name(), e.file_type())))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let subdirs = if ahead == 0 {
        HashMap::new()
    } else {
        entries
            .par_iter()
            .filter(|(name, t)| t.as_ref().is_ok_and(|t| t.is_dir()) && name != ".git")
            .map(|(name, _)| (name.clone(), list(&dir.join(name), ahead - 1)))
            .collect()
    };
    Ok(Listing { entries, subdirs })
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
        .map(|c| escaped_os(c.as_os_str()))
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

    fn pool() -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
    }

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
        let (artifacts, errors) = walk(&[root.to_path_buf()], &pool());
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
    fn trees_deeper_than_the_listing_ahead_are_walked_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut deep = dir.path().to_path_buf();
        for level in 0..LIST_AHEAD + 8 {
            deep.push(format!("d{level}"));
            std::fs::create_dir(&deep).unwrap();
            std::fs::write(deep.join("b"), b"x").unwrap();
            std::fs::write(deep.join("a"), b"x").unwrap();
        }
        let (artifacts, errors) = walk(&[dir.path().to_path_buf()], &pool());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(artifacts.len(), 2 * (LIST_AHEAD as usize + 8));
        let relative: Vec<&str> = artifacts.iter().map(|a| a.relative.as_str()).collect();
        assert_eq!(relative[..4], ["d0/a", "d0/b", "d0/d1/a", "d0/d1/b"]);
        let mut sorted = artifacts.clone();
        sorted.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(sorted, artifacts);
    }

    #[test]
    fn a_snapshot_folder_scanned_alone_follows_its_blobs_only() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("models--org--name");
        let snap = repo.join("snapshots/rev1");
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::create_dir_all(snap.join("onnx")).unwrap();
        std::fs::write(repo.join("blobs/abc"), b"x").unwrap();
        std::fs::write(repo.join("blobs/def"), b"y").unwrap();
        std::fs::write(dir.path().join("secret"), b"z").unwrap();
        std::os::unix::fs::symlink("../../blobs/abc", snap.join("config.json")).unwrap();
        std::os::unix::fs::symlink("../../../blobs/def", snap.join("onnx/model.onnx")).unwrap();
        std::os::unix::fs::symlink("../../../secret", snap.join("stolen")).unwrap();
        std::os::unix::fs::symlink("../../blobs", snap.join("all-blobs")).unwrap();
        let (artifacts, errors) = walk(std::slice::from_ref(&snap), &pool());
        let names: Vec<&str> = artifacts.iter().map(|a| a.relative.as_str()).collect();
        assert_eq!(names, ["config.json", "onnx/model.onnx"], "{errors:?}");
        assert!(artifacts[0].display.ends_with("snapshots/rev1/config.json"));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors
                .iter()
                .all(|e| e.message.contains("leaves the scanned directory"))
        );
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
        let (artifacts, errors) = walk(&[dir.path().to_path_buf()], &pool());
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

    fn mkfifo(path: &Path) {
        let made = std::process::Command::new("mkfifo").arg(path).status();
        assert!(made.unwrap().success());
    }

    #[test]
    fn special_files_are_errors_named_by_kind_in_a_walk_and_as_roots() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.bin"), b"x").unwrap();
        mkfifo(&root.join("pipe"));
        let socket = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
        let (artifacts, errors) = walk(
            &[
                root.to_path_buf(),
                root.join("pipe"),
                PathBuf::from("/dev/null"),
            ],
            &pool(),
        );
        drop(socket);
        assert_eq!(artifacts.len(), 1, "{artifacts:?}");
        let messages: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.display, e.message))
            .collect();
        assert_eq!(errors.len(), 4, "{messages:?}");
        assert!(
            messages
                .iter()
                .filter(|m| m.contains("named pipe (FIFO)"))
                .count()
                == 2
        );
        assert!(messages.iter().any(|m| m.contains("sock: a socket")));
        assert!(
            messages
                .iter()
                .any(|m| m.contains("/dev/null: a character device"))
        );
    }

    #[test]
    fn excluded_directories_are_not_entered_and_roots_are_always_taken() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in [
            ".venv/lib/x.pyc",
            "models/a.onnx",
            "models/notes.md",
            "b.onnx",
        ] {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        let filter = Filter::new(&["*.onnx".to_owned()], &[".venv".to_owned()]).unwrap();
        let (artifacts, errors) = walk_filtered(
            &[root.to_path_buf(), root.join(".venv/lib/x.pyc")],
            &pool(),
            &filter,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let relative: Vec<&str> = artifacts.iter().map(|a| a.relative.as_str()).collect();
        assert_eq!(relative, ["b.onnx", "models/a.onnx", "x.pyc"]);
    }
}

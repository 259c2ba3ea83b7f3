//! `--cache DIR`: results of earlier scans, keyed by the artifact's SHA-256 and the settings
//! fingerprint ([`Config::fingerprint`]: scanner version, rules, import tables, limits,
//! globals). An entry is a file written atomically (temporary file, then rename): a header line
//! with the key and the SHA-256 of the report, then the report as JSON. An entry that does not
//! parse, does not match its key or its digest is ignored and rewritten.
//!
//! Hashing an unchanged multi-gigabyte file again would cost about what scanning it does, so a
//! second index maps the file's identity on disk (device, inode, size, modification and change
//! times to the nanosecond, plus the name and the settings) to its result, as git's index does.
//! Any change to the file changes its change time, and then its content is hashed again. An
//! index file holds a copy of the entry (header and report, checked the same way), so that an
//! unchanged file costs one small read: a file takes a whole disk block however short, so the
//! copy takes no more room than the content key did. (An index file of an earlier version, which
//! held the content key, does not parse: the file is hashed once more and its index rewritten.)
//!
//! The cache is trusted like the scanner binary: whoever can write it can change verdicts.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::model::finding::ArtifactReport;
use crate::zone::{digest, mmap};

pub struct Cache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Header {
    key: String,
    report_sha256: String,
}

impl Cache {
    /// Opens (creating) the cache directory. A directory that others can write is refused:
    /// whoever writes the cache decides verdicts.
    pub fn open(dir: &Path) -> std::io::Result<Cache> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir)?.permissions().mode();
            if mode & 0o022 != 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "{} is writable by others (mode {:o}); whoever can write the cache can change verdicts (chmod go-w it)",
                        dir.display(),
                        mode & 0o777
                    ),
                ));
            }
        }
        Ok(Cache {
            dir: dir.to_path_buf(),
        })
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        let fan = key.get(..2).unwrap_or("xx");
        self.dir.join(fan).join(format!("{key}.json"))
    }

    /// The report for the file at `path`: from the cache when an entry for its content and
    /// these settings exists, otherwise from `scan` (and then stored). The flag says which.
    pub fn get_or_scan(
        &self,
        path: &Path,
        display: &str,
        config: &Config,
        fingerprint: &str,
        scan: impl FnOnce() -> ArtifactReport,
    ) -> (ArtifactReport, bool) {
        // Keeping the zone means unpacking, which a cached result would skip.
        if config.keep_zone.is_some() {
            return (scan(), false);
        }
        // The name is part of both keys: a result depends on it (a pickle named `.safetensors`
        // is FMT002), and hard links share an inode under different names.
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let stat_path = stat_key(path, &name, fingerprint).map(|k| self.dir.join("stat").join(k));
        if let Some(report) = stat_path.as_deref().and_then(|p| self.read_by_stat(p)) {
            return (relocate(report, display), true);
        }
        let Some(sha256) = file_sha256(path) else {
            return (scan(), false);
        };
        let key = digest::sha256_hex(format!("{sha256}\n{name}\n{fingerprint}").as_bytes());
        let entry_path = self.entry_path(&key);
        // Written in place: a torn index file fails its digest (or its header) and is ignored.
        let remember = |entry: &[u8]| {
            if let Some(stat_path) = &stat_path {
                let _ = std::fs::create_dir_all(self.dir.join("stat"))
                    .and_then(|()| std::fs::write(stat_path, entry));
            }
        };
        if let Some(report) = read_entry(&entry_path, &key, &sha256) {
            if let Ok(entry) = entry_bytes(&key, &report) {
                remember(&entry);
            }
            return (relocate(report, display), true);
        }
        let report = scan();
        // An unreadable artifact or one that changed under us is not worth keeping, and a
        // result that read the artifact's neighbours holds for this place only.
        if report.sha256.as_deref() == Some(sha256.as_str()) && !report.reads_neighbours {
            // A failure to write the cache costs a later re-scan, nothing else.
            if let Ok(entry) = entry_bytes(&key, &report)
                && write_atomically(&entry_path, &entry).is_ok()
            {
                remember(&entry);
            }
        }
        (report, false)
    }
}

impl Cache {
    fn read_by_stat(&self, stat_path: &Path) -> Option<ArtifactReport> {
        let (_, report) = read_parts(stat_path)?;
        // Only a whole scan's result is stored (`get_or_scan`), and it names its content.
        report.sha256.is_some().then_some(report)
    }
}

/// The file's identity on disk and the settings, or `None` where the platform has no inode
/// numbers and change times (the content is then always hashed).
fn stat_key(path: &Path, name: &str, fingerprint: &str) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        let identity = format!(
            "{} {} {} {}.{} {}.{}\n{name}\n{fingerprint}",
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        );
        Some(digest::sha256_hex(identity.as_bytes()))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, name, fingerprint);
        None
    }
}

fn file_sha256(path: &Path) -> Option<String> {
    let file = File::open(path).ok()?;
    let mapped = mmap::map(&file).ok()?;
    Some(digest::sha256_hex(&mapped))
}

/// An entry's header and report, if it is whole: the report must match the header's digest.
fn read_parts(path: &Path) -> Option<(Header, ArtifactReport)> {
    let text = std::fs::read(path).ok()?;
    let split = memchr::memchr(b'\n', &text)?;
    let header: Header = serde_json::from_slice(text.get(..split)?).ok()?;
    let body = text.get(split + 1..)?;
    if header.report_sha256 != digest::sha256_hex(body) {
        return None;
    }
    let report = serde_json::from_slice(body).ok()?;
    Some((header, report))
}

fn read_entry(path: &Path, key: &str, sha256: &str) -> Option<ArtifactReport> {
    let (header, report) = read_parts(path)?;
    (header.key == key && report.sha256.as_deref() == Some(sha256)).then_some(report)
}

/// An entry: the header line, then the report.
fn entry_bytes(key: &str, report: &ArtifactReport) -> serde_json::Result<Vec<u8>> {
    let body = serde_json::to_vec(report)?;
    let mut entry = serde_json::to_vec(&Header {
        key: key.to_owned(),
        report_sha256: digest::sha256_hex(&body),
    })?;
    entry.push(b'\n');
    entry.extend_from_slice(&body);
    Ok(entry)
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.flush()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A cached report names the path it was first seen at; give it this one.
fn relocate(mut report: ArtifactReport, display: &str) -> ArtifactReport {
    display.clone_into(&mut report.path);
    for finding in &mut report.findings {
        display.clone_into(&mut finding.location.path);
    }
    report
}

//! `--cache DIR`: results of earlier scans, keyed by the artifact's SHA-256 and the settings
//! fingerprint ([`Config::fingerprint`]: scanner version, rules, import tables, limits,
//! globals). An entry is a file written atomically (temporary file, then rename): a header line
//! with the key and the SHA-256 of the report, then the report as JSON. An entry that does not
//! parse, does not match its key or its digest is ignored and rewritten.
//!
//! The cache is trusted like the scanner binary: whoever can write it can change verdicts.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::finding::ArtifactReport;
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
    /// Opens (creating) the cache directory.
    pub fn open(dir: &Path) -> std::io::Result<Cache> {
        std::fs::create_dir_all(dir)?;
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
        let Some(sha256) = file_sha256(path) else {
            return (scan(), false);
        };
        let key = digest::sha256_hex(format!("{sha256}\n{fingerprint}").as_bytes());
        let entry_path = self.entry_path(&key);
        if let Some(report) = read_entry(&entry_path, &key, &sha256) {
            return (relocate(report, display), true);
        }
        let report = scan();
        // An unreadable artifact or one that changed under us is not worth keeping.
        if report.sha256.as_deref() == Some(sha256.as_str()) && config.keep_zone.is_none() {
            // A failure to write the cache costs a later re-scan, nothing else.
            let _ = write_entry(&entry_path, key, &report);
        }
        (report, false)
    }
}

fn file_sha256(path: &Path) -> Option<String> {
    let file = File::open(path).ok()?;
    let mapped = mmap::map(&file).ok()?;
    Some(digest::sha256_hex(&mapped))
}

fn read_entry(path: &Path, key: &str, sha256: &str) -> Option<ArtifactReport> {
    let text = std::fs::read(path).ok()?;
    let split = memchr::memchr(b'\n', &text)?;
    let header: Header = serde_json::from_slice(text.get(..split)?).ok()?;
    let body = text.get(split + 1..)?;
    if header.key != key || header.report_sha256 != digest::sha256_hex(body) {
        return None;
    }
    let report: ArtifactReport = serde_json::from_slice(body).ok()?;
    (report.sha256.as_deref() == Some(sha256)).then_some(report)
}

fn write_entry(path: &Path, key: String, report: &ArtifactReport) -> std::io::Result<()> {
    let body = serde_json::to_vec(report)?;
    let header = Header {
        key,
        report_sha256: digest::sha256_hex(&body),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&mut temp, &header)?;
    temp.write_all(b"\n")?;
    temp.write_all(&body)?;
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

//! `--output FILE`: where a report is written. Never through a symbolic link, never onto one
//! of the scanned inputs, and complete or not at all: JSON, SARIF and text reports are written
//! to a temporary file beside the target and renamed into place when the run has finished, so
//! an interrupted run (a signal, a full disk) leaves no partial report under the final name.
//! JSONL is the exception: it streams into the file itself, one flushed line per artifact, and
//! its closing summary line tells a finished run from an interrupted one.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// A report file being written.
pub struct ReportFile {
    path: PathBuf,
    /// The temporary file renamed onto `path` by [`ReportFile::commit`]; `None` when the report
    /// is written in place.
    pending: Option<tempfile::TempPath>,
}

impl ReportFile {
    /// Opens `path` for a report, refusing a link and any of `inputs`. `in_place`: write the
    /// file itself (streaming formats) instead of a temporary file beside it.
    pub fn create(path: &Path, in_place: bool, inputs: &[PathBuf]) -> io::Result<(File, Self)> {
        refuse_link_or_input(path, inputs)?;
        if in_place {
            let file = open_no_follow(path)?;
            let report = ReportFile {
                path: path.to_owned(),
                pending: None,
            };
            return Ok((file, report));
        }
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".quarantine-report-")
            .tempfile_in(dir)?;
        let file = temp.as_file().try_clone()?;
        let report = ReportFile {
            path: path.to_owned(),
            pending: Some(temp.into_temp_path()),
        };
        Ok((file, report))
    }

    /// Moves the finished report into place (for in-place reports there is nothing to do).
    pub fn commit(self) -> io::Result<()> {
        match self.pending {
            Some(temp) => {
                // The target may have become a link or an input since the start; check again.
                refuse_link_or_input(&self.path, &[])?;
                temp.persist(&self.path).map_err(|e| e.error)
            }
            None => Ok(()),
        }
    }
}

fn refuse_link_or_input(path: &Path, inputs: &[PathBuf]) -> io::Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(()); // Nothing there yet.
    };
    if meta.file_type().is_symlink() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a symbolic link; a report is never written through one",
                path.display()
            ),
        ));
    }
    if inputs.iter().any(|input| same_file(&meta, input)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is one of the scanned inputs; writing the report there would destroy it",
                path.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(target: &std::fs::Metadata, input: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(input).is_ok_and(|m| m.dev() == target.dev() && m.ino() == target.ino())
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, input: &Path) -> bool {
    let _ = input;
    false
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("report.json");
        let (mut file, report) = ReportFile::create(&target, false, &[]).unwrap();
        io::Write::write_all(&mut file, b"{}").unwrap();
        assert!(!target.exists());
        report.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"{}");
    }

    #[cfg(unix)]
    #[test]
    fn links_and_inputs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        for in_place in [false, true] {
            assert!(ReportFile::create(&link, in_place, &[]).is_err());
            assert!(ReportFile::create(&victim, in_place, std::slice::from_ref(&victim)).is_err());
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    }
}

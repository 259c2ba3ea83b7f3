//! `quarantine scan -`: one artifact read from standard input, named `<stdin>` in reports.
//!
//! The bytes are kept in memory up to [`MEMORY_LIMIT`]; a larger stream goes on into a private
//! temporary file (mode 0600, unlinked at once, so no other process can open it by name and
//! nothing is left behind), which is then mapped like any artifact on disk. Nothing is executed
//! either way: the bytes are only read.

use std::io::{self, Read, Seek, Write};
use std::time::Instant;

use super::Batch;
use crate::report::{RunInfo, Scanned, Sink, Tally};
use crate::scan;
use crate::zone::mmap::Mapped;

/// How reports name the artifact.
pub const NAME: &str = "<stdin>";

/// Bytes of standard input kept in memory before the rest goes to a temporary file.
pub const MEMORY_LIMIT: u64 = 64 << 20;

/// Stack of the thread that scans it, as for the batch's workers.
const STACK: usize = 64 << 20;

/// The artifact read from standard input.
pub enum Input {
    Memory(Vec<u8>),
    File(Mapped),
}

impl Input {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Input::Memory(bytes) => bytes,
            Input::File(mapped) => mapped,
        }
    }

    pub fn in_memory(&self) -> bool {
        matches!(self, Input::Memory(_))
    }
}

/// Reads all of `reader`: into memory up to `memory_limit` bytes, past that into an unlinked
/// temporary file.
pub fn read(mut reader: impl Read, memory_limit: u64) -> io::Result<Input> {
    let mut head = Vec::new();
    (&mut reader)
        .take(memory_limit.saturating_add(1))
        .read_to_end(&mut head)?;
    if head.len() as u64 <= memory_limit {
        return Ok(Input::Memory(head));
    }
    // `tempfile::tempfile` creates the file with mode 0600 and unlinks it (O_TMPFILE where the
    // file system has it).
    let mut file = tempfile::tempfile()?;
    file.write_all(&head)?;
    drop(head);
    io::copy(&mut reader, &mut file)?;
    file.flush()?;
    file.rewind()?;
    Ok(Input::File(crate::zone::mmap::map(&file)?))
}

impl Batch<'_> {
    /// Scans `data` as the artifact `<stdin>` and hands the result to `sink`, then the summary.
    pub fn run_stdin(&self, data: &[u8], sink: &mut dyn Sink) -> io::Result<Tally> {
        let start = Instant::now();
        let config = self.policy.config_for(self.config, self.cli_limits, NAME);
        let mut report = std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(STACK)
                .spawn_scoped(s, || {
                    let mut scanner = self.signatures.map(crate::signatures::Signatures::scanner);
                    scan::scan_bytes_with(
                        data,
                        std::path::Path::new(NAME),
                        NAME,
                        &config,
                        scanner
                            .as_mut()
                            .map(|s| s as &mut dyn crate::signatures::Matcher),
                    )
                })
                .map(|h| h.join())
        })?
        .map_err(|_| io::Error::other("the scan of standard input failed"))?;
        self.policy.adjust(NAME, &mut report);
        let baselined = self.baseline.map(|b| b.filter(&mut report));
        let item = Scanned {
            seq: 0,
            report,
            relative_path: NAME.to_owned(),
            cached: false,
            duration_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        let mut tally = Tally::default();
        tally.add(&item);
        sink.artifact(item)?;
        sink.flush()?;
        sink.finish(
            &RunInfo {
                policy: self.policy.source.clone(),
                shard: None,
                baseline: self
                    .baseline
                    .map(|b| crate::report::baseline::BaselineInfo {
                        path: b.path.clone(),
                        findings: baselined.unwrap_or(0),
                    }),
            },
            &tally,
        )?;
        Ok(tally)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_input_stays_in_memory() {
        let input = read(&b"hello"[..], 16).unwrap();
        assert!(input.in_memory());
        assert_eq!(input.bytes(), b"hello");
    }

    #[test]
    fn large_input_goes_to_an_unlinked_file() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let input = read(&data[..], 1000).unwrap();
        assert!(!input.in_memory());
        assert_eq!(input.bytes(), &data[..]);
        let input = read(&data[..1001], 1000).unwrap();
        assert_eq!(input.bytes(), &data[..1001]);
        let input = read(&data[..1000], 1000).unwrap();
        assert!(input.in_memory());
    }
}

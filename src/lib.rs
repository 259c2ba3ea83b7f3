//! quarantine: a static scanner for machine-learning model artifacts.
//!
//! Nothing here executes, imports or deserialises an artifact for real. Bytes are detected by
//! content, containers are unpacked in memory within the limits of the secure zone, and each
//! format has an analyser that reports [`Finding`]s with a stable rule id. The verdict of an
//! artifact is the worst verdict its findings imply ([`ArtifactReport::decide`]).
#![deny(unsafe_code)] // The one exception, memory-mapping, is in `zone::mmap`.

pub mod config;
pub mod containers;
pub mod engine;
pub mod finding;
pub mod formats;
pub mod report;
pub mod rules;
pub mod signatures;
#[cfg(test)]
mod testing;
pub mod zone;

use std::path::PathBuf;

use rayon::prelude::*;

pub use config::Config;
pub use finding::{ArtifactReport, Finding, Severity, Verdict};
pub use rules::{RuleId, RuleRef};
pub use signatures::Signatures;

/// Scans every file under `paths` (directories recursively), in parallel across artifacts.
/// Results come back in walk order; a path that cannot be read yields an `error` result.
pub fn scan(paths: &[PathBuf], config: &Config) -> Vec<ArtifactReport> {
    let (artifacts, walk_errors) = zone::walk::walk(paths);
    let mut reports: Vec<ArtifactReport> = walk_errors
        .into_iter()
        .map(|e| ArtifactReport::failed(e.display, e.message))
        .collect();
    // One signature scanner per worker (rayon calls `init` once per piece of work it splits
    // off), reused for every artifact that worker scans.
    let init = || config.signatures.rules.as_deref().map(Signatures::scanner);
    reports.par_extend(artifacts.par_iter().map_init(init, |scanner, a| {
        let matcher = scanner.as_mut().map(|s| s as &mut dyn signatures::Matcher);
        ArtifactReport {
            aliases: a.aliases.clone(),
            ..engine::scan_file_with(&a.path, &a.display, config, matcher)
        }
    }));
    reports
}

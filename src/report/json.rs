//! The JSON report: a public contract, versioned by [`super::SCHEMA_VERSION`].
//!
//! ```json
//! {"schema_version": 1, "scanner": {"name": "quarantine", "version": "0.1.0"},
//!  "verdict": "malicious",
//!  "summary": {"artifacts": 2, "clean": 1, "suspicious": 0, "malicious": 1, "error": 0},
//!  "artifacts": [{"path", "sha256", "size", "format", "verdict", "error", "members": [...],
//!                 "findings": [{"rule_id", "severity", "verdict", "message",
//!                               "location": {"path", "member", "member_chain", "offset"},
//!                               "evidence", "remediation",
//!                               "signature"?: {"origin", "context", "size", "reference",
//!                                              "matches": [{"pattern", "offset", "data"}]}}]}]}
//! ```

use std::io::{self, Write};

use serde::Serialize;

use super::{SCHEMA_VERSION, Summary};
use crate::finding::{ArtifactReport, Verdict};

#[derive(Serialize)]
struct Scanner {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    scanner: Scanner,
    verdict: Verdict,
    summary: Summary,
    artifacts: &'a [ArtifactReport],
}

pub fn write(out: &mut dyn Write, reports: &[ArtifactReport]) -> io::Result<()> {
    let summary = Summary::of(reports);
    let document = Document {
        schema_version: SCHEMA_VERSION,
        scanner: Scanner {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
        },
        verdict: summary.verdict(),
        summary,
        artifacts: reports,
    };
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}

//! Renderers. They know findings and rules, never analysers.

pub mod json;
pub mod text;

use serde::Serialize;

use crate::finding::{ArtifactReport, Verdict};

/// Version of the JSON report schema. Fields may be added freely; renaming or removing one
/// bumps this number.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub artifacts: usize,
    pub clean: usize,
    pub suspicious: usize,
    pub malicious: usize,
    pub error: usize,
}

impl Summary {
    pub fn of(reports: &[ArtifactReport]) -> Self {
        let mut summary = Summary {
            artifacts: reports.len(),
            ..Summary::default()
        };
        for report in reports {
            match report.verdict {
                Verdict::Clean => summary.clean += 1,
                Verdict::Suspicious => summary.suspicious += 1,
                Verdict::Malicious => summary.malicious += 1,
                Verdict::Error => summary.error += 1,
            }
        }
        summary
    }

    /// The verdict of the whole run: malicious if anything is, then suspicious, then error.
    pub fn verdict(&self) -> Verdict {
        if self.malicious > 0 {
            Verdict::Malicious
        } else if self.suspicious > 0 {
            Verdict::Suspicious
        } else if self.error > 0 {
            Verdict::Error
        } else {
            Verdict::Clean
        }
    }
}

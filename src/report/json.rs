//! The JSON report: a public contract, versioned by [`super::SCHEMA_VERSION`].
//!
//! ```json
//! {"schema_version": 1, "scanner": {"name": "quarantine", "version": "0.1.0"},
//!  "verdict": "malicious",
//!  "summary": {"artifacts": 2, "clean": 1, "suspicious": 0, "malicious": 1, "error": 0},
//!  "policy": {"path", "sha256"} | null,
//!  "top_rules": [{"rule_id", "artifacts"}],
//!  "artifacts": [{"seq", "path", "relative_path", "sha256", "size", "format", "verdict",
//!                 "error", "cached", "duration_ms", "members": [...], "aliases": [...],
//!                 "findings": [{"rule_id", "severity", "verdict", "message",
//!                               "location": {"path", "member", "member_chain", "offset"},
//!                               "evidence", "remediation",
//!                               "signature"?: {"origin", "context", "size", "reference",
//!                                              "matches": [{"pattern", "offset", "data"}]}}],
//!                 "models": [{"member", "format": "onnx", "ir_version", "producer",
//!                             "producer_version", "opset_imports": [{"domain", "version"}],
//!                             "inputs"/"outputs": [{"name", "dtype", "shape": [1, "batch", null]}],
//!                             "op_histogram": {"Conv": 3}, "nodes", "graphs", "functions",
//!                             "initializers", "parameters"}
//!                            | {"member", "format": "safetensors", "tensors", "parameters",
//!                               "dtypes": {"F32": {"tensors", "parameters", "bytes"}}}
//!                            | {"member", "format": "gguf", "version", "big_endian",
//!                               "architecture", "name", "file_type", "context_length",
//!                               "block_count", "embedding_length", "tokenizer", "vocabulary",
//!                               "chat_templates": ["default"], "metadata_entries", "tensors",
//!                               "parameters", "types": {"Q4_K": {"tensors", "parameters", "bytes"}}}],
//!                 "robustness": null | {"grade", "summary", "skipped", "device", "runtime_ms",
//!                                "weights": {...}, "behaviour": {..., "epsilons": [...]}}}]}
//! ```
//!
//! `robustness` is documented field by field in [`crate::probe::report`].

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use super::{RuleCount, RunInfo, SCHEMA_VERSION, Scanned, Summary, Tally};
use crate::model::finding::Verdict;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scanner {
    pub name: String,
    pub version: String,
}

impl Scanner {
    pub fn this() -> Self {
        Scanner {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    scanner: Scanner,
    verdict: Verdict,
    summary: Summary,
    #[serde(flatten)]
    info: &'a RunInfo,
    top_rules: Vec<RuleCount>,
    artifacts: &'a [Scanned],
}

pub fn write(
    out: &mut dyn Write,
    items: &[Scanned],
    info: &RunInfo,
    tally: &Tally,
) -> io::Result<()> {
    let document = Document {
        schema_version: SCHEMA_VERSION,
        scanner: Scanner::this(),
        verdict: tally.summary.verdict(),
        summary: tally.summary,
        info,
        top_rules: tally.top_rules(),
        artifacts: items,
    };
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)?;
    out.flush()
}

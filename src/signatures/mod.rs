//! Signature rules (YARA-X) over the content the analysers extract.
//!
//! The shipped rules (`signatures/**/*.yar`, embedded in the binary) and the user's rule
//! directories are compiled once per run into immutable [`Signatures`], shared by every worker
//! thread; each thread scans with its own [`SignatureScanner`]. Compiled rules are cached on disk
//! keyed by a hash of their sources ([`cache`]).
//!
//! A rule's `meta` decides what a match means: `severity` (info … critical, default medium),
//! `verdict` (clean, suspicious, malicious; default suspicious), `origins` (where the match
//! means that: origin names or the classes `code`, `metadata`, `data`, `documentation`, `all`;
//! default everything but documentation; elsewhere a match is an `info` note implying clean),
//! `description` and `reference`.
//! Rules can condition on the extract through the external variables `origin`
//! (`pickle_call_arg`, `text_member`, …), `format` (`pickle`, `onnx`, `text`, …), `member` (the
//! innermost member or file name) and `context` (where in the member the extract sits).

pub mod cache;
mod compile;
mod scan;
pub mod sources;

use std::path::PathBuf;

use crate::model::finding::{Implies, Severity};
use crate::model::rules::RuleRef;

pub use compile::compile;
pub use scan::{Hit, Matcher, REMEDIATION, SignatureScanner, Stop, Vars};
pub use sources::Source;

/// Compiled signature rules and what each rule's meta says.
pub struct Signatures {
    rules: yara_x::Rules,
    infos: Vec<SignatureInfo>,
    warnings: Vec<Diagnostic>,
    /// Hash of the rule sources and scanner version: what the compiled rules were made from.
    source_hash: String,
}

impl std::fmt::Debug for Signatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signatures")
            .field("rules", &self.infos.len())
            .field("source_hash", &self.source_hash)
            .finish_non_exhaustive()
    }
}

/// One signature rule as `quarantine rules` lists it and findings cite it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInfo {
    pub id: RuleRef,
    pub namespace: String,
    pub name: String,
    pub severity: Severity,
    pub implies: Implies,
    pub description: Option<String>,
    pub reference: Option<String>,
    /// The origins (`pickle_call_arg`, …) where a match means what `severity` and `verdict`
    /// say: the rule's `origins` meta (origin names or classes: `code`, `metadata`, `data`,
    /// `documentation`, `all`), by default every origin but documentation. A match anywhere else
    /// is an `info` finding that implies clean.
    pub origins: Vec<String>,
}

impl SignatureInfo {
    pub fn applies_to(&self, origin: crate::scan::context::Origin) -> bool {
        self.origins.iter().any(|o| o == origin.as_str())
    }
}

/// Expands an `origins` meta value (`"code, metadata"`) into origin names; the unknown word is
/// the error.
pub fn expand_origins(text: &str) -> Result<Vec<String>, String> {
    use crate::scan::context::ORIGINS;
    let mut out = Vec::new();
    for word in text
        .split([',', ' '])
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        let word = word.to_ascii_lowercase();
        let matching: Vec<_> = ORIGINS
            .iter()
            .filter(|o| word == "all" || o.as_str() == word || o.class() == word)
            .collect();
        if matching.is_empty() {
            return Err(word);
        }
        for origin in matching {
            if !out.iter().any(|o| o == origin.as_str()) {
                out.push(origin.as_str().to_owned());
            }
        }
    }
    Ok(out)
}

/// Where a rule without an `origins` meta applies: everywhere but documentation.
pub fn default_origins() -> Vec<String> {
    crate::scan::context::ORIGINS
        .iter()
        .filter(|o| o.class() != "documentation")
        .map(|o| o.as_str().to_owned())
        .collect()
}

/// A compile error or warning, located in its rule file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Diagnostic {
    /// The rule file (`signatures/shells.yar`, or the path given with `--rules`).
    pub file: String,
    /// 1-based line of the first label, when the message points at one.
    pub line: Option<usize>,
    /// The YARA-X code (`E001`, `slow_pattern`) or `meta` for a bad meta value.
    pub code: String,
    pub message: String,
    /// The full report, rustc-style, with the offending source lines.
    pub report: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("cannot read rule file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} error(s) in signature rules:\n{}", .0.len(), render(.0))]
    Compile(Vec<Diagnostic>),
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| d.report.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

impl Signatures {
    /// Every compiled rule, in source order.
    pub fn rules(&self) -> &[SignatureInfo] {
        &self.infos
    }

    /// Compiler warnings (slow patterns, unused ones, …).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Hash of the rule sources and scanner version the rules were compiled from.
    pub fn source_hash(&self) -> &str {
        &self.source_hash
    }

    /// A scanner for one worker thread.
    pub fn scanner(&self) -> SignatureScanner<'_> {
        SignatureScanner::new(self)
    }

    fn info(&self, namespace: &str, name: &str) -> Option<&SignatureInfo> {
        self.infos
            .iter()
            .find(|i| i.name == name && i.namespace == namespace)
    }
}

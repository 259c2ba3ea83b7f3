//! Ground types shared by every analyser and renderer: what was found, where, and what it means.

use serde::{Deserialize, Serialize};

use crate::model::format::{Format, Label};
use crate::model::robustness::Robustness;
use crate::model::rules::{RuleId, RuleRef};
use crate::model::summary::ModelReport;

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// The decision a finding implies. Ordered: `Clean < Suspicious < Malicious`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Implies {
    Clean,
    Suspicious,
    Malicious,
}

/// The decision about a whole artifact.
///
/// `Error` means the scan could not finish and nothing worse was seen before it stopped; pipelines
/// treat it like `Suspicious` (fail closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Clean,
    Suspicious,
    Malicious,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Suspicious => "suspicious",
            Verdict::Malicious => "malicious",
            Verdict::Error => "error",
        }
    }

    /// Rank used by `--fail-on`: an `Error` counts as `Suspicious`.
    pub fn rank(self) -> u8 {
        match self {
            Verdict::Clean => 0,
            Verdict::Suspicious | Verdict::Error => 1,
            Verdict::Malicious => 2,
        }
    }
}

impl From<Implies> for Verdict {
    fn from(implies: Implies) -> Self {
        match implies {
            Implies::Clean => Verdict::Clean,
            Implies::Suspicious => Verdict::Suspicious,
            Implies::Malicious => Verdict::Malicious,
        }
    }
}

/// Where a finding sits: the artifact on disk, the chain of container members that led to the
/// bytes, and a byte offset inside the innermost member (or the file when there is no member).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub path: String,
    /// The member chain joined with `!` (`model.pt!archive/data.pkl`), or null for the file itself.
    pub member: Option<String>,
    /// Each container level separately, outermost first; empty for the file itself.
    #[serde(default)]
    pub member_chain: Vec<String>,
    pub offset: Option<u64>,
    /// 1-based line of the match, for a finding in a text file (signature matches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule_id: RuleRef,
    pub severity: Severity,
    pub verdict: Implies,
    pub message: String,
    pub location: Location,
    /// What the loader would do, rendered Python-like (`posix.system('echo hi')`).
    pub evidence: Option<String>,
    pub remediation: String,
    /// For a signature match: the extract it matched and where inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureMatch>,
    /// Set when a trusted policy's `[[accept]]` entry accepts this finding: it stays in the
    /// report but no longer decides the artifact's verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Accepted>,
}

/// A reviewed finding a team accepted (a policy's `[[accept]]` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub reason: String,
    pub by: String,
    /// The last day (UTC, `YYYY-MM-DD`) the acceptance holds.
    pub expires: String,
    /// The finding implies `malicious` and the entry says `allow_malicious = true`.
    #[serde(default)]
    pub allow_malicious: bool,
    /// The entry's position among the policy's `[[accept]]` entries, from 1.
    pub entry: usize,
}

/// The extract a signature rule matched: its origin, where it sits, and the matched strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureMatch {
    /// `pickle_call_arg`, `text_member`, `small_file`, … (the rule's `origin` variable).
    pub origin: String,
    /// Where in the member the extract sits (`posix.system argument 1`).
    pub context: String,
    /// Size of the extract in bytes.
    pub size: u64,
    pub reference: Option<String>,
    /// The first matches, offsets counted inside the extract.
    pub matches: Vec<MatchedString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedString {
    /// The rule's pattern identifier (`$rev`).
    pub pattern: String,
    pub offset: u64,
    /// The matched bytes: printable ASCII as is, other bytes as `\xNN`.
    pub data: String,
}

impl Finding {
    /// A finding with its rule's default severity, verdict and remediation.
    pub fn new(
        rule: RuleId,
        location: Location,
        message: String,
        evidence: Option<String>,
    ) -> Self {
        let info = rule.info();
        Finding {
            rule_id: RuleRef::Builtin(rule),
            severity: info.severity,
            verdict: info.implies,
            message,
            location,
            evidence,
            remediation: info.remediation.to_owned(),
            signature: None,
            accepted: None,
        }
    }
}

/// A container member that was opened and analysed, with its own digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberReport {
    pub member: String,
    pub sha256: String,
    pub size: u64,
    pub format: Format,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactReport {
    pub path: String,
    /// The path's bytes in hexadecimal when they are not UTF-8 (then `path` shows each invalid
    /// byte as `\xNN`); absent for a UTF-8 path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<String>,
    /// Hex SHA-256 of the whole file, or null when it could not be read.
    pub sha256: Option<String>,
    pub size: u64,
    /// The detected format of the file's content (never its extension).
    pub format: Label,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    pub members: Vec<MemberReport>,
    /// Other paths that lead to the same file (links, Hugging Face snapshots); scanned once.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// A summary of every model analysed (ONNX, safetensors), the file's and its members'.
    #[serde(default)]
    pub models: Vec<ModelReport>,
    /// Why the scan could not finish, when it could not.
    pub error: Option<String>,
    /// The robustness probe's figures; null for content that is no model, or with `--probe off`.
    #[serde(default)]
    pub robustness: Option<Robustness>,
    /// The result depends on files beside the artifact (ONNX external data, safetensors shards,
    /// repository files), not on its bytes alone, so it is never taken from `--cache`.
    #[serde(skip)]
    pub reads_neighbours: bool,
    /// What looking for staged payloads cost (not part of the JSON report).
    #[serde(skip)]
    pub staged: StagedCost,
}

/// What looking for staged payloads (pickles carried as data, `PKL012`) cost in one artifact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StagedCost {
    /// Values judged by their first bytes.
    pub probes: u64,
    /// Full decodes (base64, hex, base85, decompression), every layer counted.
    pub decodes: u32,
    /// Bytes those decodes produced.
    pub decoded_bytes: u64,
    /// Carried pickles found and analysed.
    pub carried: u32,
}

impl ArtifactReport {
    /// The result for an artifact that could not be read at all.
    pub fn failed(path: String, error: String) -> Self {
        ArtifactReport {
            path,
            path_bytes: None,
            sha256: None,
            size: 0,
            format: Label::Unreadable,
            verdict: Verdict::Error,
            findings: Vec::new(),
            members: Vec::new(),
            aliases: Vec::new(),
            models: Vec::new(),
            error: Some(error),
            robustness: None,
            reads_neighbours: false,
            staged: StagedCost::default(),
        }
    }

    /// The worst verdict any finding implies (accepted findings aside); `error` only when the
    /// scan stopped and nothing malicious was seen before it did.
    pub fn decide(findings: &[Finding], error: Option<&str>) -> Verdict {
        let worst = findings
            .iter()
            .filter(|f| f.accepted.is_none())
            .map(|f| f.verdict)
            .max()
            .unwrap_or(Implies::Clean);
        match (worst, error) {
            (Implies::Malicious, _) => Verdict::Malicious,
            (_, Some(_)) => Verdict::Error,
            (worst, None) => worst.into(),
        }
    }
}

//! Ground types that every other layer shares and that depend on nothing of the scanner's: the
//! verdict model, the rule registry, findings and reports, the formats, model summaries.

pub mod finding;
pub mod format;
pub mod names;
pub mod robustness;
pub mod rules;
pub mod summary;
pub mod tensors;

pub use finding::{ArtifactReport, Finding, Implies, Location, MemberReport, Severity, Verdict};
pub use format::{Format, Label};
pub use rules::{Rule, RuleId, RuleRef};
pub use summary::{ModelReport, ModelSummary};

//! The rule registry: every detection the scanner can make, with a stable id, a default
//! severity and verdict, a one-paragraph explanation and a fix.
//!
//! Ids are never reused or renumbered. `quarantine rules` and `quarantine explain ID` print this
//! table, and the README's rule section is kept in step with it by a test.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::finding::{Implies, Severity};

macro_rules! rules {
    ($(
        $variant:ident => {
            code: $code:literal,
            name: $name:literal,
            severity: $severity:ident,
            implies: $implies:ident,
            summary: $summary:literal,
            explanation: $explanation:literal,
            remediation: $remediation:literal $(,)?
        }
    ),* $(,)?) => {
        /// A stable rule identifier such as `PKL001`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RuleId {
            $($variant),*
        }

        impl RuleId {
            /// Every rule, in registry order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant),*];

            pub fn info(self) -> &'static Rule {
                match self {
                    $(RuleId::$variant => &Rule {
                        id: RuleId::$variant,
                        code: $code,
                        name: $name,
                        severity: Severity::$severity,
                        implies: Implies::$implies,
                        summary: $summary,
                        explanation: $explanation,
                        remediation: $remediation,
                    }),*
                }
            }
        }
    };
}

/// Everything the registry knows about one rule.
#[derive(Debug)]
pub struct Rule {
    pub id: RuleId,
    /// The stable id printed in reports (`PKL001`).
    pub code: &'static str,
    /// A short kebab-case name (`pickle-denied-global`).
    pub name: &'static str,
    pub severity: Severity,
    pub implies: Implies,
    pub summary: &'static str,
    pub explanation: &'static str,
    pub remediation: &'static str,
}

impl RuleId {
    pub fn code(self) -> &'static str {
        self.info().code
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown rule id `{0}` (run `quarantine rules` for the list)")]
pub struct UnknownRule(String);

impl FromStr for RuleId {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RuleId::ALL
            .iter()
            .copied()
            .find(|id| id.code().eq_ignore_ascii_case(s) || id.info().name == s)
            .ok_or_else(|| UnknownRule(s.to_owned()))
    }
}

/// The rule a finding cites: a built-in rule of the registry, or a signature (YARA) rule,
/// printed `YAR:<namespace>.<rule>`. Both serialise to their printed id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleRef {
    Builtin(RuleId),
    /// The printed id, `YAR:<namespace>.<rule>` (neither part contains a `.`).
    Signature(Box<str>),
}

/// The prefix of signature rule ids.
pub const SIGNATURE_PREFIX: &str = "YAR:";

impl RuleRef {
    pub fn signature(namespace: &str, rule: &str) -> Self {
        RuleRef::Signature(format!("{SIGNATURE_PREFIX}{namespace}.{rule}").into_boxed_str())
    }

    /// The printed id (`PKL001`, `YAR:shells.bash_dev_tcp`).
    pub fn code(&self) -> &str {
        match self {
            RuleRef::Builtin(id) => id.code(),
            RuleRef::Signature(code) => code,
        }
    }

    pub fn builtin(&self) -> Option<RuleId> {
        match self {
            RuleRef::Builtin(id) => Some(*id),
            RuleRef::Signature(_) => None,
        }
    }
}

impl From<RuleId> for RuleRef {
    fn from(id: RuleId) -> Self {
        RuleRef::Builtin(id)
    }
}

impl PartialEq<RuleId> for RuleRef {
    fn eq(&self, other: &RuleId) -> bool {
        self.builtin() == Some(*other)
    }
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for RuleRef {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix(SIGNATURE_PREFIX) {
            Some(rest) => match rest.split_once('.') {
                Some((ns, rule)) if !ns.is_empty() && !rule.is_empty() && !rule.contains('.') => {
                    Ok(RuleRef::signature(ns, rule))
                }
                _ => Err(UnknownRule(s.to_owned())),
            },
            None => s.parse().map(RuleRef::Builtin),
        }
    }
}

impl Serialize for RuleRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for RuleRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        code.parse().map_err(serde::de::Error::custom)
    }
}

mod table;

pub use table::RuleId;

/// The README's rule reference, generated from the registry (a test keeps them in step).
pub fn markdown() -> String {
    let mut out = String::new();
    for id in RuleId::ALL {
        let rule = id.info();
        out.push_str(&format!(
            "### {} {}\n\n*Severity {}, implies {}.* {}\n\n{}\n\n**Fix:** {}\n\n",
            rule.code,
            rule.name,
            rule.severity.as_str(),
            crate::model::finding::Verdict::from(rule.implies).as_str(),
            rule.summary,
            rule.explanation,
            rule.remediation
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_and_names_are_unique_and_well_formed() {
        let mut codes = HashSet::new();
        let mut names = HashSet::new();
        for id in RuleId::ALL {
            let rule = id.info();
            assert_eq!(rule.id, *id);
            assert!(codes.insert(rule.code), "duplicate code {}", rule.code);
            assert!(names.insert(rule.name), "duplicate name {}", rule.name);
            assert_eq!(rule.code.len(), 6, "{}", rule.code);
            assert!(rule.code[3..].chars().all(|c| c.is_ascii_digit()));
            assert!(!rule.explanation.is_empty() && !rule.remediation.is_empty());
        }
    }

    #[test]
    fn parses_codes_and_names() {
        assert_eq!(
            "pkl001".parse::<RuleId>().unwrap(),
            RuleId::PickleDeniedGlobal
        );
        assert_eq!(
            "archive-crc-mismatch".parse::<RuleId>().unwrap(),
            RuleId::ArchiveCrcMismatch
        );
        assert!("XYZ999".parse::<RuleId>().is_err());
    }

    #[test]
    fn rule_refs_print_and_parse_the_same() {
        for code in ["PKL001", "YAR:shells.bash_dev_tcp"] {
            let parsed: RuleRef = code.parse().unwrap();
            assert_eq!(parsed.to_string(), code);
            let json = serde_json::to_string(&parsed).unwrap();
            assert_eq!(json, format!("\"{code}\""));
        }
        assert_eq!(
            "PKL001".parse::<RuleRef>().unwrap(),
            RuleId::PickleDeniedGlobal
        );
        for bad in ["YAR:", "YAR:ns", "YAR:.r", "YAR:ns.", "YAR:a.b.c"] {
            assert!(bad.parse::<RuleRef>().is_err(), "{bad}");
        }
    }
}

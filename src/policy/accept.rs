//! Accepted risks: the policy's `[[accept]]` entries, each naming one reviewed finding on one
//! exact file.
//!
//! ```toml
//! [[accept]]
//! sha256 = "9f2c…"              # the artifact's SHA-256 (the whole file, as reports print it)
//! rule = "PKL002"               # the finding's rule id
//! evidence = "mylab.Model()"    # optional: only the finding with exactly this evidence
//! reason = "our own class, reviewed in ticket 123"
//! by = "alice@example.com"
//! expires = 2027-03-31          # a TOML date: the last day the acceptance holds (UTC)
//! allow_malicious = false       # needed to accept a finding that implies `malicious`
//! ```
//!
//! An accepted finding stays in the report with an `accepted` record and no longer decides the
//! verdict. An entry that has expired, or that the scanner refuses (the policy was found inside
//! the scanned tree, a malicious finding without `allow_malicious`, any malicious finding
//! under `admit`), leaves the finding counting and adds a finding that names the entry
//! (`ACC001`, `ACC002`); an accepted malicious finding adds `ACC003`, so every report says so.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::model::finding::{Accepted, ArtifactReport, Finding, Implies, Location};
use crate::model::rules::{RuleId, RuleRef};

/// One `[[accept]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EntryFile {
    sha256: String,
    rule: RuleRef,
    evidence: Option<String>,
    reason: String,
    by: String,
    expires: toml::value::Datetime,
    #[serde(default)]
    allow_malicious: bool,
}

/// A checked entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Lower-case hex.
    pub sha256: String,
    pub rule: RuleRef,
    pub evidence: Option<String>,
    pub reason: String,
    pub by: String,
    /// `YYYY-MM-DD`.
    pub expires: String,
    pub allow_malicious: bool,
}

impl Entry {
    pub(super) fn check(file: EntryFile, number: usize) -> Result<Entry, String> {
        let at = format!("[[accept]] entry {number}");
        let sha256 = file.sha256.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "{at}: sha256 `{}` is not a SHA-256 (64 hex digits)",
                file.sha256
            ));
        }
        let expires = match (file.expires.date, file.expires.time) {
            (Some(d), None) => format!("{:04}-{:02}-{:02}", d.year, d.month, d.day),
            _ => {
                return Err(format!(
                    "{at}: expires = {} is not a date (write it as 2027-03-31)",
                    file.expires
                ));
            }
        };
        for (key, value) in [("reason", &file.reason), ("by", &file.by)] {
            if value.trim().is_empty() {
                return Err(format!("{at}: `{key}` is empty"));
            }
        }
        Ok(Entry {
            sha256,
            rule: file.rule,
            evidence: file.evidence,
            reason: file.reason,
            by: file.by,
            expires,
            allow_malicious: file.allow_malicious,
        })
    }

    fn matches(&self, sha256: &str, finding: &Finding) -> bool {
        self.sha256.eq_ignore_ascii_case(sha256)
            && finding.rule_id == self.rule
            && self
                .evidence
                .as_ref()
                .is_none_or(|e| finding.evidence.as_ref() == Some(e))
    }

    /// How reports name the entry.
    fn describe(&self, number: usize, policy: &str) -> String {
        format!(
            "[[accept]] entry {number} of {policy}: {} on sha256 {}… accepted by {} until {}: {}",
            self.rule,
            self.sha256.get(..16).unwrap_or(&self.sha256),
            self.by,
            self.expires,
            self.reason
        )
    }
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today_utc() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    now.get(..10).unwrap_or("9999-12-31").to_owned()
}

/// What a run does with the entries.
pub(super) struct Apply<'a> {
    pub entries: &'a [Entry],
    /// Why the entries may not accept anything (an untrusted policy), if so.
    pub refused: Option<&'a str>,
    /// `admit`: no malicious finding is ever accepted.
    pub admission: bool,
    pub today: &'a str,
    /// The policy's path, as reports name it.
    pub policy: &'a str,
}

impl Apply<'_> {
    /// Marks the findings of `report` that an entry accepts, adds the findings that say what
    /// happened to each entry that matched, and decides the verdict again.
    pub fn apply(&self, report: &mut ArtifactReport) {
        let Some(sha256) = report.sha256.clone() else {
            return;
        };
        if self.entries.is_empty() {
            return;
        }
        // One note per entry and outcome, however many findings the entry matched.
        let mut notes: BTreeSet<(usize, RuleId, String)> = BTreeSet::new();
        for finding in &mut report.findings {
            if finding.accepted.is_some() {
                continue;
            }
            for (index, entry) in self.entries.iter().enumerate() {
                if !entry.matches(&sha256, finding) {
                    continue;
                }
                let number = index + 1;
                let malicious = finding.verdict == Implies::Malicious;
                let refusal = if let Some(why) = self.refused {
                    Some(why.to_owned())
                } else if malicious && !entry.allow_malicious {
                    Some(format!(
                        "the {} finding implies malicious and the entry does not say allow_malicious = true",
                        finding.rule_id
                    ))
                } else if malicious && self.admission {
                    Some("admit never admits a malicious finding".to_owned())
                } else {
                    None
                };
                if let Some(why) = refusal {
                    notes.insert((
                        number,
                        RuleId::AcceptedRiskRefused,
                        format!("accepted-risk entry {number} not honoured: {why}; the {} finding counts", finding.rule_id),
                    ));
                    continue;
                }
                if self.today > entry.expires.as_str() {
                    notes.insert((
                        number,
                        RuleId::AcceptedRiskExpired,
                        format!(
                            "accepted-risk entry {number} expired on {}; the {} finding counts again",
                            entry.expires, finding.rule_id
                        ),
                    ));
                    continue;
                }
                finding.accepted = Some(Accepted {
                    reason: entry.reason.clone(),
                    by: entry.by.clone(),
                    expires: entry.expires.clone(),
                    allow_malicious: malicious,
                    entry: number,
                });
                if malicious {
                    notes.insert((
                        number,
                        RuleId::AcceptedMalicious,
                        format!(
                            "a malicious {} finding is accepted by entry {number} (allow_malicious = true); loading the file still does what it describes",
                            finding.rule_id
                        ),
                    ));
                }
                break;
            }
        }
        for (number, rule, message) in notes {
            let Some(entry) = self.entries.get(number - 1) else {
                continue;
            };
            let location = Location {
                path: report.path.clone(),
                member: None,
                member_chain: Vec::new(),
                offset: None,
                line: None,
            };
            report.findings.push(Finding::new(
                rule,
                location,
                message,
                Some(entry.describe(number, self.policy)),
            ));
        }
        report.verdict = ArtifactReport::decide(&report.findings, report.error.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::finding::Verdict;
    use crate::policy::Policy;

    const SHA: &str = "ab0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd";

    fn report(findings: &[(RuleId, &str)]) -> ArtifactReport {
        let findings: Vec<Finding> = findings
            .iter()
            .map(|(rule, evidence)| {
                let location = Location {
                    path: "m.pkl".to_owned(),
                    member: None,
                    member_chain: Vec::new(),
                    offset: Some(3),
                    line: None,
                };
                Finding::new(
                    *rule,
                    location,
                    "m".to_owned(),
                    Some((*evidence).to_owned()),
                )
            })
            .collect();
        ArtifactReport {
            verdict: ArtifactReport::decide(&findings, None),
            findings,
            sha256: Some(SHA.to_owned()),
            error: None,
            ..ArtifactReport::failed("m.pkl".to_owned(), String::new())
        }
    }

    fn policy(entry: &str) -> Policy {
        let mut policy = Policy::parse(&format!(
            "[[accept]]\nreason = \"reviewed: our own class\"\nby = \"alice\"\n{entry}\n"
        ))
        .unwrap();
        policy.set_today("2026-06-01");
        policy
    }

    fn rules(report: &ArtifactReport) -> Vec<String> {
        report
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{}{}",
                    f.rule_id,
                    if f.accepted.is_some() { "+" } else { "" }
                )
            })
            .collect()
    }

    #[test]
    fn an_entry_accepts_its_finding_which_no_longer_decides_the_verdict() {
        let policy = policy(&format!(
            "sha256 = \"{}\"\nrule = \"PKL002\"\nexpires = 2026-06-01",
            SHA.to_uppercase()
        ));
        let mut r = report(&[(RuleId::PickleUnknownGlobal, "lab.Model()")]);
        assert_eq!(r.verdict, Verdict::Suspicious);
        policy.adjust("m.pkl", &mut r);
        assert_eq!(rules(&r), ["PKL002+"]);
        assert_eq!(r.verdict, Verdict::Clean);
        let accepted = r.findings[0].accepted.as_ref().unwrap();
        assert_eq!(
            (
                accepted.by.as_str(),
                accepted.expires.as_str(),
                accepted.entry
            ),
            ("alice", "2026-06-01", 1)
        );
        assert!(!accepted.allow_malicious);
        // Another rule on the same file still counts.
        let mut r = report(&[
            (RuleId::PickleUnknownGlobal, "lab.Model()"),
            (RuleId::PickleTrailingData, "x"),
        ]);
        policy.adjust("m.pkl", &mut r);
        assert_eq!(rules(&r), ["PKL002+", "PKL004"]);
        assert_eq!(r.verdict, Verdict::Suspicious);
    }

    #[test]
    fn the_evidence_narrows_an_entry_and_a_wrong_hash_matches_nothing() {
        let policy = policy(&format!(
            "sha256 = \"{SHA}\"\nrule = \"PKL002\"\nevidence = \"lab.Model()\"\nexpires = 2027-01-01"
        ));
        let mut r = report(&[
            (RuleId::PickleUnknownGlobal, "lab.Model()"),
            (RuleId::PickleUnknownGlobal, "lab.Other()"),
        ]);
        policy.adjust("m.pkl", &mut r);
        assert_eq!(rules(&r), ["PKL002+", "PKL002"]);
        assert_eq!(r.verdict, Verdict::Suspicious);

        let other = SHA.replace("ab01", "ab02");
        let policy = super::tests::policy(&format!(
            "sha256 = \"{other}\"\nrule = \"PKL002\"\nexpires = 2027-01-01"
        ));
        let mut r = report(&[(RuleId::PickleUnknownGlobal, "lab.Model()")]);
        policy.adjust("m.pkl", &mut r);
        assert_eq!(rules(&r), ["PKL002"]);
        assert_eq!(r.verdict, Verdict::Suspicious);
    }

    #[test]
    fn an_expired_entry_is_loud_and_the_finding_counts_again() {
        let policy = policy(&format!(
            "sha256 = \"{SHA}\"\nrule = \"PKL002\"\nexpires = 2026-05-31"
        ));
        let mut r = report(&[
            (RuleId::PickleUnknownGlobal, "a()"),
            (RuleId::PickleUnknownGlobal, "b()"),
        ]);
        policy.adjust("m.pkl", &mut r);
        assert_eq!(
            rules(&r),
            ["PKL002", "PKL002", "ACC001"],
            "one note per entry"
        );
        assert_eq!(r.verdict, Verdict::Suspicious);
        let note = &r.findings[2];
        assert!(note.message.contains("expired on 2026-05-31"), "{note:?}");
        let evidence = note.evidence.as_deref().unwrap();
        assert!(
            evidence.contains("entry 1") && evidence.contains("alice"),
            "{evidence}"
        );
    }

    #[test]
    fn a_malicious_finding_needs_allow_malicious_and_says_so() {
        let entry = format!("sha256 = \"{SHA}\"\nrule = \"PKL001\"\nexpires = 2027-01-01");
        let mut r = report(&[(RuleId::PickleDeniedGlobal, "posix.system('x')")]);
        policy(&entry).adjust("m.pkl", &mut r);
        assert_eq!(rules(&r), ["PKL001", "ACC002"]);
        assert_eq!(r.verdict, Verdict::Malicious);
        assert!(r.findings[1].message.contains("allow_malicious"));

        let allowed = policy(&format!("{entry}\nallow_malicious = true"));
        let mut r = report(&[(RuleId::PickleDeniedGlobal, "posix.system('x')")]);
        allowed.adjust("m.pkl", &mut r);
        assert_eq!(rules(&r), ["PKL001+", "ACC003"]);
        assert_eq!(r.verdict, Verdict::Clean);
        assert!(r.findings[0].accepted.as_ref().unwrap().allow_malicious);
        assert_eq!(
            r.findings[1].severity,
            crate::model::finding::Severity::High
        );

        // `admit` never admits a malicious finding, flag or not.
        let mut admission = policy(&format!("{entry}\nallow_malicious = true"));
        admission.for_admission();
        let mut r = report(&[(RuleId::PickleDeniedGlobal, "posix.system('x')")]);
        admission.adjust("m.pkl", &mut r);
        assert_eq!(rules(&r), ["PKL001", "ACC002"]);
        assert_eq!(r.verdict, Verdict::Malicious);
    }

    #[test]
    fn an_untrusted_policy_accepts_nothing() {
        let mut policy = policy(&format!(
            "sha256 = \"{SHA}\"\nrule = \"PKL002\"\nexpires = 2027-01-01"
        ));
        policy.refuse_accepts("it lies inside the scanned tree".to_owned());
        let mut r = report(&[(RuleId::PickleUnknownGlobal, "lab.Model()")]);
        policy.adjust("m.pkl", &mut r);
        assert_eq!(rules(&r), ["PKL002", "ACC002"]);
        assert!(r.findings[1].message.contains("inside the scanned tree"));
        assert_eq!(r.verdict, Verdict::Suspicious);
    }

    #[test]
    fn bad_entries_are_errors() {
        for (entry, expected) in [
            (
                "sha256 = \"abc\"\nrule = \"PKL002\"\nexpires = 2027-01-01".to_owned(),
                "64 hex",
            ),
            (
                format!("sha256 = \"{SHA}\"\nrule = \"PKL999\"\nexpires = 2027-01-01"),
                "PKL999",
            ),
            (
                format!("sha256 = \"{SHA}\"\nrule = \"PKL002\"\nexpires = \"soon\""),
                "expires",
            ),
            (
                format!("sha256 = \"{SHA}\"\nrule = \"PKL002\"\nexpires = 2027-01-01T10:00:00Z"),
                "not a date",
            ),
            (format!("sha256 = \"{SHA}\"\nrule = \"PKL002\""), "expires"),
            (
                format!("sha256 = \"{SHA}\"\nrule = \"PKL002\"\nexpires = 2027-01-01\nreasn = 1"),
                "reasn",
            ),
        ] {
            let text = format!("[[accept]]\nreason = \"r\"\nby = \"b\"\n{entry}\n");
            let err = Policy::parse(&text).unwrap_err();
            assert!(err.contains(expected), "{entry}: {err}");
        }
        assert!(today_utc().len() == 10 && today_utc().starts_with("20"));
    }
}

//! Matching one extract against the compiled rules with a scanner owned by one worker thread.

use std::time::{Duration, Instant};

use yara_x::{ScanError, ScanResults, blocks};

use super::{SignatureInfo, Signatures};
use crate::model::finding::{Finding, Implies, Location, MatchedString, Severity, SignatureMatch};
use crate::scan::context::Origin;

/// What signature findings advise, beyond the rule's own reference.
pub const REMEDIATION: &str = "Do not load the artifact. Read the matched content in its context (the finding's location and evidence) and, if it is not what the model's publisher intended, report it to them.";

/// What a match where its rule does not apply advises.
const NOTE: &str = "Nothing to do for loading: no loader runs this text. If you copy commands from it, read them first.";

/// Extracts larger than this are scanned block by block, so that a multi-gigabyte member is
/// streamed (and its pages released) rather than handed to the scanner whole.
pub const BLOCK_THRESHOLD: usize = 64 << 20;
/// Block size and overlap of block scans: a pattern match longer than the overlap that straddles
/// two blocks is missed.
const BLOCK: usize = 16 << 20;
const OVERLAP: usize = 4 << 10;
/// Matches kept per pattern and scan, and matches reported per rule and extract.
const MAX_MATCHES: usize = 64;
const MAX_REPORTED: usize = 8;
/// Bytes of a matched string shown in evidence.
const SNIPPET: usize = 96;

/// What a rule can condition on, as external variables.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'v> {
    pub origin: &'v str,
    pub format: &'v str,
    pub member: &'v str,
    pub context: &'v str,
}

/// A rule that matched, with its first matches (offsets inside the extract).
#[derive(Debug, Clone)]
pub struct Hit {
    pub rule: SignatureInfo,
    pub matches: Vec<MatchedString>,
    /// Matches beyond those listed.
    pub more: usize,
}

impl Hit {
    /// The finding for this match in the extract of `size` bytes from `origin` at `location`:
    /// the rule's description, severity and verdict, the matched strings as evidence.
    ///
    /// Where the rule does not apply (its `origins`), the finding is an `info` note that
    /// implies clean: in documentation, "mentioned in documentation, not executed by loading".
    pub fn into_finding(
        self,
        origin: Origin,
        context: &str,
        location: Location,
        size: usize,
    ) -> Finding {
        let rule = self.rule;
        let applies = rule.applies_to(origin);
        let metadata = origin.class() == "metadata";
        let origin = origin.as_str();
        let mut about = rule
            .description
            .clone()
            .unwrap_or_else(|| format!("matches signature rule {}.{}", rule.namespace, rule.name));
        if !applies {
            about = if origin == "documentation" {
                format!("mentioned in documentation, not executed by loading: {about}")
            } else if origin == "notebook" {
                format!(
                    "in a notebook cell, which a person runs by hand and no model loader executes: {about}"
                )
            } else {
                format!(
                    "matched where the rule does not apply (it applies to {}): {about}",
                    rule.origins.join(", ")
                )
            };
        }
        let mut shown: Vec<String> = self
            .matches
            .iter()
            .map(|m| format!("{} at {}: {}", m.pattern, m.offset, m.data))
            .collect();
        if self.more > 0 {
            shown.push(format!("{} more", self.more));
        }
        let remediation = match (&rule.reference, applies) {
            (_, false) => NOTE.to_owned(),
            (Some(r), true) => format!("{REMEDIATION} Reference: {r}"),
            (None, true) => REMEDIATION.to_owned(),
        };
        let (severity, mut verdict) = if applies {
            (rule.severity, rule.implies)
        } else {
            (Severity::Info, Implies::Clean)
        };
        // No loader runs metadata: code there is a second stage for other code, or a lure.
        if metadata && verdict == Implies::Malicious {
            verdict = Implies::Suspicious;
            about = format!(
                "metadata is not executed by loading; it is a staged payload or a lure: {about}"
            );
        }
        Finding {
            rule_id: rule.id,
            severity,
            verdict,
            message: format!("{about} ({origin}: {context})"),
            location,
            evidence: Some(shown.join("; ")),
            remediation,
            signature: Some(SignatureMatch {
                origin: origin.to_owned(),
                context: context.to_owned(),
                size: size as u64,
                reference: rule.reference,
                matches: self.matches,
            }),
            accepted: None,
        }
    }
}

/// Why a scan stopped before the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Timeout,
    Failed(String),
}

/// A worker thread's scanners (one for whole extracts, one for block scans), created on first
/// use and reused for every extract the thread scans.
pub struct SignatureScanner<'s> {
    signatures: &'s Signatures,
    /// [`BLOCK_THRESHOLD`] and [`BLOCK`], smaller in tests.
    block_threshold: usize,
    block: usize,
    whole: Option<yara_x::Scanner<'s>>,
    blocks: Option<blocks::Scanner<'s>>,
}

/// Scanning as the engine sees it: a trait object, so that an analysis context can lend its
/// thread's scanner to the contexts of nested members.
pub trait Matcher {
    /// Matches `data` against every rule within `budget`. `release` is called with each block
    /// of a block scan once it has been scanned.
    fn scan(
        &mut self,
        vars: Vars<'_>,
        data: &[u8],
        budget: Duration,
        release: &dyn Fn(&[u8]),
    ) -> Result<Vec<Hit>, Stop>;
}

impl Matcher for SignatureScanner<'_> {
    fn scan(
        &mut self,
        vars: Vars<'_>,
        data: &[u8],
        budget: Duration,
        release: &dyn Fn(&[u8]),
    ) -> Result<Vec<Hit>, Stop> {
        self.scan_data(vars, data, budget, release)
    }
}

impl<'s> SignatureScanner<'s> {
    pub fn new(signatures: &'s Signatures) -> Self {
        SignatureScanner {
            signatures,
            block_threshold: BLOCK_THRESHOLD,
            block: BLOCK,
            whole: None,
            blocks: None,
        }
    }

    fn scan_data(
        &mut self,
        vars: Vars<'_>,
        data: &[u8],
        budget: Duration,
        release: &dyn Fn(&[u8]),
    ) -> Result<Vec<Hit>, Stop> {
        if budget.is_zero() {
            return Err(Stop::Timeout);
        }
        if data.len() > self.block_threshold {
            return self.scan_blocks(vars, data, budget, release);
        }
        let signatures = self.signatures;
        let scanner = self.whole.get_or_insert_with(|| {
            let mut s = yara_x::Scanner::new(&signatures.rules);
            s.max_matches_per_pattern(MAX_MATCHES);
            s
        });
        for (name, value) in vars.pairs() {
            scanner
                .set_global(name, value)
                .map_err(|e| Stop::Failed(e.to_string()))?;
        }
        scanner.set_timeout(budget);
        let results = scanner.scan(data).map_err(stop)?;
        Ok(hits(signatures, &results, data))
    }

    fn scan_blocks(
        &mut self,
        vars: Vars<'_>,
        data: &[u8],
        budget: Duration,
        release: &dyn Fn(&[u8]),
    ) -> Result<Vec<Hit>, Stop> {
        let signatures = self.signatures;
        let scanner = self.blocks.get_or_insert_with(|| {
            let mut s = blocks::Scanner::new(&signatures.rules);
            s.max_matches_per_pattern(MAX_MATCHES);
            s
        });
        for (name, value) in vars.pairs() {
            scanner
                .set_global(name, value)
                .map_err(|e| Stop::Failed(e.to_string()))?;
        }
        let start = Instant::now();
        let mut base = 0;
        while base < data.len() {
            let left = budget.saturating_sub(start.elapsed());
            if left.is_zero() {
                // Finish the scan so the scanner is reset for the next extract.
                let _ = scanner.finish();
                return Err(Stop::Timeout);
            }
            scanner.set_timeout(left);
            let end = base.saturating_add(self.block).min(data.len());
            let block = data
                .get(base..end.saturating_add(OVERLAP).min(data.len()))
                .unwrap_or_default();
            if let Err(e) = scanner.scan(base, block) {
                let _ = scanner.finish();
                return Err(stop(e));
            }
            release(data.get(base..end).unwrap_or_default());
            base = end;
        }
        let results = scanner.finish().map_err(stop)?;
        Ok(hits(signatures, &results, data))
    }
}

impl<'v> Vars<'v> {
    fn pairs(self) -> [(&'static str, &'v str); 4] {
        [
            ("origin", self.origin),
            ("format", self.format),
            ("member", self.member),
            ("context", self.context),
        ]
    }
}

fn stop(e: ScanError) -> Stop {
    match e {
        ScanError::Timeout => Stop::Timeout,
        other => Stop::Failed(other.to_string()),
    }
}

fn hits(signatures: &Signatures, results: &ScanResults<'_, '_>, data: &[u8]) -> Vec<Hit> {
    let mut out = Vec::new();
    for rule in results.matching_rules() {
        let Some(info) = signatures.info(rule.namespace(), rule.identifier()) else {
            continue;
        };
        let mut matches = Vec::new();
        for pattern in rule.patterns() {
            for m in pattern.matches() {
                let range = m.range();
                let cut = range.len() > SNIPPET;
                let shown = data.get(range.start..range.end.min(range.start + SNIPPET));
                matches.push(MatchedString {
                    pattern: pattern.identifier().to_owned(),
                    offset: range.start as u64,
                    data: escape(shown.unwrap_or_default(), cut),
                });
            }
        }
        matches.sort_by(|a, b| a.offset.cmp(&b.offset).then(a.pattern.cmp(&b.pattern)));
        let more = matches.len().saturating_sub(MAX_REPORTED);
        matches.truncate(MAX_REPORTED);
        out.push(Hit {
            rule: info.clone(),
            matches,
            more,
        });
    }
    out
}

/// Printable ASCII as is, everything else as `\xNN`; `…` when cut.
fn escape(bytes: &[u8], cut: bool) -> String {
    let mut out: String = bytes
        .iter()
        .map(|&b| match b {
            b'\\' => "\\\\".to_owned(),
            0x20..=0x7e => char::from(b).to_string(),
            b'\n' => "\\n".to_owned(),
            b'\t' => "\\t".to_owned(),
            _ => format!("\\x{b:02x}"),
        })
        .collect();
    if cut {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signatures::{Source, compile};

    fn signatures() -> Signatures {
        let text = r#"rule pool { meta: severity = "high" strings: $s = "stratum+tcp://" condition: $s and origin == "raw_bytes" }"#;
        compile(&[Source {
            namespace: "t".to_owned(),
            file: "t.yar".to_owned(),
            text: text.to_owned(),
        }])
        .unwrap()
    }

    const VARS: Vars<'static> = Vars {
        origin: "raw_bytes",
        format: "unknown",
        member: "m",
        context: "whole file",
    };

    #[test]
    fn block_scans_find_matches_across_block_edges_at_their_offset() {
        let sigs = signatures();
        let mut scanner = sigs.scanner();
        scanner.block_threshold = 1000;
        scanner.block = 256;
        let mut data = vec![b'.'; 3000];
        let at = 256 * 3 - 5; // straddles the edge of the third block
        data[at..at + 14].copy_from_slice(b"stratum+tcp://");
        let released = std::cell::Cell::new(0);
        let hits = scanner
            .scan(VARS, &data, Duration::from_secs(5), &|part| {
                released.set(released.get() + part.len())
            })
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].matches[0].offset, at as u64);
        assert_eq!(released.get(), data.len(), "every block let go once");
        // The scanner is reusable, and whole scans see the same.
        let again = scanner
            .scan(VARS, &data[..700], Duration::from_secs(5), &|_| {})
            .unwrap();
        assert!(again.is_empty());
        let whole = scanner
            .scan(VARS, &data[700..900], Duration::from_secs(5), &|_| {})
            .unwrap();
        assert_eq!(whole[0].matches[0].offset, (at - 700) as u64);
    }

    #[test]
    fn a_spent_budget_stops_the_scan() {
        let sigs = signatures();
        let mut scanner = sigs.scanner();
        let stop = scanner.scan(VARS, b"stratum+tcp://x", Duration::ZERO, &|_| {});
        assert_eq!(stop.unwrap_err(), Stop::Timeout);
    }

    #[test]
    fn matched_bytes_are_escaped() {
        assert_eq!(escape(b"a\\b\n\x00", false), "a\\\\b\\n\\x00");
        assert_eq!(escape(b"ab", true), "ab…");
    }
}

//! `docs/rules.md`: every rule with its explanation and fix, built-in and shipped signature rules,
//! generated from the registry (a test keeps the file in step). SARIF `helpUri`s point at its
//! headings when the build knows where the file is published.

use crate::model::finding::Verdict;
use crate::model::rules::{self, RuleId};
use crate::signatures::SignatureInfo;

/// What signature findings advise.
use crate::signatures::REMEDIATION as SIGNATURE_FIX;

/// Where `docs/rules.md` is published, when the build knows: `QUARANTINE_RULES_URL` at build
/// time, else `<repository>/blob/main/docs/rules.md` from `Cargo.toml`'s `repository`.
pub fn published_at() -> Option<String> {
    if let Some(url) = option_env!("QUARANTINE_RULES_URL").filter(|u| !u.is_empty()) {
        return Some(url.to_owned());
    }
    let repository = env!("CARGO_PKG_REPOSITORY");
    (!repository.is_empty()).then(|| {
        format!(
            "{}/blob/main/docs/rules.md",
            repository.trim_end_matches('/')
        )
    })
}

/// The fragment GitHub gives a heading: lower case, punctuation other than `-` and `_` dropped,
/// spaces made `-`.
pub fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The heading of a rule's section.
pub fn heading(id: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{id} {name}"),
        None => id.to_owned(),
    }
}

/// The URL of a rule's section, when the file's address is known.
pub fn help_uri(id: &str, name: Option<&str>) -> Option<String> {
    published_at().map(|base| format!("{base}#{}", anchor(&heading(id, name))))
}

/// The whole of `docs/rules.md`.
pub fn markdown(signatures: &[SignatureInfo]) -> String {
    let mut out = String::from(
        "# quarantine rules\n\n\
         Generated from the rule registry and the shipped signature rules; do not edit by hand \
         (`BLESS=1 cargo test --release --locked --test readme` rewrites it). SARIF reports link \
         each rule here (`helpUri`) when the build knows this file's address (`repository` in \
         `Cargo.toml`, or `QUARANTINE_RULES_URL` at build time).\n\n\
         ## Built-in rules\n\n",
    );
    out.push_str(&rules::markdown());
    out.push_str(
        "## Signature rules\n\n\
         YARA-X rules shipped in `signatures/`, matched against what the analysers extract. A \
         match counts at the rule's severity only in the origins the rule applies to (its \
         `origins` meta); elsewhere, in documentation above all, it is an `info` note that \
         implies clean (\"mentioned in documentation, not executed by loading\").\n\n",
    );
    for rule in signatures {
        out.push_str(&signature_section(rule));
    }
    out
}

/// One signature rule's section.
pub fn signature_section(rule: &SignatureInfo) -> String {
    let mut out = format!(
        "### {}\n\n*Severity {}, implies {}; applies to {}.* {}\n\n",
        heading(&rule.id.to_string(), None),
        rule.severity.as_str(),
        Verdict::from(rule.implies).as_str(),
        rule.origins.join(", "),
        rule.description.as_deref().unwrap_or("(no description)")
    );
    if let Some(reference) = &rule.reference {
        out.push_str(&format!("Reference: <{reference}>\n\n"));
    }
    out.push_str(&format!("**Fix:** {SIGNATURE_FIX}\n\n"));
    out
}

/// Help text and markdown for a registry rule.
pub fn builtin_help(id: RuleId) -> (String, String) {
    let info = id.info();
    (
        format!("{}\n\nFix: {}", info.explanation, info.remediation),
        format!("{}\n\n**Fix:** {}", info.explanation, info.remediation),
    )
}

/// Help text and markdown for a signature rule.
pub fn signature_help(rule: &SignatureInfo) -> (String, String) {
    let about = rule
        .description
        .as_deref()
        .unwrap_or("A signature (YARA) rule.");
    let origins = rule.origins.join(", ");
    let reference = rule
        .reference
        .as_deref()
        .map_or(String::new(), |r| format!("\n\nReference: {r}"));
    let text = format!(
        "{about}\n\nA signature rule from `signatures/{}.yar`, matched against content the analysers extract (pickle call arguments, ONNX attributes, text members, small files). It counts at its severity in: {origins}; elsewhere (documentation) it is an info note.{reference}\n\nFix: {SIGNATURE_FIX}",
        rule.namespace
    );
    let markdown = format!(
        "{about}\n\nA signature rule from `signatures/{}.yar`, matched against content the analysers extract. It counts at its severity in: {origins}; elsewhere (documentation) it is an info note.{reference}\n\n**Fix:** {SIGNATURE_FIX}",
        rule.namespace
    );
    (text, markdown)
}

#[cfg(test)]
mod tests {
    #[test]
    fn anchors_are_githubs() {
        assert_eq!(
            super::anchor("PKL001 pickle-denied-global"),
            "pkl001-pickle-denied-global"
        );
        assert_eq!(
            super::anchor("YAR:reverse_shells.bash_dev_tcp"),
            "yarreverse_shellsbash_dev_tcp"
        );
    }
}

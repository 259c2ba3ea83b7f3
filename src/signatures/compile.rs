//! Compiling rule sources into [`Signatures`], with errors and warnings located in their file.

use std::collections::HashMap;

use yara_x::{Compiler, MetaValue, SourceCode};

use super::{Diagnostic, SignatureError, SignatureInfo, Signatures, Source};
use crate::model::finding::{Implies, Severity};
use crate::model::rules::RuleRef;

/// The external variables every rule can use, with the value they have when unset.
pub const GLOBALS: &[&str] = &["origin", "format", "member", "context"];

/// Compiles every source, each in its own namespace. All errors are collected, not only the
/// first; a rule whose `meta` gives an unknown severity or verdict is an error too.
pub fn compile(sources: &[Source]) -> Result<Signatures, SignatureError> {
    let mut compiler = Compiler::new();
    for name in GLOBALS {
        // Defining a fresh identifier with a string value cannot fail.
        let _ = compiler.define_global(name, "");
    }
    for source in sources {
        compiler.new_namespace(&source.namespace);
        // Errors are collected by the compiler and read below.
        let _ =
            compiler.add_source(SourceCode::from(source.text.as_str()).with_origin(&source.file));
    }
    let texts: HashMap<&str, &str> = sources
        .iter()
        .map(|s| (s.file.as_str(), s.text.as_str()))
        .collect();
    let locate = |labels: Vec<(Option<String>, usize)>| -> (String, Option<usize>) {
        let Some((origin, start)) = labels.into_iter().next() else {
            return (String::new(), None);
        };
        let origin = origin.unwrap_or_default();
        let line = texts
            .get(origin.as_str())
            .and_then(|t| t.get(..start))
            .map(|before| before.matches('\n').count() + 1);
        (origin, line)
    };
    // Errors and warnings are distinct types with the same accessors.
    macro_rules! diagnostic {
        ($d:expr) => {{
            let labels = $d
                .labels()
                .map(|l| (l.origin().map(str::to_owned), l.span().start()))
                .collect();
            let text = $d
                .labels()
                .next()
                .map(|l| l.text().to_owned())
                .unwrap_or_default();
            let (file, line) = locate(labels);
            Diagnostic {
                file,
                line,
                code: $d.code().to_owned(),
                message: join($d.title(), &text),
                report: $d.to_string(),
            }
        }};
    }
    let mut errors: Vec<Diagnostic> = compiler.errors().iter().map(|e| diagnostic!(e)).collect();
    let warnings: Vec<Diagnostic> = compiler.warnings().iter().map(|w| diagnostic!(w)).collect();
    if !errors.is_empty() {
        return Err(SignatureError::Compile(errors));
    }
    let rules = compiler.build();
    let infos = infos(&rules, sources, &mut errors);
    if !errors.is_empty() {
        return Err(SignatureError::Compile(errors));
    }
    Ok(Signatures {
        rules,
        infos,
        warnings,
        source_hash: super::cache::key(sources),
    })
}

fn join(title: &str, label: &str) -> String {
    if label.is_empty() || label == title {
        title.to_owned()
    } else {
        format!("{title}: {label}")
    }
}

/// What each rule's meta says; bad meta values are reported in `errors`.
pub(super) fn infos(
    rules: &yara_x::Rules,
    sources: &[Source],
    errors: &mut Vec<Diagnostic>,
) -> Vec<SignatureInfo> {
    let mut infos = Vec::new();
    for rule in rules.iter() {
        let (namespace, name) = (rule.namespace(), rule.identifier());
        let file = sources
            .iter()
            .find(|s| s.namespace == namespace)
            .map_or_else(String::new, |s| s.file.clone());
        let mut info = SignatureInfo {
            id: RuleRef::signature(namespace, name),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            severity: Severity::Medium,
            implies: Implies::Suspicious,
            description: None,
            reference: None,
            origins: super::default_origins(),
        };
        for (key, value) in rule.metadata() {
            let text = match value {
                MetaValue::String(s) => s.to_owned(),
                _ => continue,
            };
            let mut bad = |expected: &str| {
                let message =
                    format!("rule `{name}`: meta {key} = \"{text}\" is not one of {expected}");
                errors.push(Diagnostic {
                    file: file.clone(),
                    line: None,
                    code: "meta".to_owned(),
                    report: format!("error: {file}: {message}"),
                    message,
                });
            };
            match key {
                "severity" => match parse_severity(&text) {
                    Some(s) => info.severity = s,
                    None => bad("info, low, medium, high, critical"),
                },
                "verdict" => match parse_verdict(&text) {
                    Some(v) => info.implies = v,
                    None => bad("clean, suspicious, malicious"),
                },
                "origins" => match super::expand_origins(&text) {
                    Ok(origins) if !origins.is_empty() => info.origins = origins,
                    _ => bad(
                        "origin names (pickle_call_arg, text_member, documentation, …) or classes (code, metadata, data, documentation, all), comma-separated",
                    ),
                },
                "description" => info.description = Some(text),
                "reference" => info.reference = Some(text),
                _ => {}
            }
        }
        infos.push(info);
    }
    infos
}

fn parse_severity(text: &str) -> Option<Severity> {
    Some(match text.to_ascii_lowercase().as_str() {
        "info" => Severity::Info,
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        _ => return None,
    })
}

fn parse_verdict(text: &str) -> Option<Implies> {
    Some(match text.to_ascii_lowercase().as_str() {
        "clean" => Implies::Clean,
        "suspicious" => Implies::Suspicious,
        "malicious" => Implies::Malicious,
        _ => return None,
    })
}

//! Jinja2 chat templates, wherever they live: GGUF `tokenizer.chat_template[.<name>]` (handed
//! over by the GGUF analyser), `tokenizer_config.json` / `chat_template.json` /
//! `processor_config.json` (`chat_template` as a string or a list of `{name, template}`), and
//! template text files (`chat_template.jinja`), all recognised by content.
//!
//! Templates are parsed with minijinja's parser (the Jinja2 grammar; transformers'
//! `{% generation %}` tag is rewritten to a plain block first) and the AST is analysed, not
//! the text: every attribute, item and `|attr` lookup, `map(attribute=...)`-style dotted
//! paths and `str.format` fields, with names folded to constants ([`fold`]) so that
//! `'__glo' ~ 'bals__'`, `['po','pen']|join` or `'\x5f\x5f'` escapes are seen as the name
//! Python will look up.

pub mod fold;
mod literals;
mod repair;
mod walk;

use minijinja::machinery::parse;
use minijinja::syntax::SyntaxConfig;
use serde_json::Value as Json;

use crate::formats::json;
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, Origin};

use repair::{parenthesise_filter_calls, rewrite_extensions};

/// How sure the caller is that the text is a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// Named as a chat template: a parse error is a finding.
    Template,
    /// Any other string with Jinja markers: analysed if it parses, left alone if not.
    MaybeTemplate,
}

/// Templates longer than this are not parsed (real ones are a few KiB; the longest public
/// tool-use templates about 20 KiB).
const MAX_TEMPLATE: usize = 1 << 20;

/// Whether a string looks like Jinja source.
pub fn looks_like_jinja(text: &str) -> bool {
    text.contains("{%") || text.contains("{{")
}

/// What one template does that matters.
#[derive(Debug, Default)]
pub struct Analysis {
    /// Accesses to Python internals: (what, folded rendering of the statement's expression).
    pub escapes: Vec<(String, String)>,
    /// Suspicious constructs: (what, where).
    pub suspicious: Vec<(String, String)>,
    /// Whether an attribute name could not be folded.
    dynamic_attribute: bool,
    /// Gadget or web-framework globals referenced.
    gadgets: Vec<String>,
    /// Folded strings that name Python internals.
    dunder_strings: Vec<String>,
    steps: usize,
}

/// Parses and analyses `source`, reporting findings at `offset` of the current member.
pub fn analyse_template(
    source: &str,
    context: &str,
    offset: Option<u64>,
    strictness: Strictness,
    ctx: &mut Ctx<'_>,
) {
    if source.len() > MAX_TEMPLATE {
        if strictness == Strictness::Template {
            ctx.report(
                RuleId::TemplateUnparseable,
                offset,
                format!(
                    "the chat template ({context}) is {} bytes, over the {MAX_TEMPLATE}-byte limit; it was not parsed",
                    source.len()
                ),
                None,
            );
        }
        return;
    }
    match analyse_source(source) {
        Err(e) => unparsed(source, &e, context, offset, strictness, ctx),
        Ok(analysis) => report(&analysis, context, offset, ctx),
    }
}

/// Names that, in a string constant of a template the scanner could not parse, say the
/// template is built to leave the sandbox.
const ESCAPE_NAMES: &[&str] = &[
    "__globals__",
    "__builtins__",
    "__import__",
    "__subclasses__",
    "__class__",
    "__init__",
    "__mro__",
    "__base__",
    "__bases__",
    "__getattribute__",
    "__getitem__",
];

/// Text that reads like a chat template: Jinja markers and the variables chat templates use.
fn looks_like_chat_template(text: &str) -> bool {
    looks_like_jinja(text)
        && [
            "messages",
            "add_generation_prompt",
            "bos_token",
            "eos_token",
            "raise_exception",
        ]
        .iter()
        .any(|w| text.contains(w))
}

/// A template minijinja does not parse (Jinja2 may): reported when it is named or reads as a
/// chat template, and its string constants (decoded as Jinja2 decodes them) still judged.
fn unparsed(
    source: &str,
    error: &str,
    context: &str,
    offset: Option<u64>,
    strictness: Strictness,
    ctx: &mut Ctx<'_>,
) {
    let lit = literals::rewrite(&rewrite_extensions(source));
    let joined: String = lit.strings.concat();
    let mut internals: Vec<&str> = ESCAPE_NAMES
        .iter()
        .copied()
        .filter(|n| lit.strings.iter().any(|s| s.contains(n)) || joined.contains(n))
        .collect();
    internals.dedup();
    let named = strictness == Strictness::Template || looks_like_chat_template(source);
    if !(named || !internals.is_empty() || !lit.unknown_names.is_empty()) {
        return;
    }
    ctx.report(
        RuleId::TemplateUnparseable,
        offset,
        format!("the chat template ({context}) does not parse as Jinja2 for the scanner: {error}; Jinja2 may still accept it, so what it does was not established"),
        None,
    );
    if !internals.is_empty() {
        ctx.report(
            RuleId::TemplateSuspiciousConstruct,
            offset,
            format!(
                "the chat template ({context}), which the scanner could not parse, has string constants naming Python internals ({})",
                internals.join(", ")
            ),
            Some(internals.join(", ")),
        );
    }
    unknown_names(&lit.unknown_names, context, offset, ctx);
}

fn unknown_names(names: &[String], context: &str, offset: Option<u64>, ctx: &mut Ctx<'_>) {
    if names.is_empty() {
        return;
    }
    let list = names
        .iter()
        .map(|n| format!("\\N{{{n}}}"))
        .collect::<Vec<_>>()
        .join(", ");
    ctx.report(
        RuleId::TemplateSuspiciousConstruct,
        offset,
        format!("the chat template ({context}) spells characters by Unicode name in a string ({list}), names the scanner cannot decode; Jinja2 decodes them, so the strings they build were not judged"),
        Some(list),
    );
}

fn report(analysis: &Analysis, context: &str, offset: Option<u64>, ctx: &mut Ctx<'_>) {
    for (what, evidence) in &analysis.escapes {
        ctx.report(
            RuleId::TemplateSandboxEscape,
            offset,
            format!("the chat template ({context}) {what}"),
            Some(evidence.clone()),
        );
    }
    let escalate = analysis.escapes.is_empty()
        && analysis.dynamic_attribute
        && (!analysis.gadgets.is_empty() || !analysis.dunder_strings.is_empty());
    if escalate {
        let mut why = Vec::new();
        if !analysis.gadgets.is_empty() {
            why.push(format!("uses {}", analysis.gadgets.join(", ")));
        }
        if !analysis.dunder_strings.is_empty() {
            why.push(format!(
                "carries strings naming Python internals ({})",
                analysis.dunder_strings.join(", ")
            ));
        }
        let evidence = analysis
            .suspicious
            .iter()
            .map(|(_, e)| e.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        ctx.report(
            RuleId::TemplateSandboxEscape,
            offset,
            format!(
                "the chat template ({context}) looks up attributes by names built at render time and {}: the shape of a sandbox escape whose names are hidden",
                why.join(" and ")
            ),
            Some(evidence),
        );
    }
    for (what, evidence) in &analysis.suspicious {
        ctx.report(
            RuleId::TemplateSuspiciousConstruct,
            offset,
            format!("the chat template ({context}) {what}"),
            Some(evidence.clone()),
        );
    }
    if analysis.escapes.is_empty() && !analysis.dynamic_attribute {
        for s in &analysis.dunder_strings {
            ctx.report(
                RuleId::TemplateSuspiciousConstruct,
                offset,
                format!(
                    "the chat template ({context}) builds the string `{s}`, a Python internal, without a visible lookup"
                ),
                None,
            );
        }
    }
}

fn parse_message(e: &minijinja::Error) -> String {
    let mut message = e.kind().to_string();
    if let Some(detail) = e.detail() {
        message = format!("{message}: {detail}");
    }
    if let Some(line) = e.line() {
        message = format!("{message} (line {line})");
    }
    message
}

/// Parses and analyses a template. `Err` holds the parser's message.
pub fn analyse_source(source: &str) -> Result<Analysis, String> {
    // Jinja2's string escapes decoded, and Jinja2 syntax minijinja refuses rewritten.
    let lit = literals::rewrite(&rewrite_extensions(source));
    let original = lit.text;
    let repaired;
    let source: &str = match parse(&original, "chat_template", SyntaxConfig::default()) {
        Ok(_) => &original,
        Err(e) => {
            // Calls right after filters are Jinja2 that minijinja refuses: analyse the
            // parenthesised form, which Jinja2 reads the same way.
            let message = parse_message(&e);
            repaired = parenthesise_filter_calls(&original).ok_or_else(|| message.clone())?;
            if parse(&repaired, "chat_template", SyntaxConfig::default()).is_err() {
                return Err(message);
            }
            &repaired
        }
    };
    let tree =
        parse(source, "chat_template", SyntaxConfig::default()).map_err(|e| parse_message(&e))?;
    let mut analysis = walk::analyse(source, &tree);
    if !lit.unknown_names.is_empty() {
        let list = lit
            .unknown_names
            .iter()
            .map(|n| format!("\\N{{{n}}}"))
            .collect::<Vec<_>>()
            .join(", ");
        analysis.suspicious.push((
            "spells characters by Unicode name in a string, names the scanner cannot decode (Jinja2 decodes them, so the strings they build were not judged)".to_owned(),
            list,
        ));
    }
    Ok(analysis)
}

/// Where JSON files carry chat templates: `chat_template` as a string, or a list of
/// `{"name", "template"}` (transformers' named templates).
fn json_templates(value: &Json) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    match value.get("chat_template") {
        Some(Json::String(t)) => out.push(("`chat_template`".to_owned(), t.as_str())),
        // transformers keeps named templates as a dict and renders the one asked for
        // (`"default"` unless the caller names another, `"tool_use"` with tools): all of them.
        Some(Json::Object(named)) => {
            for (name, t) in named {
                if let Some(t) = t.as_str() {
                    out.push((format!("`chat_template` `{name}`"), t));
                }
            }
        }
        Some(Json::Array(list)) => {
            for (i, entry) in list.iter().enumerate() {
                let name = entry
                    .get("name")
                    .and_then(Json::as_str)
                    .map_or_else(|| format!("#{i}"), str::to_owned);
                if let Some(t) = entry.get("template").and_then(Json::as_str) {
                    out.push((format!("`chat_template` `{name}`"), t));
                }
            }
        }
        _ => {}
    }
    out
}

/// JSON or template text files: templates in `tokenizer_config.json`-like objects, or a
/// `chat_template.jinja`-like text.
pub fn analyse_text(data: &[u8], ctx: &mut Ctx<'_>) {
    if data.len() > 64 << 20 {
        return;
    }
    let trimmed = data.trim_ascii_start();
    let jinja_start = ["{%", "{{", "{#"]
        .iter()
        .any(|m| trimmed.starts_with(m.as_bytes()));
    if json::starts_like_json(data) && !jinja_start {
        if !json::may_hold_key(data, &["\"chat_template\""]) {
            return;
        }
        let value = match json::parse_like_python(data) {
            Ok(value) => value,
            Err(e) => {
                return ctx.report(
                    RuleId::TemplateUnparseable,
                    Some(0),
                    format!("the text spells `chat_template` like a tokenizer config but is not JSON Python reads ({e}); its templates were not analysed"),
                    None,
                );
            }
        };
        for (name, template) in json_templates(&value) {
            analyse_template(template, &name, Some(0), Strictness::Template, ctx);
            ctx.extract(Origin::ChatTemplate, &name, Some(0), template.as_bytes());
        }
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let named = is_template_name(ctx.name());
    if !named && !looks_like_jinja(text) {
        return;
    }
    // Only a template is rendered: a file named as one (`chat_template.jinja`, which
    // transformers and vLLM read as such) or a text that begins as Jinja. Markers inside a
    // README, a model card or Python source (`"<extra_id_{%d}>"` in a docstring, `f"{{%"`
    // escapes) make neither a template: no loader renders them.
    if !named
        && !jinja_start
        && (crate::scan::context::is_documentation(ctx.name(), data)
            || crate::formats::hf::looks_like_python(text))
    {
        return;
    }
    // A template file, or a text that begins as Jinja and speaks of messages, is a chat
    // template; other text with Jinja markers is analysed only if it parses.
    let strictness = if named || (jinja_start && text.contains("message")) {
        Strictness::Template
    } else {
        Strictness::MaybeTemplate
    };
    analyse_template(text, "template file", Some(0), strictness, ctx);
    if named || jinja_start {
        // The signature rules written for templates (`template_injection.yar`) judge it.
        ctx.extract(Origin::ChatTemplate, "template file", Some(0), data);
    }
}

/// A file name that loaders read as a Jinja template (`chat_template.jinja`,
/// `additional_chat_templates/*.jinja`, `*.j2`).
fn is_template_name(name: &str) -> bool {
    let base = name.rsplit(['/', '\\', '!']).next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    [".jinja", ".jinja2", ".j2"]
        .iter()
        .any(|ext| lower.len() > ext.len() && lower.ends_with(ext))
}

/// For the fuzz target: extraction and analysis of whatever JSON or text holds.
pub fn analyse_for_fuzzing(text: &str) -> usize {
    let mut n = 0;
    if let Ok(value) = json::parse_str(text) {
        for (_, t) in json_templates(&value) {
            n += analyse_source(t).map_or(0, |a| a.escapes.len());
        }
    }
    n + analyse_source(text).map_or(0, |a| a.escapes.len() + a.suspicious.len())
}

#[cfg(test)]
mod tests;

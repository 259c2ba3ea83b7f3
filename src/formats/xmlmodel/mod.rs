//! Models stored as XML: OpenVINO IR (`<net name=… version=…>` with `<layers>`, weights in the
//! `.bin` beside it) and PMML (`<PMML>`). Read with `quick-xml`, a pull parser that never
//! resolves a DTD or an entity: a `DOCTYPE` is one event, judged here. Java readers (JPMML's
//! JAXB, PMML4S under pypmml) and libxml2-based ones have resolved external entities and
//! fetched DTDs by default in some versions and settings, so an external entity is a file read
//! or a request on the loading machine (XXE), and internal entities are how expansion bombs
//! ("billion laughs") are built; no writer of these formats emits a DOCTYPE at all.
//!
//! OpenVINO: every `<layer>`'s `type` and `version` are read; a version that is not an opset
//! (`opset1` … `opsetN`) names an extension op, whose implementation is a native library the
//! application loads (`core.add_extension`). The `.bin` beside the file, when the scan has it on
//! disk, must hold every `Const` layer's `offset`+`size`.
//!
//! PMML: `<Extension>` elements (vendor data that JPMML and PMML4S skip) are listed; text that is
//! Python code anywhere in the document is judged by the Python analysis, since no PMML engine
//! in common use evaluates it but some custom ones run scripts from extensions.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::model::rules::RuleId;
use crate::scan::context::Ctx;
use crate::zone::sibling::{self, Resolved};

/// Bytes read to recognise the root element.
const SNIFF: usize = 64 << 10;
/// Events read per document before the walk stops (reported).
const MAX_EVENTS: u64 = 50_000_000;
/// Items listed per finding.
const MAX_LISTED: usize = 32;

/// Which XML model a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Openvino,
    Pmml,
}

/// The root element of an XML document, read from its first bytes (after the declaration,
/// comments, processing instructions and a DOCTYPE), if it is one of ours.
pub fn detect(data: &[u8]) -> Option<Kind> {
    let head = data.get(..data.len().min(SNIFF))?;
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = head.get(start..)?;
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    if !head.starts_with(b"<") {
        return None;
    }
    // A cut in the middle of a character is the sniff window's end, not bad text.
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(head.get(..e.valid_up_to())?).ok()?,
    };
    let mut reader = Reader::from_str(text);
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) => {
                return match e.local_name().as_ref() {
                    "net" => Some(Kind::Openvino),
                    "PMML" => Some(Kind::Pmml),
                    _ => None,
                };
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Text(t) if t.trim().is_empty() => {}
            _ => return None,
        }
    }
}

/// The rules of one format.
struct Rules {
    external_entity: RuleId,
    doctype: RuleId,
    malformed: RuleId,
}

const OPENVINO: Rules = Rules {
    external_entity: RuleId::OpenvinoExternalEntity,
    doctype: RuleId::OpenvinoDoctype,
    malformed: RuleId::OpenvinoMalformed,
};

const PMML: Rules = Rules {
    external_entity: RuleId::PmmlExternalEntity,
    doctype: RuleId::PmmlDoctype,
    malformed: RuleId::PmmlMalformed,
};

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .map(|a| a.value.into_owned())
}

/// Judges a DOCTYPE: external entities (`SYSTEM`/`PUBLIC` in an `<!ENTITY`) are read by
/// resolving readers; internal entities can expand without bound; an external DTD is fetched by
/// validating readers.
fn doctype(text: &str, offset: u64, rules: &Rules, ctx: &mut Ctx<'_>) {
    let upper = text.to_ascii_uppercase();
    let shown: String = text.chars().take(200).collect();
    let entities = upper.matches("<!ENTITY").count();
    // `to_ascii_uppercase` keeps byte offsets, so the declaration is shown as written.
    let external_entity = upper.match_indices("<!ENTITY").find_map(|(at, _)| {
        let end = upper
            .get(at..)?
            .find('>')
            .map_or(upper.len(), |e| at + e + 1);
        let decl = upper.get(at..end)?;
        (decl.contains("SYSTEM") || decl.contains("PUBLIC")).then(|| text.get(at..end))?
    });
    if let Some(decl) = external_entity {
        let decl: String = decl.chars().take(200).collect();
        ctx.report(
            rules.external_entity,
            Some(offset),
            "the document's DOCTYPE declares an external entity: a reader that resolves entities reads that file or URL on the loading machine (XXE)",
            Some(decl),
        );
    } else if entities > 0 {
        ctx.report(
            rules.doctype,
            Some(offset),
            format!(
                "the document's DOCTYPE declares {entities} entity(ies): readers that expand entities can be made to build huge strings (billion laughs), and no writer of this format emits a DOCTYPE"
            ),
            Some(format!("<!DOCTYPE {shown}")),
        );
    } else {
        let external_dtd = upper.contains("SYSTEM") || upper.contains("PUBLIC");
        ctx.report(
            rules.doctype,
            Some(offset),
            if external_dtd {
                "the document names an external DTD, which validating readers fetch when they load it; no writer of this format emits a DOCTYPE"
            } else {
                "the document has a DOCTYPE, which no writer of this format emits"
            },
            Some(format!("<!DOCTYPE {shown}")),
        );
    }
}

/// Reads every event of `data`, calling `visit` with each start tag (and its path depth) and
/// each text node; reports the DOCTYPE and a document that does not parse.
fn walk(
    data: &[u8],
    rules: &Rules,
    ctx: &mut Ctx<'_>,
    mut visit: impl FnMut(XmlItem<'_>, &mut Ctx<'_>),
) {
    let text = match std::str::from_utf8(data) {
        Ok(t) => t,
        Err(e) => {
            return ctx.report(
                rules.malformed,
                Some(e.valid_up_to() as u64),
                "the XML document is not UTF-8 text; it was not checked past this point",
                None,
            );
        }
    };
    let mut reader = Reader::from_str(text);
    let mut events = 0u64;
    let mut stack: Vec<String> = Vec::new();
    loop {
        events += 1;
        if events > MAX_EVENTS {
            return ctx.report(
                rules.malformed,
                Some(reader.buffer_position()),
                format!(
                    "the XML document has more than {MAX_EVENTS} parts; the rest was not checked"
                ),
                None,
            );
        }
        let at = reader.buffer_position();
        match reader.read_event() {
            Err(e) => {
                return ctx.report(
                    rules.malformed,
                    Some(at),
                    format!("the XML document is not well formed ({e}); it was not checked past this point"),
                    None,
                );
            }
            Ok(Event::Eof) => {
                if !stack.is_empty() {
                    ctx.report(
                        rules.malformed,
                        Some(at),
                        format!("the XML document ends inside `<{}>`", stack.join("><")),
                        None,
                    );
                }
                return;
            }
            Ok(Event::DocType(d)) => doctype(&d, at, rules, ctx),
            Ok(Event::Start(e)) => {
                visit(XmlItem::Element(&e, &stack), ctx);
                stack.push(e.local_name().as_ref().to_owned());
            }
            Ok(Event::Empty(e)) => visit(XmlItem::Element(&e, &stack), ctx),
            Ok(Event::End(_)) => {
                stack.pop();
            }
            Ok(Event::Text(t)) => visit(XmlItem::Text(&t, &stack, at), ctx),
            Ok(Event::CData(t)) => visit(XmlItem::Text(&t, &stack, at), ctx),
            Ok(_) => {}
        }
    }
}

enum XmlItem<'e> {
    Element(&'e BytesStart<'e>, &'e [String]),
    Text(&'e str, &'e [String], u64),
}

/// Whether an OpenVINO layer `version` is an operation set of OpenVINO itself.
fn is_opset(version: &str) -> bool {
    version
        .strip_prefix("opset")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

pub fn analyse_openvino(data: &[u8], ctx: &mut Ctx<'_>) {
    let mut custom: BTreeMap<String, String> = BTreeMap::new();
    let mut layers = 0u64;
    let mut weights_end: Option<(u64, String)> = None;
    let mut in_const = false;
    walk(data, &OPENVINO, ctx, |item, _| {
        let XmlItem::Element(e, stack) = item else {
            return;
        };
        let name = e.local_name();
        let parent = stack.last().map(String::as_str);
        match (name.as_ref(), parent) {
            ("layer", Some("layers")) => {
                layers += 1;
                let kind = attr(e, "type").unwrap_or_default();
                let version = attr(e, "version").unwrap_or_default();
                in_const = kind == "Const";
                if !is_opset(&version) && custom.len() < MAX_LISTED {
                    let layer = attr(e, "name").unwrap_or_default();
                    custom
                        .entry(format!("{kind} (version {version:?})"))
                        .or_insert(layer);
                }
            }
            ("data", Some("layer")) if in_const => {
                let number = |k: &str| attr(e, k).and_then(|v| v.trim().parse::<u64>().ok());
                if let (Some(offset), Some(size)) = (number("offset"), number("size")) {
                    let end = offset.saturating_add(size);
                    if weights_end.as_ref().is_none_or(|(e, _)| end > *e) {
                        let layer = attr(e, "name").unwrap_or_default();
                        weights_end = Some((end, layer));
                    }
                }
            }
            _ => {}
        }
    });
    if layers == 0 {
        ctx.report(
            RuleId::OpenvinoMalformed,
            None,
            "the OpenVINO IR has no `<layers><layer>`: OpenVINO refuses it",
            None,
        );
    }
    for (op, layer) in &custom {
        ctx.report(
            RuleId::OpenvinoCustomLayer,
            None,
            format!(
                "layer `{layer}` is the operation {op}, which is in no OpenVINO operation set: reading the model needs an extension (a native library the application loads with `add_extension`)"
            ),
            Some(op.clone()),
        );
    }
    if let Some((end, _)) = weights_end {
        check_weights(end, ctx);
    }
}

/// The `.bin` OpenVINO reads beside `model.xml` (`model.bin`) must hold the constants.
fn check_weights(end: u64, ctx: &mut Ctx<'_>) {
    let Some(path) = ctx.disk_path() else {
        return;
    };
    let Some(dir) = sibling::model_dir(path) else {
        return;
    };
    let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
        return;
    };
    let bin = format!("{stem}.bin");
    match sibling::resolve(&dir, &bin) {
        Resolved::File(len) if len < end => ctx.report(
            RuleId::OpenvinoMalformed,
            None,
            format!("the constants reach byte {end} of `{bin}`, which has {len} bytes: OpenVINO refuses the model"),
            Some(bin),
        ),
        Resolved::Escapes(real) => ctx.report(
            RuleId::OpenvinoMalformed,
            None,
            format!("the weights file `{bin}` is a link out of the model's directory, to {}", real.display()),
            Some(bin),
        ),
        _ => {}
    }
}

/// An OpenVINO IR whose weights file `bin` is: the name of `<stem>.xml` beside it, when that is
/// an OpenVINO IR.
pub fn openvino_weights_owner(bin: &Path) -> Option<String> {
    if !bin.extension()?.eq_ignore_ascii_case("bin") {
        return None;
    }
    let xml = bin.with_extension("xml");
    let mut head = Vec::with_capacity(SNIFF);
    use std::io::Read;
    std::fs::File::open(&xml)
        .ok()?
        .take(SNIFF as u64)
        .read_to_end(&mut head)
        .ok()?;
    (detect(&head) == Some(Kind::Openvino)).then(|| {
        xml.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

/// Whether text in a PMML document reads as Python code: an import, def or call of a known
/// dangerous name at the start of a line.
fn looks_like_code(text: &str) -> bool {
    text.lines().take(2000).any(|l| {
        let l = l.trim_start();
        l.starts_with("import ")
            || l.starts_with("from ")
            || l.starts_with("def ")
            || l.starts_with("exec(")
            || l.starts_with("eval(")
            || l.starts_with("__import__(")
            || l.starts_with("os.system(")
            || l.starts_with("subprocess.")
    })
}

pub fn analyse_pmml(data: &[u8], ctx: &mut Ctx<'_>) {
    let mut extensions: BTreeMap<String, u64> = BTreeMap::new();
    let mut code: Vec<(String, String, u64)> = Vec::new();
    walk(data, &PMML, ctx, |item, _| match item {
        XmlItem::Element(e, _) if e.local_name().as_ref() == "Extension" => {
            let name = attr(e, "name")
                .or_else(|| attr(e, "extender"))
                .unwrap_or_default();
            *extensions.entry(name).or_default() += 1;
        }
        XmlItem::Text(t, stack, at) if code.len() < MAX_LISTED && looks_like_code(t) => {
            code.push((stack.join("/"), t.to_owned(), at));
        }
        _ => {}
    });
    if !extensions.is_empty() {
        let list: Vec<String> = extensions
            .iter()
            .take(MAX_LISTED)
            .map(|(n, c)| format!("{} ×{c}", if n.is_empty() { "(unnamed)" } else { n }))
            .collect();
        ctx.report(
            RuleId::PmmlExtension,
            None,
            "the PMML document carries vendor `<Extension>` elements, which JPMML and PMML4S (pypmml) skip",
            Some(list.join(", ")),
        );
    }
    for (path, text, at) in code {
        let verdicts = judge_code(&text);
        let shown: String = text.trim().chars().take(160).collect();
        ctx.report(
            RuleId::PmmlEmbeddedCode,
            Some(at),
            format!(
                "text in `<{path}>` is Python code: no common PMML engine runs it, but a custom engine that evaluates scripts from extensions would{}",
                verdicts
            ),
            Some(shown),
        );
    }
}

#[cfg(feature = "python")]
fn judge_code(text: &str) -> String {
    use crate::formats::python;
    let Ok(analysis) = python::analyse(text) else {
        return String::new();
    };
    let what: Vec<String> = python::judge(&analysis, true)
        .into_iter()
        .take(4)
        .map(|v| format!("{} ({})", v.what, v.evidence))
        .collect();
    if what.is_empty() {
        String::new()
    } else {
        format!("; the code {}", what.join("; "))
    }
}

#[cfg(not(feature = "python"))]
fn judge_code(_: &str) -> String {
    String::new()
}

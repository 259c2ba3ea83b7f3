//! Hugging Face repository semantics: the keys of `config.json`, `tokenizer_config.json`,
//! `processor_config.json`, `preprocessor_config.json` (any JSON object, recognised by content)
//! that make a loader run code: `auto_map` (classes from the repository's own Python files, or
//! from another repository with `org/repo--module.Class`), `custom_pipelines`,
//! `trust_remote_code` set inside the file (nested configs of composite models), and
//! `_attn_implementation*` naming a Hub kernels repository.
//!
//! The Python files an `auto_map` names are read from beside the config (never outside its
//! directory) and analysed with [`crate::formats::python`], together with the modules they
//! import relatively (transformers copies and imports those as well). Other Python files are
//! judged when scanned on their own ([`analyse_script`]), for the clearly malicious behaviour
//! classes only, capped at suspicious.

use std::collections::BTreeSet;
#[cfg(feature = "python")]
use std::path::Path;

use serde_json::Value as Json;

use crate::formats::json;
#[cfg(feature = "python")]
use crate::formats::python;
use crate::model::rules::RuleId;
use crate::scan::context::Ctx;
use crate::zone::sibling;
#[cfg(feature = "python")]
use crate::zone::sibling::Resolved;

/// JSON files larger than this are not read as configs (real ones are a few KiB).
const MAX_CONFIG: usize = 16 << 20;
/// Remote-code modules followed per config (relative imports included).
#[cfg(feature = "python")]
const MAX_MODULES: usize = 64;
/// JSON nesting walked.
const MAX_DEPTH: u32 = 64;

const KEYS: &[&str] = &[
    "\"auto_map\"",
    "\"custom_pipelines\"",
    "\"trust_remote_code\"",
    "_attn_implementation",
    "\"attn_implementation\"",
];

/// A class reference of `auto_map` / `custom_pipelines`: `module.Class` or
/// `org/repo--module.Class`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct CodeRef {
    key: String,
    repo: Option<String>,
    module: String,
    class: String,
}

fn code_ref(key: &str, value: &str) -> Option<CodeRef> {
    let (repo, path) = match value.split_once("--") {
        Some((repo, path)) => (Some(repo.to_owned()), path),
        None => (None, value),
    };
    let (module, class) = path.rsplit_once('.')?;
    Some(CodeRef {
        key: key.to_owned(),
        repo,
        module: module.to_owned(),
        class: class.to_owned(),
    })
}

#[derive(Default)]
struct Found {
    refs: Vec<CodeRef>,
    trust: Vec<String>,
    kernels: Vec<(String, String)>,
}

fn walk(value: &Json, path: &str, depth: u32, found: &mut Found) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Json::Object(map) => {
            for (k, v) in map {
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (k.as_str(), v) {
                    ("auto_map", Json::Object(m)) => {
                        for (class_kind, target) in m {
                            let key = format!("{here}.{class_kind}");
                            let targets: Vec<&str> = match target {
                                Json::String(s) => vec![s.as_str()],
                                Json::Array(a) => a.iter().filter_map(Json::as_str).collect(),
                                _ => Vec::new(),
                            };
                            found
                                .refs
                                .extend(targets.iter().filter_map(|t| code_ref(&key, t)));
                        }
                    }
                    ("custom_pipelines", Json::Object(m)) => {
                        for (task, spec) in m {
                            let key = format!("{here}.{task}.impl");
                            if let Some(r) = spec.get("impl").and_then(Json::as_str) {
                                found.refs.extend(code_ref(&key, r));
                            }
                        }
                    }
                    ("trust_remote_code", Json::Bool(true)) => found.trust.push(here.clone()),
                    (
                        "_attn_implementation"
                        | "_attn_implementation_internal"
                        | "attn_implementation"
                        | "_attn_implementation_autoset",
                        Json::String(s),
                    ) if s.contains('/') => found.kernels.push((here.clone(), s.clone())),
                    _ => {}
                }
                walk(v, &here, depth + 1, found);
            }
        }
        Json::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{path}[{i}]"), depth + 1, found);
            }
        }
        _ => {}
    }
}

/// Analyses a JSON text that may be a Hugging Face config.
pub fn analyse_config(data: &[u8], ctx: &mut Ctx<'_>) {
    if data.len() > MAX_CONFIG || !json::may_hold_key(data, KEYS) {
        return;
    }
    let value = match json::parse_like_python(data) {
        Ok(value @ Json::Object(_)) => value,
        Ok(_) => return,
        Err(e) => {
            if json::starts_like_json(data) {
                ctx.report(
                    RuleId::HfRemoteCode,
                    None,
                    format!("the text spells a remote-code key (`auto_map`, `custom_pipelines`, `trust_remote_code`) like a Hugging Face config but is not JSON Python reads ({e}); what it would make the loader import was not checked"),
                    None,
                );
            }
            return;
        }
    };
    let mut found = Found::default();
    walk(&value, "", 0, &mut found);
    for path in &found.trust {
        ctx.report(
            RuleId::HfRemoteCode,
            None,
            format!(
                "`{path}` is true inside the file: the loader (a composite model's sub-config, a pipeline) runs the repository's Python code without the caller having asked for `trust_remote_code=True`"
            ),
            Some(format!("{path}: true")),
        );
    }
    for (path, kernel) in &found.kernels {
        ctx.report(
            RuleId::HfCodeFromOtherRepo,
            None,
            format!(
                "`{path}` names the Hub kernels repository `{kernel}`: transformers downloads that repository's compiled kernels and runs them when the model is loaded (CVE-2026-4372); their code is not in this folder and was not scanned"
            ),
            Some(format!("{path}: {kernel:?}")),
        );
    }
    let dir = ctx.disk_path().and_then(sibling::model_dir);
    let mut modules = BTreeSet::new();
    for r in &found.refs {
        if let Some(repo) = &r.repo {
            ctx.report(
                RuleId::HfCodeFromOtherRepo,
                None,
                format!(
                    "`{}` loads class `{}` from module `{}` of another Hub repository, `{repo}`: with trust_remote_code=True the loader downloads and runs that code, which is not in this folder, was not scanned and can change after this scan",
                    r.key, r.class, r.module
                ),
                Some(format!("{repo}--{}.{}", r.module, r.class)),
            );
            continue;
        }
        let file = format!("{}.py", r.module.replace('.', "/"));
        ctx.report(
            RuleId::HfRemoteCode,
            None,
            format!(
                "`{}` makes the loader import class `{}` from `{file}` of this repository (run with trust_remote_code=True): the model runs the repository's own Python code",
                r.key, r.class
            ),
            Some(format!("{}.{}", r.module, r.class)),
        );
        modules.insert(r.module.clone());
    }
    if modules.is_empty() {
        return;
    }
    #[cfg(not(feature = "python"))]
    {
        let _ = dir;
        ctx.report(
            RuleId::HfRemoteCode,
            None,
            format!(
                "the remote-code modules ({}) were not analysed: this build has no Python analyser (cargo feature `python`)",
                modules.into_iter().collect::<Vec<_>>().join(", ")
            ),
            None,
        );
    }
    #[cfg(feature = "python")]
    match dir {
        Some(dir) => analyse_modules(&dir, modules, ctx),
        None => ctx.report(
            RuleId::HfRemoteCode,
            None,
            format!(
                "the remote-code modules ({}) could not be read: the config is not a file on disk next to them",
                modules.into_iter().collect::<Vec<_>>().join(", ")
            ),
            None,
        ),
    }
}

#[cfg(feature = "python")]
/// Reads and judges the remote-code modules and what they import relatively.
fn analyse_modules(dir: &Path, roots: BTreeSet<String>, ctx: &mut Ctx<'_>) {
    let mut queue: Vec<String> = roots.iter().cloned().collect();
    let mut seen = BTreeSet::new();
    while let Some(module) = queue.pop() {
        if !seen.insert(module.clone()) {
            continue;
        }
        if seen.len() > MAX_MODULES {
            ctx.report(
                RuleId::HfRemoteCode,
                None,
                format!("more than {MAX_MODULES} remote-code modules; the rest were not analysed"),
                None,
            );
            return;
        }
        let file = format!("{}.py", module.replace('.', "/"));
        if let Some(why) = sibling::lexical_escape(&file) {
            ctx.report(
                RuleId::HfRemoteCodeMalicious,
                None,
                format!("the remote-code module `{module}` is {why}"),
                Some(file),
            );
            continue;
        }
        let path = match sibling::resolve(dir, &file) {
            Resolved::File(len) if len as usize <= python::MAX_SOURCE => dir.join(&file),
            Resolved::File(len) => {
                ctx.report(
                    RuleId::HfRemoteCode,
                    None,
                    format!("`{file}` is {len} bytes, over the limit for Python analysis; it was not analysed"),
                    None,
                );
                continue;
            }
            Resolved::Escapes(real) => {
                ctx.report(
                    RuleId::HfRemoteCodeMalicious,
                    None,
                    format!("the remote-code module `{file}` resolves outside the model's directory, to {}", real.display()),
                    Some(file),
                );
                continue;
            }
            Resolved::Missing(why) => {
                // A relative import may name a package or a class (`from . import x`): only
                // the modules the config names must be there.
                if roots.contains(&module) {
                    ctx.report(
                        RuleId::HfRemoteCode,
                        None,
                        format!("the remote-code module `{file}` was not analysed, {why}"),
                        None,
                    );
                }
                continue;
            }
        };
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let source = String::from_utf8_lossy(&bytes);
        let analysis = match python::analyse(&source) {
            Ok(a) => a,
            Err(e) => {
                ctx.report(
                    RuleId::HfRemoteCode,
                    None,
                    format!("the remote-code module `{file}` does not parse as Python ({e}); what it does cannot be established"),
                    None,
                );
                continue;
            }
        };
        for v in python::judge(&analysis, true) {
            let rule = if v.clearly_malicious {
                RuleId::HfRemoteCodeMalicious
            } else {
                RuleId::HfRemoteCode
            };
            ctx.report(
                rule,
                None,
                format!(
                    "the remote-code module `{file}`, run when the model is loaded, {}",
                    v.what
                ),
                Some(format!("{file}:{}: {}", v.line, v.evidence)),
            );
        }
        for import in analysis.relative_imports {
            let base = module
                .rsplit_once('.')
                .map(|(pkg, _)| format!("{pkg}."))
                .unwrap_or_default();
            queue.push(format!("{base}{import}"));
        }
    }
}

/// Whether the name or the first line says Python runs the file: a `.py`/`.pyw` name (what
/// `python x.py` and imports run) or a `#!…python` line. Content alone is only a guess, and text
/// that merely looks like Python (a README with snippets) is not refused for failing to parse;
/// a file that Python would run is.
fn python_by_name(name: &str, data: &[u8]) -> bool {
    let base = name.rsplit(['/', '\\', '!']).next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    let first = data.split(|&b| b == b'\n').next().unwrap_or_default();
    lower.ends_with(".py")
        || lower.ends_with(".pyw")
        || (first.starts_with(b"#!") && memchr::memmem::find(first, b"python").is_some())
}

/// Reports a Python file that could not be analysed: fail closed.
fn unanalysed_script(why: &str, ctx: &mut Ctx<'_>) {
    ctx.report(
        RuleId::PythonUnanalysed,
        Some(0),
        format!("this Python file could not be analysed: {why}"),
        None,
    );
}

/// A Python file met on its own (a script beside a model): nothing loads it, so only the
/// behaviour classes that only malware has are reported, as suspicious. This build has no
/// Python parser, so a file that Python would run is reported as not analysed.
#[cfg(not(feature = "python"))]
pub fn analyse_script(data: &[u8], ctx: &mut Ctx<'_>) {
    if crate::scan::context::is_documentation(ctx.name(), data) {
        return;
    }
    let looks = std::str::from_utf8(data).is_ok_and(looks_like_python);
    if looks && python_by_name(ctx.name(), data) {
        unanalysed_script(
            "this build of quarantine has no Python analyser (cargo feature `python`)",
            ctx,
        );
    }
}

/// A Python file met on its own (a script beside a model): see above. A file that Python would
/// run ([`python_by_name`]) and that does not parse, is not UTF-8 or is over the size limit is
/// reported as not analysed (fail closed).
#[cfg(feature = "python")]
pub fn analyse_script(data: &[u8], ctx: &mut Ctx<'_>) {
    // Snippets in a README or model card are documentation, judged by signatures as such.
    if data.trim_ascii_start().starts_with(b"{")
        || crate::scan::context::is_documentation(ctx.name(), data)
    {
        return;
    }
    let by_name = python_by_name(ctx.name(), data);
    let Ok(source) = std::str::from_utf8(data) else {
        if by_name && looks_like_python(&String::from_utf8_lossy(data)) {
            unanalysed_script("it is not UTF-8 text", ctx);
        }
        return;
    };
    if !looks_like_python(source) {
        return;
    }
    let analysis = match python::analyse(source) {
        Ok(analysis) => analysis,
        Err(e) => {
            if by_name {
                unanalysed_script(&format!("it does not parse as Python 3 ({e})"), ctx);
            }
            return;
        }
    };
    if analysis.code_statements == 0 {
        return;
    }
    for v in python::judge(&analysis, false) {
        ctx.report(
            RuleId::PythonScriptMalicious,
            None,
            format!("this Python file {}", v.what),
            Some(format!("line {}: {}", v.line, v.evidence)),
        );
    }
}

/// Cheap check before parsing: an import, def or class at the start of some line.
pub(crate) fn looks_like_python(source: &str) -> bool {
    source.lines().take(2000).any(|l| {
        let l = l.trim_start();
        l.starts_with("import ")
            || l.starts_with("from ")
            || l.starts_with("def ")
            || l.starts_with("class ")
    })
}

#[cfg(test)]
mod tests;

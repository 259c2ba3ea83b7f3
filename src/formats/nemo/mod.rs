//! NeMo `.nemo` models and Hydra configurations.
//!
//! A `.nemo` file is a tar (NeMo's `SaveRestoreConnector` packs a folder with `tarfile`):
//! `model_config.yaml` beside `model_weights.ckpt` (a `torch.save` zip) and tokenizer or other
//! artifacts. The tar and its members go through the tar, zip and pickle analysers like any
//! other; what is NeMo's own is the configuration: `restore_from` loads it with OmegaConf and
//! instantiates it with Hydra, which imports every `_target_` anywhere in the tree (Hydra's
//! `_locate`: import the longest importable module prefix, then `getattr` the rest) and calls it
//! with the sibling keys as arguments (`_args_` positional; `_partial_: true` makes a
//! `functools.partial` that NeMo calls later). NeMo's own `from_config_dict` also imports the
//! root's `target` (or legacy `cls`) class path.
//!
//! Each target is judged by the pickle engine's import policy (deny list: `os.system`,
//! `subprocess.*`, `builtins.exec`; allow list), then by the generated list of the classes NeMo
//! models instantiate (NeMo, PyTorch, Lightning, [`targets`]), by every path Hydra reaches them
//! under; anything else is unknown, including a name under one of those packages that the
//! pinned releases do not define.

mod interpolate;
mod targets;
pub mod yaml;

use crate::formats::hostcalls;
use crate::formats::pickle::{Class, classify};
use crate::model::Budget;
use crate::model::rules::RuleId;
use crate::scan::context::Ctx;
use yaml::Yaml;

/// Larger configurations are not parsed (a NeMo model_config.yaml is a few KiB).
const MAX_CONFIG: usize = 16 << 20;
/// Findings listed per rule per configuration.
const MAX_LISTED: u64 = 32;

/// The embedded list of Hydra targets (signatures/hydra-targets.tsv), for the settings
/// fingerprint.
pub fn targets_table() -> &'static str {
    targets::TARGETS_TSV
}

/// Whether `data` may be a Hydra configuration: text that names `_target_`, or a NeMo root
/// `target:` line, or one that could spell a key through a YAML double-quoted escape (`\x5f`,
/// `\u005f`, `\U0000005f`, a `\`-newline continuation), which `yaml.safe_load` and OmegaConf
/// decode before Hydra looks at the key. Text that then does not read as a YAML mapping with
/// targets is left alone, so the wider check costs a parse, never a finding.
fn may_be_hydra(data: &[u8]) -> bool {
    memchr::memmem::find(data, b"_target_").is_some()
        || data.starts_with(b"target:")
        || memchr::memmem::find(data, b"\ntarget:").is_some()
        || if crate::formats::json::starts_like_json(data) {
            // JSON is YAML too; its only key escapes are `\uXXXX` (a tokenizer.json full of
            // `\u0120` is not parsed twice for nothing).
            crate::formats::json::may_hold_key(data, &["_target_", "target"])
        } else {
            [&b"\\x"[..], b"\\u", b"\\U", b"\\\n", b"\\\r"]
                .iter()
                .any(|e| memchr::memmem::find(data, e).is_some())
        }
}

/// A dotted Python path (`pkg.mod.Class`), as a `target`/`cls` value must be to be imported.
fn is_dotted_path(text: &str) -> bool {
    text.contains('.')
        && text.split('.').all(|p| {
            let mut chars = p.chars();
            chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
                && chars.all(|c| c == '_' || c.is_alphanumeric())
        })
}

/// Analyses text if it is a Hydra/NeMo configuration; returns whether it was one.
pub fn analyse_text(data: &[u8], ctx: &mut Ctx<'_>) -> bool {
    if !may_be_hydra(data) {
        return false;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    if data.len() > MAX_CONFIG {
        if memchr::memmem::find(data, b"_target_:").is_some() {
            ctx.report(
                RuleId::NemoConfigMalformed,
                None,
                format!(
                    "a Hydra configuration of {} bytes is larger than the {MAX_CONFIG} bytes the scanner parses; its targets were not checked",
                    data.len()
                ),
                None,
            );
            return true;
        }
        return false;
    }
    match yaml::parse(text) {
        Ok(doc) => {
            let Some(root) = doc.root.as_ref() else {
                return false;
            };
            if !matches!(root, Yaml::Map(_)) {
                return false;
            }
            let mut walk = Walk {
                ctx,
                targets: Vec::new(),
                malformed: Vec::new(),
            };
            walk.root(root);
            let is_config = !walk.targets.is_empty() || !walk.malformed.is_empty();
            if !is_config {
                return false;
            }
            if !doc.tags.is_empty() {
                walk.malformed.push(format!(
                    "uses YAML tags ({}), which OmegaConf's loader refuses and unsafe YAML loaders resolve to Python objects",
                    doc.tags.join(", ")
                ));
            }
            walk.finish();
            true
        }
        Err(e) => {
            // Not YAML this reader takes: judge every `_target_:` line as Hydra would read it,
            // and say the whole was not read.
            let targets = target_lines(text);
            if targets.is_empty() || crate::scan::context::is_documentation(ctx.name(), data) {
                return false;
            }
            let mut walk = Walk {
                ctx,
                targets: Vec::new(),
                malformed: vec![format!(
                    "the configuration is {e}; `_target_` lines were judged one by one"
                )],
            };
            for (line, target) in targets {
                walk.targets.push(Target {
                    path: target,
                    at: format!("line {line}"),
                    key: "_target_",
                    partial: false,
                    args: String::new(),
                    written: None,
                });
            }
            walk.finish();
            true
        }
    }
}

/// `_target_: value` lines of a text the YAML reader refused.
fn target_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.trim_start().trim_start_matches("- ");
            let value = line
                .strip_prefix("_target_:")
                .or_else(|| line.strip_prefix("\"_target_\":"))?;
            let value = value
                .split('#')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_end_matches(',')
                .trim_matches(['"', '\'']);
            (!value.is_empty()).then(|| (i + 1, value.to_owned()))
        })
        .take(1024)
        .collect()
}

/// A target Hydra or NeMo would import.
struct Target {
    path: String,
    /// Where in the tree (`preprocessor._target_`).
    at: String,
    key: &'static str,
    partial: bool,
    /// The call's arguments, rendered short.
    args: String,
    /// The value as written, when it held OmegaConf interpolations that were resolved.
    written: Option<String>,
}

impl Target {
    /// A target whose value `text` is resolved as OmegaConf would (see [`interpolate`]).
    fn new(text: &str, root: &Yaml, holder: &str, key: &'static str) -> Target {
        let resolved = interpolate::resolve(text, root, holder);
        Target {
            path: resolved.clone().unwrap_or_else(|| text.to_owned()),
            at: join(holder, key),
            key,
            partial: false,
            args: String::new(),
            written: resolved.map(|_| text.to_owned()),
        }
    }
}

struct Walk<'c, 'x> {
    ctx: &'c mut Ctx<'x>,
    targets: Vec<Target>,
    malformed: Vec<String>,
}

/// `key=value, …` of a mapping's non-underscore keys, short.
fn render_args(map: &Yaml) -> String {
    let Yaml::Map(pairs) = map else {
        return String::new();
    };
    let mut parts = Vec::new();
    if let Some(Yaml::Seq(args)) = map.get("_args_") {
        for a in args.iter().take(4) {
            parts.push(render_value(a));
        }
    }
    for (k, v) in pairs.iter().take(8) {
        let Some(k) = k.as_str() else { continue };
        if k.starts_with('_') && k.ends_with('_') {
            continue;
        }
        parts.push(format!("{k}={}", render_value(v)));
    }
    parts.join(", ")
}

fn render_value(v: &Yaml) -> String {
    match v {
        Yaml::Scalar { text, .. } => {
            let short: String = text.chars().take(80).collect();
            format!("{short:?}")
        }
        Yaml::Seq(items) => format!(
            "[{}]",
            items
                .iter()
                .take(6)
                .map(render_value)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Yaml::Map(_) => "{…}".to_owned(),
    }
}

impl Walk<'_, '_> {
    fn root(&mut self, root: &Yaml) {
        // NeMo's `from_config_dict`: the model class by its `target` (or legacy `cls`).
        for key in ["target", "cls"] {
            if let Some(Yaml::Scalar { text, .. }) = root.get(key) {
                let target = Target::new(text, root, "", key);
                if is_dotted_path(&target.path) {
                    self.targets.push(target);
                }
            }
        }
        // Iteratively, so that nesting costs no stack (the reader bounds depth as well).
        let mut stack: Vec<(&Yaml, String)> = vec![(root, String::new())];
        while let Some((node, at)) = stack.pop() {
            match node {
                Yaml::Scalar { .. } => {}
                Yaml::Seq(items) => {
                    for (i, item) in items.iter().enumerate().rev() {
                        stack.push((item, format!("{at}[{i}]")));
                    }
                }
                Yaml::Map(pairs) => {
                    match node.get("_target_") {
                        Some(Yaml::Scalar { text, .. }) => {
                            let partial = node
                                .get("_partial_")
                                .and_then(Yaml::as_str)
                                .is_some_and(|p| p.eq_ignore_ascii_case("true"));
                            self.targets.push(Target {
                                partial,
                                args: render_args(node),
                                ..Target::new(text, root, &at, "_target_")
                            });
                        }
                        Some(_) => self.malformed.push(format!(
                            "`{}` is not a string; Hydra cannot import it",
                            join(&at, "_target_")
                        )),
                        None => {}
                    }
                    for (k, v) in pairs.iter().rev() {
                        let name = k.as_str().unwrap_or("?");
                        stack.push((v, join(&at, name)));
                    }
                }
            }
        }
    }

    fn finish(self) {
        let Walk {
            ctx,
            targets,
            malformed,
        } = self;
        let config = ctx.config();
        // What a loader instantiates by itself: NeMo's `restore_from` reads `model_config.yaml`
        // out of the `.nemo` archive (or an extracted one). A loose YAML file is a project's
        // config, instantiated only by the project's own code: an unknown target there is an
        // info note; denied ones stay findings everywhere.
        let loader_config = ctx.depth() > 0 || is_model_config_name(ctx.name());
        let unknown_rule = if loader_config {
            RuleId::NemoUnknownTarget
        } else {
            RuleId::HydraProjectTarget
        };
        let mut denied = Budget::new(MAX_LISTED);
        let mut unknown = Budget::new(MAX_LISTED);
        let mut malformed_listed = Budget::new(MAX_LISTED);
        let mut seen = std::collections::HashSet::new();
        for t in &targets {
            if !seen.insert((t.path.clone(), t.at.clone())) {
                continue;
            }
            let (module, name) = t.path.rsplit_once('.').unwrap_or(("builtins", &t.path));
            let class = classify(module, name, config);
            let call = if t.partial {
                let sep = if t.args.is_empty() { "" } else { ", " };
                format!("functools.partial({}{sep}{})", t.path, t.args)
            } else {
                format!("{}({})", t.path, t.args)
            };
            let who = match t.key {
                "_target_" => "Hydra imports and calls",
                _ => "NeMo imports the model class",
            };
            let mut evidence = format!("{call} at {}", t.at);
            if let Some(written) = &t.written {
                evidence.push_str(&format!(" (written `{written}`, which OmegaConf resolves)"));
            }
            if let Some(r) = &class.resolved {
                evidence.push_str(&format!(" (resolved: {r})"));
            }
            let private = t.path.split('.').any(|p| p.starts_with('_'));
            let listed = targets::listed(&t.path).filter(|_| !private);
            if let Some(canonical) = listed.and_then(|l| l.canonical) {
                evidence.push_str(&format!(" (defined at {canonical})"));
            }
            // A re-export is judged by its home too: a `--deny-global` of the defining module
            // covers every path the list knows for it.
            let home_denial = listed
                .and_then(|l| l.canonical)
                .and_then(|c| c.split_once(':'))
                .map(|(m, q)| classify(m, q, config).class)
                .filter(|c| matches!(c, Class::Denied(_)));
            match home_denial.as_ref().unwrap_or(&class.class) {
                Class::Denied(d) => {
                    if denied.admit() {
                        ctx.report(
                            RuleId::NemoDeniedTarget,
                            None,
                            format!(
                                "{who} `{}`, denied by `{}`: {}",
                                t.path, d.pattern, d.reason
                            ),
                            Some(evidence),
                        );
                    }
                }
                Class::Allowed => {}
                Class::Unknown if listed.is_some() => {}
                Class::Unknown => match hostcalls::name_reach(&t.path) {
                    Some(r) => {
                        if denied.admit() {
                            ctx.report(
                                RuleId::NemoDeniedTarget,
                                None,
                                format!("{who} `{}`, which {}", t.path, r.as_str()),
                                Some(evidence),
                            );
                        }
                    }
                    None => {
                        if unknown.admit() {
                            let whose = if loader_config {
                                ""
                            } else {
                                " (a loose configuration: only the project's own code instantiates it)"
                            };
                            let what = match targets::package_of(&t.path) {
                                Some(package) if private => format!(
                                    "a private name under `{package}`, which the list of NeMo, PyTorch and Lightning targets never vouches for"
                                ),
                                Some(package) => format!(
                                    "under `{package}` but not a class (or reviewed function) the known NeMo, PyTorch and Lightning releases define there"
                                ),
                                None => "outside the NeMo, PyTorch and Lightning names and on neither the allow list nor the deny list".to_owned(),
                            };
                            ctx.report(
                                unknown_rule,
                                None,
                                format!("{who} `{}`, {what}{whose}", t.path),
                                Some(evidence),
                            );
                        }
                    }
                },
            }
        }
        for why in &malformed {
            if malformed_listed.admit() {
                ctx.report(
                    RuleId::NemoConfigMalformed,
                    None,
                    format!("Hydra configuration: {why}"),
                    None,
                );
            }
        }
        const HERE: &str = "in this configuration";
        ctx.report_not_listed(RuleId::NemoDeniedTarget, &denied, HERE);
        ctx.report_not_listed(unknown_rule, &unknown, HERE);
        ctx.report_not_listed(RuleId::NemoConfigMalformed, &malformed_listed, HERE);
    }
}

/// `model_config.yaml`: the configuration a `.nemo` archive (or its extracted folder) holds.
fn is_model_config_name(name: &str) -> bool {
    let base = name.rsplit(['/', '\\', '!']).next().unwrap_or(name);
    base.eq_ignore_ascii_case("model_config.yaml") || base.eq_ignore_ascii_case("model_config.yml")
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

#[cfg(test)]
mod tests;

//! skops (`skops.io`): a zip whose `schema.json` describes the object tree and whose `.npy`
//! members hold the arrays. The arrays are zip members and go through the NumPy analyser like
//! any other member; this module reads `schema.json` the way `skops.io.load` does.
//!
//! Every node of the schema is a JSON object with `__loader__` (the node class), `__module__`
//! and `__class__`; `get_tree` builds the node for the loader and `construct` imports
//! `getattr(importlib.import_module(__module__), __class__)` and calls or instantiates it
//! (`ObjectNode`: `cls.__new__` and `__setstate__`; `FunctionNode` and `TypeNode`: the object
//! itself, which a `FunctionTransformer` then calls; `DictNode`/`ListNode`/`TupleNode`: called
//! on the contents). Two loaders take names from elsewhere: `OperatorFuncNode` resolves
//! `getattr(operator, __class__)` whatever `__module__` says, and `MethodNode` returns
//! `getattr(<obj>, content.func)` for the object node `content.obj`. Every name is judged by
//! the pickle engine's import policy (the same deny list, allow list and canonical-name table):
//! skops imports exactly what a pickle's GLOBAL would.

use std::collections::HashMap;

use serde_json::Value;

use crate::formats::hostcalls;
use crate::formats::json;
use crate::formats::pickle::{Class, classify};
use crate::model::Budget;
use crate::model::rules::RuleId;
use crate::scan::context::Ctx;

/// Larger schemas are not read whole (a real one is a few hundred KiB even for big forests).
const MAX_SCHEMA: usize = 256 << 20;
/// Nodes visited before the walk stops (reported).
const MAX_NODES: usize = 2_000_000;
/// Findings of each kind listed per schema.
const MAX_LISTED: u64 = 32;
/// Where the schema's caps count: the words of their summary findings.
const HERE: &str = "in this skops schema";

/// The node classes skops' `NODE_TYPE_MAPPING` holds (all protocols): any other `__loader__`
/// makes `get_tree` raise.
const LOADERS: &[&str] = &[
    "DictNode",
    "DefaultDictNode",
    "ListNode",
    "SetNode",
    "TupleNode",
    "BytesNode",
    "BytearrayNode",
    "SliceNode",
    "FunctionNode",
    "MethodNode",
    "PartialNode",
    "TypeNode",
    "ObjectNode",
    "JsonNode",
    "OperatorFuncNode",
    "CachedNode",
    "NdArrayNode",
    "MaskedArrayNode",
    "DTypeNode",
    "RandomStateNode",
    "RandomGeneratorNode",
    "SparseMatrixNode",
    "LossNode",
    "TreeNode",
    "SGDNode",
    "ReduceNode",
    "_DictWithDeprecatedKeysNode",
    "QuantileForestNode",
];

/// Loaders that never import their `__module__`/`__class__` (`json.loads`, a memo reference,
/// bytes and slices).
const NO_IMPORT: &[&str] = &[
    "JsonNode",
    "CachedNode",
    "BytesNode",
    "BytearrayNode",
    "SliceNode",
];

/// Whether `value` is a skops schema: a JSON object whose root is a node (`__loader__`,
/// `__module__`, `__class__`) with the `protocol` skops writes beside it.
pub fn is_schema(value: &Value) -> bool {
    value.get("__loader__").is_some_and(Value::is_string)
        && (value.get("protocol").is_some() || value.get("_skops_version").is_some())
}

/// Analyses text if it is a skops `schema.json`; returns whether it was one.
pub fn analyse_text(data: &[u8], ctx: &mut Ctx<'_>) -> bool {
    // Anywhere in the text, in any spelling: Python's json reads the root's keys in any order
    // and decodes `\u` escapes in them.
    if !json::may_hold_key(data, &["\"__loader__\""]) {
        return false;
    }
    if data.len() > MAX_SCHEMA {
        ctx.report(
            RuleId::SkopsMalformed,
            None,
            format!(
                "a skops schema of {} bytes is larger than the {MAX_SCHEMA} bytes the scanner reads; its types were not checked",
                data.len()
            ),
            None,
        );
        return true;
    }
    let value = match json::parse_like_python(data) {
        Ok(v) => v,
        Err(e) => {
            // Text that opens like JSON and names a skops loader, but that Python's json does
            // not read either: reported, never passed over.
            if json::starts_like_json(data) {
                ctx.report(
                    RuleId::SkopsMalformed,
                    None,
                    format!(
                        "skops schema is not JSON Python reads ({e}); its types were not checked"
                    ),
                    None,
                );
                return true;
            }
            return false;
        }
    };
    if !is_schema(&value) {
        return false;
    }
    analyse_schema(&value, ctx);
    true
}

/// One name a loader imports, as found in the schema.
struct Import {
    loader: String,
    module: String,
    name: String,
    /// JSON path of the node.
    at: String,
    /// For a `MethodNode`: the method name looked up on the object.
    method: Option<String>,
}

#[derive(Default)]
struct Walk {
    imports: Vec<Import>,
    malformed: Vec<String>,
    nodes: usize,
    stopped: bool,
    /// `__id__` → (module, class) of the node that defined it, for `MethodNode` objects that
    /// are memo references.
    ids: HashMap<String, (String, String)>,
}

fn id_key(value: &Value) -> Option<String> {
    match value.get("__id__")? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

impl Walk {
    fn visit(&mut self, value: &Value, at: &str) {
        if self.stopped {
            return;
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.stopped = true;
            return;
        }
        match value {
            Value::Object(map) => {
                if map.contains_key("__loader__") {
                    self.node(value, at);
                }
                for (k, v) in map {
                    if matches!(v, Value::Object(_) | Value::Array(_)) {
                        self.visit(v, &format!("{at}.{k}"));
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    if matches!(v, Value::Object(_) | Value::Array(_)) {
                        self.visit(v, &format!("{at}[{i}]"));
                    }
                }
            }
            _ => {}
        }
    }

    fn node(&mut self, node: &Value, at: &str) {
        let loader = match node.get("__loader__") {
            Some(Value::String(s)) => s.as_str(),
            _ => {
                self.malformed
                    .push(format!("`{at}`: `__loader__` is not a string"));
                return;
            }
        };
        if !LOADERS.contains(&loader) {
            self.malformed.push(format!(
                "`{at}`: loader `{loader}` is none skops knows; `skops.io.load` refuses the file"
            ));
            return;
        }
        let text = |key: &str| node.get(key).and_then(Value::as_str).map(str::to_owned);
        let (module, class) = match (text("__module__"), text("__class__")) {
            (Some(m), Some(c)) => (m, c),
            _ if loader == "CachedNode" => return,
            _ => {
                self.malformed.push(format!(
                    "`{at}`: a {loader} without string `__module__` and `__class__`"
                ));
                return;
            }
        };
        if let Some(id) = id_key(node)
            && loader != "CachedNode"
        {
            self.ids
                .entry(id)
                .or_insert_with(|| (module.clone(), class.clone()));
        }
        if NO_IMPORT.contains(&loader) {
            return;
        }
        match loader {
            // `getattr(operator, __class__)`: the module field is not read.
            "OperatorFuncNode" => self.imports.push(Import {
                loader: loader.to_owned(),
                module: "operator".to_owned(),
                name: class,
                at: at.to_owned(),
                method: None,
            }),
            "MethodNode" => {
                let content = node.get("content");
                let func = content.and_then(|c| c.get("func")).and_then(Value::as_str);
                let obj = content.and_then(|c| c.get("obj"));
                let owner = obj.and_then(|o| {
                    let m = o.get("__module__").and_then(Value::as_str);
                    let c = o.get("__class__").and_then(Value::as_str);
                    match (m, c) {
                        (Some(m), Some(c))
                            if o.get("__loader__").and_then(Value::as_str)
                                != Some("CachedNode") =>
                        {
                            Some((m.to_owned(), c.to_owned()))
                        }
                        _ => id_key(o).and_then(|id| self.ids.get(&id).cloned()),
                    }
                });
                match (func, owner) {
                    (Some(func), Some((m, c))) => self.imports.push(Import {
                        loader: loader.to_owned(),
                        module: m,
                        name: c,
                        at: at.to_owned(),
                        method: Some(func.to_owned()),
                    }),
                    (Some(func), None) => self.imports.push(Import {
                        loader: loader.to_owned(),
                        module: module.clone(),
                        name: class.clone(),
                        at: at.to_owned(),
                        method: Some(func.to_owned()),
                    }),
                    (None, _) => self.malformed.push(format!(
                        "`{at}`: a MethodNode without a string `content.func`"
                    )),
                }
            }
            "RandomGeneratorNode" => {
                self.imports.push(Import {
                    loader: loader.to_owned(),
                    module: module.clone(),
                    name: class.clone(),
                    at: at.to_owned(),
                    method: None,
                });
                // `gettype("numpy.random", state["bit_generator"])`.
                if let Some(bit) = node
                    .get("content")
                    .and_then(|c| c.get("bit_generator"))
                    .and_then(|b| b.get("bit_generator").or(Some(b)))
                    .and_then(Value::as_str)
                {
                    self.imports.push(Import {
                        loader: loader.to_owned(),
                        module: "numpy.random".to_owned(),
                        name: bit.to_owned(),
                        at: format!("{at}.content.bit_generator"),
                        method: None,
                    });
                }
            }
            _ => self.imports.push(Import {
                loader: loader.to_owned(),
                module,
                name: class,
                at: at.to_owned(),
                method: None,
            }),
        }
    }
}

/// What the loader does with the import, for evidence.
fn evidence(import: &Import, resolved: Option<&str>) -> String {
    let Import {
        loader,
        module,
        name,
        at,
        method,
    } = import;
    let action = match (loader.as_str(), method) {
        (_, Some(func)) => {
            format!("getattr(<{module}.{name} object>, {func:?}) (MethodNode at {at})")
        }
        ("OperatorFuncNode", _) => {
            format!("getattr(operator, {name:?})(*attrs) (OperatorFuncNode at {at})")
        }
        ("FunctionNode" | "TypeNode", _) => {
            format!("getattr(importlib.import_module({module:?}), {name:?}) ({loader} at {at})")
        }
        ("ObjectNode", _) => format!(
            "getattr(importlib.import_module({module:?}), {name:?}).__new__ + __setstate__ (ObjectNode at {at})"
        ),
        _ => {
            format!("getattr(importlib.import_module({module:?}), {name:?})(…) ({loader} at {at})")
        }
    };
    match resolved {
        Some(r) => format!("{action} (resolved: {r})"),
        None => action,
    }
}

/// Walks a parsed skops schema and reports every type, function and method it names that the
/// import policy does not allow.
pub fn analyse_schema(schema: &Value, ctx: &mut Ctx<'_>) {
    let mut walk = Walk::default();
    walk.visit(schema, "$");
    let config = ctx.config();
    let mut denied = Budget::new(MAX_LISTED);
    let mut unknown = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for import in &walk.imports {
        let written = match &import.method {
            Some(func) => format!("{}.{}.{func}", import.module, import.name),
            None => format!("{}.{}", import.module, import.name),
        };
        if !seen.insert((written.clone(), import.loader.clone())) {
            continue;
        }
        let name = match &import.method {
            Some(func) => format!("{}.{func}", import.name),
            None => import.name.clone(),
        };
        let class = classify(&import.module, &name, config);
        // A method is as dangerous as what its name reaches, whatever object it hangs off
        // (`PosixPath.write_text`, `Popen.communicate`).
        let method_reach = import.method.as_deref().and_then(hostcalls::function_reach);
        match (&class.class, method_reach) {
            (Class::Denied(d), _) => {
                if denied.admit() {
                    ctx.report(
                        RuleId::SkopsDeniedType,
                        None,
                        format!(
                            "schema.json makes skops import `{written}`, denied by `{}`: {}",
                            d.pattern, d.reason
                        ),
                        Some(evidence(import, class.resolved.as_deref())),
                    );
                }
            }
            (_, Some(reach)) => {
                if denied.admit() {
                    ctx.report(
                        RuleId::SkopsDeniedType,
                        None,
                        format!(
                            "schema.json makes skops look up the method `{written}`, which {}",
                            reach.as_str()
                        ),
                        Some(evidence(import, class.resolved.as_deref())),
                    );
                }
            }
            (Class::Unknown, None) => unknown.push((written, evidence(import, None))),
            (Class::Allowed, None) => {}
        }
    }
    let mut untrusted = Budget::new(MAX_LISTED);
    let mut rest = Vec::new();
    for (written, evidence) in &unknown {
        if untrusted.admit() {
            ctx.report(
                RuleId::SkopsUntrustedType,
                None,
                format!(
                    "schema.json makes skops import `{written}`, which is on neither the allow list nor the deny list"
                ),
                Some(evidence.clone()),
            );
        } else if rest.len() < 20 {
            rest.push(written.as_str());
        }
    }
    if let Some(message) = untrusted.not_listed(HERE) {
        ctx.report(
            RuleId::SkopsUntrustedType,
            None,
            format!("{message} (types on neither list)"),
            Some(rest.join(", ")),
        );
    }
    ctx.report_not_listed(RuleId::SkopsDeniedType, &denied, HERE);
    let mut malformed = Budget::new(MAX_LISTED);
    for why in &walk.malformed {
        if malformed.admit() {
            ctx.report(
                RuleId::SkopsMalformed,
                None,
                format!("skops schema: {why}"),
                None,
            );
        }
    }
    ctx.report_not_listed(RuleId::SkopsMalformed, &malformed, HERE);
    if walk.stopped {
        ctx.report(
            RuleId::SkopsMalformed,
            None,
            format!("skops schema has more than {MAX_NODES} nodes; the rest were not checked"),
            None,
        );
    }
}

#[cfg(test)]
mod tests;

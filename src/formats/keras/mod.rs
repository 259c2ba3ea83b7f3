//! Keras model configurations, walked the way `keras.saving.deserialize_keras_object` (Keras 3)
//! and `keras.models.model_from_config` (Keras 2, the legacy `.h5` `model_config` attribute)
//! read them: every object with a `class_name` is resolved through its `module` (imported by
//! Keras), `registered_name` (custom objects) or, for `class_name: "function"`, the function
//! its `config` names; Lambda layers carry marshalled Python bytecode, decoded here without
//! running it ([`marshal`]).
//!
//! Where the configuration comes from does not matter: `config.json` in a `.keras` zip (found by
//! content: a JSON object with `class_name` and `config`), the `model_config` attribute of an
//! HDF5 file, or `keras_metadata.pb` of a TensorFlow SavedModel.

pub mod marshal;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::formats::hostcalls::{self, Reach};
use crate::formats::json;
use crate::model::rules::RuleId;
use crate::model::summary::{FrameworkSummary, ModelSummary};
use crate::scan::context::{Ctx, MemberKind, Origin};

/// Configurations larger than this are not parsed (real ones are a few MiB at most).
const MAX_CONFIG: usize = 64 << 20;
/// Objects visited per configuration.
const MAX_NODES: usize = 1_000_000;

/// Packages whose modules Keras itself provides: a `module` inside them names Keras code.
const KERAS_ROOTS: &[&str] = &[
    "keras",
    "keras_hub",
    "keras_nlp",
    "keras_cv",
    "keras_core",
    "tf_keras",
];

/// Keras-internal functions that a configuration can reach (as a layer, an activation or a
/// Lambda's function) and that turn loading into something else: each with why.
const KERAS_GADGETS: &[(&str, &str)] = &[
    (
        "enable_unsafe_deserialization",
        "switches safe mode off for the rest of the process, so the next Lambda runs (CVE-2025-9906)",
    ),
    (
        "get_file",
        "downloads a URL and writes it to a path of the config's choosing (CVE-2025-8747)",
    ),
    ("load_model", "loads another model from a path"),
    ("load_weights", "reads a file from a path"),
    ("save_model", "writes a model to a path"),
    ("save_weights", "writes a file to a path"),
    ("set_random_seed", "changes process-wide state"),
];

/// Layers that open a file named in their configuration, with the keys naming it.
const FILE_KEYS: &[&str] = &[
    "vocabulary",
    "filepath",
    "file_path",
    "path",
    "vocab_file",
    "vocabulary_file",
    "merges",
    "merges_file",
    "proto",
    "spm_proto",
    "idf_weights",
    "fname",
    "origin",
    "cache_dir",
];

/// Analyses text if it is a Keras configuration (`config.json` of a `.keras` archive,
/// `model.to_json()`); other text is left alone. Returns whether it was one.
pub fn analyse_text(data: &[u8], ctx: &mut Ctx<'_>) -> bool {
    if data.len() > MAX_CONFIG || !json::may_hold_key(data, &["\"class_name\""]) {
        return false;
    }
    let value = match json::parse_like_python(data) {
        Ok(value) => value,
        Err(e) if json::starts_like_json(data) => {
            // Text that spells `class_name` and opens like JSON but that no JSON reader takes
            // (Python's rules included): not silently "not a Keras configuration".
            ctx.report(
                RuleId::KerasMalformed,
                None,
                format!("the text names `class_name` like a Keras configuration but is not JSON Python reads ({e}); it was not analysed"),
                None,
            );
            return true;
        }
        Err(_) => return false,
    };
    if !is_config(&value) {
        return false;
    }
    analyse_config(&value, "config.json", ctx);
    true
}

/// Whether a JSON value is a Keras model configuration.
pub fn is_config(value: &Value) -> bool {
    value.get("class_name").is_some_and(Value::is_string) && value.get("config").is_some()
}

/// Analyses a parsed Keras configuration and records its summary. `source` names where it
/// came from for messages (`config.json`, `attribute model_config`).
pub fn analyse_config(value: &Value, source: &str, ctx: &mut Ctx<'_>) {
    let stats = check_config(value, source, ctx);
    let class = value
        .get("class_name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut notes = Vec::new();
    if stats.lambdas > 0 {
        notes.push(format!("{} Lambda function(s)", stats.lambdas));
    }
    if !stats.custom.is_empty() {
        notes.push(format!("custom objects: {}", stats.custom.join(", ")));
    }
    ctx.summarise(ModelSummary::Keras(FrameworkSummary {
        producer: "keras".to_owned(),
        version: String::new(),
        entry: class,
        units: "layers".to_owned(),
        count: stats.layers.values().sum(),
        histogram: stats.layers,
        notes,
    }));
}

/// What a configuration holds, for summaries.
#[derive(Debug, Default)]
pub struct ConfigStats {
    /// Layers per class name.
    pub layers: BTreeMap<String, u64>,
    pub lambdas: u64,
    /// Registered custom objects (`package>Name`).
    pub custom: Vec<String>,
}

/// Walks a parsed Keras configuration and reports what loading it would do.
pub fn check_config(value: &Value, source: &str, ctx: &mut Ctx<'_>) -> ConfigStats {
    let mut walk = Walk {
        ctx,
        source,
        nodes: 0,
        layers: BTreeMap::new(),
        lambdas: 0,
        custom: Vec::new(),
        cut: false,
        deep: false,
    };
    walk.value(value, "$", 0);
    if walk.cut || walk.deep {
        walk.ctx.report(
            RuleId::KerasMalformed,
            None,
            format!(
                "{source}: the configuration is nested deeper than {MAX_DEPTH} levels or holds more than {MAX_NODES} objects; the rest was not analysed"
            ),
            None,
        );
    }
    ConfigStats {
        layers: walk.layers,
        lambdas: walk.lambdas,
        custom: walk.custom,
    }
}

const MAX_DEPTH: u32 = 200;

struct Walk<'c, 'x> {
    ctx: &'c mut Ctx<'x>,
    source: &'c str,
    nodes: usize,
    /// Layers per class name.
    layers: BTreeMap<String, u64>,
    lambdas: u64,
    custom: Vec<String>,
    cut: bool,
    deep: bool,
}

impl Walk<'_, '_> {
    fn value(&mut self, value: &Value, at: &str, depth: u32) {
        self.nodes += 1;
        // Past the node budget the walk stops; past the depth only this subtree is skipped, so
        // a deep unused value cannot hide the entries after it.
        if self.nodes > MAX_NODES {
            self.cut = true;
            return;
        }
        if depth > MAX_DEPTH {
            self.deep = true;
            return;
        }
        match value {
            Value::Object(map) => {
                if map.get("class_name").is_some_and(Value::is_string) {
                    self.object(value, at);
                }
                for (key, child) in map {
                    if self.cut {
                        return;
                    }
                    self.value(child, &format!("{at}.{key}"), depth + 1);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    if self.cut {
                        return;
                    }
                    self.value(child, &format!("{at}[{i}]"), depth + 1);
                }
            }
            Value::String(s) => self.string(s, at),
            _ => {}
        }
    }

    /// A bare string anywhere in the configuration: URLs are what `get_file`-style gadgets
    /// fetch.
    fn string(&mut self, s: &str, at: &str) {
        if s.len() < 8 || !s.contains("://") {
            return;
        }
        let Some((scheme, _)) = s.split_once("://") else {
            return;
        };
        if matches!(
            scheme.to_ascii_lowercase().as_str(),
            "http" | "https" | "ftp" | "gs" | "s3" | "hdfs" | "file"
        ) {
            let source = self.source;
            self.ctx.report(
                RuleId::KerasFileReference,
                None,
                format!(
                    "{source}: `{at}` holds a URL; nothing in an ordinary model configuration is fetched, a gadget such as `get_file` or a file-reading layer would fetch it"
                ),
                Some(format!("{at} = {s:?}")),
            );
        }
    }

    fn object(&mut self, value: &Value, at: &str) {
        let source = self.source;
        let class = value
            .get("class_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let module = value.get("module").and_then(Value::as_str);
        let registered = value.get("registered_name").and_then(Value::as_str);
        let config = value.get("config");
        if class == "__lambda__" {
            self.lambda_v3(config, at);
            return;
        }
        if class.starts_with("__") {
            // `__keras_tensor__`, `__tensor__`, `__numpy__`, `__bytes__`, `__typespec__`,
            // `__ellipsis__`, `__slice__`: data, no import.
            return;
        }
        // What Keras imports: `module` + `class_name`, or for a function the name in `config`.
        let function = (class == "function" || registered == Some("function"))
            .then(|| config.and_then(Value::as_str))
            .flatten();
        let name = function.unwrap_or(class);
        let full = match module {
            Some(m) if !m.is_empty() => format!("{m}.{name}"),
            _ => name.to_owned(),
        };
        let evidence = Some(format!(
            "{at}: module {module:?}, class_name {class:?}{}",
            match function {
                Some(f) => format!(", function {f:?}"),
                None => String::new(),
            }
        ));
        match module {
            // Keras writes every function it serialises as module `builtins`: it resolves the
            // name from the registered custom objects and its own losses, metrics and
            // activations first, and only then from Python's builtins. Only a name that is a
            // host-calling builtin (`exec`, `open`) matters there.
            Some("builtins") if function.is_some() => {
                if let Some(reach) = hostcalls::name_reach(name).filter(|_| !name.contains('>')) {
                    self.ctx.report(
                        RuleId::KerasForeignModuleHostCall,
                        None,
                        format!(
                            "{source}: `{at}` makes Keras resolve the function `{full}`, which {}; loading the model calls it (CVE-2025-1550)",
                            reach.as_str()
                        ),
                        evidence.clone(),
                    );
                }
            }
            Some(m) if !m.is_empty() && !is_keras_module(m) => {
                match hostcalls::name_reach(name).or_else(|| hostcalls::module_reach(m)) {
                    Some(reach) => self.ctx.report(
                        RuleId::KerasForeignModuleHostCall,
                        None,
                        format!(
                            "{source}: `{at}` makes Keras import `{full}`, which {}; loading the model calls it (CVE-2025-1550)",
                            reach.as_str()
                        ),
                        evidence.clone(),
                    ),
                    None => self.ctx.report(
                        RuleId::KerasForeignModule,
                        None,
                        format!(
                            "{source}: `{at}` makes Keras import `{full}` from outside the Keras packages; loading the model runs that module's code"
                        ),
                        evidence.clone(),
                    ),
                }
            }
            _ => {
                if let Some((gadget, why)) = KERAS_GADGETS.iter().find(|(g, _)| *g == name) {
                    self.ctx.report(
                        RuleId::KerasGadget,
                        None,
                        format!("{source}: `{at}` reaches Keras's `{gadget}`, which {why}"),
                        evidence.clone(),
                    );
                } else if let Some(reach) = hostcalls::function_reach(name) {
                    self.ctx.report(
                        RuleId::KerasGadget,
                        None,
                        format!(
                            "{source}: `{at}` names the function `{full}`, which {}",
                            reach.as_str()
                        ),
                        evidence.clone(),
                    );
                }
            }
        }
        if module.is_none()
            && let Some(r) = registered
            && r.contains('>')
            && !self.custom.iter().any(|c| c == r)
            && self.custom.len() < 32
        {
            self.custom.push(r.to_owned());
        }
        let Some(Value::Object(cfg)) = config else {
            return;
        };
        if is_layer(value) {
            *self.layers.entry(class.to_owned()).or_default() += 1;
        }
        match class {
            "Lambda" => self.lambda_layer(cfg, at),
            "TorchModuleWrapper" => self.torch_module(cfg, at),
            _ => {}
        }
        for key in FILE_KEYS {
            if let Some(Value::String(path)) = cfg.get(*key) {
                self.file_reference(class, key, path, at);
            }
        }
    }

    /// A layer config names a file: a loader opens it (a vocabulary, a SavedModel).
    fn file_reference(&mut self, class: &str, key: &str, path: &str, at: &str) {
        let source = self.source;
        // A one-word vocabulary or an empty path is no file; an `origin` in a keras
        // initializer config is not either.
        if path.is_empty() || (!path.contains(['/', '\\', '.']) && !path.contains("://")) {
            return;
        }
        let evidence = Some(format!("{at}.config.{key} = {path:?}"));
        match hostcalls::path_escape(path) {
            Some(why) => self.ctx.report(
                RuleId::KerasFileEscape,
                None,
                format!(
                    "{source}: the `{class}` layer at `{at}` reads `{key}` from {why}: loading the model opens it (CVE-2025-12058 class)"
                ),
                evidence,
            ),
            None => self.ctx.report(
                RuleId::KerasFileReference,
                None,
                format!(
                    "{source}: the `{class}` layer at `{at}` reads `{key}` from a file beside the model"
                ),
                evidence,
            ),
        }
    }

    /// Keras 3: `{"class_name": "__lambda__", "config": {"code": base64 marshal, ...}}`.
    fn lambda_v3(&mut self, config: Option<&Value>, at: &str) {
        let code = config.and_then(|c| c.get("code")).and_then(Value::as_str);
        self.lambda_code(code, at);
    }

    /// A `Lambda` layer's own config: Keras 3 nests a `__lambda__` or function object in
    /// `function` (walked separately); Keras 2 wrote `function` as `[code, defaults,
    /// closure]` (or the code string) with `function_type: "lambda"`, or a function name with
    /// `function_type: "function"` and a `module` to look it up in.
    fn lambda_layer(&mut self, cfg: &serde_json::Map<String, Value>, at: &str) {
        for (key, kind_key, module_key) in [
            ("function", "function_type", "module"),
            ("output_shape", "output_shape_type", "output_shape_module"),
        ] {
            let kind = cfg.get(kind_key).and_then(Value::as_str);
            let field = cfg.get(key);
            match (kind, field) {
                (Some("lambda"), Some(Value::Array(parts))) => self.lambda_code(
                    parts.first().and_then(Value::as_str),
                    &format!("{at}.config.{key}"),
                ),
                (Some("lambda"), Some(Value::String(code))) => {
                    self.lambda_code(Some(code), &format!("{at}.config.{key}"))
                }
                (Some("function"), Some(Value::String(name))) => {
                    let module = cfg
                        .get(module_key)
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    self.legacy_function(module, name, &format!("{at}.config.{key}"));
                }
                _ => {}
            }
        }
    }

    /// Keras 2 resolves a Lambda's function by name in `module`'s namespace (when imported).
    fn legacy_function(&mut self, module: &str, name: &str, at: &str) {
        let source = self.source;
        let full = if module.is_empty() {
            name.to_owned()
        } else {
            format!("{module}.{name}")
        };
        let evidence = Some(format!("{at} = {full:?}"));
        if let Some(reach) = hostcalls::name_reach(&full) {
            self.ctx.report(
                RuleId::KerasLambdaHostCall,
                None,
                format!(
                    "{source}: the Lambda at `{at}` calls `{full}`, which {}",
                    reach.as_str()
                ),
                evidence,
            );
        } else if !module.is_empty() && !is_keras_module(module) {
            self.ctx.report(
                RuleId::KerasForeignModule,
                None,
                format!(
                    "{source}: the Lambda at `{at}` calls `{full}` from outside the Keras packages"
                ),
                evidence,
            );
        }
    }

    fn lambda_code(&mut self, code: Option<&str>, at: &str) {
        let source = self.source;
        self.lambdas += 1;
        let Some(text) = code else {
            return self.ctx.report(
                RuleId::KerasLambda,
                None,
                format!("{source}: a Lambda function at `{at}` without readable code"),
                None,
            );
        };
        let decoded = match base64(text) {
            Some(bytes) => marshal::read(&bytes).map_err(|e| e.0),
            None => Err("the code is not base64".to_owned()),
        };
        let code = match decoded {
            Ok(marshal::Obj::Code(code)) => code,
            Ok(_) => {
                return self.ctx.report(
                    RuleId::KerasLambda,
                    None,
                    format!(
                        "{source}: the Lambda at `{at}` holds marshalled data that is not a code object; Keras would still try to run it"
                    ),
                    None,
                );
            }
            Err(why) => {
                return self.ctx.report(
                    RuleId::KerasLambda,
                    None,
                    format!(
                        "{source}: the Lambda at `{at}` holds code that could not be decoded ({why}); what it runs is unknown"
                    ),
                    None,
                );
            }
        };
        let all = code.all();
        let mut names: Vec<&str> = Vec::new();
        for c in &all {
            for n in &c.names {
                if !names.contains(&n.as_str()) {
                    names.push(n);
                }
            }
        }
        let strings = code.strings();
        // Names the code uses (co_names) and string constants that name a module or function
        // (`__import__('os')`, `getattr(x, 'system')`).
        let mut reached: Vec<(String, Reach)> = Vec::new();
        // A string constant counts when it names a host function, a dotted path into a host
        // module, or any host module while the code imports or looks names up dynamically
        // (`__import__('os')`, `getattr(m, 'sys' + 'tem')` still names `getattr`).
        let dynamic = names.iter().any(|n| {
            matches!(
                *n,
                "__import__" | "import_module" | "getattr" | "globals" | "vars" | "eval" | "exec"
            )
        });
        let mut note = |n: &str, reach: Option<Reach>| {
            if let Some(reach) = reach
                && !reached.iter().any(|(r, _)| r == n)
            {
                reached.push((n.to_owned(), reach));
            }
        };
        for n in &names {
            if n.len() <= 64 {
                note(n, hostcalls::name_reach(n));
            }
        }
        for s in &strings {
            if s.len() > 64 {
                continue;
            }
            let reach = hostcalls::function_reach(s)
                .filter(|_| !s.contains(' '))
                .or_else(|| {
                    (s.contains('.') || dynamic)
                        .then(|| hostcalls::module_reach(s))
                        .flatten()
                        .filter(|_| !s.contains(' '))
                });
            note(s, reach);
        }
        if dynamic {
            for (name, reach) in assembled_names(&strings) {
                note(&name, Some(reach));
            }
        }
        let listing = format!(
            "code `{}` ({} code object(s), {} bytes of bytecode): names [{}]; string constants [{}]",
            code.name,
            all.len(),
            all.iter().map(|c| c.bytecode_len).sum::<usize>(),
            names.join(", "),
            strings
                .iter()
                .take(16)
                .map(|s| format!("{:?}", truncate(s, 80)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if self.ctx.wants_extracts() {
            let mut text = names.join("\n");
            for s in &strings {
                text.push('\n');
                text.push_str(s);
            }
            self.ctx.extract(
                Origin::FrameworkString,
                &format!("{source} Lambda `{at}` names and constants"),
                None,
                text.as_bytes(),
            );
        }
        if reached.is_empty() {
            self.ctx.report(
                RuleId::KerasLambda,
                None,
                format!(
                    "{source}: the Lambda at `{at}` carries Python bytecode that runs when the model is loaded with safe mode off"
                ),
                Some(listing),
            );
        } else {
            let what: Vec<String> = reached
                .iter()
                .map(|(n, r)| format!("`{n}` ({})", r.as_str()))
                .collect();
            self.ctx.report(
                RuleId::KerasLambdaHostCall,
                None,
                format!(
                    "{source}: the Lambda at `{at}` carries Python bytecode that uses {} (CVE-2024-3660)",
                    what.join(", ")
                ),
                Some(listing),
            );
        }
    }

    /// Keras's torch backend pickles a wrapped `torch.nn.Module` (`torch.save`, base64) and
    /// `torch.load`s it with `weights_only=False`: the pickle goes through the pickle engine.
    fn torch_module(&mut self, cfg: &serde_json::Map<String, Value>, at: &str) {
        let Some(Value::String(text)) = cfg.get("module") else {
            return;
        };
        match base64(text) {
            Some(bytes) => {
                self.ctx.report(
                    RuleId::KerasTorchModule,
                    None,
                    format!(
                        "{}: the TorchModuleWrapper at `{at}` holds a pickled torch module ({} bytes), unpickled on load; analysed as a member",
                        self.source,
                        bytes.len()
                    ),
                    None,
                );
                let name = format!("{at}.config.module");
                self.ctx.nested(&name, &bytes, MemberKind::File);
            }
            None => self.ctx.report(
                RuleId::KerasMalformed,
                None,
                format!(
                    "{}: the TorchModuleWrapper at `{at}` holds a module that is not base64",
                    self.source
                ),
                None,
            ),
        }
    }
}

/// A serialised layer: a Keras class config inside a model's `layers` (has a `name`).
fn is_layer(value: &Value) -> bool {
    value.get("name").is_some()
        || value
            .get("config")
            .and_then(|c| c.get("name"))
            .is_some_and(Value::is_string)
            && value.get("inbound_nodes").is_some()
        || value
            .get("module")
            .and_then(Value::as_str)
            .is_some_and(|m| m.starts_with("keras.layers") || m.starts_with("keras.src.layers"))
}

fn is_keras_module(module: &str) -> bool {
    let root = module.split('.').next().unwrap_or(module);
    KERAS_ROOTS.contains(&root)
        || module == "tensorflow.keras"
        || module.starts_with("tensorflow.keras.")
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// Decodes base64 the way Python's `binascii.a2b_base64` does by default: characters outside
/// the alphabet are skipped, and decoding stops at padding.
pub fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits, mut seen) = (0u32, 0u32, 0usize);
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                if seen % 4 >= 2 {
                    break;
                }
                continue;
            }
            _ => continue,
        };
        seen += 1;
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (seen % 4 != 1 && !out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests;

/// Attributes that walk from any object to the interpreter's internals (the sandbox escape
/// `().__class__.__base__.__subclasses__()` and on to `__builtins__['__import__']`).
const ESCAPE_ATTRIBUTES: &[&str] = &[
    "__class__",
    "__base__",
    "__bases__",
    "__mro__",
    "__subclasses__",
    "__globals__",
    "__builtins__",
    "__import__",
    "__code__",
    "__getattribute__",
];

/// Names a Lambda builds at run time for `getattr` and friends: an escape attribute written
/// whole, or a host function or escape attribute assembled from up to four consecutive short
/// string constants (`''.join(['__subcl', 'asses__'])`, `'sy' + 'stem'`), which no name in the
/// code shows.
fn assembled_names(strings: &[String]) -> Vec<(String, Reach)> {
    let mut found = Vec::new();
    for width in 1..=4 {
        for parts in strings.windows(width) {
            if parts.iter().any(|p| p.is_empty() || p.len() > 32) {
                continue;
            }
            let joined = parts.concat();
            let reach = if ESCAPE_ATTRIBUTES.contains(&joined.as_str()) {
                Some(Reach::Code)
            } else if width > 1 {
                hostcalls::function_reach(&joined)
            } else {
                None
            };
            if let Some(reach) = reach {
                found.push((joined, reach));
            }
        }
    }
    found
}

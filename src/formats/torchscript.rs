//! TorchScript archives (`torch.jit.save`): a zip whose `<dir>/code/**/*.py` members hold the
//! TorchScript source of every class, beside `data.pkl`/`constants.pkl` pickles that name those
//! classes as `__torch__.<module>.<Class>` and rebuild lists with `torch.jit._pickle.*`.
//! `torch.jit.load` resolves `__torch__` names by compiling the archive's own code, never by
//! importing Python, so such a name is allowed exactly when the archive's code defines it.
//!
//! Before the zip's members are analysed, [`prepare`] reads the code members (through the `zip`
//! crate's strict reader, bounded) and collects the classes they define and the operator
//! namespaces they call; the pickle engine consults [`Ctx::archive_defines`] for unknown
//! globals. Ops outside the namespaces PyTorch ships need a native library loaded beside the
//! model (TRC002).

use std::collections::{BTreeMap, HashSet};
use std::io::Read;

use crate::model::rules::RuleId;
use crate::model::summary::{FrameworkSummary, ModelSummary};
use crate::scan::context::Ctx;

/// Code read per archive, all members together.
const MAX_CODE: u64 = 64 << 20;
/// Code members read per archive.
const MAX_FILES: usize = 20_000;

/// `torch.ops.<namespace>` that PyTorch and its domain libraries register themselves.
const KNOWN_NAMESPACES: &[&str] = &[
    "aten",
    "prim",
    "prims",
    "quantized",
    "_quantized",
    "quantized_decomposed",
    "prepacked",
    "profiler",
    "cuda",
    "mkldnn",
    "mkldnn_prepacked",
    "onednn",
    "fbgemm",
    "_caffe2",
    "torchvision",
    "torchaudio",
    "torchtext",
    "image",
];

/// `torch.jit._pickle` helpers that data.pkl uses to rebuild typed lists: each returns its
/// argument.
const PICKLE_BUILDERS: &[&str] = &[
    "build_intlist",
    "build_tensorlist",
    "build_doublelist",
    "build_boollist",
    "build_tensor_from_id",
    "restore_type_tag",
];

/// What the code members of a TorchScript archive define.
#[derive(Debug, Default, Clone)]
pub struct ArchiveCode {
    /// Qualified class names (`__torch__.vad.model.VAD`).
    pub classes: HashSet<String>,
}

impl ArchiveCode {
    /// Whether loading the archive resolves `module.name` from its own code.
    pub fn defines(&self, module: &str, name: &str) -> bool {
        if module == "torch.jit._pickle" {
            return PICKLE_BUILDERS.contains(&name);
        }
        (module == "__torch__" || module.starts_with("__torch__."))
            && self.classes.contains(&format!("{module}.{name}"))
    }
}

/// Reads the code of a TorchScript archive, when `data` is one (a zip with
/// `<dir>/constants.pkl` and `<dir>/code/` members). Reports custom op namespaces and records
/// a summary.
pub fn prepare(data: &[u8], ctx: &mut Ctx<'_>) -> Option<ArchiveCode> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(data)).ok()?;
    let names: Vec<String> = archive
        .file_names()
        .filter_map(|n| n.ok().map(std::borrow::Cow::into_owned))
        .collect();
    let is_script = names.iter().any(|n| {
        n.strip_suffix("constants.pkl")
            .is_some_and(|d| d.is_empty() || d.ends_with('/'))
    });
    if !is_script {
        return None;
    }
    let mut code = ArchiveCode::default();
    let mut namespaces: BTreeMap<String, u64> = BTreeMap::new();
    let mut custom: BTreeMap<String, String> = BTreeMap::new();
    let mut budget = MAX_CODE;
    let mut files = 0usize;
    for name in &names {
        let Some(module) = code_module(name) else {
            continue;
        };
        files += 1;
        if files > MAX_FILES || budget == 0 {
            break;
        }
        let Ok(file) = archive.by_name(name) else {
            continue;
        };
        let mut text = Vec::new();
        if file.take(budget).read_to_end(&mut text).is_err() {
            continue;
        }
        budget = budget.saturating_sub(text.len() as u64);
        let text = String::from_utf8_lossy(&text);
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("class ") {
                let class: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !class.is_empty() {
                    code.classes.insert(format!("{module}.{class}"));
                }
            }
        }
        for (ns, op) in op_calls(&text) {
            *namespaces.entry(format!("ops.{ns}")).or_default() += 1;
            if !KNOWN_NAMESPACES.contains(&ns) {
                custom
                    .entry(format!("ops.{ns}.{op}"))
                    .or_insert_with(|| name.clone());
            }
        }
    }
    for (op, member) in custom.iter().take(64) {
        ctx.report(
            RuleId::TorchScriptCustomOp,
            None,
            format!(
                "TorchScript code `{member}` calls `torch.{op}`, an operator no PyTorch release ships: loading needs a native library registered beside the model"
            ),
            Some(format!("{op} in {member}")),
        );
    }
    ctx.summarise(ModelSummary::Torchscript(FrameworkSummary {
        producer: "torch.jit".to_owned(),
        version: String::new(),
        entry: String::new(),
        units: "classes".to_owned(),
        count: code.classes.len() as u64,
        histogram: namespaces,
        notes: vec![format!("{files} code file(s)")],
    }));
    Some(code)
}

/// `__torch__.a.b` for `<dir>/code/__torch__/a/b.py`.
fn code_module(name: &str) -> Option<String> {
    let (_, rest) = name.split_once("code/")?;
    let path = rest.strip_suffix(".py")?;
    if !path.starts_with("__torch__") || name.contains("..") {
        return None;
    }
    Some(path.replace('/', "."))
}

/// `ops.<namespace>.<op>` calls in TorchScript source.
fn op_calls(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    for (at, _) in text.match_indices("ops.") {
        if at > 0 && ident(bytes[at - 1]) {
            continue;
        }
        let rest = &text[at + 4..];
        let ns_len = rest.bytes().take_while(|&b| ident(b)).count();
        let ns = &rest[..ns_len];
        let Some(after) = rest[ns_len..].strip_prefix('.') else {
            continue;
        };
        let op_len = after.bytes().take_while(|&b| ident(b)).count();
        if ns.is_empty() || op_len == 0 {
            continue;
        }
        out.push((ns, &after[..op_len]));
        if out.len() >= 100_000 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_and_ops_are_read_from_code() {
        assert_eq!(
            code_module("m/code/__torch__/vad/model.py").as_deref(),
            Some("__torch__.vad.model")
        );
        assert_eq!(code_module("m/code/__torch__/x.py.debug_pkl"), None);
        assert_eq!(code_module("m/extra/x.py"), None);
        let calls = op_calls("x = ops.prim.data(y)\n z = torch.ops.my_ns.run(x)\n myops.a.b");
        assert_eq!(calls, [("prim", "data"), ("my_ns", "run")]);
        let code = ArchiveCode {
            classes: ["__torch__.m.Net".to_owned()].into_iter().collect(),
        };
        assert!(code.defines("__torch__.m", "Net"));
        assert!(!code.defines("__torch__.m", "Other"));
        assert!(!code.defines("os", "system"));
        assert!(code.defines("torch.jit._pickle", "build_intlist"));
    }
}

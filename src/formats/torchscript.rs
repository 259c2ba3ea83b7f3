//! TorchScript archives (`torch.jit.save`): a zip whose `<dir>/code/**/*.py` members hold the
//! TorchScript source of every class, beside `data.pkl`/`constants.pkl` pickles that name those
//! classes as `__torch__.<module>.<Class>` and rebuild lists with `torch.jit._pickle.*`.
//! `torch.jit.load` resolves `__torch__` names by compiling the archive's own code, never by
//! importing Python, so such a name is allowed exactly when the archive's code defines it.
//!
//! Before the zip's members are analysed, [`prepare`] reads the code members (as PyTorch's
//! lenient reader does, bounded) and collects the classes they define and the operator
//! namespaces they call; the pickle engine consults [`Ctx::archive_defines`] for unknown
//! globals. Ops outside the namespaces PyTorch ships need a native library loaded beside the
//! model (TRC002).
//!
//! TorchScript has no `open` or `os`, but two of its builtins touch the host's files:
//! `torch.save` (the `aten::save` operator, which pickles a value to any path) and
//! `torch.from_file` (which maps any file into a tensor, writable with `shared=True`). Code
//! that runs them in `__setstate__` does so while the model loads (TRC003, TRC004).

use std::collections::{BTreeMap, HashSet};

use crate::containers::zip;
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
    // The members as PyTorch's lenient reader sees them: a strict reader refuses archives that
    // torch.jit.load accepts (an end record whose comment length is off), which would hide the
    // code from this analysis.
    let max_members = ctx.config().zone.max_members;
    let mut is_script = false;
    let constants = |n: &[u8]| {
        n.strip_suffix(b"constants.pkl")
            .is_some_and(|d| d.is_empty() || d.ends_with(b"/"))
    };
    zip::members(data, max_members, 0, constants, |_, _| is_script = true);
    if !is_script {
        return None;
    }
    let mut code = ArchiveCode::default();
    let mut namespaces: BTreeMap<String, u64> = BTreeMap::new();
    let mut custom: BTreeMap<String, String> = BTreeMap::new();
    let mut budget = MAX_CODE;
    let mut files = 0usize;
    let is_code = |n: &[u8]| std::str::from_utf8(n).is_ok_and(|n| code_module(n).is_some());
    zip::members(data, max_members, MAX_CODE, is_code, |name, text| {
        let name = String::from_utf8_lossy(name).into_owned();
        let Some(module) = code_module(&name) else {
            return;
        };
        files += 1;
        let Ok(text) = text else {
            return;
        };
        if files > MAX_FILES || budget == 0 {
            return;
        }
        let text = text
            .get(
                ..usize::try_from(budget)
                    .unwrap_or(usize::MAX)
                    .min(text.len()),
            )
            .unwrap_or_default();
        budget = budget.saturating_sub(text.len() as u64);
        let text = String::from_utf8_lossy(text);
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
        for access in file_access(&text) {
            report_file_access(&access, &name, ctx);
        }
        for (ns, op) in op_calls(&text) {
            *namespaces.entry(format!("ops.{ns}")).or_default() += 1;
            if !KNOWN_NAMESPACES.contains(&ns) {
                custom
                    .entry(format!("ops.{ns}.{op}"))
                    .or_insert_with(|| name.clone());
            }
        }
    });
    let files = files.min(MAX_FILES);
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

/// What a TorchScript builtin can do to the host's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// `torch.save`, or `torch.from_file` with `shared` not plainly false.
    Write,
    /// `torch.from_file` with `shared` absent or false, or a mention in code that did not parse.
    Read,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileAccess {
    access: Access,
    /// The builtin as written (`torch.from_file`).
    target: String,
    /// The call's text, shortened.
    text: String,
    line: usize,
}

/// The file builtins: TorchScript resolves `torch.<op>`, `torch._C._nn.<op>` (and the other
/// builtin modules) and `ops.aten.<op>` to the same `aten::<op>` operator.
const FILE_BUILTINS: &[&str] = &["save", "from_file"];

/// The file builtin a dotted name reaches, if any: rooted at `torch` or `ops`, with `save` or
/// `from_file` anywhere after the root.
fn file_builtin(dotted: &str) -> Option<&'static str> {
    let mut parts = dotted.split('.');
    if !matches!(parts.next(), Some("torch" | "ops")) {
        return None;
    }
    parts.find_map(|p| FILE_BUILTINS.iter().copied().find(|&b| b == p))
}

fn report_file_access(found: &FileAccess, member: &str, ctx: &mut Ctx<'_>) {
    let (rule, what) = match found.access {
        Access::Write => (
            RuleId::TorchScriptFileWrite,
            "which writes a file on the host when the code runs (a path such as `.bashrc` or a `.pth` file turns that into code execution)",
        ),
        Access::Read => (
            RuleId::TorchScriptFileRead,
            "which reads a file on the host into a tensor when the code runs",
        ),
    };
    ctx.report(
        rule,
        None,
        format!(
            "TorchScript code `{member}` calls `{}` (line {}), {what}",
            found.target, found.line
        ),
        Some(found.text.clone()),
    );
}

/// The file builtins TorchScript source calls or names. The source is parsed as Python (the
/// TorchScript printer writes Python syntax); code that does not parse is searched by text,
/// and what is found there counts as a read (suspicious), since its arguments are unknown.
fn file_access(source: &str) -> Vec<FileAccess> {
    #[cfg(feature = "python")]
    if let Some(found) = parsed::file_access(source) {
        return found;
    }
    mentioned_file_builtins(source)
}

/// `<ident>.save` / `<ident>.from_file` in text that is not parsed.
fn mentioned_file_builtins(source: &str) -> Vec<FileAccess> {
    let mut out = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let words = line.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'));
        for word in words {
            if file_builtin(word).is_some() {
                out.push(FileAccess {
                    access: Access::Read,
                    target: format!("{word} (in code that does not parse)"),
                    text: word.to_owned(),
                    line: n + 1,
                });
            }
        }
        if out.len() >= MAX_REPORTED {
            break;
        }
    }
    out
}

/// File builtins reported per code member.
const MAX_REPORTED: usize = 16;

#[cfg(feature = "python")]
mod parsed {
    use ruff_python_ast::visitor::{self, Visitor};
    use ruff_python_ast::{self as ast, Expr};
    use ruff_text_size::Ranged;

    use super::{Access, FileAccess, MAX_REPORTED, file_builtin};
    use crate::formats::python::{MAX_SOURCE, Plain, dotted_name, on_deep_stack};

    /// `None` when the source does not parse as Python.
    pub(super) fn file_access(source: &str) -> Option<Vec<FileAccess>> {
        if source.len() > MAX_SOURCE {
            return None;
        }
        on_deep_stack(source, |source| {
            let parsed = ruff_python_parser::parse_module(source).ok()?;
            let mut finder = Finder {
                source,
                out: Vec::new(),
            };
            for stmt in parsed.suite() {
                finder.visit_stmt(stmt);
            }
            Some(finder.out)
        })
        .ok()
        .flatten()
    }

    struct Finder<'s> {
        source: &'s str,
        out: Vec<FileAccess>,
    }

    impl Finder<'_> {
        fn push(&mut self, access: Access, target: String, e: &Expr) {
            if self.out.len() >= MAX_REPORTED {
                return;
            }
            let start = e.range().start().to_usize();
            let text = self
                .source
                .get(start..e.range().end().to_usize())
                .unwrap_or("?");
            let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let text = match text.char_indices().nth(160) {
                Some((cut, _)) => format!("{}…", &text[..cut]),
                None => text,
            };
            let line = self
                .source
                .get(..start)
                .map_or(0, |before| before.matches('\n').count())
                + 1;
            self.out.push(FileAccess {
                access,
                target,
                text,
                line,
            });
        }
    }

    /// `shared` (second positional or keyword) of a `from_file` call is plainly false.
    fn read_only(call: &ast::ExprCall) -> bool {
        let shared = call.arguments.args.get(1).or_else(|| {
            call.arguments
                .keywords
                .iter()
                .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "shared"))
                .map(|k| &k.value)
        });
        match shared {
            None | Some(Expr::NoneLiteral(_)) => true,
            Some(Expr::BooleanLiteral(b)) => !b.value,
            Some(Expr::NumberLiteral(n)) => {
                matches!(&n.value, ast::Number::Int(i) if i.as_u64() == Some(0))
            }
            _ => false,
        }
    }

    impl<'a> Visitor<'a> for Finder<'_> {
        fn visit_expr(&mut self, e: &'a Expr) {
            let named = |e: &Expr| dotted_name(e, &Plain);
            match e {
                Expr::Call(call) => {
                    if let Some(target) = named(&call.func)
                        && let Some(op) = file_builtin(&target)
                    {
                        let access = if op == "from_file" && read_only(call) {
                            Access::Read
                        } else {
                            Access::Write
                        };
                        self.push(access, target, e);
                        for arg in &call.arguments.args {
                            self.visit_expr(arg);
                        }
                        for keyword in &call.arguments.keywords {
                            self.visit_expr(&keyword.value);
                        }
                        return;
                    }
                }
                // Named without a call (`f = torch.save`): what it is called with is unknown.
                Expr::Attribute(_) => {
                    if let Some(target) = named(e)
                        && file_builtin(&target).is_some()
                    {
                        self.push(Access::Write, target, e);
                        return;
                    }
                }
                _ => {}
            }
            visitor::walk_expr(self, e);
        }
    }
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
        let before = &bytes[..at];
        // `ops.x.y` or `torch.ops.x.y`; `torchvision.ops.boxes.nms` is a Python module path
        // (a compiled function of the archive's own code), not an operator.
        let torch_ops = before
            .strip_suffix(b"torch.")
            .is_some_and(|head| !head.last().is_some_and(|&b| ident(b) || b == b'.'));
        let attribute = before.last() == Some(&b'.') && !torch_ops;
        if before.last().is_some_and(|&b| ident(b)) || attribute {
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
        let calls = op_calls(
            "x = ops.prim.data(y)\n z = torch.ops.my_ns.run(x)\n myops.a.b\n\
             k = __torch__.torchvision.ops.boxes.nms(b, s)\n w = mytorch.ops.c.d",
        );
        assert_eq!(calls, [("prim", "data"), ("my_ns", "run")]);
        let code = ArchiveCode {
            classes: ["__torch__.m.Net".to_owned()].into_iter().collect(),
        };
        assert!(code.defines("__torch__.m", "Net"));
        assert!(!code.defines("__torch__.m", "Other"));
        assert!(!code.defines("os", "system"));
        assert!(code.defines("torch.jit._pickle", "build_intlist"));
    }

    #[test]
    fn file_builtins_are_found_by_what_they_resolve_to() {
        assert_eq!(file_builtin("torch.save"), Some("save"));
        assert_eq!(file_builtin("torch._C._nn.save"), Some("save"));
        assert_eq!(file_builtin("ops.aten.from_file"), Some("from_file"));
        assert_eq!(file_builtin("torch.ops.aten.from_file"), Some("from_file"));
        assert_eq!(file_builtin("self.save"), None);
        assert_eq!(file_builtin("torch.saved"), None);
        let code = "class M(Module):\n  def __setstate__(self: __torch__.M, state: Tuple[bool]) -> None:\n    a = torch.from_file(\"/etc/hostname\", False, 8)\n    b = torch.from_file(\"/root/.bashrc\", True, 64)\n    c = ops.aten.from_file(\"/x\", shared=None)\n    torch._C._nn.save(a, \"/tmp/x\")\n    f = torch.save\n    self.save(a)\n    # torch.save(a, '/in/a/comment')\n    return None\n";
        let found = file_access(code);
        let got: Vec<(Access, usize)> = found.iter().map(|f| (f.access, f.line)).collect();
        assert_eq!(
            got,
            [
                (Access::Read, 3),
                (Access::Write, 4),
                (Access::Read, 5),
                (Access::Write, 6),
                (Access::Write, 7),
            ]
        );
        assert_eq!(found[1].target, "torch.from_file");
        // Code that does not parse is searched by text, and counts as a read.
        let broken = file_access("def f(:\n  torch.save(x, p)\n");
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].access, Access::Read);
    }
}

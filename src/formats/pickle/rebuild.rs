//! Functions pickled by value: dill and cloudpickle rebuild a Python function from a code object
//! whose fields (bytecode, constants, names) are in the stream.
//!
//! dill writes `dill._dill._create_function(dill._dill._create_code(…), <globals>, …)` (the
//! globals of `__main__` as the dill-only global `__builtin__.__main__`), and types by name with
//! `dill._dill._load_type('CodeType')`; cloudpickle writes
//! `cloudpickle.cloudpickle._make_function(_builtin_type('CodeType')(…), globals, …)` and sets
//! the function's state with `_function_setstate`, importing the modules the function uses with
//! `subimport('name')`. The helpers themselves do nothing but build objects, so they are not
//! judged as the deny list judges the rest of `dill`/`cloudpickle` (which also holds `loads`,
//! `_eval_repr`, `_get_attr`, `_create_filehandle`): each call of a helper is judged by its
//! arguments instead, and each rebuilt code object by what its names and constants reach,
//! decoded statically (nothing is run or interpreted).

use std::collections::HashSet;

use crate::formats::hostcalls::{self, Reach};
use crate::model::rules::RuleId;

use super::imports;
use super::value::{Node, NodeId, Value};
use super::vm::{MAX_REPORTS, Machine};

/// What a code-rebuilding helper does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Builds a code object from its fields (`_create_code`).
    Code,
    /// Builds a function from a code object and globals.
    Function,
    /// Returns a type by name (`_load_type`, `_builtin_type`): judged by the name.
    TypeByName,
    /// Imports a module by name (`subimport`, `_import_module`): judged by the module.
    Module,
    /// Builds cells, classes, named tuples, sets a function's state.
    Helper,
    /// `_create_array(f, args, state, npdict)`: `f(*args).__setstate__(state)`, how dill
    /// pickles every ndarray. Judged by `f`, which must be numpy's own reconstructor.
    Array,
}

const DILL_MODULES: &[&str] = &["dill._dill", "dill.dill", "dill"];
const CLOUDPICKLE_MODULES: &[&str] = &[
    "cloudpickle.cloudpickle",
    "cloudpickle.cloudpickle_fast",
    "cloudpickle",
];

const DILL: &[(&str, Role)] = &[
    ("_create_code", Role::Code),
    ("_create_function", Role::Function),
    ("_load_type", Role::TypeByName),
    ("_import_module", Role::Module),
    ("_create_cell", Role::Helper),
    ("_create_type", Role::Helper),
    ("_create_namedtuple", Role::Helper),
    ("_create_lock", Role::Helper),
    ("_create_array", Role::Array),
    ("_create_rlock", Role::Helper),
];

const CLOUDPICKLE: &[(&str, Role)] = &[
    ("_make_function", Role::Function),
    ("_make_skel_func", Role::Function),
    ("_builtin_type", Role::TypeByName),
    ("subimport", Role::Module),
    ("_function_setstate", Role::Helper),
    ("_fill_function", Role::Helper),
    ("_make_cell", Role::Helper),
    ("_make_empty_cell", Role::Helper),
    ("_make_skeleton_class", Role::Helper),
    ("_make_skeleton_enum", Role::Helper),
    ("_class_setstate", Role::Helper),
    ("_enum_setstate", Role::Helper),
    ("_make_typevar", Role::Helper),
    ("_make_dict_keys", Role::Helper),
    ("_make_dict_values", Role::Helper),
    ("_make_dict_items", Role::Helper),
    ("dynamic_subimport", Role::Helper),
];

/// The role of the global `module.name`, if it is a code-rebuilding helper of dill or
/// cloudpickle (or dill's `__builtin__.__main__`, the globals of the main module).
pub(super) fn role(module: &str, name: &str) -> Option<Role> {
    let table = if DILL_MODULES.contains(&module) {
        DILL
    } else if CLOUDPICKLE_MODULES.contains(&module) {
        CLOUDPICKLE
    } else if matches!(module, "__builtin__" | "builtins") && name == "__main__" {
        return Some(Role::Helper);
    } else {
        return None;
    };
    table.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

/// What dill's `_create_array` may call to make the array (`numpy.core.multiarray._reconstruct`
/// under its numpy 1 and numpy 2 homes).
const ARRAY_RECONSTRUCTORS: &[&str] = &[
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray._reconstruct",
];

/// Types `_load_type`/`_builtin_type` may return without harm: what they rebuild is judged
/// where it is called (`CodeType` as a code object, `FunctionType` as a function).
const SAFE_TYPES: &[&str] = &[
    "CodeType",
    "FunctionType",
    "LambdaType",
    "CellType",
    "MethodType",
    "PartialType",
    "ModuleType",
    "MappingProxyType",
    "SimpleNamespace",
    "TypeType",
    "ObjectType",
    "NoneType",
    "EllipsisType",
    "NotImplementedType",
    "ClassType",
    "PropertyType",
    "StaticMethodType",
    "ClassMethodType",
    "SuperType",
    "SliceType",
    "BooleanType",
    "ComplexType",
];

/// One code object a stream rebuilds.
pub(super) struct Rebuilt {
    pub pos: usize,
    pub via: String,
    pub name: String,
    pub names: Vec<String>,
    pub strings: Vec<String>,
    pub reached: Vec<(String, Reach)>,
}

/// Per stream: what the helpers were asked to do.
#[derive(Default)]
pub(super) struct Rebuilds {
    pub code: Vec<Rebuilt>,
    /// Calls of `_load_type`/`_builtin_type` returning a type by name: call node → name.
    pub types: Vec<(NodeId, String)>,
    /// Imports whose calls were refused (their PKL001 stands): index → why.
    pub refused: Vec<(usize, usize, String)>,
    pub seen_refused: HashSet<usize>,
}

const MAX_STRINGS: usize = 4096;

impl<'a> Machine<'a, '_, '_> {
    /// Items of a tuple or list value.
    fn items_of(&self, value: Value<'a>) -> Vec<Value<'a>> {
        match self.arena.node(value) {
            Some(Node::Tuple(items) | Node::List(items)) => {
                self.arena.values(items).take(MAX_STRINGS).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Every string in `value`, through nested tuples and lists (bounded).
    fn strings_in(&self, value: Value<'a>, out: &mut Vec<String>, depth: u32) {
        if out.len() >= MAX_STRINGS || depth > 16 {
            return;
        }
        if let Some(text) = value.str_text() {
            out.push(text.into_owned());
            return;
        }
        for item in self.items_of(value) {
            self.strings_in(item, out, depth + 1);
        }
    }

    /// Judges a call of the code-rebuilding helper `index` (`role`) made directly (not a call
    /// of its result) with `args`.
    pub(super) fn rebuild_call(
        &mut self,
        index: usize,
        role: Role,
        call: NodeId,
        args: Value<'a>,
        pos: usize,
    ) {
        let written = self
            .imports
            .list
            .get(index)
            .map(|i| i.written())
            .unwrap_or_default();
        match role {
            Role::Code => self.rebuilt_code(&written, args, pos),
            Role::TypeByName => {
                let name = self
                    .items_of(args)
                    .first()
                    .and_then(|v| v.str_text())
                    .map(|t| t.into_owned());
                match name {
                    Some(n) if SAFE_TYPES.contains(&n.as_str()) => {
                        self.rebuilds.types.push((call, n));
                    }
                    Some(n) => self.refuse(
                        index,
                        pos,
                        format!("returns the type `{n}`, which is not one code rebuilding needs"),
                    ),
                    None => self.refuse(
                        index,
                        pos,
                        "returns a type the scanner cannot name".to_owned(),
                    ),
                }
            }
            Role::Module => {
                let name = self
                    .items_of(args)
                    .first()
                    .and_then(|v| v.str_text())
                    .map(|t| t.into_owned());
                match name {
                    Some(m) => {
                        let denied = imports::classify_module(&m, self.ctx.config());
                        if let Some(d) = denied {
                            self.refuse(
                                index,
                                pos,
                                format!(
                                    "imports the module `{m}` (denied by `{}`: {})",
                                    d.pattern, d.reason
                                ),
                            );
                        } else if let Some(reach) = hostcalls::module_reach(&m) {
                            self.refuse(
                                index,
                                pos,
                                format!("imports the module `{m}`, which {}", reach.as_str()),
                            );
                        }
                    }
                    None => self.refuse(
                        index,
                        pos,
                        "imports a module the scanner cannot name".to_owned(),
                    ),
                }
            }
            Role::Array => {
                if let Err(why) = self.judge_create_array(args) {
                    self.refuse(index, pos, why);
                }
            }
            Role::Function | Role::Helper => {}
        }
    }

    /// dill's `_create_array(f, args, state, npdict=None)` runs `f(*args)`, then
    /// `array.__setstate__(state)` and `array.__dict__.update(npdict)`: harmless when `f` is
    /// numpy's `_reconstruct` (`ndarray.__new__(subtype, shape, dtype)`) and `subtype` an
    /// allowed class (its `__array_finalize__` runs); the state is array data.
    fn judge_create_array(&self, args: Value<'a>) -> Result<(), String> {
        let items = self.items_of(args);
        let Some(&f) = items.first() else {
            return Err("rebuilds an array with a callable the scanner cannot see".to_owned());
        };
        let global = match self.arena.node(f) {
            Some(Node::Global(i)) => self.imports.list.get(*i as usize),
            _ => None,
        };
        let shown = |v: Value<'a>| super::render::Renderer::render(&self.arena, &self.imports, v);
        let Some(global) = global.filter(|g| {
            g.class.class == imports::Class::Allowed
                && g.class.check.is_none()
                && ARRAY_RECONSTRUCTORS.contains(&g.class.canonical.as_str())
        }) else {
            return Err(format!(
                "calls {} with the array's arguments, which is not numpy's array reconstructor",
                shown(f)
            ));
        };
        let subtype = items
            .get(1)
            .and_then(|a| self.items_of(*a).first().copied());
        let allowed_subtype = subtype.is_some_and(|t| match self.arena.node(t) {
            Some(Node::Global(i)) => self.imports.list.get(*i as usize).is_some_and(|g| {
                g.class.class == imports::Class::Allowed && g.class.check.is_none()
            }),
            _ => false,
        });
        if !allowed_subtype {
            return Err(format!(
                "calls `{}` with the array type {}, which is not an allowed class",
                global.written(),
                subtype.map_or_else(|| "(none)".to_owned(), shown)
            ));
        }
        Ok(())
    }

    /// A call of the result of another call: `_builtin_type('CodeType')(…)` builds a code
    /// object; returns whether the call was one of these (and so no dynamic call).
    pub(super) fn rebuild_result_call(
        &mut self,
        outer: NodeId,
        inner: NodeId,
        args: Value<'a>,
        pos: usize,
    ) -> bool {
        let Some((_, name)) = self.rebuilds.types.iter().find(|(id, _)| *id == inner) else {
            return false;
        };
        let via = format!("types.{name}");
        if name == "CodeType" {
            self.rebuilt_code(&via, args, pos);
        } else if name == "MethodType" {
            self.note_bound_method(outer, args);
        }
        true
    }

    fn refuse(&mut self, index: usize, pos: usize, why: String) {
        if self.rebuilds.seen_refused.insert(index) {
            self.rebuilds.refused.push((index, pos, why));
        }
    }

    /// Records a code object built from `args` (the fields of `CodeType`, as dill's
    /// `_create_code` and `types.CodeType` take them in every Python version: the bytecode is
    /// the first bytes value followed by a tuple, then come constants, names and variable
    /// names, the file name and the function name).
    fn rebuilt_code(&mut self, via: &str, args: Value<'a>, pos: usize) {
        let items = self.items_of(args);
        let code_at = items.windows(2).position(|w| {
            matches!(w[0], Value::Raw(r) if r.is_bytes())
                && matches!(self.arena.node(w[1]), Some(Node::Tuple(_)))
        });
        let (mut names, mut strings) = (Vec::new(), Vec::new());
        let mut name = String::new();
        match code_at {
            Some(at) => {
                if let Some(&consts) = items.get(at + 1) {
                    self.strings_in(consts, &mut strings, 0);
                }
                if let Some(&n) = items.get(at + 2) {
                    self.strings_in(n, &mut names, 0);
                }
                if let Some(n) = items.get(at + 5).and_then(|v| v.str_text()) {
                    name = n.into_owned();
                }
            }
            // Fields the scanner cannot place: every string counts as a name.
            None => self.strings_in(args, &mut names, 0),
        }
        let dynamic = names.iter().any(|n| {
            matches!(
                n.as_str(),
                "__import__" | "import_module" | "getattr" | "globals" | "vars" | "eval" | "exec"
            )
        });
        let mut reached: Vec<(String, Reach)> = Vec::new();
        let mut note = |n: &str, reach: Option<Reach>| {
            if let Some(reach) = reach
                && !reached.iter().any(|(r, _)| r == n)
            {
                reached.push((n.to_owned(), reach));
            }
        };
        for n in names.iter().filter(|n| n.len() <= 64) {
            note(n, hostcalls::name_reach(n));
        }
        for s in strings.iter().filter(|s| s.len() <= 64 && !s.contains(' ')) {
            let reach = hostcalls::function_reach(s).or_else(|| {
                (s.contains('.') || dynamic)
                    .then(|| hostcalls::module_reach(s))
                    .flatten()
            });
            note(s, reach);
        }
        if (self.rebuilds.code.len() as u64) < MAX_REPORTS {
            self.rebuilds.code.push(Rebuilt {
                pos,
                via: via.to_owned(),
                name,
                names,
                strings,
                reached,
            });
        }
    }

    /// Reports the rebuilt code objects of the stream.
    pub(super) fn flush_rebuilds(&mut self) {
        let code = std::mem::take(&mut self.rebuilds.code);
        for c in code {
            let listing = format!(
                "{}(…) builds code `{}`: names [{}]; string constants [{}]",
                c.via,
                c.name,
                c.names.join(", "),
                c.strings
                    .iter()
                    .take(16)
                    .map(|s| format!("{:?}", s.chars().take(80).collect::<String>()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if self.ctx.wants_extracts() {
                let mut text = c.names.join("\n");
                for s in &c.strings {
                    text.push('\n');
                    text.push_str(s);
                }
                self.ctx.extract(
                    crate::scan::context::Origin::PickleString,
                    &format!("code `{}` rebuilt by {}", c.name, c.via),
                    Some(c.pos as u64),
                    text.as_bytes(),
                );
            }
            if c.reached.is_empty() {
                self.ctx.report(
                    RuleId::PickleRebuildsCode,
                    Some(c.pos as u64),
                    format!(
                        "rebuilds the Python function `{}` from raw code ({}); its names and constants reach nothing on the host by name",
                        c.name, c.via
                    ),
                    Some(listing),
                );
            } else {
                let what: Vec<String> = c
                    .reached
                    .iter()
                    .map(|(n, r)| format!("`{n}` ({})", r.as_str()))
                    .collect();
                self.ctx.report(
                    RuleId::PickleRebuiltCodeHostCall,
                    Some(c.pos as u64),
                    format!(
                        "rebuilds the Python function `{}` from raw code ({}) whose code uses {}",
                        c.name,
                        c.via,
                        what.join(", ")
                    ),
                    Some(listing),
                );
            }
        }
    }
}

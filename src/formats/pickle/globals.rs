//! Globals in the abstract unpickler: the stream's import table, GLOBAL/INST/STACK_GLOBAL
//! resolution (with attributes planted by BUILD), unresolvable imports, extension codes, and the
//! storages named by persistent ids.

use std::collections::HashMap;

use crate::model::rules::RuleId;

use super::imports::{self, Classification};
use super::ops::Op;
use super::render::{GlobalNames, Renderer};
use super::value::{Arena, Node, NodeId, Value};
use super::vm::{Halt, Machine, Storage};

/// Distinct globals one stream may import before the scanner stops following it.
const MAX_IMPORTS: usize = 65_536;

/// One imported global of the stream.
pub(super) struct Import {
    pub module: String,
    pub name: String,
    pub class: Classification,
    pub pos: usize,
    pub node: Option<NodeId>,
    /// The widest call made through this global: the call node and its offset.
    pub call: Option<(NodeId, usize)>,
    /// For a checked callable (`Check`): how often its value was put on the stack, how many
    /// of those were consumed by calls judged safe, and the first call judged unsafe.
    pub refs: u32,
    pub safe_calls: u32,
    pub unsafe_call: Option<(NodeId, usize, String, RuleId)>,
}

impl Import {
    pub fn written(&self) -> String {
        format!("{}.{}", self.module, self.name)
    }
}

#[derive(Default)]
pub(super) struct Imports {
    pub list: Vec<Import>,
    pub index: HashMap<String, u32>,
}

impl GlobalNames for Imports {
    fn global_name(&self, index: u32) -> std::borrow::Cow<'_, str> {
        match self.list.get(index as usize) {
            Some(i) if i.class.builtin => std::borrow::Cow::Borrowed(i.name.as_str()),
            Some(i) => std::borrow::Cow::Owned(i.written()),
            None => std::borrow::Cow::Borrowed("<global>"),
        }
    }
}

impl<'a> Machine<'a, '_, '_> {
    /// Imports `module.name` (GLOBAL, INST, STACK_GLOBAL).
    pub(super) fn import(
        &mut self,
        module: &str,
        name: &str,
        pos: usize,
    ) -> Result<Value<'a>, Halt> {
        let key = format!("{}:{module}{name}", module.len());
        let index = match self.imports.index.get(&key) {
            Some(&i) => i,
            None => {
                if self.imports.list.len() >= MAX_IMPORTS {
                    return Err(Halt::limit(
                        pos,
                        format!("more than {MAX_IMPORTS} distinct globals in one stream"),
                    ));
                }
                let i = u32::try_from(self.imports.list.len())
                    .map_err(|_| Halt::limit(pos, "too many distinct imports".to_owned()))?;
                let mut class = imports::classify(module, name, self.ctx.config());
                // TorchScript: names the archive's own code defines are compiled, not imported.
                if class.class == imports::Class::Unknown && self.ctx.archive_defines(module, name)
                {
                    class.class = imports::Class::Allowed;
                }
                self.imports.list.push(Import {
                    module: module.to_owned(),
                    name: name.to_owned(),
                    class,
                    pos,
                    node: None,
                    call: None,
                    refs: 0,
                    safe_calls: 0,
                    unsafe_call: None,
                });
                self.imports.index.insert(key, i);
                i
            }
        };
        if !self.overrides.is_empty()
            && let Some(planted) = self.overrides.get(&format!("{module}.{name}"))
        {
            return Ok(*planted);
        }
        if let Some(import) = self.imports.list.get_mut(index as usize)
            && import.class.check.is_some()
        {
            import.refs = import.refs.saturating_add(1);
        }
        let cached = self.imports.list.get(index as usize).and_then(|i| i.node);
        match cached {
            Some(id) => Ok(Value::Node(id)),
            None => {
                let value = self.alloc(Node::Global(index), pos)?;
                if let (Value::Node(id), Some(import)) =
                    (value, self.imports.list.get_mut(index as usize))
                {
                    import.node = Some(id);
                    if import.class.check.is_some() {
                        self.checked_nodes.push(id);
                    }
                }
                Ok(value)
            }
        }
    }

    pub(super) fn stack_global(
        &mut self,
        module: Value<'a>,
        name: Value<'a>,
        pos: usize,
    ) -> Result<(), Halt> {
        if let (Some(m), Some(n)) = (module.str_text(), name.str_text()) {
            let global = self.import(&m, &n, pos)?;
            return self.push(global, pos);
        }
        let shown = format!(
            "STACK_GLOBAL({}, {})",
            Renderer::render(&self.arena, &self.imports, module),
            Renderer::render(&self.arena, &self.imports, name)
        );
        if self.counts.unresolved.admit() {
            let message = format!(
                "STACK_GLOBAL takes its module from {} and its name from {}; the import cannot be named",
                describe(&self.arena, module),
                describe(&self.arena, name)
            );
            self.emit(
                RuleId::PickleUnresolvableImport,
                Some(pos as u64),
                message,
                Some(shown.clone()),
            );
        }
        if let Some(m) = module.str_text()
            && let Some(denial) = imports::classify_module(&m, self.ctx.config())
        {
            self.emit(
                RuleId::PickleDeniedGlobal,
                Some(pos as u64),
                format!(
                    "imports from `{m}`, denied by `{}`: {}",
                    denial.pattern, denial.reason
                ),
                Some(shown.clone()),
            );
        }
        let v = self.alloc(Node::Unresolved(format!("<{shown}>").into_boxed_str()), pos)?;
        self.push(v, pos)
    }

    pub(super) fn extension(&mut self, op: Op, code: i64, pos: usize) -> Result<Value<'a>, Halt> {
        if self.counts.extension.admit() {
            self.emit(
                RuleId::PickleExtensionCode,
                Some(pos as u64),
                format!(
                    "{} imports the global registered as extension code {code}",
                    op.name()
                ),
                Some(format!("copyreg extension code {code}")),
            );
        }
        self.alloc(
            Node::Unresolved(format!("<extension code {code}>").into_boxed_str()),
            pos,
        )
    }

    pub(super) fn record_storage(&mut self, pid: Value<'a>) {
        let Some(items) = self.arena.seq(pid) else {
            return;
        };
        let (Some(tag), Some(&ty), Some(key)) = (
            items.first().and_then(|v| v.str_text()),
            items.get(1),
            items.get(2).and_then(|v| v.str_text()),
        ) else {
            return;
        };
        if tag != "storage" {
            return;
        }
        let type_name = match self.arena.node(ty) {
            Some(Node::Global(i)) => self.imports.list.get(*i as usize).map(|i| i.name.clone()),
            _ => None,
        }
        .unwrap_or_default();
        let numel = items.get(4).and_then(|v| v.as_int());
        let key = key.into_owned();
        self.storages.push(Storage {
            key,
            type_name,
            numel,
        });
    }
}

/// A few words on what kind of value `value` is, for messages.
pub(super) fn describe(arena: &Arena<'_>, value: Value<'_>) -> &'static str {
    match value {
        Value::Raw(raw) if raw.is_str() => "a string",
        Value::Raw(raw) if raw.is_bytes() => "a bytes object",
        Value::Raw(_) | Value::Int(_) => "an integer",
        Value::Bool(_) => "a boolean",
        Value::Float(_) => "a float",
        Value::None => "None",
        Value::Buffer => "an out-of-band buffer",
        Value::Unknown => "a value the scanner cannot determine (such as a missing memo entry)",
        Value::Dropped(..) => "a value left out once the stream's memory budget was spent",
        Value::Node(id) => match arena.get(id) {
            Some(Node::Call(_)) => "the result of a call",
            Some(Node::Global(_)) => "an imported object",
            Some(Node::Unresolved(_)) => "an unresolvable import",
            Some(Node::PersId(_)) => "a persistent id",
            _ => "a container",
        },
    }
}

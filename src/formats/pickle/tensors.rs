//! Tensor descriptions for the robustness probe: what each `torch._utils._rebuild_tensor_v2`
//! (or `_rebuild_tensor`) call of a stream declares — the storage its persistent id names, the
//! storage offset, size and stride — and the state-dict key it sits under. Nothing here judges
//! the stream; the numbers are kept as written (untrusted) and checked by the probe against the
//! storage's real bytes.
//!
//! Names come from the stream's value after STOP: keys of dicts, of the items SETITEM(S) puts
//! into objects (an `OrderedDict` is a call, whose items the machine does not otherwise keep)
//! and of BUILD states (a TorchScript module's attributes), joined with dots.

use std::collections::{HashMap, HashSet};

use crate::model::tensors::PickledTensor;

use super::value::{Node, NodeId, Value};
use super::vm::Machine;

/// Tensors described per stream; past it they are counted.
const MAX_TENSORS: usize = 1 << 16;
/// Object items (key, value) kept for naming.
const MAX_OBJECT_ITEMS: usize = 1 << 18;
/// Nodes visited when naming tensors from the stream's value.
const MAX_VISITS: usize = 1 << 20;
/// Nesting followed when naming.
const MAX_NAME_DEPTH: usize = 32;

/// What the machine has seen of tensors so far in one stream.
#[derive(Default)]
pub(super) struct Recorder<'a> {
    /// Call nodes that rebuild a tensor (or wrap one in a parameter) → index in `tensors`.
    nodes: HashMap<NodeId, usize>,
    tensors: Vec<PickledTensor>,
    /// Whether `tensors[i]` got a name from the value.
    named: Vec<bool>,
    /// Items SETITEM(S) added to objects: object node, key, value.
    object_items: Vec<(NodeId, Value<'a>, Value<'a>)>,
    pub left_out: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rebuild {
    Tensor,
    Parameter,
}

fn rebuild_kind(module: &str, name: &str) -> Option<Rebuild> {
    match (module, name) {
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => Some(Rebuild::Tensor),
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            Some(Rebuild::Parameter)
        }
        _ => None,
    }
}

/// Whether calls of `module.name` rebuild tensors (the recorder keeps their nodes).
pub(super) fn rebuilds_tensor(module: &str, name: &str) -> bool {
    rebuild_kind(module, name).is_some()
}

impl<'a> Machine<'a, '_, '_> {
    /// Records the call node `id` if it rebuilds a tensor from a storage, or wraps a recorded
    /// tensor in a parameter.
    pub(super) fn note_tensor_call(&mut self, id: NodeId, callable: Value<'a>, args: Value<'a>) {
        let Some(Node::Global(i)) = self.arena.node(callable) else {
            return;
        };
        let Some(kind) = self
            .imports
            .list
            .get(*i as usize)
            .and_then(|g| rebuild_kind(&g.module, &g.name))
        else {
            return;
        };
        let Some(args) = self.arena.seq(args) else {
            return;
        };
        match kind {
            Rebuild::Parameter => {
                if let Some(&Value::Node(inner)) = args.first()
                    && let Some(&index) = self.tensors.nodes.get(&inner)
                {
                    self.tensors.nodes.insert(id, index);
                }
            }
            Rebuild::Tensor => {
                let Some((storage_key, storage_type)) =
                    args.first().and_then(|&s| self.storage_of(s))
                else {
                    return;
                };
                if self.tensors.tensors.len() >= MAX_TENSORS {
                    self.tensors.left_out += 1;
                    return;
                }
                let ints = |v: Option<&Value<'a>>| -> Option<Vec<i64>> {
                    self.arena
                        .seq(*v?)?
                        .iter()
                        .map(|d| d.as_int())
                        .collect::<Option<Vec<i64>>>()
                };
                let tensor = PickledTensor {
                    name: String::new(),
                    storage_key,
                    storage_type,
                    offset: args.get(1).and_then(|v| v.as_int()),
                    shape: ints(args.get(2)),
                    stride: ints(args.get(3)),
                };
                let index = self.tensors.tensors.len();
                self.tensors.tensors.push(tensor);
                self.tensors.named.push(false);
                self.tensors.nodes.insert(id, index);
            }
        }
    }

    /// The key and type name of the storage a persistent id `('storage', type, key, …)` names.
    fn storage_of(&self, value: Value<'a>) -> Option<(String, String)> {
        let Some(Node::PersId(pid)) = self.arena.node(value) else {
            return None;
        };
        let items = self.arena.seq(*pid)?;
        if items.first()?.str_text()? != "storage" {
            return None;
        }
        let type_name = match self.arena.node(*items.get(1)?) {
            Some(Node::Global(i)) => self.imports.list.get(*i as usize)?.name.clone(),
            _ => return None,
        };
        let key = items.get(2)?.str_text()?.into_owned();
        Some((key, type_name))
    }

    /// Keeps the string-keyed items SETITEM(S) adds to an object (`OrderedDict`): the items
    /// are `stack[start..]`, key and value alternating.
    pub(super) fn note_object_items(&mut self, target: Value<'a>, start: usize) {
        let Value::Node(id) = target else {
            return;
        };
        if !matches!(self.arena.node(target), Some(Node::Call(_))) {
            return;
        }
        let items = self.stack.get(start..).unwrap_or_default();
        for pair in items.chunks_exact(2) {
            if self.tensors.object_items.len() >= MAX_OBJECT_ITEMS {
                return;
            }
            if let [key, value @ Value::Node(_)] = pair {
                self.tensors.object_items.push((id, *key, *value));
            }
        }
    }

    /// The stream's tensors, named from its value `root`.
    pub(super) fn take_tensors(&mut self, root: Option<Value<'a>>) -> (Vec<PickledTensor>, u64) {
        if self.tensors.tensors.is_empty() {
            return (Vec::new(), self.tensors.left_out);
        }
        if let Some(root) = root {
            let mut by_object: HashMap<NodeId, Vec<(Value<'a>, Value<'a>)>> = HashMap::new();
            for &(id, k, v) in &self.tensors.object_items {
                by_object.entry(id).or_default().push((k, v));
            }
            let mut walk = Walk {
                by_object,
                seen: HashSet::new(),
                visits: 0,
            };
            self.name_from(root, String::new(), 0, &mut walk);
        }
        let recorder = std::mem::take(&mut self.tensors);
        let mut tensors = recorder.tensors;
        for (i, (t, named)) in tensors.iter_mut().zip(recorder.named).enumerate() {
            if !named || t.name.is_empty() {
                t.name = format!("tensor {i}");
            }
        }
        (tensors, recorder.left_out)
    }

    fn name_from(&mut self, value: Value<'a>, prefix: String, depth: usize, walk: &mut Walk<'a>) {
        let Value::Node(id) = value else {
            return;
        };
        walk.visits += 1;
        if walk.visits > MAX_VISITS || depth > MAX_NAME_DEPTH {
            return;
        }
        if let Some(&index) = self.tensors.nodes.get(&id) {
            if let (Some(t), Some(named)) = (
                self.tensors.tensors.get_mut(index),
                self.tensors.named.get_mut(index),
            ) && !*named
            {
                t.name = prefix;
                *named = true;
            }
            return;
        }
        if !walk.seen.insert(id) {
            return;
        }
        let join = |key: &str| {
            if prefix.is_empty() {
                key.to_owned()
            } else {
                format!("{prefix}.{key}")
            }
        };
        let mut children: Vec<(String, Value<'a>)> = Vec::new();
        match self.arena.get(id) {
            Some(Node::Dict(items)) => {
                for (k, v) in self.arena.pairs(items) {
                    if let Some(key) = key_text(k) {
                        children.push((join(&key), v));
                    }
                }
            }
            Some(Node::List(items) | Node::Tuple(items)) => {
                for (i, v) in self.arena.values(items).enumerate() {
                    children.push((join(&i.to_string()), v));
                }
            }
            Some(Node::Call(_)) => {
                let state = self.arena.call(Value::Node(id)).and_then(|c| c.state);
                for &(k, v) in walk.by_object.get(&id).into_iter().flatten() {
                    if let Some(key) = key_text(k) {
                        children.push((join(&key), v));
                    }
                }
                // A module's state: its attributes (a dict, or the first of a state tuple).
                let state = match state.map(|s| (s, self.arena.node(s))) {
                    Some((_, Some(Node::Tuple(items)))) => self.arena.values(items).next(),
                    Some((s, _)) => Some(s),
                    None => None,
                };
                if let Some(state) = state {
                    children.push((prefix.clone(), state));
                }
            }
            _ => {}
        }
        for (name, child) in children {
            self.name_from(child, name, depth + 1, walk);
        }
    }
}

/// State of one naming walk.
struct Walk<'a> {
    by_object: HashMap<NodeId, Vec<(Value<'a>, Value<'a>)>>,
    seen: HashSet<NodeId>,
    visits: usize,
}

/// A dict key as a name part: strings, and integers (`ModuleList` indices stay strings, but
/// plain dicts may be keyed by numbers).
fn key_text(key: Value<'_>) -> Option<String> {
    match key {
        Value::Int(i) => Some(i.to_string()),
        _ => key.str_text().map(|s| s.into_owned()),
    }
}

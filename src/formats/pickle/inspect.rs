//! What the abstract unpickler checks beyond stack bookkeeping: calls (their evidence, calls of
//! call results, pickles nested in their arguments), BUILD and item opcodes applied to imported
//! globals, joblib's inline arrays, and the import findings reported when a stream ends.

use std::borrow::Cow;

use crate::model::Budget;
use crate::model::rules::RuleId;
use crate::scan::context::MemberKind;

use super::imports::Class;
use super::ops::Op;
use super::render::Renderer;
use super::sniff::looks_like_pickle;
use super::value::{Dropped, Node, NodeId, Value};
use super::vm::{Flow, Halt, Machine};

/// Import findings of one kind reported per stream before they are summarised.
const MAX_IMPORT_FINDINGS: u64 = 200;
/// Where the stream's caps count: the words of their summary findings.
const IN_STREAM: &str = "in this pickle stream";
/// Pickles nested in call arguments that are analysed per stream.
const MAX_NESTED: usize = 64;
/// Attributes planted on globals that are remembered per stream.
const MAX_OVERRIDES: usize = 10_000;

enum Target {
    /// A list, dict or set that takes the opcode's items.
    Container(NodeId),
    Global,
    /// A tuple, frozenset, number or string: CPython fails.
    Immutable,
    /// An object of unknown type (a call result, a missing memo entry): items are not tracked.
    Object,
    /// A list, dict or set made once the memory budget was spent: items are left out.
    Dropped,
}

/// The call recorded as evidence for the global at the root of `callable`'s chain, if any.
fn global_call<'a>(m: &Machine<'a, '_, '_>, callable: Value<'a>) -> Option<NodeId> {
    match m.arena.node(m.arena.callable_root(callable))? {
        Node::Global(i) => m.imports.list.get(*i as usize)?.call.map(|(id, _)| id),
        _ => None,
    }
}

impl<'a> Machine<'a, '_, '_> {
    fn render(&self, value: Value<'a>) -> String {
        Renderer::render(&self.arena, &self.imports, value)
    }

    /// The `module.name` of a global value, as written in the pickle.
    fn global_written(&self, value: Value<'a>) -> Option<String> {
        match self.arena.node(value)? {
            Node::Global(i) => self.imports.list.get(*i as usize).map(|i| i.written()),
            _ => None,
        }
    }

    /// APPEND(S), SETITEM(S), ADDITEMS: the items are `stack[start..]`, the target below them.
    pub(super) fn add_items(&mut self, target: Value<'a>, start: usize, op: Op, pos: usize) {
        let kind = match target {
            Value::Node(id) => match (self.arena.get(id), op) {
                (Some(Node::List(_)), Op::Append | Op::Appends)
                | (Some(Node::Dict(_)), Op::SetItem | Op::SetItems)
                | (Some(Node::Set(_)), Op::AddItems) => Target::Container(id),
                (Some(Node::Global(_)), _) => Target::Global,
                (Some(Node::Tuple(_) | Node::FrozenSet(_)), _) => Target::Immutable,
                _ => Target::Object,
            },
            Value::Unknown | Value::Dropped(Dropped::Object, _) => Target::Object,
            // Made once the budget was spent: its items would be left out.
            Value::Dropped(Dropped::List | Dropped::Dict | Dropped::Set, _) => Target::Dropped,
            _ => Target::Immutable,
        };
        let start = start.min(self.stack.len());
        match kind {
            Target::Container(id) => {
                let kept = self.exact.kept.contains(&id);
                self.arena
                    .push_into(id, self.stack.get(start..).unwrap_or_default(), kept);
                self.stack.truncate(start);
            }
            Target::Global => {
                let values: Vec<Value<'a>> = self.stack.drain(start..).collect();
                self.mutate_global(target, op, &values, pos);
            }
            Target::Dropped => self.stack.truncate(start),
            Target::Immutable => {
                self.malformed(
                    pos,
                    &format!("{} on a value that cannot take items", op.name()),
                );
                self.stack.truncate(start);
            }
            Target::Object => {
                self.use_as_code(target, &format!("applies {} to", op.name()), pos);
                if matches!(op, Op::SetItem | Op::SetItems) {
                    self.note_object_items(target, start);
                }
                self.stack.truncate(start);
            }
        }
    }

    fn report_mutation(&mut self, op: Op, target: Value<'a>, evidence: String, pos: usize) {
        if !self.counts.mutation.admit() {
            return;
        }
        let path = self.global_written(target).unwrap_or_default();
        self.emit(
            RuleId::PickleGlobalMutation,
            Some(pos as u64),
            format!(
                "{} changes the imported global `{path}` itself, so later lookups through it return what the pickle planted",
                op.name()
            ),
            Some(evidence),
        );
    }

    fn mutate_global(&mut self, target: Value<'a>, op: Op, values: &[Value<'a>], pos: usize) {
        if self.counts.mutation.is_full() {
            self.counts.mutation.admit();
            return;
        }
        let g = self.render(target);
        let shown: Vec<String> = values.iter().take(8).map(|v| self.render(*v)).collect();
        let evidence = match op {
            Op::Append => format!("{g}.append({})", shown.join(", ")),
            Op::Appends => format!("{g}.extend([{}])", shown.join(", ")),
            Op::AddItems => format!("{g}.update({{{}}})", shown.join(", ")),
            _ => shown
                .chunks(2)
                .map(|kv| match kv {
                    [k, v] => format!("{g}[{k}] = {v}"),
                    _ => String::new(),
                })
                .collect::<Vec<_>>()
                .join("; "),
        };
        self.report_mutation(op, target, evidence, pos);
    }

    pub(super) fn build(&mut self, pos: usize) -> Result<Flow, Halt> {
        let state = self.pop(pos);
        let target = self.peek(pos);
        let Value::Node(id) = target else {
            return Ok(Flow::Next);
        };
        let state = self.kept_whole(state, 0, pos)?;
        match self.arena.get(id) {
            Some(Node::Global(_)) => {
                self.build_on_global(target, state, pos);
                Ok(Flow::Next)
            }
            Some(Node::Call(_)) => {
                let Some(call) = self.arena.call(target) else {
                    return Ok(Flow::Next);
                };
                let (callable, args) = (call.callable, call.args);
                self.use_as_code(target, "applies BUILD (`__setstate__`) to", pos);
                if let Some(call) = self.arena.call_mut(id) {
                    call.state = Some(state);
                }
                self.check_partial_state(id, callable, state, pos);
                self.check_argparser_state(id, (callable, args), state, pos);
                self.extract_state(callable, state, pos);
                self.joblib_array_file(callable, args, state);
                if self.is_array_wrapper(callable, args) {
                    self.exact.left = 0;
                }
                if self.options.joblib && self.is_joblib_wrapper(callable, args) {
                    return self.joblib_array(state, pos);
                }
                Ok(Flow::Next)
            }
            _ => Ok(Flow::Next),
        }
    }

    fn build_on_global(&mut self, target: Value<'a>, state: Value<'a>, pos: usize) {
        let base = self.global_written(target).unwrap_or_default();
        let dicts: Vec<Value<'a>> = match self.arena.node(state) {
            Some(Node::Dict(_)) => vec![state],
            Some(Node::Tuple(items)) => self.arena.values(items).take(4).collect(),
            _ => Vec::new(),
        };
        let mut planted: Vec<(String, Value<'a>)> = Vec::new();
        for dict in dicts {
            if let Some(Node::Dict(items)) = self.arena.node(dict) {
                for (k, v) in self.arena.pairs(items).take(64) {
                    if let Some(k) = k.str_text() {
                        planted.push((k.into_owned(), v));
                    }
                }
            }
        }
        let g = self.render(target);
        let evidence = if self.counts.mutation.is_full() {
            String::new()
        } else if planted.is_empty() {
            format!("{g}.__setstate__({})", self.render(state))
        } else {
            planted
                .iter()
                .take(8)
                .map(|(k, v)| format!("{g}.{k} = {}", self.render(*v)))
                .collect::<Vec<_>>()
                .join("; ")
        };
        for (k, v) in planted {
            if self.overrides.len() < MAX_OVERRIDES {
                self.overrides.insert(format!("{base}.{k}"), v);
            }
        }
        self.report_mutation(Op::Build, target, evidence, pos);
    }

    /// Whether a call is of a global the policy allows outright and plays no other part in
    /// the analysis: no check or helper judges its arguments, no dill or cloudpickle rebuild,
    /// no tensor, no joblib array or numpy dtype is read from it later, and the global's first
    /// call is already kept as evidence. Once the memory budget is spent, such a call keeps no
    /// node.
    pub(super) fn plain_call(&self, callable: Value<'a>, args: Value<'a>) -> bool {
        let Some(Node::Global(i)) = self.arena.node(callable) else {
            return false;
        };
        let Some(import) = self.imports.list.get(*i as usize) else {
            return false;
        };
        import.class.class == Class::Allowed
            && import.class.check.is_none()
            && import.class.invokes.is_empty()
            && import.call.is_some()
            && super::rebuild::role(&import.module, &import.name).is_none()
            && !super::tensors::rebuilds_tensor(&import.module, &import.name)
            && !(import.name == "dtype" && import.module.starts_with("numpy"))
            && !self.is_array_wrapper(callable, args)
    }

    /// A joblib array wrapper, current (the array follows inline) or legacy (it names a file
    /// beside the pickle): its state is read when it is built.
    pub(super) fn is_array_wrapper(&self, callable: Value<'a>, args: Value<'a>) -> bool {
        self.is_joblib_wrapper(callable, args) || self.legacy_wrapper(callable, args).is_some()
    }

    pub(super) fn inspect_call(
        &mut self,
        id: NodeId,
        callable: Value<'a>,
        args: Value<'a>,
        pos: usize,
    ) {
        self.use_as_code(callable, "calls", pos);
        // Walk the callable chain to its root: a call of a call of … a global. Nodes only refer
        // to older ones, so the walk ends; it is bounded all the same.
        let previous = global_call(self, callable);
        let mut root = callable;
        let mut hops = 0;
        let mut extends_previous = false;
        while let (Value::Node(cid), Some(call)) = (root, self.arena.call(root)) {
            if hops == 64 {
                break;
            }
            hops += 1;
            extends_previous |= previous == Some(cid);
            root = call.callable;
        }
        let global = match self.arena.node(root) {
            Some(Node::Global(i)) => Some(*i),
            _ => None,
        };
        let mut allowed = false;
        let mut checked = false;
        let mut invokes: &'static [usize] = &[];
        if let Some(import) = global.and_then(|i| self.imports.list.get_mut(i as usize)) {
            allowed = import.class.class == Class::Allowed;
            checked = import.class.check.is_some();
            invokes = import.class.invokes;
            // Keep the widest call made through the global: a call of its call result wins.
            if import.call.is_none() || extends_previous {
                import.call = Some((id, pos));
            }
        }
        let chained = hops > 0;
        if let Some(g) = global
            && !chained
        {
            let role = self
                .imports
                .list
                .get(g as usize)
                .and_then(|i| super::rebuild::role(&i.module, &i.name));
            let judged = role.is_some() || checked || !invokes.is_empty();
            if judged && self.holds_dropped(args) {
                self.unjudged_call(g as usize, checked, pos);
            } else {
                if let Some(role) = role {
                    self.rebuild_call(g as usize, role, id, args, pos);
                }
                if checked {
                    self.check_call(g as usize, id, args, pos);
                }
                if !invokes.is_empty() {
                    let helper = self
                        .imports
                        .list
                        .get(g as usize)
                        .map(|i| i.class.canonical.clone())
                        .unwrap_or_default();
                    self.check_invoked(&helper, args, invokes, pos);
                }
            }
        }
        // Calling what a safe getattr returned is calling a listed side-effect-free method.
        let method_call = hops == 1
            && match callable {
                Value::Node(c) => {
                    self.safe_getattrs.contains(&c) || self.rebuild_result_call(id, c, args, pos)
                }
                _ => false,
            };
        if (global.is_none() || chained) && !method_call && self.counts.dynamic.admit() {
            let what = if !chained {
                format!(
                    "calls {} instead of an imported global",
                    super::globals::describe(&self.arena, root)
                )
            } else {
                "calls the result of another call".to_owned()
            };
            let evidence = self.render(Value::Node(id));
            self.emit(
                RuleId::PickleDynamicCall,
                Some(pos as u64),
                what,
                Some(evidence),
            );
        }
        if !allowed && !self.options.shadow {
            let label = global
                .and_then(|g| self.imports.list.get(g as usize))
                .map_or_else(|| "call".to_owned(), |g| g.written());
            self.nested_pickles(args, &label, pos);
        }
    }

    /// Whether call arguments hold a value made after the memory budget was spent, whose
    /// content was not kept.
    fn holds_dropped(&self, args: Value<'a>) -> bool {
        match self.arena.node(args) {
            // Checks read the first few arguments (a getattr's two, a helper's positions).
            Some(Node::Tuple(items)) => self
                .arena
                .values(items)
                .take(64)
                .any(|v| matches!(v, Value::Dropped(..))),
            _ => matches!(args, Value::Dropped(..)),
        }
    }

    /// A call judged by its arguments whose arguments were not kept: reported as a limit
    /// (suspicious), never as clean nor as a denied call. A checked global's use is consumed
    /// here, so that it is not reported as denied for it.
    fn unjudged_call(&mut self, index: usize, checked: bool, pos: usize) {
        let Some(import) = self.imports.list.get_mut(index) else {
            return;
        };
        if checked {
            import.safe_calls = import.safe_calls.saturating_add(1);
        }
        let written = import.written();
        if self.counts.unjudged.admit() {
            self.emit(
                RuleId::PickleLimitExceeded,
                Some(pos as u64),
                format!(
                    "`{written}` is judged by its arguments, but they were made after the stream's memory budget (`max_pickle_memory`) was spent and were not kept, so this call was not judged"
                ),
                None,
            );
        }
    }

    /// Whether `node` is `value` or a call in its callable chain.
    fn chain_contains(&self, value: Value<'a>, node: NodeId) -> bool {
        self.arena
            .callable_chain(value)
            .take(64)
            .any(|at| at == Value::Node(node))
    }

    /// Offset of `bytes` in the stream's data, when they are a slice of it.
    fn offset_of(&self, bytes: &[u8]) -> Option<usize> {
        let offset = (bytes.as_ptr() as usize).checked_sub(self.data.as_ptr() as usize)?;
        (offset.checked_add(bytes.len())? <= self.data.len()).then_some(offset)
    }

    fn collect_blobs(
        &self,
        value: Value<'a>,
        depth: usize,
        out: &mut Vec<(Option<usize>, Cow<'a, [u8]>)>,
    ) {
        if depth > 3 || out.len() >= 16 {
            return;
        }
        match value {
            Value::Raw(raw) if raw.is_str() || raw.is_bytes() => {
                if let Some(bytes) = raw.latin1_bytes() {
                    out.push((self.offset_of(raw.bytes), bytes));
                }
            }
            Value::Node(id) => match self.arena.get(id) {
                Some(
                    Node::Tuple(items)
                    | Node::List(items)
                    | Node::Set(items)
                    | Node::FrozenSet(items)
                    | Node::Dict(items),
                ) => {
                    for item in self.arena.values(items).take(32) {
                        self.collect_blobs(item, depth + 1, out);
                    }
                }
                Some(Node::Call(_)) => {
                    if let Some(call) = self.arena.call(value) {
                        self.collect_blobs(call.args, depth + 1, out);
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// Analyses byte strings passed to a call that look like pickles (`pickle.loads(b'…')`).
    fn nested_pickles(&mut self, args: Value<'a>, label: &str, pos: usize) {
        let mut blobs = Vec::new();
        self.collect_blobs(args, 0, &mut blobs);
        for (offset, bytes) in blobs {
            if bytes.len() < 2 || !looks_like_pickle(&bytes) {
                continue;
            }
            let at = offset.unwrap_or(pos);
            if !self.nested_seen.insert((at, bytes.len())) {
                continue;
            }
            if self.nested_seen.len() > MAX_NESTED {
                if self.counts.nesting.admit() {
                    self.emit(
                        RuleId::PickleLimitExceeded,
                        Some(at as u64),
                        format!("more than {MAX_NESTED} nested pickles in one stream; the rest were not analysed"),
                        None,
                    );
                }
                continue;
            }
            if self.ctx.depth() >= self.limits.max_nesting {
                if self.counts.nesting.admit() {
                    self.emit(
                        RuleId::PickleLimitExceeded,
                        Some(at as u64),
                        format!(
                            "a pickle passed to `{label}` is nested deeper than {} levels and was not analysed",
                            self.limits.max_nesting
                        ),
                        None,
                    );
                }
                continue;
            }
            self.ctx
                .nested(&format!("{label} argument@{at}"), &bytes, MemberKind::File);
        }
    }

    pub(super) fn is_joblib_wrapper(&self, callable: Value<'a>, args: Value<'a>) -> bool {
        let is_wrapper = |v: Value<'a>| match self.arena.node(v) {
            Some(Node::Global(i)) => self.imports.list.get(*i as usize).is_some_and(|g| {
                g.name == "NumpyArrayWrapper" && g.module.ends_with("numpy_pickle")
            }),
            _ => false,
        };
        let reconstructor = match self.arena.node(callable) {
            Some(Node::Global(i)) => self.imports.list.get(*i as usize).is_some_and(|g| {
                g.name == "_reconstructor" && matches!(g.module.as_str(), "copyreg" | "copy_reg")
            }),
            _ => false,
        };
        is_wrapper(callable)
            || (reconstructor
                && self
                    .arena
                    .seq(args)
                    .and_then(|a| a.first())
                    .is_some_and(|c| is_wrapper(*c)))
    }

    /// The array joblib writes right after a `NumpyArrayWrapper`: a whole pickle for object
    /// dtypes, otherwise optional alignment padding and `prod(shape) × itemsize` raw bytes.
    fn joblib_array(&mut self, state: Value<'a>, pos: usize) -> Result<Flow, Halt> {
        let fail = || {
            Halt::malformed(
                pos,
                "a joblib NumpyArrayWrapper whose dtype or shape cannot be read, so the array data after it cannot be skipped".to_owned(),
            )
        };
        let dtype = self.arena.dict_get(state, "dtype").ok_or_else(fail)?;
        let (object, itemsize) = self.dtype_info(dtype, &mut 256).ok_or_else(fail)?;
        if object {
            return Ok(Flow::InlinePickle);
        }
        let itemsize = itemsize.ok_or_else(fail)?;
        let shape = self.arena.dict_get(state, "shape").ok_or_else(fail)?;
        // joblib's `read_array`: `np.multiply.reduce([np.int64(x) for x in shape])`, a product
        // that wraps around in 64 bits, of which `count * dtype.itemsize` bytes are read (the
        // pickled element size plays no part for numeric types). A negative count fails there.
        let mut count: i64 = 1;
        for dim in self.arena.seq(shape).ok_or_else(fail)? {
            count = count.wrapping_mul(dim.as_int().ok_or_else(fail)?);
        }
        let count = u64::try_from(count).map_err(|_| fail())?;
        let nbytes = count.checked_mul(itemsize).ok_or_else(fail)?;
        let padded = self
            .arena
            .dict_get(state, "numpy_array_alignment_bytes")
            .is_some_and(|v| v != Value::None);
        self.inline_raw = (padded, nbytes);
        Ok(Flow::InlineRaw)
    }

    /// Whether a pickled `numpy.dtype` holds objects, and its item size in bytes; `None` when
    /// the dtype cannot be read (then the array after it cannot be skipped safely). `budget`
    /// bounds the walk through nested structured dtypes.
    fn dtype_info(&self, dtype: Value<'a>, budget: &mut u32) -> Option<(bool, Option<u64>)> {
        *budget = budget.checked_sub(1)?;
        let call = self.arena.call(dtype)?;
        let ty = self.arena.seq(call.args)?.first()?.str_text()?;
        // State: (version, byte order, subarray, names, fields, elsize, alignment, flags[, meta]).
        let state = match call.state {
            Some(state) => self.arena.seq(state)?,
            None => &[],
        };
        let int_at = |i: usize| state.get(i).and_then(|v| v.as_int());
        let elsize = int_at(5)
            .filter(|&e| e > 0)
            .and_then(|e| u64::try_from(e).ok());
        // numpy takes `hasobject` from the pickled flags (NPY_ITEM_HASOBJECT), whatever the type.
        let mut object = ty.starts_with('O') || int_at(7).is_some_and(|f| f & 1 != 0);
        // Structured dtypes: fields maps names to (dtype, offset[, title]).
        match state.get(4).copied() {
            None | Some(Value::None) => {}
            Some(fields) => {
                let Some(Node::Dict(items)) = self.arena.node(fields) else {
                    return None;
                };
                if items.is_partial() {
                    return None;
                }
                for (_, field) in self.arena.pairs(items) {
                    let sub = *self.arena.seq(field)?.first()?;
                    object |= self.dtype_info(sub, budget)?.0;
                }
            }
        }
        // Subarray dtypes: (base dtype, shape).
        match state.get(2).copied() {
            None | Some(Value::None) => {}
            Some(sub) => {
                let base = *self.arena.seq(sub)?.first()?;
                object |= self.dtype_info(base, budget)?.0;
            }
        }
        // numpy sizes a numeric item by its type code and ignores the pickled element size;
        // only strings, bytes, voids and structured types take theirs from the state.
        let known = crate::formats::numpy::dtype_from_str(&ty);
        let structured = !matches!(state.get(4).copied(), None | Some(Value::None))
            || !matches!(state.get(2).copied(), None | Some(Value::None));
        let itemsize = match known {
            Some(d) if !d.flexible && !structured => Some(d.itemsize),
            Some(_) => elsize,
            None => None,
        };
        object |= known.is_some_and(|d| d.object);
        Some((object, itemsize))
    }

    /// Reports each denied or unknown global of the stream once, with the widest call made
    /// through it as evidence.
    pub(super) fn flush_imports(&mut self) {
        let mut findings = Vec::new();
        let mut denied = Budget::new(MAX_IMPORT_FINDINGS);
        let mut unknown = Budget::new(MAX_IMPORT_FINDINGS);
        let mut unknown_left = Vec::new();
        for (index, import) in self.imports.list.iter().enumerate() {
            if import.class.class != Class::Allowed
                && !super::imports::user_denied(&import.class.class)
                && super::rebuild::role(&import.module, &import.name).is_some()
            {
                // A dill/cloudpickle helper: judged call by call (`rebuild`); what it rebuilds
                // is reported by `flush_rebuilds`.
                if let Some((_, pos, why)) =
                    self.rebuilds.refused.iter().find(|(i, _, _)| *i == index)
                {
                    let evidence = match import.call {
                        Some((node, _)) => {
                            Renderer::render(&self.arena, &self.imports, Value::Node(node))
                        }
                        None => import.written(),
                    };
                    findings.push((
                        RuleId::PickleDeniedGlobal,
                        *pos,
                        format!("calls `{}`, which {why}", import.written()),
                        evidence,
                    ));
                }
                continue;
            }
            if import.class.check.is_some() {
                if let Some((node, pos, why, rule)) = &import.unsafe_call {
                    let message = match &import.class.class {
                        Class::Denied(d) => format!(
                            "calls `{}` (denied by `{}`: {}) in a way that is not allowed: it {why}",
                            import.written(),
                            d.pattern,
                            d.reason
                        ),
                        _ => format!("calls `{}`, which {why}", import.written()),
                    };
                    // Show the widest call when it goes through the offending one.
                    let shown = match import.call {
                        Some((wide, _)) if self.chain_contains(Value::Node(wide), *node) => wide,
                        _ => *node,
                    };
                    let evidence = Renderer::render(&self.arena, &self.imports, Value::Node(shown));
                    findings.push((*rule, *pos, message, evidence));
                    continue;
                }
                if import.refs <= import.safe_calls {
                    continue; // every use was a call judged safe
                }
            }
            let (rule, message) = match &import.class.class {
                Class::Allowed => continue,
                Class::Denied(d) => {
                    if !denied.admit() {
                        continue;
                    }
                    let message = format!(
                        "imports `{}`, denied by `{}`: {}",
                        import.written(),
                        d.pattern,
                        d.reason
                    );
                    (RuleId::PickleDeniedGlobal, message)
                }
                Class::Unknown => {
                    if !unknown.admit() {
                        unknown_left.push(import.written());
                        continue;
                    }
                    let message = format!(
                        "imports `{}`, which is on neither the allow list nor the deny list",
                        import.written()
                    );
                    (RuleId::PickleUnknownGlobal, message)
                }
            };
            let (offset, mut evidence) = match import.call {
                Some((node, pos)) => (
                    pos,
                    Renderer::render(&self.arena, &self.imports, Value::Node(node)),
                ),
                None => (import.pos, import.written()),
            };
            if let Some(resolved) = &import.class.resolved {
                evidence.push_str(&format!(" (resolved: {resolved})"));
            }
            findings.push((rule, offset, message, evidence));
        }
        for (rule, offset, message, evidence) in findings {
            self.ctx
                .report(rule, Some(offset as u64), message, Some(evidence));
        }
        if let Some(message) = unknown.not_listed(IN_STREAM) {
            let shown: Vec<&str> = unknown_left.iter().take(20).map(String::as_str).collect();
            self.emit(
                RuleId::PickleUnknownGlobal,
                None,
                format!("{message} (imports of globals on neither list)"),
                Some(shown.join(", ")),
            );
        }
        if let Some(message) = denied.not_listed(IN_STREAM) {
            self.emit(RuleId::PickleDeniedGlobal, None, message, None);
        }
    }

    /// Reports, for each capped kind of finding, how many the stream had beyond those listed.
    pub(super) fn report_not_listed(&mut self) {
        let counts = [
            (RuleId::PickleDynamicCall, self.counts.dynamic),
            (RuleId::PickleGlobalMutation, self.counts.mutation),
            (RuleId::PickleUnresolvableImport, self.counts.unresolved),
            (RuleId::PickleExtensionCode, self.counts.extension),
            (RuleId::PickleLimitExceeded, self.counts.nesting),
        ];
        for (rule, budget) in counts {
            if let Some(message) = budget.not_listed(IN_STREAM) {
                self.emit(rule, None, message, None);
            }
        }
    }
}

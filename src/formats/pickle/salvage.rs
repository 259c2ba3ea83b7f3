//! Salvage after a halt: when the abstract unpickler stops following a stream (an operand form
//! it does not model, a limit, a layout it cannot skip), the rest of the data is still read
//! opcode by opcode for what matters most: imports (GLOBAL, INST, STACK_GLOBAL over literal
//! strings) and the calls made right through them, across STOP and PROTO into any pickle that
//! follows. Stack and memo are tracked only approximately (literal strings, imports, tuples),
//! so every finding says that the analysis past the halt is approximate; a denied import found
//! this way is reported with its real rule and verdict.

use std::collections::HashMap;
use std::rc::Rc;

use crate::model::rules::RuleId;

use super::imports::{self, Class};
use super::ops::{self, Arg, Instr, Op};
use super::render::Renderer;
use super::value::{Node, Raw, RawKind, Value};
use super::vm::Machine;

/// Longest operand line a salvage read accepts (bounds the newline search per byte).
const MAX_LINE: usize = 64 * 1024;
/// Approximate stack and memo sizes kept while salvaging.
const MAX_STACK: usize = 4096;
const MAX_MEMO: usize = 65_536;
/// Imports reported per salvage.
const MAX_FOUND: usize = 200;
/// Items kept of a tuple: one more than evidence shows, so that it still shows `…`.
const TUPLE_ITEMS: usize = 9;

#[derive(Clone)]
enum S<'a> {
    Str(Raw<'a>),
    Global(String),
    /// Shared, so that a GET or DUP of a tuple nested in itself through the memo costs one
    /// reference, not a copy that doubles with every level.
    Tuple(Rc<[S<'a>]>),
    Mark,
    Other,
}

struct Found {
    module: String,
    name: String,
    pos: usize,
    call: Option<String>,
}

impl Found {
    /// Whether this import is the global written `module.name`.
    fn is(&self, written: &str) -> bool {
        written
            .strip_prefix(self.module.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            == Some(self.name.as_str())
    }
}

/// What salvage tracks: an approximate stack and memo, and the imports found.
struct Salvage<'a> {
    stack: Vec<S<'a>>,
    memo: HashMap<u64, S<'a>>,
    /// The memo's length as MEMOIZE numbers entries.
    memo_len: usize,
    /// The halted stream's memo still answers GETs until its STOP.
    same_stream: bool,
    found: Vec<Found>,
}

/// A tuple of the first [`TUPLE_ITEMS`] of `items`.
fn tuple(mut items: Vec<S<'_>>) -> S<'_> {
    items.truncate(TUPLE_ITEMS);
    S::Tuple(items.into())
}

impl<'a> Salvage<'a> {
    /// Pops a value, never a mark (what sits below a mark is out of reach).
    fn pop(&mut self) -> S<'a> {
        match self.stack.last() {
            Some(S::Mark) | None => S::Other,
            Some(_) => self.stack.pop().unwrap_or(S::Other),
        }
    }

    /// Pops the values above the topmost mark, and the mark.
    fn pop_to_mark(&mut self) -> Vec<S<'a>> {
        match self.stack.iter().rposition(|v| matches!(v, S::Mark)) {
            Some(at) => {
                let items = self.stack.split_off(at + 1);
                self.stack.pop();
                items
            }
            None => std::mem::take(&mut self.stack),
        }
    }

    fn push(&mut self, value: S<'a>) {
        if self.stack.len() >= MAX_STACK {
            self.stack.drain(..MAX_STACK / 2);
        }
        self.stack.push(value);
    }

    /// Memoizes the top of the stack at `index` (`halted_has`: the halted stream's memo
    /// already holds that index).
    fn put(&mut self, index: u64, halted_has: bool) {
        let top = self.stack.last().cloned().unwrap_or(S::Other);
        let existed = self.memo.contains_key(&index) || halted_has;
        if self.memo.len() < MAX_MEMO || self.memo.contains_key(&index) {
            self.memo.insert(index, top);
        }
        self.memo_len += usize::from(!existed);
    }
}

/// Finds the newlines that end text operands, once per stretch of data rather than per byte.
struct Lines<'a> {
    data: &'a [u8],
    /// The next two newlines after the last position asked about (`data.len()` when none).
    newlines: (usize, usize),
}

impl Lines<'_> {
    fn next_newline(&self, from: usize) -> usize {
        self.data
            .get(from..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
            .map_or(self.data.len(), |i| from + i)
    }

    /// Whether the operand line (two lines for GLOBAL and INST) of a text opcode at `pos`
    /// ends within `MAX_LINE` bytes.
    fn operand_is_near(&mut self, pos: usize, two_lines: bool) -> bool {
        if self.newlines.0 <= pos {
            let first = self.next_newline(pos + 1);
            self.newlines = (first, self.next_newline(first + 1));
        }
        let (first, second) = self.newlines;
        let len = self.data.len();
        first < len
            && first - pos <= MAX_LINE
            && (!two_lines || (second < len && second - first <= MAX_LINE))
    }
}

/// Text opcodes whose operand is read up to a newline.
fn is_line_op(byte: u8) -> bool {
    matches!(
        byte,
        b'F' | b'I' | b'L' | b'P' | b'S' | b'V' | b'g' | b'p' | b'c' | b'i'
    )
}

impl<'a> Machine<'a, '_, '_> {
    /// Call arguments: `(a, b)` without a one-tuple's comma; anything else as a value.
    fn salvage_args(&self, args: &S<'a>) -> String {
        match args {
            S::Tuple(items) => {
                let shown: Vec<String> = items
                    .iter()
                    .take(8)
                    .map(|v| self.salvage_render(v, 1))
                    .collect();
                format!("({})", shown.join(", "))
            }
            other => format!("(*{})", self.salvage_render(other, 1)),
        }
    }

    fn salvage_render(&self, value: &S<'a>, depth: usize) -> String {
        match value {
            S::Str(raw) => Renderer::render(&self.arena, &self.imports, Value::Raw(*raw)),
            S::Global(g) => g.clone(),
            S::Tuple(items) if depth < 4 => {
                let shown: Vec<String> = items
                    .iter()
                    .take(8)
                    .map(|v| self.salvage_render(v, depth + 1))
                    .collect();
                if items.len() == 1 {
                    format!("({},)", shown.join(", "))
                } else {
                    format!("({})", shown.join(", "))
                }
            }
            _ => "…".to_owned(),
        }
    }

    /// Reads `data[from..]` opcode by opcode after the stream halted at `halted_at`.
    pub(super) fn salvage(&mut self, from: usize, halted_at: usize) {
        let data = self.data;
        let mut pos = from;
        let mut state = Salvage {
            stack: Vec::new(),
            memo: HashMap::new(),
            memo_len: self.memo.len(),
            same_stream: true,
            found: Vec::new(),
        };
        let mut lines = Lines {
            data,
            newlines: (0, 0),
        };
        while pos < data.len() {
            let Some(&byte) = data.get(pos) else { break };
            if is_line_op(byte) && !lines.operand_is_near(pos, matches!(byte, b'c' | b'i')) {
                pos += 1;
                continue;
            }
            let Ok(instr) = ops::read(data, pos) else {
                pos += 1;
                continue;
            };
            pos = instr.next;
            if let Some(value) = self.salvage_step(&mut state, instr, halted_at) {
                state.push(value);
            }
        }
        self.report_salvaged(state.found, halted_at);
    }

    /// Follows one instruction on the approximate stack; what it pushes, if anything.
    fn salvage_step(
        &mut self,
        state: &mut Salvage<'a>,
        instr: Instr<'a>,
        halted_at: usize,
    ) -> Option<S<'a>> {
        let string = |bytes, kind| Some(S::Str(Raw { bytes, kind }));
        match (instr.op, instr.arg) {
            (Op::ShortBinUnicode | Op::BinUnicode | Op::BinUnicode8, Arg::Bytes(bytes)) => {
                string(bytes, RawKind::Utf8)
            }
            (Op::ShortBinString | Op::BinString, Arg::Bytes(bytes)) => {
                string(bytes, RawKind::Latin1)
            }
            (Op::String, Arg::Line(bytes)) => string(bytes, RawKind::Escaped),
            (Op::Unicode, Arg::Line(bytes)) => string(bytes, RawKind::RawUnicodeEscape),
            (Op::Global | Op::Inst, Arg::Lines(module, name)) => {
                let module = String::from_utf8_lossy(module).into_owned();
                let name = String::from_utf8_lossy(name).into_owned();
                let written = format!("{module}.{name}");
                let call = (instr.op == Op::Inst).then(|| {
                    let args = tuple(state.pop_to_mark());
                    format!("{written}{}", self.salvage_args(&args))
                });
                record(&mut state.found, module, name, instr.pos, call);
                Some(S::Global(written))
            }
            (Op::StackGlobal, _) => {
                let name = state.pop();
                let module = state.pop();
                Some(self.salvage_stack_global(state, module, name, instr.pos, halted_at))
            }
            (Op::Reduce | Op::NewObj, _) => {
                let args = state.pop();
                let callable = state.pop();
                self.salvage_call(state, &callable, &args);
                Some(S::Other)
            }
            (Op::NewObjEx, _) => {
                for _ in 0..3 {
                    state.pop();
                }
                Some(S::Other)
            }
            (Op::Mark, _) => Some(S::Mark),
            (Op::EmptyTuple, _) => Some(tuple(Vec::new())),
            (Op::Tuple, _) => Some(tuple(state.pop_to_mark())),
            (Op::Tuple1 | Op::Tuple2 | Op::Tuple3, _) => {
                let n = match instr.op {
                    Op::Tuple1 => 1,
                    Op::Tuple2 => 2,
                    _ => 3,
                };
                let mut items: Vec<S<'a>> = (0..n).map(|_| state.pop()).collect();
                items.reverse();
                Some(tuple(items))
            }
            (Op::List | Op::Dict | Op::FrozenSet | Op::Obj, _) => {
                state.pop_to_mark();
                Some(S::Other)
            }
            (Op::Appends | Op::SetItems | Op::AddItems | Op::PopMark, _) => {
                state.pop_to_mark();
                None
            }
            (Op::Pop, _) => {
                if matches!(state.stack.last(), Some(S::Mark) | None) {
                    state.stack.pop();
                } else {
                    state.pop();
                }
                None
            }
            (Op::Dup, _) => Some(state.stack.last().cloned().unwrap_or(S::Other)),
            (Op::Append | Op::Build, _) => {
                state.pop();
                None
            }
            (Op::SetItem, _) => {
                state.pop();
                state.pop();
                None
            }
            (Op::BinPersId, _) => {
                state.pop();
                Some(S::Other)
            }
            (Op::Memoize | Op::Put | Op::BinPut | Op::LongBinPut, arg) => {
                let index = match (instr.op, arg) {
                    (Op::Memoize, _) => Some(state.memo_len as u64),
                    (_, Arg::Int(i)) => u64::try_from(i).ok(),
                    (_, Arg::Line(line)) => super::cparse::memo_index(line).flatten(),
                    _ => None,
                };
                if let Some(index) = index {
                    let halted_has = state.same_stream && self.memo.contains(index);
                    state.put(index, halted_has);
                }
                None
            }
            (Op::Get | Op::BinGet | Op::LongBinGet, arg) => {
                let index = match arg {
                    Arg::Int(i) => u64::try_from(i).ok(),
                    Arg::Line(line) => super::cparse::memo_index(line).flatten(),
                    _ => None,
                };
                Some(match index {
                    Some(i) => match state.memo.get(&i) {
                        Some(v) => v.clone(),
                        None if state.same_stream => self.salvage_from_memo(i),
                        None => S::Other,
                    },
                    None => S::Other,
                })
            }
            (Op::Stop, _) => {
                // Another pickle may follow: a fresh unpickler, a fresh memo.
                state.stack.clear();
                state.memo.clear();
                state.memo_len = 0;
                state.same_stream = false;
                None
            }
            (Op::Proto | Op::Frame, _) => None,
            _ => Some(S::Other),
        }
    }

    /// STACK_GLOBAL over literal strings is an import; over a literal module alone, a denied
    /// module is reported there and then. What it pushes.
    fn salvage_stack_global(
        &mut self,
        state: &mut Salvage<'a>,
        module: S<'a>,
        name: S<'a>,
        pos: usize,
        halted_at: usize,
    ) -> S<'a> {
        match (&module, &name) {
            (S::Str(m), S::Str(n)) => {
                if let (Some(m), Some(n)) = (m.text(), n.text()) {
                    let global = S::Global(format!("{m}.{n}"));
                    record(&mut state.found, m.into_owned(), n.into_owned(), pos, None);
                    return global;
                }
            }
            (S::Str(m), _) => {
                if let Some(m) = m.text()
                    && let Some(denial) = imports::classify_module(&m, self.ctx.config())
                {
                    let message = format!(
                        "imports from `{m}`, denied by `{}`: {}; found after the analysis stopped at offset {halted_at} (approximate past that point)",
                        denial.pattern, denial.reason
                    );
                    self.emit(
                        RuleId::PickleDeniedGlobal,
                        Some(pos as u64),
                        message,
                        Some(format!("STACK_GLOBAL({m:?}, …)")),
                    );
                }
            }
            _ => {}
        }
        S::Other
    }

    /// REDUCE/NEWOBJ of an import: the call becomes the evidence of the import it goes through.
    fn salvage_call(&self, state: &mut Salvage<'a>, callable: &S<'a>, args: &S<'a>) {
        if let S::Global(g) = callable
            && let Some(at) = state
                .found
                .iter()
                .rposition(|f| f.call.is_none() && f.is(g))
        {
            let call = format!("{g}{}", self.salvage_args(args));
            if let Some(f) = state.found.get_mut(at) {
                f.call = Some(call);
            }
        }
    }

    /// A value of the halted stream's memo, as far as salvage tracks values.
    fn salvage_from_memo(&self, index: u64) -> S<'a> {
        match self.memo.get(index) {
            Some(Value::Raw(raw)) if raw.is_str() => S::Str(raw),
            Some(value @ Value::Node(_)) => match self.arena.node(value) {
                Some(Node::Global(i)) => self
                    .imports
                    .list
                    .get(*i as usize)
                    .map_or(S::Other, |g| S::Global(g.written())),
                _ => S::Other,
            },
            _ => S::Other,
        }
    }

    fn report_salvaged(&mut self, found: Vec<Found>, halted_at: usize) {
        let config = self.ctx.config();
        let mut findings = Vec::new();
        for f in found {
            let key = format!("{}:{}{}", f.module.len(), f.module, f.name);
            if self.imports.index.contains_key(&key) {
                continue; // imported before the halt: reported with the stream
            }
            let class = imports::classify(&f.module, &f.name, config);
            let written = format!("{}.{}", f.module, f.name);
            let (rule, message) = match &class.class {
                Class::Allowed => continue,
                Class::Denied(d) => (
                    RuleId::PickleDeniedGlobal,
                    format!(
                        "imports `{written}`, denied by `{}`: {}; found after the analysis stopped at offset {halted_at} (approximate past that point)",
                        d.pattern, d.reason
                    ),
                ),
                Class::Unknown => (
                    RuleId::PickleUnknownGlobal,
                    format!(
                        "imports `{written}`, which is on neither the allow list nor the deny list; found after the analysis stopped at offset {halted_at} (approximate past that point)"
                    ),
                ),
            };
            let mut evidence = f.call.unwrap_or(written);
            if let Some(resolved) = &class.resolved {
                evidence.push_str(&format!(" (resolved: {resolved})"));
            }
            findings.push((rule, f.pos, message, evidence));
        }
        for (rule, pos, message, evidence) in findings {
            self.emit(rule, Some(pos as u64), message, Some(evidence));
        }
    }
}

/// Remembers an import found while salvaging (each `module.name` once, the first place).
fn record(found: &mut Vec<Found>, module: String, name: String, pos: usize, call: Option<String>) {
    if let Some(f) = found
        .iter_mut()
        .find(|f| f.module == module && f.name == name)
    {
        if f.call.is_none() {
            f.call = call;
        }
        return;
    }
    if found.len() < MAX_FOUND {
        found.push(Found {
            module,
            name,
            pos,
            call,
        });
    }
}

//! Salvage after a halt: when the abstract unpickler stops following a stream (an operand form
//! it does not model, a limit, a layout it cannot skip), the rest of the data is still read
//! opcode by opcode for what matters most: imports (GLOBAL, INST, STACK_GLOBAL over literal
//! strings) and the calls made right through them, across STOP and PROTO into any pickle that
//! follows. Stack and memo are tracked only approximately (literal strings, imports, tuples),
//! so every finding says that the analysis past the halt is approximate; a denied import found
//! this way is reported with its real rule and verdict.

use std::collections::HashMap;

use crate::model::rules::RuleId;

use super::imports::{self, Class};
use super::ops::{self, Arg, Op};
use super::render::Renderer;
use super::value::{Node, Raw, Value};
use super::vm::Machine;

/// Longest operand line a salvage read accepts (bounds the newline search per byte).
const MAX_LINE: usize = 64 * 1024;
/// Approximate stack and memo sizes kept while salvaging.
const MAX_STACK: usize = 4096;
const MAX_MEMO: usize = 65_536;
/// Imports reported per salvage.
const MAX_FOUND: usize = 200;

#[derive(Clone)]
enum S<'a> {
    Str(Raw<'a>),
    Global(String),
    Tuple(Vec<S<'a>>),
    Mark,
    Other,
}

struct Found {
    module: String,
    name: String,
    pos: usize,
    call: Option<String>,
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
        let mut stack: Vec<S<'a>> = Vec::new();
        let mut memo: HashMap<u64, S<'a>> = HashMap::new();
        let mut memo_len = self.memo.len();
        // The halted stream's memo still answers GETs until its STOP.
        let mut same_stream = true;
        let mut found: Vec<Found> = Vec::new();
        // The next two newlines after `pos` (data.len() when there is none), found once per
        // stretch of data rather than once per byte.
        let mut newlines = (0usize, 0usize);
        let next_newline = |from: usize| {
            data.get(from..)
                .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
                .map_or(data.len(), |i| from + i)
        };
        while pos < data.len() {
            let Some(&byte) = data.get(pos) else { break };
            if is_line_op(byte) {
                if newlines.0 <= pos {
                    let first = next_newline(pos + 1);
                    newlines = (first, next_newline(first + 1));
                }
                let two_lines = matches!(byte, b'c' | b'i');
                let near = newlines.0 < data.len()
                    && newlines.0 - pos <= MAX_LINE
                    && (!two_lines
                        || (newlines.1 < data.len() && newlines.1 - newlines.0 <= MAX_LINE));
                if !near {
                    pos += 1;
                    continue;
                }
            }
            let instr = match ops::read(data, pos) {
                Ok(instr) => instr,
                Err(_) => {
                    pos += 1;
                    continue;
                }
            };
            pos = instr.next;
            let pop = |stack: &mut Vec<S<'a>>| match stack.last() {
                Some(S::Mark) | None => S::Other,
                Some(_) => stack.pop().unwrap_or(S::Other),
            };
            let to_mark = |stack: &mut Vec<S<'a>>| {
                let at = stack.iter().rposition(|v| matches!(v, S::Mark));
                match at {
                    Some(at) => {
                        let items = stack.split_off(at + 1);
                        stack.pop();
                        items
                    }
                    None => std::mem::take(stack),
                }
            };
            let mut push = S::Other;
            let mut pushes = true;
            match (instr.op, instr.arg) {
                (Op::ShortBinUnicode | Op::BinUnicode | Op::BinUnicode8, Arg::Bytes(bytes)) => {
                    push = S::Str(Raw {
                        bytes,
                        kind: super::value::RawKind::Utf8,
                    })
                }
                (Op::ShortBinString | Op::BinString, Arg::Bytes(bytes)) => {
                    push = S::Str(Raw {
                        bytes,
                        kind: super::value::RawKind::Latin1,
                    })
                }
                (Op::String, Arg::Line(bytes)) => {
                    push = S::Str(Raw {
                        bytes,
                        kind: super::value::RawKind::Escaped,
                    })
                }
                (Op::Unicode, Arg::Line(bytes)) => {
                    push = S::Str(Raw {
                        bytes,
                        kind: super::value::RawKind::RawUnicodeEscape,
                    })
                }
                (Op::Global | Op::Inst, Arg::Lines(module, name)) => {
                    let module = String::from_utf8_lossy(module).into_owned();
                    let name = String::from_utf8_lossy(name).into_owned();
                    let written = format!("{module}.{name}");
                    if instr.op == Op::Inst {
                        let args = S::Tuple(to_mark(&mut stack));
                        let call = format!("{written}{}", self.salvage_args(&args));
                        record(&mut found, module, name, instr.pos, Some(call));
                    } else {
                        record(&mut found, module, name, instr.pos, None);
                    }
                    push = S::Global(written);
                }
                (Op::StackGlobal, _) => {
                    let name = pop(&mut stack);
                    let module = pop(&mut stack);
                    match (&module, &name) {
                        (S::Str(m), S::Str(n)) => {
                            if let (Some(m), Some(n)) = (m.text(), n.text()) {
                                push = S::Global(format!("{m}.{n}"));
                                record(&mut found, m.into_owned(), n.into_owned(), instr.pos, None);
                            }
                        }
                        (S::Str(m), _) => {
                            if let Some(m) = m.text()
                                && let Some(denial) =
                                    imports::classify_module(&m, self.ctx.config())
                            {
                                let message = format!(
                                    "imports from `{m}`, denied by `{}`: {}; found after the analysis stopped at offset {halted_at} (approximate past that point)",
                                    denial.pattern, denial.reason
                                );
                                self.emit(
                                    RuleId::PickleDeniedGlobal,
                                    Some(instr.pos as u64),
                                    message,
                                    Some(format!("STACK_GLOBAL({m:?}, …)")),
                                );
                            }
                        }
                        _ => {}
                    }
                }
                (Op::Reduce | Op::NewObj, _) => {
                    let args = pop(&mut stack);
                    let callable = pop(&mut stack);
                    if let S::Global(g) = &callable {
                        let call = format!("{g}{}", self.salvage_args(&args));
                        if let Some(f) = found
                            .iter_mut()
                            .rev()
                            .find(|f| f.call.is_none() && format!("{}.{}", f.module, f.name) == *g)
                        {
                            f.call = Some(call);
                        }
                    }
                }
                (Op::NewObjEx, _) => {
                    pop(&mut stack);
                    pop(&mut stack);
                    pop(&mut stack);
                }
                (Op::Mark, _) => push = S::Mark,
                (Op::EmptyTuple, _) => push = S::Tuple(Vec::new()),
                (Op::Tuple, _) => push = S::Tuple(to_mark(&mut stack)),
                (Op::Tuple1 | Op::Tuple2 | Op::Tuple3, _) => {
                    let n = match instr.op {
                        Op::Tuple1 => 1,
                        Op::Tuple2 => 2,
                        _ => 3,
                    };
                    let mut items: Vec<S<'a>> = (0..n).map(|_| pop(&mut stack)).collect();
                    items.reverse();
                    push = S::Tuple(items);
                }
                (Op::List | Op::Dict | Op::FrozenSet | Op::Obj, _) => {
                    to_mark(&mut stack);
                }
                (Op::Appends | Op::SetItems | Op::AddItems | Op::PopMark, _) => {
                    to_mark(&mut stack);
                    pushes = false;
                }
                (Op::Pop, _) => {
                    if matches!(stack.last(), Some(S::Mark) | None) {
                        stack.pop();
                    } else {
                        pop(&mut stack);
                    }
                    pushes = false;
                }
                (Op::Dup, _) => push = stack.last().cloned().unwrap_or(S::Other),
                (Op::Append | Op::Build, _) => {
                    pop(&mut stack);
                    pushes = false;
                }
                (Op::SetItem, _) => {
                    pop(&mut stack);
                    pop(&mut stack);
                    pushes = false;
                }
                (Op::BinPersId, _) => {
                    pop(&mut stack);
                }
                (Op::Memoize | Op::Put | Op::BinPut | Op::LongBinPut, _) => {
                    pushes = false;
                    let index = match (instr.op, instr.arg) {
                        (Op::Memoize, _) => Some(memo_len as u64),
                        (_, Arg::Int(i)) => u64::try_from(i).ok(),
                        (_, Arg::Line(line)) => super::cparse::memo_index(line).flatten(),
                        _ => None,
                    };
                    if let Some(index) = index {
                        let top = stack.last().cloned().unwrap_or(S::Other);
                        let existed = memo.contains_key(&index)
                            || (same_stream && self.memo.get(index).is_some());
                        if memo.len() < MAX_MEMO || memo.contains_key(&index) {
                            memo.insert(index, top);
                        }
                        memo_len += usize::from(!existed);
                    }
                }
                (Op::Get | Op::BinGet | Op::LongBinGet, arg) => {
                    let index = match arg {
                        Arg::Int(i) => u64::try_from(i).ok(),
                        Arg::Line(line) => super::cparse::memo_index(line).flatten(),
                        _ => None,
                    };
                    push = match index {
                        Some(i) => match memo.get(&i) {
                            Some(v) => v.clone(),
                            None if same_stream => self.salvage_from_memo(i),
                            None => S::Other,
                        },
                        None => S::Other,
                    };
                }
                (Op::Stop, _) => {
                    // Another pickle may follow: a fresh unpickler, a fresh memo.
                    stack.clear();
                    memo.clear();
                    memo_len = 0;
                    same_stream = false;
                    pushes = false;
                }
                (Op::Proto | Op::Frame, _) => pushes = false,
                _ => {}
            }
            if pushes {
                if stack.len() >= MAX_STACK {
                    stack.drain(..MAX_STACK / 2);
                }
                stack.push(push);
            }
        }
        self.report_salvaged(found, halted_at);
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

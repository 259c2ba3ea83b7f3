//! The abstract unpickler: runs one pickle stream opcode by opcode over symbolic values, the way
//! CPython's `Unpickler` would, without importing or calling anything.

use std::collections::{HashMap, HashSet};

use crate::config::PickleLimits;
use crate::model::Budget;
use crate::model::rules::RuleId;
use crate::scan::context::Ctx;
use crate::scan::deadline;

use super::budget::{EXACT_AFTER_WRAPPER, Exact, Recent};
use super::frames::{self, FrameTracker};
use super::globals::Imports;
use super::memo::Memo;
use super::ops::{self, Arg, Instr, Op};
use super::value::{
    Arena, ArenaBudget, ArenaBuffers, ArenaFull, CallKind, Dropped, Items, Node, Raw, RawKind,
    Value,
};

/// The value of the first pickle of a legacy (non-zip) `torch.save` file.
pub const TORCH_MAGIC: i128 = 0x1950_a86a_20f9_469c_fc6c;
/// Findings of one kind reported per stream before the rest are left out.
pub(super) const MAX_REPORTS: u64 = 8;

#[derive(Debug, Clone, Copy, Default)]
pub struct StreamOptions {
    /// Follow joblib's inline arrays after each `NumpyArrayWrapper`.
    pub joblib: bool,
    /// Return the stream's value when it is a list of strings (legacy PyTorch storage keys).
    pub want_strings: bool,
    /// Return the stream's value when it is an integer or a sequence of three (the count and
    /// the per-record arguments of a legacy tar checkpoint's `storages` and `tensors`).
    pub want_layout: bool,
    /// A second reading of a stream whose joblib arrays were skipped, as plain `pickle.load`
    /// would read it: only denied imports are reported (array bytes read as opcodes are noise).
    pub shadow: bool,
}

/// What the layout code needs to know about a stream's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Summary {
    TorchMagic,
    Strings(Vec<String>),
    /// An integer (`want_layout`).
    Int(i64),
    /// A tuple or list of three items (`want_layout`), with the name of the third when it is
    /// an imported global (`FloatStorage` of `torch.FloatStorage`).
    Triple(Option<String>),
    Other,
}

/// A storage named by a persistent id `('storage', type, key, location, numel, …)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    pub key: String,
    pub type_name: String,
    pub numel: Option<i64>,
}

#[derive(Debug)]
pub struct Outcome {
    /// Offset just after the STOP, or `None` when the stream broke off (already reported).
    pub end: Option<usize>,
    pub summary: Summary,
    pub storages: Vec<Storage>,
    /// joblib array bytes were skipped inside the stream.
    pub skipped_arrays: bool,
    /// Tensors the stream rebuilds from storages (`tensors.rs`), and how many more were not
    /// kept.
    pub tensors: (Vec<crate::model::tensors::PickledTensor>, u64),
    /// The stream was read in order to its STOP and no instruction ran past the frame it
    /// starts in: a file reader reads it the same way (`frames.rs`).
    pub frames_agree: bool,
}

impl Outcome {
    /// A stream of plain data that ends at `end`: no storages, no value the layout needs.
    pub fn plain_data(end: usize) -> Outcome {
        Outcome {
            end: Some(end),
            summary: Summary::Other,
            storages: Vec::new(),
            skipped_arrays: false,
            tensors: (Vec::new(), 0),
            frames_agree: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Next,
    /// STOP: the stream's value is in `Machine::result`.
    Stop,
    /// joblib reads an array from the file right after the wrapper's BUILD: a whole pickle…
    InlinePickle,
    /// …or raw bytes, as `Machine::inline_raw` says.
    InlineRaw,
}

pub(super) enum HaltKind {
    Limit(usize, String),
    Malformed(usize, String),
    /// Already reported (an inner stream broke off).
    Quiet,
}

/// Why a stream stops being followed. Boxed, so that the hot path returns in registers.
pub(super) struct Halt(Box<HaltKind>);

impl Halt {
    #[cold]
    pub fn limit(pos: usize, what: String) -> Halt {
        Halt(Box::new(HaltKind::Limit(pos, what)))
    }

    #[cold]
    pub fn malformed(pos: usize, what: String) -> Halt {
        Halt(Box::new(HaltKind::Malformed(pos, what)))
    }

    #[cold]
    pub fn quiet() -> Halt {
        Halt(Box::new(HaltKind::Quiet))
    }
}

impl From<(usize, ArenaFull)> for Halt {
    #[cold]
    fn from((pos, _): (usize, ArenaFull)) -> Halt {
        Halt::limit(
            pos,
            "the stream creates more values than the scanner tracks".to_owned(),
        )
    }
}

/// What one stream has reported of each capped kind of finding.
pub(super) struct Counts {
    /// Only the first is reported: CPython's unpickler stops there.
    pub malformed: u32,
    pub dynamic: Budget,
    pub mutation: Budget,
    pub unresolved: Budget,
    pub extension: Budget,
    pub nesting: Budget,
    /// Calls not judged because their arguments were made after the memory budget was spent.
    pub unjudged: Budget,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            malformed: 0,
            dynamic: Budget::new(MAX_REPORTS),
            mutation: Budget::new(MAX_REPORTS),
            unresolved: Budget::new(MAX_REPORTS),
            extension: Budget::new(MAX_REPORTS),
            nesting: Budget::new(MAX_REPORTS),
            unjudged: Budget::new(MAX_REPORTS),
        }
    }
}

pub(super) struct Machine<'a, 'c, 'x> {
    pub data: &'a [u8],
    pub ctx: &'c mut Ctx<'x>,
    pub limits: PickleLimits,
    pub options: StreamOptions,
    pub start: usize,
    pub stack: Vec<Value<'a>>,
    pub marks: Vec<usize>,
    pub memo: Memo<'a>,
    pub arena: Arena<'a>,
    pub imports: Imports,
    /// Attributes planted on globals by BUILD: `module.name.attr` → value.
    pub overrides: HashMap<String, Value<'a>>,
    pub counts: Counts,
    pub nested_seen: HashSet<(usize, usize)>,
    pub storages: Vec<Storage>,
    pub empty_tuple: Option<Value<'a>>,
    /// The value STOP popped.
    pub result: Value<'a>,
    /// joblib's inline array after a BUILD: (padding byte present, data bytes).
    pub inline_raw: (bool, u64),
    pub skipped_arrays: bool,
    /// Nodes of checked globals (`imports::Check`), whose every use is counted.
    pub checked_nodes: Vec<super::value::NodeId>,
    /// getattr calls judged safe: calling their result is calling a listed method.
    pub safe_getattrs: HashSet<super::value::NodeId>,
    /// getattr calls kept as data (`checked.rs`): call node → (import index, why the call
    /// would be refused if the pickle ever called, bound, extended or BUILT its result).
    pub data_getattrs: HashMap<super::value::NodeId, (usize, String)>,
    /// Method objects bound around a data getattr (`MethodType(getattr(C, 'm'), obj)`):
    /// method node → the getattr call it wraps.
    pub bound_getattrs: HashMap<super::value::NodeId, super::value::NodeId>,
    /// String and bytes operands that are, or could decode to, a pickle (`carried.rs`).
    pub carried: Vec<Raw<'a>>,
    /// Code objects and functions rebuilt by dill/cloudpickle helpers (`rebuild`).
    pub rebuilds: super::rebuild::Rebuilds,
    /// Tensors rebuilt from storages, for the probe (`tensors`).
    pub tensors: super::tensors::Recorder<'a>,
    /// Small containers made after the memory budget was spent.
    pub recent: Recent<'a>,
    /// What is made whole after a joblib array wrapper.
    pub exact: Exact,
    /// Where later batches of a large container were left to the machine (`batch.rs`).
    pub batches: super::batch::Batches,
    /// The frames of the in-order reading, until an instruction runs past its frame or the
    /// reading jumps (joblib's inline data): then `None`.
    pub frames: Option<FrameTracker>,
}

/// Buffers of the abstract unpickler, reused from one stream of a file to the next so that a
/// file of many streams does not fault in fresh memory for each.
#[derive(Default)]
pub struct Workspace<'a> {
    stack: Vec<Value<'a>>,
    marks: Vec<usize>,
    memo: Vec<Option<Value<'a>>>,
    arena: ArenaBuffers<'a>,
}

/// The value a scalar opcode pushes (`None`, booleans, integers, floats, strings and bytes);
/// `Unknown` for any other opcode.
#[inline]
pub(super) fn operand<'a>(instr: &Instr<'a>) -> Value<'a> {
    let raw = |bytes, kind| Value::Raw(Raw { bytes, kind });
    match (instr.op, instr.arg) {
        (Op::None, _) => Value::None,
        (Op::NewTrue, _) => Value::Bool(true),
        (Op::NewFalse, _) => Value::Bool(false),
        (Op::BinInt | Op::BinInt1 | Op::BinInt2, Arg::Int(i)) => Value::Int(i),
        (Op::BinFloat, Arg::Float(f)) => Value::Float(f),
        (Op::Long1 | Op::Long4, Arg::Bytes(bytes)) if bytes.len() <= 8 => {
            let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
            let mut buf = if negative { [0xff; 8] } else { [0; 8] };
            if let Some(dst) = buf.get_mut(..bytes.len()) {
                dst.copy_from_slice(bytes);
            }
            Value::Int(i64::from_le_bytes(buf))
        }
        (Op::Long1 | Op::Long4, Arg::Bytes(bytes)) => raw(bytes, RawKind::LongLe),
        (Op::BinUnicode | Op::ShortBinUnicode | Op::BinUnicode8, Arg::Bytes(bytes)) => {
            raw(bytes, RawKind::Utf8)
        }
        (Op::BinBytes | Op::ShortBinBytes | Op::BinBytes8, Arg::Bytes(bytes)) => {
            raw(bytes, RawKind::Bytes)
        }
        (Op::BinString | Op::ShortBinString, Arg::Bytes(bytes)) => raw(bytes, RawKind::Latin1),
        (Op::ByteArray8, Arg::Bytes(bytes)) => raw(bytes, RawKind::ByteArray),
        _ => Value::Unknown,
    }
}

/// Analyses the pickle stream that starts at `start` in `data`, reporting findings with offsets
/// into `data`.
pub fn run_stream<'a>(
    data: &'a [u8],
    start: usize,
    ctx: &mut Ctx<'_>,
    options: StreamOptions,
    workspace: &mut Workspace<'a>,
) -> Outcome {
    let limits = ctx.config().pickle.clone();
    // A quarter of the budget for nodes and calls, a quarter for container items, half for
    // the memo (a memo entry is what later opcodes read back, so it cannot be left out).
    let quarter = limits.max_memory / 4;
    let budget = ArenaBudget {
        node_bytes: usize::try_from(quarter).unwrap_or(usize::MAX),
        items: usize::try_from(quarter).unwrap_or(usize::MAX) / std::mem::size_of::<Value<'_>>(),
    };
    let buffers = std::mem::take(workspace);
    let mut m = Machine {
        data,
        ctx,
        limits,
        options,
        start,
        stack: buffers.stack,
        marks: buffers.marks,
        memo: Memo::new(buffers.memo),
        arena: Arena::new(budget, buffers.arena),
        imports: Imports::default(),
        overrides: HashMap::new(),
        counts: Counts::default(),
        nested_seen: HashSet::new(),
        storages: Vec::new(),
        empty_tuple: None,
        result: Value::None,
        inline_raw: (false, 0),
        skipped_arrays: false,
        checked_nodes: Vec::new(),
        safe_getattrs: HashSet::new(),
        data_getattrs: HashMap::new(),
        bound_getattrs: HashMap::new(),
        carried: Vec::new(),
        rebuilds: super::rebuild::Rebuilds::default(),
        tensors: super::tensors::Recorder::default(),
        recent: Recent::default(),
        exact: Exact::default(),
        batches: super::batch::Batches::default(),
        frames: Some(FrameTracker::new(start)),
    };
    let result = m.run(start);
    m.flush_imports();
    m.flush_rebuilds();
    let outcome = match result {
        Ok((end, value)) => Outcome {
            end: Some(end),
            summary: m.summarize(value),
            storages: std::mem::take(&mut m.storages),
            skipped_arrays: m.skipped_arrays,
            tensors: m.take_tensors(Some(value)),
            frames_agree: m.frames.is_some(),
        },
        Err(halt) => {
            // A shadow reading (joblib's array bytes read as opcodes) that breaks off is what
            // plain `pickle.load` does; the main reading already salvages the data.
            if let Some(at) = m.report_halt(halt)
                && !options.shadow
            {
                // Keep reading the rest of the data for imports and calls.
                let resume = match ops::read(data, at) {
                    Ok(instr) => instr.next,
                    Err(_) => at + 1,
                };
                m.salvage(resume, at);
            }
            Outcome {
                end: None,
                summary: Summary::Other,
                storages: std::mem::take(&mut m.storages),
                skipped_arrays: m.skipped_arrays,
                tensors: m.take_tensors(None),
                frames_agree: false,
            }
        }
    };
    m.examine_carried();
    m.report_not_listed();
    let (mut stack, mut marks, memo) = (m.stack, m.marks, m.memo.into_buffer());
    stack.clear();
    marks.clear();
    *workspace = Workspace {
        stack,
        marks,
        memo,
        arena: m.arena.into_buffers(),
    };
    outcome
}

impl<'a, 'c, 'x> Machine<'a, 'c, 'x> {
    fn run(&mut self, start: usize) -> Result<(usize, Value<'a>), Halt> {
        let mut pos = start;
        let mut count: u64 = 0;
        loop {
            count += 1;
            if count > self.limits.max_opcodes {
                return Err(Halt::limit(
                    pos,
                    format!(
                        "more than {} opcodes in one stream",
                        self.limits.max_opcodes
                    ),
                ));
            }
            // The scan reports a spent time budget once, for the whole artifact.
            if count.is_multiple_of(1 << 16) && deadline::passed() {
                return Err(Halt::quiet());
            }
            let instr =
                ops::read(self.data, pos).map_err(|e| Halt::malformed(e.pos(), e.describe()))?;
            frames::follow(&mut self.frames, &instr);
            if instr.op == Op::Mark
                && let Some(end) = self.plain_batch(&instr, &mut count)
            {
                pos = end;
                continue;
            }
            pos = instr.next;
            match self.step(instr)? {
                Flow::Next => {}
                Flow::Stop => return Ok((pos, self.result)),
                Flow::InlinePickle => {
                    self.frames = None;
                    let mut workspace = Workspace::default();
                    let inner = run_stream(
                        self.data,
                        pos,
                        self.ctx,
                        StreamOptions::default(),
                        &mut workspace,
                    );
                    pos = inner.end.ok_or_else(Halt::quiet)?;
                }
                Flow::InlineRaw => {
                    self.frames = None;
                    self.skipped_arrays = true;
                    let (padded, nbytes) = self.inline_raw;
                    let past_end = |at: usize| {
                        Halt::malformed(
                            at,
                            format!(
                                "joblib array data ({nbytes} bytes) runs past the end of the data"
                            ),
                        )
                    };
                    if padded {
                        let pad = *self.data.get(pos).ok_or_else(|| past_end(pos))?;
                        pos += 1 + usize::from(pad);
                    }
                    pos = usize::try_from(nbytes)
                        .ok()
                        .and_then(|n| pos.checked_add(n))
                        .filter(|&end| end <= self.data.len())
                        .ok_or_else(|| past_end(pos))?;
                }
            }
        }
    }

    /// Reports a finding (in a shadow reading, only denied imports).
    pub fn emit(
        &mut self,
        rule: RuleId,
        offset: Option<u64>,
        message: impl Into<String>,
        evidence: Option<String>,
    ) {
        if !self.options.shadow || rule == RuleId::PickleDeniedGlobal {
            self.ctx.report(rule, offset, message, evidence);
        }
    }

    #[cold]
    #[inline(never)]
    pub fn malformed(&mut self, pos: usize, what: &str) {
        self.counts.malformed += 1;
        if self.counts.malformed == 1 {
            let start = self.start;
            self.emit(
                RuleId::PickleMalformed,
                Some(pos as u64),
                format!(
                    "{what}; CPython's unpickler fails here (stream starting at offset {start}), after running everything before"
                ),
                None,
            );
        }
    }

    pub(super) fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    #[inline]
    pub(super) fn push(&mut self, value: Value<'a>, pos: usize) -> Result<(), Halt> {
        if self.stack.len() + self.marks.len() >= self.limits.max_stack {
            return Err(self.stack_limit(pos));
        }
        self.stack.push(value);
        Ok(())
    }

    pub(super) fn pop(&mut self, pos: usize) -> Value<'a> {
        if self.stack.len() > self.floor() {
            self.stack.pop().unwrap_or(Value::Unknown)
        } else {
            self.malformed(pos, "an opcode pops from an empty stack");
            Value::Unknown
        }
    }

    pub(super) fn peek(&mut self, pos: usize) -> Value<'a> {
        if self.stack.len() > self.floor() {
            self.stack.last().copied().unwrap_or(Value::Unknown)
        } else {
            self.malformed(pos, "an opcode reads from an empty stack");
            Value::Unknown
        }
    }

    /// Pops the topmost mark and returns where its items start.
    pub(super) fn take_mark(&mut self, pos: usize, op: Op) -> usize {
        match self.marks.pop() {
            Some(mark) => mark.min(self.stack.len()),
            None => self.missing_mark(pos, op),
        }
    }

    #[cold]
    #[inline(never)]
    fn missing_mark(&mut self, pos: usize, op: Op) -> usize {
        self.malformed(pos, &format!("{} without a MARK", op.name()));
        self.stack.len()
    }

    #[inline]
    pub fn alloc(&mut self, node: Node<'a>, pos: usize) -> Result<Value<'a>, Halt> {
        self.arena.alloc(node).map_err(|e| Halt::from((pos, e)))
    }

    /// A container of the stack's items from `start`, which it pops.
    #[inline]
    pub(super) fn seq_from(
        &mut self,
        start: usize,
        pos: usize,
        kind: Dropped,
    ) -> Result<Value<'a>, Halt> {
        let start = start.min(self.stack.len());
        if self.exact.left > 0 {
            let values = self.stack.split_off(start);
            return self.container_whole(kind, &values, pos);
        }
        let values = self.stack.get(start..).unwrap_or_default();
        let made = self
            .arena
            .container(kind, values, pos)
            .map_err(|e| Halt::from((pos, e)))?;
        if let Value::Dropped(..) = made {
            self.recent.remember(pos, kind, values);
        }
        self.stack.truncate(start);
        Ok(made)
    }

    pub(super) fn push_raw(
        &mut self,
        bytes: &'a [u8],
        kind: RawKind,
        pos: usize,
    ) -> Result<(), Halt> {
        let raw = Raw { bytes, kind };
        if bytes.len() >= crate::formats::staged::MIN_LEN {
            self.consider_carried(raw);
        }
        self.push(Value::Raw(raw), pos)
    }

    #[inline]
    pub(super) fn memo_put(&mut self, index: u64, pos: usize) -> Result<(), Halt> {
        let value = self.peek(pos);
        self.memo.put(index, value);
        self.memo
            .thin_if_large(self.data, pos, self.limits.max_opcodes);
        if self.memo.len() > self.limits.max_memo {
            return Err(Halt::limit(
                pos,
                format!("the memo grows past {} entries", self.limits.max_memo),
            ));
        }
        if self.memo.bytes() as u64 > self.limits.max_memory / 2 {
            return Err(Halt::limit(
                pos,
                format!(
                    "the memo grows past half of the stream's memory budget ({} entries)",
                    self.memo.len()
                ),
            ));
        }
        Ok(())
    }

    /// The opcodes of ordinary data, kept small so that the common path stays fast.
    #[inline]
    fn step(&mut self, instr: Instr<'a>) -> Result<Flow, Halt> {
        let pos = instr.pos;
        match (instr.op, instr.arg) {
            (Op::Mark, _) => {
                if self.stack.len() + self.marks.len() >= self.limits.max_stack {
                    return Err(self.stack_limit(pos));
                }
                self.marks.push(self.stack.len());
            }
            (Op::Stop, _) => {
                self.result = self.pop(pos);
                return Ok(Flow::Stop);
            }
            (Op::Pop, _) => {
                if self.stack.len() > self.floor() {
                    self.stack.pop();
                } else if self.marks.pop().is_none() {
                    self.malformed(pos, "POP on an empty stack");
                }
            }
            (Op::Dup, _) => {
                let top = self.peek(pos);
                self.note_use(top);
                self.push(top, pos)?;
            }
            (
                Op::None
                | Op::NewTrue
                | Op::NewFalse
                | Op::BinInt
                | Op::BinInt1
                | Op::BinInt2
                | Op::BinFloat
                | Op::Long1
                | Op::Long4,
                _,
            ) => self.push(operand(&instr), pos)?,
            (Op::BinUnicode | Op::ShortBinUnicode | Op::BinUnicode8, Arg::Bytes(bytes)) => {
                self.push_raw(bytes, RawKind::Utf8, pos)?;
            }
            (Op::BinBytes | Op::ShortBinBytes | Op::BinBytes8, Arg::Bytes(bytes)) => {
                self.push_raw(bytes, RawKind::Bytes, pos)?;
            }
            (Op::BinString | Op::ShortBinString, Arg::Bytes(bytes)) => {
                self.push_raw(bytes, RawKind::Latin1, pos)?;
            }
            (Op::EmptyTuple, _) => {
                let value = match self.empty_tuple {
                    Some(v) => v,
                    None => {
                        let v = self.alloc(Node::Tuple(Items::default()), pos)?;
                        self.empty_tuple = Some(v);
                        v
                    }
                };
                self.push(value, pos)?;
            }
            (Op::EmptyList, _) => {
                let v = self.container(Dropped::List, &[], pos)?;
                self.push(v, pos)?;
            }
            (Op::EmptyDict, _) => {
                let v = self.container(Dropped::Dict, &[], pos)?;
                self.push(v, pos)?;
            }
            (Op::Tuple | Op::List, _) => {
                let start = self.take_mark(pos, instr.op);
                let kind = if instr.op == Op::Tuple {
                    Dropped::Tuple
                } else {
                    Dropped::List
                };
                let v = self.seq_from(start, pos, kind)?;
                self.push(v, pos)?;
            }
            (Op::Tuple1 | Op::Tuple2 | Op::Tuple3, _) => {
                let n = match instr.op {
                    Op::Tuple1 => 1,
                    Op::Tuple2 => 2,
                    _ => 3,
                };
                if self.stack.len() < self.floor() + n {
                    self.too_few_items(pos, instr.op, n);
                }
                let start = self.stack.len().saturating_sub(n);
                let v = self.seq_from(start, pos, Dropped::Tuple)?;
                self.push(v, pos)?;
            }
            (Op::Append | Op::SetItem, _) => {
                let n = if instr.op == Op::Append { 1 } else { 2 };
                if self.stack.len() < self.floor() + n + 1 {
                    self.too_few_items(pos, instr.op, 0);
                    let keep = self.floor().min(self.stack.len());
                    self.stack.truncate(keep);
                } else {
                    let start = self.stack.len().saturating_sub(n);
                    let target = self.stack.get(start.saturating_sub(1)).copied();
                    self.add_items(target.unwrap_or(Value::Unknown), start, instr.op, pos);
                }
            }
            (Op::Appends | Op::SetItems | Op::AddItems, _) => {
                let start = self.take_mark(pos, instr.op);
                if start > self.floor() {
                    let target = self.stack.get(start.saturating_sub(1)).copied();
                    if instr.op == Op::SetItems && self.stack.len().saturating_sub(start) % 2 == 1 {
                        self.malformed(pos, "SETITEMS with an odd number of items");
                        self.stack.pop();
                    }
                    self.add_items(target.unwrap_or(Value::Unknown), start, instr.op, pos);
                } else {
                    self.too_few_items(pos, instr.op, 0);
                    self.stack.truncate(start);
                }
            }
            (Op::Build, _) => return self.build(pos),
            (Op::StackGlobal, _) => {
                let name = self.pop(pos);
                let module = self.pop(pos);
                self.stack_global(module, name, pos)?;
            }
            (Op::Reduce | Op::NewObj, _) => {
                let args = self.pop(pos);
                let callable = self.pop(pos);
                let kind = if instr.op == Op::Reduce {
                    CallKind::Reduce
                } else {
                    CallKind::NewObj
                };
                self.call(kind, callable, args, Value::None, pos)?;
            }
            (Op::BinPersId, _) => {
                let pid = self.pop(pos);
                self.record_storage(pid);
                let v = self.alloc(Node::PersId(pid), pos)?;
                self.push(v, pos)?;
            }
            (Op::BinPut | Op::LongBinPut, Arg::Int(i)) => self.memo_put(i.unsigned_abs(), pos)?,
            (Op::Memoize, _) => {
                let index = self.memo.len() as u64;
                self.memo_put(index, pos)?;
            }
            (Op::BinGet | Op::LongBinGet, Arg::Int(i)) => {
                let value = match self.memo.get(i.unsigned_abs()) {
                    Some(v) => v,
                    None => self.missing_memo(pos, instr.op, &i.to_string()),
                };
                self.note_use(value);
                self.push(value, pos)?;
            }
            (Op::Frame, _) => {}
            _ => return self.step_rare(instr),
        }
        Ok(Flow::Next)
    }

    #[cold]
    fn stack_limit(&self, pos: usize) -> Halt {
        Halt::limit(
            pos,
            format!("the stack grows past {} entries", self.limits.max_stack),
        )
    }

    #[cold]
    #[inline(never)]
    fn too_few_items(&mut self, pos: usize, op: Op, pad_to: usize) {
        self.malformed(
            pos,
            &format!("{} with too few items on the stack", op.name()),
        );
        while self.stack.len() < self.floor() + pad_to {
            self.stack.push(Value::Unknown);
        }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn missing_memo(&mut self, pos: usize, op: Op, index: &str) -> Value<'a> {
        self.malformed(
            pos,
            &format!(
                "{} reads memo entry {index}, which was never stored",
                op.name()
            ),
        );
        Value::Unknown
    }

    pub(super) fn call(
        &mut self,
        kind: CallKind,
        callable: Value<'a>,
        mut args: Value<'a>,
        mut kwargs: Value<'a>,
        pos: usize,
    ) -> Result<(), Halt> {
        if self.arena.spent() {
            if self.exact.left > 0 {
                self.exact.left -= 1;
            } else if self.plain_call(callable, args) {
                // Nothing is judged from such a call's result: keep no node for it.
                self.extract_call(callable, args, kwargs, pos);
                return self.push(Value::Dropped(Dropped::Object, pos), pos);
            }
            args = self.kept_whole(args, 0, pos)?;
            kwargs = self.kept_whole(kwargs, 0, pos)?;
        }
        let call = super::value::Call {
            kind,
            callable,
            args,
            kwargs,
            state: None,
        };
        let value = self
            .arena
            .alloc_call(call)
            .map_err(|e| Halt::from((pos, e)))?;
        if let Value::Node(id) = value {
            self.inspect_call(id, callable, args, pos);
            self.note_tensor_call(id, callable, args);
        }
        if self.options.joblib && self.is_array_wrapper(callable, args) {
            self.exact.left = EXACT_AFTER_WRAPPER;
        }
        self.extract_call(callable, args, kwargs, pos);
        self.push(value, pos)
    }

    fn summarize(&self, value: Value<'a>) -> Summary {
        match value {
            Value::Raw(raw) if raw.to_i128() == Some(TORCH_MAGIC) => Summary::TorchMagic,
            _ if self.options.want_layout => self.layout_summary(value),
            Value::Node(id) if self.options.want_strings => match self.arena.get(id) {
                Some(Node::List(items)) if !items.is_partial() => self
                    .arena
                    .values(items)
                    .map(|v| v.str_text().map(|s| s.into_owned()))
                    .collect::<Option<Vec<String>>>()
                    .map_or(Summary::Other, Summary::Strings),
                _ => Summary::Other,
            },
            _ => Summary::Other,
        }
    }

    fn layout_summary(&self, value: Value<'a>) -> Summary {
        if let Some(n) = value.as_int() {
            return Summary::Int(n);
        }
        match self.arena.seq(value) {
            Some(&[_, _, third]) => Summary::Triple(match self.arena.node(third) {
                Some(Node::Global(i)) => self.imports.list.get(*i as usize).map(|i| i.name.clone()),
                _ => None,
            }),
            _ => Summary::Other,
        }
    }

    /// Reports why the stream stopped being followed; returns the offset to salvage from.
    fn report_halt(&mut self, halt: Halt) -> Option<usize> {
        match *halt.0 {
            HaltKind::Limit(pos, what) => {
                self.emit(
                    RuleId::PickleLimitExceeded,
                    Some(pos as u64),
                    format!(
                        "{what}; values are no longer tracked past this point, the rest of the data is read opcode by opcode for imports and calls"
                    ),
                    None,
                );
                Some(pos)
            }
            HaltKind::Malformed(pos, what) => {
                let start = self.start;
                self.emit(
                    RuleId::PickleMalformed,
                    Some(pos as u64),
                    format!(
                        "{what} (stream starting at offset {start}); everything before this point runs when the file is loaded; the rest of the data is read opcode by opcode for imports and calls"
                    ),
                    None,
                );
                Some(pos)
            }
            HaltKind::Quiet => None,
        }
    }
}

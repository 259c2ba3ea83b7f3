//! A quick reading of streams that hold nothing but plain data.
//!
//! Most large pickles are data: lists and dicts of numbers, strings and tuples. Loading one
//! imports and calls nothing, so the symbolic machine (values in an arena, every item kept for
//! evidence) has nothing to find in it and costs time and memory in proportion to the data.
//! This reading follows only the shape of such a stream: the kind of every stack and memo entry
//! (list, dict, hashable or not), the marks and the memo indices, which is all CPython's
//! `_pickle.c` needs to decide whether the stream loads. It answers only when the stream is
//! certainly plain data that loads without error; on anything else (an import, a call, a
//! persistent id, a text operand, an edge case, a limit) it gives up and the caller runs the
//! full machine, which is the reference. So it can make a scan faster, never change its result.
//!
//! The opcode rules ([`Shape::step`]) are shared with `batch.rs`, which reads a large container's
//! later batches of items the same way inside the machine.

use crate::config::PickleLimits;
use crate::formats::staged;
use crate::scan::deadline;

use super::frames::FrameTracker;
use super::ops::{self, Arg, Instr, Op};

/// The kind of a value, as far as the opcodes that may follow it care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// No memo entry at this index (memo only).
    Absent,
    /// An integer: the caller wants the full machine for a stream whose value is one (legacy
    /// PyTorch files start with a magic number).
    Int,
    /// Any other immutable scalar: `None`, `bool`, `float`, `str`, `bytes`.
    Scalar,
    ByteArray,
    List,
    Dict,
    Set,
    FrozenSet,
    /// A tuple, and whether it can be a dict key or set item (all of its items can).
    Tuple(bool),
}

impl Kind {
    pub fn hashable(self) -> bool {
        match self {
            Kind::Int | Kind::Scalar | Kind::FrozenSet | Kind::Tuple(true) => true,
            Kind::Absent
            | Kind::ByteArray
            | Kind::List
            | Kind::Dict
            | Kind::Set
            | Kind::Tuple(false) => false,
        }
    }
}

/// Whether a string or bytes operand is, or could decode to, a pickle carried as data: the full
/// machine must read the stream then, to hand it to the staged-payload analysis.
fn may_carry(bytes: &[u8]) -> bool {
    bytes.len() >= staged::MIN_LEN && staged::worth_decoding(bytes)
}

/// [`may_carry`] for UTF-8 text, read as the machine reads it: as Latin-1 when it is not ASCII
/// (`s.encode('latin1')` gives code that unpickles it the original bytes).
fn may_carry_text(text: &[u8]) -> bool {
    if text.is_ascii() {
        return may_carry(text);
    }
    let Ok(s) = std::str::from_utf8(text) else {
        return false;
    };
    let latin1: Option<Vec<u8>> = s
        .chars()
        .take(1024)
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect();
    latin1.is_some_and(|b| may_carry(&b))
}

/// A stack entry of a shape reading: the kind of the value, and whatever else the reader keeps
/// of it ([`Kind`] alone for a whole stream; the machine's batches keep values, `batch.rs`).
pub(super) trait Slot<'a>: Copy {
    /// The entry for a value of `kind` that `instr` makes.
    fn made(kind: Kind, instr: &Instr<'a>) -> Self;
    fn kind(self) -> Kind;
    /// Whether items may be added to it without the reading losing track of a value that
    /// exists outside it.
    fn extensible(self) -> bool;
}

impl Slot<'_> for Kind {
    fn made(kind: Kind, _: &Instr<'_>) -> Kind {
        kind
    }

    fn kind(self) -> Kind {
        self
    }

    fn extensible(self) -> bool {
        true
    }
}

/// The memo as a shape reading sees it.
pub(super) trait ShapeMemo<S> {
    fn get(&mut self, index: u64) -> Option<S>;
    /// Stores `slot` at `index`, or at the memo's length for MEMOIZE (`None`); `None` back when
    /// the reading should leave the stream to the machine.
    fn put(&mut self, index: Option<u64>, slot: S) -> Option<()>;
}

/// The stack and marks of a shape reading.
pub(super) struct Shape<S> {
    pub stack: Vec<S>,
    pub marks: Vec<usize>,
}

impl<S> Shape<S> {
    pub fn new() -> Self {
        Shape {
            stack: Vec::new(),
            marks: Vec::new(),
        }
    }

    /// Entries on the stack and marks together (what CPython's stack limit counts).
    pub fn depth(&self) -> usize {
        self.stack.len() + self.marks.len()
    }

    /// Follows one opcode of plain data as CPython's `_pickle.c` would; `None` on anything
    /// else, or on anything that would make CPython fail, which the machine must then read.
    /// PROTO, FRAME and STOP are the caller's.
    #[inline]
    pub fn step<'a>(&mut self, instr: &Instr<'a>, memo: &mut impl ShapeMemo<S>) -> Option<()>
    where
        S: Slot<'a>,
    {
        let stack = &mut self.stack;
        let marks = &mut self.marks;
        // CPython's stack fence: nothing below the innermost mark may be popped.
        let fence = marks.last().copied().unwrap_or(0);
        let made = |kind| S::made(kind, instr);
        match (instr.op, instr.arg) {
            (Op::Mark, _) => marks.push(stack.len()),
            (Op::Pop, _) => {
                if stack.len() <= fence {
                    return None;
                }
                stack.pop();
            }
            (Op::PopMark, _) => {
                let mark = marks.pop()?;
                stack.truncate(mark);
            }
            (Op::Dup, _) => {
                let top = *stack.last().filter(|_| stack.len() > fence)?;
                stack.push(top);
            }
            (Op::BinInt | Op::BinInt1 | Op::BinInt2 | Op::Long1 | Op::Long4, _) => {
                stack.push(made(Kind::Int));
            }
            (Op::None | Op::NewTrue | Op::NewFalse | Op::BinFloat, _) => {
                stack.push(made(Kind::Scalar));
            }
            // Python 2 strings decode as ASCII under `pickle.load`'s default encoding.
            (Op::BinString | Op::ShortBinString, Arg::Bytes(text)) if text.is_ascii() => {
                if may_carry(text) {
                    return None;
                }
                stack.push(made(Kind::Scalar));
            }
            (Op::BinUnicode | Op::ShortBinUnicode | Op::BinUnicode8, Arg::Bytes(text))
                if std::str::from_utf8(text).is_ok() =>
            {
                if may_carry_text(text) {
                    return None;
                }
                stack.push(made(Kind::Scalar));
            }
            (Op::BinBytes | Op::ShortBinBytes | Op::BinBytes8 | Op::ByteArray8, Arg::Bytes(b))
                if may_carry(b) =>
            {
                return None;
            }
            (Op::BinBytes | Op::ShortBinBytes | Op::BinBytes8, _) => {
                stack.push(made(Kind::Scalar));
            }
            (Op::ByteArray8, _) => stack.push(made(Kind::ByteArray)),
            (Op::EmptyDict, _) => stack.push(made(Kind::Dict)),
            (Op::EmptyList, _) => stack.push(made(Kind::List)),
            (Op::EmptyTuple, _) => stack.push(made(Kind::Tuple(true))),
            (Op::EmptySet, _) => stack.push(made(Kind::Set)),
            (Op::Tuple1 | Op::Tuple2 | Op::Tuple3, _) => {
                let n = match instr.op {
                    Op::Tuple1 => 1,
                    Op::Tuple2 => 2,
                    _ => 3,
                };
                let from = stack.len().checked_sub(n).filter(|&f| f >= fence)?;
                let kind = tuple_of(stack.get(from..)?);
                stack.truncate(from);
                stack.push(made(kind));
            }
            (Op::Tuple, _) => {
                let from = marks.pop()?;
                let kind = tuple_of(stack.get(from..)?);
                stack.truncate(from);
                stack.push(made(kind));
            }
            (Op::List, _) => {
                let from = marks.pop()?;
                stack.truncate(from);
                stack.push(made(Kind::List));
            }
            (Op::Dict, _) => {
                let from = marks.pop()?;
                if !pairs_keyable(stack.get(from..)?) {
                    return None;
                }
                stack.truncate(from);
                stack.push(made(Kind::Dict));
            }
            (Op::FrozenSet, _) => {
                let from = marks.pop()?;
                if !stack.get(from..)?.iter().all(|s| s.kind().hashable()) {
                    return None;
                }
                stack.truncate(from);
                stack.push(made(Kind::FrozenSet));
            }
            (Op::Append, _) => {
                // The list sits below the item, at or above the fence.
                let list = stack.len().checked_sub(2).filter(|&at| at >= fence)?;
                let target = stack.get(list)?;
                if target.kind() != Kind::List || !target.extensible() {
                    return None;
                }
                stack.pop();
            }
            (Op::SetItem, _) => {
                let dict = stack.len().checked_sub(3).filter(|&at| at >= fence)?;
                let target = stack.get(dict)?;
                if target.kind() != Kind::Dict
                    || !target.extensible()
                    || !pairs_keyable(stack.get(dict + 1..)?)
                {
                    return None;
                }
                stack.truncate(dict + 1);
            }
            (Op::Appends | Op::SetItems | Op::AddItems, _) => {
                let from = marks.pop()?;
                let fence = marks.last().copied().unwrap_or(0);
                // `do_append`/`do_setitems`/`load_additems`: the container sits just below the
                // mark, above the enclosing fence.
                let target = *stack.get(from.checked_sub(1).filter(|&at| at >= fence)?)?;
                if !target.extensible() || !fits(instr.op, target.kind(), stack.get(from..)?) {
                    return None;
                }
                stack.truncate(from);
            }
            (Op::BinGet | Op::LongBinGet, Arg::Int(index)) => {
                stack.push(memo.get(u64::try_from(index).ok()?)?);
            }
            (Op::BinPut | Op::LongBinPut | Op::Memoize, arg) => {
                let index = match arg {
                    Arg::Int(index) => Some(u64::try_from(index).ok()?),
                    _ => None,
                };
                let top = *stack.last().filter(|_| stack.len() > fence)?;
                memo.put(index, top)?;
            }
            _ => return None,
        }
        Some(())
    }
}

/// Whether `items` may be added to a container of kind `target` by `op` (APPENDS, SETITEMS,
/// ADDITEMS) without CPython failing.
pub(super) fn fits<'a, S: Slot<'a>>(op: Op, target: Kind, items: &[S]) -> bool {
    match (op, target) {
        (Op::Appends, Kind::List) => true,
        (Op::SetItems, Kind::Dict) => pairs_keyable(items),
        (Op::AddItems, Kind::Set) => items.iter().all(|s| s.kind().hashable()),
        _ => false,
    }
}

/// The memo of a whole-stream reading: the kind at each index.
struct KindMemo {
    kinds: Vec<Kind>,
    count: usize,
    max: usize,
}

impl ShapeMemo<Kind> for KindMemo {
    fn get(&mut self, index: u64) -> Option<Kind> {
        let index = usize::try_from(index).ok()?;
        self.kinds
            .get(index)
            .copied()
            .filter(|&k| k != Kind::Absent)
    }

    fn put(&mut self, index: Option<u64>, kind: Kind) -> Option<()> {
        let index = match index {
            Some(index) => usize::try_from(index).ok()?,
            None => self.count,
        };
        // Sparse or huge indices are left to the full machine's memo.
        if index >= self.max || index > self.kinds.len().saturating_add(4096) {
            return None;
        }
        if index == self.kinds.len() {
            self.kinds.push(kind);
            self.count += 1;
        } else {
            if index > self.kinds.len() {
                self.kinds.resize(index + 1, Kind::Absent);
            }
            let slot = self.kinds.get_mut(index)?;
            self.count += usize::from(*slot == Kind::Absent);
            *slot = kind;
        }
        Some(())
    }
}

/// The end of the plain-data stream that starts at `start` (just after its STOP), or `None`
/// when the stream is anything else or the reading cannot be sure, in which case the full
/// machine must read it.
pub(super) fn plain_data_end(data: &[u8], start: usize, limits: &PickleLimits) -> Option<usize> {
    #[cfg(test)]
    if tests::MACHINE_ONLY.get() {
        return None;
    }
    let mut shape: Shape<Kind> = Shape::new();
    let mut memo = KindMemo {
        kinds: Vec::new(),
        count: 0,
        max: limits.max_memo,
    };
    let mut pos = start;
    let mut opcodes = 0u64;
    let mut frames = FrameTracker::new(start);
    loop {
        opcodes += 1;
        if opcodes > limits.max_opcodes
            || shape.depth() >= limits.max_stack
            || (opcodes.is_multiple_of(1 << 16) && deadline::passed())
        {
            return None;
        }
        let instr = ops::read(data, pos).ok()?;
        // A file reader would read this stream otherwise: the full path reads both ways.
        if frames.crosses(&instr) {
            return None;
        }
        pos = instr.next;
        match (instr.op, instr.arg) {
            (Op::Proto, Arg::Int(0..=5)) => {}
            (Op::Frame, Arg::Int(len)) => {
                let len = usize::try_from(len).ok()?;
                if len > data.len().saturating_sub(pos) {
                    return None;
                }
            }
            (Op::Stop, _) => {
                let fence = shape.marks.last().copied().unwrap_or(0);
                if !shape.marks.is_empty() || shape.stack.len() <= fence {
                    return None;
                }
                return match shape.stack.pop() {
                    Some(Kind::Int) | None => None,
                    Some(_) => Some(pos),
                };
            }
            _ => shape.step(&instr, &mut memo)?,
        }
    }
}

/// The kind of a tuple of `items`: whether it can be a dict key or set item.
fn tuple_of<'a, S: Slot<'a>>(items: &[S]) -> Kind {
    Kind::Tuple(items.iter().all(|s| s.kind().hashable()))
}

/// Whether `items` are key/value pairs whose keys can be dict keys.
fn pairs_keyable<'a, S: Slot<'a>>(items: &[S]) -> bool {
    items.len().is_multiple_of(2) && items.iter().step_by(2).all(|s| s.kind().hashable())
}

#[cfg(test)]
pub(super) mod tests {
    use std::cell::Cell;
    use std::path::Path;

    use super::*;
    use crate::config::Config;
    use crate::model::finding::ArtifactReport;
    use crate::scan::scan_bytes;

    thread_local! {
        /// Set to read every stream with the full machine, to check this reading against it.
        pub(in super::super) static MACHINE_ONLY: Cell<bool> = const { Cell::new(false) };
    }

    fn scan_both(data: &[u8]) -> (ArtifactReport, ArtifactReport) {
        let config = Config::default();
        let quick = scan_bytes(data, Path::new("x.pkl"), "x.pkl", &config);
        MACHINE_ONLY.set(true);
        let machine = scan_bytes(data, Path::new("x.pkl"), "x.pkl", &config);
        MACHINE_ONLY.set(false);
        (quick, machine)
    }

    /// Rule and offset of each finding: what two readings of one input must agree on.
    pub(in super::super) fn outline(report: &ArtifactReport) -> Vec<(String, Option<u64>)> {
        report
            .findings
            .iter()
            .map(|f| (f.rule_id.to_string(), f.location.offset))
            .collect()
    }

    /// Plain-data pickles of every protocol, written by CPython's `pickle.dumps`.
    const PLAIN: &[&[u8]] = &[
        // [(1, 2, 'x'), {'a': 'b'}, [None, True, 1.5]], protocol 0
        b"(lp0\n(I1\nI2\nVx\np1\ntp2\na(dp3\nVa\np4\nVb\np5\nsa(lp6\nNaI01\naF1.5\naa.",
        // [(1, 2, 'x'), {'a': 'b', (3,): [4]}, [None, True, 1.5, 2**70]], protocol 1
        b"]q\x00((K\x01K\x02X\x01\x00\x00\x00xq\x01tq\x02}q\x03(X\x01\x00\x00\x00aq\x04X\x01\x00\x00\x00bq\x05(K\x03tq\x06]q\x07K\x04au]q\x08(NI01\nG?\xf8\x00\x00\x00\x00\x00\x00L1180591620717411303424L\nee.",
        // [[1, 'y'], {'k': [1, 'y']}, (1.5, None)] with the list shared, protocol 2
        b"\x80\x02]q\x00(]q\x01(K\x01X\x01\x00\x00\x00yq\x02e}q\x03X\x01\x00\x00\x00kq\x04h\x01sG?\xf8\x00\x00\x00\x00\x00\x00N\x86q\x05e.",
        // [(1, 2, 'x'), {'a': b'b'}, {1, 2}, frozenset({3}), bytearray(b'z'), [None, True, 1.5]], protocol 5
        b"\x80\x05\x95A\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02\x8c\x01x\x94\x87\x94}\x94\x8c\x01a\x94C\x01b\x94s\x8f\x94(K\x01K\x02\x90(K\x03\x91\x94\x96\x01\x00\x00\x00\x00\x00\x00\x00z\x94]\x94(N\x88G?\xf8\x00\x00\x00\x00\x00\x00ee.",
    ];

    /// Every plain pickle, and every one-byte change of it to an opcode byte, is judged the
    /// same with and without this reading: same findings at the same offsets, same verdict.
    #[test]
    fn agrees_with_the_machine_on_plain_data_and_its_mutants() {
        let opcodes: Vec<u8> = (0..=255u8)
            .filter(|&b| ops::Op::from_byte(b).is_some())
            .collect();
        let mut quick_reads = 0usize;
        for original in PLAIN {
            let mut inputs = vec![original.to_vec()];
            for at in 0..original.len() {
                for &byte in &opcodes {
                    let mut mutant = original.to_vec();
                    if mutant[at] != byte {
                        mutant[at] = byte;
                        inputs.push(mutant);
                    }
                }
            }
            for input in inputs {
                if plain_data_end(&input, 0, &PickleLimits::default()).is_some() {
                    quick_reads += 1;
                }
                let (quick, machine) = scan_both(&input);
                assert_eq!(outline(&quick), outline(&machine), "{input:?}");
                assert_eq!(quick.verdict, machine.verdict, "{input:?}");
            }
        }
        // The mutants must exercise this reading, not only the machine.
        assert!(quick_reads > 500, "{quick_reads}");
    }

    fn end(data: &[u8]) -> Option<usize> {
        plain_data_end(data, 0, &PickleLimits::default())
    }

    #[test]
    fn plain_data_is_read_to_its_stop() {
        for data in &PLAIN[2..] {
            assert_eq!(end(data), Some(data.len()));
        }
        // Text operands (protocols 0 and 1 write `True` as `I01`) are left to the machine.
        assert_eq!(end(PLAIN[0]), None);
        assert_eq!(end(PLAIN[1]), None);
    }

    #[test]
    fn anything_that_is_not_plain_data_goes_to_the_machine() {
        // An import.
        assert_eq!(end(b"cposix\nsystem\n."), None);
        // A bare integer (legacy PyTorch magic numbers are integers).
        assert_eq!(end(b"K\x01."), None);
        // An unhashable dict key: CPython raises TypeError.
        assert_eq!(end(b"}]K\x01s."), None);
        // APPEND onto a dict.
        assert_eq!(end(b"}K\x01a."), None);
        // SETITEMS with an odd number of items.
        assert_eq!(end(b"}(K\x01u."), None);
        // A memo index that was never set.
        assert_eq!(end(b"]h\x05."), None);
        // STOP on an empty stack, and inside an open mark.
        assert_eq!(end(b"."), None);
        assert_eq!(end(b"](."), None);
        // A protocol CPython does not know.
        assert_eq!(end(b"\x80\x06]."), None);
        // Non-ASCII Python 2 string.
        assert_eq!(end(b"U\x01\xff."), None);
    }
}

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

use crate::config::PickleLimits;
use crate::formats::staged;
use crate::scan::deadline;

use super::frames::FrameTracker;
use super::ops::{self, Arg, Op};

/// The kind of a value, as far as the opcodes that may follow it care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
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
    fn hashable(self) -> bool {
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

/// The end of the plain-data stream that starts at `start` (just after its STOP), or `None`
/// when the stream is anything else or the reading cannot be sure, in which case the full
/// machine must read it.
pub(super) fn plain_data_end(data: &[u8], start: usize, limits: &PickleLimits) -> Option<usize> {
    #[cfg(test)]
    if tests::MACHINE_ONLY.get() {
        return None;
    }
    let mut stack: Vec<Kind> = Vec::new();
    let mut marks: Vec<usize> = Vec::new();
    let mut memo: Vec<Kind> = Vec::new();
    let mut memo_count = 0usize;
    let mut pos = start;
    let mut opcodes = 0u64;
    let mut frames = FrameTracker::new(start);
    loop {
        opcodes += 1;
        if opcodes > limits.max_opcodes
            || stack.len() + marks.len() >= limits.max_stack
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
        // CPython's stack fence: nothing below the innermost mark may be popped.
        let fence = marks.last().copied().unwrap_or(0);
        match (instr.op, instr.arg) {
            (Op::Proto, Arg::Int(0..=5)) => {}
            (Op::Frame, Arg::Int(len)) => {
                let len = usize::try_from(len).ok()?;
                if len > data.len().saturating_sub(pos) {
                    return None;
                }
            }
            (Op::Mark, _) => marks.push(stack.len()),
            (Op::Stop, _) => {
                if !marks.is_empty() || stack.len() <= fence {
                    return None;
                }
                return match stack.pop() {
                    Some(Kind::Int) | None => None,
                    Some(_) => Some(pos),
                };
            }
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
                stack.push(Kind::Int);
            }
            (Op::None | Op::NewTrue | Op::NewFalse | Op::BinFloat, _) => stack.push(Kind::Scalar),
            // Python 2 strings decode as ASCII under `pickle.load`'s default encoding.
            (Op::BinString | Op::ShortBinString, Arg::Bytes(text)) if text.is_ascii() => {
                if may_carry(text) {
                    return None;
                }
                stack.push(Kind::Scalar);
            }
            (Op::BinUnicode | Op::ShortBinUnicode | Op::BinUnicode8, Arg::Bytes(text))
                if std::str::from_utf8(text).is_ok() =>
            {
                if may_carry_text(text) {
                    return None;
                }
                stack.push(Kind::Scalar);
            }
            (Op::BinBytes | Op::ShortBinBytes | Op::BinBytes8 | Op::ByteArray8, Arg::Bytes(b))
                if may_carry(b) =>
            {
                return None;
            }
            (Op::BinBytes | Op::ShortBinBytes | Op::BinBytes8, _) => stack.push(Kind::Scalar),
            (Op::ByteArray8, _) => stack.push(Kind::ByteArray),
            (Op::EmptyDict, _) => stack.push(Kind::Dict),
            (Op::EmptyList, _) => stack.push(Kind::List),
            (Op::EmptyTuple, _) => stack.push(Kind::Tuple(true)),
            (Op::EmptySet, _) => stack.push(Kind::Set),
            (Op::Tuple1 | Op::Tuple2 | Op::Tuple3, _) => {
                let n = match instr.op {
                    Op::Tuple1 => 1,
                    Op::Tuple2 => 2,
                    _ => 3,
                };
                let from = stack.len().checked_sub(n).filter(|&f| f >= fence)?;
                make_tuple(&mut stack, from);
            }
            (Op::Tuple, _) => {
                let from = marks.pop()?;
                make_tuple(&mut stack, from);
            }
            (Op::List, _) => {
                let from = marks.pop()?;
                stack.truncate(from);
                stack.push(Kind::List);
            }
            (Op::Dict, _) => {
                let from = marks.pop()?;
                if !pairs_keyable(stack.get(from..)?) {
                    return None;
                }
                stack.truncate(from);
                stack.push(Kind::Dict);
            }
            (Op::FrozenSet, _) => {
                let from = marks.pop()?;
                if !stack.get(from..)?.iter().all(|k| k.hashable()) {
                    return None;
                }
                stack.truncate(from);
                stack.push(Kind::FrozenSet);
            }
            (Op::Append, _) => {
                // The list sits below the item, at or above the fence.
                let list = stack.len().checked_sub(2).filter(|&at| at >= fence)?;
                if stack.get(list) != Some(&Kind::List) {
                    return None;
                }
                stack.pop();
            }
            (Op::SetItem, _) => {
                let dict = stack.len().checked_sub(3).filter(|&at| at >= fence)?;
                if stack.get(dict) != Some(&Kind::Dict) || !pairs_keyable(stack.get(dict + 1..)?) {
                    return None;
                }
                stack.truncate(dict + 1);
            }
            (Op::Appends | Op::SetItems | Op::AddItems, _) => {
                let from = marks.pop()?;
                let fence = marks.last().copied().unwrap_or(0);
                // `do_append`/`do_setitems`/`load_additems`: the container sits just below the
                // mark, above the enclosing fence.
                let target = from.checked_sub(1).filter(|&at| at >= fence)?;
                let items = stack.get(from..)?;
                let fits = match (instr.op, stack.get(target)?) {
                    (Op::Appends, Kind::List) => true,
                    (Op::SetItems, Kind::Dict) => pairs_keyable(items),
                    (Op::AddItems, Kind::Set) => items.iter().all(|k| k.hashable()),
                    _ => false,
                };
                if !fits {
                    return None;
                }
                stack.truncate(from);
            }
            (Op::BinGet | Op::LongBinGet, Arg::Int(index)) => {
                let index = usize::try_from(index).ok()?;
                match memo.get(index) {
                    Some(&kind) if kind != Kind::Absent => stack.push(kind),
                    _ => return None,
                }
            }
            (Op::BinPut | Op::LongBinPut | Op::Memoize, arg) => {
                let index = match arg {
                    Arg::Int(index) => usize::try_from(index).ok()?,
                    _ => memo_count,
                };
                let top = *stack.last().filter(|_| stack.len() > fence)?;
                // Sparse or huge indices are left to the full machine's memo.
                if index >= limits.max_memo || index > memo.len().saturating_add(4096) {
                    return None;
                }
                if index == memo.len() {
                    memo.push(top);
                    memo_count += 1;
                } else {
                    if index > memo.len() {
                        memo.resize(index + 1, Kind::Absent);
                    }
                    let slot = memo.get_mut(index)?;
                    memo_count += usize::from(*slot == Kind::Absent);
                    *slot = top;
                }
            }
            _ => return None,
        }
    }
}

/// Replaces the items from `from` up with one tuple of them.
fn make_tuple(stack: &mut Vec<Kind>, from: usize) {
    let hashable = stack
        .get(from..)
        .unwrap_or_default()
        .iter()
        .all(|k| k.hashable());
    stack.truncate(from);
    stack.push(Kind::Tuple(hashable));
}

/// Whether `items` are key/value pairs whose keys can be dict keys.
fn pairs_keyable(items: &[Kind]) -> bool {
    items.len().is_multiple_of(2) && items.iter().step_by(2).all(|k| k.hashable())
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

    fn outline(report: &ArtifactReport) -> Vec<(String, Option<u64>)> {
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

//! Recognising a pickle by its first bytes. Content detection asks this before it tries text, so
//! it must not claim READMEs, JSON, source code or the small text members of PyTorch archives.

use std::collections::HashSet;

use super::cparse;
use super::imports;
use super::ops::{self, Arg, Op, ReadError};

/// Opcodes looked at when there is no PROTO header.
const WINDOW_OPS: usize = 64;
/// A run of this many well-formed opcodes is taken as a pickle even without a STOP.
const CONVINCING_RUN: usize = 8;
/// Opcodes followed when checking that a whole stream is one CPython would read.
const FULL_OPS: usize = 1 << 20;
/// Well-formed opcodes needed after a PROTO header (random data rarely has three in a row).
const AFTER_PROTO_RUN: usize = 3;

/// Whether `data` starts like a pickle stream.
///
/// Tensor storages and other binary members are sniffed too, so chance matches matter: two
/// bytes such as `N.` (a whole pickle of None) are common in half-precision weights. A short
/// stream is therefore only believed when nothing but padding follows its STOP, when it imports
/// a module the policy knows, or when another pickle follows.
pub fn looks_like_pickle(data: &[u8]) -> bool {
    sniff(data, 0) || complete_with_import(data)
}

/// Whether `data` starts with a whole stream CPython would read to its STOP (operands parsed
/// as `_pickle.c` parses them, stack and marks balanced, memo reads of stored entries) that
/// imports something. Such a stream is a pickle however much it looks like text: loading it
/// imports and may call. (A stream that imports nothing cannot run anything; the heuristics
/// above decide those.)
fn complete_with_import(data: &[u8]) -> bool {
    let body = match data {
        [0x80, 0..=5, rest @ ..] => rest,
        [0x80, ..] => return false,
        _ => data,
    };
    run_full(body)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// After a PROTO 2–5 header.
    AfterProto,
    /// No header (protocols 0 and 1, or an explicit PROTO 0/1).
    Bare,
}

fn sniff(data: &[u8], depth: u32) -> bool {
    match data {
        [0x80, 2..=5, rest @ ..] => run(rest, Mode::AfterProto, depth),
        // CPython accepts an explicit PROTO 0 or 1 header; what follows must look right.
        [0x80, 0..=1, rest @ ..] => run(rest, Mode::Bare, depth),
        [0x80, ..] => false,
        _ => run(data, Mode::Bare, depth),
    }
}

fn is_padding(data: &[u8]) -> bool {
    data.iter()
        .all(|b| matches!(b, 0 | b'\n' | b'\r' | b' ' | b'\t'))
}

fn identifier_path(text: &[u8]) -> bool {
    !text.is_empty()
        && text.split(|&b| b == b'.').all(|part| match part {
            [first, rest @ ..] => {
                (first.is_ascii_alphabetic() || *first == b'_')
                    && rest.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
            }
            [] => false,
        })
}

/// Simulates stack depths over the first opcodes of a stream.
fn run(data: &[u8], mode: Mode, depth_of_nesting: u32) -> bool {
    let mut stack = StackShape::default();
    let mut known_global = false;
    let mut pos = 0;
    for count in 0..WINDOW_OPS {
        let instr = match ops::read(data, pos) {
            Ok(instr) => instr,
            Err(ReadError::Truncated { .. }) => {
                // A stream cut short: believable after a header, or when it already imported
                // something real.
                return match mode {
                    Mode::AfterProto => count >= 1,
                    Mode::Bare => known_global && count >= 2,
                };
            }
            Err(_) => return false,
        };
        pos = instr.next;
        if !argument_is_plausible(instr.op, instr.arg, &mut known_global) {
            return false;
        }
        match stack.step(instr.op, instr.arg, false) {
            Step::Fails => return false,
            Step::Stop { value } => {
                let rest = data.get(pos..).unwrap_or_default();
                return value
                    && (mode == Mode::AfterProto
                        || known_global
                        || is_padding(rest)
                        || (depth_of_nesting < 2 && sniff(rest, depth_of_nesting + 1)));
            }
            Step::Next => {}
        }
        if mode == Mode::AfterProto && count + 1 >= AFTER_PROTO_RUN {
            return true;
        }
        if pos >= data.len() {
            // The data ends without a STOP: a long well-formed run, or an import of a real module.
            return mode == Mode::AfterProto
                || (known_global && count >= 1)
                || count + 1 >= CONVINCING_RUN;
        }
    }
    true
}

/// The shape of the unpickler's stack as a stream is followed: its depth, the marks, the memo
/// indices stored. Both sniffers check each opcode against it.
#[derive(Default)]
struct StackShape {
    depth: usize,
    marks: Vec<usize>,
    memo: HashSet<i64>,
}

/// What an opcode does to the stack's shape.
enum Step {
    Next,
    /// STOP, with a value on the stack to return or not.
    Stop {
        value: bool,
    },
    /// CPython's unpickler fails here.
    Fails,
}

impl StackShape {
    /// Applies `op` (with its operand `arg`); `strict_memo`: a PUT whose index cannot be read
    /// fails (rather than storing nothing).
    fn step(&mut self, op: Op, arg: Arg<'_>, strict_memo: bool) -> Step {
        let avail = self.depth.saturating_sub(self.floor());
        let (need, delta): (usize, isize) = match op {
            Op::Mark => {
                self.marks.push(self.depth);
                (0, 0)
            }
            Op::Stop => return Step::Stop { value: avail >= 1 },
            Op::Pop => {
                if avail == 0 {
                    if self.marks.pop().is_none() {
                        return Step::Fails;
                    }
                    (0, 0)
                } else {
                    (1, -1)
                }
            }
            Op::PopMark | Op::List | Op::Dict | Op::Tuple | Op::FrozenSet | Op::Inst | Op::Obj => {
                let Some(mark) = self.marks.pop() else {
                    return Step::Fails;
                };
                if op == Op::Obj && self.depth == mark {
                    return Step::Fails;
                }
                self.depth = mark + usize::from(op != Op::PopMark);
                (0, 0)
            }
            Op::Appends | Op::SetItems | Op::AddItems => {
                let Some(mark) = self.marks.pop() else {
                    return Step::Fails;
                };
                if mark <= self.floor() {
                    return Step::Fails;
                }
                self.depth = mark;
                (0, 0)
            }
            Op::Memoize => {
                self.memo
                    .insert(i64::try_from(self.memo.len()).unwrap_or(i64::MAX));
                (1, 0)
            }
            Op::Put | Op::BinPut | Op::LongBinPut => {
                match memo_arg(arg) {
                    Some(i) => {
                        self.memo.insert(i);
                    }
                    None if strict_memo => return Step::Fails,
                    None => {}
                }
                (1, 0)
            }
            Op::Get | Op::BinGet | Op::LongBinGet => {
                if !memo_arg(arg).is_some_and(|i| self.memo.contains(&i)) {
                    return Step::Fails;
                }
                (0, 1)
            }
            Op::Dup => (1, 1),
            Op::BinPersId | Op::Tuple1 | Op::ReadonlyBuffer => (1, 0),
            Op::Reduce | Op::Append | Op::Build | Op::StackGlobal | Op::NewObj | Op::Tuple2 => {
                (2, -1)
            }
            Op::SetItem | Op::Tuple3 | Op::NewObjEx => (3, -2),
            Op::Proto | Op::Frame => (0, 0),
            _ => (0, 1),
        };
        if self.depth.saturating_sub(self.floor()) < need {
            return Step::Fails;
        }
        self.depth = self.depth.saturating_add_signed(delta);
        Step::Next
    }

    /// The depth at the topmost mark: what lies below it is out of reach.
    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }
}

fn argument_is_plausible(op: Op, arg: Arg<'_>, known_global: &mut bool) -> bool {
    match (op, arg) {
        (Op::Global | Op::Inst, Arg::Lines(module, name)) => {
            if !identifier_path(module) || !identifier_path(name) {
                return false;
            }
            if let Ok(module) = std::str::from_utf8(module)
                && imports::is_known_module(module)
            {
                *known_global = true;
            }
            true
        }
        (Op::Int, Arg::Line(line)) => cparse::int_operand(line).is_some(),
        (Op::Long, Arg::Line(line)) => cparse::long_operand(line).is_some(),
        (Op::Put | Op::Get, Arg::Line(line)) => cparse::memo_index(line).is_some(),
        (Op::Float, Arg::Line(line)) => cparse::float_operand(line).is_some(),
        (Op::PersId, Arg::Line(line)) => line.iter().all(|b| b.is_ascii() && !b.is_ascii_control()),
        _ => true,
    }
}

fn memo_arg(arg: Arg<'_>) -> Option<i64> {
    match arg {
        Arg::Int(i) => Some(i),
        Arg::Line(line) => cparse::memo_index(line)
            .flatten()
            .and_then(|i| i64::try_from(i).ok()),
        _ => None,
    }
}

/// Names CPython could import: UTF-8, non-empty dotted parts without spaces or controls.
fn importable_path(text: &[u8]) -> bool {
    std::str::from_utf8(text).is_ok_and(|t| {
        t.split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c == '_' || c.is_alphanumeric()))
    })
}

/// Follows a whole stream (see `complete_with_import`).
fn run_full(data: &[u8]) -> bool {
    let mut stack = StackShape::default();
    let mut imported = false;
    let mut pos = 0;
    for _ in 0..FULL_OPS {
        let Ok(instr) = ops::read(data, pos) else {
            return false;
        };
        pos = instr.next;
        let op = instr.op;
        let plausible = match (op, instr.arg) {
            (Op::Global | Op::Inst, Arg::Lines(module, name)) => {
                importable_path(module) && importable_path(name)
            }
            (Op::String, Arg::Line(inner)) => cparse::string_escapes_valid(inner),
            (Op::Proto, Arg::Int(p)) => (0..=5).contains(&p),
            (op, arg) => argument_is_plausible(op, arg, &mut false),
        };
        if !plausible {
            return false;
        }
        imported |= matches!(
            (op, instr.arg),
            (Op::Global | Op::Inst, Arg::Lines(..))
                | (Op::StackGlobal | Op::Ext1 | Op::Ext2 | Op::Ext4, _)
        );
        match stack.step(op, instr.arg, true) {
            Step::Fails => return false,
            Step::Stop { value } => return value && imported,
            Step::Next => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_headers() {
        assert!(looks_like_pickle(
            b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00]\x94("
        ));
        assert!(looks_like_pickle(b"\x80\x02N."));
        assert!(!looks_like_pickle(b"\x80\x04\x95\x10\x00"));
        assert!(!looks_like_pickle(b"\x80\x02\x29\xff"));
        assert!(looks_like_pickle(b"\x80\x02}q\x00."));
        assert!(!looks_like_pickle(b"\x80\x04"));
        assert!(!looks_like_pickle(b"\x80\x09}."));
        assert!(!looks_like_pickle(b"\x80\x04\xff"));
        assert!(!looks_like_pickle(b"\x80\x04"));
        assert!(looks_like_pickle(b"\x80\x01cos\nsystem\n(S'id'\ntR."));
        assert!(!looks_like_pickle(b"\x80\x01\xff\xff"));
    }

    #[test]
    fn protocol_0_and_1_openers() {
        for data in [
            &b"cos\nsystem\n(S'echo hi'\ntR."[..],
            b"c__builtin__\neval\n(S'1'\ntR.",
            b"(i__builtin__\nexec\n(S'x'\ntR.",
            b"(S'a'\np0\nS'b'\np1\nl.",
            b"(lp0\nS'a'\np1\naS'b'\np2\naS'c'\np3\na.",
            b"(dp0\nS'a'\np1\nI1\ns.",
            b"]q\x00(K\x01K\x02e.",
            b"}q\x00(U\x01aK\x01u.",
            b"I12345\n.",
            b"N.",
            b"Vos\np2\n0Vsystem\np3\n0Vtorch\np0\n0VLongStorage\np1\n0g2\ng3\n\x93(Vx\ntR.",
            b"cbuiltins\nexec\n(X>\n\x00\x00junk",
            // Operand forms CPython's _pickle.c accepts.
            b"I0x10\n0cposix\nsystem\n(S'echo hi'\ntR.",
            b"L0o17L\n0cposix\nsystem\n(S'echo hi'\ntR.",
            b"I7\x00 junk\n0cposix\nsystem\n(S'echo hi'\ntR.",
            b"(I010\nI1_000\nl.",
            // Text-looking, whole, and it imports: a pickle.
            b"cmy_pkg\nThing\n(S'a'\ntR.",
        ] {
            assert!(looks_like_pickle(data), "{data:?}");
        }
    }

    #[test]
    fn not_pickles() {
        for data in [
            &b"3\n"[..],
            b"little",
            b"# quarantine\n\nA scanner.\n",
            b"{\"a\": 1}",
            b"[1, 2]",
            b"import os\nos.system('id')\n",
            b"def f():\n    pass\n",
            b"class X:\n    pass\n",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            b"cat\ndog\n",
            b"config\nvalue\nTest file\n",
            b"(hello world)",
            b"I love cats\n",
            b"Note: this is text.",
            b"",
            b"0",
            b"\x00\x00\x00\x00",
        ] {
            assert!(!looks_like_pickle(data), "{data:?}");
        }
    }

    #[test]
    fn short_pickles_need_to_stand_alone() {
        // Whole pickles of None, (), [] and {} at the start of tensor data are chance.
        for data in [
            &b"N.\x8f\xab\x12\x9c"[..],
            b").\xa1\x2a",
            b"}.\x12\x2b\x0d\x28",
        ] {
            assert!(!looks_like_pickle(data), "{data:?}");
        }
        assert!(looks_like_pickle(b"N."));
        assert!(looks_like_pickle(b"N.\n\n"));
        assert!(looks_like_pickle(b"N.I1\n."));
        // A known import is believed whatever follows.
        assert!(looks_like_pickle(b"cos\nsystem\n(S'id'\ntR.\xde\xad"));
    }

    #[test]
    fn random_bytes_are_rarely_pickles() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut hits = 0;
        for _ in 0..2000 {
            let mut buf = [0u8; 64];
            for b in &mut buf {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            if buf[0] != 0x80 && looks_like_pickle(&buf) {
                hits += 1;
            }
        }
        assert!(hits < 10, "{hits}");
    }
}

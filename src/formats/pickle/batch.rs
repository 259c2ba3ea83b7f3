//! Batches of plain data added to a large container, followed by their shape only.
//!
//! CPython's pickler writes a list, dict or set in batches of 1000 items: MARK, the items,
//! APPENDS (SETITEMS, ADDITEMS). A pickle of millions of small records is millions of such items,
//! and the machine would make a node for every record and keep every item, although plain data
//! imports and calls nothing and evidence shows only a container's first items. So once a
//! container holds a full batch, each further batch is first followed the way `plain.rs` follows a
//! whole stream: by the kind of each value, with CPython's rules for what fails. When the batch
//! is plain data that loads, the container counts its items as left out (as it does once the
//! memory budget is spent) and what the batch put in the memo is kept: scalars as they are,
//! containers as [`Value::Dropped`]. Anything else (an import, a call, a persistent id, a string
//! that may carry a pickle, a memo entry that is not data, an edge case, a limit) undoes the
//! memo and leaves the batch to the machine, which is the reference.

use crate::formats::staged;
use crate::scan::deadline;

use super::frames;
use super::memo::{Memo, Prior};
use super::ops::{self, Arg, Instr, Op};
use super::plain::{Kind, Shape, ShapeMemo, Slot, fits};
use super::value::{Arena, Dropped, Node, RawKind, Value};
use super::vm::{Machine, operand};

/// Items a container keeps whole (one batch of CPython's pickler) before later batches of plain
/// data are followed by their shape only.
const KEPT_ITEMS: u32 = 1000;

/// A value of a batch: its kind, and where the machine's value for it comes from.
#[derive(Debug, Clone, Copy)]
struct Held {
    kind: Kind,
    /// The offset of the opcode that made it, or [`FETCHED`] / [`FETCHED_NODE`] for a value
    /// read from the memo. The machine's value is made only if the batch memoizes it.
    made_at: usize,
}

/// [`Held::made_at`] of a value read from the memo, and of one the machine holds as a node.
const FETCHED: usize = usize::MAX - 1;
const FETCHED_NODE: usize = usize::MAX;

impl<'a> Slot<'a> for Held {
    fn made(kind: Kind, instr: &Instr<'a>) -> Self {
        Held {
            kind,
            made_at: instr.pos,
        }
    }

    fn kind(self) -> Kind {
        self.kind
    }

    /// A container the machine holds (read from the memo) would miss the items.
    fn extensible(self) -> bool {
        self.made_at != FETCHED_NODE
    }
}

/// The kind of a value the machine holds; `None` for what is not plain data.
fn kind_of<'a>(arena: &Arena<'a>, value: Value<'a>) -> Option<Kind> {
    let Value::Node(id) = value else {
        return leaf_kind(value);
    };
    Some(match arena.get(id)? {
        // Whether a tuple of tuples could be a key is left to the machine.
        Node::Tuple(items) => Kind::Tuple(
            !items.is_partial()
                && arena
                    .values(items)
                    .all(|v| leaf_kind(v).is_some_and(Kind::hashable)),
        ),
        Node::List(_) => Kind::List,
        Node::Dict(_) => Kind::Dict,
        Node::Set(_) => Kind::Set,
        Node::FrozenSet(_) => Kind::FrozenSet,
        Node::Global(_) | Node::Unresolved(_) | Node::Call(_) | Node::PersId(_) => return None,
    })
}

/// [`kind_of`] for a value that is not a node.
fn leaf_kind(value: Value<'_>) -> Option<Kind> {
    Some(match value {
        Value::None | Value::Bool(_) | Value::Float(_) => Kind::Scalar,
        Value::Int(_) => Kind::Int,
        Value::Raw(raw) => match raw.kind {
            RawKind::ByteArray => Kind::ByteArray,
            RawKind::LongLe | RawKind::LongDecimal => Kind::Int,
            _ => Kind::Scalar,
        },
        // Whether a tuple left out could be a key is not known: the machine decides.
        Value::Dropped(Dropped::Tuple, _) => Kind::Tuple(false),
        Value::Dropped(Dropped::List, _) => Kind::List,
        Value::Dropped(Dropped::Dict, _) => Kind::Dict,
        Value::Dropped(Dropped::Set, _) => Kind::Set,
        Value::Dropped(Dropped::FrozenSet, _) => Kind::FrozenSet,
        Value::Node(_) | Value::Dropped(Dropped::Object, _) | Value::Buffer | Value::Unknown => {
            return None;
        }
    })
}

/// The machine's memo as a batch sees it: written through, with what each write replaced, so
/// that a batch left to the machine can be undone.
struct BatchMemo<'m, 'a> {
    data: &'a [u8],
    memo: &'m mut Memo<'a>,
    arena: &'m Arena<'a>,
    undo: Vec<(u64, Prior<'a>)>,
    max_entries: usize,
    max_bytes: u64,
}

impl<'a> BatchMemo<'_, 'a> {
    /// The machine's value for `held`; `None` for one read from the memo (the batch would
    /// memoize a value twice, which CPython's pickler never does: the machine reads it).
    fn value(&self, held: Held) -> Option<Value<'a>> {
        let at = held.made_at;
        Some(match held.kind {
            _ if at >= FETCHED => return None,
            Kind::Int | Kind::Scalar | Kind::ByteArray => operand(&ops::read(self.data, at).ok()?),
            Kind::Tuple(_) => Value::Dropped(Dropped::Tuple, at),
            Kind::List => Value::Dropped(Dropped::List, at),
            Kind::Dict => Value::Dropped(Dropped::Dict, at),
            Kind::Set => Value::Dropped(Dropped::Set, at),
            Kind::FrozenSet => Value::Dropped(Dropped::FrozenSet, at),
            Kind::Absent => return None,
        })
    }
}

impl ShapeMemo<Held> for BatchMemo<'_, '_> {
    fn get(&mut self, index: u64) -> Option<Held> {
        let value = self.memo.get(index)?;
        Some(Held {
            kind: kind_of(self.arena, value)?,
            made_at: if matches!(value, Value::Node(_)) {
                FETCHED_NODE
            } else {
                FETCHED
            },
        })
    }

    fn put(&mut self, index: Option<u64>, held: Held) -> Option<()> {
        let value = self.value(held)?;
        let index = index.unwrap_or(self.memo.len() as u64);
        self.undo.push((index, self.memo.prior(index)));
        self.memo.put(index, value);
        // Past a limit, the machine reads the batch and reports it.
        (self.memo.len() <= self.max_entries && self.memo.bytes() as u64 <= self.max_bytes)
            .then_some(())
    }
}

/// Where batches were left to the machine.
#[derive(Default)]
pub(super) struct Batches {
    /// A batch failed before this offset: one starting before it is not tried again, so that
    /// nested batches of a long failing one cost nothing more.
    failed_until: usize,
}

impl<'a> Machine<'a, '_, '_> {
    /// At the MARK `mark`, when the stack's top is a list, dict or set that already holds a
    /// batch: follows the items up to the APPENDS (SETITEMS, ADDITEMS) that closes the mark, and
    /// when they are plain data that loads, applies the batch and returns the offset after it.
    /// `opcodes` is the stream's opcode count, which the batch adds to.
    pub(super) fn plain_batch(&mut self, mark: &Instr<'a>, opcodes: &mut u64) -> Option<usize> {
        #[cfg(test)]
        let kept_items = tests::KEPT_ITEMS.get();
        #[cfg(not(test))]
        let kept_items = KEPT_ITEMS;
        if mark.pos < self.batches.failed_until
            || self.exact.left > 0
            || self.options.want_strings
            || self.stack.len() <= self.floor()
        {
            return None;
        }
        let Some(&Value::Node(id)) = self.stack.last() else {
            return None;
        };
        let (target, items) = match self.arena.get(id)? {
            Node::List(items) => (Kind::List, items),
            Node::Dict(items) => (Kind::Dict, items),
            Node::Set(items) => (Kind::Set, items),
            _ => return None,
        };
        if items.len.saturating_add(items.dropped) < kept_items || self.exact.kept.contains(&id) {
            return None;
        }
        let (end, read, probes, items) = self.follow_batch(mark.next, target, *opcodes)?;
        #[cfg(test)]
        tests::FOLLOWED.set(tests::FOLLOWED.get() + 1);
        self.arena.leave_out(id, items);
        self.memo
            .thin_if_large(self.data, end, self.limits.max_opcodes);
        *opcodes += read;
        if !self.options.shadow {
            self.ctx.state().staged.probes += probes;
        }
        Some(end)
    }

    /// Follows a batch from `start` to the opcode that closes its mark and adds its items to a
    /// container of kind `target`: where it ends, opcodes read, strings the staged analysis
    /// would have probed, and items added. `None` (memo undone) when the machine must read it.
    fn follow_batch(
        &mut self,
        start: usize,
        target: Kind,
        opcodes: u64,
    ) -> Option<(usize, u64, u64, usize)> {
        let count = self.memo.len();
        let mut memo = BatchMemo {
            data: self.data,
            memo: &mut self.memo,
            arena: &self.arena,
            undo: Vec::new(),
            max_entries: self.limits.max_memo,
            max_bytes: self.limits.max_memory / 2,
        };
        let frames_before = self.frames;
        let mut shape: Shape<Held> = Shape::new();
        // The stack below the batch, and its mark.
        let base = self.stack.len() + self.marks.len() + 1;
        let (mut pos, mut read, mut probes) = (start, 0u64, 0u64);
        let end = loop {
            read += 1;
            let total = opcodes + read;
            if total > self.limits.max_opcodes
                || base + shape.depth() >= self.limits.max_stack
                || (total.is_multiple_of(1 << 16) && deadline::passed())
            {
                break None;
            }
            let Ok(instr) = ops::read(self.data, pos) else {
                break None;
            };
            pos = instr.next;
            frames::follow(&mut self.frames, &instr);
            // The machine probes every string and bytes operand this long (not integers).
            if let Arg::Bytes(b) = instr.arg
                && b.len() >= staged::MIN_LEN
                && !matches!(instr.op, Op::Long1 | Op::Long4)
            {
                probes += 1;
            }
            match instr.op {
                Op::Frame => {}
                Op::Appends | Op::SetItems | Op::AddItems if shape.marks.is_empty() => {
                    break fits(instr.op, target, &shape.stack).then_some(pos);
                }
                _ => {
                    if shape.step(&instr, &mut memo).is_none() {
                        break None;
                    }
                }
            }
        };
        match end {
            Some(end) => Some((end, read, probes, shape.stack.len())),
            None => {
                let undo = std::mem::take(&mut memo.undo);
                self.memo.undo(&undo, count);
                self.frames = frames_before;
                self.batches.failed_until = pos;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::path::Path;

    use super::*;
    use crate::config::Config;
    use crate::formats::pickle::plain::tests::outline;
    use crate::model::finding::ArtifactReport;
    use crate::scan::scan_bytes;

    thread_local! {
        /// Items a container keeps before batches are followed by shape: lowered by tests so
        /// that small inputs take this path, `u32::MAX` to read every batch with the machine.
        pub(super) static KEPT_ITEMS: Cell<u32> = const { Cell::new(super::KEPT_ITEMS) };
        /// Batches followed by shape.
        pub(super) static FOLLOWED: Cell<usize> = const { Cell::new(0) };
    }

    fn scan_with(data: &[u8], kept: u32) -> ArtifactReport {
        KEPT_ITEMS.set(kept);
        let report = scan_bytes(data, Path::new("x.pkl"), "x.pkl", &Config::default());
        KEPT_ITEMS.set(super::KEPT_ITEMS);
        report
    }

    /// `OrderedDict()` (so that the machine reads the stream), then a list filled in three
    /// batches of records; memoized like CPython's pickler (`MEMOIZE` after each tuple, the
    /// shared string fetched back), protocol 4.
    fn records() -> Vec<u8> {
        let mut out =
            b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00ccollections\nOrderedDict\n)R\x94]\x94"
                .to_vec();
        let mut first = true;
        for batch in 0..3u8 {
            out.push(b'(');
            for i in 0..4u8 {
                if first {
                    out.extend_from_slice(b"\x8c\x03key\x94");
                    first = false;
                } else {
                    out.extend_from_slice(b"h\x02");
                }
                out.extend_from_slice(&[b'K', batch * 4 + i, b'G']);
                out.extend_from_slice(&1.5f64.to_be_bytes());
                out.extend_from_slice(b"\x87\x94");
            }
            out.push(b'e');
        }
        // The OrderedDict gets the list's third record through the memo.
        out.extend_from_slice(b"h\x05\x86\x94.");
        out
    }

    /// Every one-byte change of `records()` to an opcode byte is judged the same with batches
    /// followed by shape and with the machine reading everything: same findings at the same
    /// offsets, same verdict.
    #[test]
    fn batches_agree_with_the_machine_on_records_and_their_mutants() {
        let original = records();
        let baseline = scan_with(&original, 4);
        assert_eq!(baseline.verdict, crate::model::finding::Verdict::Clean);
        assert_eq!(FOLLOWED.get(), 2, "the second and third batches");
        let opcodes: Vec<u8> = (0..=255u8)
            .filter(|&b| ops::Op::from_byte(b).is_some())
            .collect();
        let mut checked = 0usize;
        for at in 0..original.len() {
            for &byte in &opcodes {
                let mut mutant = original.clone();
                if mutant[at] == byte {
                    continue;
                }
                mutant[at] = byte;
                let quick = scan_with(&mutant, 4);
                let machine = scan_with(&mutant, u32::MAX);
                assert_eq!(outline(&quick), outline(&machine), "{mutant:?}");
                assert_eq!(quick.verdict, machine.verdict, "{mutant:?}");
                checked += 1;
            }
        }
        assert!(checked > 10_000, "{checked}");
        assert!(FOLLOWED.get() > checked, "{}", FOLLOWED.get());
    }

    #[test]
    fn a_batch_that_is_not_plain_data_is_left_to_the_machine() {
        // The third batch holds `posix.system('echo hi')`.
        let mut data = records();
        let at = data.windows(2).rposition(|w| w == b"(h").unwrap() + 1;
        data.splice(
            at..at,
            b"cposix\nsystem\n(X\x07\x00\x00\x00echo hitR"
                .iter()
                .copied(),
        );
        let report = scan_with(&data, 4);
        assert_eq!(report.verdict, crate::model::finding::Verdict::Malicious);
        assert_eq!(outline(&report), outline(&scan_with(&data, u32::MAX)));
    }
}

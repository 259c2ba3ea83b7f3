//! The unpickler's memo, and how it thins out once it is large.
//!
//! CPython's pickler memoizes nearly every object it writes, and reads back only the shared
//! ones, so a pickle of millions of records has millions of memo entries of which a handful are
//! ever read. Once the memo takes [`THIN_ABOVE`] bytes, the rest of the stream is scanned for
//! the indices it reads (GET, BINGET, LONG_BINGET, up to its STOP), and from then on only those
//! entries keep their value; of the others the memo keeps only that they are set, which is all
//! CPython's memo length (MEMOIZE's index) and overwrites depend on. Where the scan cannot be
//! sure to see every read the machine will make (joblib's array bytes, which the machine jumps
//! over; an unreadable instruction; a limit), the memo stays whole.

use std::collections::{HashMap, HashSet};

use crate::scan::deadline;

use super::cparse;
use super::ops::{self, Arg, Op};
use super::value::Value;

/// Bytes a sparse memo entry takes in its hash map, about.
const SPARSE_ENTRY_BYTES: usize = 48;
/// Memo size past which the memo keeps only what the rest of the stream reads.
const THIN_ABOVE: usize = 8 << 20;
/// Distinct indices the rest of a stream may read for the memo to thin out.
const MAX_WANTED: usize = 1 << 18;
/// Indices below this have their "set" bit in a bitmap (8 MiB at most); others in a set.
const PRESENT_BITS: u64 = 1 << 26;

#[derive(Default)]
pub(super) struct Memo<'a> {
    dense: Vec<Option<Value<'a>>>,
    sparse: HashMap<u64, Value<'a>>,
    count: usize,
    /// Once thinned: which entries are kept and which are set; values are then in `sparse`.
    thin: Option<Thin>,
    thin_tried: bool,
}

/// The indices the rest of the stream reads, and which indices are set.
struct Thin {
    wanted: Indices,
    present: Indices,
}

/// A set of memo indices: a bitmap below [`PRESENT_BITS`] (hashing each of millions of writes
/// would cost more than the machine), a hash set above.
#[derive(Default)]
struct Indices {
    words: Vec<u64>,
    far: HashSet<u64>,
}

impl Indices {
    /// Adds `index`; whether it was not there before.
    fn insert(&mut self, index: u64) -> bool {
        if index >= PRESENT_BITS {
            return self.far.insert(index);
        }
        let (word, bit) = ((index / 64) as usize, 1u64 << (index % 64));
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        let Some(w) = self.words.get_mut(word) else {
            return false;
        };
        let new = *w & bit == 0;
        *w |= bit;
        new
    }

    fn remove(&mut self, index: u64) {
        if index >= PRESENT_BITS {
            self.far.remove(&index);
        } else if let Some(w) = self.words.get_mut((index / 64) as usize) {
            *w &= !(1u64 << (index % 64));
        }
    }

    #[inline]
    fn contains(&self, index: u64) -> bool {
        if index >= PRESENT_BITS {
            return self.far.contains(&index);
        }
        self.words
            .get((index / 64) as usize)
            .is_some_and(|w| w & (1u64 << (index % 64)) != 0)
    }

    fn bytes(&self) -> usize {
        self.words.len() * 8 + self.far.len() * SPARSE_ENTRY_BYTES
    }
}

/// What an entry was before a write, for [`Memo::restore`].
#[derive(Debug, Clone, Copy)]
pub(super) enum Prior<'a> {
    Absent,
    Held(Value<'a>),
    /// Set, its value not kept (a thinned memo).
    Counted,
}

impl<'a> Memo<'a> {
    pub(super) fn new(dense: Vec<Option<Value<'a>>>) -> Self {
        Memo {
            dense,
            ..Memo::default()
        }
    }

    /// The dense buffer, emptied, for the next stream.
    pub(super) fn into_buffer(self) -> Vec<Option<Value<'a>>> {
        let mut dense = self.dense;
        dense.clear();
        dense
    }

    /// Stores `value` at `index` the way `_Unpickler_MemoPut` does: an existing entry is
    /// overwritten, and only a new index makes the memo longer (MEMOIZE uses that length).
    #[inline]
    pub(super) fn put(&mut self, index: u64, value: Value<'a>) {
        if let Some(thin) = &mut self.thin {
            let new = thin.present.insert(index);
            if thin.wanted.contains(index) {
                self.sparse.insert(index, value);
            }
            self.count += usize::from(new);
            return;
        }
        let i = usize::try_from(index).unwrap_or(usize::MAX);
        let old = if i < self.dense.len() {
            self.dense
                .get_mut(i)
                .and_then(|slot| slot.replace(value))
                .or_else(|| self.sparse.remove(&index))
        } else if i < self.dense.len().saturating_add(1024)
            && i <= self.count.saturating_mul(2).saturating_add(4096)
        {
            self.dense.resize(i, None);
            self.dense.push(Some(value));
            self.sparse.remove(&index)
        } else {
            self.sparse.insert(index, value)
        };
        self.count += usize::from(old.is_none());
    }

    #[inline]
    pub(super) fn get(&self, index: u64) -> Option<Value<'a>> {
        if self
            .thin
            .as_ref()
            .is_some_and(|t| !t.wanted.contains(index))
        {
            return None;
        }
        match usize::try_from(index).ok().and_then(|i| self.dense.get(i)) {
            Some(Some(v)) => Some(*v),
            _ => self.sparse.get(&index).copied(),
        }
    }

    /// Whether entry `index` is set (its value may not be kept).
    pub(super) fn contains(&self, index: u64) -> bool {
        match &self.thin {
            Some(thin) => thin.present.contains(index),
            None => self.get(index).is_some(),
        }
    }

    /// The number of entries, which MEMOIZE uses as its index.
    pub(super) fn len(&self) -> usize {
        self.count
    }

    /// What entry `index` is now, to put back with [`Memo::restore`].
    pub(super) fn prior(&self, index: u64) -> Prior<'a> {
        match self.get(index) {
            Some(value) => Prior::Held(value),
            None if self.contains(index) => Prior::Counted,
            None => Prior::Absent,
        }
    }

    /// Puts back what `writes` (index, what each entry was) replaced, latest first, and the
    /// entry count from before them.
    pub(super) fn undo(&mut self, writes: &[(u64, Prior<'a>)], count: usize) {
        for &(index, prior) in writes.iter().rev() {
            match prior {
                Prior::Held(value) => self.put(index, value),
                Prior::Counted => {
                    if let Some(thin) = &mut self.thin {
                        thin.present.insert(index);
                    }
                    self.sparse.remove(&index);
                }
                Prior::Absent => {
                    if let Some(slot) = usize::try_from(index)
                        .ok()
                        .and_then(|i| self.dense.get_mut(i))
                    {
                        *slot = None;
                    }
                    self.sparse.remove(&index);
                    if let Some(thin) = &mut self.thin {
                        thin.present.remove(index);
                    }
                }
            }
        }
        self.count = count;
    }

    pub(super) fn bytes(&self) -> usize {
        let thin = self
            .thin
            .as_ref()
            .map_or(0, |t| t.present.bytes() + t.wanted.bytes());
        self.dense.len() * std::mem::size_of::<Option<Value<'_>>>()
            + self.sparse.len() * SPARSE_ENTRY_BYTES
            + thin
    }

    /// Once the memo is large, keeps from now on only the entries that the stream from `pos`
    /// to its STOP reads (tried once per stream).
    pub(super) fn thin_if_large(&mut self, data: &[u8], pos: usize, max_opcodes: u64) {
        if self.thin_tried || self.bytes() <= THIN_ABOVE {
            return;
        }
        self.thin_tried = true;
        let Some(wanted) = reads_ahead(data, pos, max_opcodes) else {
            return;
        };
        let mut thin = Thin {
            wanted,
            present: Indices::default(),
        };
        for (index, slot) in self.dense.iter().enumerate() {
            if let Some(value) = slot {
                let index = index as u64;
                thin.present.insert(index);
                if thin.wanted.contains(index) {
                    self.sparse.insert(index, *value);
                }
            }
        }
        self.sparse.retain(|&index, _| {
            thin.present.insert(index);
            thin.wanted.contains(index)
        });
        self.dense = Vec::new();
        self.thin = Some(thin);
    }
}

/// The memo indices that the stream from `pos` reads up to its STOP, or `None` when this
/// reading may not see every read the machine makes.
fn reads_ahead(data: &[u8], mut pos: usize, max_opcodes: u64) -> Option<Indices> {
    let mut wanted = Indices::default();
    let mut distinct = 0usize;
    for count in 0..max_opcodes {
        if count.is_multiple_of(1 << 16) && count > 0 && deadline::passed() {
            return None;
        }
        let instr = ops::read(data, pos).ok()?;
        let index = match (instr.op, instr.arg) {
            (Op::Stop, _) => return Some(wanted),
            (Op::BinGet | Op::LongBinGet, Arg::Int(index)) => Some(index.unsigned_abs()),
            (Op::Get, Arg::Line(line)) => cparse::memo_index(line).flatten(),
            // joblib's array wrappers: the machine jumps over the array bytes after them.
            (_, Arg::Bytes(text) | Arg::Line(text) | Arg::Lines(_, text))
                if memchr::memmem::find(text, b"ArrayWrapper").is_some() =>
            {
                return None;
            }
            _ => None,
        };
        if let Some(index) = index {
            distinct += usize::from(wanted.insert(index));
            if distinct > MAX_WANTED {
                return None;
            }
        }
        pos = instr.next;
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;
    use crate::model::finding::{ArtifactReport, Verdict};
    use crate::scan::scan_bytes;

    fn scan(data: &[u8]) -> ArtifactReport {
        scan_bytes(data, Path::new("x.pkl"), "x.pkl", &Config::default())
    }

    fn rules(report: &ArtifactReport) -> Vec<String> {
        report
            .findings
            .iter()
            .map(|f| f.rule_id.to_string())
            .collect()
    }

    /// `global` (`module\nname\n`) memoized at index 1, then `records` memoized tuples in a
    /// list (the memo thins out past 8 MiB), then `tail`, then STOP.
    fn memo_heavy(global: &[u8], records: u32, tail: &[u8]) -> Vec<u8> {
        let mut out = b"\x80\x04ccollections\nOrderedDict\n\x94c".to_vec();
        out.extend_from_slice(global);
        out.extend_from_slice(b"\x940]\x94");
        for batch in 0..records / 1000 {
            out.push(b'(');
            for i in 0..1000u32 {
                out.push(b'J');
                out.extend_from_slice(&(batch * 1000 + i).to_le_bytes());
                out.extend_from_slice(b"\x85\x94");
            }
            out.push(b'e');
        }
        out.extend_from_slice(tail);
        out.push(b'.');
        out
    }

    const SYSTEM: &[u8] = b"posix\nsystem\n";

    #[test]
    fn a_thinned_memo_keeps_what_the_rest_of_the_stream_reads() {
        // The global memoized first is read back after 500 k memoized records.
        let data = memo_heavy(SYSTEM, 500_000, b"0h\x01X\x07\x00\x00\x00echo hi\x85R");
        let report = scan(&data);
        assert_eq!(report.verdict, Verdict::Malicious, "{:?}", rules(&report));
        assert_eq!(rules(&report), ["PKL001"]);
    }

    #[test]
    fn a_thinned_memo_counts_entries_as_cpython_does() {
        // After thinning: BINPUT over an existing index (the memo does not grow), then MEMOIZE
        // of the global, then a read of that entry by its index. 500_003 entries come before
        // it (two globals, the list, the records): MEMOIZE must number it so, or the read
        // would miss.
        let mut tail = b"0h\x01q\x050h\x01\x940j".to_vec();
        tail.extend_from_slice(&500_003u32.to_le_bytes());
        tail.extend_from_slice(b"X\x07\x00\x00\x00echo hi\x85R");
        let report = scan(&memo_heavy(SYSTEM, 500_000, &tail));
        assert_eq!(report.verdict, Verdict::Malicious, "{:?}", rules(&report));
        assert_eq!(rules(&report), ["PKL001"]);
    }

    #[test]
    fn memo_heavy_records_are_clean_within_the_budget() {
        // 4 million memoized records: past half the default budget if every entry were kept.
        let report = scan(&memo_heavy(b"collections\nOrderedDict\n", 4_000_000, b""));
        assert_eq!(report.verdict, Verdict::Clean, "{:?}", rules(&report));
    }
}

//! Bytes unpacked from an artifact, held for analysis: in memory while the artifact's memory
//! budget (`max_memory`) allows, else in a private temporary file that is memory-mapped.
//!
//! The file is made by `tempfile::tempfile` in `$TMPDIR`: mode 0600 and unlinked at once, so no
//! other process can open, replace or truncate it, and it disappears with the last handle. The
//! scanner writes it whole before mapping it, so the map never reaches past the file's end.
//!
//! Heap bytes are counted per thread (one thread scans one artifact at a time, its members
//! included), so a run holds at most `--jobs` times the budget in unpacked members.

use std::cell::Cell;
use std::fs::File;
use std::io::Write;
use std::marker::PhantomData;
use std::ops::Deref;

/// The heap grows by at least this much at a time.
const GROWTH_MIN: usize = 64 << 10;

thread_local! {
    /// Heap bytes held by this thread's live [`Blob`]s.
    static HELD: Cell<u64> = const { Cell::new(0) };
}

/// Heap bytes this thread's unpacked members hold now.
pub fn held() -> u64 {
    HELD.with(Cell::get)
}

/// Unpacked bytes: on the heap or in a mapped temporary file.
#[derive(Debug)]
pub struct Blob {
    inner: Inner,
    /// Heap bytes this blob adds to [`HELD`].
    counted: u64,
    /// Not `Send`: the count belongs to the thread that made the blob.
    thread_bound: PhantomData<*const ()>,
}

#[derive(Debug)]
enum Inner {
    Heap(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl Blob {
    /// Heap bytes, counted against the budget.
    fn heap(bytes: Vec<u8>) -> Blob {
        let counted = bytes.capacity() as u64;
        HELD.with(|held| held.set(held.get().saturating_add(counted)));
        Blob {
            inner: Inner::Heap(bytes),
            counted,
            thread_bound: PhantomData,
        }
    }

    pub fn empty() -> Blob {
        Blob::heap(Vec::new())
    }

    /// Whether the bytes live in a temporary file rather than on the heap.
    pub fn is_spilled(&self) -> bool {
        matches!(self.inner, Inner::Mapped(_))
    }

    /// The bytes as an owned vector (a copy when they were spilled).
    pub fn into_vec(mut self) -> Vec<u8> {
        match std::mem::replace(&mut self.inner, Inner::Heap(Vec::new())) {
            Inner::Heap(bytes) => bytes,
            Inner::Mapped(map) => map.to_vec(),
        }
    }
}

impl Drop for Blob {
    fn drop(&mut self) {
        let counted = self.counted;
        HELD.with(|held| held.set(held.get().saturating_sub(counted)));
    }
}

impl Deref for Blob {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.inner {
            Inner::Heap(bytes) => bytes,
            Inner::Mapped(map) => map,
        }
    }
}

/// Collects unpacked bytes chunk by chunk, moving them to a temporary file once keeping them
/// on the heap would take this thread past `budget`, or once they pass an eighth of it (one
/// large member has no reason to sit in memory while the file is written anyway).
pub struct BlobWriter {
    heap: Vec<u8>,
    file: Option<File>,
    len: u64,
    budget: u64,
}

impl BlobWriter {
    pub fn new(budget: u64) -> BlobWriter {
        BlobWriter {
            heap: Vec::new(),
            file: None,
            len: 0,
            budget,
        }
    }

    /// Heap bytes this writer may still take.
    fn room(&self) -> usize {
        let room = (self.budget / 8).min(self.budget.saturating_sub(held()));
        usize::try_from(room).unwrap_or(usize::MAX)
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `bytes`; an error says why they could be neither kept nor spilled (what was
    /// written before stays).
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.file.is_none() && !self.reserve_heap(bytes.len()) {
            self.spill()?;
        }
        match &mut self.file {
            Some(file) => file.write_all(bytes).map_err(|e| {
                format!(
                    "could not write past {} unpacked bytes to a temporary file ({e})",
                    self.len
                )
            })?,
            None => self.heap.extend_from_slice(bytes),
        }
        self.len = self.len.saturating_add(bytes.len() as u64);
        Ok(())
    }

    /// Makes room on the heap for `additional` bytes, growing geometrically but never past what
    /// the budget leaves; false when they do not fit.
    fn reserve_heap(&mut self, additional: usize) -> bool {
        let needed = self.heap.len().saturating_add(additional);
        if needed <= self.heap.capacity() {
            return true;
        }
        let room = self.room();
        if needed > room {
            return false;
        }
        let target = self
            .heap
            .len()
            .saturating_mul(2)
            .max(GROWTH_MIN)
            .min(room)
            .max(needed);
        self.heap
            .try_reserve_exact(target - self.heap.len())
            .is_ok()
    }

    /// Moves what is on the heap into a new temporary file and frees it.
    fn spill(&mut self) -> Result<(), String> {
        let mut file = tempfile::tempfile().map_err(|e| {
            format!(
                "could not keep more than {} unpacked bytes: the memory budget is spent and no temporary file could be made ({e})",
                self.len
            )
        })?;
        file.write_all(&self.heap).map_err(|e| {
            format!(
                "could not keep more than {} unpacked bytes: the memory budget is spent and the temporary file could not be written ({e})",
                self.len
            )
        })?;
        self.heap = Vec::new();
        self.file = Some(file);
        Ok(())
    }

    /// The bytes written, on the heap or mapped from the temporary file.
    pub fn finish(self) -> Result<Blob, String> {
        let Some(file) = self.file else {
            return Ok(Blob::heap(self.heap));
        };
        #[allow(
            unsafe_code,
            reason = "mapping a private file this process wrote whole"
        )]
        // SAFETY: the file is private to this process (unlinked at creation, never shared), was
        // written whole before this point and is never written again, so the map stays valid.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| {
            format!(
                "could not map the temporary file holding {} unpacked bytes ({e})",
                self.len
            )
        })?;
        Ok(Blob {
            inner: Inner::Mapped(map),
            counted: 0,
            thread_bound: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_stays_on_the_heap_and_is_counted() {
        let before = held();
        let mut writer = BlobWriter::new(1 << 20);
        writer.write(b"hello").unwrap();
        let blob = writer.finish().unwrap();
        assert!(!blob.is_spilled());
        assert_eq!(&*blob, b"hello");
        assert!(held() > before);
        drop(blob);
        assert_eq!(held(), before);
    }

    #[test]
    fn output_past_the_budget_is_spilled_to_a_mapped_file() {
        let mut writer = BlobWriter::new(1 << 20);
        let chunk: Vec<u8> = (0..=255u8).cycle().take(64 << 10).collect();
        for _ in 0..4 {
            writer.write(&chunk).unwrap();
        }
        assert_eq!(writer.len(), 256 << 10);
        let blob = writer.finish().unwrap();
        assert!(blob.is_spilled());
        assert_eq!(blob.len(), 256 << 10);
        assert!(blob.chunks(64 << 10).all(|c| c == &chunk[..]));
    }

    #[test]
    fn blobs_already_held_count_against_the_next_one() {
        let kept: Vec<Blob> = (0..8)
            .map(|_| {
                let mut writer = BlobWriter::new(8 << 20);
                writer.write(&vec![1u8; 1 << 20]).unwrap();
                writer.finish().unwrap()
            })
            .collect();
        assert!(kept.iter().all(|blob| !blob.is_spilled()));
        let mut next = BlobWriter::new(8 << 20);
        next.write(&vec![2u8; 1 << 20]).unwrap();
        let next = next.finish().unwrap();
        assert!(next.is_spilled(), "the blobs kept left no room");
        assert!(next.iter().all(|&b| b == 2));
    }
}

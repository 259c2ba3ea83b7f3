//! Read-only memory maps of artifacts, so that multi-gigabyte weight files are never copied
//! into memory: analysers touch only the pages they read.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Deref;

use memmap2::Mmap;

use super::guard::Guard;

/// The bytes of a file: mapped, read (small files), or empty (a zero-length file cannot be
/// mapped).
pub enum Mapped {
    /// The guard comes first so that it is dropped (unregistered) before the map is unmapped.
    Map {
        guard: Option<Guard>,
        map: Mmap,
    },
    Read(Vec<u8>),
    Empty,
}

/// Files up to this size are read rather than mapped: mapping and unmapping costs more than
/// copying them, and unmapping in a multi-threaded process interrupts every core to flush its
/// TLB, which is what kept a batch of many small artifacts from scaling across cores.
const READ_BELOW: u64 = 1 << 20;

impl Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Mapped::Map { map, .. } => map,
            Mapped::Read(bytes) => bytes,
            Mapped::Empty => &[],
        }
    }
}

impl Mapped {
    /// Whether a read found the file shorter than when it was mapped (it was truncated during
    /// the scan): what was read past its new end were zeros, not its content.
    pub fn faulted(&self) -> bool {
        matches!(self, Mapped::Map { guard: Some(guard), .. } if guard.faulted())
    }

    /// Tells the kernel that this process is done with the pages of `part` (a slice of this
    /// mapping), so they leave its resident set. Reading them again is correct, only slower:
    /// they come back from the page cache. This keeps the RSS of a scan flat however large the
    /// file: multi-gigabyte weights are hashed chunk by chunk and let go.
    pub fn release(&self, part: &[u8]) {
        let Mapped::Map { map, .. } = self else {
            return;
        };
        let base = map.as_ptr() as usize;
        let start = (part.as_ptr() as usize).wrapping_sub(base);
        let Some(end) = start.checked_add(part.len()) else {
            return;
        };
        if start > map.len() || end > map.len() {
            return; // not a slice of this mapping
        }
        // Only whole pages that lie entirely inside `part`. (On a system with larger pages the
        // kernel refuses a misaligned range; the advice is then just not taken.)
        const PAGE: usize = 4096;
        let first = start.div_ceil(PAGE) * PAGE;
        let last = end / PAGE * PAGE;
        if last > first {
            // SAFETY: MADV_DONTNEED on a read-only mapping of a file discards no data: nothing
            // was ever written through it, so the next read of these pages faults them in
            // again from the page cache with the file's content. No reference into the range is
            // invalidated; slices stay valid and read the same bytes.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, first, last - first)
            };
        }
    }
}

/// Maps `file` read-only.
/// A mapping shared with [`bytes::Bytes`] views of it, so that a decoder can hand out slices of
/// the file (ONNX initializers) without copying them.
pub struct Shared(pub std::sync::Arc<Mapped>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

pub fn map(file: &File) -> io::Result<Mapped> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if meta.len() == 0 {
        return Ok(Mapped::Empty);
    }
    if meta.len() <= READ_BELOW {
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        // `take` bounds the read should the file grow meanwhile.
        io::Read::read_to_end(&mut io::Read::take(file, READ_BELOW), &mut bytes)?;
        return Ok(Mapped::Read(bytes));
    }
    // SAFETY: the map is read-only. Its soundness rests on nobody truncating or rewriting the
    // file while it is mapped, which holds for artifacts at rest in the quarantine zone. Every
    // access is a bounds-checked slice read and no invariant depends on a byte staying the same
    // between two reads, so a concurrent writer could make the report describe a mix of old and
    // new content. A concurrent truncation raises SIGBUS on the next read past the new end,
    // which the guard turns into a page of zeros and a mark (see `super::guard`).
    let map = unsafe { Mmap::map(file) }?;
    let guard = Guard::register(map.as_ptr(), map.len());
    Ok(Mapped::Map { guard, map })
}

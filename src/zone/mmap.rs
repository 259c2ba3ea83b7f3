//! Read-only memory maps of artifacts, so that multi-gigabyte weight files are never copied
//! into memory: analysers touch only the pages they read.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Deref;

use memmap2::Mmap;

/// The bytes of a file: mapped, or empty (a zero-length file cannot be mapped).
pub enum Mapped {
    Map(Mmap),
    Empty,
}

impl Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Mapped::Map(map) => map,
            Mapped::Empty => &[],
        }
    }
}

/// Maps `file` read-only.
pub fn map(file: &File) -> io::Result<Mapped> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if meta.len() == 0 {
        return Ok(Mapped::Empty);
    }
    // SAFETY: the map is read-only. Its soundness rests on nobody truncating or rewriting the
    // file while it is mapped, which holds for artifacts at rest in the quarantine zone. Every
    // access is a bounds-checked slice read and no invariant depends on a byte staying the same
    // between two reads, so a concurrent writer could make the report describe a mix of old and
    // new content; a concurrent truncation would end the process with SIGBUS, never read
    // outside the mapping.
    unsafe { Mmap::map(file) }.map(Mapped::Map)
}

//! A bounded reader of the parts of HDF5 that decide what loading a file reads: the superblock
//! (versions 0–3, found at 0, 512, 1024, … behind a user block), object headers (versions 1
//! and 2, with continuation blocks), groups (symbol-table B-trees and local heaps; compact link
//! messages; dense links and attributes in fractal heaps indexed by version-2 B-trees),
//! attributes (fixed and variable-length strings through the global heap), external links,
//! external raw storage and virtual dataset mappings.
//!
//! Every address and length is checked against the file before use, every structure is
//! visited once (cycles end), and counts are capped; nothing is allocated from a declared size
//! that the file does not hold. Failures are collected as problems, never panics.

use std::collections::{HashSet, VecDeque};

mod attributes;
mod groups;
mod heaps;
mod objects;
mod storage;
mod superblock;

const SIGNATURE: &[u8] = b"\x89HDF\r\n\x1a\n";
const UNDEFINED: u64 = u64::MAX;

/// Objects (groups and datasets) visited per file.
pub const MAX_OBJECTS: usize = 100_000;
/// Messages read per file, all object headers together.
const MAX_MESSAGES: usize = 1_000_000;
/// B-tree and heap blocks visited per file.
const MAX_BLOCKS: usize = 200_000;
/// Elements of one attribute decoded.
const MAX_ELEMENTS: u64 = 100_000;
/// Bytes of attribute strings kept per file.
const MAX_STRING_BYTES: usize = 256 << 20;

/// Where the superblock is: at 0 or at 512 × 2^n (after a user block).
pub fn find_superblock(data: &[u8]) -> Option<usize> {
    if data.starts_with(SIGNATURE) {
        return Some(0);
    }
    let mut at = 512usize;
    while at < data.len() {
        if data[at..].starts_with(SIGNATURE) {
            return Some(at);
        }
        at = at.checked_mul(2)?;
    }
    None
}

/// A decoded attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// Strings (fixed or variable length), one per element.
    Strings(Vec<Vec<u8>>),
    /// Any other datatype: its class and total size.
    Other { class: u8, bytes: usize },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// Path of the object it hangs off (`/`, `/model_weights`).
    pub object: String,
    pub name: String,
    pub value: AttrValue,
}

/// Where an object's data or a link leads outside the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum External {
    /// An external link: `link` in the file points at `object` in `file`.
    Link {
        link: String,
        file: String,
        object: String,
    },
    /// A dataset's raw data lives in `file` (External Data Files message).
    Storage { dataset: String, file: String },
    /// A virtual dataset maps data from `file`'s `dataset`.
    Virtual {
        dataset: String,
        file: String,
        source: String,
    },
}

#[derive(Debug, Default)]
pub struct Hdf5 {
    pub superblock_at: usize,
    pub superblock_version: u8,
    pub groups: u64,
    pub datasets: u64,
    pub links: u64,
    pub soft_links: Vec<(String, String)>,
    pub attributes: Vec<Attribute>,
    pub externals: Vec<External>,
    /// Structural problems, each with the offset it was found at.
    pub problems: Vec<(Option<u64>, String)>,
    /// Parts the reader knows it did not read (filtered heaps, shared messages).
    pub skipped: Vec<String>,
}

struct R<'a> {
    data: &'a [u8],
    base: u64,
    so: usize,
    sl: usize,
    out: Hdf5,
    messages: usize,
    blocks: usize,
    string_bytes: usize,
    seen_blocks: HashSet<u64>,
    /// Flags of the version-2 object header being read.
    v2_flags: u8,
}

/// A cursor over bytes of the file.
#[derive(Clone, Copy)]
struct Cur<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Cur { data, pos }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    /// A little-endian unsigned integer of `n` bytes (1..=8).
    fn uint(&mut self, n: usize) -> Option<u64> {
        let b = self.take(n)?;
        if n > 8 {
            return None;
        }
        let mut v = 0u64;
        for (i, &byte) in b.iter().enumerate() {
            v |= u64::from(byte) << (8 * i);
        }
        Some(v)
    }
    fn cstr(&mut self) -> Option<Vec<u8>> {
        let rest = self.data.get(self.pos..)?;
        let end = memchr::memchr(0, rest)?;
        let s = rest[..end].to_vec();
        self.pos += end + 1;
        Some(s)
    }
    fn left(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }
}

/// Reads the HDF5 structure of `data`. `None` when there is no superblock.
pub fn read(data: &[u8]) -> Option<Hdf5> {
    let at = find_superblock(data)?;
    let mut r = R {
        data,
        base: at as u64,
        so: 8,
        sl: 8,
        out: Hdf5 {
            superblock_at: at,
            ..Hdf5::default()
        },
        messages: 0,
        blocks: 0,
        string_bytes: 0,
        seen_blocks: HashSet::new(),
        v2_flags: 0,
    };
    match r.superblock(at) {
        Some(root) => r.walk(root),
        None => r.problem(
            Some(at as u64),
            "the superblock is truncated or has unknown sizes",
        ),
    }
    Some(r.out)
}

/// A group or dataset to visit: its object header address and path.
struct Todo {
    addr: u64,
    path: String,
}

/// What one object header held.
#[derive(Default)]
struct Object {
    is_group: bool,
    is_dataset: bool,
    children: Vec<(String, u64)>,
}

impl<'a> R<'a> {
    fn problem(&mut self, at: Option<u64>, what: impl Into<String>) {
        if self.out.problems.len() < 256 {
            self.out.problems.push((at, what.into()));
        }
    }

    /// The file position of a relative address, when `len` bytes from it are in the file.
    fn pos(&self, addr: u64, len: usize) -> Option<usize> {
        if addr == UNDEFINED {
            return None;
        }
        let abs = addr.checked_add(self.base)?;
        let start = usize::try_from(abs).ok()?;
        let end = start.checked_add(len)?;
        (end <= self.data.len()).then_some(start)
    }

    fn cur(&self, addr: u64) -> Option<Cur<'a>> {
        self.pos(addr, 0).map(|p| Cur::new(self.data, p))
    }

    /// Counts a block visit; `false` when the address was seen already or a limit is hit.
    fn visit_block(&mut self, addr: u64) -> bool {
        self.blocks += 1;
        if self.blocks > MAX_BLOCKS {
            if self.blocks == MAX_BLOCKS + 1 {
                self.problem(
                    None,
                    format!("more than {MAX_BLOCKS} B-tree or heap blocks"),
                );
            }
            return false;
        }
        if !self.seen_blocks.insert(addr) {
            self.problem(
                Some(addr),
                format!("block at address {addr} is reached twice (a cycle or shared node)"),
            );
            return false;
        }
        true
    }

    fn addr(&self, c: &mut Cur<'_>) -> Option<u64> {
        let v = c.uint(self.so)?;
        // An all-ones value of the address size is "undefined".
        Some(if self.so < 8 && v == (1u64 << (8 * self.so)) - 1 {
            UNDEFINED
        } else {
            v
        })
    }

    fn length(&self, c: &mut Cur<'_>) -> Option<u64> {
        c.uint(self.sl)
    }
}

struct Heap {
    id_len: usize,
    off_size: usize,
    len_size: usize,
    /// Direct blocks: heap offset, address, size.
    blocks: Vec<(u64, u64, u64)>,
    /// Huge objects: key, address, length.
    huge: Vec<(u64, u64, u64)>,
}

/// Bytes needed to encode `n` (H5VM_limit_enc_size).
fn enc_size(n: u64) -> usize {
    let bits = 64 - n.leading_zeros() as usize;
    bits.saturating_sub(1) / 8 + 1
}

fn join(path: &str, name: &str) -> String {
    if path == "/" {
        format!("/{name}")
    } else {
        format!("{path}/{name}")
    }
}

fn heap_string(heap: &[u8], offset: u64) -> String {
    let Some(rest) = usize::try_from(offset).ok().and_then(|o| heap.get(o..)) else {
        return "<name outside the heap>".to_owned();
    };
    String::from_utf8_lossy(trim_nul(rest)).into_owned()
}

fn trim_nul(s: &[u8]) -> &[u8] {
    match memchr::memchr(0, s) {
        Some(end) => &s[..end],
        None => s,
    }
}

/// A variable-length sequence whose base type is a 1-byte integer or string (bytes).
fn vlen_of_bytes(dt: &[u8]) -> bool {
    dt.get(8).is_some_and(|b| matches!(b & 0x0f, 0 | 3)) && dt.get(12..16) == Some(&[1, 0, 0, 0])
}

/// Elements described by a dataspace message (scalar 1, null 0).
fn dataspace_elements(ds: &[u8], sl: usize) -> Option<u64> {
    let mut c = Cur::new(ds, 0);
    let version = c.u8()?;
    let rank = usize::from(c.u8()?);
    let flags = c.u8()?;
    match version {
        1 => c.skip(5)?,
        2 => {
            let kind = c.u8()?;
            if kind == 2 {
                return Some(0);
            }
        }
        _ => return None,
    }
    let _ = flags;
    let mut n = 1u64;
    for _ in 0..rank {
        n = n.checked_mul(c.uint(sl)?)?;
    }
    Some(n)
}

/// Skips one serialised dataspace selection (H5S_SELECT_SERIALIZE) of a virtual mapping.
fn skip_selection(c: &mut Cur<'_>) -> Option<()> {
    let kind = c.u32()?;
    let version = c.u32()?;
    match kind {
        0 | 3 => c.skip(8),
        1 => {
            if version == 1 {
                c.skip(4)?;
                c.u32()?;
                let rank = c.u32()? as usize;
                let n = c.u32()? as usize;
                c.skip(rank.checked_mul(n)?.checked_mul(4)?)
            } else {
                let size = usize::from(c.u8()?);
                let rank = c.u32()? as usize;
                let n = usize::try_from(c.uint(size)?).ok()?;
                c.skip(rank.checked_mul(n)?.checked_mul(size)?)
            }
        }
        2 => match version {
            1 => {
                c.skip(8)?;
                let rank = c.u32()? as usize;
                let n = c.u32()? as usize;
                c.skip(rank.checked_mul(n)?.checked_mul(8)?)
            }
            2 => {
                let flags = c.u8()?;
                c.skip(4)?;
                let rank = c.u32()? as usize;
                if flags & 1 != 0 {
                    c.skip(rank.checked_mul(32)?)
                } else {
                    let n = c.u32()? as usize;
                    c.skip(rank.checked_mul(n)?.checked_mul(8)?)
                }
            }
            3 => {
                let flags = c.u8()?;
                let size = usize::from(c.u8()?);
                let rank = c.u32()? as usize;
                if flags & 1 != 0 {
                    c.skip(rank.checked_mul(4)?.checked_mul(size)?)
                } else {
                    let n = usize::try_from(c.uint(size)?).ok()?;
                    c.skip(rank.checked_mul(n)?.checked_mul(2)?.checked_mul(size)?)
                }
            }
            _ => None,
        },
        _ => None,
    }
}

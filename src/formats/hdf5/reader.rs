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

    /// Reads the superblock; returns the root group's object header address.
    fn superblock(&mut self, at: usize) -> Option<u64> {
        let mut c = Cur::new(self.data, at + SIGNATURE.len());
        let version = c.u8()?;
        self.out.superblock_version = version;
        match version {
            0 | 1 => {
                c.skip(4)?; // free-space, root symtab, reserved, shared header versions
                self.so = usize::from(c.u8()?);
                self.sl = usize::from(c.u8()?);
                c.skip(1)?;
                c.skip(4)?; // group leaf K, internal K
                c.skip(4)?; // consistency flags
                if version == 1 {
                    c.skip(4)?;
                }
                self.check_sizes()?;
                let base = self.addr(&mut c)?;
                self.set_base(base, at);
                self.addr(&mut c)?; // free space
                self.addr(&mut c)?; // end of file
                let driver = self.addr(&mut c)?;
                if driver != UNDEFINED {
                    self.out
                        .skipped
                        .push("a driver information block (family/multi driver)".to_owned());
                }
                // Root group symbol table entry: link name offset, object header address.
                self.addr(&mut c)?;
                self.addr(&mut c)
            }
            2 | 3 => {
                self.so = usize::from(c.u8()?);
                self.sl = usize::from(c.u8()?);
                c.skip(1)?; // flags
                self.check_sizes()?;
                let base = self.addr(&mut c)?;
                self.set_base(base, at);
                self.addr(&mut c)?; // superblock extension
                self.addr(&mut c)?; // end of file
                self.addr(&mut c)
            }
            _ => {
                self.problem(
                    Some(at as u64),
                    format!("unknown superblock version {version}"),
                );
                None
            }
        }
    }

    fn check_sizes(&mut self) -> Option<()> {
        if [2, 4, 8].contains(&self.so) && [2, 4, 8].contains(&self.sl) {
            Some(())
        } else {
            self.problem(
                None,
                format!("offsets of {} and lengths of {} bytes", self.so, self.sl),
            );
            None
        }
    }

    /// Addresses are relative to the base address, which the library moves to the superblock
    /// when a user block precedes it.
    fn set_base(&mut self, stored: u64, at: usize) {
        self.base = if stored == 0 || stored == UNDEFINED {
            at as u64
        } else {
            stored
        };
    }

    fn walk(&mut self, root: u64) {
        let mut queue = VecDeque::from([Todo {
            addr: root,
            path: "/".to_owned(),
        }]);
        let mut seen = HashSet::new();
        let mut objects = 0usize;
        while let Some(todo) = queue.pop_front() {
            if !seen.insert(todo.addr) {
                continue; // a hard link to an object already read
            }
            objects += 1;
            if objects > MAX_OBJECTS {
                self.problem(
                    None,
                    format!("more than {MAX_OBJECTS} objects; the rest were not read"),
                );
                break;
            }
            let obj = self.object(todo.addr, &todo.path);
            if obj.is_group {
                self.out.groups += 1;
            }
            if obj.is_dataset {
                self.out.datasets += 1;
            }
            for (name, addr) in obj.children {
                let path = if todo.path == "/" {
                    format!("/{name}")
                } else {
                    format!("{}/{name}", todo.path)
                };
                queue.push_back(Todo { addr, path });
            }
        }
    }

    /// Reads an object header and everything its messages point at.
    fn object(&mut self, addr: u64, path: &str) -> Object {
        let mut obj = Object::default();
        let Some(mut c) = self.cur(addr) else {
            self.problem(
                Some(addr),
                format!("object `{path}` at address {addr} is outside the file"),
            );
            return obj;
        };
        let mut blocks: VecDeque<(usize, usize, bool)> = VecDeque::new();
        let v2 = c.data.get(c.pos..c.pos + 4) == Some(&b"OHDR"[..]);
        if v2 {
            let Some(header) = self.v2_header(&mut c) else {
                self.problem(
                    Some(addr),
                    format!("object header of `{path}` is truncated"),
                );
                return obj;
            };
            blocks.push_back(header);
        } else {
            let start = c.pos;
            let parsed = (|| {
                let version = c.u8()?;
                if version != 1 {
                    return None;
                }
                c.skip(1)?;
                c.u16()?;
                c.u32()?;
                let size = c.u32()? as usize;
                c.skip(4)?; // alignment to 8
                Some((c.pos, size))
            })();
            match parsed {
                Some((pos, size)) => blocks.push_back((pos, size, false)),
                None => {
                    self.problem(
                        Some(start as u64),
                        format!("object `{path}` has no valid object header"),
                    );
                    return obj;
                }
            }
        }
        let mut seen_blocks = HashSet::new();
        while let Some((pos, size, v2)) = blocks.pop_front() {
            if !seen_blocks.insert(pos) || seen_blocks.len() > 4096 {
                self.problem(
                    Some(pos as u64),
                    format!("object header of `{path}` continues into itself"),
                );
                break;
            }
            let Some(end) = pos.checked_add(size).filter(|&e| e <= self.data.len()) else {
                self.problem(
                    Some(pos as u64),
                    format!("object header block of `{path}` ({size} bytes) runs past the end"),
                );
                continue;
            };
            let data: &'a [u8] = self.data;
            let mut c = Cur::new(&data[..end], pos);
            loop {
                self.messages += 1;
                if self.messages > MAX_MESSAGES {
                    if self.messages == MAX_MESSAGES + 1 {
                        self.problem(None, format!("more than {MAX_MESSAGES} header messages"));
                    }
                    return obj;
                }
                let header = if v2 {
                    if c.left() < 4 {
                        break;
                    }
                    (|| {
                        let t = u16::from(c.u8()?);
                        let s = c.u16()? as usize;
                        let f = c.u8()?;
                        Some((t, s, f))
                    })()
                } else {
                    if c.left() < 8 {
                        break;
                    }
                    (|| {
                        let t = c.u16()?;
                        let s = c.u16()? as usize;
                        let f = c.u8()?;
                        c.skip(3)?;
                        Some((t, s, f))
                    })()
                };
                let Some((kind, msize, flags)) = header else {
                    break;
                };
                if v2 && self.v2_flags & 0x04 != 0 && c.skip(2).is_none() {
                    break;
                }
                let Some(body) = c.take(msize) else {
                    self.problem(
                        Some(c.pos as u64),
                        format!("a message of `{path}` ({msize} bytes) runs past its header block"),
                    );
                    break;
                };
                let body_at = c.pos - msize;
                self.message(kind, flags, body, body_at, path, &mut obj, &mut blocks);
            }
        }
        obj
    }

    fn v2_header(&mut self, c: &mut Cur<'_>) -> Option<(usize, usize, bool)> {
        c.skip(4)?;
        let version = c.u8()?;
        if version != 2 {
            return None;
        }
        let flags = c.u8()?;
        self.v2_flags = flags;
        if flags & 0x20 != 0 {
            c.skip(16)?;
        }
        if flags & 0x10 != 0 {
            c.skip(4)?;
        }
        let size = c.uint(1 << (flags & 3))? as usize;
        Some((c.pos, size, true))
    }

    #[allow(clippy::too_many_arguments)]
    fn message(
        &mut self,
        kind: u16,
        flags: u8,
        body: &'a [u8],
        body_at: usize,
        path: &str,
        obj: &mut Object,
        blocks: &mut VecDeque<(usize, usize, bool)>,
    ) {
        let mut c = Cur::new(body, 0);
        let at = Some(body_at as u64);
        match kind {
            // Link info: dense links in a fractal heap.
            0x0002 => {
                obj.is_group = true;
                if let Some((heap, index)) = self.link_info(&mut c) {
                    for record in self.heap_objects(heap, index, 5) {
                        let mut lc = Cur::new(&record, 0);
                        self.link(&mut lc, path, obj, at);
                    }
                }
            }
            0x0006 => {
                obj.is_group = true;
                self.link(&mut c, path, obj, at);
            }
            0x0007 => self.external_files(&mut c, path, at),
            0x0008 => {
                obj.is_dataset = true;
                self.layout(&mut c, path, at);
            }
            0x000C => {
                if flags & 0x02 != 0 {
                    self.out
                        .skipped
                        .push(format!("a shared attribute of `{path}`"));
                } else {
                    self.attribute(&mut c, path, at);
                }
            }
            0x0010 => {
                let cont = (|| Some((self.addr(&mut c)?, self.length(&mut c)?)))();
                match cont.and_then(|(a, l)| Some((self.pos(a, usize::try_from(l).ok()?)?, l))) {
                    Some((pos, len)) => {
                        let len = len as usize;
                        if self.data.get(pos..pos + 4) == Some(&b"OCHK"[..]) {
                            // Signature and checksum around the messages.
                            blocks.push_back((pos + 4, len.saturating_sub(8), true));
                        } else {
                            blocks.push_back((pos, len, false));
                        }
                    }
                    None => self.problem(
                        at,
                        format!("a continuation of `{path}`'s header points outside the file"),
                    ),
                }
            }
            0x0011 => {
                obj.is_group = true;
                let st = (|| Some((self.addr(&mut c)?, self.addr(&mut c)?)))();
                match st {
                    Some((btree, heap)) => self.symbol_table(btree, heap, path, obj),
                    None => {
                        self.problem(at, format!("symbol table message of `{path}` is truncated"))
                    }
                }
            }
            // Attribute info: dense attributes in a fractal heap.
            0x0015 => {
                let info = (|| {
                    c.u8()?;
                    let f = c.u8()?;
                    if f & 1 != 0 {
                        c.u16()?;
                    }
                    let heap = self.addr(&mut c)?;
                    let index = self.addr(&mut c)?;
                    Some((heap, index))
                })();
                if let Some((heap, index)) = info
                    && heap != UNDEFINED
                {
                    for record in self.heap_objects(heap, index, 8) {
                        let mut ac = Cur::new(&record, 0);
                        self.attribute(&mut ac, path, at);
                    }
                }
            }
            _ => {}
        }
    }

    fn link_info(&mut self, c: &mut Cur<'_>) -> Option<(u64, u64)> {
        c.u8()?;
        let flags = c.u8()?;
        if flags & 1 != 0 {
            c.skip(8)?;
        }
        let heap = self.addr(c)?;
        let index = self.addr(c)?;
        (heap != UNDEFINED).then_some((heap, index))
    }

    /// A link message (compact storage, or a dense-storage heap object).
    fn link(&mut self, c: &mut Cur<'_>, path: &str, obj: &mut Object, at: Option<u64>) {
        let parsed = (|| {
            let version = c.u8()?;
            if version != 1 {
                return None;
            }
            let flags = c.u8()?;
            let kind = if flags & 0x08 != 0 { c.u8()? } else { 0 };
            if flags & 0x04 != 0 {
                c.skip(8)?;
            }
            if flags & 0x10 != 0 {
                c.skip(1)?;
            }
            let name_len = c.uint(1 << (flags & 3))? as usize;
            let name = String::from_utf8_lossy(c.take(name_len)?).into_owned();
            Some((kind, name))
        })();
        let Some((kind, name)) = parsed else {
            return self.problem(
                at,
                format!("a link in `{path}` is truncated or of an unknown version"),
            );
        };
        self.out.links += 1;
        let full = join(path, &name);
        match kind {
            0 => match self.addr(c) {
                Some(addr) => obj.children.push((name, addr)),
                None => self.problem(at, format!("hard link `{full}` is truncated")),
            },
            1 => {
                let target = c
                    .u16()
                    .and_then(|n| c.take(usize::from(n)))
                    .map(|t| String::from_utf8_lossy(t).into_owned());
                if let Some(t) = target
                    && self.out.soft_links.len() < 10_000
                {
                    self.out.soft_links.push((full, t));
                }
            }
            64 => {
                let value = c.u16().and_then(|n| c.take(usize::from(n)));
                let parsed = value.and_then(|v| {
                    let mut vc = Cur::new(v, 1);
                    let file = vc.cstr()?;
                    let object = vc.cstr().unwrap_or_default();
                    Some((file, object))
                });
                match parsed {
                    Some((file, object)) => self.out.externals.push(External::Link {
                        link: full,
                        file: String::from_utf8_lossy(&file).into_owned(),
                        object: String::from_utf8_lossy(&object).into_owned(),
                    }),
                    None => self.problem(at, format!("external link `{full}` is truncated")),
                }
            }
            other => self.out.externals.push(External::Link {
                link: full,
                file: format!("<user-defined link type {other}>"),
                object: String::new(),
            }),
        }
    }

    /// A local heap's data segment.
    fn local_heap(&mut self, addr: u64) -> Option<&'a [u8]> {
        let mut c = self.cur(addr)?;
        if c.take(4)? != b"HEAP" {
            return None;
        }
        c.skip(4)?;
        let size = self.length(&mut c)?;
        self.length(&mut c)?;
        let seg = self.addr(&mut c)?;
        let pos = self.pos(seg, usize::try_from(size).ok()?)?;
        Some(&self.data[pos..pos + size as usize])
    }

    /// An old-style group: a version-1 B-tree of symbol table nodes, names in a local heap.
    fn symbol_table(&mut self, btree: u64, heap: u64, path: &str, obj: &mut Object) {
        let Some(names) = self.local_heap(heap) else {
            return self.problem(
                Some(heap),
                format!("the local heap of group `{path}` is unreadable"),
            );
        };
        let mut nodes = vec![btree];
        while let Some(node) = nodes.pop() {
            if !self.visit_block(node) {
                continue;
            }
            let Some(mut c) = self.cur(node) else {
                self.problem(
                    Some(node),
                    format!("a B-tree node of `{path}` is outside the file"),
                );
                continue;
            };
            match c.take(4) {
                Some(b"TREE") => {
                    let parsed = (|| {
                        let kind = c.u8()?;
                        let level = c.u8()?;
                        let used = c.u16()?;
                        self.addr(&mut c)?;
                        self.addr(&mut c)?;
                        Some((kind, level, used))
                    })();
                    let Some((0, level, used)) = parsed else {
                        self.problem(
                            Some(node),
                            format!("a B-tree node of `{path}` is not a group node"),
                        );
                        continue;
                    };
                    for _ in 0..used {
                        let child = (|| {
                            self.length(&mut c)?;
                            self.addr(&mut c)
                        })();
                        match child {
                            Some(child) if level > 0 => nodes.push(child),
                            Some(child) => self.symbol_node(child, names, path, obj),
                            None => {
                                self.problem(
                                    Some(node),
                                    format!("a B-tree node of `{path}` is truncated"),
                                );
                                break;
                            }
                        }
                    }
                }
                _ => self.problem(
                    Some(node),
                    format!("group `{path}` points at no B-tree node"),
                ),
            }
        }
    }

    fn symbol_node(&mut self, addr: u64, names: &[u8], path: &str, obj: &mut Object) {
        if !self.visit_block(addr) {
            return;
        }
        let Some(mut c) = self.cur(addr) else {
            return self.problem(
                Some(addr),
                format!("a symbol table node of `{path}` is outside the file"),
            );
        };
        if c.take(4) != Some(&b"SNOD"[..]) || c.skip(2).is_none() {
            return self.problem(
                Some(addr),
                format!("group `{path}` points at no symbol table node"),
            );
        }
        let Some(count) = c.u16() else { return };
        for _ in 0..count {
            let entry = (|| {
                let name_off = self.length(&mut c)?;
                let header = self.addr(&mut c)?;
                let cache = c.u32()?;
                c.skip(4)?;
                let scratch = c.take(16)?;
                Some((name_off, header, cache, scratch))
            })();
            let Some((name_off, header, cache, scratch)) = entry else {
                return self.problem(
                    Some(addr),
                    format!("a symbol table node of `{path}` is truncated"),
                );
            };
            let name = heap_string(names, name_off);
            self.out.links += 1;
            if cache == 2 {
                let off = u32::from_le_bytes(scratch[..4].try_into().unwrap_or([0; 4]));
                let target = heap_string(names, u64::from(off));
                if self.out.soft_links.len() < 10_000 {
                    self.out.soft_links.push((join(path, &name), target));
                }
            } else {
                obj.children.push((name, header));
            }
        }
    }

    /// External Data Files message: a dataset's raw bytes read from other files.
    fn external_files(&mut self, c: &mut Cur<'_>, path: &str, at: Option<u64>) {
        let parsed = (|| {
            c.u8()?;
            c.skip(3)?;
            c.u16()?;
            let used = c.u16()?;
            let heap = self.addr(c)?;
            Some((used, heap))
        })();
        let Some((used, heap)) = parsed else {
            return self.problem(at, format!("external storage of `{path}` is truncated"));
        };
        let names = self.local_heap(heap);
        for _ in 0..used {
            let slot = (|| {
                let name = self.length(c)?;
                self.length(c)?;
                self.length(c)?;
                Some(name)
            })();
            let Some(name_off) = slot else { break };
            let file = match names {
                Some(n) => heap_string(n, name_off),
                None => "<unreadable name>".to_owned(),
            };
            self.out.externals.push(External::Storage {
                dataset: path.to_owned(),
                file,
            });
        }
    }

    /// Data layout: only virtual datasets (class 3) lead elsewhere.
    fn layout(&mut self, c: &mut Cur<'_>, path: &str, at: Option<u64>) {
        let Some(version) = c.u8() else { return };
        if version != 4 || c.u8() != Some(3) {
            return;
        }
        let global = (|| Some((self.addr(c)?, c.u32()?)))();
        let Some((collection, index)) = global else {
            return self.problem(
                at,
                format!("virtual dataset `{path}` has a truncated layout"),
            );
        };
        let Some(blob) = self.global_object(collection, index) else {
            return self.problem(
                at,
                format!("virtual dataset `{path}`'s mapping is unreadable"),
            );
        };
        let mut vc = Cur::new(blob, 0);
        let Some(_version) = vc.u8() else { return };
        let Some(count) = self.length(&mut vc) else {
            return;
        };
        for _ in 0..count.min(100_000) {
            let entry = (|| {
                let file = vc.cstr()?;
                let source = vc.cstr()?;
                skip_selection(&mut vc)?;
                skip_selection(&mut vc)?;
                Some((file, source))
            })();
            let Some((file, source)) = entry else {
                self.problem(
                    at,
                    format!("virtual dataset `{path}`'s mapping is truncated"),
                );
                break;
            };
            self.out.externals.push(External::Virtual {
                dataset: path.to_owned(),
                file: String::from_utf8_lossy(&file).into_owned(),
                source: String::from_utf8_lossy(&source).into_owned(),
            });
        }
    }

    /// One object of a global heap collection.
    fn global_object(&mut self, collection: u64, index: u32) -> Option<&'a [u8]> {
        let mut c = self.cur(collection)?;
        if c.take(4)? != b"GCOL" {
            return None;
        }
        c.skip(4)?;
        let size = usize::try_from(self.length(&mut c)?).ok()?;
        let start = self.pos(collection, size)?;
        let mut c = Cur::new(&self.data[..start + size], c.pos);
        loop {
            let id = c.u16()?;
            c.skip(6)?;
            let len = usize::try_from(self.length(&mut c)?).ok()?;
            if id == 0 {
                return None;
            }
            if u32::from(id) == index {
                return c.take(len);
            }
            c.skip(len.div_ceil(8) * 8)?;
        }
    }

    fn attribute(&mut self, c: &mut Cur<'_>, path: &str, at: Option<u64>) {
        let parsed = (|| {
            let version = c.u8()?;
            let flags = c.u8()?;
            let name_len = usize::from(c.u16()?);
            let dt_len = usize::from(c.u16()?);
            let ds_len = usize::from(c.u16()?);
            if version == 3 {
                c.u8()?;
            }
            let pad = |n: usize| if version == 1 { n.div_ceil(8) * 8 } else { n };
            let name = c.take(pad(name_len))?;
            let name = &name[..name_len.min(name.len())];
            let name = String::from_utf8_lossy(name.split(|&b| b == 0).next().unwrap_or_default())
                .into_owned();
            let dt = c.take(pad(dt_len))?;
            let ds = c.take(pad(ds_len))?;
            (1..=3).contains(&version).then_some((flags, name, dt, ds))
        })();
        let Some((flags, name, dt, ds)) = parsed else {
            return self.problem(
                at,
                format!("an attribute of `{path}` is truncated or of an unknown version"),
            );
        };
        if flags & 0x03 != 0 {
            self.out.skipped.push(format!(
                "attribute `{name}` of `{path}` with a shared datatype or dataspace"
            ));
            return;
        }
        let count = dataspace_elements(ds, self.sl);
        let value = self.attr_value(dt, count, c, path, &name, at);
        if self.out.attributes.len() < 100_000 {
            self.out.attributes.push(Attribute {
                object: path.to_owned(),
                name,
                value,
            });
        }
    }

    fn attr_value(
        &mut self,
        dt: &[u8],
        count: Option<u64>,
        c: &mut Cur<'_>,
        path: &str,
        name: &str,
        at: Option<u64>,
    ) -> AttrValue {
        let mut dc = Cur::new(dt, 0);
        let (Some(class_version), Some(bits), Some(size)) = (dc.u8(), dc.take(3), dc.u32()) else {
            return AttrValue::Other {
                class: 255,
                bytes: 0,
            };
        };
        let class = class_version & 0x0f;
        let size = size as usize;
        let count = count.unwrap_or(0);
        if count > MAX_ELEMENTS {
            self.out.skipped.push(format!(
                "attribute `{name}` of `{path}` with {count} elements"
            ));
            return AttrValue::Other { class, bytes: 0 };
        }
        let count = count as usize;
        match class {
            3 => {
                let Some(all) = size.checked_mul(count).and_then(|n| c.take(n)) else {
                    self.problem(
                        at,
                        format!("attribute `{name}` of `{path}` holds less data than declared"),
                    );
                    return AttrValue::Other { class, bytes: 0 };
                };
                let strings = all
                    .chunks(size.max(1))
                    .map(|s| trim_nul(s).to_vec())
                    .collect::<Vec<_>>();
                self.account(&strings);
                AttrValue::Strings(strings)
            }
            9 if bits[0] & 0x0f == 1 || vlen_of_bytes(dt) => {
                let mut strings = Vec::new();
                for _ in 0..count {
                    let element = (|| {
                        let len = c.u32()? as usize;
                        let collection = self.addr(c)?;
                        let index = c.u32()?;
                        Some((len, collection, index))
                    })();
                    let Some((len, collection, index)) = element else {
                        self.problem(
                            at,
                            format!("attribute `{name}` of `{path}` holds less data than declared"),
                        );
                        break;
                    };
                    if len == 0 {
                        strings.push(Vec::new());
                        continue;
                    }
                    match self.global_object(collection, index) {
                        Some(bytes) => {
                            strings.push(trim_nul(&bytes[..len.min(bytes.len())]).to_vec())
                        }
                        None => {
                            self.problem(
                                at,
                                format!("attribute `{name}` of `{path}` points at a missing global heap object"),
                            );
                        }
                    }
                }
                self.account(&strings);
                AttrValue::Strings(strings)
            }
            _ => AttrValue::Other {
                class,
                bytes: size.saturating_mul(count),
            },
        }
    }

    fn account(&mut self, strings: &[Vec<u8>]) {
        self.string_bytes += strings.iter().map(Vec::len).sum::<usize>();
        if self.string_bytes > MAX_STRING_BYTES {
            self.problem(None, "attribute strings pass 256 MiB");
        }
    }

    /// The objects of a fractal heap (dense links: B-tree type 5; dense attributes: type 8),
    /// in the order of the name index.
    fn heap_objects(&mut self, heap: u64, index: u64, btree_type: u8) -> Vec<Vec<u8>> {
        let Some(h) = self.fractal_heap(heap) else {
            self.problem(
                Some(heap),
                "a fractal heap (dense links or attributes) is unreadable",
            );
            return Vec::new();
        };
        let records = self.btree2(index, btree_type);
        let mut out = Vec::new();
        for record in records {
            let id = match btree_type {
                5 => record.get(4..),
                _ => record.get(..h.id_len.min(record.len())),
            };
            let Some(id) = id else { continue };
            match self.heap_object(&h, id) {
                Some(bytes) => out.push(bytes),
                None => self.problem(Some(heap), "a dense link or attribute is outside its heap"),
            }
        }
        out
    }

    fn fractal_heap(&mut self, addr: u64) -> Option<Heap> {
        let mut c = self.cur(addr)?;
        if c.take(4)? != b"FRHP" {
            return None;
        }
        c.u8()?;
        let id_len = usize::from(c.u16()?);
        let filter_len = c.u16()?;
        c.u8()?;
        let max_managed = c.u32()?;
        self.length(&mut c)?;
        let huge_index = self.addr(&mut c)?;
        self.length(&mut c)?; // free space in managed blocks
        self.addr(&mut c)?; // free-space manager
        for _ in 0..8 {
            // managed space, allocated, iterator offset, managed objects, huge size and
            // count, tiny size and count
            self.length(&mut c)?;
        }
        let width = usize::from(c.u16()?);
        let start = self.length(&mut c)?;
        let max_direct = self.length(&mut c)?;
        let max_heap_bits = c.u16()?;
        c.u16()?;
        let root = self.addr(&mut c)?;
        let rows = usize::from(c.u16()?);
        if filter_len > 0 {
            self.out
                .skipped
                .push("a filtered (compressed) fractal heap".to_owned());
            return None;
        }
        if width == 0
            || width > 65_536
            || start == 0
            || !start.is_power_of_two()
            || max_direct < start
        {
            return None;
        }
        let off_size = usize::from(max_heap_bits).div_ceil(8);
        let len_size = (max_direct.trailing_zeros() as usize)
            .div_ceil(8)
            .min(enc_size(u64::from(max_managed)));
        let mut heap = Heap {
            id_len,
            off_size,
            len_size,
            blocks: Vec::new(),
            huge: Vec::new(),
        };
        if rows == 0 {
            heap.blocks.push((0, root, start));
        } else {
            self.indirect(&mut heap, root, rows, width, start, max_direct, 0);
        }
        if huge_index != UNDEFINED {
            for record in self.btree2(huge_index, 1) {
                let mut rc = Cur::new(&record, 0);
                let rec = (|| {
                    Some((
                        self.addr(&mut rc)?,
                        self.length(&mut rc)?,
                        self.length(&mut rc)?,
                    ))
                })();
                if let Some((a, l, id)) = rec {
                    heap.huge.push((id, a, l));
                }
            }
        }
        Some(heap)
    }

    /// Collects the direct blocks below an indirect block (heap offset, address, size).
    #[allow(clippy::too_many_arguments)]
    fn indirect(
        &mut self,
        heap: &mut Heap,
        addr: u64,
        rows: usize,
        width: usize,
        start: u64,
        max_direct: u64,
        depth: u32,
    ) {
        if depth > 16 || !self.visit_block(addr) {
            return;
        }
        let Some(mut c) = self.cur(addr) else { return };
        if c.take(4) != Some(&b"FHIB"[..]) || c.skip(1 + self.so + heap.off_size).is_none() {
            return self.problem(Some(addr), "a fractal heap indirect block is unreadable");
        }
        let mut back = c;
        back.pos -= heap.off_size;
        let Some(block_off) = back.uint(heap.off_size) else {
            return;
        };
        let max_direct_rows = (max_direct / start).trailing_zeros() as usize + 2;
        let mut offset = block_off;
        for row in 0..rows.min(64) {
            let size = if row < 2 { start } else { start << (row - 1) };
            for _ in 0..width {
                let Some(child) = self.addr(&mut c) else {
                    return self.problem(Some(addr), "a fractal heap indirect block is truncated");
                };
                if row < max_direct_rows {
                    if child != UNDEFINED && heap.blocks.len() < MAX_BLOCKS {
                        heap.blocks.push((offset, child, size));
                    }
                } else if child != UNDEFINED {
                    let first_row_bits = start.trailing_zeros() + (width as u64).trailing_zeros();
                    let child_rows =
                        size.trailing_zeros().saturating_sub(first_row_bits) as usize + 1;
                    self.indirect(heap, child, child_rows, width, start, max_direct, depth + 1);
                }
                offset = offset.saturating_add(size);
            }
        }
    }

    fn heap_object(&mut self, heap: &Heap, id: &[u8]) -> Option<Vec<u8>> {
        let mut c = Cur::new(id, 0);
        let flags = c.u8()?;
        match (flags >> 4) & 3 {
            0 => {
                let offset = c.uint(heap.off_size)?;
                let len = usize::try_from(c.uint(heap.len_size)?).ok()?;
                let &(block_off, addr, size) = heap
                    .blocks
                    .iter()
                    .find(|(o, _, s)| offset >= *o && offset < o + s)?;
                let inside = usize::try_from(offset - block_off).ok()?;
                if inside.checked_add(len)? as u64 > size {
                    return None;
                }
                let pos = self.pos(addr, inside + len)?;
                Some(self.data[pos + inside..pos + inside + len].to_vec())
            }
            1 => {
                // Huge object: its address and length directly in the ID when the ID is long
                // enough, else a key into the huge-object B-tree.
                if id.len() >= 1 + self.so + self.sl {
                    let a = self.addr(&mut c)?;
                    let l = usize::try_from(self.length(&mut c)?).ok()?;
                    let pos = self.pos(a, l)?;
                    return Some(self.data[pos..pos + l].to_vec());
                }
                let key = c.uint(id.len() - 1)?;
                let &(_, a, l) = heap.huge.iter().find(|(k, _, _)| *k == key)?;
                let l = usize::try_from(l).ok()?;
                let pos = self.pos(a, l)?;
                Some(self.data[pos..pos + l].to_vec())
            }
            2 => {
                let len = usize::from(flags & 0x0f) + 1;
                Some(c.take(len)?.to_vec())
            }
            _ => None,
        }
    }

    /// Every record of a version-2 B-tree of the given type.
    fn btree2(&mut self, addr: u64, want: u8) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let Some(mut c) = self.cur(addr) else {
            return out;
        };
        let header = (|| {
            if c.take(4)? != b"BTHD" {
                return None;
            }
            c.u8()?;
            let kind = c.u8()?;
            let node_size = c.u32()? as usize;
            let rec_size = usize::from(c.u16()?);
            let depth = usize::from(c.u16()?);
            c.skip(2)?;
            let root = self.addr(&mut c)?;
            let root_n = usize::from(c.u16()?);
            Some((kind, node_size, rec_size, depth, root, root_n))
        })();
        let Some((kind, node_size, rec_size, depth, root, root_n)) = header else {
            self.problem(Some(addr), "a version-2 B-tree header is unreadable");
            return out;
        };
        if kind != want || rec_size == 0 || node_size < 10 + rec_size || depth > 16 {
            self.problem(
                Some(addr),
                format!("a version-2 B-tree of type {kind} where {want} was expected"),
            );
            return out;
        }
        if root == UNDEFINED {
            return out;
        }
        // Sizes of the child pointers at each depth (H5B2__hdr_init).
        let mut max_nrec = vec![((node_size - 10) / rec_size) as u64];
        let mut cum = vec![max_nrec[0]];
        let mut cum_size = vec![0usize];
        let max_nrec_size = enc_size(max_nrec[0]);
        for u in 1..=depth {
            let ptr = self.so + max_nrec_size + cum_size[u - 1];
            let n = (node_size.saturating_sub(10 + ptr) / (rec_size + ptr)) as u64;
            max_nrec.push(n);
            let c = (n + 1).saturating_mul(cum[u - 1]).saturating_add(n);
            cum.push(c);
            cum_size.push(enc_size(c));
        }
        let mut stack = vec![(root, root_n, depth)];
        while let Some((node, n, d)) = stack.pop() {
            if !self.visit_block(node) {
                continue;
            }
            let Some(mut c) = self.cur(node) else {
                continue;
            };
            let sig: &[u8] = if d == 0 { b"BTLF" } else { b"BTIN" };
            if c.take(4) != Some(sig) || c.skip(2).is_none() {
                self.problem(Some(node), "a version-2 B-tree node is unreadable");
                continue;
            }
            if n as u64 > max_nrec[d] {
                self.problem(
                    Some(node),
                    "a version-2 B-tree node holds more records than fit",
                );
                continue;
            }
            for _ in 0..n {
                match c.take(rec_size) {
                    Some(r) if out.len() < MAX_OBJECTS => out.push(r.to_vec()),
                    Some(_) => {}
                    None => break,
                }
            }
            if d > 0 {
                for _ in 0..=n {
                    let child = (|| {
                        let a = self.addr(&mut c)?;
                        let cn = c.uint(max_nrec_size)?;
                        if d > 1 {
                            c.uint(cum_size[d - 1])?;
                        }
                        Some((a, cn as usize))
                    })();
                    match child {
                        Some((a, cn)) => stack.push((a, cn, d - 1)),
                        None => break,
                    }
                }
            }
        }
        out
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

//! The object walk: object headers (versions 1 and 2, continuation blocks) and their messages.

use super::*;

impl<'a> R<'a> {
    pub(super) fn walk(&mut self, root: u64) {
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
    pub(super) fn object(&mut self, addr: u64, path: &str) -> Object {
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

    pub(super) fn v2_header(&mut self, c: &mut Cur<'_>) -> Option<(usize, usize, bool)> {
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
    pub(super) fn message(
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
}

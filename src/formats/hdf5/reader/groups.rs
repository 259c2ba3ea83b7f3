//! Groups: link messages, old-style symbol tables (B-tree nodes and local heaps).

use super::*;

impl<'a> R<'a> {
    pub(super) fn link_info(&mut self, c: &mut Cur<'_>) -> Option<(u64, u64)> {
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
    pub(super) fn link(&mut self, c: &mut Cur<'_>, path: &str, obj: &mut Object, at: Option<u64>) {
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
    pub(super) fn local_heap(&mut self, addr: u64) -> Option<&'a [u8]> {
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
    pub(super) fn symbol_table(&mut self, btree: u64, heap: u64, path: &str, obj: &mut Object) {
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

    pub(super) fn symbol_node(&mut self, addr: u64, names: &[u8], path: &str, obj: &mut Object) {
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
}

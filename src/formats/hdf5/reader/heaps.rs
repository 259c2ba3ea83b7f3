//! Dense storage: fractal heaps and the version-2 B-trees that index them.

use super::*;

impl<'a> R<'a> {
    /// The objects of a fractal heap (dense links: B-tree type 5; dense attributes: type 8),
    /// in the order of the name index.
    pub(super) fn heap_objects(&mut self, heap: u64, index: u64, btree_type: u8) -> Vec<Vec<u8>> {
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

    pub(super) fn fractal_heap(&mut self, addr: u64) -> Option<Heap> {
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
    pub(super) fn indirect(
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

    pub(super) fn heap_object(&mut self, heap: &Heap, id: &[u8]) -> Option<Vec<u8>> {
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
    pub(super) fn btree2(&mut self, addr: u64, want: u8) -> Vec<Vec<u8>> {
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

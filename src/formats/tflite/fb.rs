//! A bounds-checked FlatBuffers table reader, enough for the TFLite schema: tables through
//! their vtables, scalars, strings, byte vectors and vectors of tables. Every offset is checked
//! against the buffer before use and every vector length against the bytes left, so hostile
//! input yields `None`/`Err`, never a panic or an allocation larger than the file.

use crate::bytes::ReadRef;

/// The whole FlatBuffer.
pub struct Buf<'a> {
    data: &'a [u8],
}

impl<'a> Buf<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Buf { data }
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        self.data.u32_le(at).ok()
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        self.data.u16_le(at).ok()
    }
}

/// A table: its position and its vtable's position and size.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    at: usize,
    vtable: usize,
    vtable_len: usize,
    table_len: usize,
}

/// The root table of `data`, if its vtable is in bounds.
pub fn root(data: &[u8]) -> Option<Table> {
    let buf = Buf::new(data);
    let at = buf.u32_at(0)? as usize;
    table_at(&buf, at)
}

fn table_at(buf: &Buf<'_>, at: usize) -> Option<Table> {
    let soffset = buf.u32_at(at)? as i32;
    let vtable = i64::try_from(at).ok()? - i64::from(soffset);
    let vtable = usize::try_from(vtable).ok()?;
    let vtable_len = usize::from(buf.u16_at(vtable)?);
    let table_len = usize::from(buf.u16_at(vtable + 2)?);
    if vtable_len < 4 || vtable_len % 2 != 0 || vtable.checked_add(vtable_len)? > buf.data.len() {
        return None;
    }
    if table_len < 4 || at.checked_add(table_len)? > buf.data.len() {
        return None;
    }
    Some(Table {
        at,
        vtable,
        vtable_len,
        table_len,
    })
}

impl Table {
    /// Position of field `index`'s value, when present and inside the table.
    fn field(&self, buf: &Buf<'_>, index: usize, size: usize) -> Option<usize> {
        let slot = 4 + 2 * index;
        if slot + 2 > self.vtable_len {
            return None;
        }
        let offset = usize::from(buf.u16_at(self.vtable + slot)?);
        if offset == 0 || offset + size > self.table_len {
            return None;
        }
        Some(self.at + offset)
    }

    pub fn u32(&self, buf: &Buf<'_>, index: usize) -> Option<u32> {
        buf.u32_at(self.field(buf, index, 4)?)
    }

    pub fn u64(&self, buf: &Buf<'_>, index: usize) -> Option<u64> {
        let at = self.field(buf, index, 8)?;
        let b = buf.data.get(at..at.checked_add(8)?)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    /// A table field, when present and inside the buffer.
    pub fn table(&self, buf: &Buf<'_>, index: usize) -> Option<Table> {
        table_at(buf, self.target(buf, index)?)
    }

    pub fn i32(&self, buf: &Buf<'_>, index: usize) -> Option<i32> {
        self.u32(buf, index).map(|v| v as i32)
    }

    pub fn i8(&self, buf: &Buf<'_>, index: usize) -> Option<i8> {
        let at = self.field(buf, index, 1)?;
        buf.data.get(at).map(|&b| b as i8)
    }

    /// The target of an offset field (string, vector, table).
    fn target(&self, buf: &Buf<'_>, index: usize) -> Option<usize> {
        let at = self.field(buf, index, 4)?;
        let rel = buf.u32_at(at)? as usize;
        let target = at.checked_add(rel)?;
        (target < buf.data.len()).then_some(target)
    }

    /// A vector field: position of its first element and its length, checked to fit with
    /// `elem` bytes per element.
    fn vector(
        &self,
        buf: &Buf<'_>,
        index: usize,
        elem: usize,
    ) -> Result<Option<(usize, usize)>, String> {
        let Some(at) = self.target(buf, index) else {
            return Ok(None);
        };
        let len = buf.u32_at(at).ok_or("vector length outside the buffer")? as usize;
        let start = at + 4;
        let left = buf.data.len().saturating_sub(start);
        if len.saturating_mul(elem) > left {
            return Err(format!(
                "vector of {len} elements does not fit in the {left} bytes left"
            ));
        }
        Ok(Some((start, len)))
    }

    pub fn vector_len(&self, buf: &Buf<'_>, index: usize, elem: usize) -> Result<usize, String> {
        Ok(self.vector(buf, index, elem)?.map_or(0, |(_, n)| n))
    }

    pub fn bytes<'a>(&self, buf: &Buf<'a>, index: usize) -> Option<&'a [u8]> {
        let (start, len) = self.vector(buf, index, 1).ok()??;
        buf.data.get(start..start + len)
    }

    pub fn string(&self, buf: &Buf<'_>, index: usize) -> Option<String> {
        self.bytes(buf, index)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// A vector of tables, at most `max` of them.
    pub fn tables(&self, buf: &Buf<'_>, index: usize, max: usize) -> Result<Vec<Table>, String> {
        let Some((start, len)) = self.vector(buf, index, 4)? else {
            return Ok(Vec::new());
        };
        if len > max {
            return Err(format!("{len} entries, over the limit of {max}"));
        }
        let mut out = Vec::with_capacity(len);
        for i in 0..len {
            let at = start + 4 * i;
            let rel = buf.u32_at(at).ok_or("table offset outside the buffer")? as usize;
            let table = at
                .checked_add(rel)
                .and_then(|t| table_at(buf, t))
                .ok_or_else(|| format!("entry {i} points outside the buffer"))?;
            out.push(table);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_never_panics() {
        for len in 0..80usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 91 + 7) as u8).collect();
            if let Some(t) = root(&data) {
                let buf = Buf::new(&data);
                for f in 0..8 {
                    let _ = t.tables(&buf, f, 100);
                    let _ = t.string(&buf, f);
                    let _ = t.u32(&buf, f);
                }
            }
        }
        assert!(root(&[0xff, 0xff, 0xff, 0xff]).is_none());
    }
}

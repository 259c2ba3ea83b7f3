//! One bounds-checked reader for every binary parser, in the manner of gimli-rs/object's
//! `ReadRef`: a read names the offset and length it wanted, and a read past the end is an
//! [`OutOfBounds`] error carrying both (never a panic, never a silent zero).
//!
//! Parsers of hostile input use these instead of indexing: `data.u32_le(at)?` reads a
//! little-endian field, `data.read_at(at, len)?` a slice, `data.has_at(at, sig)` compares a
//! signature. Offsets are `usize` (positions in memory); arithmetic on them is checked.
#![deny(clippy::indexing_slicing, clippy::cast_possible_truncation)] // a binary parser: hostile offsets and sizes

use std::fmt;

/// A read that would pass the end of the data (or whose end overflows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBounds {
    /// Where the read started.
    pub offset: usize,
    /// How many bytes it wanted.
    pub len: usize,
    /// How many bytes the data holds.
    pub size: usize,
}

impl fmt::Display for OutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes at offset {} run past the end of the data ({} bytes)",
            self.len, self.offset, self.size
        )
    }
}

impl std::error::Error for OutOfBounds {}

/// Bounds-checked reads from a byte slice.
pub trait ReadRef<'a>: Copy {
    /// `len` bytes starting at `offset`.
    fn read_at(self, offset: usize, len: usize) -> Result<&'a [u8], OutOfBounds>;

    /// Everything from `offset` to the end (empty at the end, an error past it).
    fn read_from(self, offset: usize) -> Result<&'a [u8], OutOfBounds>;

    /// A fixed-size array starting at `offset`.
    fn read_array<const N: usize>(self, offset: usize) -> Result<[u8; N], OutOfBounds> {
        let bytes = self.read_at(offset, N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn read_u8(self, offset: usize) -> Result<u8, OutOfBounds> {
        Ok(self.read_array::<1>(offset)?[0])
    }

    fn u16_le(self, offset: usize) -> Result<u16, OutOfBounds> {
        self.read_array(offset).map(u16::from_le_bytes)
    }

    fn u32_le(self, offset: usize) -> Result<u32, OutOfBounds> {
        self.read_array(offset).map(u32::from_le_bytes)
    }

    fn u64_le(self, offset: usize) -> Result<u64, OutOfBounds> {
        self.read_array(offset).map(u64::from_le_bytes)
    }

    /// Whether `sig` is at `offset` (false when the data ends first).
    fn has_at(self, offset: usize, sig: &[u8]) -> bool {
        self.read_at(offset, sig.len()).is_ok_and(|b| b == sig)
    }
}

impl<'a> ReadRef<'a> for &'a [u8] {
    fn read_at(self, offset: usize, len: usize) -> Result<&'a [u8], OutOfBounds> {
        let oob = OutOfBounds {
            offset,
            len,
            size: self.len(),
        };
        let end = offset.checked_add(len).ok_or(oob)?;
        self.get(offset..end).ok_or(oob)
    }

    fn read_from(self, offset: usize) -> Result<&'a [u8], OutOfBounds> {
        self.get(offset..).ok_or(OutOfBounds {
            offset,
            len: 0,
            size: self.len(),
        })
    }
}

/// A protobuf varint (base-128, least significant group first, at most ten bytes) at `at`: its
/// value and the position after it; `None` when the data ends first or it runs past ten bytes.
pub fn varint(data: &[u8], mut at: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data.get(at)?;
        at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((value, at));
        }
    }
    None
}

/// A position in the data that advances as fields are read (for sequential formats).
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        Cursor { data, pos }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn take(&mut self, len: usize) -> Result<&'a [u8], OutOfBounds> {
        let bytes = self.data.read_at(self.pos, len)?;
        self.pos += len;
        Ok(bytes)
    }

    pub fn u16_le(&mut self) -> Result<u16, OutOfBounds> {
        let v = self.data.u16_le(self.pos)?;
        self.pos += 2;
        Ok(v)
    }

    pub fn u32_le(&mut self) -> Result<u32, OutOfBounds> {
        let v = self.data.u32_le(self.pos)?;
        self.pos += 4;
        Ok(v)
    }

    pub fn u64_le(&mut self) -> Result<u64, OutOfBounds> {
        let v = self.data.u64_le(self.pos)?;
        self.pos += 8;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_read_and_bounded() {
        assert_eq!(varint(&[0x96, 0x01, 0xff], 0), Some((150, 2)));
        assert_eq!(varint(&[0x80], 0), None);
        assert_eq!(varint(&[0xff; 11], 0), None);
    }

    #[test]
    fn reads_are_checked() {
        let data: &[u8] = &[1, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(data.u16_le(0), Ok(0x0201));
        assert_eq!(data.u32_le(1), Ok(0x0504_0302));
        assert_eq!(data.u64_le(1), Ok(0x0908_0706_0504_0302));
        assert_eq!(
            data.u64_le(2),
            Err(OutOfBounds {
                offset: 2,
                len: 8,
                size: 9
            })
        );
        assert!(data.read_at(usize::MAX, 2).is_err());
        assert!(data.has_at(8, &[9]));
        assert!(!data.has_at(8, &[9, 0]));
        assert_eq!(data.read_from(9), Ok(&[][..]));
        assert!(data.read_from(10).is_err());
        let mut c = Cursor::new(data, 7);
        assert_eq!(c.u16_le(), Ok(0x0908));
        assert!(c.u16_le().is_err());
        assert_eq!(c.pos(), 9);
        assert!(data.u32_le(7).unwrap_err().to_string().contains("offset 7"));
    }
}

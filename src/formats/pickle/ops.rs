//! The pickle opcode set (protocols 0–5, as listed by CPython's `pickletools`) and a reader that
//! decodes one instruction at a time without copying its operands.
#![deny(clippy::indexing_slicing, clippy::cast_possible_truncation)] // a binary parser: hostile offsets and sizes

/// Every opcode the CPython unpickler knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Mark,
    Stop,
    Pop,
    PopMark,
    Dup,
    Float,
    Int,
    BinInt,
    BinInt1,
    Long,
    BinInt2,
    None,
    PersId,
    BinPersId,
    Reduce,
    String,
    BinString,
    ShortBinString,
    Unicode,
    BinUnicode,
    Append,
    Build,
    Global,
    Dict,
    EmptyDict,
    Appends,
    Get,
    BinGet,
    Inst,
    LongBinGet,
    List,
    EmptyList,
    Obj,
    Put,
    BinPut,
    LongBinPut,
    SetItem,
    Tuple,
    EmptyTuple,
    SetItems,
    BinFloat,
    Proto,
    NewObj,
    Ext1,
    Ext2,
    Ext4,
    Tuple1,
    Tuple2,
    Tuple3,
    NewTrue,
    NewFalse,
    Long1,
    Long4,
    BinBytes,
    ShortBinBytes,
    ShortBinUnicode,
    BinUnicode8,
    BinBytes8,
    EmptySet,
    AddItems,
    FrozenSet,
    NewObjEx,
    StackGlobal,
    Memoize,
    Frame,
    ByteArray8,
    NextBuffer,
    ReadonlyBuffer,
}

impl Op {
    /// The opcode a byte stands for.
    #[inline]
    pub fn from_byte(byte: u8) -> Option<Op> {
        OPCODES.get(usize::from(byte)).copied().flatten()
    }

    const fn decode(byte: u8) -> Option<Op> {
        Some(match byte {
            b'(' => Op::Mark,
            b'.' => Op::Stop,
            b'0' => Op::Pop,
            b'1' => Op::PopMark,
            b'2' => Op::Dup,
            b'F' => Op::Float,
            b'I' => Op::Int,
            b'J' => Op::BinInt,
            b'K' => Op::BinInt1,
            b'L' => Op::Long,
            b'M' => Op::BinInt2,
            b'N' => Op::None,
            b'P' => Op::PersId,
            b'Q' => Op::BinPersId,
            b'R' => Op::Reduce,
            b'S' => Op::String,
            b'T' => Op::BinString,
            b'U' => Op::ShortBinString,
            b'V' => Op::Unicode,
            b'X' => Op::BinUnicode,
            b'a' => Op::Append,
            b'b' => Op::Build,
            b'c' => Op::Global,
            b'd' => Op::Dict,
            b'}' => Op::EmptyDict,
            b'e' => Op::Appends,
            b'g' => Op::Get,
            b'h' => Op::BinGet,
            b'i' => Op::Inst,
            b'j' => Op::LongBinGet,
            b'l' => Op::List,
            b']' => Op::EmptyList,
            b'o' => Op::Obj,
            b'p' => Op::Put,
            b'q' => Op::BinPut,
            b'r' => Op::LongBinPut,
            b's' => Op::SetItem,
            b't' => Op::Tuple,
            b')' => Op::EmptyTuple,
            b'u' => Op::SetItems,
            b'G' => Op::BinFloat,
            0x80 => Op::Proto,
            0x81 => Op::NewObj,
            0x82 => Op::Ext1,
            0x83 => Op::Ext2,
            0x84 => Op::Ext4,
            0x85 => Op::Tuple1,
            0x86 => Op::Tuple2,
            0x87 => Op::Tuple3,
            0x88 => Op::NewTrue,
            0x89 => Op::NewFalse,
            0x8a => Op::Long1,
            0x8b => Op::Long4,
            b'B' => Op::BinBytes,
            b'C' => Op::ShortBinBytes,
            0x8c => Op::ShortBinUnicode,
            0x8d => Op::BinUnicode8,
            0x8e => Op::BinBytes8,
            0x8f => Op::EmptySet,
            0x90 => Op::AddItems,
            0x91 => Op::FrozenSet,
            0x92 => Op::NewObjEx,
            0x93 => Op::StackGlobal,
            0x94 => Op::Memoize,
            0x95 => Op::Frame,
            0x96 => Op::ByteArray8,
            0x97 => Op::NextBuffer,
            0x98 => Op::ReadonlyBuffer,
            _ => return None,
        })
    }

    /// The name `pickletools` uses.
    pub fn name(self) -> &'static str {
        match self {
            Op::Mark => "MARK",
            Op::Stop => "STOP",
            Op::Pop => "POP",
            Op::PopMark => "POP_MARK",
            Op::Dup => "DUP",
            Op::Float => "FLOAT",
            Op::Int => "INT",
            Op::BinInt => "BININT",
            Op::BinInt1 => "BININT1",
            Op::Long => "LONG",
            Op::BinInt2 => "BININT2",
            Op::None => "NONE",
            Op::PersId => "PERSID",
            Op::BinPersId => "BINPERSID",
            Op::Reduce => "REDUCE",
            Op::String => "STRING",
            Op::BinString => "BINSTRING",
            Op::ShortBinString => "SHORT_BINSTRING",
            Op::Unicode => "UNICODE",
            Op::BinUnicode => "BINUNICODE",
            Op::Append => "APPEND",
            Op::Build => "BUILD",
            Op::Global => "GLOBAL",
            Op::Dict => "DICT",
            Op::EmptyDict => "EMPTY_DICT",
            Op::Appends => "APPENDS",
            Op::Get => "GET",
            Op::BinGet => "BINGET",
            Op::Inst => "INST",
            Op::LongBinGet => "LONG_BINGET",
            Op::List => "LIST",
            Op::EmptyList => "EMPTY_LIST",
            Op::Obj => "OBJ",
            Op::Put => "PUT",
            Op::BinPut => "BINPUT",
            Op::LongBinPut => "LONG_BINPUT",
            Op::SetItem => "SETITEM",
            Op::Tuple => "TUPLE",
            Op::EmptyTuple => "EMPTY_TUPLE",
            Op::SetItems => "SETITEMS",
            Op::BinFloat => "BINFLOAT",
            Op::Proto => "PROTO",
            Op::NewObj => "NEWOBJ",
            Op::Ext1 => "EXT1",
            Op::Ext2 => "EXT2",
            Op::Ext4 => "EXT4",
            Op::Tuple1 => "TUPLE1",
            Op::Tuple2 => "TUPLE2",
            Op::Tuple3 => "TUPLE3",
            Op::NewTrue => "NEWTRUE",
            Op::NewFalse => "NEWFALSE",
            Op::Long1 => "LONG1",
            Op::Long4 => "LONG4",
            Op::BinBytes => "BINBYTES",
            Op::ShortBinBytes => "SHORT_BINBYTES",
            Op::ShortBinUnicode => "SHORT_BINUNICODE",
            Op::BinUnicode8 => "BINUNICODE8",
            Op::BinBytes8 => "BINBYTES8",
            Op::EmptySet => "EMPTY_SET",
            Op::AddItems => "ADDITEMS",
            Op::FrozenSet => "FROZENSET",
            Op::NewObjEx => "NEWOBJ_EX",
            Op::StackGlobal => "STACK_GLOBAL",
            Op::Memoize => "MEMOIZE",
            Op::Frame => "FRAME",
            Op::ByteArray8 => "BYTEARRAY8",
            Op::NextBuffer => "NEXT_BUFFER",
            Op::ReadonlyBuffer => "READONLY_BUFFER",
        }
    }
}

/// `Op::decode` for every byte, so that the hot loop decodes with one load.
#[allow(
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "evaluated at compile time with byte < 256: an index out of range fails the build"
)]
static OPCODES: [Option<Op>; 256] = {
    let mut table = [None; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = Op::decode(byte as u8);
        byte += 1;
    }
    table
};

/// An opcode's decoded operand. Byte operands borrow from the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg<'a> {
    None,
    /// Fixed-width integers: BININT*, PROTO, EXT*, binary memo indices, FRAME lengths.
    Int(i64),
    /// Counted bytes: BIN*/SHORT_BIN* strings and bytes, LONG1/LONG4 (little-endian two's
    /// complement), BYTEARRAY8.
    Bytes(&'a [u8]),
    /// A newline-terminated operand without its newline: INT, LONG, FLOAT, STRING (quotes
    /// removed), UNICODE, PERSID, PUT, GET.
    Line(&'a [u8]),
    /// GLOBAL and INST: module line and name line.
    Lines(&'a [u8], &'a [u8]),
    Float(f64),
}

/// One decoded instruction.
#[derive(Debug, Clone, Copy)]
pub struct Instr<'a> {
    pub op: Op,
    /// Offset of the opcode byte.
    pub pos: usize,
    pub arg: Arg<'a>,
    /// Offset of the next instruction.
    pub next: usize,
}

/// Why an instruction could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// The data ends inside the instruction (`needed` bytes more than there are).
    Truncated {
        op: Option<Op>,
        pos: usize,
    },
    UnknownOpcode {
        byte: u8,
        pos: usize,
    },
    BadArgument {
        op: Op,
        pos: usize,
        why: &'static str,
    },
}

impl ReadError {
    pub fn pos(self) -> usize {
        match self {
            ReadError::Truncated { pos, .. }
            | ReadError::UnknownOpcode { pos, .. }
            | ReadError::BadArgument { pos, .. } => pos,
        }
    }

    pub fn describe(self) -> String {
        match self {
            ReadError::Truncated { op: Some(op), .. } => {
                format!("the data ends inside a {} instruction", op.name())
            }
            ReadError::Truncated { op: None, .. } => {
                "the data ends before a STOP opcode".to_owned()
            }
            ReadError::UnknownOpcode { byte, .. } => format!("unknown opcode 0x{byte:02x}"),
            ReadError::BadArgument { op, why, .. } => {
                format!("{} has an invalid argument: {why}", op.name())
            }
        }
    }
}

fn take(data: &[u8], from: usize, len: usize) -> Option<&[u8]> {
    data.get(from..from.checked_add(len)?)
}

fn fixed<const N: usize>(data: &[u8], from: usize) -> Option<[u8; N]> {
    take(data, from, N)?.try_into().ok()
}

fn line(data: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let rest = data.get(from..)?;
    let end = rest.iter().position(|&b| b == b'\n')?;
    Some((rest.get(..end)?, from + end + 1))
}

/// Reads the instruction at `pos`.
#[inline(always)]
pub fn read(data: &[u8], pos: usize) -> Result<Instr<'_>, ReadError> {
    let Some(&byte) = data.get(pos) else {
        return Err(ReadError::Truncated { op: None, pos });
    };
    let Some(op) = Op::from_byte(byte) else {
        return Err(ReadError::UnknownOpcode { byte, pos });
    };
    let at = pos + 1;
    let truncated = ReadError::Truncated { op: Some(op), pos };
    let bad = |why| ReadError::BadArgument { op, pos, why };
    let (arg, next) = match op {
        Op::Mark
        | Op::Stop
        | Op::Pop
        | Op::PopMark
        | Op::Dup
        | Op::None
        | Op::BinPersId
        | Op::Reduce
        | Op::Append
        | Op::Build
        | Op::Dict
        | Op::EmptyDict
        | Op::Appends
        | Op::List
        | Op::EmptyList
        | Op::Obj
        | Op::SetItem
        | Op::Tuple
        | Op::EmptyTuple
        | Op::SetItems
        | Op::NewObj
        | Op::Tuple1
        | Op::Tuple2
        | Op::Tuple3
        | Op::NewTrue
        | Op::NewFalse
        | Op::EmptySet
        | Op::AddItems
        | Op::FrozenSet
        | Op::NewObjEx
        | Op::StackGlobal
        | Op::Memoize
        | Op::NextBuffer
        | Op::ReadonlyBuffer => (Arg::None, at),
        Op::Proto | Op::BinInt1 | Op::BinGet | Op::BinPut | Op::Ext1 => {
            let [b] = fixed::<1>(data, at).ok_or(truncated)?;
            (Arg::Int(i64::from(b)), at + 1)
        }
        Op::BinInt2 | Op::Ext2 => {
            let b = fixed::<2>(data, at).ok_or(truncated)?;
            (Arg::Int(i64::from(u16::from_le_bytes(b))), at + 2)
        }
        Op::BinInt => {
            let b = fixed::<4>(data, at).ok_or(truncated)?;
            (Arg::Int(i64::from(i32::from_le_bytes(b))), at + 4)
        }
        Op::LongBinGet | Op::LongBinPut | Op::Ext4 => {
            let b = fixed::<4>(data, at).ok_or(truncated)?;
            (Arg::Int(i64::from(u32::from_le_bytes(b))), at + 4)
        }
        Op::BinFloat => {
            let b = fixed::<8>(data, at).ok_or(truncated)?;
            (Arg::Float(f64::from_be_bytes(b)), at + 8)
        }
        Op::Frame => {
            let b = fixed::<8>(data, at).ok_or(truncated)?;
            let len = i64::try_from(u64::from_le_bytes(b)).map_err(|_| bad("frame too large"))?;
            (Arg::Int(len), at + 8)
        }
        Op::ShortBinString | Op::ShortBinBytes | Op::ShortBinUnicode => {
            let [n] = fixed::<1>(data, at).ok_or(truncated)?;
            let bytes = take(data, at + 1, usize::from(n)).ok_or(truncated)?;
            (Arg::Bytes(bytes), at + 1 + usize::from(n))
        }
        Op::Long1 => {
            let [n] = fixed::<1>(data, at).ok_or(truncated)?;
            let bytes = take(data, at + 1, usize::from(n)).ok_or(truncated)?;
            (Arg::Bytes(bytes), at + 1 + usize::from(n))
        }
        Op::BinString | Op::Long4 => {
            let n = i32::from_le_bytes(fixed::<4>(data, at).ok_or(truncated)?);
            let n = usize::try_from(n).map_err(|_| bad("negative length"))?;
            let bytes = take(data, at + 4, n).ok_or(truncated)?;
            (Arg::Bytes(bytes), at + 4 + n)
        }
        Op::BinUnicode | Op::BinBytes => {
            let n = u32::from_le_bytes(fixed::<4>(data, at).ok_or(truncated)?);
            let n = usize::try_from(n).map_err(|_| truncated)?;
            let bytes = take(data, at + 4, n).ok_or(truncated)?;
            (Arg::Bytes(bytes), at + 4 + n)
        }
        Op::BinUnicode8 | Op::BinBytes8 | Op::ByteArray8 => {
            let n = u64::from_le_bytes(fixed::<8>(data, at).ok_or(truncated)?);
            let n = usize::try_from(n).map_err(|_| truncated)?;
            let bytes = take(data, at + 8, n).ok_or(truncated)?;
            (Arg::Bytes(bytes), at + 8 + n)
        }
        Op::String => {
            let (text, next) = line(data, at).ok_or(truncated)?;
            let inner = match text {
                [q, inner @ .., last] if (*q == b'\'' || *q == b'"') && q == last => inner,
                _ => return Err(bad("the STRING argument must be quoted")),
            };
            (Arg::Line(inner), next)
        }
        Op::Float | Op::Int | Op::Long | Op::PersId | Op::Unicode | Op::Get | Op::Put => {
            let (text, next) = line(data, at).ok_or(truncated)?;
            (Arg::Line(text), next)
        }
        Op::Global | Op::Inst => {
            let (module, after) = line(data, at).ok_or(truncated)?;
            let (name, next) = line(data, after).ok_or(truncated)?;
            (Arg::Lines(module, name), next)
        }
    };
    Ok(Instr { op, pos, arg, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_maps_to_at_most_one_named_opcode() {
        let mut names = std::collections::HashSet::new();
        let mut count = 0;
        for b in 0..=255u8 {
            if let Some(op) = Op::from_byte(b) {
                count += 1;
                assert!(names.insert(op.name()));
            }
        }
        assert_eq!(count, 68);
    }

    #[test]
    fn reads_operands() {
        let data = b"\x80\x04\x8c\x02osX\x06\x00\x00\x00system\x93.";
        let i = read(data, 0).unwrap();
        assert_eq!((i.op, i.arg, i.next), (Op::Proto, Arg::Int(4), 2));
        let i = read(data, 2).unwrap();
        assert_eq!((i.op, i.arg), (Op::ShortBinUnicode, Arg::Bytes(b"os")));
        let i = read(data, i.next).unwrap();
        assert_eq!((i.op, i.arg), (Op::BinUnicode, Arg::Bytes(b"system")));
        let i = read(data, i.next).unwrap();
        assert_eq!(i.op, Op::StackGlobal);
        let i = read(data, i.next).unwrap();
        assert_eq!(i.op, Op::Stop);
        assert!(matches!(
            read(data, i.next),
            Err(ReadError::Truncated { op: None, .. })
        ));
    }

    #[test]
    fn text_operands() {
        let i = read(b"cos\nsystem\n", 0).unwrap();
        assert_eq!(i.arg, Arg::Lines(b"os", b"system"));
        let i = read(b"S'echo hi'\n", 0).unwrap();
        assert_eq!(i.arg, Arg::Line(b"echo hi"));
        assert!(matches!(
            read(b"Secho\n", 0),
            Err(ReadError::BadArgument { .. })
        ));
        assert!(matches!(
            read(b"cos\nsys", 0),
            Err(ReadError::Truncated { .. })
        ));
    }

    #[test]
    fn hostile_lengths_do_not_panic() {
        for data in [
            &b"X\xff\xff\xff\xff"[..],
            b"\x8d\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x95\xff\xff\xff\xff\xff\xff\xff\xff",
            b"T\xff\xff\xff\xff",
            b"\x8b\x00\x00\x00\x80",
            b"\xff",
        ] {
            assert!(read(data, 0).is_err());
        }
    }
}

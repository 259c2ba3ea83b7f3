//! A strict, bounds-checked reader of GGUF v1–v3 (llama.cpp's `gguf.cpp`, gguf-py's
//! `GGUFReader`): header, metadata key/value pairs of every value type (nested arrays
//! included), tensor infos. Declared counts and lengths are checked against the bytes that are
//! left before anything is allocated for them; every problem is returned as a reason, never a
//! panic.

use std::fmt;

/// Metadata value types (`gguf_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    Str,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    fn from_u32(t: u32) -> Option<ValueType> {
        Some(match t {
            0 => ValueType::U8,
            1 => ValueType::I8,
            2 => ValueType::U16,
            3 => ValueType::I16,
            4 => ValueType::U32,
            5 => ValueType::I32,
            6 => ValueType::F32,
            7 => ValueType::Bool,
            8 => ValueType::Str,
            9 => ValueType::Array,
            10 => ValueType::U64,
            11 => ValueType::I64,
            12 => ValueType::F64,
            _ => return None,
        })
    }

    /// Bytes a scalar of this type takes (`None` for strings and arrays).
    fn fixed_size(self) -> Option<u64> {
        Some(match self {
            ValueType::U8 | ValueType::I8 | ValueType::Bool => 1,
            ValueType::U16 | ValueType::I16 => 2,
            ValueType::U32 | ValueType::I32 | ValueType::F32 => 4,
            ValueType::U64 | ValueType::I64 | ValueType::F64 => 8,
            ValueType::Str | ValueType::Array => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ValueType::U8 => "uint8",
            ValueType::I8 => "int8",
            ValueType::U16 => "uint16",
            ValueType::I16 => "int16",
            ValueType::U32 => "uint32",
            ValueType::I32 => "int32",
            ValueType::F32 => "float32",
            ValueType::Bool => "bool",
            ValueType::Str => "string",
            ValueType::Array => "array",
            ValueType::U64 => "uint64",
            ValueType::I64 => "int64",
            ValueType::F64 => "float64",
        }
    }
}

/// One metadata value. Numeric array elements are counted, not kept; strings are kept as
/// slices of the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    UInt(u64),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'a [u8]),
    Array {
        elem: ValueType,
        len: u64,
        /// String elements (for string arrays) or nested arrays (for arrays of arrays).
        items: Vec<Value<'a>>,
    },
}

impl Value<'_> {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::UInt(v) => Some(v),
            Value::Int(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => std::str::from_utf8(s).ok(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue<'a> {
    pub key: String,
    pub ty: ValueType,
    pub value: Value<'a>,
    /// Offset of the key's length field.
    pub offset: u64,
    /// Offset where the value starts.
    pub value_offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    /// Offset relative to the start of the data section.
    pub offset: u64,
    /// Offset of the tensor info in the file.
    pub info_offset: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

/// What the header, metadata and tensor infos hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Gguf<'a> {
    pub version: u32,
    pub endian: Endian,
    pub tensor_count: u64,
    pub kv_count: u64,
    pub kvs: Vec<KeyValue<'a>>,
    pub tensors: Vec<TensorInfo>,
    /// Where the tensor infos end (before alignment padding); `None` if they could not all be
    /// read.
    pub infos_end: Option<u64>,
}

/// Why the file could not be read further, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub offset: u64,
    pub reason: String,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.reason, self.offset)
    }
}

/// Nested arrays deeper than this are refused (no writer nests at all).
pub const MAX_NESTING: u32 = 8;
/// Tensor ranks above ggml's `GGML_MAX_DIMS` are refused by llama.cpp.
pub const MAX_DIMS: u32 = 4;
/// Keys and tensor names longer than this are refused (llama.cpp: `GGML_MAX_NAME` is 64 for
/// tensors; keys have no limit there, but no real key is anywhere near this).
const MAX_KEY: u64 = 1 << 16;

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    endian: Endian,
    /// v1 writes counts and lengths as u32, v2+ as u64.
    wide: bool,
}

type R<T> = Result<T, Malformed>;

impl<'a> Reader<'a> {
    fn fail<T>(&self, reason: impl Into<String>) -> R<T> {
        Err(Malformed {
            offset: self.pos as u64,
            reason: reason.into(),
        })
    }

    fn remaining(&self) -> u64 {
        (self.data.len() - self.pos) as u64
    }

    fn take(&mut self, n: u64, what: &str) -> R<&'a [u8]> {
        let Some(out) = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .and_then(|end| self.data.get(self.pos..end))
        else {
            return self.fail(format!(
                "{what} needs {n} bytes but only {} are left",
                self.remaining()
            ));
        };
        self.pos += out.len();
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> R<[u8; N]> {
        let bytes = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        if self.endian == Endian::Big {
            out.reverse();
        }
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> R<u32> {
        self.array::<4>(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> R<u64> {
        self.array::<8>(what).map(u64::from_le_bytes)
    }

    /// A count or length: u32 in v1, u64 later.
    fn count(&mut self, what: &str) -> R<u64> {
        if self.wide {
            self.u64(what)
        } else {
            self.u32(what).map(u64::from)
        }
    }

    fn string(&mut self, what: &str) -> R<&'a [u8]> {
        let len = self.count(what)?;
        self.take(len, what)
    }

    fn scalar(&mut self, ty: ValueType) -> R<Value<'a>> {
        let what = ty.name();
        Ok(match ty {
            ValueType::U8 => Value::UInt(u64::from(self.array::<1>(what)?[0])),
            ValueType::I8 => Value::Int(i64::from(self.array::<1>(what)?[0] as i8)),
            ValueType::U16 => Value::UInt(u64::from(u16::from_le_bytes(self.array(what)?))),
            ValueType::I16 => Value::Int(i64::from(i16::from_le_bytes(self.array(what)?))),
            ValueType::U32 => Value::UInt(u64::from(u32::from_le_bytes(self.array(what)?))),
            ValueType::I32 => Value::Int(i64::from(i32::from_le_bytes(self.array(what)?))),
            ValueType::F32 => Value::Float(f64::from(f32::from_le_bytes(self.array(what)?))),
            ValueType::U64 => Value::UInt(u64::from_le_bytes(self.array(what)?)),
            ValueType::I64 => Value::Int(i64::from_le_bytes(self.array(what)?)),
            ValueType::F64 => Value::Float(f64::from_le_bytes(self.array(what)?)),
            ValueType::Bool => {
                let b = self.array::<1>(what)?[0];
                if b > 1 {
                    self.pos -= 1;
                    return self.fail(format!("a bool holds {b}, neither 0 nor 1"));
                }
                Value::Bool(b == 1)
            }
            ValueType::Str => Value::Str(self.string("a string value")?),
            ValueType::Array => return self.fail("an array where a scalar was expected"),
        })
    }

    fn value_type(&mut self) -> R<ValueType> {
        let raw = self.u32("a value type")?;
        match ValueType::from_u32(raw) {
            Some(t) => Ok(t),
            None => {
                self.pos -= 4;
                self.fail(format!("unknown metadata value type {raw}"))
            }
        }
    }

    fn value(&mut self, ty: ValueType, depth: u32) -> R<Value<'a>> {
        if ty != ValueType::Array {
            return self.scalar(ty);
        }
        if depth >= MAX_NESTING {
            return self.fail(format!("arrays nested deeper than {MAX_NESTING} levels"));
        }
        let elem = self.value_type()?;
        let len = self.count("an array length")?;
        // Every element takes at least this many bytes: check the count before looping.
        let min = match elem.fixed_size() {
            Some(size) => size,
            None if elem == ValueType::Str => {
                if self.wide {
                    8
                } else {
                    4
                }
            }
            None => {
                if self.wide {
                    12
                } else {
                    8
                }
            }
        };
        if len
            .checked_mul(min)
            .is_none_or(|need| need > self.remaining())
        {
            return self.fail(format!(
                "an array declares {len} {} elements, more than the {} bytes left can hold",
                elem.name(),
                self.remaining()
            ));
        }
        let mut items = Vec::new();
        match elem.fixed_size() {
            Some(size) => {
                if elem == ValueType::Bool {
                    let bytes = self.take(len, "bool array")?;
                    if let Some((i, b)) = bytes.iter().enumerate().find(|&(_, &b)| b > 1) {
                        self.pos -= bytes.len() - i;
                        return self.fail(format!("a bool array element holds {b}"));
                    }
                } else {
                    self.take(len * size, "array elements")?;
                }
            }
            None => {
                for _ in 0..len {
                    items.push(self.value(elem, depth + 1)?);
                }
            }
        }
        Ok(Value::Array { elem, len, items })
    }

    fn name(&mut self, what: &str) -> R<String> {
        let at = self.pos;
        let len = self.count(what)?;
        if len > MAX_KEY {
            self.pos = at;
            return self.fail(format!("{what} is {len} bytes long"));
        }
        let bytes = self.take(len, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => {
                self.pos = at;
                self.fail(format!("{what} is not UTF-8"))
            }
        }
    }
}

/// Reads the header, metadata and tensor infos. On malformed input, returns what was read up
/// to the problem together with the problem.
pub fn parse(data: &[u8]) -> (Option<Gguf<'_>>, Option<Malformed>) {
    let mut gguf = None;
    let result = parse_into(data, &mut gguf);
    (gguf, result.err())
}

fn parse_into<'a>(data: &'a [u8], out: &mut Option<Gguf<'a>>) -> R<()> {
    let mut r = Reader {
        data,
        pos: 0,
        endian: Endian::Little,
        wide: true,
    };
    let magic = r.take(4, "the magic")?;
    if magic != b"GGUF" {
        r.pos = 0;
        return r.fail("does not start with `GGUF`");
    }
    let Ok(raw) = <[u8; 4]>::try_from(r.take(4, "the version")?) else {
        return r.fail("the version is cut short");
    };
    let le = u32::from_le_bytes(raw);
    let be = u32::from_be_bytes(raw);
    let (version, endian) = match (le, be) {
        (1..=3, _) => (le, Endian::Little),
        (_, 1..=3) => (be, Endian::Big),
        _ => {
            r.pos = 4;
            return r.fail(format!(
                "version {le} is not one of the GGUF versions 1, 2, 3"
            ));
        }
    };
    r.endian = endian;
    r.wide = version >= 2;
    let tensor_count = r.count("the tensor count")?;
    let kv_count = r.count("the metadata count")?;
    let gguf = out.insert(Gguf {
        version,
        endian,
        tensor_count,
        kv_count,
        kvs: Vec::new(),
        tensors: Vec::new(),
        infos_end: None,
    });
    // A key/value takes at least a length, a type and one byte; a tensor info a name length,
    // a rank, a type and an offset.
    let (min_kv, min_tensor) = if r.wide { (13, 24) } else { (9, 16) };
    if kv_count
        .checked_mul(min_kv)
        .is_none_or(|n| n > r.remaining())
    {
        return r.fail(format!(
            "declares {kv_count} metadata entries, more than the {} bytes left can hold",
            r.remaining()
        ));
    }
    if tensor_count
        .checked_mul(min_tensor)
        .is_none_or(|n| n > r.remaining())
    {
        return r.fail(format!(
            "declares {tensor_count} tensors, more than the {} bytes left can hold",
            r.remaining()
        ));
    }
    for _ in 0..kv_count {
        let offset = r.pos as u64;
        let key = r.name("a metadata key")?;
        let ty = r.value_type()?;
        let value_offset = r.pos as u64;
        let value = r.value(ty, 0)?;
        gguf.kvs.push(KeyValue {
            key,
            ty,
            value,
            offset,
            value_offset,
        });
    }
    for _ in 0..tensor_count {
        let info_offset = r.pos as u64;
        let name = r.name("a tensor name")?;
        let rank = r.u32("a tensor rank")?;
        if rank > MAX_DIMS {
            r.pos -= 4;
            return r.fail(format!(
                "tensor `{name}` has {rank} dimensions; ggml allows at most {MAX_DIMS}"
            ));
        }
        let mut dims = Vec::with_capacity(rank as usize);
        for _ in 0..rank {
            dims.push(r.count("a tensor dimension")?);
        }
        let ggml_type = r.u32("a tensor type")?;
        let offset = r.u64("a tensor offset")?;
        gguf.tensors.push(TensorInfo {
            name,
            dims,
            ggml_type,
            offset,
            info_offset,
        });
    }
    gguf.infos_end = Some(r.pos as u64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(out: &mut Vec<u8>, text: &str) {
        out.extend_from_slice(&(text.len() as u64).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }

    #[test]
    fn reads_every_value_type_and_nested_arrays() {
        let mut d = b"GGUF".to_vec();
        d.extend_from_slice(&3u32.to_le_bytes());
        d.extend_from_slice(&0u64.to_le_bytes());
        d.extend_from_slice(&3u64.to_le_bytes());
        s(&mut d, "a");
        d.extend_from_slice(&4u32.to_le_bytes());
        d.extend_from_slice(&7u32.to_le_bytes());
        s(&mut d, "b");
        d.extend_from_slice(&9u32.to_le_bytes());
        d.extend_from_slice(&9u32.to_le_bytes());
        d.extend_from_slice(&1u64.to_le_bytes());
        d.extend_from_slice(&8u32.to_le_bytes());
        d.extend_from_slice(&2u64.to_le_bytes());
        s(&mut d, "x");
        s(&mut d, "yz");
        s(&mut d, "c");
        d.extend_from_slice(&7u32.to_le_bytes());
        d.push(1);
        let (g, err) = parse(&d);
        assert_eq!(err, None);
        let g = g.unwrap();
        assert_eq!(g.kvs.len(), 3);
        assert_eq!(g.kvs[0].value, Value::UInt(7));
        let Value::Array { items, .. } = &g.kvs[1].value else {
            panic!()
        };
        let Value::Array { items, len: 2, .. } = &items[0] else {
            panic!()
        };
        assert_eq!(items[1], Value::Str(b"yz"));
        assert_eq!(g.kvs[2].value, Value::Bool(true));
    }

    #[test]
    fn impossible_counts_are_refused_before_allocating() {
        let mut d = b"GGUF".to_vec();
        d.extend_from_slice(&3u32.to_le_bytes());
        d.extend_from_slice(&u64::MAX.to_le_bytes());
        d.extend_from_slice(&0u64.to_le_bytes());
        let (_, err) = parse(&d);
        assert!(err.unwrap().reason.contains("tensors"));
        let mut d = b"GGUF".to_vec();
        d.extend_from_slice(&3u32.to_le_bytes());
        d.extend_from_slice(&0u64.to_le_bytes());
        d.extend_from_slice(&1u64.to_le_bytes());
        s(&mut d, "k");
        d.extend_from_slice(&9u32.to_le_bytes());
        d.extend_from_slice(&8u32.to_le_bytes());
        d.extend_from_slice(&(1u64 << 60).to_le_bytes());
        let (_, err) = parse(&d);
        assert!(err.unwrap().reason.contains("array declares"));
    }

    #[test]
    fn big_endian_and_v1() {
        let mut d = b"GGUF".to_vec();
        d.extend_from_slice(&3u32.to_be_bytes());
        d.extend_from_slice(&0u64.to_be_bytes());
        d.extend_from_slice(&0u64.to_be_bytes());
        let (g, err) = parse(&d);
        assert_eq!(err, None);
        assert_eq!(g.unwrap().endian, Endian::Big);
        let mut d = b"GGUF".to_vec();
        d.extend_from_slice(&1u32.to_le_bytes());
        d.extend_from_slice(&0u32.to_le_bytes());
        d.extend_from_slice(&1u32.to_le_bytes());
        d.extend_from_slice(&1u32.to_le_bytes());
        d.push(b'k');
        d.extend_from_slice(&8u32.to_le_bytes());
        d.extend_from_slice(&2u32.to_le_bytes());
        d.extend_from_slice(b"hi");
        let (g, err) = parse(&d);
        assert_eq!(err, None);
        assert_eq!(g.unwrap().kvs[0].value, Value::Str(b"hi"));
    }
}

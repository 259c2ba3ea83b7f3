//! NumPy `.npy` arrays: the magic, a version, a header that is a Python dict literal, then the
//! array's bytes. The header is read with a small strict literal parser (never evaluated); an
//! object dtype means the array bytes are a pickle, which goes to the pickle analyser, and a
//! numeric dtype means the bytes must be exactly `prod(shape) × itemsize` long.

use crate::detect;
use crate::formats::pickle;
use crate::model::Format;
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, MemberKind};

const MAGIC: &[u8] = b"\x93NUMPY";

/// How deep the header literal may nest (structured dtypes nest lists in tuples).
const MAX_DEPTH: u32 = 32;

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let header = match parse(data) {
        Ok(header) => header,
        Err(why) => {
            ctx.report(
                RuleId::NumpyMalformed,
                Some(0),
                format!("the .npy header cannot be read: {why}"),
                None,
            );
            return;
        }
    };
    let off = header.data_offset;
    let body = data.get(off..).unwrap_or_default();
    if header.dtype.object {
        if body.is_empty() {
            ctx.report(
                RuleId::NumpyMalformed,
                Some(off as u64),
                "the header declares an object array but no pickle follows it",
                None,
            );
            return;
        }
        // numpy.load(allow_pickle=True) unpickles everything after the header.
        pickle::analyse(body, &mut ctx.shifted(off as u64));
        return;
    }
    let expected = header
        .shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_mul(header.dtype.itemsize));
    let Some(expected) = expected else {
        ctx.report(
            RuleId::NumpyMalformed,
            Some(0),
            format!(
                "shape {:?} with {}-byte items overflows any real array size",
                header.shape, header.dtype.itemsize
            ),
            None,
        );
        return;
    };
    let actual = body.len() as u64;
    if actual < expected {
        ctx.report(
            RuleId::NumpyMalformed,
            Some(off as u64),
            format!(
                "shape {:?} of {}-byte items needs {expected} bytes but only {actual} follow the header",
                header.shape, header.dtype.itemsize
            ),
            None,
        );
    } else if actual > expected {
        let tail_at = off.saturating_add(usize::try_from(expected).unwrap_or(usize::MAX));
        let tail = data.get(tail_at..).unwrap_or_default();
        let format = detect::detect(tail);
        ctx.report(
            RuleId::NumpyMalformed,
            Some(tail_at as u64),
            format!(
                "{} bytes follow the array data ({}); numpy ignores them, other readers may not",
                actual - expected,
                if format == Format::Unknown {
                    "unrecognised content".to_owned()
                } else {
                    format!("{} content", format.name())
                }
            ),
            None,
        );
        if !matches!(format, Format::Unknown | Format::Empty) {
            ctx.nested(&format!("trailing@{tail_at}"), tail, MemberKind::Opaque);
        }
    }
}

/// A `.npy` array of little-endian floats, for the robustness probe: item size (2, 4 or 8),
/// shape, and where its bytes are. `None` for anything else or anything malformed.
pub fn float_array(data: &[u8]) -> Option<(u64, Vec<u64>, &[u8])> {
    let header = parse(data).ok()?;
    if !header.dtype.float_le {
        return None;
    }
    let len = header
        .shape
        .iter()
        .try_fold(header.dtype.itemsize, |acc, &d| acc.checked_mul(d))?;
    let end = header.data_offset.checked_add(usize::try_from(len).ok()?)?;
    Some((
        header.dtype.itemsize,
        header.shape,
        data.get(header.data_offset..end)?,
    ))
}

/// What the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Header {
    dtype: Dtype,
    shape: Vec<u64>,
    fortran_order: bool,
    /// Where the array bytes begin.
    data_offset: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dtype {
    itemsize: u64,
    /// The dtype holds Python objects: the data is a pickle.
    object: bool,
    /// A plain little-endian (or byte-order-free) float: its values can be read as numbers.
    float_le: bool,
}

fn parse(data: &[u8]) -> Result<Header, String> {
    if !data.starts_with(MAGIC) {
        return Err("no \\x93NUMPY magic".to_owned());
    }
    let (Some(&major), Some(&minor)) = (data.get(6), data.get(7)) else {
        return Err("the version bytes are missing".to_owned());
    };
    let (len, start) = match (major, minor) {
        (1, 0) => {
            let b = data.get(8..10).ok_or("the header length is truncated")?;
            (usize::from(u16::from_le_bytes([b[0], b[1]])), 10usize)
        }
        (2 | 3, 0) => {
            let b = data.get(8..12).ok_or("the header length is truncated")?;
            let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (
                usize::try_from(len).map_err(|_| "the header length is too large")?,
                12,
            )
        }
        _ => return Err(format!("unknown format version {major}.{minor}")),
    };
    let end = start
        .checked_add(len)
        .ok_or("the header length overflows")?;
    let raw = data.get(start..end).ok_or_else(|| {
        format!(
            "the header declares {len} bytes but only {} follow",
            data.len().saturating_sub(start)
        )
    })?;
    let text: String = if major == 3 {
        std::str::from_utf8(raw)
            .map_err(|_| "a version 3.0 header is not UTF-8")?
            .to_owned()
    } else {
        raw.iter().map(|&b| char::from(b)).collect()
    };
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
    };
    let literal = parser.value(0)?;
    parser.skip_ws();
    if parser.pos != parser.chars.len() {
        return Err("text follows the header dict".to_owned());
    }
    let Lit::Dict(entries) = literal else {
        return Err("the header is not a dict".to_owned());
    };
    let (mut descr, mut shape, mut fortran) = (None, None, None);
    for (key, value) in entries {
        let Lit::Str(key) = key else {
            return Err("a header key is not a string".to_owned());
        };
        let slot = match key.as_str() {
            "descr" => &mut descr,
            "shape" => &mut shape,
            "fortran_order" => &mut fortran,
            other => return Err(format!("unexpected header key {other:?}")),
        };
        if slot.replace(value).is_some() {
            return Err(format!("header key {key:?} appears twice"));
        }
    }
    let (Some(descr), Some(shape), Some(fortran)) = (descr, shape, fortran) else {
        return Err("the header lacks descr, shape or fortran_order".to_owned());
    };
    let Lit::Bool(fortran_order) = fortran else {
        return Err("fortran_order is not True or False".to_owned());
    };
    Ok(Header {
        dtype: dtype(&descr, 0)?,
        shape: dims(&shape)?,
        fortran_order,
        data_offset: end,
    })
}

fn dims(shape: &Lit) -> Result<Vec<u64>, String> {
    let Lit::Tuple(items) = shape else {
        return Err("shape is not a tuple".to_owned());
    };
    items
        .iter()
        .map(|d| match d {
            Lit::Int(n) => u64::try_from(*n).map_err(|_| format!("negative dimension {n}")),
            _ => Err("a shape dimension is not an integer".to_owned()),
        })
        .collect()
}

/// The dtype a `descr` describes: a type string, or a list of structured fields.
fn dtype(descr: &Lit, depth: u32) -> Result<Dtype, String> {
    if depth > MAX_DEPTH {
        return Err("the dtype nests too deeply".to_owned());
    }
    match descr {
        Lit::Str(s) => simple_dtype(s),
        Lit::List(fields) => {
            let mut total = Dtype {
                itemsize: 0,
                object: false,
                float_le: false,
            };
            for field in fields {
                let Lit::Tuple(parts) = field else {
                    return Err("a structured dtype field is not a tuple".to_owned());
                };
                let (name, inner, shape) = match parts.as_slice() {
                    [name, inner] => (name, inner, None),
                    [name, inner, shape] => (name, inner, Some(shape)),
                    _ => return Err("a structured dtype field has the wrong arity".to_owned()),
                };
                match name {
                    Lit::Str(_) => {}
                    Lit::Tuple(t) if t.len() == 2 && t.iter().all(|x| matches!(x, Lit::Str(_))) => {
                    }
                    _ => return Err("a structured dtype field name is not a string".to_owned()),
                }
                let inner = dtype(inner, depth + 1)?;
                let count = match shape {
                    None => 1,
                    Some(Lit::Int(n)) => {
                        u64::try_from(*n).map_err(|_| "negative subarray size".to_owned())?
                    }
                    Some(shape) => dims(shape)?
                        .iter()
                        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                        .ok_or("subarray shape overflows")?,
                };
                let size = inner
                    .itemsize
                    .checked_mul(count)
                    .ok_or("structured dtype size overflows")?;
                total.itemsize = total
                    .itemsize
                    .checked_add(size)
                    .ok_or("structured dtype size overflows")?;
                total.object |= inner.object;
            }
            Ok(total)
        }
        _ => Err("descr is neither a type string nor a field list".to_owned()),
    }
}

/// A dtype string as `numpy.lib.format.dtype_to_descr` writes it: byte order, kind, size.
fn simple_dtype(s: &str) -> Result<Dtype, String> {
    let bad = || format!("unknown dtype {s:?}");
    let body = s.strip_prefix(['<', '>', '|', '=']).unwrap_or(s);
    let mut chars = body.chars();
    let kind = chars.next().ok_or_else(bad)?;
    let rest = chars.as_str();
    let number = |r: &str| -> Option<u64> {
        (!r.is_empty() && r.len() <= 12 && r.bytes().all(|b| b.is_ascii_digit()))
            .then(|| r.parse().ok())
            .flatten()
    };
    let plain = |itemsize| {
        Ok(Dtype {
            itemsize,
            object: false,
            float_le: false,
        })
    };
    match kind {
        'O' if rest.is_empty() || rest == "8" || rest == "4" => Ok(Dtype {
            itemsize: 8,
            object: true,
            float_le: false,
        }),
        '?' if rest.is_empty() => plain(1),
        'b' if rest == "1" => plain(1),
        'i' | 'u' => match number(rest) {
            Some(n @ (1 | 2 | 4 | 8)) => plain(n),
            _ => Err(bad()),
        },
        'f' => match number(rest) {
            Some(n @ (2 | 4 | 8)) => Ok(Dtype {
                itemsize: n,
                object: false,
                float_le: !s.starts_with('>'),
            }),
            Some(n @ (12 | 16)) => plain(n),
            _ => Err(bad()),
        },
        'c' => match number(rest) {
            Some(n @ (8 | 16 | 24 | 32)) => plain(n),
            _ => Err(bad()),
        },
        'S' | 'a' | 'V' => number(rest).map_or_else(|| Err(bad()), plain),
        'U' => number(rest)
            .and_then(|n| n.checked_mul(4))
            .map_or_else(|| Err(bad()), plain),
        'M' | 'm' => {
            let unit = rest.strip_prefix('8').ok_or_else(bad)?;
            let valid = unit.is_empty()
                || (unit.starts_with('[')
                    && unit.ends_with(']')
                    && unit.len() <= 16
                    && unit[1..unit.len() - 1]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric()));
            if valid { plain(8) } else { Err(bad()) }
        }
        _ => Err(bad()),
    }
}

/// A Python literal as it may appear in a `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lit {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r' | '\x0c')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: u32) -> Result<Lit, String> {
        if depth > MAX_DEPTH {
            return Err("the header nests too deeply".to_owned());
        }
        self.skip_ws();
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                loop {
                    if self.eat('}') {
                        return Ok(Lit::Dict(entries));
                    }
                    let key = self.value(depth + 1)?;
                    if !self.eat(':') {
                        return Err("expected `:` in the header dict".to_owned());
                    }
                    let value = self.value(depth + 1)?;
                    entries.push((key, value));
                    if !self.eat(',') {
                        if self.eat('}') {
                            return Ok(Lit::Dict(entries));
                        }
                        return Err("expected `,` or `}` in the header dict".to_owned());
                    }
                }
            }
            Some(open @ ('(' | '[')) => {
                self.pos += 1;
                let close = if open == '(' { ')' } else { ']' };
                let mut items = Vec::new();
                let mut trailing_comma = false;
                loop {
                    if self.eat(close) {
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    trailing_comma = self.eat(',');
                    if !trailing_comma {
                        if self.eat(close) {
                            break;
                        }
                        return Err(format!("expected `,` or `{close}` in the header"));
                    }
                }
                if open == '[' {
                    Ok(Lit::List(items))
                } else if items.len() == 1 && !trailing_comma {
                    // `(x)` is just x in Python.
                    Ok(items.remove(0))
                } else {
                    Ok(Lit::Tuple(items))
                }
            }
            Some('\'' | '"') => self.string(),
            Some('u' | 'b') if matches!(self.chars.get(self.pos + 1), Some('\'' | '"')) => {
                self.pos += 1;
                self.string()
            }
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' => self.int(),
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "True" => Ok(Lit::Bool(true)),
                    "False" => Ok(Lit::Bool(false)),
                    "None" => Ok(Lit::None),
                    _ => Err(format!("`{word}` is not a literal")),
                }
            }
            Some(c) => Err(format!("unexpected {c:?} in the header")),
            None => Err("the header ends in the middle of a literal".to_owned()),
        }
    }

    fn int(&mut self) -> Result<Lit, String> {
        let negative = match self.peek() {
            Some('-') => {
                self.pos += 1;
                true
            }
            Some('+') => {
                self.pos += 1;
                false
            }
            _ => false,
        };
        let mut n: i128 = 0;
        let mut digits = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(i128::from(d)))
                .ok_or("an integer in the header is too large")?;
            digits += 1;
            self.pos += 1;
        }
        if digits == 0 {
            return Err("a sign without digits in the header".to_owned());
        }
        // Python 2 wrote long integers as `3L`; numpy strips the suffix when reading.
        if matches!(self.peek(), Some('L' | 'l')) {
            self.pos += 1;
        }
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            return Err("a malformed number in the header".to_owned());
        }
        Ok(Lit::Int(if negative { -n } else { n }))
    }

    fn string(&mut self) -> Result<Lit, String> {
        let Some(quote) = self.peek() else {
            return Err("the header ends in a string".to_owned());
        };
        self.pos += 1;
        let mut out = String::new();
        loop {
            let c = self.peek().ok_or("an unterminated string in the header")?;
            self.pos += 1;
            match c {
                c if c == quote => return Ok(Lit::Str(out)),
                '\n' => return Err("a newline inside a header string".to_owned()),
                '\\' => {
                    let e = self.peek().ok_or("an unterminated escape in the header")?;
                    self.pos += 1;
                    match e {
                        '\\' | '\'' | '"' => out.push(e),
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '0' => out.push('\0'),
                        'x' => {
                            let hex: String = self.chars.iter().skip(self.pos).take(2).collect();
                            let v = u8::from_str_radix(&hex, 16)
                                .map_err(|_| "a bad \\x escape in the header")?;
                            self.pos += 2;
                            out.push(char::from(v));
                        }
                        _ => return Err(format!("an unsupported escape \\{e} in the header")),
                    }
                }
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{codes, scan};

    fn npy(version: u8, header: &str, body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[version, 0]);
        if version == 1 {
            out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    const HEADER: &str =
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }                \n";

    #[test]
    fn parses_numpy_headers() {
        let h = parse(&npy(1, HEADER, &[0; 96])).unwrap();
        assert_eq!(h.shape, [3, 4]);
        assert_eq!(h.dtype.itemsize, 8);
        assert!(!h.dtype.object && !h.fortran_order);
        let h = parse(&npy(
            2,
            "{'descr': '|O', 'fortran_order': True, 'shape': (5,)}",
            b"",
        ))
        .unwrap();
        assert!(h.dtype.object && h.fortran_order);
        assert_eq!(h.shape, [5]);
        let h = parse(&npy(
            3,
            "{'descr': [('a', '<i4'), ('b', '<U3', (2,)), (('t', 'c'), '|O')], 'fortran_order': False, 'shape': ()}",
            b"",
        ))
        .unwrap();
        assert_eq!(h.dtype.itemsize, 4 + 24 + 8);
        assert!(h.dtype.object);
        assert!(h.shape.is_empty());
        // Python 2 long integers.
        let h = parse(&npy(
            1,
            "{'descr': '<i8', 'fortran_order': False, 'shape': (3L, 4L), }",
            b"",
        ))
        .unwrap();
        assert_eq!(h.shape, [3, 4]);
        let h = parse(&npy(
            1,
            "{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (0,), }",
            b"",
        ))
        .unwrap();
        assert_eq!(h.dtype.itemsize, 8);
    }

    #[test]
    fn rejects_what_numpy_rejects() {
        for header in [
            "{'descr': '<f8', 'fortran_order': False}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), 'x': 1}",
            "{'descr': '<f8', 'fortran_order': 0, 'shape': (3, 4)}",
            "{'descr': '<q9', 'fortran_order': False, 'shape': (3,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-3,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': [3]}",
            "{'descr': __import__('os'), 'fortran_order': False, 'shape': (3,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} junk",
            "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (3,)}",
            "[1, 2]",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,",
            "((((((((((((((((((((((((((((((((((((((((((((((((((((((((",
        ] {
            assert!(parse(&npy(1, header, b"")).is_err(), "{header}");
        }
        assert!(parse(b"\x93NUMPY\x04\x00\x00\x00").is_err());
        assert!(parse(b"\x93NUMPY\x01").is_err());
        assert!(parse(b"\x93NUMPY\x01\x00\xff\xff{}").is_err());
        assert!(parse(&npy(3, "{'descr': '\u{fffd}'}", b"")[..14]).is_err());
    }

    #[test]
    fn numeric_array_of_the_right_size_is_clean() {
        let report = scan(&npy(1, HEADER, &[0; 96]));
        assert_eq!(report.format, "numpy");
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }

    #[test]
    fn short_array_is_malformed() {
        let report = scan(&npy(1, HEADER, &[0; 95]));
        assert_eq!(codes(&report), ["NPY001"]);
    }

    #[test]
    fn malformed_header_is_reported() {
        let report = scan(&npy(1, "{'descr': 'zz'}", &[0; 8]));
        assert_eq!(codes(&report), ["NPY001"]);
    }

    #[test]
    fn overflowing_shape_is_reported() {
        let header =
            "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999, 99999999999), }";
        let report = scan(&npy(1, header, &[0; 8]));
        assert_eq!(codes(&report), ["NPY001"]);
    }

    #[test]
    fn trailing_pickle_is_analysed() {
        let mut body = vec![0u8; 96];
        body.extend_from_slice(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.");
        let report = scan(&npy(1, HEADER, &body));
        assert_eq!(codes(&report), ["NPY001"]);
        assert_eq!(report.members.len(), 1);
        assert_eq!(report.members[0].format, "pickle");
        assert!(report.members[0].member.starts_with("trailing@"));
    }

    #[test]
    fn object_array_without_pickle_is_malformed() {
        let report = scan(&npy(
            1,
            "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
            b"",
        ));
        assert_eq!(codes(&report), ["NPY001"]);
    }
}

//! Data types the way `numpy.dtype(...)` reads them: the type strings of `.npy` headers and of
//! pickled `numpy.dtype` objects (joblib's arrays), and the structured and subarray forms of
//! `numpy.lib.format.descr_to_dtype`. What matters for safety is whether items are Python
//! objects (the data is then a pickle) and how many bytes an item takes (which says where raw
//! data ends and, in a joblib file, the next pickle opcode begins).

use super::literal::Lit;

/// What a dtype means for reading the data after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dtype {
    /// Bytes per item.
    pub itemsize: u64,
    /// Items are Python objects (`dtype.hasobject`): the data is a pickle.
    pub object: bool,
    /// A plain little-endian (or byte-order-free) float: its values can be read as numbers.
    pub float_le: bool,
    /// String, bytes or void: the pickled state's element size is the size (not the type code).
    pub flexible: bool,
}

const fn plain(itemsize: u64) -> Dtype {
    Dtype {
        itemsize,
        object: false,
        float_le: false,
        flexible: false,
    }
}

/// How deep structured dtypes may nest.
const MAX_DEPTH: u32 = 32;

/// `numpy.dtype(text)` for a type string; `None` when the scanner does not know it.
pub fn from_str(text: &str) -> Option<Dtype> {
    from_str_at(text, 0)
}

fn from_str_at(text: &str, depth: u32) -> Option<Dtype> {
    if depth > MAX_DEPTH {
        return None;
    }
    let text = text.trim();
    let bytes = text.as_bytes();
    let order_then_digit = matches!(bytes.first(), Some(b'<' | b'>' | b'|' | b'='))
        && bytes.get(1).is_some_and(u8::is_ascii_digit);
    if text.contains(',')
        || bytes.first().is_some_and(u8::is_ascii_digit)
        || bytes.first() == Some(&b'(')
        || order_then_digit
    {
        return comma_string(text, depth);
    }
    single(text)
}

/// numpy's "comma string": fields separated by commas, each with an optional repeat count or
/// `(shape)` prefix.
fn comma_string(text: &str, depth: u32) -> Option<Dtype> {
    let mut total = plain(0);
    let mut fields = 0;
    for part in split_top_level(text) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (count, rest) = repeat_prefix(part)?;
        let inner = if rest.contains(',') || rest.starts_with('(') {
            from_str_at(rest, depth + 1)?
        } else {
            single(rest)?
        };
        total.itemsize = total
            .itemsize
            .checked_add(inner.itemsize.checked_mul(count)?)?;
        total.object |= inner.object;
        fields += 1;
    }
    (fields > 0).then_some(total)
}

/// Splits at commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A `(2,3)` or `3` prefix: the number of items it multiplies by, and the rest.
fn repeat_prefix(part: &str) -> Option<(u64, &str)> {
    let part = part
        .strip_prefix(['<', '>', '|', '='])
        .filter(|r| r.starts_with(|c: char| c.is_ascii_digit() || c == '('))
        .unwrap_or(part);
    if let Some(rest) = part.strip_prefix('(') {
        let close = rest.find(')')?;
        let mut count = 1u64;
        for dim in rest[..close]
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            count = count.checked_mul(dim.parse().ok()?)?;
        }
        return Some((count, &rest[close + 1..]));
    }
    let digits = part.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Some((1, part));
    }
    Some((part[..digits].parse().ok()?, &part[digits..]))
}

/// One type: a byte order, then a type code with an optional size, or a type name.
fn single(text: &str) -> Option<Dtype> {
    let body = text.strip_prefix(['<', '>', '|', '=']).unwrap_or(text);
    let big_endian = text.starts_with('>');
    if let Some(d) = named(body) {
        return Some(d);
    }
    let mut chars = body.chars();
    let kind = chars.next()?;
    let rest = chars.as_str();
    let number = |r: &str| -> Option<u64> {
        (!r.is_empty() && r.len() <= 12 && r.bytes().all(|b| b.is_ascii_digit()))
            .then(|| r.parse().ok())
            .flatten()
    };
    let flexible = |itemsize| {
        Some(Dtype {
            flexible: true,
            ..plain(itemsize)
        })
    };
    let float = |itemsize| {
        Some(Dtype {
            float_le: !big_endian && matches!(itemsize, 2 | 4 | 8),
            ..plain(itemsize)
        })
    };
    if rest.is_empty() {
        return code(kind, big_endian);
    }
    match kind {
        'O' if matches!(rest, "4" | "8") => Some(object()),
        'b' if rest == "1" => Some(plain(1)),
        'i' | 'u' => match number(rest)? {
            n @ (1 | 2 | 4 | 8) => Some(plain(n)),
            _ => None,
        },
        'f' => match number(rest)? {
            n @ (2 | 4 | 8 | 12 | 16) => float(n),
            _ => None,
        },
        'c' => match number(rest)? {
            n @ (8 | 16 | 24 | 32) => Some(plain(n)),
            _ => None,
        },
        'S' | 'a' | 'V' => flexible(number(rest)?),
        'U' => flexible(number(rest)?.checked_mul(4)?),
        'M' | 'm' => {
            let unit = rest.strip_prefix('8').unwrap_or(rest);
            datetime_unit(unit).then_some(plain(8))
        }
        _ => None,
    }
}

fn object() -> Dtype {
    Dtype {
        object: true,
        ..plain(8)
    }
}

/// `[ns]`, `[25s]`, or nothing.
fn datetime_unit(unit: &str) -> bool {
    unit.is_empty()
        || (unit.starts_with('[')
            && unit.ends_with(']')
            && unit.len() <= 16
            && unit[1..unit.len() - 1]
                .chars()
                .all(|c| c.is_ascii_alphanumeric()))
}

/// A one-character type code (`numpy.sctypeDict` on a 64-bit Linux build).
fn code(kind: char, big_endian: bool) -> Option<Dtype> {
    let float = |n| Dtype {
        float_le: !big_endian,
        ..plain(n)
    };
    Some(match kind {
        'O' => object(),
        '?' | 'b' | 'B' | 'c' => plain(1),
        'h' | 'H' | 'e' => {
            if kind == 'e' {
                float(2)
            } else {
                plain(2)
            }
        }
        'i' | 'I' => plain(4),
        'f' => float(4),
        'l' | 'L' | 'q' | 'Q' | 'p' | 'P' | 'n' | 'N' | 'M' | 'm' => plain(8),
        'd' => float(8),
        'F' => plain(8),
        'g' | 'D' => plain(16),
        'G' => plain(32),
        'S' | 'a' | 'U' | 'V' => Dtype {
            flexible: true,
            ..plain(0)
        },
        _ => return None,
    })
}

/// Type names numpy accepts as strings.
fn named(name: &str) -> Option<Dtype> {
    let (base, unit) = match name.find('[') {
        Some(i) => (&name[..i], &name[i..]),
        None => (name, ""),
    };
    if matches!(base, "datetime64" | "timedelta64" | "M8" | "m8") {
        return datetime_unit(unit).then_some(plain(8));
    }
    if !unit.is_empty() {
        return None;
    }
    let float = |n| Dtype {
        float_le: true,
        ..plain(n)
    };
    Some(match name {
        "object" | "object_" | "object0" | "O" => object(),
        "bool" | "bool_" | "bool8" | "int8" | "byte" | "uint8" | "ubyte" => plain(1),
        "int16" | "short" | "uint16" | "ushort" => plain(2),
        "int32" | "intc" | "uint32" | "uintc" => plain(4),
        "int64" | "int" | "int_" | "intp" | "long" | "longlong" | "uint64" | "uint" | "uintp"
        | "ulong" | "ulonglong" => plain(8),
        "float16" | "half" => float(2),
        "float32" | "single" => float(4),
        "float64" | "double" | "float" | "float_" => float(8),
        "float128" | "longdouble" | "longfloat" => plain(16),
        "complex64" | "csingle" | "singlecomplex" => plain(8),
        "complex128" | "complex" | "cdouble" | "complex_" | "cfloat" => plain(16),
        "complex256" | "clongdouble" | "clongfloat" | "longcomplex" => plain(32),
        "str" | "str_" | "unicode" | "unicode_" | "bytes" | "bytes_" | "string_" | "void"
        | "void0" => Dtype {
            flexible: true,
            ..plain(0)
        },
        _ => return None,
    })
}

/// `numpy.lib.format.descr_to_dtype`: a type string, a `(dtype, shape)` subarray, or a list of
/// `(name, dtype[, shape])` fields (padding fields included in the size).
pub(super) fn descr_to_dtype(descr: &Lit, depth: u32) -> Result<Dtype, String> {
    if depth > MAX_DEPTH {
        return Err("the dtype nests too deeply".to_owned());
    }
    match descr {
        Lit::Str(s) => from_str(s).ok_or_else(|| format!("unknown dtype {s:?}")),
        Lit::Tuple(parts) => match parts.as_slice() {
            [inner, shape] => subarray(descr_to_dtype(inner, depth + 1)?, shape),
            _ => Err("a subarray dtype is not a (dtype, shape) pair".to_owned()),
        },
        Lit::List(fields) => {
            let mut total = plain(0);
            for field in fields {
                let (Lit::Tuple(parts) | Lit::List(parts)) = field else {
                    return Err("a structured dtype field is not a tuple".to_owned());
                };
                let dt = match parts.as_slice() {
                    [_, inner] => descr_to_dtype(inner, depth + 1)?,
                    [_, inner, shape] => subarray(descr_to_dtype(inner, depth + 1)?, shape)?,
                    _ => return Err("a structured dtype field has the wrong arity".to_owned()),
                };
                total.itemsize = total
                    .itemsize
                    .checked_add(dt.itemsize)
                    .ok_or("the structured dtype's size overflows")?;
                total.object |= dt.object;
            }
            Ok(total)
        }
        _ => Err("descr is neither a type string, a subarray nor a field list".to_owned()),
    }
}

/// `numpy.dtype((base, shape))`: an int or a tuple of ints.
fn subarray(base: Dtype, shape: &Lit) -> Result<Dtype, String> {
    let dims: Vec<&Lit> = match shape {
        Lit::Tuple(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut count = 1u64;
    for d in dims {
        let n = d
            .as_int()
            .flatten()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or("a subarray dimension is not a non-negative integer")?;
        count = count.checked_mul(n).ok_or("the subarray size overflows")?;
    }
    Ok(Dtype {
        itemsize: base
            .itemsize
            .checked_mul(count)
            .ok_or("the subarray size overflows")?,
        object: base.object,
        float_le: false,
        flexible: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_strings() {
        for (text, size, object) in [
            ("<f8", 8, false),
            ("float64", 8, false),
            ("|O", 8, true),
            ("object", 8, true),
            ("O8", 8, true),
            ("<U10", 40, false),
            ("|S5", 5, false),
            ("i4,O", 12, true),
            ("(2,3)f4", 24, false),
            ("3O", 24, true),
            ("<M8[ns]", 8, false),
            ("datetime64[s]", 8, false),
            ("?", 1, false),
            ("d", 8, false),
            ("complex128", 16, false),
        ] {
            let d = from_str(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!((d.itemsize, d.object), (size, object), "{text}");
        }
        for bad in ["<q9", "zz", "", "f3", "M8[n s]"] {
            assert!(from_str(bad).is_none(), "{bad}");
        }
    }
}

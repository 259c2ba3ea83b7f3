//! Text operands parsed exactly the way CPython's `Modules/_pickle.c` parses them, so that the
//! scanner neither halts on a form the real unpickler accepts nor reads a different value.
//!
//! `_pickle.c` reads a text operand as a line (up to and including `\n`) copied into a
//! NUL-terminated buffer, then hands it to C string functions: whatever follows an embedded NUL
//! byte is never seen. The rules modelled here:
//!
//! - INT: `strtol(s, &end, 0)` (C rules: leading whitespace, sign, `0x` hex, a leading `0` means
//!   octal) accepted when it stops at the newline or a NUL; otherwise (overflow, `_`, `0o`,
//!   `0b`) `PyLong_FromString(s, NULL, 0)` (Python literal rules). A three-byte line (`01\n`,
//!   ` 1\n`, `+0\n`) whose value is 0 or 1 is a bool.
//! - LONG: a trailing `L` is dropped, then `PyLong_FromString(s, NULL, 0)`.
//! - PUT/GET: `PyLong_FromString(s, NULL, 10)`; PUT refuses negative indices.
//! - FLOAT: `PyOS_string_to_double`, accepted when it stops at the newline or a NUL.
//! - STRING: quoted, then `PyBytes_DecodeEscape` (an `\x` escape needs two hex digits).
//!
//! Python's own `pickle.py` (used by joblib) parses with `int(text, 0)` and `float(text)`; the
//! scanner keeps going when either reader would, so that it sees at least what both see.

/// An integer operand: small enough for `i64`, or kept as its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextInt<'a> {
    Bool(bool),
    Small(i64),
    Big(&'a [u8]),
}

/// C's `isspace` in the C locale (and Python's `Py_ISSPACE` on bytes).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// What C string functions see of an operand line: everything before the first NUL.
fn c_str(line: &[u8]) -> &[u8] {
    match line.iter().position(|&b| b == 0) {
        Some(end) => line.get(..end).unwrap_or_default(),
        None => line,
    }
}

fn digit_value(b: u8) -> Option<u32> {
    char::from(b).to_digit(36)
}

/// `strtol(s, &end, 0)` over `text` (already cut at the NUL): the value when the conversion
/// consumed everything (or nothing at all, which C reports as 0 with `end == s`) and did not
/// overflow.
fn strtol0(text: &[u8]) -> Option<i64> {
    let mut i = 0;
    while text.get(i).copied().is_some_and(is_space) {
        i += 1;
    }
    let negative = match text.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut base = 10;
    let hex_prefix = matches!(text.get(i..i + 2), Some([b'0', b'x' | b'X']))
        && text
            .get(i + 2)
            .and_then(|&b| digit_value(b))
            .is_some_and(|d| d < 16);
    if hex_prefix {
        base = 16;
        i += 2;
    } else if text.get(i) == Some(&b'0') {
        base = 8;
    }
    let start = i;
    let mut value: i128 = 0;
    while let Some(d) = text
        .get(i)
        .and_then(|&b| digit_value(b))
        .filter(|&d| d < base)
    {
        value = value * i128::from(base) + i128::from(d);
        if value > i128::from(i64::MAX) + 1 {
            return None; // ERANGE
        }
        i += 1;
    }
    if i == start {
        // No digits: C sets end = s, accepted only when s itself is at the end (an empty line
        // before a NUL, which the length check lets through as value 0).
        return text.is_empty().then_some(0);
    }
    if i != text.len() {
        return None;
    }
    let value = if negative { -value } else { value };
    i64::try_from(value).ok()
}

/// `PyLong_FromString(s, NULL, base)` with `base` 0 or 10, over `text` (already cut at the
/// NUL): Python literal rules with surrounding whitespace.
fn py_long(text: &[u8], base0: bool) -> Option<TextInt<'_>> {
    let mut s = text;
    while let [b, rest @ ..] = s
        && is_space(*b)
    {
        s = rest;
    }
    while let [rest @ .., b] = s
        && is_space(*b)
    {
        s = rest;
    }
    let trimmed = s;
    let negative = match s {
        [b'-', rest @ ..] => {
            s = rest;
            true
        }
        [b'+', rest @ ..] => {
            s = rest;
            false
        }
        _ => false,
    };
    let mut base = 10u32;
    let mut prefixed = false;
    if base0 && let [b'0', p, rest @ ..] = s {
        base = match p {
            b'x' | b'X' => 16,
            b'o' | b'O' => 8,
            b'b' | b'B' => 2,
            _ => 10,
        };
        if base != 10 {
            s = rest;
            prefixed = true;
        }
    }
    // After a prefix, one underscore may come before the first digit ("0x_1f").
    if prefixed && let [b'_', rest @ ..] = s {
        s = rest;
    }
    if s.is_empty() || s.first() == Some(&b'_') || s.last() == Some(&b'_') {
        return None;
    }
    if s.windows(2).any(|w| w == b"__") {
        return None;
    }
    let mut value: i128 = 0;
    let mut big = false;
    for &b in s.iter().filter(|&&b| b != b'_') {
        let d = digit_value(b).filter(|&d| d < base)?;
        if !big {
            value = value * i128::from(base) + i128::from(d);
            big = value > i128::from(i64::MAX) + 1;
        }
    }
    // Base 0: a decimal literal may not start with 0 unless it is all zeros ("00", "0_0").
    if base0 && !prefixed && s.first() == Some(&b'0') && s.iter().any(|&b| b != b'0' && b != b'_') {
        return None;
    }
    if big {
        return Some(TextInt::Big(trimmed));
    }
    let value = if negative { -value } else { value };
    Some(i64::try_from(value).map_or(TextInt::Big(trimmed), TextInt::Small))
}

/// `int(text, 0)` as Python's `pickle.py` calls it (bytes: no NUL allowed).
fn py_int_builtin(line: &[u8]) -> Option<TextInt<'_>> {
    if line.contains(&0) {
        return None;
    }
    py_long(line, true)
}

/// The INT operand (`line` without its newline), or `None` when neither unpickler accepts it.
pub fn int_operand(line: &[u8]) -> Option<TextInt<'_>> {
    if line.is_empty() {
        return None; // bad_readline: the line must hold more than its newline
    }
    let text = c_str(line);
    if let Some(x) = strtol0(text) {
        // `len == 3` counts the newline: two bytes before it.
        if line.len() == 2 && (x == 0 || x == 1) {
            return Some(TextInt::Bool(x == 1));
        }
        return Some(TextInt::Small(x));
    }
    py_long(text, true).or_else(|| match line {
        b"00" => Some(TextInt::Bool(false)),
        b"01" => Some(TextInt::Bool(true)),
        _ => py_int_builtin(line),
    })
}

/// The LONG operand (`line` without its newline).
pub fn long_operand(line: &[u8]) -> Option<TextInt<'_>> {
    if line.is_empty() {
        return None;
    }
    let trimmed = match line.split_last() {
        Some((b'L', rest)) => rest,
        _ => line,
    };
    let value = py_long(c_str(trimmed), true).or_else(|| py_int_builtin(trimmed))?;
    Some(match value {
        TextInt::Bool(b) => TextInt::Small(i64::from(b)),
        other => other,
    })
}

/// The memo index of a PUT or GET operand (base 10). `None` when the operand is not a number;
/// negative and huge indices come back as `Some(None)` (PUT fails on them, GET finds nothing).
pub fn memo_index(line: &[u8]) -> Option<Option<u64>> {
    let value = py_long(c_str(line), false)
        .or_else(|| (!line.contains(&0)).then(|| py_long(line, false)).flatten())?;
    Some(match value {
        TextInt::Small(i) => u64::try_from(i).ok(),
        TextInt::Bool(b) => Some(u64::from(b)),
        TextInt::Big(_) => None,
    })
}

/// The FLOAT operand.
pub fn float_operand(line: &[u8]) -> Option<f64> {
    let c = c_str(line);
    let parse = |t: &[u8]| std::str::from_utf8(t).ok()?.parse::<f64>().ok();
    // PyOS_string_to_double takes no leading whitespace; Python's float() strips it and takes
    // underscores between digits.
    parse(c).or_else(|| {
        if line.contains(&0) {
            return None;
        }
        let t = line.trim_ascii();
        if t.first() == Some(&b'_') || t.last() == Some(&b'_') || t.windows(2).any(|w| w == b"__") {
            return None;
        }
        let cleaned: Vec<u8> = t.iter().copied().filter(|&b| b != b'_').collect();
        parse(&cleaned)
    })
}

/// Whether `PyBytes_DecodeEscape` accepts the inside of a STRING operand: every `\x` escape
/// has two hex digits, and a lone backslash may not end it.
pub fn string_escapes_valid(inner: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&b) = inner.get(i) {
        i += 1;
        if b != b'\\' {
            continue;
        }
        match inner.get(i) {
            None => return false,
            Some(b'x') => {
                let ok = inner
                    .get(i + 1..i + 3)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
                if !ok {
                    return false;
                }
                i += 3;
            }
            Some(_) => i += 1,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_like_cpython() {
        use TextInt::*;
        for (line, want) in [
            (&b"12"[..], Small(12)),
            (b"01", Bool(true)),
            (b"00", Bool(false)),
            (b" 1", Bool(true)),
            (b"+0", Bool(false)),
            (b"1", Small(1)),
            (b"0x10", Small(16)),
            (b"0X1f", Small(31)),
            (b"010", Small(8)),
            (b"0o17", Small(15)),
            (b"0b101", Small(5)),
            (b"1_000", Small(1000)),
            (b"0x_ff", Small(255)),
            (b"  -42", Small(-42)),
            (b"-42 ", Small(-42)),
            (b"12\x00junk", Small(12)),
            (b"\x00", Small(0)),
            (b"99999999999999999999", Big(b"99999999999999999999")),
        ] {
            assert_eq!(
                int_operand(line),
                Some(want),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        for bad in [
            &b""[..],
            b" ",
            b"-",
            b"0x",
            b"1__0",
            b"_1",
            b"1_",
            b"abc",
            b"08_1",
            b"1.5",
        ] {
            assert_eq!(int_operand(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn long_and_memo() {
        assert_eq!(long_operand(b"12L"), Some(TextInt::Small(12)));
        assert_eq!(long_operand(b"0x10L"), Some(TextInt::Small(16)));
        assert_eq!(long_operand(b"-5"), Some(TextInt::Small(-5)));
        assert_eq!(long_operand(b"L"), None);
        assert_eq!(memo_index(b"3"), Some(Some(3)));
        assert_eq!(memo_index(b"007"), Some(Some(7)));
        assert_eq!(memo_index(b" 1_0 "), Some(Some(10)));
        assert_eq!(memo_index(b"-1"), Some(None));
        assert_eq!(memo_index(b"0x1"), None);
        assert_eq!(memo_index(b"2\x00zz"), Some(Some(2)));
    }

    #[test]
    fn floats_and_strings() {
        assert_eq!(float_operand(b"1.5"), Some(1.5));
        assert_eq!(float_operand(b"1.5\x00x"), Some(1.5));
        assert_eq!(float_operand(b" 1_0.5 "), Some(10.5));
        assert!(float_operand(b"inf").is_some_and(f64::is_infinite));
        assert_eq!(float_operand(b"x"), None);
        assert!(string_escapes_valid(br"a\x41\n\q"));
        assert!(!string_escapes_valid(br"a\x4"));
        assert!(!string_escapes_valid(br"a\"));
    }
}

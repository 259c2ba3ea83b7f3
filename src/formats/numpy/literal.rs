//! Python literals the way `ast.literal_eval` reads them (numpy parses `.npy` headers with it):
//! strings with any prefix, escape, quoting and implicit concatenation (`'<' 'f8'`), integers in
//! every base with underscores, floats and complex numbers, a sign on a number, `True`,
//! `False`, `None`, `...`, tuples (with or without parentheses), lists, dicts (the last of a
//! repeated key wins), sets and `set()`, comments, any spacing and line continuations. Nothing is
//! evaluated: anything else (names, calls, operators) is refused, as `literal_eval` refuses it.

/// A Python value a literal can spell.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Lit {
    Str(String),
    Bytes(Vec<u8>),
    /// An integer; `None` when it does not fit in 128 bits.
    Int(Option<i128>),
    Float,
    Complex,
    Bool(bool),
    None,
    Ellipsis,
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Set(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

impl Lit {
    /// The integer Python sees (`True` is 1), for `isinstance(x, int)`.
    pub fn as_int(&self) -> Option<Option<i128>> {
        match self {
            Lit::Int(n) => Some(*n),
            Lit::Bool(b) => Some(Some(i128::from(*b))),
            _ => None,
        }
    }
}

/// How deep literals may nest (structured dtypes nest lists in tuples).
const MAX_DEPTH: u32 = 64;

/// Parses `text` as `ast.literal_eval(text)` would; `legacy_l`: numpy's `_filter_header`
/// fallback for version 1 and 2 headers, which drops an `L` written right after a number.
pub(super) fn literal_eval(text: &str, legacy_l: bool) -> Result<Lit, String> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
        depth: 0,
        legacy_l,
    };
    // `literal_eval` strips leading spaces and tabs (an indented header is not an error).
    while matches!(p.peek(), Some(' ' | '\t')) {
        p.pos += 1;
    }
    let value = p.expression(false)?;
    p.skip(false);
    if p.pos != p.chars.len() {
        return Err(format!("unexpected text at character {}", p.pos));
    }
    Ok(value)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: u32,
    legacy_l: bool,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    /// Skips spaces, comments and line continuations; newlines too inside brackets (`nested`)
    /// and, at the top level, only trailing ones (a newline ends the expression there).
    fn skip(&mut self, nested: bool) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\x0c') => self.pos += 1,
                Some('\\') if matches!(self.peek_at(1), Some('\n')) => self.pos += 2,
                Some('\\') if self.peek_at(1) == Some('\r') => {
                    self.pos += 2;
                    if self.peek() == Some('\n') {
                        self.pos += 1;
                    }
                }
                Some('#') => {
                    while self.peek().is_some_and(|c| c != '\n' && c != '\r') {
                        self.pos += 1;
                    }
                }
                Some('\n' | '\r') if nested || self.only_blank_after() => self.pos += 1,
                _ => return,
            }
        }
    }

    /// Whether only blank lines and comments follow (a top-level newline then ends the text).
    fn only_blank_after(&self) -> bool {
        let mut i = self.pos;
        let mut comment = false;
        while let Some(&c) = self.chars.get(i) {
            match c {
                '\n' | '\r' => comment = false,
                '#' => comment = true,
                ' ' | '\t' | '\x0c' => {}
                _ if comment => {}
                _ => return false,
            }
            i += 1;
        }
        true
    }

    fn eat(&mut self, c: char, nested: bool) -> bool {
        self.skip(nested);
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// An expression: a bare tuple (`1, 2`) when a comma follows an element.
    fn expression(&mut self, nested: bool) -> Result<Lit, String> {
        let first = self.value(nested)?;
        if !self.eat(',', nested) {
            return Ok(first);
        }
        let mut items = vec![first];
        loop {
            self.skip(nested);
            if self.at_end_of_items() {
                return Ok(Lit::Tuple(items));
            }
            items.push(self.value(nested)?);
            if !self.eat(',', nested) {
                return Ok(Lit::Tuple(items));
            }
        }
    }

    fn at_end_of_items(&self) -> bool {
        matches!(
            self.peek(),
            None | Some(')' | ']' | '}' | ':' | '\n' | '\r')
        )
    }

    fn value(&mut self, nested: bool) -> Result<Lit, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("the literal nests too deeply".to_owned());
        }
        let value = self.value_inner(nested);
        self.depth -= 1;
        value
    }

    fn value_inner(&mut self, nested: bool) -> Result<Lit, String> {
        self.skip(nested);
        let Some(c) = self.peek() else {
            return Err("the text ends where a value should be".to_owned());
        };
        match c {
            '(' => {
                self.pos += 1;
                if self.eat(')', true) {
                    return Ok(Lit::Tuple(Vec::new()));
                }
                let inner = self.expression(true)?;
                if !self.eat(')', true) {
                    return Err("expected `)`".to_owned());
                }
                Ok(inner)
            }
            '[' => {
                self.pos += 1;
                let items = self.items(']')?;
                Ok(Lit::List(items))
            }
            '{' => self.dict_or_set(),
            '+' | '-' => self.signed(),
            '.' if self.peek_at(1) == Some('.') && self.peek_at(2) == Some('.') => {
                self.pos += 3;
                Ok(Lit::Ellipsis)
            }
            c if c.is_ascii_digit() || c == '.' => self.number(),
            '\'' | '"' => self.strings(),
            c if c.is_alphabetic() || c == '_' => self.word(nested),
            c => Err(format!("unexpected {c:?}")),
        }
    }

    /// Comma-separated values up to `close` (a trailing comma allowed).
    fn items(&mut self, close: char) -> Result<Vec<Lit>, String> {
        let mut items = Vec::new();
        loop {
            if self.eat(close, true) {
                return Ok(items);
            }
            items.push(self.value(true)?);
            if !self.eat(',', true) {
                if self.eat(close, true) {
                    return Ok(items);
                }
                return Err(format!("expected `,` or `{close}`"));
            }
        }
    }

    fn dict_or_set(&mut self) -> Result<Lit, String> {
        self.pos += 1;
        if self.eat('}', true) {
            return Ok(Lit::Dict(Vec::new()));
        }
        let first = self.value(true)?;
        if !self.eat(':', true) {
            // A set display.
            let mut items = vec![first];
            if self.eat(',', true) {
                items.extend(self.items('}')?);
            } else if !self.eat('}', true) {
                return Err("expected `,` or `}` in a set".to_owned());
            }
            return Ok(Lit::Set(items));
        }
        let mut entries: Vec<(Lit, Lit)> = Vec::new();
        let mut key = first;
        loop {
            let value = self.value(true)?;
            // Python keeps the last value of a repeated key, in the first key's place.
            match entries.iter_mut().find(|(k, _)| same_key(k, &key)) {
                Some(slot) => slot.1 = value,
                None => entries.push((key, value)),
            }
            if !self.eat(',', true) {
                if self.eat('}', true) {
                    return Ok(Lit::Dict(entries));
                }
                return Err("expected `,` or `}` in a dict".to_owned());
            }
            if self.eat('}', true) {
                return Ok(Lit::Dict(entries));
            }
            key = self.value(true)?;
            if !self.eat(':', true) {
                return Err("expected `:` in a dict".to_owned());
            }
        }
    }

    /// A sign on a number (`literal_eval` allows it on a number only, and `1+2j`).
    fn signed(&mut self) -> Result<Lit, String> {
        let negative = self.peek() == Some('-');
        self.pos += 1;
        self.skip(true);
        if !self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
            return Err("a sign applies only to a number".to_owned());
        }
        Ok(match self.number()? {
            Lit::Int(Some(v)) if negative => Lit::Int(v.checked_neg()),
            other => other,
        })
    }

    /// The characters from `start` up to the current position.
    fn since(&self, start: usize) -> &[char] {
        self.chars.get(start..self.pos).unwrap_or_default()
    }

    fn number(&mut self) -> Result<Lit, String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            || (matches!(self.peek(), Some('+' | '-'))
                && matches!(self.chars.get(self.pos.wrapping_sub(1)), Some('e' | 'E'))
                && !self
                    .since(start)
                    .iter()
                    .any(|c| matches!(c, 'x' | 'X' | 'b' | 'B' | 'o' | 'O')))
        {
            self.pos += 1;
        }
        let mut text: String = self.since(start).iter().collect();
        if self.legacy_l && text.ends_with('L') {
            text.pop();
        }
        let value = number_value(&text).ok_or_else(|| format!("invalid number {text:?}"))?;
        // `1+2j`: a complex literal written as a sum.
        self.skip(true);
        if matches!(self.peek(), Some('+' | '-')) {
            let save = self.pos;
            self.pos += 1;
            self.skip(true);
            let tail_start = self.pos;
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                self.pos += 1;
            }
            let tail: String = self.since(tail_start).iter().collect();
            if matches!(number_value(&tail), Some(Lit::Complex)) {
                return Ok(Lit::Complex);
            }
            self.pos = save;
        }
        Ok(value)
    }

    fn word(&mut self, nested: bool) -> Result<Lit, String> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        let word: String = self.since(start).iter().collect();
        // String prefixes: r, u, b, br, rb in any case (f-strings are not literals).
        if matches!(self.peek(), Some('\'' | '"')) {
            let lower = word.to_ascii_lowercase();
            if matches!(lower.as_str(), "r" | "u" | "b" | "br" | "rb") {
                self.pos = start;
                return self.strings();
            }
            return Err(format!(
                "`{word}` is not a string prefix literal_eval accepts"
            ));
        }
        match word.as_str() {
            "True" => Ok(Lit::Bool(true)),
            "False" => Ok(Lit::Bool(false)),
            "None" => Ok(Lit::None),
            "set" => {
                if self.eat('(', nested) && self.eat(')', true) {
                    Ok(Lit::Set(Vec::new()))
                } else {
                    Err("only `set()` may be called".to_owned())
                }
            }
            _ => Err(format!("`{word}` is not a literal")),
        }
    }

    /// One or more adjacent string literals, concatenated.
    fn strings(&mut self) -> Result<Lit, String> {
        let mut text: Option<String> = None;
        let mut bytes: Option<Vec<u8>> = None;
        loop {
            let save = self.pos;
            self.skip(self.depth > 1);
            let (raw, is_bytes) = match self.prefix() {
                Some(p) => p,
                None => {
                    self.pos = save;
                    break;
                }
            };
            let piece = self.string_body(raw, is_bytes)?;
            match piece {
                Piece::Text(t) if bytes.is_none() => {
                    text.get_or_insert_with(String::new).push_str(&t)
                }
                Piece::Bytes(b) if text.is_none() => bytes.get_or_insert_with(Vec::new).extend(b),
                _ => return Err("cannot mix bytes and str literals".to_owned()),
            }
        }
        match (text, bytes) {
            (Some(t), None) => Ok(Lit::Str(t)),
            (None, Some(b)) => Ok(Lit::Bytes(b)),
            _ => Err("expected a string".to_owned()),
        }
    }

    /// Reads a string prefix and the opening quote position; `None` when no string starts here.
    fn prefix(&mut self) -> Option<(bool, bool)> {
        let start = self.pos;
        let mut raw = false;
        let mut is_bytes = false;
        for _ in 0..2 {
            match self.peek() {
                Some('r' | 'R') if !raw => raw = true,
                Some('b' | 'B') if !is_bytes => is_bytes = true,
                Some('u' | 'U') if self.pos == start => {}
                _ => break,
            }
            self.pos += 1;
        }
        if matches!(self.peek(), Some('\'' | '"')) {
            Some((raw, is_bytes))
        } else {
            self.pos = start;
            None
        }
    }

    fn string_body(&mut self, raw: bool, is_bytes: bool) -> Result<Piece, String> {
        let Some(quote) = self.peek() else {
            return Err("the text ends in a string".to_owned());
        };
        let triple = self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        let mut out: Vec<char> = Vec::new();
        loop {
            let c = self.peek().ok_or("an unterminated string")?;
            if c == quote
                && (!triple || (self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote)))
            {
                self.pos += if triple { 3 } else { 1 };
                break;
            }
            if (c == '\n' || c == '\r') && !triple {
                return Err("a newline inside a string".to_owned());
            }
            self.pos += 1;
            if c != '\\' {
                out.push(c);
                continue;
            }
            let e = self.peek().ok_or("an unterminated escape")?;
            if raw {
                // A raw string keeps the backslash; it only stops a quote from ending it.
                out.push('\\');
                out.push(e);
                self.pos += 1;
                continue;
            }
            self.escape(e, is_bytes, &mut out)?;
        }
        if is_bytes {
            // `\xNN` escapes stand for the bytes up to 0xff; anything above is no byte.
            let bytes: Option<Vec<u8>> = out.into_iter().map(|c| u8::try_from(c).ok()).collect();
            bytes
                .map(Piece::Bytes)
                .ok_or_else(|| "bytes can only contain ASCII literal characters".to_owned())
        } else {
            Ok(Piece::Text(out.into_iter().collect()))
        }
    }

    /// One escape sequence after a backslash (`e` is the character after it).
    fn escape(&mut self, e: char, is_bytes: bool, out: &mut Vec<char>) -> Result<(), String> {
        self.pos += 1;
        let simple = match e {
            '\n' => return Ok(()),
            '\r' => {
                if self.peek() == Some('\n') {
                    self.pos += 1;
                }
                return Ok(());
            }
            '\\' | '\'' | '"' => Some(e),
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\x0b'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            return Ok(());
        }
        let hex = |p: &mut Parser, n: usize| -> Result<u32, String> {
            let digits: String = p.chars.iter().skip(p.pos).take(n).collect();
            if digits.len() != n || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err("a truncated \\x, \\u or \\U escape".to_owned());
            }
            p.pos += n;
            u32::from_str_radix(&digits, 16).map_err(|e| e.to_string())
        };
        match e {
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or_default();
                for _ in 0..2 {
                    match self.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            self.pos += 1;
                        }
                        None => break,
                    }
                }
                let v = if is_bytes { v & 0xff } else { v };
                out.push(char::from_u32(v).ok_or("a bad octal escape")?);
            }
            'x' => {
                let v = hex(self, 2)?;
                out.push(char::from_u32(v).ok_or("a bad \\x escape")?);
            }
            'u' | 'U' if !is_bytes => {
                let v = hex(self, if e == 'u' { 4 } else { 8 })?;
                out.push(char::from_u32(v).ok_or("a \\U escape out of range")?);
            }
            'N' if !is_bytes => {
                // Character names need Unicode's name table; an unknown character cannot be a
                // dtype numpy knows without it, so the caller treats the text as unreadable.
                if self.peek() != Some('{') {
                    return Err("a malformed \\N escape".to_owned());
                }
                while self.peek().is_some_and(|c| c != '}') {
                    self.pos += 1;
                }
                self.pos += 1;
                out.push('\u{fffd}');
            }
            other => {
                // Unknown escapes keep their backslash (with a warning in Python).
                out.push('\\');
                out.push(other);
            }
        }
        Ok(())
    }
}

enum Piece {
    Text(String),
    Bytes(Vec<u8>),
}

/// Dict keys Python would take as equal (`1 == True`, equal strings).
fn same_key(a: &Lit, b: &Lit) -> bool {
    match (a.as_int(), b.as_int()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The value of a number token: ints in every base (with underscores), floats, imaginary.
fn number_value(text: &str) -> Option<Lit> {
    if text.is_empty() || text.starts_with('_') || text.ends_with('_') || text.contains("__") {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let digits: String = lower.chars().filter(|&c| c != '_').collect();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = digits.strip_prefix(prefix) {
            if rest.is_empty() || !rest.chars().all(|c| c.is_digit(radix)) {
                return None;
            }
            return Some(Lit::Int(i128::from_str_radix(rest, radix).ok()));
        }
    }
    if lower.ends_with('j') {
        let body = digits.strip_suffix('j')?;
        return (body.parse::<f64>().is_ok() || body.is_empty()).then_some(Lit::Complex);
    }
    if digits.chars().all(|c| c.is_ascii_digit()) {
        // `01` is a syntax error; `00` is zero.
        if digits.len() > 1 && digits.starts_with('0') && digits.chars().any(|c| c != '0') {
            return None;
        }
        return Some(Lit::Int(digits.parse::<i128>().ok()));
    }
    let float_chars = digits
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'));
    (float_chars && digits.parse::<f64>().is_ok_and(|_| true) && !digits.starts_with('e'))
        .then_some(Lit::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Lit {
        literal_eval(text, false).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn what_literal_eval_accepts() {
        assert_eq!(ok("'<' 'f8'"), Lit::Str("<f8".into()));
        assert_eq!(ok("  ('|'\n'O')"), Lit::Str("|O".into()));
        assert_eq!(ok("'obj' \"ect\""), Lit::Str("object".into()));
        assert_eq!(ok("r'\\x4f'"), Lit::Str("\\x4f".into()));
        assert_eq!(ok("'\\x4f'"), Lit::Str("O".into()));
        assert_eq!(ok("'\\117'"), Lit::Str("O".into()));
        assert_eq!(ok("'\\u004f'"), Lit::Str("O".into()));
        assert_eq!(ok("U'O'"), Lit::Str("O".into()));
        assert_eq!(ok("'''O'''"), Lit::Str("O".into()));
        assert_eq!(ok("b'O'"), Lit::Bytes(b"O".to_vec()));
        assert_eq!(
            ok("(1_0, 0x10, 0o10, 0b10, -3, +4)"),
            Lit::Tuple(vec![
                Lit::Int(Some(10)),
                Lit::Int(Some(16)),
                Lit::Int(Some(8)),
                Lit::Int(Some(2)),
                Lit::Int(Some(-3)),
                Lit::Int(Some(4)),
            ])
        );
        assert_eq!(ok("(3,)"), Lit::Tuple(vec![Lit::Int(Some(3))]));
        assert_eq!(ok("(3)"), Lit::Int(Some(3)));
        assert_eq!(
            ok("1, 2,"),
            Lit::Tuple(vec![Lit::Int(Some(1)), Lit::Int(Some(2))])
        );
        assert_eq!(
            ok("{'a': 1, 'a': 2}"),
            Lit::Dict(vec![(Lit::Str("a".into()), Lit::Int(Some(2)))])
        );
        assert_eq!(
            ok("{ # comment\n 'a' : \\\n 1 , }\n\n"),
            Lit::Dict(vec![(Lit::Str("a".into()), Lit::Int(Some(1)))])
        );
        assert_eq!(
            ok("[1.5, 2j, 1+2j, -1e5, .5, ..., None, True, set(), {1}]").clone(),
            Lit::List(vec![
                Lit::Float,
                Lit::Complex,
                Lit::Complex,
                Lit::Float,
                Lit::Float,
                Lit::Ellipsis,
                Lit::None,
                Lit::Bool(true),
                Lit::Set(vec![]),
                Lit::Set(vec![Lit::Int(Some(1))]),
            ])
        );
        assert_eq!(
            ok("99999999999999999999999999999999999999999"),
            Lit::Int(None)
        );
        assert_eq!(
            literal_eval("(3L, 4L)", true).unwrap(),
            Lit::Tuple(vec![Lit::Int(Some(3)), Lit::Int(Some(4))])
        );
    }

    #[test]
    fn what_literal_eval_refuses() {
        for text in [
            "__import__('os')",
            "f'x'",
            "x",
            "1 + 1",
            "--1",
            "'a' b'b'",
            "(1",
            "01",
            "{'a': 1\n'b': 2}x",
            "1\n2",
            "'a\nb'",
            "{**x}",
            "[1 2]",
        ] {
            assert!(literal_eval(text, false).is_err(), "{text:?}");
        }
        assert!(literal_eval("(3L,)", false).is_err());
    }
}

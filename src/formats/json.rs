//! JSON read the way Python's `json.loads` reads it, for every analyser whose loader is a
//! Python program (transformers, Keras, skops, safetensors indexes, chat templates, Keras
//! metadata in HDF5 and SavedModel files).
//!
//! `serde_json` is stricter than Python: it refuses `NaN`, `Infinity` and `-Infinity`, numbers
//! that overflow a double (`1e400`, which Python reads as `inf`), nesting past 128 levels
//! (Python allows about 1000, more in newer versions), lone `\ud800` surrogate escapes, and, for
//! bytes, a UTF-8 byte-order mark or UTF-16/32 text (`json.loads(bytes)` decodes with
//! `json.detect_encoding`). Any of these in an unused key turned an analyser off. This reader
//! accepts a superset of what Python accepts, so that whatever a loader reads is analysed:
//!
//! - bytes are decoded as `json.detect_encoding` says (BOM, UTF-16/32 by the NUL pattern of the
//!   first four bytes), invalid sequences replaced;
//! - `NaN`, `Infinity`, `-Infinity` and numbers outside a double's range become `null` (the
//!   analysers never judge a number), huge integers a double;
//! - lone surrogates become U+FFFD;
//! - text after the first complete value is ignored (Python refuses the file, so no loader reads
//!   it; analysing the first value costs nothing);
//! - nesting up to [`MAX_DEPTH`] levels; the parser keeps its own stack, so depth never costs
//!   the thread's stack while parsing.
//!
//! Duplicate keys keep the last value, as a Python `dict` does.

use std::fmt;

use serde_json::{Map, Number, Value};

/// Nesting read. Python's C scanner stops at the interpreter's recursion limit (1000 by
/// default; newer versions measure the C stack and go further): past this the text is refused
/// and the caller reports it as unreadable, never as clean.
pub const MAX_DEPTH: usize = 2048;

/// Why a text is not JSON (by Python's rules, or past the depth limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Character offset in the decoded text.
    pub at: usize,
    pub message: &'static str,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at character {}", self.message, self.at)
    }
}

impl std::error::Error for Error {}

/// The encoding `json.detect_encoding` picks for `b`.
pub fn detect_encoding(b: &[u8]) -> &'static str {
    if b.starts_with(&[0, 0, 0xfe, 0xff]) || b.starts_with(&[0xff, 0xfe, 0, 0]) {
        return "utf-32";
    }
    if b.starts_with(&[0xfe, 0xff]) || b.starts_with(&[0xff, 0xfe]) {
        return "utf-16";
    }
    if b.starts_with(&[0xef, 0xbb, 0xbf]) {
        return "utf-8-sig";
    }
    if b.len() >= 4 {
        if b[0] == 0 {
            return if b[1] != 0 { "utf-16-be" } else { "utf-32-be" };
        }
        if b[1] == 0 {
            return if b[2] != 0 || b[3] != 0 {
                "utf-16-le"
            } else {
                "utf-32-le"
            };
        }
    } else if b.len() == 2 {
        if b[0] == 0 {
            return "utf-16-be";
        }
        if b[1] == 0 {
            return "utf-16-le";
        }
    }
    "utf-8"
}

/// Decodes `b` as `json.loads(bytes)` does (lossily: what Python refuses to decode is
/// replaced, never a reason to skip the text). A leading U+FEFF is dropped.
pub fn decode(b: &[u8]) -> String {
    let text = match detect_encoding(b) {
        "utf-32" => {
            if b.starts_with(&[0xff, 0xfe, 0, 0]) {
                utf32(&b[4..], false)
            } else {
                utf32(&b[4..], true)
            }
        }
        "utf-16" => utf16(&b[2..], b[0] == 0xfe),
        "utf-8-sig" => String::from_utf8_lossy(&b[3..]).into_owned(),
        "utf-16-be" => utf16(b, true),
        "utf-16-le" => utf16(b, false),
        "utf-32-be" => utf32(b, true),
        "utf-32-le" => utf32(b, false),
        _ => String::from_utf8_lossy(b).into_owned(),
    };
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}

fn utf16(b: &[u8], big: bool) -> String {
    let units = b.chunks(2).map(|c| {
        let pair = [c[0], c.get(1).copied().unwrap_or(0)];
        if big {
            u16::from_be_bytes(pair)
        } else {
            u16::from_le_bytes(pair)
        }
    });
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

fn utf32(b: &[u8], big: bool) -> String {
    b.chunks(4)
        .map(|c| {
            let mut quad = [0u8; 4];
            quad[..c.len()].copy_from_slice(c);
            let v = if big {
                u32::from_be_bytes(quad)
            } else {
                u32::from_le_bytes(quad)
            };
            char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER)
        })
        .collect()
}

/// Whether the bytes are not plain UTF-8 (a BOM, UTF-16 or UTF-32), so that a byte search for
/// an ASCII key cannot tell whether the key is there.
fn is_wide_or_marked(b: &[u8]) -> bool {
    !matches!(detect_encoding(b), "utf-8")
}

/// Whether the first significant character of the (decoded) text opens a JSON object (every
/// format read here has an object at its root; a text opening with `[` is as often a chat
/// template, `[INST]`).
pub fn starts_like_json(b: &[u8]) -> bool {
    let head = b.get(..256).unwrap_or(b);
    let text = if is_wide_or_marked(head) {
        decode(head)
    } else {
        String::from_utf8_lossy(head).into_owned()
    };
    let text = text.trim_start_matches([' ', '\t', '\n', '\r', '\u{feff}']);
    // `{{`, `{%`, `{#` open a Jinja template, never JSON.
    text.starts_with('{') && !["{{", "{%", "{#"].iter().any(|m| text.starts_with(m))
}

/// Text that only `json.loads(bytes)` reads: a JSON object in UTF-16 or UTF-32 (with or
/// without a byte-order mark). Keras and skops read their JSON members as bytes, so such a
/// member is their configuration; detection calls it text.
pub fn is_wide_json(data: &[u8]) -> bool {
    matches!(
        detect_encoding(data),
        "utf-16" | "utf-32" | "utf-16-be" | "utf-16-le" | "utf-32-be" | "utf-32-le"
    ) && starts_like_json(data)
}

/// A cheap pre-check for analysers that only care about JSON holding one of `keys`: false
/// only when no spelling of any key can be in the bytes. A key can be written literally, or
/// with `\uXXXX` escapes for any of its characters (`"auto\u005fmap"`), or the whole text can
/// be UTF-16/32. Ordinary writers (Python's `json.dumps`, serde) never escape printable ASCII,
/// so the check stays cheap for ordinary files. It never produces a finding by itself.
pub fn may_hold_key(data: &[u8], keys: &[&str]) -> bool {
    if is_wide_or_marked(data) {
        return true;
    }
    if keys
        .iter()
        .any(|k| memchr::memmem::find(data, k.as_bytes()).is_some())
    {
        return true;
    }
    // Any `\u00XX` escape of a character some key contains.
    let finder = memchr::memmem::Finder::new(b"\\u");
    finder.find_iter(data).any(|at| {
        let hex = data.get(at + 2..at + 6).unwrap_or_default();
        let Some(v) = std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
        else {
            return false;
        };
        char::from_u32(v).is_some_and(|c| keys.iter().any(|k| k.contains(c)))
    })
}

/// Parses bytes as `json.loads(bytes)` would (see the module documentation for how this is a
/// superset of what Python accepts).
pub fn parse_like_python(data: &[u8]) -> Result<Value, Error> {
    parse_str(&decode(data))
}

/// Parses text as `json.loads(str)` would (a leading BOM, which Python refuses for text, is
/// accepted).
pub fn parse_str(text: &str) -> Result<Value, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Parser {
        s: text.as_bytes(),
        i: 0,
    }
    .document()
}

enum Frame {
    Array(Vec<Value>),
    Object(Map<String, Value>, String),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, message: &'static str) -> Error {
        let at = std::str::from_utf8(self.s.get(..self.i).unwrap_or(self.s))
            .map_or(self.i, |t| t.chars().count());
        Error { at, message }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s.get(self.i..self.i + lit.len()) == Some(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn document(mut self) -> Result<Value, Error> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            // A value is expected here.
            self.ws();
            let mut value = match self.peek() {
                Some(b'[') => {
                    self.i += 1;
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.i += 1;
                        Value::Array(Vec::new())
                    } else {
                        if stack.len() >= MAX_DEPTH {
                            return Err(self.err("nesting deeper than the scanner reads"));
                        }
                        stack.push(Frame::Array(Vec::new()));
                        continue;
                    }
                }
                Some(b'{') => {
                    self.i += 1;
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        Value::Object(Map::new())
                    } else {
                        if stack.len() >= MAX_DEPTH {
                            return Err(self.err("nesting deeper than the scanner reads"));
                        }
                        let key = self.key()?;
                        stack.push(Frame::Object(Map::new(), key));
                        continue;
                    }
                }
                _ => self.scalar()?,
            };
            // Attach the value, then close every container that ends here.
            loop {
                let Some(top) = stack.last_mut() else {
                    return Ok(value);
                };
                self.ws();
                match top {
                    Frame::Array(items) => {
                        items.push(value);
                        match self.peek() {
                            Some(b',') => {
                                self.i += 1;
                                break;
                            }
                            Some(b']') => self.i += 1,
                            _ => return Err(self.err("expecting ',' delimiter")),
                        }
                    }
                    Frame::Object(map, key) => {
                        map.insert(std::mem::take(key), value);
                        match self.peek() {
                            Some(b',') => {
                                self.i += 1;
                                self.ws();
                                *key = self.key()?;
                                break;
                            }
                            Some(b'}') => self.i += 1,
                            _ => return Err(self.err("expecting ',' delimiter")),
                        }
                    }
                }
                value = match stack.pop() {
                    Some(Frame::Array(items)) => Value::Array(items),
                    Some(Frame::Object(map, _)) => Value::Object(map),
                    None => return Err(self.err("unbalanced")),
                };
            }
        }
    }

    /// `"key" :` (whitespace before the key already skipped).
    fn key(&mut self) -> Result<String, Error> {
        if self.peek() != Some(b'"') {
            return Err(self.err("expecting property name enclosed in double quotes"));
        }
        let key = self.string()?;
        self.ws();
        if !self.eat(b":") {
            return Err(self.err("expecting ':' delimiter"));
        }
        Ok(key)
    }

    fn scalar(&mut self) -> Result<Value, Error> {
        match self.peek() {
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'n') if self.eat(b"null") => Ok(Value::Null),
            Some(b't') if self.eat(b"true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Value::Bool(false)),
            Some(b'N') if self.eat(b"NaN") => Ok(Value::Null),
            Some(b'I') if self.eat(b"Infinity") => Ok(Value::Null),
            Some(b'-') if self.eat(b"-Infinity") => Ok(Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("expecting value")),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`, as Python's scanner matches it.
    fn number(&mut self) -> Result<Value, Error> {
        let start = self.i;
        self.eat(b"-");
        if self.eat(b"0") {
        } else if self.digits() == 0 {
            return Err(self.err("expecting value"));
        }
        let mut float = false;
        if self.peek() == Some(b'.') && self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
            self.digits();
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            let save = self.i;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                self.i = save; // Python leaves `1e` as `1` followed by extra data
            } else {
                float = true;
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("0");
        if !float {
            if let Ok(v) = text.parse::<i64>() {
                return Ok(Value::Number(v.into()));
            }
            if let Ok(v) = text.parse::<u64>() {
                return Ok(Value::Number(v.into()));
            }
        }
        Ok(text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or(Value::Null, Value::Number))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let hex = self
            .s
            .get(self.i..self.i + 4)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .ok_or_else(|| self.err("invalid \\uXXXX escape"))?;
        let v = u32::from_str_radix(std::str::from_utf8(hex).unwrap_or("0"), 16)
            .map_err(|_| self.err("invalid \\uXXXX escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, Error> {
        self.i += 1; // the opening quote
        let mut out = String::new();
        loop {
            let run = self.s[self.i..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .ok_or_else(|| self.err("unterminated string"))?;
            // The input is a `str`, so the run is whole characters.
            out.push_str(&String::from_utf8_lossy(&self.s[self.i..self.i + run]));
            self.i += run;
            match self.s[self.i] {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.i += 1;
                    let Some(c) = self.peek() else {
                        return Err(self.err("unterminated string"));
                    };
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let mut c = hi;
                            if (0xd800..0xdc00).contains(&hi)
                                && self.s.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                match self.hex4() {
                                    Ok(lo) if (0xdc00..0xe000).contains(&lo) => {
                                        c = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                                    }
                                    _ => self.i = save,
                                }
                            }
                            out.push(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
                        }
                        _ => return Err(self.err("invalid \\escape")),
                    }
                }
                _ => return Err(self.err("invalid control character in string")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_extensions() {
        let v = parse_like_python(br#"{"a": NaN, "b": -Infinity, "c": Infinity, "d": 1e400, "e": 1.5, "f": -3, "g": 123456789012345678901234567890}"#).unwrap();
        assert_eq!(v["a"], Value::Null);
        assert_eq!(v["b"], Value::Null);
        assert_eq!(v["d"], Value::Null);
        assert_eq!(v["e"], json!(1.5));
        assert_eq!(v["f"], json!(-3));
        assert!(v["g"].is_f64());
    }

    #[test]
    fn escapes_decode_like_python() {
        let v =
            parse_like_python(br#"{"auto\u005fmap": "x\ud800y", "k": "\ud83d\ude00\/"}"#).unwrap();
        assert_eq!(v["auto_map"], json!("x\u{fffd}y"));
        assert_eq!(v["k"], json!("\u{1f600}/"));
        assert!(parse_like_python(b"{\"a\": \"\x01\"}").is_err());
        assert!(parse_like_python(br#"{"a": "\q"}"#).is_err());
    }

    #[test]
    fn depth_beyond_serde() {
        let deep = format!("{{\"k\": {}1{}}}", "[".repeat(1000), "]".repeat(1000));
        assert!(parse_like_python(deep.as_bytes()).is_ok());
        let too = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        assert!(parse_like_python(too.as_bytes()).is_err());
        let open = "[".repeat(1_000_000);
        assert!(parse_like_python(open.as_bytes()).is_err());
    }

    #[test]
    fn encodings() {
        let text = r#"{"class_name": "x"}"#;
        let mut bom = b"\xef\xbb\xbf".to_vec();
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(parse_like_python(&bom).unwrap()["class_name"], json!("x"));
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let mut le_bom = vec![0xff, 0xfe];
        le_bom.extend_from_slice(&le);
        let u32be: Vec<u8> = text
            .chars()
            .flat_map(|c| (c as u32).to_be_bytes())
            .collect();
        let u32le: Vec<u8> = text
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect();
        for b in [&le, &be, &le_bom, &u32be, &u32le] {
            assert_eq!(parse_like_python(b).unwrap()["class_name"], json!("x"));
            assert!(starts_like_json(b));
            assert!(may_hold_key(b, &["\"class_name\""]));
        }
    }

    #[test]
    fn prefilter() {
        assert!(may_hold_key(br#"{"auto_map": 1}"#, &["\"auto_map\""]));
        assert!(may_hold_key(br#"{"auto\u005fmap": 1}"#, &["\"auto_map\""]));
        assert!(may_hold_key(br#"{"\u0061uto_map": 1}"#, &["\"auto_map\""]));
        assert!(!may_hold_key(
            br#"{"vocab": "\u0120the"}"#,
            &["\"auto_map\""]
        ));
        assert!(!may_hold_key(br#"{"x": 1}"#, &["\"auto_map\""]));
    }

    /// A short in-tree fuzz (the `json` cargo-fuzz target does the same at length): mutated
    /// JSON never panics, and whatever serde_json reads, this reader reads the same.
    #[test]
    fn mutations_agree_with_serde() {
        let seeds: [&[u8]; 4] = [
            br#"{"a": [1, 2, {"b": "c\u005f\n"}], "d": null, "e": true, "f": -0.5e3}"#,
            br#"{"class_name": "Functional", "config": {"layers": [[[[]]]]}, "x": NaN}"#,
            b"[\"\\ud83d\\ude00\", 18446744073709551616, -9223372036854775808, 1e400]",
            b"\xef\xbb\xbf{\"k\": {\"k\": {\"k\": \"v\"}}}",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        const ALPHABET: &[u8] = b"{}[]\",:\\u0-1eE.+ NaIfitynl\x00\xff\xfe";
        for round in 0..20_000 {
            let mut data = seeds[round % seeds.len()].to_vec();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % (data.len() + 1);
                let c = ALPHABET[(next() as usize) % ALPHABET.len()];
                match next() % 3 {
                    0 if at < data.len() => data[at] = c,
                    1 if at < data.len() => {
                        data.remove(at);
                    }
                    _ => data.insert(at, c),
                }
            }
            let ours = parse_like_python(&data);
            let _ = may_hold_key(&data, &["\"auto_map\""]);
            let _ = starts_like_json(&data);
            if let Ok(theirs) = serde_json::from_slice::<Value>(&data) {
                let ours =
                    ours.unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&data)));
                if !theirs.to_string().contains(['.', 'e', 'E']) {
                    assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(&data));
                }
            }
        }
    }

    #[test]
    fn trailing_and_garbage() {
        assert_eq!(parse_like_python(b"{} {\"a\": 1}").unwrap(), json!({}));
        assert!(parse_like_python(b"{\"a\" 1}").is_err());
        assert!(parse_like_python(b"{\"a\": 1,}").is_err());
        assert!(parse_like_python(b"").is_err());
        assert!(parse_like_python(b"-").is_err());
        assert_eq!(
            parse_like_python(b"{\"a\":1,\"a\":2}").unwrap(),
            json!({"a": 2})
        );
    }
}

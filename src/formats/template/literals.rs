//! Jinja2 string literals as Jinja2 reads them, and Jinja2 syntax minijinja refuses, rewritten
//! before minijinja parses a template.
//!
//! Jinja2's lexer decodes every string literal with Python's `unicode-escape` codec (after
//! `encode("ascii", "backslashreplace")`), so `'\N{LOW LINE}'`, `'\U0000005f'`, `'\x5f'`,
//! `'\137'` and a `\`-newline continuation all give the same name. minijinja decodes only some
//! of these (`\N{…}` and `\U` stay as written), so each literal inside a tag is decoded here
//! the way Python does and written back in a form minijinja reads as the same string.
//!
//! The same pass rewrites Jinja2 syntax that minijinja refuses but Jinja2 accepts, to its
//! Jinja2 meaning: a tuple in a print tag (`{{ a, b }}` prints the tuple `(a, b)`), and Unicode
//! whitespace (vertical tab, no-break space) between tokens, which Jinja2's `\s` skips.

/// Printable ASCII by Unicode name (the names `\N{…}` takes, matched case-insensitively as
/// Python does). A name outside this table is reported as unknown, never dropped.
const NAMES: &[(&str, char)] = &[
    ("SPACE", ' '),
    ("EXCLAMATION MARK", '!'),
    ("QUOTATION MARK", '"'),
    ("NUMBER SIGN", '#'),
    ("DOLLAR SIGN", '$'),
    ("PERCENT SIGN", '%'),
    ("AMPERSAND", '&'),
    ("APOSTROPHE", '\''),
    ("LEFT PARENTHESIS", '('),
    ("RIGHT PARENTHESIS", ')'),
    ("ASTERISK", '*'),
    ("PLUS SIGN", '+'),
    ("COMMA", ','),
    ("HYPHEN-MINUS", '-'),
    ("FULL STOP", '.'),
    ("SOLIDUS", '/'),
    ("DIGIT ZERO", '0'),
    ("DIGIT ONE", '1'),
    ("DIGIT TWO", '2'),
    ("DIGIT THREE", '3'),
    ("DIGIT FOUR", '4'),
    ("DIGIT FIVE", '5'),
    ("DIGIT SIX", '6'),
    ("DIGIT SEVEN", '7'),
    ("DIGIT EIGHT", '8'),
    ("DIGIT NINE", '9'),
    ("COLON", ':'),
    ("SEMICOLON", ';'),
    ("LESS-THAN SIGN", '<'),
    ("EQUALS SIGN", '='),
    ("GREATER-THAN SIGN", '>'),
    ("QUESTION MARK", '?'),
    ("COMMERCIAL AT", '@'),
    ("LATIN CAPITAL LETTER A", 'A'),
    ("LATIN CAPITAL LETTER B", 'B'),
    ("LATIN CAPITAL LETTER C", 'C'),
    ("LATIN CAPITAL LETTER D", 'D'),
    ("LATIN CAPITAL LETTER E", 'E'),
    ("LATIN CAPITAL LETTER F", 'F'),
    ("LATIN CAPITAL LETTER G", 'G'),
    ("LATIN CAPITAL LETTER H", 'H'),
    ("LATIN CAPITAL LETTER I", 'I'),
    ("LATIN CAPITAL LETTER J", 'J'),
    ("LATIN CAPITAL LETTER K", 'K'),
    ("LATIN CAPITAL LETTER L", 'L'),
    ("LATIN CAPITAL LETTER M", 'M'),
    ("LATIN CAPITAL LETTER N", 'N'),
    ("LATIN CAPITAL LETTER O", 'O'),
    ("LATIN CAPITAL LETTER P", 'P'),
    ("LATIN CAPITAL LETTER Q", 'Q'),
    ("LATIN CAPITAL LETTER R", 'R'),
    ("LATIN CAPITAL LETTER S", 'S'),
    ("LATIN CAPITAL LETTER T", 'T'),
    ("LATIN CAPITAL LETTER U", 'U'),
    ("LATIN CAPITAL LETTER V", 'V'),
    ("LATIN CAPITAL LETTER W", 'W'),
    ("LATIN CAPITAL LETTER X", 'X'),
    ("LATIN CAPITAL LETTER Y", 'Y'),
    ("LATIN CAPITAL LETTER Z", 'Z'),
    ("LEFT SQUARE BRACKET", '['),
    ("REVERSE SOLIDUS", '\\'),
    ("RIGHT SQUARE BRACKET", ']'),
    ("CIRCUMFLEX ACCENT", '^'),
    ("LOW LINE", '_'),
    ("GRAVE ACCENT", '`'),
    ("LATIN SMALL LETTER A", 'a'),
    ("LATIN SMALL LETTER B", 'b'),
    ("LATIN SMALL LETTER C", 'c'),
    ("LATIN SMALL LETTER D", 'd'),
    ("LATIN SMALL LETTER E", 'e'),
    ("LATIN SMALL LETTER F", 'f'),
    ("LATIN SMALL LETTER G", 'g'),
    ("LATIN SMALL LETTER H", 'h'),
    ("LATIN SMALL LETTER I", 'i'),
    ("LATIN SMALL LETTER J", 'j'),
    ("LATIN SMALL LETTER K", 'k'),
    ("LATIN SMALL LETTER L", 'l'),
    ("LATIN SMALL LETTER M", 'm'),
    ("LATIN SMALL LETTER N", 'n'),
    ("LATIN SMALL LETTER O", 'o'),
    ("LATIN SMALL LETTER P", 'p'),
    ("LATIN SMALL LETTER Q", 'q'),
    ("LATIN SMALL LETTER R", 'r'),
    ("LATIN SMALL LETTER S", 's'),
    ("LATIN SMALL LETTER T", 't'),
    ("LATIN SMALL LETTER U", 'u'),
    ("LATIN SMALL LETTER V", 'v'),
    ("LATIN SMALL LETTER W", 'w'),
    ("LATIN SMALL LETTER X", 'x'),
    ("LATIN SMALL LETTER Y", 'y'),
    ("LATIN SMALL LETTER Z", 'z'),
    ("LEFT CURLY BRACKET", '{'),
    ("VERTICAL LINE", '|'),
    ("RIGHT CURLY BRACKET", '}'),
    ("TILDE", '~'),
];

/// A template after the rewrite.
#[derive(Debug, Default)]
pub(super) struct Rewritten {
    pub text: String,
    /// `\N{…}` names not in [`NAMES`] (Jinja2 raises on a name Unicode does not have, so any
    /// such name that loads is a real character the scanner cannot read).
    pub unknown_names: Vec<String>,
    /// Every string literal inside a tag, decoded as Jinja2 decodes it.
    pub strings: Vec<String>,
}

/// Literals collected per template.
const MAX_STRINGS: usize = 100_000;

fn lookup(name: &str) -> Option<char> {
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, c)| c)
}

/// Decodes the body of a Jinja2 string literal as Jinja2 does. `Err` when Python's codec
/// would raise (the template does not load); unknown `\N{}` names are pushed to `unknown`
/// and decoded as U+FFFD.
pub(super) fn decode_literal(body: &str, unknown: &mut Vec<String>) -> Result<String, ()> {
    // `_normalize_newlines`, then `encode("ascii", "backslashreplace")`.
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    let mut ascii = String::with_capacity(body.len());
    for c in body.chars() {
        let v = c as u32;
        if v < 0x80 {
            ascii.push(c);
        } else if v <= 0xff {
            ascii.push_str(&format!("\\x{v:02x}"));
        } else if v <= 0xffff {
            ascii.push_str(&format!("\\u{v:04x}"));
        } else {
            ascii.push_str(&format!("\\U{v:08x}"));
        }
    }
    let b = ascii.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    let hex = |from: usize, n: usize| -> Result<u32, ()> {
        let h = b.get(from..from + n).ok_or(())?;
        if !h.iter().all(u8::is_ascii_hexdigit) {
            return Err(());
        }
        u32::from_str_radix(std::str::from_utf8(h).map_err(|_| ())?, 16).map_err(|_| ())
    };
    let push = |out: &mut String, v: u32| {
        out.push(char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER));
    };
    while i < b.len() {
        let c = b[i];
        if c != b'\\' {
            out.push(c as char);
            i += 1;
            continue;
        }
        let Some(&e) = b.get(i + 1) else {
            return Err(()); // `\` at end of string
        };
        i += 2;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e as char),
            b'a' => out.push('\u{7}'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'v' => out.push('\u{b}'),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match b.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                push(&mut out, v);
            }
            b'x' => {
                push(&mut out, hex(i, 2)?);
                i += 2;
            }
            b'u' => {
                push(&mut out, hex(i, 4)?);
                i += 4;
            }
            b'U' => {
                let v = hex(i, 8)?;
                if v > 0x10ffff {
                    return Err(());
                }
                push(&mut out, v);
                i += 8;
            }
            b'N' => {
                if b.get(i) != Some(&b'{') {
                    return Err(());
                }
                let end = b[i..].iter().position(|&c| c == b'}').ok_or(())? + i;
                let name = std::str::from_utf8(&b[i + 1..end]).map_err(|_| ())?;
                if name.is_empty() {
                    return Err(());
                }
                match lookup(name) {
                    Some(c) => out.push(c),
                    None => {
                        if !unknown.iter().any(|n| n == name) {
                            unknown.push(name.to_owned());
                        }
                        out.push(char::REPLACEMENT_CHARACTER);
                    }
                }
                i = end + 1;
            }
            _ => {
                out.push('\\');
                out.push(e as char);
            }
        }
    }
    Ok(out)
}

/// A string literal minijinja decodes to exactly `s`.
fn encode_literal(s: &str, out: &mut String) {
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            _ => out.push(c),
        }
    }
    out.push('\'');
}

/// Whitespace Jinja2's `\s` skips between tokens but minijinja does not.
fn is_exotic_space(c: char) -> bool {
    c.is_whitespace() && !matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Rewrites `source` (see the module documentation). Offsets may move.
pub(super) fn rewrite(source: &str) -> Rewritten {
    let mut r = Rewritten::default();
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    loop {
        let Some(at) = ["{{", "{%", "{#"].iter().filter_map(|m| rest.find(m)).min() else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..at]);
        let opener = &rest[at..at + 2];
        rest = &rest[at + 2..];
        if opener == "{#" {
            let end = rest.find("#}").map_or(rest.len(), |e| e + 2);
            out.push_str(opener);
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        // `{% raw %}` … `{% endraw %}`: text, not code.
        if opener == "{%"
            && rest
                .trim_start_matches(['-', '+'])
                .trim_start()
                .strip_prefix("raw")
                .is_some_and(|t| t.trim_start().trim_start_matches('-').starts_with("%}"))
        {
            let end = rest
                .find("endraw")
                .and_then(|e| rest[e..].find("%}").map(|f| e + f + 2))
                .unwrap_or(rest.len());
            out.push_str(opener);
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        let closer = if opener == "{{" { "}}" } else { "%}" };
        let (code, used) = rewrite_code(rest, closer, &mut r);
        out.push_str(opener);
        out.push_str(&code);
        rest = &rest[used..];
    }
    r.text = out;
    r
}

/// The code of one tag, up to and including its closer (or to the end of the text). Returns
/// the rewritten code and the bytes of `rest` it used.
fn rewrite_code(rest: &str, closer: &str, r: &mut Rewritten) -> (String, usize) {
    let mut code = String::new();
    let mut depth: usize = 0;
    // Byte offsets in `code` of commas outside brackets (for a print tag's tuple).
    let mut top_comma = false;
    let mut i = 0;
    let bytes = rest.as_bytes();
    let mut end = rest.len();
    let mut closed = None;
    while i < bytes.len() {
        let c = bytes[i];
        if depth == 0 && rest[i..].starts_with(closer) {
            closed = Some(i);
            end = i + closer.len();
            break;
        }
        match c {
            b'\'' | b'"' => {
                // Jinja2's string rule: `'([^'\\]*(?:\\.[^'\\]*)*)'`, across lines.
                let mut j = i + 1;
                let mut ok = false;
                while j < bytes.len() {
                    match bytes[j] {
                        b'\\' => j += 2,
                        q if q == c => {
                            ok = true;
                            break;
                        }
                        _ => j += 1,
                    }
                }
                if !ok {
                    // An unterminated quote: Jinja2 fails on it; leave the rest as it is.
                    code.push_str(&rest[i..]);
                    return (code, rest.len());
                }
                let body = &rest[i + 1..j];
                let mut unknown = Vec::new();
                match decode_literal(body, &mut unknown) {
                    Ok(s) => {
                        if body.contains('\\') {
                            encode_literal(&s, &mut code);
                        } else {
                            code.push_str(&rest[i..=j]);
                        }
                        if r.strings.len() < MAX_STRINGS {
                            r.strings.push(s);
                        }
                        for n in unknown {
                            if !r.unknown_names.contains(&n) {
                                r.unknown_names.push(n);
                            }
                        }
                    }
                    Err(()) => code.push_str(&rest[i..=j]),
                }
                i = j + 1;
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => top_comma = true,
            _ => {}
        }
        let ch = rest[i..].chars().next().unwrap_or(' ');
        if is_exotic_space(ch) {
            code.push(' ');
        } else {
            code.push(ch);
        }
        i += ch.len_utf8();
    }
    if closer == "}}" && top_comma && closed.is_some() {
        // `{{ a, b }}` prints the tuple: parenthesise what is between the whitespace markers.
        let inner = code.trim_start_matches(['-', '+']);
        let lead = code.len() - inner.len();
        let inner_trim = inner.trim_end();
        let (body, marker) = match inner_trim.strip_suffix('-') {
            Some(b) => (b, "-"),
            None => (inner_trim, ""),
        };
        code = format!("{} ({}) {marker}", &code[..lead], body.trim());
    }
    code.push_str(&rest[closed.map_or(rest.len(), |c| c)..end]);
    (code, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> String {
        decode_literal(s, &mut Vec::new()).unwrap()
    }

    #[test]
    fn python_unicode_escape() {
        assert_eq!(dec(r"\N{LOW LINE}\N{low line}x"), "__x");
        assert_eq!(dec(r"\U0000005f\x5f\137\u005f"), "____");
        assert_eq!(dec("a\\\nb"), "ab");
        assert_eq!(dec(r"\q\/"), r"\q\/");
        assert_eq!(dec(r"\777"), "\u{1ff}");
        assert_eq!(dec("\\é"), "\\xe9");
        assert!(decode_literal(r"\x5", &mut Vec::new()).is_err());
        assert!(decode_literal(r"\U00110000", &mut Vec::new()).is_err());
        let mut unknown = Vec::new();
        assert_eq!(
            decode_literal(r"\N{LATIN SMALL LETTER O WITH DIAERESIS}", &mut unknown).unwrap(),
            "\u{fffd}"
        );
        assert_eq!(unknown, ["LATIN SMALL LETTER O WITH DIAERESIS"]);
    }

    #[test]
    fn rewrites_only_code() {
        let r = rewrite(
            r"text \N{LOW LINE} {{ '\N{LOW LINE}' }}{# '\x5f' #}{% raw %}{{ '\x5f' }}{% endraw %}",
        );
        assert_eq!(
            r.text,
            r"text \N{LOW LINE} {{ '_' }}{# '\x5f' #}{% raw %}{{ '\x5f' }}{% endraw %}"
        );
        let r = rewrite("{{- bos_token, '' -}}{{ {'a': {'b': 1}} }}");
        assert_eq!(r.text, "{{- (bos_token, '') -}}{{ {'a': {'b': 1}} }}");
        let r = rewrite("{%\u{b}if\u{a0}x %}y{% endif %}");
        assert_eq!(r.text, "{% if x %}y{% endif %}");
        let r = rewrite(r#"{{ 'it\'s' ~ "a\\b" }}"#);
        assert_eq!(r.strings, ["it's", "a\\b"]);
    }
}

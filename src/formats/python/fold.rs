//! What names and strings in Python source stand for, without running it: payloads spell
//! their targets in pieces (`__import__('o'+'s')`, `getattr(os, ''.join(['sys', 'tem']))`,
//! `'metsys'[::-1]`, `bytes.fromhex('6f73').decode()`), so names are judged by the string
//! they evaluate to, as the interpreter would build it.

use ruff_python_ast::{self as ast, Expr, FStringPart, InterpolatedStringElement, Number};

/// Longest string folded; payload names are short, and this bounds the work per expression.
const MAX_FOLDED: usize = 4096;
/// Nesting followed while folding one expression.
const MAX_DEPTH: u32 = 48;

/// What the names of a file stand for at the point being read.
pub trait Names {
    /// The qualified name a bare name stands for (an import alias, or itself).
    fn resolve(&self, id: &str) -> String;
    /// The string a bare name was last assigned, when that was a constant.
    fn constant(&self, id: &str) -> Option<String>;
}

/// Names that stand for themselves and hold no constants (code without imports or state).
pub struct Plain;

impl Names for Plain {
    fn resolve(&self, id: &str) -> String {
        id.to_owned()
    }

    fn constant(&self, _: &str) -> Option<String> {
        None
    }
}

/// The dotted name an expression reaches (`torch.ops.aten.save`, `getattr(os, 'sys'+'tem')`,
/// `__import__('os').system`, `vars(builtins)['exec']`), its root name mapped through `names`.
pub fn dotted_name(e: &Expr, names: &dyn Names) -> Option<String> {
    dotted(e, names, 0)
}

fn dotted(e: &Expr, names: &dyn Names, depth: u32) -> Option<String> {
    if depth > MAX_DEPTH {
        return None;
    }
    match e {
        Expr::Name(n) => Some(names.resolve(n.id.as_str())),
        Expr::Attribute(a) => {
            let base = dotted(&a.value, names, depth + 1)?;
            Some(format!("{base}.{}", a.attr.as_str()))
        }
        Expr::Call(c) => {
            let func = dotted(&c.func, names, depth + 1)?;
            let args = &c.arguments.args;
            match (func.as_str(), &args[..]) {
                ("getattr" | "builtins.getattr", [obj, name, ..]) => Some(format!(
                    "{}.{}",
                    dotted(obj, names, depth + 1)?,
                    fold(name, names, depth + 1)?
                )),
                (
                    "__import__"
                    | "builtins.__import__"
                    | "importlib.import_module"
                    | "importlib.__import__",
                    [module, ..],
                ) => fold(module, names, depth + 1),
                _ => None,
            }
        }
        // `os.__dict__['system']`, `vars(os)['system']`, `globals()['exec']`,
        // `sys.modules['os']`.
        Expr::Subscript(s) => {
            let key = fold(&s.slice, names, depth + 1)?;
            let base = match &*s.value {
                value if dotted(value, names, depth + 1).as_deref() == Some("sys.modules") => None,
                Expr::Attribute(a) if a.attr.as_str() == "__dict__" => {
                    Some(dotted(&a.value, names, depth + 1)?)
                }
                Expr::Call(c) => {
                    let func = dotted(&c.func, names, depth + 1)?;
                    match (func.as_str(), &c.arguments.args[..]) {
                        ("vars", [obj]) => Some(dotted(obj, names, depth + 1)?),
                        ("globals" | "locals" | "vars", []) => None,
                        _ => return None,
                    }
                }
                Expr::Name(n) if n.id.as_str() == "__builtins__" => None,
                _ => return None,
            };
            Some(match base {
                Some(base) => format!("{base}.{key}"),
                None => key,
            })
        }
        _ => None,
    }
}

/// The string an expression evaluates to, when it is built from constants only.
pub fn fold_string(e: &Expr, names: &dyn Names) -> Option<String> {
    fold(e, names, 0)
}

fn fold(e: &Expr, names: &dyn Names, depth: u32) -> Option<String> {
    if depth > MAX_DEPTH {
        return None;
    }
    let folded = match e {
        Expr::StringLiteral(s) => s.value.to_str().to_owned(),
        Expr::BytesLiteral(b) => {
            String::from_utf8_lossy(&b.value.bytes().collect::<Vec<u8>>()).into_owned()
        }
        Expr::Name(n) => names.constant(n.id.as_str())?,
        Expr::FString(f) => {
            let mut out = String::new();
            for part in f.value.iter() {
                match part {
                    FStringPart::Literal(l) => out.push_str(l.value.as_ref()),
                    FStringPart::FString(f) => {
                        for element in f.elements.iter() {
                            match element {
                                InterpolatedStringElement::Literal(l) => out.push_str(&l.value),
                                InterpolatedStringElement::Interpolation(i) => {
                                    out.push_str(&fold(&i.expression, names, depth + 1)?);
                                }
                            }
                        }
                    }
                }
            }
            out
        }
        Expr::BinOp(b) => match b.op {
            ast::Operator::Add => {
                fold(&b.left, names, depth + 1)? + &fold(&b.right, names, depth + 1)?
            }
            ast::Operator::Mult => {
                let (text, count) = match (fold(&b.left, names, depth + 1), small_int(&b.right)) {
                    (Some(text), Some(n)) => (text, n),
                    _ => (fold(&b.right, names, depth + 1)?, small_int(&b.left)?),
                };
                if text.len().saturating_mul(count) > MAX_FOLDED {
                    return None;
                }
                text.repeat(count)
            }
            // `'%s%s' % ('o', 's')`
            ast::Operator::Mod => {
                let template = fold(&b.left, names, depth + 1)?;
                let values: Vec<String> = match &*b.right {
                    Expr::Tuple(t) => t
                        .elts
                        .iter()
                        .map(|v| fold(v, names, depth + 1))
                        .collect::<Option<_>>()?,
                    other => vec![fold(other, names, depth + 1)?],
                };
                substitute(&template, "%s", &values)?
            }
            _ => return None,
        },
        // `'metsys'[::-1]`, `'xxsystem'[2:]`, `'abc'[-1]`
        Expr::Subscript(s) => {
            let text = fold(&s.value, names, depth + 1)?;
            match &*s.slice {
                Expr::Slice(slice) => slice_of(&text, slice)?,
                index => {
                    let index = int_value(index)?;
                    let count = i64::try_from(text.chars().count()).ok()?;
                    let at = if index < 0 { index + count } else { index };
                    String::from(text.chars().nth(usize::try_from(at).ok()?)?)
                }
            }
        }
        Expr::Call(c) => fold_call(c, names, depth)?,
        _ => return None,
    };
    (folded.len() <= MAX_FOLDED).then_some(folded)
}

/// String-building calls: `sep.join([...])`, `chr(n)`, `str(x)`, string methods, and the
/// decoders payloads spell names with (`bytes.fromhex`, `base64.b64decode`, `codecs.decode`
/// with rot13).
fn fold_call(c: &ast::ExprCall, names: &dyn Names, depth: u32) -> Option<String> {
    let args = &c.arguments.args;
    let arg = |i: usize| args.get(i).and_then(|a| fold(a, names, depth + 1));
    if let Expr::Attribute(a) = &*c.func {
        let method = a.attr.as_str();
        // A method of a folded string (`'-'.join`, `'SYSTEM'.lower()`).
        if let Some(text) = fold(&a.value, names, depth + 1) {
            return match (method, args.len()) {
                ("join", 1) => join(&text, args.first()?, names, depth),
                ("lower" | "casefold", 0) => Some(text.to_lowercase()),
                ("upper", 0) => Some(text.to_uppercase()),
                ("strip", 0) => Some(text.trim().to_owned()),
                ("lstrip", 0) => Some(text.trim_start().to_owned()),
                ("rstrip", 0) => Some(text.trim_end().to_owned()),
                ("swapcase", 0) => Some(
                    text.chars()
                        .map(|c| {
                            if c.is_uppercase() {
                                c.to_lowercase().collect::<String>()
                            } else {
                                c.to_uppercase().collect::<String>()
                            }
                        })
                        .collect(),
                ),
                ("replace", 2) => Some(text.replace(&arg(0)?, &arg(1)?)),
                ("decode" | "encode", _) => Some(text),
                ("format", _) => {
                    let values: Vec<String> = (0..args.len()).map(arg).collect::<Option<_>>()?;
                    substitute(&text, "{}", &values)
                }
                _ => None,
            };
        }
    }
    let func = dotted(&c.func, names, depth + 1)?;
    match (func.as_str(), args.len()) {
        ("str", 1) => arg(0),
        ("chr", 1) => {
            char::from_u32(u32::try_from(int_value(args.first()?)?).ok()?).map(String::from)
        }
        ("bytes.fromhex", 1) => {
            let hex: String = arg(0)?.split_whitespace().collect();
            let bytes = data_encoding::HEXLOWER_PERMISSIVE
                .decode(hex.as_bytes())
                .ok()?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        ("base64.b64decode" | "base64.standard_b64decode", 1) => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(arg(0)?.trim())
                .ok()?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        ("codecs.decode" | "codecs.encode", 2)
            if matches!(arg(1)?.as_str(), "rot13" | "rot_13" | "rot-13") =>
        {
            Some(arg(0)?.chars().map(rot13).collect())
        }
        _ => None,
    }
}

/// `sep.join(items)` for a list, tuple or `reversed(...)` of foldable items, or
/// `map(chr, [...])`.
fn join(sep: &str, items: &Expr, names: &dyn Names, depth: u32) -> Option<String> {
    let parts: Vec<String> = match items {
        Expr::List(ast::ExprList { elts, .. }) | Expr::Tuple(ast::ExprTuple { elts, .. }) => elts
            .iter()
            .map(|e| fold(e, names, depth + 1))
            .collect::<Option<_>>()?,
        Expr::Call(c) => {
            let func = dotted(&c.func, names, depth + 1)?;
            match (func.as_str(), &c.arguments.args[..]) {
                ("reversed", [inner]) => match inner {
                    Expr::List(_) | Expr::Tuple(_) => {
                        let mut parts: Vec<String> = match inner {
                            Expr::List(ast::ExprList { elts, .. })
                            | Expr::Tuple(ast::ExprTuple { elts, .. }) => elts
                                .iter()
                                .map(|e| fold(e, names, depth + 1))
                                .collect::<Option<_>>()?,
                            _ => return None,
                        };
                        parts.reverse();
                        parts
                    }
                    other => fold(other, names, depth + 1)?
                        .chars()
                        .rev()
                        .map(String::from)
                        .collect(),
                },
                (
                    "map",
                    [
                        f,
                        Expr::List(ast::ExprList { elts, .. })
                        | Expr::Tuple(ast::ExprTuple { elts, .. }),
                    ],
                ) if dotted(f, names, depth + 1).as_deref() == Some("chr") => elts
                    .iter()
                    .map(|e| char::from_u32(u32::try_from(int_value(e)?).ok()?).map(String::from))
                    .collect::<Option<_>>()?,
                _ => return None,
            }
        }
        other => fold(other, names, depth + 1)?
            .chars()
            .map(String::from)
            .collect(),
    };
    Some(parts.join(sep))
}

/// `text[a:b:step]` with literal bounds (Python's rules for negative and missing ones).
fn slice_of(text: &str, slice: &ast::ExprSlice) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let len = i64::try_from(chars.len()).ok()?;
    let bound = |b: &Option<Box<Expr>>| -> Option<Option<i64>> {
        match b {
            None => Some(None),
            Some(e) => Some(Some(int_value(e)?)),
        }
    };
    let step = bound(&slice.step)?.unwrap_or(1);
    let clamp = |i: i64, low: i64, high: i64| {
        let i = if i < 0 { i + len } else { i };
        i.clamp(low, high)
    };
    let (lower, upper) = (bound(&slice.lower)?, bound(&slice.upper)?);
    let mut out = String::new();
    match step {
        1 => {
            let start = lower.map_or(0, |i| clamp(i, 0, len));
            let end = upper.map_or(len, |i| clamp(i, 0, len));
            let mut i = start;
            while i < end {
                out.push(*chars.get(usize::try_from(i).ok()?)?);
                i += 1;
            }
        }
        -1 => {
            let start = lower.map_or(len - 1, |i| clamp(i, -1, len - 1));
            let end = upper.map_or(-1, |i| clamp(i, -1, len - 1));
            let mut i = start;
            while i > end {
                out.push(*chars.get(usize::try_from(i).ok()?)?);
                i -= 1;
            }
        }
        _ => return None,
    }
    Some(out)
}

/// Replaces each `marker` in `template`, in order, with the next value; `None` when the counts
/// differ.
fn substitute(template: &str, marker: &str, values: &[String]) -> Option<String> {
    let pieces: Vec<&str> = template.split(marker).collect();
    if pieces.len() != values.len() + 1 {
        return None;
    }
    let mut out = String::new();
    for (i, piece) in pieces.iter().enumerate() {
        out.push_str(piece);
        if let Some(v) = values.get(i) {
            out.push_str(v);
        }
    }
    Some(out)
}

fn int_value(e: &Expr) -> Option<i64> {
    match e {
        Expr::NumberLiteral(ast::ExprNumberLiteral {
            value: Number::Int(i),
            ..
        }) => i.as_i64(),
        Expr::UnaryOp(u) if u.op == ast::UnaryOp::USub => int_value(&u.operand)?.checked_neg(),
        _ => None,
    }
}

fn small_int(e: &Expr) -> Option<usize> {
    usize::try_from(int_value(e)?)
        .ok()
        .filter(|&n| n <= MAX_FOLDED)
}

fn rot13(c: char) -> char {
    match c {
        'a'..='z' => char::from(b'a' + (c as u8 - b'a' + 13) % 26),
        'A'..='Z' => char::from(b'A' + (c as u8 - b'A' + 13) % 26),
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(source: &str) -> Expr {
        let parsed = ruff_python_parser::parse_expression(source).expect(source);
        parsed.into_expr()
    }

    #[test]
    fn strings_are_folded_as_python_builds_them() {
        for (source, want) in [
            ("'o' + 's'", "os"),
            ("''.join(['sys', 'tem'])", "system"),
            ("''.join(reversed('metsys'))", "system"),
            ("''.join(map(chr, [111, 115]))", "os"),
            ("'metsys'[::-1]", "system"),
            ("'xxsystem'[2:]", "system"),
            (
                "'sys' + 'metsys'[::-1][-3:][0] + 'metsys'[1] + 'metsys'[-6]",
                "system",
            ),
            ("'SYSTEM'.lower()", "system"),
            ("'%s%s' % ('o', 's')", "os"),
            ("'{}{}'.format('o', 's')", "os"),
            ("f\"{'o'}s\"", "os"),
            ("bytes.fromhex('6f73').decode()", "os"),
            ("base64.b64decode('b3M=').decode()", "os"),
            ("codecs.decode('flfgrz', 'rot13')", "system"),
            ("chr(111) + chr(115)", "os"),
            ("b'os'.decode('ascii')", "os"),
        ] {
            assert_eq!(
                fold_string(&expr(source), &Plain).as_deref(),
                Some(want),
                "{source}"
            );
        }
        assert_eq!(fold_string(&expr("x + 's'"), &Plain), None);
        assert_eq!(fold_string(&expr("'a' * 100000"), &Plain), None);
    }

    #[test]
    fn names_are_judged_by_what_they_reach() {
        for (source, want) in [
            ("__import__('o' + 's').system", "os.system"),
            ("getattr(__import__('os'), 'sys' + 'tem')", "os.system"),
            (
                "importlib.import_module('subprocess').run",
                "subprocess.run",
            ),
            ("os.__dict__['system']", "os.system"),
            ("vars(builtins)['exec']", "builtins.exec"),
            ("globals()['ex' + 'ec']", "exec"),
            ("__builtins__['eval']", "eval"),
            ("sys.modules['o' + 's'].system", "os.system"),
        ] {
            assert_eq!(
                dotted_name(&expr(source), &Plain).as_deref(),
                Some(want),
                "{source}"
            );
        }
    }
}

//! Python-like rendering of symbolic values for evidence: what the unpickler would do, in a
//! form a reviewer reads at a glance (`posix.system('echo hi')`), within a size budget.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::value::{Arena, Call, CallKind, Items, Node, NodeId, Raw, RawKind, Value};

/// What the renderer needs to know about imports: how to print global number `index`.
pub trait GlobalNames {
    fn global_name(&self, index: u32) -> Cow<'_, str>;
}

/// Renders values as Python-like text, within a size budget.
pub struct Renderer<'r, 'a, G: GlobalNames> {
    arena: &'r Arena<'a>,
    names: &'r G,
    out: String,
}

/// Characters of a string shown before it is cut.
const SHOWN_CHARS: usize = 80;
/// Items of a container shown before `…`.
const SHOWN_ITEMS: usize = 8;
const MAX_DEPTH: usize = 8;
const MAX_LEN: usize = 1000;

impl<'r, 'a, G: GlobalNames> Renderer<'r, 'a, G> {
    pub fn new(arena: &'r Arena<'a>, names: &'r G) -> Self {
        Renderer {
            arena,
            names,
            out: String::new(),
        }
    }

    pub fn render(arena: &'r Arena<'a>, names: &'r G, value: Value<'a>) -> String {
        let mut r = Renderer::new(arena, names);
        r.value(value, 0);
        r.finish()
    }

    pub fn finish(mut self) -> String {
        if self.out.len() > MAX_LEN {
            let mut cut = MAX_LEN;
            while !self.out.is_char_boundary(cut) {
                cut -= 1;
            }
            self.out.truncate(cut);
            self.out.push('…');
        }
        self.out
    }

    fn full(&self) -> bool {
        self.out.len() > MAX_LEN
    }

    pub fn value(&mut self, value: Value<'a>, depth: usize) {
        if self.full() {
            return;
        }
        match value {
            Value::None => self.out.push_str("None"),
            Value::Bool(true) => self.out.push_str("True"),
            Value::Bool(false) => self.out.push_str("False"),
            Value::Int(i) => {
                let _ = write!(self.out, "{i}");
            }
            Value::Float(f) => self.float(f),
            Value::Raw(raw) => self.raw(raw),
            Value::Buffer => self.out.push_str("<out-of-band buffer>"),
            Value::Unknown => self.out.push_str("<unknown>"),
            Value::Dropped(what, _) => self.out.push_str(what.shown()),
            Value::Node(id) => self.node(id, depth),
        }
    }

    fn float(&mut self, f: f64) {
        if f.is_nan() {
            self.out.push_str("nan");
        } else if f.is_infinite() {
            self.out.push_str(if f > 0.0 { "inf" } else { "-inf" });
        } else if f == f.trunc() && f.abs() < 1e16 {
            let _ = write!(self.out, "{f:.1}");
        } else {
            let _ = write!(self.out, "{f:?}");
        }
    }

    fn raw(&mut self, raw: Raw<'a>) {
        match raw.kind {
            RawKind::LongLe | RawKind::LongDecimal => match raw.to_i128() {
                Some(v) => {
                    let _ = write!(self.out, "{v}");
                }
                None => {
                    let _ = write!(self.out, "<{}-byte int>", raw.bytes.len());
                }
            },
            RawKind::Bytes | RawKind::ByteArray => {
                let wrap = raw.kind == RawKind::ByteArray;
                if wrap {
                    self.out.push_str("bytearray(");
                }
                self.bytes(raw.bytes);
                if wrap {
                    self.out.push(')');
                }
            }
            _ => {
                let text = raw.text().unwrap_or_default();
                self.text(&text, raw.bytes.len());
            }
        }
    }

    fn text(&mut self, text: &str, byte_len: usize) {
        let quote = if text.contains('\'') && !text.contains('"') {
            '"'
        } else {
            '\''
        };
        self.out.push(quote);
        let mut cut = false;
        for (shown, c) in text.chars().enumerate() {
            if shown == SHOWN_CHARS {
                cut = true;
                break;
            }
            match c {
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                c if c == quote => {
                    self.out.push('\\');
                    self.out.push(c);
                }
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    let _ = write!(self.out, "\\x{:02x}", c as u32);
                }
                c if c.is_control() => {
                    let _ = write!(self.out, "\\u{:04x}", c as u32);
                }
                c => self.out.push(c),
            }
        }
        if cut {
            self.out.push('…');
        }
        self.out.push(quote);
        if cut {
            let _ = write!(self.out, " ({byte_len} bytes)");
        }
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.out.push_str("b'");
        for &b in bytes.iter().take(SHOWN_CHARS) {
            match b {
                b'\\' => self.out.push_str("\\\\"),
                b'\'' => self.out.push_str("\\'"),
                b'\n' => self.out.push_str("\\n"),
                b'\r' => self.out.push_str("\\r"),
                b'\t' => self.out.push_str("\\t"),
                0x20..=0x7e => self.out.push(char::from(b)),
                _ => {
                    let _ = write!(self.out, "\\x{b:02x}");
                }
            }
        }
        if bytes.len() > SHOWN_CHARS {
            let _ = write!(self.out, "…' ({} bytes)", bytes.len());
        } else {
            self.out.push('\'');
        }
    }

    fn seq(&mut self, items: &Items, open: &str, close: &str, depth: usize) {
        self.out.push_str(open);
        let arena = self.arena;
        for (i, item) in arena.values(items).take(SHOWN_ITEMS).enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.value(item, depth + 1);
        }
        let more = items.len as usize > SHOWN_ITEMS || items.is_partial();
        if more {
            self.out.push_str(", …");
        }
        self.out.push_str(close);
    }

    fn node(&mut self, id: NodeId, depth: usize) {
        let arena = self.arena;
        let Some(node) = arena.get(id) else {
            self.out.push_str("<unknown>");
            return;
        };
        if depth >= MAX_DEPTH {
            self.out.push('…');
            return;
        }
        match node {
            Node::Tuple(items) => {
                if items.len == 1 && !items.is_partial() {
                    self.out.push('(');
                    if let Some(item) = arena.values(items).next() {
                        self.value(item, depth + 1);
                    }
                    self.out.push_str(",)");
                } else {
                    self.seq(items, "(", ")", depth);
                }
            }
            Node::List(items) => self.seq(items, "[", "]", depth),
            Node::Set(items) if items.is_empty() => {
                self.out.push_str("set()");
            }
            Node::Set(items) => self.seq(items, "{", "}", depth),
            Node::FrozenSet(items) => self.seq(items, "frozenset({", "})", depth),
            Node::Dict(items) => {
                self.out.push('{');
                for (i, (k, v)) in arena.pairs(items).take(SHOWN_ITEMS).enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.value(k, depth + 1);
                    self.out.push_str(": ");
                    self.value(v, depth + 1);
                }
                if items.len as usize > SHOWN_ITEMS * 2 || items.is_partial() {
                    self.out.push_str(", …");
                }
                self.out.push('}');
            }
            Node::Global(index) => {
                let name = self.names.global_name(*index);
                self.out.push_str(&name);
            }
            Node::Unresolved(what) => self.out.push_str(what),
            Node::PersId(pid) => {
                self.out.push_str("persistent_load(");
                self.value(*pid, depth + 1);
                self.out.push(')');
            }
            Node::Call(_) => {
                let arena = self.arena;
                if let Some(call) = arena.call(Value::Node(id)) {
                    self.call(call, depth);
                }
            }
        }
    }

    fn args(&mut self, args: Value<'a>, depth: usize, first: &mut bool) {
        match self.arena.node(args) {
            Some(Node::Tuple(items)) => {
                let arena = self.arena;
                for item in arena.values(items).take(SHOWN_ITEMS) {
                    if !*first {
                        self.out.push_str(", ");
                    }
                    *first = false;
                    self.value(item, depth + 1);
                }
                if items.len as usize > SHOWN_ITEMS || items.is_partial() {
                    self.out.push_str(", …");
                }
            }
            _ => {
                if !*first {
                    self.out.push_str(", ");
                }
                *first = false;
                self.out.push('*');
                self.value(args, depth + 1);
            }
        }
    }

    /// Keyword arguments from a dict value (`name=value, …`).
    fn kwargs(&mut self, kwargs: Value<'a>, depth: usize, first: &mut bool) {
        let arena = self.arena;
        match arena.node(kwargs) {
            Some(Node::Dict(items)) => {
                for (k, v) in arena.pairs(items).take(SHOWN_ITEMS) {
                    if !*first {
                        self.out.push_str(", ");
                    }
                    *first = false;
                    match k.str_text() {
                        Some(name) => self.out.push_str(&name),
                        None => self.value(k, depth + 1),
                    }
                    self.out.push('=');
                    self.value(v, depth + 1);
                }
            }
            _ => {
                if !*first {
                    self.out.push_str(", ");
                }
                *first = false;
                self.out.push_str("**");
                self.value(kwargs, depth + 1);
            }
        }
    }

    /// `functools.partial` keeps its function and arguments in its BUILD state
    /// `(func, args, kwargs, namespace)`; render it as the call it stands for.
    fn partial(&mut self, call: &Call<'a>, depth: usize) -> bool {
        let Some(Node::Global(index)) = self.arena.node(call.callable) else {
            return false;
        };
        if self.names.global_name(*index) != "functools.partial" {
            return false;
        }
        let Some(state) = call.state.and_then(|s| self.arena.seq(s)) else {
            return false;
        };
        let (Some(&func), Some(&args), Some(&kwargs)) = (state.first(), state.get(1), state.get(2))
        else {
            return false;
        };
        self.out.push_str("functools.partial(");
        self.value(func, depth + 1);
        let mut first = false;
        self.args(args, depth, &mut first);
        self.kwargs(kwargs, depth, &mut first);
        self.out.push(')');
        true
    }

    fn call(&mut self, call: &Call<'a>, depth: usize) {
        if call.state.is_some() && self.partial(call, depth) {
            return;
        }
        let mut first = true;
        match call.kind {
            CallKind::Reduce | CallKind::Instantiate => {
                self.value(call.callable, depth + 1);
                self.out.push('(');
            }
            CallKind::NewObj | CallKind::NewObjEx => {
                self.value(call.callable, depth + 1);
                self.out.push_str(".__new__(");
                self.value(call.callable, depth + 1);
                first = false;
            }
        }
        self.args(call.args, depth, &mut first);
        if call.kind == CallKind::NewObjEx {
            self.kwargs(call.kwargs, depth, &mut first);
        }
        self.out.push(')');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::pickle::value::{ArenaBudget, Call, CallKind, Items, Node, Raw, RawKind};

    fn budget(items: usize) -> ArenaBudget {
        ArenaBudget {
            node_bytes: 1 << 16,
            items,
        }
    }

    struct Names;
    impl GlobalNames for Names {
        fn global_name(&self, index: u32) -> Cow<'_, str> {
            Cow::Owned(format!("g{index}"))
        }
    }

    fn s(text: &str) -> Value<'_> {
        Value::Raw(Raw {
            bytes: text.as_bytes(),
            kind: RawKind::Utf8,
        })
    }

    #[test]
    fn renders_python_like() {
        let mut arena = Arena::new(budget(100), Default::default());
        let items = arena.items(&[s("echo hi"), Value::Int(3), Value::None]);
        let tuple = arena.alloc(Node::Tuple(items)).unwrap();
        let global = arena.alloc(Node::Global(7)).unwrap();
        let call = arena
            .alloc_call(Call {
                kind: CallKind::Reduce,
                callable: global,
                args: tuple,
                kwargs: Value::None,
                state: None,
            })
            .unwrap();
        assert_eq!(
            Renderer::render(&arena, &Names, call),
            "g7('echo hi', 3, None)"
        );
        let one = arena.items(&[Value::Bool(true)]);
        let one = arena.alloc(Node::Tuple(one)).unwrap();
        assert_eq!(Renderer::render(&arena, &Names, one), "(True,)");
    }

    #[test]
    fn long_strings_are_cut_with_their_length() {
        let long = "a".repeat(12000);
        let arena = Arena::new(budget(1), Default::default());
        let text = Renderer::render(&arena, &Names, s(&long));
        assert!(text.starts_with("'aaaa"));
        assert!(text.ends_with("…' (12000 bytes)"), "{text}");
    }

    #[test]
    fn cycles_render_within_bounds() {
        let mut arena = Arena::new(budget(100), Default::default());
        let list = arena.alloc(Node::List(Items::default())).unwrap();
        let Value::Node(id) = list else { panic!() };
        for _ in 0..5 {
            arena.push_into(id, &[list], false);
        }
        let text = Renderer::render(&arena, &Names, list);
        assert!(text.len() < 2000);
    }
}

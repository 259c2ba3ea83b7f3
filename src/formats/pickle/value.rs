//! Symbolic values of the abstract unpickler and the arena that holds containers and calls.
//!
//! Scalars and strings are `Copy` and borrow from the input. Containers, imports and calls live
//! in an [`Arena`] and are referred to by index, so the memo and the stack share them without
//! reference counting, cycles are harmless, and nothing is dropped recursively.

use std::borrow::Cow;

/// Index of a node in the [`Arena`].
pub type NodeId = u32;

/// How the bytes of a [`Raw`] operand are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawKind {
    /// `str` from BINUNICODE, SHORT_BINUNICODE, BINUNICODE8 (UTF-8).
    Utf8,
    /// `str` from BINSTRING or SHORT_BINSTRING (a Python 2 byte string, read as Latin-1).
    Latin1,
    /// `str` from protocol-0 STRING: Python escape sequences, quotes already removed.
    Escaped,
    /// `str` from protocol-0 UNICODE: raw-unicode-escape.
    RawUnicodeEscape,
    /// `bytes` (BINBYTES, SHORT_BINBYTES, BINBYTES8).
    Bytes,
    /// `bytearray` (BYTEARRAY8).
    ByteArray,
    /// An integer too large for `i64`: little-endian two's complement (LONG1, LONG4).
    LongLe,
    /// An integer too large for `i64`: decimal digits (INT, LONG).
    LongDecimal,
}

/// An operand that borrows its bytes from the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Raw<'a> {
    pub bytes: &'a [u8],
    pub kind: RawKind,
}

impl<'a> Raw<'a> {
    pub fn is_str(self) -> bool {
        matches!(
            self.kind,
            RawKind::Utf8 | RawKind::Latin1 | RawKind::Escaped | RawKind::RawUnicodeEscape
        )
    }

    pub fn is_bytes(self) -> bool {
        matches!(self.kind, RawKind::Bytes | RawKind::ByteArray)
    }

    /// The text of a `str` operand (lossy for invalid UTF-8, which CPython would refuse).
    pub fn text(self) -> Option<Cow<'a, str>> {
        match self.kind {
            RawKind::Utf8 => Some(String::from_utf8_lossy(self.bytes)),
            RawKind::Latin1 => Some(latin1(self.bytes)),
            RawKind::Escaped => Some(match escape_decode(self.bytes) {
                Cow::Borrowed(b) => latin1(b),
                Cow::Owned(b) => Cow::Owned(latin1(&b).into_owned()),
            }),
            RawKind::RawUnicodeEscape => Some(raw_unicode_escape_decode(self.bytes)),
            RawKind::Bytes | RawKind::ByteArray | RawKind::LongLe | RawKind::LongDecimal => None,
        }
    }

    /// The bytes the operand stands for: raw `bytes`, or a `str` encoded as Latin-1 (what
    /// `_codecs.encode(s, 'latin1')` produces; `None` if a character does not fit).
    pub fn latin1_bytes(self) -> Option<Cow<'a, [u8]>> {
        match self.kind {
            RawKind::Bytes | RawKind::ByteArray | RawKind::Latin1 => {
                Some(Cow::Borrowed(self.bytes))
            }
            RawKind::Escaped => Some(escape_decode(self.bytes)),
            RawKind::Utf8 | RawKind::RawUnicodeEscape => {
                let text = self.text()?;
                if text.is_ascii() {
                    return Some(match text {
                        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
                        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
                    });
                }
                text.chars()
                    .map(|c| u8::try_from(u32::from(c)).ok())
                    .collect::<Option<Vec<u8>>>()
                    .map(Cow::Owned)
            }
            RawKind::LongLe | RawKind::LongDecimal => None,
        }
    }

    /// The value of a large integer operand if it fits in `i128`.
    pub fn to_i128(self) -> Option<i128> {
        match self.kind {
            RawKind::LongLe => {
                let bytes = self.bytes;
                if bytes.len() > 16 {
                    return None;
                }
                let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
                let mut buf = if negative { [0xff; 16] } else { [0; 16] };
                buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
                Some(i128::from_le_bytes(buf))
            }
            RawKind::LongDecimal => std::str::from_utf8(self.bytes)
                .ok()?
                .trim()
                .trim_end_matches('L')
                .replace('_', "")
                .parse()
                .ok(),
            _ => None,
        }
    }
}

fn latin1(bytes: &[u8]) -> Cow<'_, str> {
    if bytes.is_ascii() {
        // ASCII is valid UTF-8.
        String::from_utf8_lossy(bytes)
    } else {
        Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect())
    }
}

/// `codecs.escape_decode`: the escapes of a Python bytes literal.
pub fn escape_decode(bytes: &[u8]) -> Cow<'_, [u8]> {
    if !bytes.contains(&b'\\') {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some(&e) = bytes.get(i) else {
            out.push(b'\\');
            break;
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut value = u32::from(e - b'0');
                for _ in 0..2 {
                    match bytes.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((value & 0xff) as u8);
            }
            b'x' => {
                let hex = bytes
                    .get(i..i + 2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.extend_from_slice(b"\\x"),
                }
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Cow::Owned(out)
}

/// The `raw-unicode-escape` codec: `\uXXXX` and `\UXXXXXXXX` (after an odd run of backslashes)
/// are decoded, every other byte is a Latin-1 character.
pub fn raw_unicode_escape_decode(bytes: &[u8]) -> Cow<'_, str> {
    if !bytes.contains(&b'\\') {
        return latin1(bytes);
    }
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    let mut backslashes = 0usize;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\' {
            backslashes += 1;
            out.push('\\');
            i += 1;
            continue;
        }
        let odd = backslashes % 2 == 1;
        backslashes = 0;
        let width = match b {
            b'u' if odd => 4,
            b'U' if odd => 8,
            _ => 0,
        };
        if width > 0 {
            let decoded = bytes
                .get(i + 1..i + 1 + width)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32);
            if let Some(c) = decoded {
                out.pop();
                out.push(c);
                i += 1 + width;
                continue;
            }
        }
        out.push(char::from(b));
        i += 1;
    }
    Cow::Owned(out)
}

/// A value on the abstract stack or in the memo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Raw(Raw<'a>),
    Node(NodeId),
    /// An out-of-band buffer (NEXT_BUFFER).
    Buffer,
    /// Something the scanner does not track: a missing memo entry, a dropped container item.
    Unknown,
    /// A container, or the result of a plainly allowed call, made once the stream's memory
    /// budget was spent: what it is and the offset of the opcode that made it, without its
    /// content (as a container whose every item was left out).
    Dropped(Dropped, usize),
}

/// What a [`Value::Dropped`] was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    Tuple,
    List,
    Dict,
    Set,
    FrozenSet,
    /// An object made by a call of an allowed global.
    Object,
}

impl Dropped {
    /// The container node this stands for, holding `items`.
    pub fn node<'a>(self, items: Items) -> Node<'a> {
        match self {
            Dropped::Tuple | Dropped::Object => Node::Tuple(items),
            Dropped::List => Node::List(items),
            Dropped::Dict => Node::Dict(items),
            Dropped::Set => Node::Set(items),
            Dropped::FrozenSet => Node::FrozenSet(items),
        }
    }

    /// How evidence shows it.
    pub fn shown(self) -> &'static str {
        match self {
            Dropped::Tuple => "(…)",
            Dropped::List => "[…]",
            Dropped::Dict => "{…}",
            Dropped::Set => "{…}",
            Dropped::FrozenSet => "frozenset({…})",
            Dropped::Object => "<object>",
        }
    }
}

impl<'a> Value<'a> {
    pub fn str_text(self) -> Option<Cow<'a, str>> {
        match self {
            Value::Raw(raw) if raw.is_str() => raw.text(),
            _ => None,
        }
    }

    pub fn as_int(self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(i),
            Value::Bool(b) => Some(i64::from(b)),
            _ => None,
        }
    }
}

/// How a call node was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// REDUCE: `callable(*args)`.
    Reduce,
    /// NEWOBJ: `cls.__new__(cls, *args)`.
    NewObj,
    /// NEWOBJ_EX: `cls.__new__(cls, *args, **kwargs)`.
    NewObjEx,
    /// OBJ and INST: `cls(*args)`.
    Instantiate,
}

#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub kind: CallKind,
    pub callable: Value<'a>,
    pub args: Value<'a>,
    pub kwargs: Value<'a>,
    /// The BUILD state applied to the result, if any.
    pub state: Option<Value<'a>>,
}

const NO_SEGMENT: u32 = u32::MAX;
/// Items that the containers the analysis needs whole take, together, past the budget (24 MiB).
const KEPT_RESERVE: usize = 1 << 20;

/// A container's items: runs of values in the arena's shared pool (so that containers cost no
/// allocation of their own). At most the arena's budget of items is kept; the rest are counted.
#[derive(Debug, Clone, Copy)]
pub struct Items {
    first: u32,
    last: u32,
    /// Items kept.
    pub len: u32,
    /// Items left out once the budget was spent.
    pub dropped: u32,
}

impl Default for Items {
    fn default() -> Self {
        Items {
            first: NO_SEGMENT,
            last: NO_SEGMENT,
            len: 0,
            dropped: 0,
        }
    }
}

impl Items {
    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.dropped == 0
    }

    /// Whether items were left out.
    pub fn is_partial(&self) -> bool {
        self.dropped > 0
    }
}

/// A run of items in the pool, and the next run of the same container.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: u32,
    len: u32,
    next: u32,
}

/// Iterates over a container's items.
pub struct ItemIter<'r, 'a> {
    arena: &'r Arena<'a>,
    current: std::slice::Iter<'r, Value<'a>>,
    next: u32,
}

impl<'a> Iterator for ItemIter<'_, 'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        loop {
            if let Some(value) = self.current.next() {
                return Some(*value);
            }
            // Segments only link to later ones, so this ends.
            let segment = self.arena.segments.get(self.next as usize)?;
            self.next = segment.next;
            self.current = self.arena.run(segment).iter();
        }
    }
}

#[derive(Debug, Clone)]
pub enum Node<'a> {
    Tuple(Items),
    List(Items),
    Set(Items),
    FrozenSet(Items),
    /// Keys and values alternate.
    Dict(Items),
    /// An imported global: index into the stream's import table.
    Global(u32),
    /// An import the scanner cannot name: STACK_GLOBAL over non-strings, EXT codes.
    Unresolved(Box<str>),
    /// Index into the arena's calls.
    Call(u32),
    PersId(Value<'a>),
}

/// The memory an [`Arena`] may take.
#[derive(Debug, Clone, Copy)]
pub struct ArenaBudget {
    /// Bytes of nodes, calls and item runs. Past it, containers and plainly allowed calls are
    /// made as [`Value::Dropped`]; past a quarter more, nothing more can be made.
    pub node_bytes: usize,
    /// Container items kept; beyond this, items are only counted.
    pub items: usize,
}

/// Nodes of one stream, within an [`ArenaBudget`].
pub struct Arena<'a> {
    nodes: Vec<Node<'a>>,
    calls: Vec<Call<'a>>,
    pool: Vec<Value<'a>>,
    segments: Vec<Segment>,
    items_left: usize,
    /// Items left for containers kept whole whatever the budget says.
    reserve_left: usize,
    node_bytes: usize,
}

/// The arena's allocations, kept between streams.
#[derive(Default)]
pub struct ArenaBuffers<'a> {
    nodes: Vec<Node<'a>>,
    calls: Vec<Call<'a>>,
    pool: Vec<Value<'a>>,
    segments: Vec<Segment>,
}

/// The arena is full; the stream cannot be followed further.
#[derive(Debug, Clone, Copy)]
pub struct ArenaFull;

impl<'a> Arena<'a> {
    pub fn new(budget: ArenaBudget, buffers: ArenaBuffers<'a>) -> Self {
        Arena {
            nodes: buffers.nodes,
            calls: buffers.calls,
            pool: buffers.pool,
            segments: buffers.segments,
            items_left: budget.items.min(u32::MAX as usize / 2),
            reserve_left: KEPT_RESERVE,
            node_bytes: budget.node_bytes,
        }
    }

    /// Empties the arena, keeping its allocations for the next stream.
    pub fn into_buffers(self) -> ArenaBuffers<'a> {
        let (mut nodes, mut calls, mut pool, mut segments) =
            (self.nodes, self.calls, self.pool, self.segments);
        nodes.clear();
        calls.clear();
        pool.clear();
        segments.clear();
        ArenaBuffers {
            nodes,
            calls,
            pool,
            segments,
        }
    }

    /// Bytes taken by nodes, calls and item runs (the pool is budgeted by its item count).
    fn used(&self) -> usize {
        self.nodes.len() * std::mem::size_of::<Node<'_>>()
            + self.calls.len() * std::mem::size_of::<Call<'_>>()
            + self.segments.len() * std::mem::size_of::<Segment>()
    }

    /// Whether the budget is spent: what is made from now on keeps no content.
    #[inline]
    pub fn spent(&self) -> bool {
        self.items_left == 0 || self.used() >= self.node_bytes
    }

    #[inline]
    pub fn alloc(&mut self, node: Node<'a>) -> Result<Value<'a>, ArenaFull> {
        if self.used() >= self.node_bytes.saturating_add(self.node_bytes / 4) {
            return Err(ArenaFull);
        }
        let id = NodeId::try_from(self.nodes.len()).map_err(|_| ArenaFull)?;
        self.nodes.push(node);
        Ok(Value::Node(id))
    }

    /// Makes a call node.
    pub fn alloc_call(&mut self, call: Call<'a>) -> Result<Value<'a>, ArenaFull> {
        let index = u32::try_from(self.calls.len()).map_err(|_| ArenaFull)?;
        let value = self.alloc(Node::Call(index))?;
        self.calls.push(call);
        Ok(value)
    }

    /// A container of `values` made by the opcode at `at`, or what it was when the budget is
    /// spent.
    pub fn container(
        &mut self,
        kind: Dropped,
        values: &[Value<'a>],
        at: usize,
    ) -> Result<Value<'a>, ArenaFull> {
        if self.spent() {
            return Ok(Value::Dropped(kind, at));
        }
        let items = self.items(values);
        self.alloc(kind.node(items))
    }

    /// A container of `values` made whatever the budget says (within the hard cap on nodes and
    /// the reserve of items): for the few containers the analysis needs whole.
    pub fn container_kept(
        &mut self,
        kind: Dropped,
        values: &[Value<'a>],
    ) -> Result<Value<'a>, ArenaFull> {
        let items = self.with_reserve(|arena| arena.items(values), values.len());
        self.alloc(kind.node(items))
    }

    pub fn get(&self, id: NodeId) -> Option<&Node<'a>> {
        self.nodes.get(id as usize)
    }

    pub fn node(&self, value: Value<'a>) -> Option<&Node<'a>> {
        match value {
            Value::Node(id) => self.get(id),
            _ => None,
        }
    }

    pub fn call(&self, value: Value<'a>) -> Option<&Call<'a>> {
        match self.node(value)? {
            Node::Call(index) => self.calls.get(*index as usize),
            _ => None,
        }
    }

    /// The call of node `id`.
    pub fn call_mut(&mut self, id: NodeId) -> Option<&mut Call<'a>> {
        match self.nodes.get(id as usize)? {
            Node::Call(index) => self.calls.get_mut(*index as usize),
            _ => None,
        }
    }

    /// `value`, then what it calls, what that calls, … (a call of a call of … a global): at
    /// most 64 hops. Nodes only refer to older ones, so the chain ends; it is bounded all the
    /// same.
    pub fn callable_chain(&self, value: Value<'a>) -> impl Iterator<Item = Value<'a>> + '_ {
        std::iter::successors(Some(value), |&v| self.call(v).map(|c| c.callable)).take(65)
    }

    /// The root of `value`'s callable chain: what the outermost call finally calls.
    pub fn callable_root(&self, value: Value<'a>) -> Value<'a> {
        self.callable_chain(value).last().unwrap_or(value)
    }

    fn run(&self, segment: &Segment) -> &[Value<'a>] {
        let start = segment.start as usize;
        self.pool
            .get(start..start.saturating_add(segment.len as usize))
            .unwrap_or_default()
    }

    /// The items of a container.
    pub fn values(&self, items: &Items) -> ItemIter<'_, 'a> {
        ItemIter {
            arena: self,
            current: [].iter(),
            next: items.first,
        }
    }

    /// The key-value pairs of a dict's items (SETITEM and SETITEMS add whole pairs).
    pub fn pairs(&self, items: &Items) -> impl Iterator<Item = (Value<'a>, Value<'a>)> + '_ {
        let mut values = self.values(items);
        std::iter::from_fn(move || Some((values.next()?, values.next()?)))
    }

    /// Items of a tuple or list value, when all of them were kept in one run.
    pub fn seq(&self, value: Value<'a>) -> Option<&[Value<'a>]> {
        match self.node(value)? {
            Node::Tuple(items) | Node::List(items) if !items.is_partial() => {
                if items.first == NO_SEGMENT {
                    return Some(&[]);
                }
                if items.first != items.last {
                    return None;
                }
                self.segments.get(items.first as usize).map(|s| self.run(s))
            }
            _ => None,
        }
    }

    /// Looks up a string key of a dict value the way Python builds the dict: when a key is
    /// repeated, the last value wins.
    pub fn dict_get(&self, dict: Value<'a>, key: &str) -> Option<Value<'a>> {
        let Some(Node::Dict(items)) = self.node(dict) else {
            return None;
        };
        self.pairs(items)
            .filter(|(k, _)| k.str_text().as_deref() == Some(key))
            .last()
            .map(|(_, v)| v)
    }

    /// Builds an item list from `values`, keeping what the budget allows.
    pub fn items(&mut self, values: &[Value<'a>]) -> Items {
        let mut items = Items::default();
        self.append(&mut items, values);
        items
    }

    #[inline]
    fn append(&mut self, items: &mut Items, values: &[Value<'a>]) {
        let keep = values.len().min(self.items_left);
        let dropped = u32::try_from(values.len() - keep).unwrap_or(u32::MAX);
        items.dropped = items.dropped.saturating_add(dropped);
        let (Ok(start), Ok(id), Ok(n)) = (
            u32::try_from(self.pool.len()),
            u32::try_from(self.segments.len()),
            u32::try_from(keep),
        ) else {
            return;
        };
        if n == 0 {
            return;
        }
        self.items_left -= keep;
        self.pool
            .extend_from_slice(values.get(..keep).unwrap_or_default());
        items.len = items.len.saturating_add(n);
        // Continue the container's last run when nothing was added to the pool since.
        if let Some(last) = self.segments.get_mut(items.last as usize)
            && last.start.saturating_add(last.len) == start
        {
            last.len += n;
            return;
        }
        self.segments.push(Segment {
            start,
            len: n,
            next: NO_SEGMENT,
        });
        match self.segments.get_mut(items.last as usize) {
            Some(last) => last.next = id,
            None => items.first = id,
        }
        items.last = id;
    }

    /// Runs `f` with up to `wanted` items taken from the reserve.
    fn with_reserve<T>(&mut self, f: impl FnOnce(&mut Self) -> T, wanted: usize) -> T {
        let grant = wanted.min(self.reserve_left);
        let left = std::mem::replace(&mut self.items_left, grant);
        let made = f(self);
        self.reserve_left -= grant - self.items_left;
        self.items_left = left;
        made
    }

    /// Counts `n` items added to container `id` without keeping them (a batch of plain data
    /// read by its shape only, `batch.rs`).
    pub fn leave_out(&mut self, id: NodeId, n: usize) {
        if let Some(Node::List(items) | Node::Set(items) | Node::Dict(items)) =
            self.nodes.get_mut(id as usize)
        {
            items.dropped = items
                .dropped
                .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        }
    }

    /// Adds `values` to the container `id` (list, set, dict); other nodes are left alone.
    /// `kept`: the container is one the analysis needs whole, which takes items from the
    /// reserve once the budget is spent.
    pub fn push_into(&mut self, id: NodeId, values: &[Value<'a>], kept: bool) {
        let Some(Node::List(items) | Node::Set(items) | Node::Dict(items)) =
            self.nodes.get(id as usize)
        else {
            return;
        };
        let mut items = *items;
        if kept && self.items_left < values.len() {
            self.with_reserve(|arena| arena.append(&mut items, values), values.len());
        } else {
            self.append(&mut items, values);
        }
        if let Some(Node::List(slot) | Node::Set(slot) | Node::Dict(slot)) =
            self.nodes.get_mut(id as usize)
        {
            *slot = items;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_small() {
        assert!(std::mem::size_of::<Value<'_>>() <= 24);
        assert!(std::mem::size_of::<Node<'_>>() <= 32);
    }

    #[test]
    fn containers_share_the_pool() {
        let budget = ArenaBudget {
            node_bytes: 1 << 10,
            items: 5,
        };
        let mut arena = Arena::new(budget, ArenaBuffers::default());
        let a = arena.alloc(Node::List(Items::default())).unwrap();
        let b = arena.alloc(Node::List(Items::default())).unwrap();
        let (Value::Node(ia), Value::Node(ib)) = (a, b) else {
            panic!()
        };
        arena.push_into(ia, &[Value::Int(1), Value::Int(2)], false);
        arena.push_into(ib, &[Value::Int(10)], false);
        arena.push_into(ia, &[Value::Int(3)], false);
        arena.push_into(ia, &[Value::Int(4), Value::Int(5), Value::Int(6)], false);
        let Some(Node::List(items)) = arena.get(ia) else {
            panic!()
        };
        let got: Vec<i64> = arena.values(items).filter_map(|v| v.as_int()).collect();
        assert_eq!(got, vec![1, 2, 3, 4]);
        assert_eq!((items.len, items.dropped), (4, 2));
        assert!(arena.seq(a).is_none(), "partial lists are not sequences");
        assert_eq!(arena.seq(b), Some(&[Value::Int(10)][..]));
    }

    #[test]
    fn decoders() {
        assert_eq!(&*escape_decode(b"a\\nb\\x41\\101\\'"), b"a\nbAA'");
        assert_eq!(raw_unicode_escape_decode(b"I12345\\u000a."), "I12345\n.");
        assert_eq!(raw_unicode_escape_decode(b"\\\\u0041"), "\\\\u0041");
        let raw = Raw {
            bytes: &[0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19],
            kind: RawKind::LongLe,
        };
        assert_eq!(raw.to_i128(), Some(0x1950a86a20f9469cfc6c));
        let neg = Raw {
            bytes: &[0xff],
            kind: RawKind::LongLe,
        };
        assert_eq!(neg.to_i128(), Some(-1));
    }
}

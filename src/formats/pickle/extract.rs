//! Content a pickle hands to the signature engine: every string and bytes argument of a call
//! loading it would make, and the strings of the state set on objects of globals that are not
//! on the allow list.

use std::borrow::Cow;

use crate::scan::context::Origin;

use super::imports::Class;
use super::value::{Node, Value};
use super::vm::Machine;

/// Strings extracted per call (or per state), and how deep containers are followed.
const MAX_PER_CALL: usize = 64;
const MAX_DEPTH: usize = 8;

/// A string found in a value: where in the value (`[0]['cmd']`), its offset in the stream when
/// it is a slice of it, and its bytes.
type Found<'a> = (String, Option<usize>, Cow<'a, [u8]>);

impl<'a> Machine<'a, '_, '_> {
    /// The `module.name` of the global at the root of a callable chain, and whether it is on
    /// the allow list.
    fn root_global(&self, callable: Value<'a>) -> Option<(String, bool)> {
        match self.arena.node(self.arena.callable_root(callable))? {
            Node::Global(i) => self
                .imports
                .list
                .get(*i as usize)
                .map(|g| (g.written(), g.class.class == Class::Allowed)),
            _ => None,
        }
    }

    /// Extracts the string and bytes arguments of a call (`posix.system argument 1`).
    pub(super) fn extract_call(
        &mut self,
        callable: Value<'a>,
        args: Value<'a>,
        kwargs: Value<'a>,
        pos: usize,
    ) {
        if self.options.shadow || !self.ctx.wants_extracts() {
            return;
        }
        let mut found = Vec::new();
        match self.arena.node(args) {
            Some(Node::Tuple(items)) => {
                for (i, item) in self.arena.values(items).enumerate().take(MAX_PER_CALL) {
                    self.strings(item, format!(" argument {}", i + 1), 0, &mut found);
                }
            }
            _ => self.strings(args, " arguments".to_owned(), 0, &mut found),
        }
        if kwargs != Value::None {
            self.strings(kwargs, " keywords".to_owned(), 0, &mut found);
        }
        if found.is_empty() {
            return;
        }
        let label = self
            .root_global(callable)
            .map_or_else(|| "call".to_owned(), |(name, _)| name);
        self.hand_over(Origin::PickleCallArg, &label, found, pos);
    }

    /// Extracts the strings of the state BUILD sets on an object made by a global that is not
    /// allowed (`sklearn.x.Y state['name']`).
    pub(super) fn extract_state(&mut self, callable: Value<'a>, state: Value<'a>, pos: usize) {
        if self.options.shadow || !self.ctx.wants_extracts() {
            return;
        }
        let Some((label, false)) = self.root_global(callable) else {
            return;
        };
        let mut found = Vec::new();
        self.strings(state, " state".to_owned(), 0, &mut found);
        self.hand_over(Origin::PickleString, &label, found, pos);
    }

    fn hand_over(&mut self, origin: Origin, label: &str, found: Vec<Found<'a>>, pos: usize) {
        for (path, offset, bytes) in found {
            let at = offset.unwrap_or(pos) as u64;
            self.ctx
                .extract(origin, &format!("{label}{path}"), Some(at), &bytes);
        }
    }

    /// Offset of `bytes` in the stream's data, when they are a slice of it.
    fn offset_in_data(&self, bytes: &[u8]) -> Option<usize> {
        let offset = (bytes.as_ptr() as usize).checked_sub(self.data.as_ptr() as usize)?;
        (offset.checked_add(bytes.len())? <= self.data.len()).then_some(offset)
    }

    /// Collects the strings and bytes in `value`, following containers (not calls: each call
    /// extracts its own arguments).
    fn strings(&self, value: Value<'a>, path: String, depth: usize, out: &mut Vec<Found<'a>>) {
        if depth > MAX_DEPTH || out.len() >= MAX_PER_CALL {
            return;
        }
        match value {
            Value::Raw(raw) if raw.is_bytes() => {
                out.push((
                    path,
                    self.offset_in_data(raw.bytes),
                    Cow::Borrowed(raw.bytes),
                ));
            }
            Value::Raw(raw) if raw.is_str() => {
                let Some(text) = raw.text() else { return };
                let offset = self.offset_in_data(raw.bytes);
                let bytes = match text {
                    Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
                    Cow::Owned(s) => Cow::Owned(s.into_bytes()),
                };
                out.push((path, offset, bytes));
            }
            Value::Node(id) => match self.arena.get(id) {
                Some(
                    Node::Tuple(items)
                    | Node::List(items)
                    | Node::Set(items)
                    | Node::FrozenSet(items),
                ) => {
                    for (i, item) in self.arena.values(items).enumerate().take(MAX_PER_CALL) {
                        self.strings(item, format!("{path}[{i}]"), depth + 1, out);
                    }
                }
                Some(Node::Dict(items)) => {
                    for (k, v) in self.arena.pairs(items).take(MAX_PER_CALL) {
                        let key = k
                            .str_text()
                            .map_or_else(|| "…".to_owned(), |k| format!("{k:?}"));
                        self.strings(k, format!("{path} key"), depth + 1, out);
                        self.strings(v, format!("{path}[{key}]"), depth + 1, out);
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
}

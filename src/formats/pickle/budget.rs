//! What a stream keeps once its memory budget is spent (`max_pickle_memory`; the arena in
//! `value.rs` counts it): containers and plain calls are made as `Value::Dropped`, except the
//! few the analysis needs whole. Those are the small containers a call builds right before it
//! (its arguments, remembered here and made whole when the call must be judged or shown) and
//! the state of a joblib array wrapper (made whole from the wrapper to its BUILD).

use std::collections::HashSet;

use super::value::{Dropped, Value};
use super::vm::{Halt, Machine};

/// Small containers made after the memory budget was spent are remembered, the last
/// [`RECENT`] of up to [`RECENT_ITEMS`] items each, by the offset of the opcode that made them:
/// a call builds its arguments right before it, so a call that must be judged, or shown as
/// evidence, gets them back whole ([`Machine::kept_whole`]).
const RECENT: usize = 4;
const RECENT_ITEMS: usize = 8;
/// Containers made whole that way per stream.
const MAX_KEPT_WHOLE: u32 = 1 << 16;

/// A remembered container; `at` is `usize::MAX` in a slot not used yet.
#[derive(Clone, Copy)]
struct RecentSlot<'a> {
    at: usize,
    kind: Dropped,
    len: usize,
    items: [Value<'a>; RECENT_ITEMS],
}

impl Default for RecentSlot<'_> {
    fn default() -> Self {
        RecentSlot {
            at: usize::MAX,
            kind: Dropped::Tuple,
            len: 0,
            items: [Value::None; RECENT_ITEMS],
        }
    }
}

/// After a joblib array wrapper is made and until its BUILD, the containers and calls of its
/// state (dtype, shape, order; a legacy wrapper's file name) are made whole whatever the budget
/// says, up to [`EXACT_AFTER_WRAPPER`] of them and within the arena's reserve of items: the
/// array bytes that follow can be skipped, and the file a legacy wrapper names analysed, only
/// with them.
pub(super) const EXACT_AFTER_WRAPPER: u16 = 4096;

#[derive(Default)]
pub(super) struct Exact {
    /// Containers and calls still to be made whole.
    pub left: u16,
    /// The containers made whole, which take their items whatever the budget says.
    pub kept: HashSet<super::value::NodeId>,
}

#[derive(Default)]
pub(super) struct Recent<'a> {
    slots: [RecentSlot<'a>; RECENT],
    next: usize,
    kept_whole: u32,
}

impl<'a> Recent<'a> {
    /// Remembers a container made by the opcode at `at` (written in place: this runs for every
    /// small container past the budget).
    pub(super) fn remember(&mut self, at: usize, kind: Dropped, values: &[Value<'a>]) {
        let Some(slot) = self.slots.get_mut(self.next % RECENT) else {
            return;
        };
        let Some(items) = slot.items.get_mut(..values.len()) else {
            return;
        };
        items.copy_from_slice(values);
        slot.at = at;
        slot.kind = kind;
        slot.len = values.len();
        self.next = self.next.wrapping_add(1);
    }

    fn find(&self, at: usize, kind: Dropped) -> Option<RecentSlot<'a>> {
        self.slots
            .iter()
            .find(|s| s.at == at && s.kind == kind)
            .copied()
    }
}

impl<'a> Machine<'a, '_, '_> {
    /// A container of `values` (a [`Value::Dropped`] once the budget is spent).
    #[inline]
    pub(super) fn container(
        &mut self,
        kind: Dropped,
        values: &[Value<'a>],
        pos: usize,
    ) -> Result<Value<'a>, Halt> {
        if self.exact.left > 0 {
            return self.container_whole(kind, values, pos);
        }
        self.arena
            .container(kind, values, pos)
            .map_err(|e| Halt::from((pos, e)))
    }

    /// A container made whole after a joblib array wrapper: it takes its items, now and later,
    /// from the arena's reserve once the budget is spent.
    #[cold]
    pub(super) fn container_whole(
        &mut self,
        kind: Dropped,
        values: &[Value<'a>],
        pos: usize,
    ) -> Result<Value<'a>, Halt> {
        self.exact.left -= 1;
        let made = if self.arena.spent() {
            self.arena.container_kept(kind, values)
        } else {
            self.arena.container(kind, values, pos)
        }
        .map_err(|e| Halt::from((pos, e)))?;
        if let Value::Node(id) = made {
            self.exact.kept.insert(id);
        }
        Ok(made)
    }

    /// `value` made whole again if it is a small container made after the budget was spent
    /// and still remembered (its items too, two levels down); otherwise `value`.
    pub(super) fn kept_whole(
        &mut self,
        value: Value<'a>,
        depth: u8,
        pos: usize,
    ) -> Result<Value<'a>, Halt> {
        let Value::Dropped(kind, at) = value else {
            return Ok(value);
        };
        if depth > 2 || self.recent.kept_whole >= MAX_KEPT_WHOLE {
            return Ok(value);
        }
        let Some(mut slot) = self.recent.find(at, kind) else {
            return Ok(value);
        };
        let len = slot.len.min(RECENT_ITEMS);
        for item in slot.items.iter_mut().take(len) {
            *item = self.kept_whole(*item, depth + 1, pos)?;
        }
        self.recent.kept_whole += 1;
        self.arena
            .container_kept(kind, slot.items.get(..len).unwrap_or_default())
            .map_err(|e| Halt::from((pos, e)))
    }
}

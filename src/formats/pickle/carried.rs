//! Pickles carried as data: every string and bytes operand of a stream is judged by its start
//! (is it a pickle, or could it decode to one?), and the few that could are handed to
//! [`staged`](crate::formats::staged) when the stream ends, unless the stream itself passes them
//! to a loader (then they were analysed as nested pickles, uncapped).

use std::borrow::Cow;

use crate::formats::staged;

use super::value::{Raw, RawKind};
use super::vm::Machine;

/// Candidates kept per stream; past the per-artifact decode budget they would not be decoded.
const MAX_CANDIDATES: usize = staged::MAX_DECODES as usize + 1;

/// The bytes a carried value stands for: raw bytes, or text as Latin-1 (what
/// `s.encode('latin1')` would give code that unpickles it).
fn value_bytes(raw: Raw<'_>) -> Option<Cow<'_, [u8]>> {
    match raw.kind {
        RawKind::Bytes | RawKind::ByteArray | RawKind::Latin1 => Some(Cow::Borrowed(raw.bytes)),
        RawKind::Utf8 if raw.bytes.is_ascii() => Some(Cow::Borrowed(raw.bytes)),
        _ => raw.latin1_bytes(),
    }
}

impl<'a> Machine<'a, '_, '_> {
    /// Judges a string or bytes operand of at least [`staged::MIN_LEN`] bytes by its start.
    #[inline(never)]
    pub(super) fn consider_carried(&mut self, raw: Raw<'a>) {
        if self.options.shadow || self.carried.len() >= MAX_CANDIDATES {
            return;
        }
        self.ctx.state().staged.probes += 1;
        if value_bytes(raw).is_some_and(|b| staged::worth_decoding(&b)) {
            self.carried.push(raw);
        }
    }

    /// Examines the candidates of the stream once it has ended.
    pub(super) fn examine_carried(&mut self) {
        for raw in std::mem::take(&mut self.carried) {
            let Some(bytes) = value_bytes(raw) else {
                continue;
            };
            let Some(at) = (raw.bytes.as_ptr() as usize)
                .checked_sub(self.data.as_ptr() as usize)
                .filter(|at| at.saturating_add(raw.bytes.len()) <= self.data.len())
            else {
                continue;
            };
            if self.nested_seen.contains(&(at, bytes.len())) {
                continue;
            }
            staged::examine(self.ctx, &format!("value@{at}"), &bytes);
        }
    }
}

//! The time budget of one artifact (`--timeout`, `[limits] timeout`).
//!
//! An artifact is analysed on one thread from start to end, so its deadline is kept per thread:
//! the loops that an input can make long (decompression, the pickle machine, member dispatch)
//! ask [`passed`] now and then without a deadline being threaded through every signature. When
//! it has passed they stop as they would at a size limit, and the scan reports once, at the end,
//! that the analysis was cut short.

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Sets the deadline of the artifact being analysed on this thread, and restores the one
/// before it (an artifact analysed inside another keeps the outer deadline if it is sooner)
/// when dropped.
pub(crate) struct Deadline {
    outer: Option<Instant>,
}

impl Deadline {
    pub(crate) fn start(budget: Duration) -> Deadline {
        let outer = DEADLINE.get();
        let own = Instant::now().checked_add(budget);
        let sooner = match (outer, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        DEADLINE.set(sooner);
        Deadline { outer }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        DEADLINE.set(self.outer);
    }
}

/// Whether the time budget of the artifact being analysed on this thread has run out.
pub(crate) fn passed() -> bool {
    DEADLINE.get().is_some_and(|d| Instant::now() >= d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_holds_until_dropped_and_an_inner_one_is_never_later() {
        assert!(!passed());
        {
            let _outer = Deadline::start(Duration::ZERO);
            assert!(passed());
            {
                let _inner = Deadline::start(Duration::from_secs(3600));
                assert!(passed(), "the inner artifact keeps the outer deadline");
            }
            assert!(passed());
        }
        assert!(!passed());
    }
}

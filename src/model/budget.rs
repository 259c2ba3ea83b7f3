//! One cap for every list of findings: a [`Budget`] counts what an analyser would report, says
//! whether one more may be listed, and how many were left out past the cap, so that every
//! report says so in the same words ([`Budget::not_listed`]). [`PerRule`] keeps one budget per
//! key (a rule id), for caps that apply to each rule separately.
//!
//! A cap keeps a crafted file (a hundred thousand members, a pickle that calls the same thing a
//! million times) from making the report unreadable or collecting findings quadratic; what is
//! left out is counted, never silently lost.

use std::collections::BTreeMap;

/// A cap on how many findings of one kind are listed, and a count of all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    limit: u64,
    seen: u64,
}

impl Budget {
    /// A budget that lists at most `limit` findings.
    pub const fn new(limit: u64) -> Self {
        Budget { limit, seen: 0 }
    }

    /// Counts one more finding; true when it may still be listed.
    pub fn admit(&mut self) -> bool {
        self.seen = self.seen.saturating_add(1);
        self.seen <= self.limit
    }

    /// Whether the next finding would be left out (its evidence need not be built).
    pub fn is_full(&self) -> bool {
        self.seen >= self.limit
    }

    /// How many were counted, listed or not.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// How many were counted past the cap and not listed.
    pub fn dropped(&self) -> u64 {
        self.seen.saturating_sub(self.limit)
    }

    /// The cap.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The message of the one finding that stands for those left out (`scope` says where
    /// they were counted, e.g. `"in this archive"`, or is empty); `None` when none were.
    pub fn not_listed(&self, scope: &str) -> Option<String> {
        let dropped = self.dropped();
        (dropped > 0).then(|| not_listed(dropped, scope))
    }
}

/// "N more findings of this rule … were not listed": the words every cap reports with.
pub fn not_listed(dropped: u64, scope: &str) -> String {
    let (plural, verb) = if dropped == 1 {
        ("finding", "was")
    } else {
        ("findings", "were")
    };
    if scope.is_empty() {
        format!("{dropped} more {plural} of this rule {verb} not listed")
    } else {
        format!("{dropped} more {plural} of this rule {scope} {verb} not listed")
    }
}

/// One [`Budget`] per key (a rule id), each listing at most `LIMIT` findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerRule<K: Ord, const LIMIT: u64> {
    budgets: BTreeMap<K, Budget>,
}

impl<K: Ord, const LIMIT: u64> Default for PerRule<K, LIMIT> {
    fn default() -> Self {
        PerRule {
            budgets: BTreeMap::new(),
        }
    }
}

impl<K: Ord, const LIMIT: u64> PerRule<K, LIMIT> {
    /// Counts one more finding of `key`; true when it may still be listed.
    pub fn admit(&mut self, key: K) -> bool {
        self.budgets
            .entry(key)
            .or_insert(Budget::new(LIMIT))
            .admit()
    }

    /// The keys that had findings left out, with their budgets.
    pub fn overflowing(&self) -> impl Iterator<Item = (&K, &Budget)> {
        self.budgets.iter().filter(|(_, b)| b.dropped() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_lists_up_to_its_limit_and_counts_the_rest() {
        let mut budget = Budget::new(3);
        assert!(!budget.is_full());
        assert_eq!(budget.not_listed(""), None);
        let admitted: Vec<bool> = (0..5).map(|_| budget.admit()).collect();
        assert_eq!(admitted, [true, true, true, false, false]);
        assert!(budget.is_full());
        assert_eq!((budget.seen(), budget.dropped(), budget.limit()), (5, 2, 3));
        assert_eq!(
            budget.not_listed("in this archive").as_deref(),
            Some("2 more findings of this rule in this archive were not listed")
        );
        assert_eq!(
            not_listed(1, ""),
            "1 more finding of this rule was not listed"
        );
    }

    #[test]
    fn a_zero_budget_lists_nothing() {
        let mut budget = Budget::new(0);
        assert!(budget.is_full());
        assert!(!budget.admit());
        assert_eq!(budget.dropped(), 1);
    }

    #[test]
    fn per_rule_budgets_are_separate() {
        let mut caps = PerRule::<&str, 2>::default();
        for _ in 0..4 {
            caps.admit("a");
        }
        assert!(caps.admit("b"));
        let over: Vec<(&&str, u64)> = caps.overflowing().map(|(k, b)| (k, b.dropped())).collect();
        assert_eq!(over, [(&"a", 2)]);
    }
}

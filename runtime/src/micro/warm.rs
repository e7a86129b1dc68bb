//! The instances a Micro keeps warm (idle, for reuse) and the memory budgets that bound them:
//! each Micro's `warm_memory` and the app's, shared by its Micros. An instance keeps its
//! linear memory while warm, so without a budget 16 warm instances of 512 MB could pin 8 GB.
//! Keeping an instance that does not fit drops the coldest (longest idle) ones of the same
//! Micro first; an instance larger than a budget on its own is not kept.
//!
//! It only counts and chooses; it must not make, run or inspect instances (`micro` gives the
//! byte count of each).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The app's budget for the memory of all its warm instances.
#[derive(Debug)]
pub struct WarmBudget {
    limit: u64,
    used: AtomicU64,
}

impl WarmBudget {
    pub fn new(limit: u64) -> WarmBudget {
        WarmBudget {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// Bytes held by warm instances of every Micro now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    fn try_add(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(bytes).filter(|&t| t <= self.limit)
            })
            .is_ok()
    }

    fn release(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// One Micro's warm instances, coldest first, each with the bytes it holds.
pub struct Warm<T> {
    items: Vec<(T, u64)>,
    bytes: u64,
    /// This Micro's budget.
    limit: u64,
    app: Arc<WarmBudget>,
}

impl<T> Warm<T> {
    pub fn new(limit: u64, app: Arc<WarmBudget>) -> Warm<T> {
        Warm {
            items: Vec::new(),
            bytes: 0,
            limit,
            app,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Bytes held by this Micro's warm instances.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The warm instances, coldest first.
    pub fn items(&self) -> impl Iterator<Item = &T> {
        self.items.iter().map(|(t, _)| t)
    }

    /// Takes out the instance at `i` (an index into [`Warm::items`]).
    pub fn remove(&mut self, i: usize) -> T {
        let (item, bytes) = self.items.remove(i);
        self.forget(bytes);
        item
    }

    /// Keeps `item`, which holds `bytes`, as the warmest, within `max` instances and both
    /// budgets: the coldest are dropped first to make room. Returns what was dropped
    /// (`item` itself when it cannot fit), for the caller to drop outside its lock.
    pub fn keep(&mut self, item: T, bytes: u64, max: usize) -> Vec<T> {
        let mut dropped = Vec::new();
        if max == 0 || bytes > self.limit || bytes > self.app.limit {
            dropped.push(item);
            return dropped;
        }
        while self.items.len() >= max || self.bytes + bytes > self.limit {
            dropped.push(self.remove(0));
        }
        while !self.app.try_add(bytes) {
            if self.items.is_empty() {
                // The other Micros' warm instances hold the rest of the app's budget.
                dropped.push(item);
                return dropped;
            }
            dropped.push(self.remove(0));
        }
        self.bytes += bytes;
        self.items.push((item, bytes));
        dropped
    }

    /// Takes out every instance.
    pub fn clear(&mut self) -> Vec<T> {
        let items = std::mem::take(&mut self.items);
        self.app.release(self.bytes);
        self.bytes = 0;
        items.into_iter().map(|(t, _)| t).collect()
    }

    fn forget(&mut self, bytes: u64) {
        self.bytes -= bytes;
        self.app.release(bytes);
    }
}

impl<T> Drop for Warm<T> {
    fn drop(&mut self) {
        self.app.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_micros_budget_drops_the_coldest_first() {
        let app = Arc::new(WarmBudget::new(1000));
        let mut warm = Warm::new(100, app.clone());
        assert!(warm.keep("a", 40, 16).is_empty());
        assert!(warm.keep("b", 40, 16).is_empty());
        assert_eq!(warm.keep("c", 40, 16), ["a"]);
        assert_eq!(warm.items().copied().collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!((warm.bytes(), app.used()), (80, 80));
        assert_eq!(
            warm.keep("huge", 101, 16),
            ["huge"],
            "larger than the budget"
        );
        assert_eq!(warm.remove(0), "b");
        assert_eq!((warm.bytes(), app.used()), (40, 40));
    }

    #[test]
    fn the_apps_budget_is_shared_and_released() {
        let app = Arc::new(WarmBudget::new(100));
        let mut one = Warm::new(100, app.clone());
        let mut two = Warm::new(100, app.clone());
        assert!(one.keep(1, 60, 16).is_empty());
        // Two has nothing to drop: the one it gives back is not kept.
        assert_eq!(two.keep(2, 60, 16), [2]);
        assert!(two.keep(3, 40, 16).is_empty());
        assert_eq!(app.used(), 100);
        // One drops its own coldest to fit under the app's budget.
        assert!(one.keep(4, 50, 16) == [1]);
        assert_eq!(app.used(), 90);
        assert_eq!(one.clear(), [4]);
        drop(two);
        assert_eq!(app.used(), 0);
    }

    #[test]
    fn the_count_limit_still_applies() {
        let app = Arc::new(WarmBudget::new(u64::MAX));
        let mut warm = Warm::new(u64::MAX, app);
        for i in 0..3 {
            warm.keep(i, 1, 2);
        }
        assert_eq!(warm.items().copied().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(warm.keep(9, 1, 0), [9]);
    }
}

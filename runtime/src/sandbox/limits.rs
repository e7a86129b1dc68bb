//! The `ResourceLimiter` of one instance's store: memory summed over all its linear memories
//! and tables (S6), and at most `instances` instances, tables and memories per store (S8).
//!
//! It records which limit was hit so the invoker can answer 502 with the right kind. It must
//! not decide HTTP status codes or log: it only counts and refuses.

use wasmtime::ResourceLimiter;

/// Counts a store's linear-memory and table bytes against one budget.
#[derive(Debug)]
pub struct InstanceLimiter {
    /// Bytes allowed across every linear memory and table of the store (S6).
    memory_limit: u64,
    /// Bytes currently held by the store's memories and tables.
    used: u64,
    /// Most instances, tables and memories the store may create (S8).
    max_items: usize,
    /// Set when a growth was refused, so a later trap is reported as a memory limit hit.
    pub hit: Option<LimitHit>,
}

/// Which limit refused a growth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitHit {
    Memory {
        limit: u64,
        requested: u64,
    },
    Table {
        limit: u64,
        requested: u64,
    },
    /// A table past the engine's per-table element cap (the pool's), whatever the bytes.
    TableElements {
        max: usize,
        requested: usize,
    },
}

impl InstanceLimiter {
    pub fn new(memory_limit: u64, max_items: u32) -> Self {
        InstanceLimiter {
            memory_limit,
            used: 0,
            max_items: max_items as usize,
            hit: None,
        }
    }

    /// Bytes currently reserved by the store's memories and tables.
    pub fn used(&self) -> u64 {
        self.used
    }

    fn grow(&mut self, current: u64, desired: u64) -> Option<u64> {
        let total = self.used - current.min(self.used) + desired;
        (total <= self.memory_limit).then_some(total)
    }
}

/// Each table element costs a pointer's worth of host memory.
const TABLE_ELEMENT_BYTES: u64 = std::mem::size_of::<usize>() as u64;

impl ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match self.grow(current as u64, desired as u64) {
            Some(total) => {
                self.used = total;
                Ok(true)
            }
            None => {
                self.hit = Some(LimitHit::Memory {
                    limit: self.memory_limit,
                    requested: self.used - (current as u64).min(self.used) + desired as u64,
                });
                Ok(false)
            }
        }
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if let Some(max) = maximum.filter(|max| desired > *max) {
            self.hit = Some(LimitHit::TableElements {
                max,
                requested: desired,
            });
            return Ok(false);
        }
        let (cur, want) = (
            current as u64 * TABLE_ELEMENT_BYTES,
            desired as u64 * TABLE_ELEMENT_BYTES,
        );
        match self.grow(cur, want) {
            Some(total) => {
                self.used = total;
                Ok(true)
            }
            None => {
                self.hit = Some(LimitHit::Table {
                    limit: self.memory_limit,
                    requested: self.used - cur.min(self.used) + want,
                });
                Ok(false)
            }
        }
    }

    fn instances(&self) -> usize {
        self.max_items
    }

    fn tables(&self) -> usize {
        self.max_items
    }

    fn memories(&self) -> usize {
        self.max_items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s6_memories_are_summed_across_the_instance() {
        let mut l = InstanceLimiter::new(100, 1024);
        assert!(l.memory_growing(0, 60, None).unwrap());
        // A second memory of 60 would cross the 100-byte budget although each is under it.
        assert!(!l.memory_growing(0, 60, None).unwrap());
        assert!(matches!(
            l.hit,
            Some(LimitHit::Memory {
                limit: 100,
                requested: 120
            })
        ));
        assert!(l.memory_growing(60, 100, None).unwrap());
        assert_eq!(l.used(), 100);
    }

    #[test]
    fn s6_tables_count_against_the_same_budget() {
        let mut l = InstanceLimiter::new(8 * 10, 1024);
        assert!(l.table_growing(0, 10, None).unwrap());
        assert!(!l.table_growing(10, 11, None).unwrap());
        assert!(matches!(l.hit, Some(LimitHit::Table { .. })));
    }

    #[test]
    fn s6_a_table_past_the_engine_cap_is_a_limit_hit_and_costs_nothing() {
        let mut l = InstanceLimiter::new(1 << 20, 1024);
        assert!(!l.table_growing(0, 20_001, Some(20_000)).unwrap());
        assert!(matches!(
            l.hit,
            Some(LimitHit::TableElements {
                max: 20_000,
                requested: 20_001
            })
        ));
        assert_eq!(l.used(), 0);
    }

    #[test]
    fn s8_item_counts_follow_the_limit() {
        let l = InstanceLimiter::new(1, 7);
        assert_eq!((l.instances(), l.tables(), l.memories()), (7, 7, 7));
    }
}

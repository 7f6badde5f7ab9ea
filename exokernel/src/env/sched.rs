//! CPU multiplexing: the time-slice vector (as in Aegis).
//!
//! The CPU's time is a vector of slices; each slot names the environment
//! that owns it, and the scheduler walks the vector round-robin, giving each
//! runnable owner `ticks_per_slice` timer ticks. An environment that owns
//! several slots gets proportionally more time. The kernel implements no
//! other policy: priorities, thread scheduling and the like belong to the
//! libOS inside each environment's slices.

use alloc::vec::Vec;

use crate::cap::EnvId;

/// The time-slice vector and the position of the running slice.
#[derive(Debug)]
pub struct SliceVector {
    slots: Vec<EnvId>,
    /// The running slot; `None` before the first slice.
    position: Option<usize>,
    ticks_per_slice: u32,
    left: u32,
}

impl SliceVector {
    /// An empty vector with slices of `ticks_per_slice` ticks (at least 1).
    #[must_use]
    pub fn new(ticks_per_slice: u32) -> Self {
        Self {
            slots: Vec::new(),
            position: None,
            ticks_per_slice: ticks_per_slice.max(1),
            left: 0,
        }
    }

    /// Gives `env` one more slot at the end of the vector.
    pub fn add(&mut self, env: EnvId) {
        self.slots.push(env);
    }

    /// Removes every slot `env` owns.
    pub fn remove(&mut self, env: EnvId) {
        if let Some(at) = self.position {
            // Keep pointing at the same slot, or at the one before the gap
            // so the slot after it comes next.
            let removed_upto = self.slots[..=at.min(self.slots.len().saturating_sub(1))]
                .iter()
                .filter(|&&e| e == env)
                .count();
            self.position = if removed_upto == 0 {
                Some(at)
            } else {
                (at + 1).checked_sub(removed_upto + 1)
            };
        }
        self.slots.retain(|&e| e != env);
    }

    /// Slots owned by `env`.
    #[must_use]
    pub fn slots_of(&self, env: EnvId) -> usize {
        self.slots.iter().filter(|&&e| e == env).count()
    }

    /// Counts one tick against the running slice; `true` when it is used up.
    pub fn tick(&mut self) -> bool {
        self.left = self.left.saturating_sub(1);
        self.left == 0
    }

    /// Gives the running slice `ticks` more ticks (the grace period after a
    /// slice-end upcall).
    pub fn grant(&mut self, ticks: u32) {
        self.left = ticks;
    }

    /// Moves to the next slot (after the current one) whose owner is
    /// runnable, starts a fresh slice there and returns the owner; `None`
    /// if no owner is runnable.
    pub fn next(&mut self, runnable: impl Fn(EnvId) -> bool) -> Option<EnvId> {
        let n = self.slots.len();
        let start = self.position.map_or(0, |p| p + 1);
        for step in 0..n {
            let at = (start + step) % n;
            let env = self.slots[at];
            if runnable(env) {
                self.position = Some(at);
                self.left = self.ticks_per_slice;
                return Some(env);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn round_robin_skips_blocked_owners_and_honours_weights() {
        let mut v = SliceVector::new(2);
        for e in [1, 2, 1, 3] {
            v.add(EnvId(e));
        }
        assert_eq!(v.slots_of(EnvId(1)), 2);
        let mut order = vec![];
        for _ in 0..8 {
            order.push(v.next(|e| e != EnvId(3)).unwrap().0);
        }
        // Env 1 owns two of the three runnable slots.
        assert_eq!(order, vec![1, 2, 1, 1, 2, 1, 1, 2]);
        assert!(!v.tick());
        assert!(v.tick());
        assert_eq!(v.next(|_| false), None);
    }

    #[test]
    fn removal_keeps_the_position_sensible() {
        let mut v = SliceVector::new(1);
        for e in [1, 2, 3] {
            v.add(EnvId(e));
        }
        assert_eq!(v.next(|_| true), Some(EnvId(1)));
        assert_eq!(v.next(|_| true), Some(EnvId(2)));
        v.remove(EnvId(1));
        // After 2 comes 3, then 2 again.
        assert_eq!(v.next(|_| true), Some(EnvId(3)));
        assert_eq!(v.next(|_| true), Some(EnvId(2)));
        // Removing the running slot's owner: the next slot comes next.
        v.add(EnvId(4));
        v.remove(EnvId(2));
        assert_eq!(v.next(|_| true), Some(EnvId(3)));
        v.remove(EnvId(3));
        assert_eq!(v.next(|_| true), Some(EnvId(4)));
        v.remove(EnvId(4));
        assert_eq!(v.next(|_| true), None);
    }
}

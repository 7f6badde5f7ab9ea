//! CPU multiplexing: the time-slice vector (as in Aegis).
//!
//! The CPU's time is a vector of slots walked round-robin; each running
//! slot gives its *runner* `ticks_per_slice` timer ticks. A slot also has an
//! *owner*, the environment it was created for, which holds a CPU-time
//! capability naming it (by a serial number that never changes, so the
//! capability stays meaningful as slots come and go). Holding that
//! capability lets an environment hand the slot to another runner
//! (`SLICE_ASSIGN`): an environment running in several slots gets
//! proportionally more of the CPU. When a runner ends, its borrowed slots
//! go back to their owners; when an owner ends, its slots disappear. The
//! kernel implements no other policy: priorities and thread scheduling
//! belong to the libOS inside each environment's slices.

use alloc::vec::Vec;

use crate::cap::EnvId;

/// One slot of the vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    serial: u64,
    owner: EnvId,
    runner: EnvId,
}

/// The time-slice vector and the position of the running slice.
#[derive(Debug)]
pub struct SliceVector {
    slots: Vec<Slot>,
    next_serial: u64,
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
            next_serial: 0,
            position: None,
            ticks_per_slice: ticks_per_slice.max(1),
            left: 0,
        }
    }

    /// Appends a slot owned and run by `env`; returns its serial.
    pub fn add(&mut self, env: EnvId) -> u64 {
        let serial = self.next_serial;
        self.next_serial += 1;
        self.slots.push(Slot {
            serial,
            owner: env,
            runner: env,
        });
        serial
    }

    /// `env` ended: its own slots go, slots it ran for others go back to
    /// their owners.
    pub fn remove(&mut self, env: EnvId) {
        if let Some(at) = self.position {
            // Keep pointing at the same slot, or at the one before the gap
            // so the slot after it comes next.
            let removed_upto = self.slots[..=at.min(self.slots.len().saturating_sub(1))]
                .iter()
                .filter(|s| s.owner == env)
                .count();
            self.position = if removed_upto == 0 {
                Some(at)
            } else {
                (at + 1).checked_sub(removed_upto + 1)
            };
        }
        self.slots.retain(|s| s.owner != env);
        for slot in &mut self.slots {
            if slot.runner == env {
                slot.runner = slot.owner;
            }
        }
    }

    /// Makes `runner` run the slot with `serial`; `false` if there is none.
    pub fn assign(&mut self, serial: u64, runner: EnvId) -> bool {
        match self.slots.iter_mut().find(|s| s.serial == serial) {
            Some(slot) => {
                slot.runner = runner;
                true
            }
            None => false,
        }
    }

    /// Slots `env` runs.
    #[must_use]
    pub fn slots_of(&self, env: EnvId) -> usize {
        self.slots.iter().filter(|s| s.runner == env).count()
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
            let env = self.slots[at].runner;
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
    fn assigned_slots_run_their_new_runner_and_return_on_its_death() {
        let mut v = SliceVector::new(1);
        let a = v.add(EnvId(1));
        v.add(EnvId(2));
        assert!(v.assign(a, EnvId(2)));
        assert!(!v.assign(99, EnvId(2)));
        assert_eq!((v.slots_of(EnvId(1)), v.slots_of(EnvId(2))), (0, 2));
        assert_eq!(v.next(|_| true), Some(EnvId(2)));
        assert_eq!(v.next(|_| true), Some(EnvId(2)));
        v.remove(EnvId(2));
        assert_eq!(v.slots_of(EnvId(1)), 1, "the borrowed slot came back");
        assert_eq!(v.next(|_| true), Some(EnvId(1)));
        v.remove(EnvId(1));
        assert_eq!(v.next(|_| true), None);
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

//! Futexes: wait on a word until another thread wakes the address.
//!
//! The table is keyed by address (the embedder decides what an address
//! is: a user virtual address on bare metal, a host pointer when hosted).
//! The value check and the enqueue happen under one lock, so a wake that
//! follows a change of the word can never be missed.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;

use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;

use crate::errno::{Errno, Result};
use crate::time::Clock;
use crate::wait;

/// "Any waiter" bitset.
pub const BITSET_ANY: u32 = u32::MAX;

#[derive(Debug)]
struct Waiter {
    woken: AtomicBool,
    bitset: u32,
}

/// A queued waiter, from [`Futexes::enqueue`].
#[derive(Debug, Clone)]
pub struct Ticket {
    addr: u64,
    waiter: Arc<Waiter>,
}

/// Two tickets are equal when they are the same waiter.
impl PartialEq for Ticket {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.waiter, &other.waiter)
    }
}

impl Eq for Ticket {}

impl Ticket {
    /// The address it waits on (where it was queued).
    #[must_use]
    pub fn addr(&self) -> u64 {
        self.addr
    }
}

/// The futex table of one address space.
#[derive(Debug, Default)]
pub struct Futexes {
    queues: Mutex<BTreeMap<u64, VecDeque<Arc<Waiter>>>>,
}

impl Futexes {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `FUTEX_WAIT(_BITSET)`: if `still_expected()` (evaluated under the
    /// table lock), sleeps until woken with a matching bitset or until
    /// `timeout_ns` passes.
    ///
    /// # Errors
    /// `EAGAIN` if the word no longer holds the expected value,
    /// `ETIMEDOUT`, `EINVAL` for an empty bitset.
    pub fn wait(
        &self,
        addr: u64,
        still_expected: impl FnOnce() -> bool,
        bitset: u32,
        timeout_ns: Option<u64>,
        clock: &dyn Clock,
    ) -> Result<()> {
        let deadline = timeout_ns.map(|t| clock.uptime_ns().saturating_add(t));
        let ticket = self.enqueue(addr, still_expected, bitset)?;
        wait::until(|| self.poll(&ticket, deadline, clock))
    }

    /// The first half of [`Futexes::wait`], for an embedder that runs
    /// several threads in one execution context and cannot block in one
    /// of them: queues a waiter (if `still_expected()`) and returns its
    /// ticket, which [`Futexes::poll`] checks later.
    ///
    /// # Errors
    /// `EAGAIN` if the word no longer holds the expected value, `EINVAL`
    /// for an empty bitset.
    pub fn enqueue(
        &self,
        addr: u64,
        still_expected: impl FnOnce() -> bool,
        bitset: u32,
    ) -> Result<Ticket> {
        if bitset == 0 {
            return Err(Errno::EINVAL);
        }
        let me = Arc::new(Waiter {
            woken: AtomicBool::new(false),
            bitset,
        });
        let mut q = self.queues.lock();
        if !still_expected() {
            return Err(Errno::EAGAIN);
        }
        q.entry(addr).or_default().push_back(Arc::clone(&me));
        Ok(Ticket { addr, waiter: me })
    }

    /// Whether the waiter behind `ticket` is done: `Some(Ok(()))` once
    /// woken, `Some(Err(ETIMEDOUT))` (and off the queue) once the clock
    /// passes `deadline`, `None` while it still waits.
    pub fn poll(
        &self,
        ticket: &Ticket,
        deadline: Option<u64>,
        clock: &dyn Clock,
    ) -> Option<Result<()>> {
        if ticket.waiter.woken.load(Ordering::Acquire) {
            return Some(Ok(()));
        }
        if deadline.is_some_and(|d| clock.uptime_ns() >= d) {
            return Some(self.cancel(ticket));
        }
        None
    }

    /// Takes the waiter behind `ticket` off its queue (a timeout, or its
    /// thread ending): `Ok(())` if it had been woken meanwhile (the wake
    /// counts), `Err(ETIMEDOUT)` otherwise.
    ///
    /// # Errors
    /// `ETIMEDOUT` when it had not been woken.
    pub fn cancel(&self, ticket: &Ticket) -> Result<()> {
        let mut q = self.queues.lock();
        // Woken between the check and the lock: that counts.
        if ticket.waiter.woken.load(Ordering::Acquire) {
            return Ok(());
        }
        // The waiter may have been requeued to another address.
        for list in q.values_mut() {
            list.retain(|w| !Arc::ptr_eq(w, &ticket.waiter));
        }
        q.retain(|_, list| !list.is_empty());
        Err(Errno::ETIMEDOUT)
    }

    /// `FUTEX_WAKE(_BITSET)`: wakes up to `n` waiters on `addr` whose
    /// bitset intersects `bitset`; returns how many.
    pub fn wake(&self, addr: u64, n: usize, bitset: u32) -> usize {
        let mut q = self.queues.lock();
        let Some(list) = q.get_mut(&addr) else {
            return 0;
        };
        let mut woken = 0;
        list.retain(|w| {
            if woken < n && w.bitset & bitset != 0 {
                w.woken.store(true, Ordering::Release);
                woken += 1;
                false
            } else {
                true
            }
        });
        if list.is_empty() {
            q.remove(&addr);
        }
        woken
    }

    /// `FUTEX_CMP_REQUEUE`: if `still_expected()`, wakes `wake` waiters of
    /// `from` and moves up to `requeue` more to `to`; returns woken +
    /// moved.
    ///
    /// # Errors
    /// `EAGAIN` when the word changed.
    pub fn requeue(
        &self,
        from: u64,
        to: u64,
        wake: usize,
        requeue: usize,
        still_expected: impl FnOnce() -> bool,
    ) -> Result<usize> {
        let mut q = self.queues.lock();
        if !still_expected() {
            return Err(Errno::EAGAIN);
        }
        let mut list = q.remove(&from).unwrap_or_default();
        let mut done = 0;
        while done < wake {
            let Some(w) = list.pop_front() else { break };
            w.woken.store(true, Ordering::Release);
            done += 1;
        }
        let moved: VecDeque<_> = list.drain(..requeue.min(list.len())).collect();
        done += moved.len();
        if !list.is_empty() {
            q.insert(from, list);
        }
        if !moved.is_empty() {
            q.entry(to).or_default().extend(moved);
        }
        Ok(done)
    }

    /// Waiters queued on `addr`.
    #[must_use]
    pub fn waiters(&self, addr: u64) -> usize {
        self.queues.lock().get(&addr).map_or(0, VecDeque::len)
    }
}

//! Synchronisation shim: `core`/`spin` primitives normally, `loom`'s under `cfg(loom)`.
//!
//! Every atomic, fence and lock the capability system touches comes from
//! here, so the loom model (`tests/cap_loom.rs`, built with
//! `RUSTFLAGS="--cfg loom"`) checks exactly the code the kernel runs.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// A mutual-exclusion lock with an infallible `lock`.
///
/// On the kernel this is a `spin::Mutex` (there is no scheduler to block
/// on); under loom it is loom's mutex so the model checker sees every
/// acquisition.
pub(crate) struct Mutex<T> {
    #[cfg(not(loom))]
    inner: spin::Mutex<T>,
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
}

/// The guard returned by [`Mutex::lock`].
#[cfg(not(loom))]
pub(crate) type MutexGuard<'a, T> = spin::MutexGuard<'a, T>;
/// The guard returned by [`Mutex::lock`].
#[cfg(loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    /// Wraps `value` in a new, unlocked mutex.
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(not(loom))]
            inner: spin::Mutex::new(value),
            #[cfg(loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    /// Acquires the lock, spinning (or, under loom, yielding) until it is free.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(loom))]
        {
            self.inner.lock()
        }
        #[cfg(loom)]
        {
            // A panic while holding the lock already failed the model; keep
            // going with the inner value rather than unwrapping.
            match self.inner.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            }
        }
    }
}

/// Back-off for a reader that found a revocation in flight.
///
/// Exponential spinning (then yielding, on a host with `std`) via
/// `crossbeam_utils::Backoff`; under loom, an explicit yield so the model
/// checker schedules the writer.
pub(crate) struct Backoff {
    #[cfg(not(loom))]
    inner: crossbeam_utils::Backoff,
}

impl Backoff {
    /// A fresh back-off at its shortest delay.
    pub(crate) fn new() -> Self {
        Self {
            #[cfg(not(loom))]
            inner: crossbeam_utils::Backoff::new(),
        }
    }

    /// Waits a little longer than last time.
    pub(crate) fn snooze(&self) {
        #[cfg(not(loom))]
        self.inner.snooze();
        #[cfg(loom)]
        loom::thread::yield_now();
    }
}

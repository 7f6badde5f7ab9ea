//! Event counters: a 64-bit count that writers add to and readers take,
//! the libOS object behind Linux's `eventfd` (and usable by any
//! personality as a wake-up descriptor for `poll`-style waits).
//!
//! A read returns the whole count and zeroes it, or, in semaphore mode,
//! returns 1 and decrements it; it waits while the count is 0. A write
//! adds its value and waits while that would push the count past
//! `u64::MAX - 1`. `O_NONBLOCK` turns either wait into `EAGAIN`.

use spin::Mutex;

use crate::errno::{Errno, Result};
use crate::vfs::node::Special;
use crate::wait;

/// Largest count a counter holds.
pub const MAX: u64 = u64::MAX - 1;

/// One counter.
#[derive(Debug)]
pub struct EventCounter {
    count: Mutex<u64>,
    semaphore: bool,
}

impl EventCounter {
    /// A counter starting at `initial`; `semaphore` makes reads take one.
    #[must_use]
    pub fn new(initial: u64, semaphore: bool) -> Self {
        Self {
            count: Mutex::new(initial.min(MAX)),
            semaphore,
        }
    }

    /// Takes from the count: all of it, or 1 in semaphore mode.
    ///
    /// # Errors
    /// `EAGAIN` when the count is 0 and `nonblock`.
    pub fn take(&self, nonblock: bool) -> Result<u64> {
        wait::until(|| {
            let mut c = self.count.lock();
            if *c == 0 {
                return nonblock.then_some(Err(Errno::EAGAIN));
            }
            let v = if self.semaphore { 1 } else { *c };
            *c -= v;
            Some(Ok(v))
        })
    }

    /// Adds `value`.
    ///
    /// # Errors
    /// `EINVAL` for `u64::MAX`; `EAGAIN` when it does not fit and
    /// `nonblock`.
    pub fn add(&self, value: u64, nonblock: bool) -> Result<()> {
        if value == u64::MAX {
            return Err(Errno::EINVAL);
        }
        wait::until(|| {
            let mut c = self.count.lock();
            if MAX - *c < value {
                return nonblock.then_some(Err(Errno::EAGAIN));
            }
            *c += value;
            Some(Ok(()))
        })
    }

    /// The current count.
    #[must_use]
    pub fn count(&self) -> u64 {
        *self.count.lock()
    }
}

impl Special for EventCounter {
    fn read(&self, _offset: u64, buf: &mut [u8], nonblock: bool) -> Result<usize> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let v = self.take(nonblock)?;
        buf[..8].copy_from_slice(&v.to_ne_bytes());
        Ok(8)
    }

    fn write(&self, _offset: u64, data: &[u8], nonblock: bool) -> Result<usize> {
        let bytes: [u8; 8] = data
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or(Errno::EINVAL)?;
        self.add(u64::from_ne_bytes(bytes), nonblock)?;
        Ok(8)
    }

    fn poll(&self) -> (bool, bool) {
        let c = self.count();
        (c > 0, c < MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_semaphore_reads() {
        let c = EventCounter::new(0, false);
        assert_eq!(c.take(true), Err(Errno::EAGAIN));
        c.add(3, true).unwrap();
        c.add(4, true).unwrap();
        assert_eq!(c.take(true), Ok(7));
        let s = EventCounter::new(2, true);
        assert_eq!(s.take(true), Ok(1));
        assert_eq!(s.take(true), Ok(1));
        assert_eq!(s.take(true), Err(Errno::EAGAIN));
    }

    #[test]
    fn overflow_waits_or_fails() {
        let c = EventCounter::new(MAX - 1, false);
        assert_eq!(c.add(2, true), Err(Errno::EAGAIN));
        assert_eq!(c.add(u64::MAX, true), Err(Errno::EINVAL));
        c.add(1, true).unwrap();
        assert_eq!(c.poll(), (true, false));
    }
}

//! Time as the libOS sees it: a [`Clock`] giving wall-clock time, built
//! from the kernel's monotonic clock and a boot epoch.

use alloc::sync::Arc;

use crate::vfs::node::Timespec;

/// Wall-clock time for file timestamps and `/proc/uptime`.
pub trait Clock: Send + Sync {
    /// Now, since the Unix epoch.
    fn now(&self) -> Timespec;
    /// Nanoseconds since boot.
    fn uptime_ns(&self) -> u64;
}

/// A clock that always says the same (tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct FixedClock(pub Timespec);

impl Clock for FixedClock {
    fn now(&self) -> Timespec {
        self.0
    }
    fn uptime_ns(&self) -> u64 {
        0
    }
}

/// The kernel's monotonic clock plus the epoch time at boot.
pub struct KernelClock {
    exo: Arc<dyn exo_sys::Exo + Send + Sync>,
    boot_epoch_ns: u64,
}

impl KernelClock {
    /// A clock over `exo`'s `CLOCK_GET`, with boot at `boot_epoch_ns`
    /// nanoseconds after the epoch (from an RTC, the host, or 0).
    #[must_use]
    pub fn new(exo: Arc<dyn exo_sys::Exo + Send + Sync>, boot_epoch_ns: u64) -> Self {
        Self { exo, boot_epoch_ns }
    }
}

impl core::fmt::Debug for KernelClock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KernelClock")
            .field("boot_epoch_ns", &self.boot_epoch_ns)
            .finish()
    }
}

impl Clock for KernelClock {
    fn now(&self) -> Timespec {
        Timespec::from_nanos(self.boot_epoch_ns.saturating_add(self.exo.clock_ns()))
    }
    fn uptime_ns(&self) -> u64 {
        self.exo.clock_ns()
    }
}

/// Sleeps `ns` nanoseconds of `clock` time (`nanosleep`), letting other
/// threads run meanwhile.
pub fn sleep(clock: &dyn Clock, ns: u64) {
    let deadline = clock.uptime_ns().saturating_add(ns);
    crate::wait::until(|| (clock.uptime_ns() >= deadline).then_some(()));
}

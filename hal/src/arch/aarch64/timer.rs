//! The periodic tick: the generic timer's EL1 virtual timer (CNTV_*),
//! whose PPI the device tree's `/timer` names (INTID 27 on QEMU `virt` and
//! the Raspberry Pi 5), through the GIC.
//!
//! Each tick moves the compare value (CNTV_CVAL_EL0) one interval on from
//! the previous one, so the tick does not drift with interrupt latency; a
//! tick that finds the next deadline already past (the CPU was held up,
//! which TCG does) restarts one interval from now and counts the miss.
//! After that the tick calls the hook the kernel installed ([`set_hook`],
//! the scheduler's preemption point) with the interrupted frame.

use super::exceptions::TrapFrame;
use super::{cpu, gic};
use aarch64_cpu::registers::{CNTV_CTL_EL0, CNTV_CVAL_EL0, Readable, Writeable};
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// The function each tick calls after re-arming (null: none).
static HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Installs the function every tick calls with the interrupted frame,
/// after the next deadline is set; it may switch the frame to another
/// environment.
pub fn set_hook(hook: fn(&mut TrapFrame)) {
    HOOK.store(hook as *mut (), Ordering::Release);
}

static INTERVAL: AtomicU64 = AtomicU64::new(0);
static TICKS: AtomicU64 = AtomicU64::new(0);
static LATE: AtomicU64 = AtomicU64::new(0);
static LAST_TICK: AtomicU64 = AtomicU64::new(0);
static INTID: AtomicU32 = AtomicU32::new(0);

/// Why the tick cannot start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerError {
    /// CNTFRQ_EL0 is 0 (firmware did not set it).
    NoFrequency,
    /// The rate is 0 or above the counter's frequency.
    BadRate(u32),
    /// The interrupt is not a PPI (16..32).
    NotAPpi(u32),
    /// No GIC was set up.
    NoGic,
}

impl core::fmt::Display for TimerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoFrequency => write!(f, "CNTFRQ_EL0 is 0"),
            Self::BadRate(hz) => write!(f, "a {hz} Hz tick is impossible"),
            Self::NotAPpi(intid) => write!(f, "interrupt {intid} is not a PPI"),
            Self::NoGic => write!(f, "no GIC set up"),
        }
    }
}

/// Counter ticks between two interrupts at `hz` for a counter at
/// `frequency` (0 when impossible).
#[must_use]
pub const fn interval_for(frequency: u64, hz: u32) -> u64 {
    if hz == 0 { 0 } else { frequency / hz as u64 }
}

/// Starts a tick of `hz` per second on the virtual timer, whose GIC
/// interrupt is `intid`. IRQs stay masked at the CPU until the caller
/// unmasks them.
///
/// # Errors
/// See [`TimerError`].
pub fn start(hz: u32, intid: u32) -> Result<u64, TimerError> {
    let frequency = cpu::counter_frequency();
    if frequency == 0 {
        return Err(TimerError::NoFrequency);
    }
    let interval = interval_for(frequency, hz);
    if interval == 0 {
        return Err(TimerError::BadRate(hz));
    }
    if !(16..32).contains(&intid) {
        return Err(TimerError::NotAPpi(intid));
    }
    if gic::version() == 0 {
        return Err(TimerError::NoGic);
    }
    INTERVAL.store(interval, Ordering::Relaxed);
    INTID.store(intid, Ordering::Relaxed);
    gic::register(intid, tick);
    CNTV_CVAL_EL0.set(cpu::counter() + interval);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
    gic::enable(intid);
    Ok(interval)
}

/// Restarts the period: the next tick one interval from now (call with
/// IRQs masked). Returns the counter value it counted from.
pub fn rearm() -> u64 {
    let now = cpu::counter();
    CNTV_CVAL_EL0.set(now + INTERVAL.load(Ordering::Relaxed));
    now
}

/// Stops the tick (timer off, line disabled).
pub fn stop() {
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR + CNTV_CTL_EL0::IMASK::SET);
    let intid = INTID.load(Ordering::Relaxed);
    if intid != 0 {
        gic::disable(intid);
    }
}

/// The timer interrupt: count, and move the deadline one interval on.
fn tick(_intid: u32, frame: &mut TrapFrame) {
    let interval = INTERVAL.load(Ordering::Relaxed);
    let now = cpu::counter();
    let mut next = CNTV_CVAL_EL0.get().wrapping_add(interval);
    if next <= now {
        LATE.fetch_add(1, Ordering::Relaxed);
        next = now + interval;
    }
    // Writing the compare value deasserts the (level) interrupt before
    // the GIC sees the end of it.
    CNTV_CVAL_EL0.set(next);
    LAST_TICK.store(now, Ordering::Relaxed);
    TICKS.fetch_add(1, Ordering::Release);
    let hook = HOOK.load(Ordering::Acquire);
    if !hook.is_null() {
        // SAFETY: only `set_hook` stores into the slot, and it stores a
        // `fn(&mut TrapFrame)`.
        let hook = unsafe { core::mem::transmute::<*mut (), fn(&mut TrapFrame)>(hook) };
        hook(frame);
    }
}

/// What the tick has done so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickStats {
    /// Ticks taken.
    pub ticks: u64,
    /// Ticks that found their next deadline already past.
    pub late: u64,
    /// Counter value at the last tick.
    pub last: u64,
    /// Counter ticks per interval.
    pub interval: u64,
    /// The interrupt ID.
    pub intid: u32,
}

/// The tick's counters.
pub fn stats() -> TickStats {
    TickStats {
        ticks: TICKS.load(Ordering::Acquire),
        late: LATE.load(Ordering::Relaxed),
        last: LAST_TICK.load(Ordering::Relaxed),
        interval: INTERVAL.load(Ordering::Relaxed),
        intid: INTID.load(Ordering::Relaxed),
    }
}

/// Whether the timer is enabled and unmasked.
pub fn running() -> bool {
    CNTV_CTL_EL0.is_set(CNTV_CTL_EL0::ENABLE) && !CNTV_CTL_EL0.is_set(CNTV_CTL_EL0::IMASK)
}

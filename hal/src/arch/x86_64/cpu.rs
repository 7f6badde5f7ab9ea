//! Single instructions: time stamp counter, halting, interrupt flag.

use core::arch::x86_64::_rdtsc;
use core::sync::atomic::{AtomicU64, Ordering};

/// Reads the time stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects and every x86_64 CPU has it.
    unsafe { _rdtsc() }
}

static TSC_PER_MS: AtomicU64 = AtomicU64::new(0);

/// Records how many TSC ticks make a millisecond (from PIT calibration).
pub fn set_tsc_per_ms(ticks: u64) {
    TSC_PER_MS.store(ticks, Ordering::Relaxed);
}

/// TSC ticks per millisecond, or 0 before calibration.
pub fn tsc_per_ms() -> u64 {
    TSC_PER_MS.load(Ordering::Relaxed)
}

/// Microseconds between two TSC readings, or `None` before calibration.
pub fn tsc_delta_us(from: u64, to: u64) -> Option<u64> {
    let per_ms = tsc_per_ms();
    (per_ms != 0).then(|| to.saturating_sub(from).saturating_mul(1000) / per_ms)
}

/// Enables maskable interrupts.
pub fn enable_interrupts() {
    x86_64::instructions::interrupts::enable();
}

/// Disables maskable interrupts.
pub fn disable_interrupts() {
    x86_64::instructions::interrupts::disable();
}

/// Sleeps until the next interrupt.
pub fn halt() {
    x86_64::instructions::hlt();
}

/// Stops this CPU for good: interrupts off, halt forever.
pub fn halt_forever() -> ! {
    loop {
        disable_interrupts();
        halt();
    }
}

/// The current frame pointer, for backtraces from the panic path.
#[inline(always)]
pub fn frame_pointer() -> u64 {
    let rbp: u64;
    // SAFETY: reads a register; no memory or flags touched.
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack, preserves_flags))
    };
    rbp
}

/// CR2: the linear address of the last page fault.
pub fn fault_address() -> u64 {
    x86_64::registers::control::Cr2::read_raw()
}

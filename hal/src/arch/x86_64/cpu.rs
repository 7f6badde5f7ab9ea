//! Single instructions: time stamp counter, halting, interrupt flag, RDRAND.

use core::arch::x86_64::{_rdrand64_step, _rdtsc};
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

/// Whether the CPU advertises RDRAND (CPUID.1:ECX bit 30).
pub fn has_rdrand() -> bool {
    let leaf = core::arch::x86_64::__cpuid(1);
    leaf.ecx & (1 << 30) != 0
}

/// One 64-bit value from RDRAND, retrying a few times as Intel advises;
/// `None` if the CPU lacks it or it keeps failing.
pub fn rdrand64() -> Option<u64> {
    if !has_rdrand() {
        return None;
    }
    for _ in 0..10 {
        let mut value = 0;
        // SAFETY: CPUID said RDRAND exists; the target feature is enabled
        // only around this call.
        if unsafe { rdrand_step(&mut value) } == 1 {
            return Some(value);
        }
    }
    None
}

#[target_feature(enable = "rdrand")]
fn rdrand_step(value: &mut u64) -> i32 {
    _rdrand64_step(value)
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

//! Time: TSC calibration and the periodic local APIC timer tick.

use core::sync::atomic::{AtomicU64, Ordering};
use hal::arch::x86_64::{cpu, lapic, pit, trap};
use log::info;

/// Calibration window.
const CALIBRATION_MS: u64 = 10;

static TICKS: AtomicU64 = AtomicU64::new(0);

/// Timer interrupts taken since boot.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

fn on_tick(frame: &mut trap::TrapFrame) {
    TICKS.fetch_add(1, Ordering::Relaxed);
    crate::envs::on_tick(frame);
}

/// Measures the TSC rate against the PIT.
pub fn calibrate_tsc() {
    let start = cpu::rdtsc();
    pit::busy_wait_ms(CALIBRATION_MS);
    let per_ms = (cpu::rdtsc() - start) / CALIBRATION_MS;
    cpu::set_tsc_per_ms(per_ms.max(1));
    info!("TSC: {} kHz (PIT-calibrated)", per_ms);
}

/// Calibrates the local APIC timer against the PIT and starts it at `hz`.
pub fn start(hz: u32) {
    let count = lapic::measure_timer(|| pit::busy_wait_ms(CALIBRATION_MS));
    let per_ms = u64::from(count) / CALIBRATION_MS;
    trap::set_timer_handler(on_tick);
    let period = (per_ms * 1000 / u64::from(hz.max(1))).clamp(1, u64::from(u32::MAX)) as u32;
    lapic::start_periodic(trap::TIMER_VECTOR, period);
    info!(
        "local APIC timer: {} ticks/ms (divide 16), periodic at {hz} Hz",
        per_ms
    );
}

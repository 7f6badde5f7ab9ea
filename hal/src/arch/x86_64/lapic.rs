//! The local APIC: enabling it, its periodic timer, and end-of-interrupt.

use super::{IDENTITY_MAP_LIMIT, phys_to_virt};
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::registers::model_specific::Msr;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;

const REG_ID: usize = 0x20;
const REG_VERSION: usize = 0x30;
const REG_TPR: usize = 0x80;
const REG_EOI: usize = 0xb0;
const REG_SPURIOUS: usize = 0xf0;
const REG_LVT_TIMER: usize = 0x320;
const REG_TIMER_INITIAL: usize = 0x380;
const REG_TIMER_CURRENT: usize = 0x390;
const REG_TIMER_DIVIDE: usize = 0x3e0;

const SPURIOUS_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;
const DIVIDE_BY_16: u32 = 0b0011;

static BASE: AtomicU64 = AtomicU64::new(0);

fn register(offset: usize) -> *mut u32 {
    (phys_to_virt(BASE.load(Ordering::Relaxed)) as usize + offset) as *mut u32
}

fn read(offset: usize) -> u32 {
    // SAFETY: `init` stored the base of the local APIC's 4 KiB register
    // page, in the direct map; every offset used is a defined register.
    unsafe { register(offset).read_volatile() }
}

fn write(offset: usize, value: u32) {
    // SAFETY: as in `read`.
    unsafe { register(offset).write_volatile(value) }
}

/// Why the local APIC could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LapicError {
    /// Its registers lie outside the identity map.
    Unmapped(u64),
}

/// Facts about the enabled local APIC.
#[derive(Clone, Copy, Debug)]
pub struct LapicInfo {
    /// Physical address of the registers.
    pub base: u64,
    /// This CPU's APIC id.
    pub id: u32,
    /// The version register's version field.
    pub version: u32,
}

/// Enables the local APIC at `base` (from the MADT, or `None` for the
/// address in IA32_APIC_BASE) with spurious vector `spurious_vector`.
///
/// # Errors
/// [`LapicError::Unmapped`] if the registers are not identity-mapped.
pub fn init(base: Option<u64>, spurious_vector: u8) -> Result<LapicInfo, LapicError> {
    let mut msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU with an APIC, which
    // is every x86_64 CPU.
    let value = unsafe { msr.read() };
    let base = base.unwrap_or(value & 0x000f_ffff_ffff_f000);
    if base.saturating_add(0x1000) > IDENTITY_MAP_LIMIT {
        return Err(LapicError::Unmapped(base));
    }
    // SAFETY: setting the global-enable bit keeps the base unchanged.
    unsafe { msr.write(value | APIC_BASE_ENABLE) };
    BASE.store(base, Ordering::Relaxed);
    write(REG_TPR, 0);
    write(REG_SPURIOUS, SPURIOUS_ENABLE | u32::from(spurious_vector));
    write(REG_LVT_TIMER, LVT_MASKED);
    Ok(LapicInfo {
        base,
        id: read(REG_ID) >> 24,
        version: read(REG_VERSION) & 0xff,
    })
}

/// Signals end of interrupt; a no-op before `init`.
pub fn end_of_interrupt() {
    if BASE.load(Ordering::Relaxed) != 0 {
        write(REG_EOI, 0);
    }
}

/// Counts timer ticks (divide-by-16) over `wait`, which must busy-wait a
/// known time; returns the count.
pub fn measure_timer(wait: impl FnOnce()) -> u32 {
    write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_MASKED);
    write(REG_TIMER_INITIAL, u32::MAX);
    wait();
    let elapsed = u32::MAX - read(REG_TIMER_CURRENT);
    write(REG_TIMER_INITIAL, 0);
    elapsed
}

/// Starts the timer firing `vector` every `count` ticks (divide-by-16).
pub fn start_periodic(vector: u8, count: u32) {
    write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_PERIODIC | u32::from(vector));
    write(REG_TIMER_INITIAL, count.max(1));
}

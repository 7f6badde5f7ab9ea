//! IO-APICs: masked at boot; routing an IRQ line to an environment is the
//! exokernel's job once IRQ capabilities exist.

use super::{IDENTITY_MAP_LIMIT, phys_to_virt};

const IOREGSEL: usize = 0x00;
const IOWIN: usize = 0x10;
const REG_VERSION: u32 = 0x01;
const REG_REDIRECTION: u32 = 0x10;
const MASKED: u32 = 1 << 16;

fn select(base: u64, reg: u32) {
    // SAFETY: `base` is an IO-APIC register window the caller checked lies
    // in the direct map; IOREGSEL is its index register.
    unsafe { ((phys_to_virt(base) as usize + IOREGSEL) as *mut u32).write_volatile(reg) };
}

fn read(base: u64, reg: u32) -> u32 {
    select(base, reg);
    // SAFETY: IOWIN of the same checked window.
    unsafe { ((phys_to_virt(base) as usize + IOWIN) as *const u32).read_volatile() }
}

fn write(base: u64, reg: u32, value: u32) {
    select(base, reg);
    // SAFETY: IOWIN of the same checked window.
    unsafe { ((phys_to_virt(base) as usize + IOWIN) as *mut u32).write_volatile(value) };
}

/// Masks every redirection entry of the IO-APIC at `base` and returns how
/// many it has, or `None` if `base` is outside the identity map.
pub fn mask_all(base: u64) -> Option<u32> {
    if base.saturating_add(0x20) > IDENTITY_MAP_LIMIT || base == 0 {
        return None;
    }
    let entries = ((read(base, REG_VERSION) >> 16) & 0xff) + 1;
    for i in 0..entries {
        write(base, REG_REDIRECTION + 2 * i, MASKED);
    }
    Some(entries)
}

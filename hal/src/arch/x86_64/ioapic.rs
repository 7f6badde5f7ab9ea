//! IO-APICs: masked at boot; lines are routed (to a vector on the boot
//! CPU) only when the exokernel binds one to an environment.

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

/// The IO-APIC lines are routed through (the one with GSI base 0), set by
/// [`register`]: its base and number of inputs.
static ROUTER: spin::Once<(u64, u32)> = spin::Once::new();

/// First vector used for routed lines: line `n` raises `IRQ_VECTOR_BASE + n`.
pub const IRQ_VECTOR_BASE: u8 = 48;
/// Lines that can be routed (vectors 48..=71).
pub const MAX_LINES: u32 = 24;

/// How a line signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trigger {
    /// Level-triggered (else edge).
    pub level: bool,
    /// Active low (else active high).
    pub active_low: bool,
}

/// Uses the IO-APIC at `base` (masked, `inputs` lines) for routing.
pub fn register(base: u64, inputs: u32) {
    ROUTER.call_once(|| (base, inputs.min(MAX_LINES)));
}

/// Lines available for routing (0 if there is no IO-APIC).
pub fn lines() -> u32 {
    ROUTER.get().map_or(0, |&(_, n)| n)
}

/// Routes `line` to vector `IRQ_VECTOR_BASE + line` on the boot CPU
/// (physical destination 0) with `trigger`, unmasked. `false` if the line
/// does not exist.
pub fn route(line: u32, trigger: Trigger) -> bool {
    let Some(&(base, n)) = ROUTER.get() else {
        return false;
    };
    if line >= n {
        return false;
    }
    let mut low = u32::from(IRQ_VECTOR_BASE) + line;
    if trigger.level {
        low |= 1 << 15;
    }
    if trigger.active_low {
        low |= 1 << 13;
    }
    write(base, REG_REDIRECTION + 2 * line + 1, 0);
    write(base, REG_REDIRECTION + 2 * line, low);
    true
}

/// Masks (`true`) or unmasks `line`, keeping its routing.
pub fn set_masked(line: u32, masked: bool) {
    let Some(&(base, n)) = ROUTER.get() else {
        return;
    };
    if line >= n {
        return;
    }
    let low = read(base, REG_REDIRECTION + 2 * line);
    let low = if masked { low | MASKED } else { low & !MASKED };
    write(base, REG_REDIRECTION + 2 * line, low);
}

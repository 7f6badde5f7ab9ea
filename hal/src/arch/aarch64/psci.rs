//! PSCI (Arm Power State Coordination Interface) calls through the conduit
//! the device tree names (`smc` to EL3 firmware, `hvc` to a hypervisor or
//! QEMU's built-in implementation).

use crate::platform::PsciMethod;

/// PSCI_VERSION.
pub const VERSION: u32 = 0x8400_0000;
/// SYSTEM_OFF.
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// SYSTEM_RESET.
pub const SYSTEM_RESET: u32 = 0x8400_0009;

/// One SMC Calling Convention call: `function` in w0, arguments in x1..x3,
/// result in x0.
///
/// # Safety
/// `function` must be a PSCI (or other SMCCC) call whose effects the
/// caller accepts (SYSTEM_OFF does not return; CPU_ON starts a CPU at the
/// given entry point).
pub unsafe fn call(method: PsciMethod, function: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    let mut x0 = u64::from(function);
    match method {
        // SAFETY: an SMCCC call: the firmware reads x0..x3 and may clobber
        // x0..x17 (declared), touching no memory of ours.
        PsciMethod::Smc => unsafe {
            core::arch::asm!(
                "smc #0",
                inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _,
                out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
                out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
                out("x15") _, out("x16") _, out("x17") _,
                options(nostack)
            );
        },
        // SAFETY: as above, through the hypervisor conduit.
        PsciMethod::Hvc => unsafe {
            core::arch::asm!(
                "hvc #0",
                inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _,
                out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
                out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
                out("x15") _, out("x16") _, out("x17") _,
                options(nostack)
            );
        },
    }
    x0 as i64
}

/// The implementation's PSCI version as (major, minor).
pub fn version(method: PsciMethod) -> (u16, u16) {
    // SAFETY: PSCI_VERSION only reports a number.
    let v = unsafe { call(method, VERSION, 0, 0, 0) } as u32;
    ((v >> 16) as u16, v as u16)
}

/// Powers the machine off (QEMU exits with status 0). Returns only if the
/// firmware refused.
pub fn system_off(method: PsciMethod) -> i64 {
    // SAFETY: the caller wants the machine off.
    unsafe { call(method, SYSTEM_OFF, 0, 0, 0) }
}

/// Resets the machine. Returns only if the firmware refused.
pub fn system_reset(method: PsciMethod) -> i64 {
    // SAFETY: the caller wants the machine reset.
    unsafe { call(method, SYSTEM_RESET, 0, 0, 0) }
}

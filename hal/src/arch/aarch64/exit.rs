//! Leaving the machine with a status.
//!
//! Success powers off through PSCI SYSTEM_OFF (QEMU then exits 0). A
//! failure or panic exits through semihosting with
//! [`ExitCode::qemu_status`] (35, 37: the statuses the x86_64
//! `isa-debug-exit` path gives) when semihosting was enabled on the command
//! line; otherwise it powers off too (the log says why) or, without PSCI,
//! halts.

use super::{cpu, psci, semihosting};
use crate::ExitCode;
use crate::platform::{Psci, PsciMethod};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// 0: no PSCI SYSTEM_OFF; 1: via SMC; 2: via HVC.
static POWER_OFF: AtomicU8 = AtomicU8::new(0);
static SEMIHOSTING: AtomicBool = AtomicBool::new(false);

/// Records the exit paths: PSCI from the device tree, semihosting from the
/// command line.
pub fn configure(psci: Option<&Psci>, semihosting: bool) {
    let off = match psci {
        Some(p) if p.has_system_off() => match p.method {
            PsciMethod::Smc => 1,
            PsciMethod::Hvc => 2,
        },
        _ => 0,
    };
    POWER_OFF.store(off, Ordering::Relaxed);
    SEMIHOSTING.store(semihosting, Ordering::Relaxed);
}

/// Whether semihosting may be used.
pub fn semihosting_enabled() -> bool {
    SEMIHOSTING.load(Ordering::Relaxed)
}

/// The PSCI conduit for SYSTEM_OFF, if there is one.
pub fn power_off_method() -> Option<PsciMethod> {
    match POWER_OFF.load(Ordering::Relaxed) {
        1 => Some(PsciMethod::Smc),
        2 => Some(PsciMethod::Hvc),
        _ => None,
    }
}

/// Leaves with `code`; see the module documentation.
pub fn exit(code: ExitCode) -> ! {
    cpu::mask_interrupts();
    // Each path is tried once: if `semihosting` was given without QEMU's
    // flag (or on a board), the trap lands in the exception handler, which
    // exits again, and must then fall through to PSCI instead of looping.
    if code != ExitCode::Success && SEMIHOSTING.swap(false, Ordering::Relaxed) {
        // SAFETY: semihosting was enabled on the command line, which
        // promises QEMU runs with `-semihosting`.
        unsafe { semihosting::exit(code.qemu_status() as u32) }
    }
    if let Some(method) = power_off_method() {
        POWER_OFF.store(0, Ordering::Relaxed);
        psci::system_off(method);
    }
    if SEMIHOSTING.swap(false, Ordering::Relaxed) {
        // SAFETY: as above.
        unsafe { semihosting::exit(0) }
    }
    cpu::halt_forever()
}

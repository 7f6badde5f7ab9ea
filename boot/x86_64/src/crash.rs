//! Deliberate crashes (`crash=` on the command line), so the harness can
//! check that every kind of crash prints a dump and exits QEMU.

use exokernel::cmdline::Crash;
use log::warn;

/// An address in the canonical lower half that the identity map (the low
/// 4 GiB) does not cover.
const UNMAPPED: u64 = 0x4000_dead_0000;

/// Crashes the kernel the way `kind` says.
pub fn crash(kind: Crash) -> ! {
    warn!("crashing on purpose: {kind:?}");
    match kind {
        Crash::Panic => panic!("deliberate panic requested with crash=panic"),
        Crash::PageFault => {
            // SAFETY: not safe, and meant not to be: the write faults, and the
            // page-fault handler prints the dump and exits.
            unsafe { core::ptr::write_volatile(UNMAPPED as *mut u64, 0x5a5a) };
        }
        Crash::InvalidOpcode => {
            // SAFETY: `ud2` raises #UD, handled by the exception dump.
            unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
        }
    }
    panic!("deliberate {kind:?} crash did not trap")
}

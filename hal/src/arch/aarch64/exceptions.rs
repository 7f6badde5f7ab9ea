//! A minimal exception vector table: any exception ends the kernel with one
//! line naming it and a failing exit, instead of jumping through whatever
//! VBAR_EL1 the firmware left (whose handlers live in memory the kernel
//! reuses) or hanging.
//!
//! The full handler (register dump, `brk` resume, IRQs, `svc` from EL0)
//! comes with the next phase.

use super::exit;
use super::uart::CONSOLE_UART;
use crate::{Console, ExitCode};
use aarch64_cpu::registers::{VBAR_EL1, Writeable};
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

core::arch::global_asm!(
    r#"
.macro exo_vector kind
    .balign 128
    mov x0, #\kind
    mrs x1, esr_el1
    mrs x2, elr_el1
    mrs x3, far_el1
    b exo_exception_entry
.endm

.balign 2048
.global exo_exception_vectors
exo_exception_vectors:
    exo_vector 0
    exo_vector 1
    exo_vector 2
    exo_vector 3
    exo_vector 4
    exo_vector 5
    exo_vector 6
    exo_vector 7
    exo_vector 8
    exo_vector 9
    exo_vector 10
    exo_vector 11
    exo_vector 12
    exo_vector 13
    exo_vector 14
    exo_vector 15
"#
);

unsafe extern "C" {
    static exo_exception_vectors: u8;
}

/// Exceptions taken (for the self-tests).
static TAKEN: AtomicU64 = AtomicU64::new(0);

/// Points VBAR_EL1 at the table.
pub fn install() {
    VBAR_EL1.set((&raw const exo_exception_vectors) as u64);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// Exceptions taken so far.
pub fn taken() -> u64 {
    TAKEN.load(Ordering::Relaxed)
}

/// The vector's name: where from, and which kind.
fn vector_name(kind: u64) -> (&'static str, &'static str) {
    let from = match kind / 4 {
        0 => "EL1 with SP_EL0",
        1 => "EL1",
        2 => "EL0 (AArch64)",
        _ => "EL0 (AArch32)",
    };
    let what = match kind % 4 {
        0 => "synchronous",
        1 => "IRQ",
        2 => "FIQ",
        _ => "SError",
    };
    (from, what)
}

/// ESR_EL1.EC decoded.
#[must_use]
pub const fn exception_class(esr: u64) -> &'static str {
    match (esr >> 26) & 0x3f {
        0x00 => "unknown reason (undefined instruction)",
        0x01 => "WFI/WFE",
        0x07 => "FP/SIMD access",
        0x0e => "illegal execution state",
        0x15 => "SVC",
        0x18 => "system register access",
        0x20 => "instruction abort from EL0",
        0x21 => "instruction abort",
        0x22 => "PC alignment fault",
        0x24 => "data abort from EL0",
        0x25 => "data abort",
        0x26 => "SP alignment fault",
        0x2f => "SError",
        0x3c => "BRK",
        _ => "other",
    }
}

struct Out;

impl Write for Out {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        CONSOLE_UART.write_bytes(s.as_bytes());
        Ok(())
    }
}

#[unsafe(no_mangle)]
extern "C" fn exo_exception_entry(kind: u64, esr: u64, elr: u64, far: u64) -> ! {
    TAKEN.fetch_add(1, Ordering::Relaxed);
    let (from, what) = vector_name(kind);
    let _ = writeln!(
        Out,
        "\n!!! EXCEPTION: {what} from {from} at ELR {elr:#x}: ESR {esr:#x} ({}), FAR {far:#x}",
        exception_class(esr)
    );
    let _ = writeln!(Out, "!!! kernel halted: exception");
    exit::exit(ExitCode::Panic)
}

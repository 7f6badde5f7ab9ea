//! Switching to the kernel's identity map at EL1, dropping from EL2 first
//! when the firmware ran there.
//!
//! At EL1 the switch briefly turns the MMU off (only system-register
//! writes run in that window, no data accesses), loads MAIR/TCR/TTBR0 from
//! [`super::tables`], invalidates the TLB and turns the MMU on again with
//! caches enabled. At EL2 the same EL1 registers are loaded, EL2 is set up
//! to let EL1 run unhindered (AArch64 EL1, no stage 2, counters and FP
//! untrapped, the GICv3 system-register interface enabled when present),
//! and an `eret` enters EL1 with its MMU already on. Either way execution
//! continues on a new stack at a given function, which never returns.

use super::cpu;
use super::tables::{self, IdentityMap};
use aarch64_cpu::registers::{HCR_EL2, ICC_SRE_EL2, ReadWriteable, Readable};

// At EL1 the kernel runs on SP_EL1 (EL1h) whatever the firmware used, so
// its exceptions take the "current EL with SP_ELx" vectors on its own
// stack. x29 and x30 are zeroed so backtraces end at the entry function. Scratch register x9 is passed as an input (value 0) so the allocator
// places no other input there; the blocks never return.

/// SCTLR_EL1: MMU, data and instruction caches, stack alignment checks,
/// EL0 access to CTR_EL0 (UCT) and to cache maintenance by address (UCI:
/// `dc cvau`/`ic ivau`, which a JIT in user code needs to publish its
/// instructions, as on Linux), and the bits that are RES1 in Armv8.0 (EOS,
/// TSCXT, EIS, SPAN, nTLSMD, LSMAOE).
pub const SCTLR_EL1: u64 = (1 << 0)
    | (1 << 2)
    | (1 << 3)
    | (1 << 4)
    | (1 << 15)
    | (1 << 26)
    | (1 << 12)
    | (1 << 11)
    | (1 << 20)
    | (1 << 22)
    | (1 << 23)
    | (1 << 28)
    | (1 << 29);

/// HCR_EL2 for a kernel at EL1: EL1 is AArch64, nothing else (no stage 2,
/// no traps).
const HCR_EL2_RW: u64 = 1 << 31;
/// CPTR_EL2: its RES1 bits, no FP/SIMD trap (TFP = 0).
const CPTR_EL2: u64 = 0x33ff;
/// SPSR_EL2 for the `eret`: EL1h with D, A, I, F masked.
const SPSR_EL1H_MASKED: u64 = 0x3c5;
/// CPACR_EL1.FPEN: FP/SIMD untrapped at EL1 and EL0 (Rust uses NEON).
const CPACR_FPEN: u64 = 0b11 << 20;

/// Where the kernel was when it left the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryLevel {
    /// Already at EL1 (QEMU `virt` without `virtualization=on`).
    El1,
    /// At EL2 (QEMU with `virtualization=on`, most real boards): dropped.
    El2,
}

/// Whether the EL2 firmware enabled VHE (HCR_EL2.E2H), which
/// [`enter_el1`] does not undo. Only meaningful at EL2.
pub fn el2_uses_vhe() -> bool {
    cpu::current_el() == 2 && HCR_EL2.get() & (1 << 34) != 0
}

/// The kernel's entry after the switch: it receives `argument`.
pub type Entry = extern "C" fn(u64) -> !;

/// Installs `map`, moves to EL1 if needed, switches to `stack_top` and
/// calls `entry(argument)`.
///
/// # Safety
/// `map` must identity-map every byte the kernel touches from here on (its
/// image, `stack_top`'s stack, the data `argument` points to) as Normal
/// memory and must stay alive and unchanged; `stack_top` must be the
/// 16-byte-aligned top of a stack nothing else uses; nothing may rely on
/// the firmware's page tables or exception vectors afterwards. At EL2 the
/// firmware must not use VHE ([`el2_uses_vhe`]).
pub unsafe fn enter_el1(
    map: &'static IdentityMap,
    stack_top: u64,
    entry: Entry,
    argument: u64,
) -> ! {
    let mair = tables::MAIR;
    let tcr = tables::tcr(cpu::pa_range());
    let ttbr = core::ptr::from_ref(&map.level0) as u64;
    let entry = entry as usize as u64;
    if cpu::current_el() == 2 {
        if cpu::has_gic_system_registers() {
            ICC_SRE_EL2.modify(ICC_SRE_EL2::SRE::SET + ICC_SRE_EL2::ENABLE::SET);
        }
        // SAFETY: at EL2 without VHE (the caller's contract), these writes
        // configure only the EL1&0 regime and EL2's traps for it; the map
        // covers this code and the new stack; the `eret` never returns.
        unsafe {
            core::arch::asm!(
                "msr daifset, #0xf",
                "dsb ish",
                "msr hcr_el2, {hcr}",
                "isb",
                "msr mair_el1, {mair}",
                "msr tcr_el1, {tcr}",
                "msr ttbr0_el1, {ttbr}",
                "msr sctlr_el1, {sctlr}",
                "mrs x9, cnthctl_el2",
                "orr x9, x9, #3",
                "msr cnthctl_el2, x9",
                "msr cptr_el2, {cptr}",
                "msr hstr_el2, xzr",
                "msr cpacr_el1, {cpacr}",
                "mrs x9, midr_el1",
                "msr vpidr_el2, x9",
                "mrs x9, mpidr_el1",
                "msr vmpidr_el2, x9",
                "msr vttbr_el2, xzr",
                "isb",
                "tlbi vmalle1",
                "dsb nsh",
                "isb",
                "msr sp_el1, {stack}",
                "msr elr_el2, {entry}",
                "msr spsr_el2, {spsr}",
                "mov x29, xzr",
                "mov x30, xzr",
                "eret",
                hcr = in(reg) HCR_EL2_RW,
                mair = in(reg) mair,
                tcr = in(reg) tcr,
                ttbr = in(reg) ttbr,
                sctlr = in(reg) SCTLR_EL1,
                cptr = in(reg) CPTR_EL2,
                cpacr = in(reg) CPACR_FPEN,
                stack = in(reg) stack_top,
                entry = in(reg) entry,
                spsr = in(reg) SPSR_EL1H_MASKED,
                in("x0") argument,
                in("x9") 0u64,
                options(noreturn)
            );
        }
    }
    // SAFETY: at EL1; while the MMU is off only system registers are
    // written (instruction fetches are identity-mapped either way); the map
    // covers this code and the new stack; the branch never returns.
    unsafe {
        core::arch::asm!(
            "msr daifset, #0xf",
            "dsb ish",
            "mrs x9, sctlr_el1",
            "bic x9, x9, #1",
            "msr sctlr_el1, x9",
            "isb",
            "msr mair_el1, {mair}",
            "msr tcr_el1, {tcr}",
            "msr ttbr0_el1, {ttbr}",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            "msr cpacr_el1, {cpacr}",
            "msr sctlr_el1, {sctlr}",
            "isb",
            "msr spsel, #1",
            "mov sp, {stack}",
            "mov x29, xzr",
            "mov x30, xzr",
            "br {entry}",
            mair = in(reg) mair,
            tcr = in(reg) tcr,
            ttbr = in(reg) ttbr,
            sctlr = in(reg) SCTLR_EL1,
            cpacr = in(reg) CPACR_FPEN,
            stack = in(reg) stack_top,
            entry = in(reg) entry,
            in("x0") argument,
            in("x9") 0u64,
            options(noreturn)
        );
    }
}

/// The translation registers now, for checks: (MAIR_EL1, TCR_EL1,
/// TTBR0_EL1, SCTLR_EL1).
pub fn translation_registers() -> (u64, u64, u64, u64) {
    use aarch64_cpu::registers::{MAIR_EL1, SCTLR_EL1 as SCTLR, TCR_EL1, TTBR0_EL1};
    (MAIR_EL1.get(), TCR_EL1.get(), TTBR0_EL1.get(), SCTLR.get())
}

/// Whether the MMU translates an EL1 write to `address` (`at s1e1w`: no
/// fault in PAR_EL1), for checks of the map's permissions.
pub fn el1_write_translates(address: u64) -> bool {
    use aarch64_cpu::registers::PAR_EL1;
    // SAFETY: `at` only asks the MMU to translate, it accesses nothing; the
    // `isb` makes PAR_EL1 hold the result. PAR_EL1 is read right after,
    // and an interrupt handler in between would not use `at`.
    unsafe {
        core::arch::asm!("at s1e1w, {}", "isb", in(reg) address, options(nostack));
    }
    PAR_EL1.get() & 1 == 0
}

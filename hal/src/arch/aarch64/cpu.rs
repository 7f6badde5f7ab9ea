//! The CPU: exception level, the generic timer's counter, feature
//! registers, waiting.

use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTVCT_EL0, CurrentEL, DAIF, ID_AA64MMFR0_EL1, ID_AA64PFR0_EL1, MIDR_EL1,
    MPIDR_EL1, Readable,
};

/// The exception level the CPU runs at (0..=3).
#[must_use]
pub fn current_el() -> u8 {
    CurrentEL.read(CurrentEL::EL) as u8
}

/// The generic timer's frequency in Hz (CNTFRQ_EL0, set by firmware).
#[must_use]
pub fn counter_frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// The virtual counter (CNTVCT_EL0), readable at EL1 without any EL2
/// setup.
#[must_use]
pub fn counter() -> u64 {
    CNTVCT_EL0.get()
}

/// Microseconds between two counter readings at `frequency`.
#[must_use]
pub fn counter_delta_us(start: u64, end: u64, frequency: u64) -> u64 {
    if frequency == 0 {
        return 0;
    }
    u64::try_from(u128::from(end.wrapping_sub(start)) * 1_000_000 / u128::from(frequency))
        .unwrap_or(u64::MAX)
}

/// The ID_AA64MMFR0_EL1.PARange field (physical address size).
#[must_use]
pub fn pa_range() -> u64 {
    ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange)
}

/// Whether the GICv3 system-register CPU interface exists
/// (ID_AA64PFR0_EL1.GIC, bits 27:24).
#[must_use]
pub fn has_gic_system_registers() -> bool {
    (ID_AA64PFR0_EL1.get() >> 24) & 0xf != 0
}

/// MIDR_EL1 (implementer, part number, revision).
#[must_use]
pub fn midr() -> u64 {
    MIDR_EL1.get()
}

/// MPIDR_EL1's affinity fields (Aff3..Aff0) of this CPU.
#[must_use]
pub fn mpidr_affinity() -> u64 {
    MPIDR_EL1.get() & 0xff_00ff_ffff
}

/// Whether IRQs are masked (DAIF.I).
#[must_use]
pub fn irqs_masked() -> bool {
    DAIF.is_set(DAIF::I)
}

/// Masks IRQ, FIQ, SError and debug exceptions.
pub fn mask_interrupts() {
    // SAFETY: setting DAIF bits only masks exceptions; no memory effects.
    unsafe { core::arch::asm!("msr daifset, #0xf", options(nomem, nostack)) };
}

/// Unmasks IRQs (clears DAIF.I); the exception vectors and the GIC must
/// be set up.
pub fn unmask_irqs() {
    // SAFETY: clearing DAIF.I lets IRQs in, which the installed vectors
    // handle; no `nomem`, so memory an interrupt handler writes is not
    // cached in registers across this point.
    unsafe { core::arch::asm!("msr daifclr, #2", options(nostack)) };
}

/// Masks IRQs (sets DAIF.I).
pub fn mask_irqs() {
    // SAFETY: setting DAIF.I only masks IRQs; no `nomem`, as above.
    unsafe { core::arch::asm!("msr daifset, #2", options(nostack)) };
}

/// Waits for an interrupt (returns at once if one is pending, masked or not).
pub fn wait_for_interrupt() {
    aarch64_cpu::asm::wfi();
}

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    mask_interrupts();
    loop {
        wait_for_interrupt();
    }
}

/// TPIDR_EL0: EL0's thread register (its TLS base).
#[must_use]
pub fn thread_register() -> u64 {
    aarch64_cpu::registers::TPIDR_EL0.get()
}

/// Sets TPIDR_EL0, for the environment about to run.
pub fn set_thread_register(value: u64) {
    use aarch64_cpu::registers::Writeable;
    aarch64_cpu::registers::TPIDR_EL0.set(value);
}

/// Lets EL0 read the virtual counter (CNTKCTL_EL1.EL0VCTEN), for user
/// timestamps; the physical counter and the timers stay EL1's.
pub fn allow_el0_virtual_counter() {
    use aarch64_cpu::registers::{CNTKCTL_EL1, ReadWriteable};
    CNTKCTL_EL1.modify(CNTKCTL_EL1::EL0VCTEN::SET);
}

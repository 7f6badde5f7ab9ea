//! Arm semihosting's `SYS_EXIT`: the only way for a guest to give QEMU a
//! chosen exit status.
//!
//! QEMU implements semihosting only when started with `-semihosting` (or
//! `-semihosting-config enable=on`); without it the `hlt #0xf000` below is
//! an undefined instruction that traps. So it is used only when the kernel
//! command line says `semihosting`, which `cargo xtask` adds exactly when
//! it passes the flag to QEMU.

/// `SYS_EXIT`.
const SYS_EXIT: u32 = 0x18;
/// `ADP_Stopped_ApplicationExit`: QEMU exits with the subcode.
const APPLICATION_EXIT: u64 = 0x2_0026;

/// Makes QEMU exit with `status`.
///
/// # Safety
/// QEMU must run with semihosting enabled (see the module documentation);
/// otherwise this raises an undefined-instruction exception.
pub unsafe fn exit(status: u32) -> ! {
    let block = [APPLICATION_EXIT, u64::from(status)];
    // SAFETY: the caller's contract; the host reads the two-word block
    // (which lives until QEMU exits) and never returns.
    unsafe {
        core::arch::asm!(
            "hlt #0xf000",
            in("w0") SYS_EXIT,
            in("x1") block.as_ptr(),
            options(nostack, readonly)
        );
    }
    super::cpu::halt_forever()
}

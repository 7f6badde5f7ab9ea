//! exo's hardware abstraction layer: the only crate that touches registers.
//!
//! Everything arch- or board-specific (port I/O, MSRs, descriptor tables,
//! interrupt controllers, timers, boot protocols) lives here behind small
//! traits and plain data types, so `exokernel` above it stays arch-neutral
//! and `#![forbid(unsafe_code)]`. The arch-neutral parts (boot-information
//! parsing, device-tree parsing, the traits) build and test on the host;
//! `arch::x86_64` builds only for the bare-metal target and `arch::aarch64`
//! (apart from its pure page-table layout, also tested on the host) only for
//! aarch64 UEFI or bare metal.
#![no_std]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod acpi;
pub mod board;
pub mod bootinfo;
pub mod console;
pub mod context;
pub mod efi;
pub mod entropy;
pub mod fdt;
pub mod mmu;
pub mod multiboot;
pub mod platform;

#[cfg(any(
    test,
    all(target_arch = "x86_64", target_os = "none"),
    all(target_arch = "aarch64", any(target_os = "none", target_os = "uefi"))
))]
pub mod arch;

pub use bootinfo::{AcpiRoot, BootInfo, BootModule, BootWarning, MemoryKind, MemoryRegion};
pub use console::Console;
pub use context::UserContext;
pub use entropy::EntropySource;

/// How a test or a crashed kernel leaves the machine; the QEMU harness maps
/// each to a distinct process exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// Every self-test passed.
    Success = 0x10,
    /// At least one self-test failed.
    Failure = 0x11,
    /// The kernel panicked or took an unrecoverable exception.
    Panic = 0x12,
}

impl ExitCode {
    /// The status QEMU's `isa-debug-exit` device makes the QEMU process exit
    /// with when the kernel writes this code: `(code << 1) | 1`.
    pub const fn qemu_status(self) -> i32 {
        ((self as u32) << 1 | 1) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::ExitCode;

    /// The QEMU harness (`tests/`) expects exactly these statuses.
    #[test]
    fn qemu_statuses_are_what_the_harness_expects() {
        assert_eq!(ExitCode::Success.qemu_status(), 33);
        assert_eq!(ExitCode::Failure.qemu_status(), 35);
        assert_eq!(ExitCode::Panic.qemu_status(), 37);
    }
}

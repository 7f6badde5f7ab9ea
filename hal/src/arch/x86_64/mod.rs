//! x86_64 PC platform: 16550 serial, GDT/TSS/IDT, exceptions, local APIC
//! timer, PIT calibration, ACPI discovery, and QEMU's debug-exit port.
//!
//! Memory layout (set up by the boot crate's long-mode switch, extended by
//! [`paging`] for environments):
//!
//! ```text
//! 0x0000_0000_0000_0000 ┬ kernel image, boot stacks    supervisor, every space
//! 0x0000_0000_0040_0000 ┼ (KERNEL_LOW_LIMIT, 4 MiB)
//!                       │ boot space: identity map of 4 GiB (boot-time parsing only)
//!                       │ environment spaces: user memory
//! 0x0000_7fff_ffff_ffff ┴ (end of the canonical lower half)
//! 0xffff_8000_0000_0000 ┬ PHYS_OFFSET: direct map of physical 0..4 GiB
//! 0xffff_8001_0000_0000 ┴                              supervisor, every space
//! ```
//!
//! Physical memory is reached through [`phys_to_virt`] (the direct map),
//! which is present in every address space; the low identity map exists
//! only in the boot address space, for parsing firmware tables before any
//! environment runs.

pub mod acpi;
pub mod cpu;
pub mod dump;
pub mod entropy;
pub mod exit;
pub mod gdt;
pub mod ioapic;
pub mod lapic;
pub mod paging;
pub mod pic;
pub mod pit;
pub mod serial;
pub mod trap;

/// Physical memory below this address is mapped (2 MiB pages, supervisor,
/// writable) from the moment 64-bit code runs: identity-mapped in the boot
/// address space, and at [`PHYS_OFFSET`] in every address space.
pub const IDENTITY_MAP_LIMIT: u64 = 4 << 30;

/// Where the direct map of physical memory starts (PML4 slot 256).
pub const PHYS_OFFSET: u64 = 0xffff_8000_0000_0000;

/// The low region every address space shares with the kernel image: the
/// first two 2 MiB pages, supervisor-only. User memory starts here.
pub const KERNEL_LOW_LIMIT: u64 = 4 << 20;

/// The kernel-virtual address of physical address `phys` (below
/// [`IDENTITY_MAP_LIMIT`]) in the direct map.
#[must_use]
pub const fn phys_to_virt(phys: u64) -> u64 {
    PHYS_OFFSET + phys
}

//! x86_64 PC platform: 16550 serial, GDT/TSS/IDT, exceptions, local APIC
//! timer, PIT calibration, ACPI discovery, and QEMU's debug-exit port.
//!
//! The kernel runs on an identity map of the low 4 GiB set up by the boot
//! crate's long-mode switch, so physical addresses below
//! [`IDENTITY_MAP_LIMIT`] are directly addressable here.

pub mod acpi;
pub mod cpu;
pub mod dump;
pub mod entropy;
pub mod exit;
pub mod gdt;
pub mod ioapic;
pub mod lapic;
pub mod pic;
pub mod pit;
pub mod serial;
pub mod trap;

/// Physical memory below this address is identity-mapped (2 MiB pages,
/// supervisor, writable) from the moment 64-bit code runs.
pub const IDENTITY_MAP_LIMIT: u64 = 4 << 30;

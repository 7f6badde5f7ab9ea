//! aarch64 platform: PL011/16550 consoles, exception entry and crash
//! dumps, the GIC and the generic-timer tick, PSCI, semihosting exit, the
//! identity map (with W^X for the kernel image) and the EL2 → EL1 drop.
//!
//! Nothing here hard-codes a board address: every MMIO base comes from the
//! device tree through [`crate::platform::Platform`]. The kernel runs on a
//! 1:1 map of physical memory ([`tables`]), so a physical address is also
//! the address to dereference.
//!
//! [`tables`], [`esr`], [`frame`] and [`image`] are pure computation and also build
//! (and are tested) on the host; everything else needs the CPU.

pub mod tables;

#[cfg(target_arch = "aarch64")]
pub mod cpu;
#[cfg(target_arch = "aarch64")]
pub mod entropy;
#[cfg(any(test, target_arch = "aarch64"))]
pub mod esr;
#[cfg(target_arch = "aarch64")]
pub mod exceptions;
#[cfg(target_arch = "aarch64")]
pub mod exit;
#[cfg(any(test, target_arch = "aarch64"))]
pub mod frame;
#[cfg(target_arch = "aarch64")]
pub mod gic;
pub mod image;
#[cfg(target_arch = "aarch64")]
pub mod mmu;
#[cfg(any(test, target_arch = "aarch64"))]
pub mod ns16550;
#[cfg(target_arch = "aarch64")]
pub mod paging;
#[cfg(any(test, target_arch = "aarch64"))]
pub mod pl011;
#[cfg(target_arch = "aarch64")]
pub mod psci;
#[cfg(target_arch = "aarch64")]
pub mod semihosting;
#[cfg(target_arch = "aarch64")]
pub mod timer;
#[cfg(target_arch = "aarch64")]
pub mod uart;

//! exo's kernel proper: arch-neutral policy over the `exo-hal` traits.
//!
//! The exokernel multiplexes CPU time, physical memory, DMA regions and IRQ
//! lines, and names every resource by an authenticated capability. This crate
//! holds that policy and nothing arch-specific, so all of it is tested on the
//! host with `cargo test`; the bare-metal binaries under `boot/` wire it to a
//! real machine through `exo-hal`.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod bootlog;
pub mod cap;
pub mod cmdline;
pub mod elf;
pub mod entropy;
pub mod env;
pub mod frames;
pub mod klog;
pub mod ktest;
pub mod manifest;

/// The kernel's version, printed in the boot marker.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

//! Raw exo system calls from user mode, and typed wrappers over them.
//!
//! This is the bare-metal backend of the libOS's kernel interface: every
//! function is one `syscall` instruction with the registers
//! `docs/EXO_ABI.md` specifies. With the `rt` feature it also provides a
//! program entry point and panic handler for freestanding test programs.
#![no_std]
#![warn(missing_docs)]

pub use exo_abi::{CapInfo, Error, NO_CAP, access, call, irq_flags, rights, upcall};

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
mod raw;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub use raw::*;

#[cfg(all(feature = "rt", target_arch = "x86_64", target_os = "none"))]
pub mod rt;

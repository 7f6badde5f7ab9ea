//! The exo library OS: the abstractions the exokernel leaves to
//! applications — a VFS with tmpfs, devfs, procfs and ext2, file
//! descriptors, pipes, processes, signals, futexes — linked into each
//! application and talking to the kernel only through [`exo_sys::Exo`].
//!
//! Everything here is `no_std` + `alloc` and safe Rust; the same code runs
//! on bare metal (backend `exo_sys::BareMetal`) and inside an ordinary
//! Linux program (backend `exo_hosted::HostedEnv`). `docs/LIBOS.md`
//! describes the design.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod errno;
pub mod eventfd;
pub mod exec;
pub mod fs;
pub mod futex;
pub mod mm;
pub mod pipe;
pub mod poll;
pub mod process;
pub mod signal;
pub mod system;
pub mod time;
pub mod vfs;
pub mod wait;

pub use errno::{Errno, Result};

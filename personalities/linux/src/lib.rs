//! The Linux personality: the x86_64 Linux system-call ABI over the exo
//! libOS.
//!
//! [`TABLE`] maps Linux call numbers to handlers that translate arguments
//! (flags, `AT_*` directory descriptors, user pointers) into libOS calls
//! and results back into Linux's layouts (`struct stat`,
//! `linux_dirent64`, `utsname`, `timespec`, `k_sigaction`). [`result`]
//! applies Linux's convention: a value, or `-errno` with Linux's numbers.
//! Unknown numbers give `-ENOSYS`. `docs/PERSONALITIES.md` lists every
//! call's status.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod abi;
pub mod arch;
mod calls;
pub mod events;
pub mod exec;
mod mem;
mod proc;
pub mod regs;
mod regs_a64;
mod sigframe;
mod system;
pub mod threads;

use exo_personality::{Ctx, Table};
use libos::Result;

pub use arch::Arch;
pub use calls::{AARCH64, TABLE};
pub use regs::{Flow, Regs};
pub use regs_a64::A64Regs;
pub use threads::{NewThread, Parked};

/// Linux's result convention: the value, or `-errno`.
#[must_use]
pub fn result(r: Result<u64>) -> i64 {
    match r {
        Ok(v) => v as i64,
        Err(e) => -i64::from(e.linux()),
    }
}

/// Runs Linux system call `number` (x86_64 numbering) for the process in
/// `ctx`.
pub fn syscall(ctx: &mut Ctx<'_>, number: u64, args: [u64; 6]) -> i64 {
    result(TABLE.dispatch(ctx, number, args))
}

/// Runs Linux system call `number` in aarch64 numbering (the generic
/// `unistd.h`, `svc #0` with the number in `x8`).
pub fn syscall_aarch64(ctx: &mut Ctx<'_>, number: u64, args: [u64; 6]) -> i64 {
    result(AARCH64.dispatch(ctx, number, args))
}

/// The personality's table (for `/proc` and tracing).
#[must_use]
pub fn table() -> &'static Table {
    &TABLE
}

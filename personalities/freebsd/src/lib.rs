//! The FreeBSD personality: the FreeBSD amd64 system-call ABI over the exo
//! libOS.
//!
//! [`TABLE`] maps FreeBSD call numbers (`sys/kern/syscalls.master`, the
//! FreeBSD 12+ "ino64" entries: `fstat` 551, `getdirentries` 554, `kevent`
//! 560, …) to handlers that translate arguments — FreeBSD's `O_*`, `AT_*`
//! and signal numbers, user pointers — into libOS calls, and results back
//! into FreeBSD's layouts (`struct stat` of 224 bytes, `struct dirent`
//! records, `struct kevent` of 64 bytes, `struct sigaction`, `sigset_t` of
//! four words, `siginfo_t`, `termios`).
//!
//! FreeBSD's result convention on amd64 differs from Linux's: a failing
//! call sets the carry flag and leaves the *positive* errno in `rax`; a
//! successful one clears the carry and leaves the value in `rax`.
//! [`syscall`] returns exactly that pair as a [`SysResult`]. Errno numbers
//! are FreeBSD's ([`errno()`]); unknown call numbers give `ENOSYS` (78).
//!
//! Beyond the libOS's files and processes the personality builds kqueue
//! ([`kqueue`]), the sysctl tree ([`sysctl`]), `rfork`/`wait6`, and
//! `AF_UNIX` stream socket pairs ([`socket`]). `docs/PERSONALITIES.md` lists
//! every call's status.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod abi;
mod calls;
pub mod errno;
pub mod kqueue;
mod proc;
pub mod socket;
pub mod sysctl;

use exo_personality::{Ctx, Table};
use libos::Result;

pub use calls::TABLE;
pub use errno::errno;

/// A FreeBSD system call's outcome as the CPU returns it: `rax` and the
/// carry flag. With `carry` clear, `rax` is the value; with it set, `rax`
/// is a positive FreeBSD errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysResult {
    /// The `rax` register.
    pub rax: u64,
    /// The carry flag (`PSL_C`): set on failure.
    pub carry: bool,
}

impl SysResult {
    /// The value, if the call succeeded.
    #[must_use]
    pub const fn value(self) -> Option<u64> {
        if self.carry { None } else { Some(self.rax) }
    }

    /// The FreeBSD errno, if the call failed.
    #[must_use]
    pub const fn errno(self) -> Option<i32> {
        if self.carry {
            Some(self.rax as i32)
        } else {
            None
        }
    }

    /// Success with `value`.
    #[must_use]
    pub const fn ok(value: u64) -> Self {
        Self {
            rax: value,
            carry: false,
        }
    }

    /// Failure with FreeBSD errno `errno`.
    #[must_use]
    pub const fn err(errno: i32) -> Self {
        Self {
            rax: errno as u64,
            carry: true,
        }
    }
}

/// FreeBSD's convention for a libOS result: the value with the carry
/// clear, or the FreeBSD errno with the carry set.
#[must_use]
pub fn result(r: Result<u64>) -> SysResult {
    match r {
        Ok(v) => SysResult::ok(v),
        Err(e) => SysResult::err(errno(e)),
    }
}

/// Runs FreeBSD system call `number` for the process in `ctx`.
pub fn syscall(ctx: &mut Ctx<'_>, number: u64, args: [u64; 6]) -> SysResult {
    // Errors the libOS has no name for (socket families and protocols)
    // are answered here, in FreeBSD's numbers.
    if number == calls::SOCKETPAIR
        && let Some(e) = socket::precheck(args)
    {
        return SysResult::err(e);
    }
    result(TABLE.dispatch(ctx, number, args))
}

/// The personality's table (for `/proc` and tracing).
#[must_use]
pub fn table() -> &'static Table {
    &TABLE
}

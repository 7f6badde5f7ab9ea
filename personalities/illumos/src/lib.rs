//! The illumos personality: the illumos amd64 system-call ABI over the exo
//! libOS, with doors over exokernel IPC.
//!
//! [`TABLE`] maps illumos call numbers (`sys/syscall.h`) to handlers that
//! translate arguments (illumos `O_*` flags, the `AT_FDCWD` cookie
//! `0xffd19553`, user pointers) into libOS calls and results back into
//! illumos's layouts (amd64 `struct stat`, `dirent`, `utsname`,
//! `sigaction`, `siginfo_t`, `door_arg_t`, `door_desc_t`, `door_info_t`).
//!
//! [`syscall`] applies illumos's amd64 result convention and returns it as
//! [`Regs`]: on success the carry flag is clear and `rax` (and, for the
//! calls that have one, `rdx`) hold the values; on failure the carry flag
//! is set and `rax` holds the **positive** illumos errno. Unknown numbers
//! fail with illumos `ENOSYS` (89). `docs/PERSONALITIES.md` lists every
//! call's status and describes the doors design ([`door`]).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod abi;
mod calls;
pub mod door;
mod doors;

use exo_personality::{Ctx, Table};
use libos::Result;

pub use calls::{Handler2, TABLE, TWO_REGISTER};
pub use door::attach;

/// The registers an illumos system call returns in (amd64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Regs {
    /// `rax`: the first return value, or the errno when `carry` is set.
    pub rax: u64,
    /// `rdx`: the second return value (`getpid`'s ppid, `getuid`'s and
    /// `getgid`'s effective id, `forksys`'s child flag); 0 for calls that
    /// have none and on failure.
    pub rdx: u64,
    /// The carry flag (`CF` in `rflags`): set on failure.
    pub carry: bool,
}

impl Regs {
    /// The illumos errno, if the call failed.
    #[must_use]
    pub fn errno(&self) -> Option<u32> {
        self.carry.then_some(self.rax as u32)
    }

    /// `rax` as a signed value if the call succeeded.
    #[must_use]
    pub fn value(&self) -> Option<i64> {
        (!self.carry).then_some(self.rax as i64)
    }
}

/// illumos's convention for a one-register result.
#[must_use]
pub fn result(r: Result<u64>) -> Regs {
    result2(r.map(|v| (v, 0)))
}

/// illumos's convention for a two-register result.
#[must_use]
pub fn result2(r: Result<(u64, u64)>) -> Regs {
    match r {
        Ok((rax, rdx)) => Regs {
            rax,
            rdx,
            carry: false,
        },
        Err(e) => Regs {
            rax: u64::from(abi::errno(e)),
            rdx: 0,
            carry: true,
        },
    }
}

/// Runs illumos system call `number` for the process in `ctx`.
pub fn syscall(ctx: &mut Ctx<'_>, number: u64, args: [u64; 6]) -> Regs {
    if let Some((_, h)) = TWO_REGISTER.iter().find(|c| c.0 == number) {
        return result2(h(ctx, args));
    }
    result(TABLE.dispatch(ctx, number, args))
}

/// The personality's table (for `/proc` and tracing).
#[must_use]
pub fn table() -> &'static Table {
    &TABLE
}

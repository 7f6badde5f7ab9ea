//! Process creation and the per-process thread-id and signal-stack
//! addresses: `fork`, `vfork`, `clone` (the process-creating flag sets),
//! `set_tid_address`, `exit` and `exit_group` (with `clear_child_tid`),
//! `sigaltstack`.
//!
//! A personality handler sees only the calling process's memory, so the
//! calls that create a process return the **parent's side** (the child's
//! pid) and leave starting the child — a copy of the parent's memory with
//! 0 in its result register, or for `CLONE_VM | CLONE_VFORK` the parent's
//! own memory on the new stack while the parent waits — to the embedder,
//! which also writes the child's id at [`Process::set_child_tid`] in the
//! child's memory. The libOS side (a new process with copied descriptors,
//! dispositions, mask and address-space areas, `SIGCHLD` at its end) is
//! done here.
//!
//! [`Process::set_child_tid`]: libos::process::Process::set_child_tid

use alloc::sync::Arc;

use exo_personality::Ctx;
use libos::process::{AltStack, ExitStatus};
use libos::{Errno, Result};

/// `clone` flags (`linux/sched.h`).
mod flag {
    pub const CSIGNAL: u64 = 0xff;
    pub const VM: u64 = 0x100;
    pub const FS: u64 = 0x200;
    pub const FILES: u64 = 0x400;
    pub const SIGHAND: u64 = 0x800;
    pub const VFORK: u64 = 0x4000;
    pub const THREAD: u64 = 0x1_0000;
    pub const SETTLS: u64 = 0x8_0000;
    pub const PARENT_SETTID: u64 = 0x10_0000;
    pub const CHILD_CLEARTID: u64 = 0x20_0000;
    pub const CHILD_SETTID: u64 = 0x100_0000;
}

/// Linux's `SIGCHLD`.
const SIGCHLD: u64 = 17;

/// The flags a process-creating `clone` may carry here.
const FORK_FLAGS: u64 = flag::CSIGNAL
    | flag::VM
    | flag::VFORK
    | flag::PARENT_SETTID
    | flag::CHILD_CLEARTID
    | flag::CHILD_SETTID;

/// What one `clone` asks for, in either architecture's argument order.
struct CloneArgs {
    flags: u64,
    stack: u64,
    parent_tid: u64,
    child_tid: u64,
}

/// Creates the child process for a `fork`-like call and returns its pid.
fn spawn(ctx: &mut Ctx<'_>, c: &CloneArgs) -> Result<u64> {
    let f = c.flags;
    // Threads and shared tables need one libOS process to hold several
    // execution contexts; shared memory without VFORK is a thread too.
    if f & (flag::THREAD | flag::SIGHAND | flag::FILES | flag::FS | flag::SETTLS) != 0
        || (f & flag::VM != 0 && f & flag::VFORK == 0)
        || (f & flag::VM != 0 && c.stack == 0)
    {
        return Err(Errno::EINVAL);
    }
    if f & !FORK_FLAGS != 0 {
        // Namespaces, pidfds, ptrace, CLONE_PARENT, …
        return Err(Errno::EINVAL);
    }
    // The libOS tells a parent of its child's end with SIGCHLD only.
    if f & flag::CSIGNAL != SIGCHLD {
        return Err(Errno::EINVAL);
    }
    if f & flag::PARENT_SETTID != 0 {
        // Check the address before creating anything, so that a bad
        // pointer leaves no child behind.
        ctx.mem.write(c.parent_tid, &[0; 4])?;
    }
    let child = ctx.sys.procs.fork(ctx.pid)?;
    ctx.sys.procs.with(child, |p| {
        if f & flag::CHILD_CLEARTID != 0 {
            p.clear_child_tid = c.child_tid;
        }
        if f & flag::CHILD_SETTID != 0 {
            p.set_child_tid = c.child_tid;
        }
    })?;
    if f & flag::PARENT_SETTID != 0 {
        ctx.mem.write(c.parent_tid, &child.to_le_bytes())?;
    }
    Ok(u64::from(child))
}

/// `fork()`: the parent's side.
pub(crate) fn fork(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    spawn(
        ctx,
        &CloneArgs {
            flags: SIGCHLD,
            stack: 0,
            parent_tid: 0,
            child_tid: 0,
        },
    )
}

/// `vfork()`: a child sharing the caller's memory until it execs or
/// exits (the embedder runs it there and holds the parent meanwhile).
pub(crate) fn vfork(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    // `vfork` has no stack argument: the child runs on the parent's.
    let child = ctx.sys.procs.fork(ctx.pid)?;
    Ok(u64::from(child))
}

/// `clone(flags, stack, parent_tid, child_tid, tls)` (x86_64 order).
pub(crate) fn clone(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    spawn(
        ctx,
        &CloneArgs {
            flags: a[0],
            stack: a[1],
            parent_tid: a[2],
            child_tid: a[3],
        },
    )
}

/// `clone(flags, stack, parent_tid, tls, child_tid)` (aarch64 order).
pub(crate) fn clone_aarch64(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    spawn(
        ctx,
        &CloneArgs {
            flags: a[0],
            stack: a[1],
            parent_tid: a[2],
            child_tid: a[4],
        },
    )
}

/// `set_tid_address(tidptr)`: remembers `tidptr` as the address to clear
/// at exit; returns the caller's thread id.
pub(crate) fn set_tid_address(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    ctx.sys.procs.with(ctx.pid, |p| p.clear_child_tid = a[0])?;
    Ok(u64::from(ctx.pid))
}

/// `exit(status)` / `exit_group(status)`: clears and wakes the
/// `clear_child_tid` word first (what a joiner waits on), then ends the
/// process.
pub(crate) fn exit(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let (tid_at, futexes) = ctx
        .sys
        .procs
        .with(ctx.pid, |p| (p.clear_child_tid, Arc::clone(&p.futexes)))?;
    // A bad address is ignored at exit, as on Linux.
    if tid_at != 0 && tid_at.is_multiple_of(4) && ctx.mem.write(tid_at, &[0; 4]).is_ok() {
        futexes.wake(tid_at, 1, u32::MAX);
    }
    ctx.sys
        .procs
        .exit(ctx.pid, ExitStatus::Exited(a[0] as u8))
        .map(|()| 0)
}

/// `stack_t` flags.
const SS_ONSTACK: u32 = 1;
const SS_DISABLE: u32 = 2;
const SS_AUTODISARM: u32 = 1 << 31;
/// The smallest alternate stack x86_64 Linux accepts.
const MINSIGSTKSZ: u64 = 2048;

/// `sigaltstack(ss, old_ss)` over the 24-byte `stack_t` (`ss_sp` at 0,
/// `int ss_flags` at 8, `ss_size` at 16). The old stack reads back as
/// set, or `SS_DISABLE` with a zero base and size; whether the caller is
/// running on it (`SS_ONSTACK`, and `EPERM` for changing it then) is the
/// embedder's to know, which switches stacks: it reports not on it.
pub(crate) fn sigaltstack(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let new = if a[0] == 0 {
        None
    } else {
        let mut b = [0u8; 24];
        ctx.mem.read(a[0], &mut b)?;
        let sp = u64::from_le_bytes(b[0..8].try_into().map_err(|_| Errno::EFAULT)?);
        let flags = u32::from_le_bytes(b[8..12].try_into().map_err(|_| Errno::EFAULT)?);
        let size = u64::from_le_bytes(b[16..24].try_into().map_err(|_| Errno::EFAULT)?);
        let mode = flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_ONSTACK && mode != SS_DISABLE {
            return Err(Errno::EINVAL);
        }
        Some(if mode == SS_DISABLE {
            None
        } else {
            if size < MINSIGSTKSZ {
                return Err(Errno::ENOMEM);
            }
            if sp.checked_add(size).is_none() {
                return Err(Errno::EINVAL);
            }
            Some(AltStack {
                base: sp,
                size,
                autodisarm: flags & SS_AUTODISARM != 0,
            })
        })
    };
    let old = ctx.sys.procs.with(ctx.pid, |p| p.signals.altstack)?;
    if a[1] != 0 {
        let mut b = [0u8; 24];
        match old {
            Some(s) => {
                b[0..8].copy_from_slice(&s.base.to_le_bytes());
                let f = if s.autodisarm { SS_AUTODISARM } else { 0 };
                b[8..12].copy_from_slice(&f.to_le_bytes());
                b[16..24].copy_from_slice(&s.size.to_le_bytes());
            }
            None => b[8..12].copy_from_slice(&SS_DISABLE.to_le_bytes()),
        }
        ctx.mem.write(a[1], &b)?;
    }
    if let Some(set) = new {
        ctx.sys.procs.with(ctx.pid, |p| p.signals.altstack = set)?;
    }
    Ok(0)
}

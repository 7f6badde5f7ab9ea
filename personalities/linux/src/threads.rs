//! Threads of a Linux process for an embedder that runs them itself
//! ([`crate::regs::syscall_as`]): `clone` with `CLONE_THREAD`, a thread's
//! own `exit`, `set_tid_address` and futex waits that park rather than
//! block.
//!
//! The libOS records the threads (ids from the pid space, listed in
//! `/proc/<pid>/task`, each with its `clear_child_tid` word); the process's
//! memory, descriptors, signal dispositions, mask and futex table are
//! shared by all of them, as the flag set pthreads use says
//! (`CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD`).
//! The signal mask and pending set are per process here, not per thread.

use alloc::sync::Arc;

use exo_personality::Ctx;
use libos::futex::{Futexes, Ticket};
use libos::process::ExitStatus;
use libos::{Errno, Result};

use crate::arch::Arch;
use crate::events::WaitRequest;
use crate::regs::{Flow, Regs};

const CSIGNAL: u64 = 0xff;
const CLONE_VM: u64 = 0x100;
const CLONE_FS: u64 = 0x200;
const CLONE_FILES: u64 = 0x400;
const CLONE_SIGHAND: u64 = 0x800;
/// `CLONE_THREAD`.
pub(crate) const CLONE_THREAD: u64 = 0x1_0000;
const CLONE_SYSVSEM: u64 = 0x4_0000;
const CLONE_SETTLS: u64 = 0x8_0000;
const CLONE_PARENT_SETTID: u64 = 0x10_0000;
const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
const CLONE_DETACHED: u64 = 0x40_0000;
const CLONE_CHILD_SETTID: u64 = 0x100_0000;

/// What a thread shares with its process here: all of it.
const SHARED: u64 = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
/// What else a thread-creating `clone` may ask for.
const OPTIONAL: u64 = CSIGNAL
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_DETACHED
    | CLONE_CHILD_SETTID;

/// A thread `clone` made, for the embedder to start.
#[derive(Debug, PartialEq, Eq)]
pub struct NewThread<A: Arch = Regs> {
    /// Its id.
    pub tid: u32,
    /// Where it starts: the caller's registers with result 0 and, when
    /// `clone` named one, the new stack.
    pub regs: A,
    /// Its thread pointer (`FS` base), with `CLONE_SETTLS`; else the
    /// caller's.
    pub tls: Option<u64>,
}

/// `clone` with `CLONE_THREAD` (arguments as `[flags, stack, parent_tid,
/// child_tid, tls]`, whatever the architecture's order):
/// the new thread, after `CLONE_PARENT_SETTID` and `CLONE_CHILD_SETTID`
/// wrote its id (the memory is shared, so both land in it).
///
/// # Errors
/// `EINVAL` for a flag set other than the pthread one (a thread with its
/// own descriptor table or filesystem context cannot be had), `EFAULT`
/// for a bad `parent_tid`/`child_tid` (nothing is created), `EAGAIN`.
pub(crate) fn clone<A: Arch>(ctx: &mut Ctx<'_>, regs: &A, a: [u64; 5]) -> Result<NewThread<A>> {
    let [flags, stack, parent_tid, child_tid, tls] = a;
    if flags & SHARED != SHARED || flags & !(SHARED | OPTIONAL) != 0 {
        return Err(Errno::EINVAL);
    }
    // Check both addresses before anything exists.
    for (flag, at) in [
        (CLONE_PARENT_SETTID, parent_tid),
        (CLONE_CHILD_SETTID, child_tid),
    ] {
        if flags & flag != 0 {
            let mut b = [0u8; 4];
            ctx.mem.read(at, &mut b)?;
            ctx.mem.write(at, &b)?;
        }
    }
    let clear = if flags & CLONE_CHILD_CLEARTID != 0 {
        child_tid
    } else {
        0
    };
    let tid = ctx.sys.procs.add_thread(ctx.pid, clear)?;
    for (flag, at) in [
        (CLONE_PARENT_SETTID, parent_tid),
        (CLONE_CHILD_SETTID, child_tid),
    ] {
        if flags & flag != 0 {
            ctx.mem.write(at, &tid.to_le_bytes())?;
        }
    }
    let mut child = regs.clone();
    child.set_result(0);
    if stack != 0 {
        child.set_sp(stack);
    }
    Ok(NewThread {
        tid,
        regs: child,
        tls: (flags & CLONE_SETTLS != 0).then_some(tls),
    })
}

/// `set_tid_address(tidptr)` for thread `tid`; returns `tid`.
pub(crate) fn set_tid_address(ctx: &mut Ctx<'_>, tid: u32, at: u64) -> Result<u64> {
    ctx.sys.procs.with(ctx.pid, |p| {
        if tid == p.pid {
            p.clear_child_tid = at;
        } else {
            p.thread_clear_tid.insert(tid, at);
        }
    })?;
    Ok(u64::from(tid))
}

/// `exit(status)` from thread `tid`: clears and wakes its
/// `clear_child_tid` word (what `pthread_join` waits on); the process ends
/// with `status` when it was the last thread.
pub(crate) fn exit<A: Arch>(ctx: &mut Ctx<'_>, tid: u32, status: u64) -> Flow<A> {
    let (Ok((word, left)), Ok(futexes)) = (
        ctx.sys.procs.remove_thread(ctx.pid, tid),
        ctx.sys.procs.with(ctx.pid, |p| Arc::clone(&p.futexes)),
    ) else {
        return Flow::Exit(ExitStatus::Exited(status as u8));
    };
    // A bad address is ignored at exit, as on Linux.
    if word != 0 && word.is_multiple_of(4) && ctx.mem.write(word, &[0; 4]).is_ok() {
        futexes.wake(word, 1, u32::MAX);
    }
    if left == 0 {
        let status = ExitStatus::Exited(status as u8);
        let _ = ctx.sys.procs.exit(ctx.pid, status);
        return Flow::Exit(status);
    }
    Flow::ThreadExit
}

/// A thread waiting on a futex ([`Flow::Park`]).
#[derive(Debug)]
pub struct Parked {
    table: Arc<Futexes>,
    ticket: Ticket,
    /// Uptime at which the wait times out.
    deadline: Option<u64>,
}

/// The same wait (the same queued waiter).
impl PartialEq for Parked {
    fn eq(&self, other: &Self) -> bool {
        self.ticket == other.ticket
    }
}

impl Eq for Parked {}

impl Parked {
    /// The futex word's address.
    #[must_use]
    pub fn addr(&self) -> u64 {
        self.ticket.addr()
    }

    /// The wait's result once it is over, for the thread's result
    /// register: 0 when woken, `-ETIMEDOUT` when its time (on `sys`'s
    /// clock) ran out; `None` while it waits.
    #[must_use]
    pub fn poll(&self, sys: &libos::system::System) -> Option<i64> {
        self.table
            .poll(&self.ticket, self.deadline, &*sys.clock)
            .map(|r| crate::result(r.map(|()| 0)))
    }

    /// Gives up the wait (its thread is going away): off the queue.
    pub fn cancel(&self) {
        let _ = self.table.cancel(&self.ticket);
    }
}

/// Queues the wait `w` describes without blocking.
///
/// # Errors
/// `EAGAIN` when the word no longer holds the expected value.
pub(crate) fn park(ctx: &Ctx<'_>, w: WaitRequest) -> Result<Parked> {
    let mem = &*ctx.mem;
    let ticket = w
        .table
        .enqueue(w.uaddr, || w.still_expected(mem), w.bitset)?;
    let deadline = w
        .timeout_ns
        .map(|t| ctx.sys.clock.uptime_ns().saturating_add(t));
    Ok(Parked {
        table: Arc::clone(&w.table),
        ticket,
        deadline,
    })
}

//! Processes and signals: `fork`/`rfork`, `wait4`/`wait6`, `kill`,
//! `sigaction`, `sigprocmask`, ids and groups — with FreeBSD's signal
//! numbers, flag words and structs.

use alloc::vec::Vec;

use exo_personality::Ctx;
use libos::process::{ExitStatus, KillTarget, Pid, ProcState, WaitFor};
use libos::signal::{ActionFlags, Disposition, FlagTable};
use libos::{Errno, Result};

use crate::abi::{self, SIGSET_SIZE};
use crate::calls::cred;
use crate::kqueue;

pub(crate) fn getpid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    Ok(u64::from(ctx.pid))
}

pub(crate) fn getppid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    ctx.sys.procs.with(ctx.pid, |p| u64::from(p.ppid))
}

pub(crate) fn getuid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    ctx.sys.procs.with(ctx.pid, |p| u64::from(p.cred.uid))
}

pub(crate) fn getgid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    ctx.sys.procs.with(ctx.pid, |p| u64::from(p.cred.gid))
}

pub(crate) fn getpgrp(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    ctx.sys.procs.with(ctx.pid, |p| u64::from(p.pgid))
}

pub(crate) fn getpgid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let pid = if a[0] as u32 == 0 {
        ctx.pid
    } else {
        a[0] as u32
    };
    ctx.sys.procs.with(pid, |p| u64::from(p.pgid))
}

pub(crate) fn getsid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let pid = if a[0] as u32 == 0 {
        ctx.pid
    } else {
        a[0] as u32
    };
    ctx.sys.procs.with(pid, |p| u64::from(p.sid))
}

pub(crate) fn setpgid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if (a[0] as i32) < 0 || (a[1] as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    ctx.sys
        .procs
        .setpgid(ctx.pid, a[0] as u32, a[1] as u32)
        .map(|()| 0)
}

pub(crate) fn setsid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    ctx.sys.procs.setsid(ctx.pid).map(u64::from)
}

pub(crate) fn exit(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    ctx.sys
        .procs
        .exit(ctx.pid, ExitStatus::Exited(a[0] as u8))
        .map(|()| 0)
}

/// `RFFDG`: the child gets a copy of the descriptor table.
pub const RFFDG: u64 = 1 << 2;
/// `RFPROC`: make a new process.
pub const RFPROC: u64 = 1 << 4;
/// `RFMEM`: share the address space.
pub const RFMEM: u64 = 1 << 5;
/// `RFNOWAIT`: the child is not the caller's to wait for.
pub const RFNOWAIT: u64 = 1 << 6;
/// `RFCFDG`: the child starts with an empty descriptor table.
pub const RFCFDG: u64 = 1 << 12;

/// Forks with a copy of the caller's descriptors (`copy_fds`) or an
/// empty table, kqueues never inherited; `detach` gives the child to
/// init. Returns the child.
fn fork_with(ctx: &Ctx<'_>, copy_fds: bool, detach: bool) -> Result<Pid> {
    let child = ctx.sys.procs.fork(ctx.pid)?;
    ctx.sys.procs.with(child, |p| {
        if copy_fds {
            let kqs: Vec<usize> = p
                .fds
                .iter()
                .filter(|(_, e)| kqueue::is_kqueue(&e.file))
                .map(|(fd, _)| fd)
                .collect();
            for fd in kqs {
                let _ = p.fds.close(fd as i64);
            }
        } else {
            p.fds = libos::vfs::file::FdTable::new();
        }
        if detach {
            p.ppid = libos::process::INIT;
        }
    })?;
    Ok(child)
}

/// `fork`: the parent's side — the child's pid. (The child's side, 0 in
/// `rax` and 1 in `rdx`, is the embedder's when it starts the child.)
pub(crate) fn fork(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    fork_with(ctx, true, false).map(u64::from)
}

/// `rfork(flags)`. With `RFPROC`: a new process whose descriptor table
/// is a copy (`RFFDG`) or empty (`RFCFDG`); `RFNOWAIT` gives the child to
/// init. Sharing the table or the address space with the child (`RFPROC`
/// without `RFFDG`/`RFCFDG`, or `RFMEM`) is `EINVAL`: the libOS's
/// descriptor tables belong to one process each. Without `RFPROC` the
/// caller itself is changed: `RFCFDG` closes all its descriptors,
/// `RFFDG` (unshare) has nothing to do.
pub(crate) fn rfork(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    const KNOWN: u64 = RFFDG | RFPROC | RFMEM | RFNOWAIT | RFCFDG;
    let flags = a[0] & 0xffff_ffff;
    if flags & !KNOWN != 0 || flags & (RFFDG | RFCFDG) == (RFFDG | RFCFDG) || flags & RFMEM != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & RFPROC == 0 {
        if flags & RFNOWAIT != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & RFCFDG != 0 {
            ctx.sys
                .procs
                .with(ctx.pid, |p| p.fds = libos::vfs::file::FdTable::new())?;
        }
        return Ok(0);
    }
    if flags & (RFFDG | RFCFDG) == 0 {
        return Err(Errno::EINVAL);
    }
    fork_with(ctx, flags & RFFDG != 0, flags & RFNOWAIT != 0).map(u64::from)
}

/// `wait` options.
pub mod w {
    /// `WNOHANG`.
    pub const NOHANG: u64 = 1;
    /// `WUNTRACED` / `WSTOPPED`.
    pub const UNTRACED: u64 = 2;
    /// `WCONTINUED`.
    pub const CONTINUED: u64 = 4;
    /// `WNOWAIT`.
    pub const NOWAIT: u64 = 8;
    /// `WEXITED`.
    pub const EXITED: u64 = 16;
    /// `WTRAPPED`.
    pub const TRAPPED: u64 = 32;
}

/// `idtype_t` values `wait6` accepts.
pub mod p {
    /// `P_PID`.
    pub const PID: u64 = 0;
    /// `P_PPID`.
    pub const PPID: u64 = 1;
    /// `P_PGID`.
    pub const PGID: u64 = 2;
    /// `P_SID`.
    pub const SID: u64 = 3;
    /// `P_UID`.
    pub const UID: u64 = 5;
    /// `P_GID`.
    pub const GID: u64 = 6;
    /// `P_ALL`.
    pub const ALL: u64 = 7;
}

/// Which children a wait selects.
#[derive(Clone, Copy)]
enum Select {
    All,
    Pid(Pid),
    Pgid(Pid),
    Sid(Pid),
    Uid(u32),
    Gid(u32),
    /// Children whose parent is this (only the caller's own qualify).
    Ppid(Pid),
}

/// Waits for a child that ended: `Ok(None)` with `WNOHANG` when none has
/// yet. With `WNOWAIT` the child stays a zombie.
fn wait_child(ctx: &Ctx<'_>, sel: Select, options: u64) -> Result<Option<(Pid, u32, ExitStatus)>> {
    let me = ctx.pid;
    let procs = &ctx.sys.procs;
    libos::wait::until(|| {
        let mut any = false;
        let mut found = None;
        for pid in procs.pids() {
            let Ok((hit, uid, state)) = procs.with(pid, |p| {
                let hit = p.ppid == me
                    && match sel {
                        Select::All => true,
                        Select::Pid(x) => p.pid == x,
                        Select::Pgid(g) => p.pgid == g,
                        Select::Sid(s) => p.sid == s,
                        Select::Uid(u) => p.cred.uid == u,
                        Select::Gid(g) => p.cred.gid == g,
                        Select::Ppid(x) => x == me,
                    };
                (hit, p.cred.uid, p.state)
            }) else {
                continue;
            };
            if !hit {
                continue;
            }
            any = true;
            if let ProcState::Zombie(status) = state {
                found = Some((pid, uid, status));
                break;
            }
        }
        if !any {
            return Some(Err(Errno::ECHILD));
        }
        match found {
            Some((pid, uid, status)) => {
                if options & w::NOWAIT == 0 {
                    // Reap it; if someone else did meanwhile, look again.
                    match procs.wait(me, WaitFor::Pid(pid), true) {
                        Ok(Some(_)) => {}
                        _ => return None,
                    }
                }
                Some(Ok(Some((pid, uid, status))))
            }
            None if options & w::NOHANG != 0 => Some(Ok(None)),
            None => None,
        }
    })
}

/// `wait4(pid, status, options, rusage)`. Only exits are reported
/// (stops and continues are not tracked for `wait`); `rusage` is
/// zero-filled: the libOS keeps no resource accounting.
pub(crate) fn wait4(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[2] & !(w::NOHANG | w::UNTRACED | w::CONTINUED | w::NOWAIT | 0x8000_0000) != 0 {
        return Err(Errno::EINVAL);
    }
    let pid = a[0] as i32;
    let sel = match pid {
        -1 => Select::All,
        0 => Select::Pgid(ctx.sys.procs.with(ctx.pid, |p| p.pgid)?),
        p if p < -1 => Select::Pgid(p.unsigned_abs()),
        p => Select::Pid(p as u32),
    };
    match wait_child(ctx, sel, a[2])? {
        None => Ok(0),
        Some((child, _, status)) => {
            if a[1] != 0 {
                ctx.mem
                    .write(a[1], &abi::wait_status(status).to_le_bytes())?;
            }
            if a[3] != 0 {
                ctx.mem.write(a[3], &[0u8; abi::RUSAGE_SIZE])?;
            }
            Ok(u64::from(child))
        }
    }
}

/// `wait6(idtype, id, status, options, wrusage, infop)`: `P_PID`,
/// `P_PGID`, `P_SID`, `P_UID`, `P_GID`, `P_PPID` and `P_ALL`; options
/// must include `WEXITED` (exits are what the libOS reports). Fills the
/// status word, a zeroed `struct __wrusage` (no accounting) and a
/// `siginfo_t` (`SIGCHLD`, `CLD_*`, pid, uid, status).
pub(crate) fn wait6(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let options = a[3];
    let known = w::NOHANG | w::UNTRACED | w::CONTINUED | w::NOWAIT | w::EXITED | w::TRAPPED;
    if options & !(known | 0x8000_0000) != 0
        || options & (w::EXITED | w::UNTRACED | w::CONTINUED | w::TRAPPED) == 0
    {
        return Err(Errno::EINVAL);
    }
    let id = a[1];
    let id32 = u32::try_from(id).map_err(|_| Errno::EINVAL);
    let sel = match a[0] {
        p::ALL => Select::All,
        p::PID => Select::Pid(id32?),
        p::PGID => Select::Pgid(id32?),
        p::SID => Select::Sid(id32?),
        p::UID => Select::Uid(id32?),
        p::GID => Select::Gid(id32?),
        p::PPID => Select::Ppid(id32?),
        _ => return Err(Errno::EINVAL),
    };
    let found = if options & w::EXITED == 0 {
        // Only stops/continues asked for: the libOS reports none, but the
        // caller may still have children.
        let mine = ctx.sys.procs.pids().into_iter().any(|p| {
            ctx.sys
                .procs
                .with(p, |q| q.ppid == ctx.pid)
                .unwrap_or(false)
        });
        if !mine {
            return Err(Errno::ECHILD);
        }
        if options & w::NOHANG == 0 {
            // It would wait forever for an event that never comes.
            return Err(Errno::EINVAL);
        }
        None
    } else {
        wait_child(ctx, sel, options)?
    };
    let Some((child, uid, status)) = found else {
        if a[5] != 0 {
            ctx.mem.write(a[5], &[0u8; abi::SIGINFO_SIZE])?;
        }
        return Ok(0);
    };
    if a[2] != 0 {
        ctx.mem
            .write(a[2], &abi::wait_status(status).to_le_bytes())?;
    }
    if a[4] != 0 {
        ctx.mem.write(a[4], &[0u8; 2 * abi::RUSAGE_SIZE])?;
    }
    if a[5] != 0 {
        ctx.mem
            .write(a[5], &abi::child_siginfo(child, uid, status))?;
    }
    Ok(u64::from(child))
}

/// `kill(pid, sig)` with FreeBSD signal numbers.
pub(crate) fn kill(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let sig = match a[1] as u32 {
        0 => None,
        n => Some(abi::signal_from(u64::from(n))?),
    };
    let pid = a[0] as i32;
    let target = match pid {
        -1 => KillTarget::All,
        0 => KillTarget::Group(ctx.sys.procs.with(ctx.pid, |p| p.pgid)?),
        p if p < -1 => KillTarget::Group(p.unsigned_abs()),
        p => KillTarget::Pid(p as u32),
    };
    let c = cred(ctx)?;
    ctx.sys.procs.kill(&c, target, sig).map(|()| 0)
}

/// `sa_flags` bits the libOS keeps.
/// FreeBSD's `sa_flags` bits (`sys/signal.h`).
const SA_FLAGS: &FlagTable = &[
    (0x1, ActionFlags::ONSTACK),
    (0x2, ActionFlags::RESTART),
    (0x4, ActionFlags::RESETHAND),
    (0x10, ActionFlags::NODEFER),
    (0x40, ActionFlags::SIGINFO),
];

/// Size of FreeBSD's `struct sigaction`: handler (8), `sa_flags` (4),
/// `sa_mask` (16), padded to 32.
pub const SIGACTION_SIZE: usize = 32;

/// `sigaction(sig, act, oact)`.
pub(crate) fn sigaction(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let sig = abi::signal_from(a[0])?;
    let new = if a[1] == 0 {
        None
    } else {
        let raw = ctx.bytes(a[1], SIGACTION_SIZE as u64, SIGACTION_SIZE)?;
        let handler = u64::from_le_bytes(raw[0..8].try_into().map_err(|_| Errno::EFAULT)?);
        let flags = u32::from_le_bytes(raw[8..12].try_into().map_err(|_| Errno::EFAULT)?);
        let mut mask = [0u8; SIGSET_SIZE];
        mask.copy_from_slice(&raw[12..28]);
        Some(Disposition::from_parts(
            handler,
            ActionFlags::from_abi(u64::from(flags), SA_FLAGS),
            abi::sigset_from(&mask),
            0,
        ))
    };
    let old = ctx.sys.procs.sigaction(ctx.pid, sig, new)?;
    if a[2] != 0 {
        let (handler, flags, mask, _) = old.parts();
        let flags = flags.to_abi(SA_FLAGS) as u32;
        let mut out = [0u8; SIGACTION_SIZE];
        out[0..8].copy_from_slice(&handler.to_le_bytes());
        out[8..12].copy_from_slice(&flags.to_le_bytes());
        out[12..28].copy_from_slice(&abi::sigset_to(mask));
        ctx.mem.write(a[2], &out)?;
    }
    Ok(0)
}

/// `sigprocmask(how, set, oset)`: `SIG_BLOCK` 1, `SIG_UNBLOCK` 2,
/// `SIG_SETMASK` 3.
pub(crate) fn sigprocmask(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let set = if a[1] == 0 {
        None
    } else {
        let how = match a[0] as u32 {
            1 => 0,
            2 => 1,
            3 => 2,
            _ => return Err(Errno::EINVAL),
        };
        let mut b = [0u8; SIGSET_SIZE];
        ctx.mem.read(a[1], &mut b)?;
        Some((how, abi::sigset_from(&b)))
    };
    let old = match set {
        Some((how, s)) => ctx.sys.procs.sigprocmask(ctx.pid, how, Some(s))?,
        None => ctx.sys.procs.sigprocmask(ctx.pid, 0, None)?,
    };
    if a[2] != 0 {
        ctx.mem.write(a[2], &abi::sigset_to(old))?;
    }
    Ok(0)
}

/// `sigpending(set)`: every pending signal (blocked or not).
pub(crate) fn sigpending(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let pending = ctx.sys.procs.with(ctx.pid, |p| p.signals.pending)?;
    ctx.mem.write(a[0], &abi::sigset_to(pending))?;
    Ok(0)
}

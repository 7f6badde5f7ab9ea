//! The handlers, by illumos amd64 call number.

use alloc::sync::Arc;
use alloc::vec::Vec;

use exo_personality::posix;
use exo_personality::{Ctx, Table};
use libos::process::{ExitStatus, KillTarget, WaitFor};
use libos::signal::{ActionFlags, Disposition, FlagTable};
use libos::vfs::file::{OpenFile, OpenFlags, Whence};
use libos::vfs::node::{FileType, Stat};
use libos::vfs::{Node, PATH_MAX};
use libos::{Errno, Result};

use crate::abi::{self, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, nr, o};
use crate::doors;

/// Largest single read or write moved through the personality at once.
pub(crate) use exo_personality::posix::IO_MAX;

/// A handler that sets both result registers (`rax`, `rdx`).
pub type Handler2 = fn(&mut Ctx<'_>, [u64; 6]) -> Result<(u64, u64)>;

/// The calls whose second result register carries a value: `getpid`
/// (pid, ppid), `getuid` (real, effective), `getgid` (real, effective),
/// `forksys` (child pid, 0 in the parent).
pub static TWO_REGISTER: &[(u64, Handler2)] = &[
    (nr::GETPID, getpid2),
    (nr::GETUID, getuid2),
    (nr::GETGID, getgid2),
    (nr::FORKSYS, forksys2),
];

/// Every implemented call. For the two-register calls the table's handler
/// gives `rax` only; [`crate::syscall`] uses [`TWO_REGISTER`] for both.
pub static TABLE: Table = Table {
    name: "illumos",
    calls: &[
        (nr::EXIT, "exit", exit),
        (nr::READ, "read", read),
        (nr::WRITE, "write", write),
        (nr::OPEN, "open", open),
        (nr::CLOSE, "close", close),
        (nr::LINK, "link", link),
        (nr::UNLINK, "unlink", unlink),
        (nr::SYMLINKAT, "symlinkat", symlinkat),
        (nr::CHDIR, "chdir", chdir),
        (nr::CHMOD, "chmod", chmod),
        (nr::STAT, "stat", stat),
        (nr::LSEEK, "lseek", lseek),
        (nr::GETPID, "getpid", getpid),
        (nr::READLINKAT, "readlinkat", readlinkat),
        (nr::GETUID, "getuid", getuid),
        (nr::FSTAT, "fstat", fstat),
        (nr::KILL, "kill", kill),
        (nr::PIPE, "pipe", pipe),
        (nr::GETGID, "getgid", getgid),
        (nr::IOCTL, "ioctl", ioctl),
        (nr::UMASK, "umask", umask),
        (nr::FCNTL, "fcntl", fcntl),
        (nr::RENAMEAT, "renameat", renameat),
        (nr::UNLINKAT, "unlinkat", unlinkat),
        (nr::FSTATAT, "fstatat", fstatat),
        (nr::OPENAT, "openat", openat),
        (nr::RMDIR, "rmdir", rmdir),
        (nr::MKDIR, "mkdir", mkdir),
        (nr::GETDENTS, "getdents", getdents),
        (nr::LSTAT, "lstat", lstat),
        (nr::SYMLINK, "symlink", symlink),
        (nr::READLINK, "readlink", readlink),
        (nr::SIGPROCMASK, "sigprocmask", sigprocmask),
        (nr::SIGACTION, "sigaction", sigaction),
        (nr::FCHMODAT, "fchmodat", fchmodat),
        (nr::MKDIRAT, "mkdirat", mkdirat),
        (nr::WAITID, "waitid", waitid),
        (nr::FCHDIR, "fchdir", fchdir),
        (nr::READV, "readv", readv),
        (nr::WRITEV, "writev", writev),
        (nr::GETRANDOM, "getrandom", getrandom),
        (nr::RENAME, "rename", rename),
        (nr::UNAME, "uname", uname),
        (nr::SYSTEMINFO, "systeminfo", systeminfo),
        (nr::FORKSYS, "forksys", forksys),
        (nr::YIELD, "yield", yield_now),
        (nr::LLSEEK, "llseek", lseek),
        (nr::CLOCK_GETTIME, "clock_gettime", clock_gettime),
        (nr::NANOSLEEP, "nanosleep", nanosleep),
        (nr::DOOR, "door", doors::door),
        (nr::GETCWD, "getcwd", getcwd),
    ],
};

pub(crate) fn file(ctx: &Ctx<'_>, fd: u64) -> Result<Arc<OpenFile>> {
    posix::file(ctx, fd)
}

/// The directory an `*at` call is relative to.
fn dir_of(ctx: &Ctx<'_>, dirfd: u64) -> Result<Node> {
    posix::dir_of(ctx, dirfd, abi::is_at_fdcwd(dirfd))
}

fn cred(ctx: &Ctx<'_>) -> Result<libos::vfs::Cred> {
    posix::cred(ctx)
}

pub(crate) fn install(ctx: &Ctx<'_>, f: Arc<OpenFile>, cloexec: bool) -> Result<u64> {
    posix::install(ctx, f, cloexec)
}

pub(crate) fn close_fd(ctx: &Ctx<'_>, fd: i64) -> Result<()> {
    ctx.sys.procs.with(ctx.pid, |p| p.fds.close(fd))?
}

fn read(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    posix::read(ctx, a[0], a[1], a[2])
}

fn write(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    posix::write(ctx, a[0], a[1], a[2])
}

fn readv(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    // illumos refuses an empty vector (EINVAL).
    posix::readv(ctx, a[0], a[1], a[2], false)
}

fn writev(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    posix::writev(ctx, a[0], a[1], a[2], false)
}

fn do_open(ctx: &mut Ctx<'_>, dirfd: u64, path: u64, flags: u64, mode: u64) -> Result<u64> {
    let path = ctx.cstr(path)?;
    let f = abi::open_flags(flags)?;
    let base = dir_of(ctx, dirfd)?;
    posix::open_at(ctx, base, &path, f, mode)
}

fn open(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    do_open(ctx, AT_FDCWD, a[0], a[1], a[2])
}

fn openat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    do_open(ctx, a[0], a[1], a[2], a[3])
}

fn close(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    close_fd(ctx, i64::from(a[0] as i32)).map(|()| 0)
}

fn put_stat(ctx: &mut Ctx<'_>, st: &Stat, mode: u32, at: u64) -> Result<u64> {
    ctx.mem
        .write(at, &abi::stat_bytes(st, mode, abi::fstype(st.dev)))?;
    Ok(0)
}

fn stat_fd(ctx: &mut Ctx<'_>, fd: u64, buf: u64) -> Result<u64> {
    let f = file(ctx, fd)?;
    if let Some(door) = doors::door_of(&f) {
        let mut st = posix::anonymous_stat(FileType::Regular, 0);
        st.perm = 0o644;
        st.ino = door.id;
        return put_stat(ctx, &st, abi::S_IFDOOR | 0o644, buf);
    }
    let st = posix::stat_of(&f, false);
    put_stat(ctx, &st, st.mode(), buf)
}

fn do_stat(ctx: &mut Ctx<'_>, dirfd: u64, path: u64, buf: u64, flags: u64) -> Result<u64> {
    if flags & !AT_SYMLINK_NOFOLLOW != 0 {
        return Err(Errno::EINVAL);
    }
    if path == 0 && !abi::is_at_fdcwd(dirfd) {
        // illumos: fstatat(fd, NULL, ...) describes fd itself.
        return stat_fd(ctx, dirfd, buf);
    }
    let path = ctx.cstr(path)?;
    let base = dir_of(ctx, dirfd)?;
    let cred = cred(ctx)?;
    let st = ctx
        .sys
        .vfs
        .stat(&cred, base, &path, flags & AT_SYMLINK_NOFOLLOW == 0)?;
    put_stat(ctx, &st, st.mode(), buf)
}

fn stat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    do_stat(ctx, AT_FDCWD, a[0], a[1], 0)
}

fn lstat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    do_stat(ctx, AT_FDCWD, a[0], a[1], AT_SYMLINK_NOFOLLOW)
}

fn fstatat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    do_stat(ctx, a[0], a[1], a[2], a[3])
}

fn fstat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    stat_fd(ctx, a[0], a[1])
}

fn lseek(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let whence = match a[2] {
        0 => Whence::Set,
        1 => Whence::Current,
        2 => Whence::End,
        // SEEK_DATA (3) and SEEK_HOLE (4) need hole tracking the libOS
        // filesystems do not have.
        _ => return Err(Errno::EINVAL),
    };
    file(ctx, a[0])?.seek(a[1] as i64, whence)
}

fn getdents(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let f = file(ctx, a[0])?;
    let room = usize::try_from(a[2]).unwrap_or(usize::MAX).min(IO_MAX);
    let mut out = Vec::new();
    while let Some(e) = f.read_dir(1)?.into_iter().next() {
        let next = f.seek(0, Whence::Current)? as i64;
        let rec = abi::dirent(e.ino, next, &e.name);
        if out.len() + rec.len() > room {
            f.seek(-1, Whence::Current)?;
            if out.is_empty() {
                return Err(Errno::EINVAL);
            }
            break;
        }
        out.extend_from_slice(&rec);
    }
    ctx.mem.write(a[1], &out)?;
    Ok(out.len() as u64)
}

fn with_dir<R>(
    ctx: &Ctx<'_>,
    dirfd: u64,
    f: impl FnOnce(&libos::vfs::Cred, Node) -> Result<R>,
) -> Result<R> {
    let base = dir_of(ctx, dirfd)?;
    let cred = cred(ctx)?;
    f(&cred, base)
}

fn mkdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    mkdirat(ctx, [AT_FDCWD, a[0], a[1], 0, 0, 0])
}

fn mkdirat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let p = ctx.cstr(a[1])?;
    let base = dir_of(ctx, a[0])?;
    posix::mkdir_at(ctx, base, &p, a[2])
}

fn rmdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    unlinkat(ctx, [AT_FDCWD, a[0], AT_REMOVEDIR, 0, 0, 0])
}

fn unlink(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    unlinkat(ctx, [AT_FDCWD, a[0], 0, 0, 0, 0])
}

fn unlinkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[2] & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let p = ctx.cstr(a[1])?;
    let base = dir_of(ctx, a[0])?;
    posix::unlink_at(ctx, base, &p, a[2] & AT_REMOVEDIR != 0)
}

fn rename(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    renameat(ctx, [AT_FDCWD, a[0], AT_FDCWD, a[1], 0, 0])
}

fn renameat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let (from, to) = (ctx.cstr(a[1])?, ctx.cstr(a[3])?);
    let (fb, tb) = (dir_of(ctx, a[0])?, dir_of(ctx, a[2])?);
    posix::rename_at(ctx, fb, &from, tb, &to)
}

fn link(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let (old, new) = (ctx.cstr(a[0])?, ctx.cstr(a[1])?);
    with_dir(ctx, AT_FDCWD, |c, n| ctx.sys.vfs.link(c, n, &old, &new)).map(|()| 0)
}

fn symlink(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    symlinkat(ctx, [a[0], AT_FDCWD, a[1], 0, 0, 0])
}

fn symlinkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let (target, path) = (ctx.cstr(a[0])?, ctx.cstr(a[2])?);
    let base = dir_of(ctx, a[1])?;
    posix::symlink_at(ctx, &target, base, &path)
}

fn readlink(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    readlinkat(ctx, [AT_FDCWD, a[0], a[1], a[2], 0, 0])
}

fn readlinkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[3] as i64 <= 0 {
        return Err(Errno::EINVAL);
    }
    let p = ctx.cstr(a[1])?;
    let base = dir_of(ctx, a[0])?;
    posix::readlink_at(ctx, base, &p, a[2], a[3])
}

fn chmod(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    fchmodat(ctx, [AT_FDCWD, a[0], a[1], 0, 0, 0])
}

fn fchmodat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[3] & !AT_SYMLINK_NOFOLLOW != 0 {
        return Err(Errno::EINVAL);
    }
    let p = ctx.cstr(a[1])?;
    with_dir(ctx, a[0], |c, n| {
        ctx.sys.vfs.chmod(c, n, &p, (a[2] & 0o7777) as u32)
    })
    .map(|()| 0)
}

fn umask(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let new = (a[0] & 0o777) as u32;
    let old = ctx
        .sys
        .procs
        .with(ctx.pid, |p| core::mem::replace(&mut p.umask, new))?;
    ctx.sys.vfs.set_umask(new);
    Ok(u64::from(old))
}

fn getcwd(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let path = posix::cwd_path(ctx)?;
    if a[1] == 0 {
        return Err(Errno::EINVAL);
    }
    if path.len() as u64 > a[1] {
        return Err(Errno::ERANGE);
    }
    ctx.mem.write(a[0], &path)?;
    Ok(0)
}

fn chdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let p = ctx.cstr(a[0])?;
    ctx.sys.procs.chdir(ctx.pid, &p).map(|()| 0)
}

fn fchdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let f = file(ctx, a[0])?;
    let node = match f.node() {
        Some(n) if f.kind() == FileType::Directory => n,
        _ => return Err(Errno::ENOTDIR),
    };
    let path = ctx.sys.vfs.path_of(node)?;
    ctx.sys.procs.chdir(ctx.pid, &path).map(|()| 0)
}

fn getpid2(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<(u64, u64)> {
    ctx.sys
        .procs
        .with(ctx.pid, |p| (u64::from(p.pid), u64::from(p.ppid)))
}

fn getuid2(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<(u64, u64)> {
    ctx.sys
        .procs
        // The libOS keeps one (effective) id: real and effective agree.
        .with(ctx.pid, |p| (u64::from(p.cred.uid), u64::from(p.cred.uid)))
}

fn getgid2(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<(u64, u64)> {
    ctx.sys
        .procs
        .with(ctx.pid, |p| (u64::from(p.cred.gid), u64::from(p.cred.gid)))
}

fn getpid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    getpid2(ctx, a).map(|r| r.0)
}

fn getuid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    getuid2(ctx, a).map(|r| r.0)
}

fn getgid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    getgid2(ctx, a).map(|r| r.0)
}

fn forksys2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<(u64, u64)> {
    const FORK_NOSIGCHLD: u64 = 1;
    const FORK_WAITPID: u64 = 2;
    // forkx (0) and forkallx (1) are the same for a single-threaded
    // process; vforkx (2) would have to suspend the parent until the child
    // execs, which a personality without the child's thread cannot do.
    if a[0] > 1 || a[1] & !(FORK_NOSIGCHLD | FORK_WAITPID) != 0 {
        return Err(Errno::EINVAL);
    }
    let child = ctx.sys.procs.fork(ctx.pid)?;
    // In the parent: rax = child pid, rdx = 0.
    Ok((u64::from(child), 0))
}

fn forksys(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    forksys2(ctx, a).map(|r| r.0)
}

fn exit(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    ctx.sys
        .procs
        .exit(ctx.pid, ExitStatus::Exited(a[0] as u8))
        .map(|()| 0)
}

fn kill(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let sig = match a[1] {
        0 => None,
        n => Some(abi::signal_in(n)?),
    };
    let pid = a[0] as i64 as i32;
    let target = match pid {
        -1 => KillTarget::All,
        0 => KillTarget::Group(ctx.sys.procs.with(ctx.pid, |p| p.pgid)?),
        p if p < -1 => KillTarget::Group(p.unsigned_abs()),
        p => KillTarget::Pid(p as u32),
    };
    let c = cred(ctx)?;
    ctx.sys.procs.kill(&c, target, sig).map(|()| 0)
}

/// `struct sigaction` (amd64): `sa_flags` 0, handler 8, `sa_mask` 16
/// (16 bytes), `sa_resv[2]` 32; 40 bytes.
fn sigaction(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    /// illumos's `sa_flags` bits (`sys/signal.h`).
    const SA_FLAGS: &FlagTable = &[
        (0x1, ActionFlags::ONSTACK),
        (0x2, ActionFlags::RESETHAND),
        (0x4, ActionFlags::RESTART),
        (0x8, ActionFlags::SIGINFO),
        (0x10, ActionFlags::NODEFER),
    ];
    let sig = abi::signal_in(a[0])?;
    let new = if a[1] == 0 {
        None
    } else {
        let raw = ctx.bytes(a[1], 40, 40)?;
        let word = |at: usize| u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        let flags = word(0);
        let handler = u64::from_le_bytes(raw[8..16].try_into().map_err(|_| Errno::EFAULT)?);
        let mask = abi::sigset_in([word(16), word(20), word(24), word(28)]);
        Some(Disposition::from_parts(
            handler,
            ActionFlags::from_abi(u64::from(flags), SA_FLAGS),
            mask,
            0,
        ))
    };
    if a[2] != 0 {
        // Probe the output before changing anything.
        ctx.mem.write(a[2], &[0u8; 40])?;
    }
    let old = ctx.sys.procs.sigaction(ctx.pid, sig, new)?;
    if a[2] != 0 {
        let (handler, flags, mask, _) = old.parts();
        let flags = flags.to_abi(SA_FLAGS) as u32;
        let mut out = [0u8; 40];
        out[0..4].copy_from_slice(&flags.to_le_bytes());
        out[8..16].copy_from_slice(&handler.to_le_bytes());
        out[16..32].copy_from_slice(&abi::sigset_out(mask));
        ctx.mem.write(a[2], &out)?;
    }
    Ok(0)
}

fn sigprocmask(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    // SIG_BLOCK 1, SIG_UNBLOCK 2, SIG_SETMASK 3.
    let set = if a[1] == 0 {
        None
    } else {
        let how = match a[0] {
            1..=3 => (a[0] - 1) as u32,
            _ => return Err(Errno::EINVAL),
        };
        let raw = ctx.bytes(a[1], 16, 16)?;
        let w = |i: usize| u32::from_le_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
        Some((how, abi::sigset_in([w(0), w(4), w(8), w(12)])))
    };
    if a[2] != 0 {
        ctx.mem.write(a[2], &[0u8; 16])?;
    }
    let old = match set {
        Some((how, s)) => ctx.sys.procs.sigprocmask(ctx.pid, how, Some(s))?,
        None => ctx.sys.procs.sigprocmask(ctx.pid, 0, None)?,
    };
    if a[2] != 0 {
        ctx.mem.write(a[2], &abi::sigset_out(old))?;
    }
    Ok(0)
}

/// `waitid(idtype, id, siginfo_t *, options)`. The amd64 `siginfo_t` is
/// 256 bytes: `si_signo` 0, `si_code` 4, `si_errno` 8, `si_pid` 16, and for
/// `SIGCLD` `si_utime` 24, `si_status` 32, `si_stime` 40.
fn waitid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    const P_PID: u64 = 0;
    const P_PGID: u64 = 2;
    const P_ALL: u64 = 7;
    const WEXITED: u64 = 0x01;
    const WTRAPPED: u64 = 0x02;
    const WSTOPPED: u64 = 0x04;
    const WCONTINUED: u64 = 0x08;
    const WNOHANG: u64 = 0x40;
    const WNOWAIT: u64 = 0x80;
    const SIGCLD: u32 = 18;
    const CLD_EXITED: u32 = 1;
    const CLD_KILLED: u32 = 2;
    const CLD_DUMPED: u32 = 3;
    let opts = a[3];
    if opts & !(WEXITED | WTRAPPED | WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT) != 0
        || opts & (WEXITED | WTRAPPED | WSTOPPED | WCONTINUED) == 0
    {
        return Err(Errno::EINVAL);
    }
    // Only exits are reported: the libOS's wait reaps, so WNOWAIT cannot
    // be honoured, and stop/continue reports are not kept.
    if opts & WEXITED == 0 || opts & WNOWAIT != 0 {
        return Err(Errno::EINVAL);
    }
    let which = match a[0] {
        P_PID => WaitFor::Pid(u32::try_from(a[1]).map_err(|_| Errno::EINVAL)?),
        P_PGID => WaitFor::Group(u32::try_from(a[1]).map_err(|_| Errno::EINVAL)?),
        P_ALL => WaitFor::Any,
        _ => return Err(Errno::EINVAL),
    };
    ctx.mem.write(a[2], &[0u8; 256])?;
    let Some((child, status)) = ctx.sys.procs.wait(ctx.pid, which, opts & WNOHANG != 0)? else {
        // WNOHANG and nothing to report: the zeroed siginfo says so.
        return Ok(0);
    };
    let (code, value) = match status {
        ExitStatus::Exited(c) => (CLD_EXITED, u32::from(c)),
        ExitStatus::Signaled { signal, core } => (
            if core { CLD_DUMPED } else { CLD_KILLED },
            abi::signal_out(signal),
        ),
    };
    let mut si = [0u8; 256];
    si[0..4].copy_from_slice(&SIGCLD.to_le_bytes());
    si[4..8].copy_from_slice(&code.to_le_bytes());
    si[16..20].copy_from_slice(&child.to_le_bytes());
    si[32..36].copy_from_slice(&value.to_le_bytes());
    ctx.mem.write(a[2], &si)?;
    Ok(0)
}

fn ioctl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    const TCGETA: u64 = 0x5401;
    const TCGETS: u64 = 0x540d;
    const TIOCGWINSZ: u64 = 0x5468;
    let f = file(ctx, a[0])?;
    let tty = f.special().is_some_and(|s| s.is_tty());
    // illumos termio flag values: ICRNL|IXON, OPOST|ONLCR,
    // B38400|CS8|CREAD, ISIG|ICANON|ECHO|ECHOE|IEXTEN.
    let (iflag, oflag, cflag, lflag) = (0x0500u32, 0x0005u32, 0x00bfu32, 0x801bu32);
    let cc = [0x03u8, 0x1c, 0x7f, 0x15, 0x04, 0, 0, 0];
    match a[1] {
        TCGETA | TCGETS | TIOCGWINSZ if !tty => Err(Errno::ENOTTY),
        TCGETA => {
            // struct termio: four ushorts, c_line, c_cc[8]; 18 bytes.
            let mut t = [0u8; 18];
            for (i, v) in [iflag, oflag, cflag, lflag].into_iter().enumerate() {
                t[i * 2..i * 2 + 2].copy_from_slice(&(v as u16).to_le_bytes());
            }
            t[9..17].copy_from_slice(&cc);
            ctx.mem.write(a[2], &t)?;
            Ok(0)
        }
        TCGETS => {
            // struct termios: four uints, c_cc[19]; 36 bytes.
            let mut t = [0u8; 36];
            for (i, v) in [iflag, oflag, cflag, lflag].into_iter().enumerate() {
                t[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
            }
            t[16..24].copy_from_slice(&cc);
            ctx.mem.write(a[2], &t)?;
            Ok(0)
        }
        TIOCGWINSZ => {
            let mut w = [0u8; 8];
            w[0..2].copy_from_slice(&24u16.to_le_bytes());
            w[2..4].copy_from_slice(&80u16.to_le_bytes());
            ctx.mem.write(a[2], &w)?;
            Ok(0)
        }
        _ => Err(Errno::ENOTTY),
    }
}

/// `pipe(int fds[2], int flags)`: illumos writes both descriptors to the
/// array and returns 0.
fn pipe(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[1] & !(o::CLOEXEC | o::NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let (nonblock, cloexec) = (a[1] & o::NONBLOCK != 0, a[1] & o::CLOEXEC != 0);
    posix::pipe(ctx, a[0], nonblock, cloexec)
}

fn yield_now(_ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    libos::wait::pause();
    Ok(0)
}

fn fcntl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    const F_DUPFD: u64 = 0;
    const F_GETFD: u64 = 1;
    const F_SETFD: u64 = 2;
    const F_GETFL: u64 = 3;
    const F_SETFL: u64 = 4;
    const F_DUP2FD: u64 = 9;
    const F_DUP2FD_CLOEXEC: u64 = 36;
    const F_DUPFD_CLOEXEC: u64 = 37;
    let fd = i64::from(a[0] as i32);
    match a[1] {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let f = file(ctx, a[0])?;
            let min = usize::try_from(a[2] as i32).map_err(|_| Errno::EINVAL)?;
            ctx.sys
                .procs
                .with(ctx.pid, |p| {
                    p.fds.insert_from(min, f, a[1] == F_DUPFD_CLOEXEC)
                })?
                .map(|fd| fd as u64)
        }
        F_DUP2FD | F_DUP2FD_CLOEXEC => {
            let target = i64::from(a[2] as i32);
            if target < 0 {
                return Err(Errno::EBADF);
            }
            if a[1] == F_DUP2FD_CLOEXEC && target == fd {
                return Err(Errno::EINVAL);
            }
            ctx.sys
                .procs
                .with(ctx.pid, |p| {
                    p.fds.dup2(fd, target, a[1] == F_DUP2FD_CLOEXEC)
                })?
                .map(|fd| fd as u64)
        }
        F_GETFD => ctx
            .sys
            .procs
            .with(ctx.pid, |p| p.fds.get(fd).map(|e| u64::from(e.cloexec)))?,
        F_SETFD => ctx
            .sys
            .procs
            .with(ctx.pid, |p| p.fds.set_cloexec(fd, a[2] & 1 != 0))?
            .map(|()| 0),
        F_GETFL => Ok(abi::status_flags(file(ctx, a[0])?.flags())),
        F_SETFL => {
            file(ctx, a[0])?
                .set_status(a[2] & o::APPEND != 0, a[2] & (o::NONBLOCK | o::NDELAY) != 0);
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

fn clock_gettime(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    // __CLOCK_REALTIME0 0, CLOCK_REALTIME 3, CLOCK_HIGHRES/MONOTONIC 4,
    // CLOCK_PROCESS_CPUTIME_ID 5, CLOCK_THREAD_CPUTIME_ID 2 (CPU time is
    // not accounted per process: they read the monotonic clock).
    let t = match a[0] {
        0 | 3 => ctx.sys.clock.now(),
        2 | 4 | 5 => libos::vfs::node::Timespec::from_nanos(ctx.sys.clock.uptime_ns()),
        _ => return Err(Errno::EINVAL),
    };
    ctx.mem.write(a[1], &abi::timespec(t.sec, t.nsec))?;
    Ok(0)
}

fn nanosleep(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let (sec, nsec) = (ctx.u64_at(a[0])? as i64, ctx.u64_at(a[0] + 8)?);
    if sec < 0 || nsec >= 1_000_000_000 {
        return Err(Errno::EINVAL);
    }
    let ns = (sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(nsec);
    libos::time::sleep(&*ctx.sys.clock, ns);
    if a[1] != 0 {
        ctx.mem.write(a[1], &[0u8; 16])?;
    }
    Ok(0)
}

fn hostname(ctx: &Ctx<'_>) -> Vec<u8> {
    let c = libos::vfs::Cred::root();
    let root = ctx.sys.vfs.root();
    ctx.sys
        .vfs
        .open(&c, root, b"/sys/kernel/hostname", OpenFlags::READ, 0)
        .and_then(|f| {
            let mut b = [0u8; 256];
            let n = f.read(&mut b)?;
            Ok(b[..n]
                .iter()
                .copied()
                .take_while(|&c| c != b'\n')
                .collect::<Vec<u8>>())
        })
        .unwrap_or_else(|_| b"exo".to_vec())
}

/// `uname`: returns 1 on success, as the illumos kernel does.
fn uname(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let host = hostname(ctx);
    let u = abi::utsname([b"SunOS", &host, b"5.11", b"exo-libos", b"i86pc"]);
    ctx.mem.write(a[0], &u)?;
    Ok(1)
}

/// `systeminfo(command, buf, count)`: the value's full length including
/// the NUL; at most `count` bytes are copied, NUL-terminated.
fn systeminfo(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let host;
    let value: &[u8] = match a[0] {
        1 => b"SunOS",
        2 => {
            host = hostname(ctx);
            &host
        }
        3 => b"5.11",
        4 => b"exo-libos",
        5 | 513 => b"i86pc",
        6 | 516 => b"i386",
        7 => b"0",
        8 => b"exo",
        9 => b"",
        514 => b"amd64 pentium_pro+mmx pentium_pro pentium+mmx pentium i486 i386 i86",
        517..=519 => b"amd64",
        _ => return Err(Errno::EINVAL),
    };
    let full = value.len() + 1;
    let count = usize::try_from(a[2] as i64).map_err(|_| Errno::EINVAL)?;
    if count > 0 {
        let n = value.len().min(count - 1);
        let mut out = value[..n].to_vec();
        out.push(0);
        ctx.mem.write(a[1], &out)?;
    }
    Ok(full as u64)
}

fn getrandom(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    const GRND_NONBLOCK: u64 = 1;
    const GRND_RANDOM: u64 = 2;
    if a[2] & !(GRND_NONBLOCK | GRND_RANDOM) != 0 {
        return Err(Errno::EINVAL);
    }
    let len = usize::try_from(a[1])
        .unwrap_or(usize::MAX)
        .min(PATH_MAX * 8);
    let c = libos::vfs::Cred::root();
    let f = ctx
        .sys
        .vfs
        .open(&c, ctx.sys.vfs.root(), b"/dev/urandom", OpenFlags::READ, 0)?;
    let mut buf = alloc::vec![0u8; len];
    let n = f.read(&mut buf)?;
    ctx.mem.write(a[0], &buf[..n])?;
    Ok(n as u64)
}

//! The handlers for files, descriptors, time and terminals, and the table
//! of every call by FreeBSD amd64 number.

use alloc::sync::Arc;
use alloc::vec::Vec;

use exo_personality::posix;
use exo_personality::{Ctx, Table};
use libos::vfs::file::{OpenFile, OpenFlags, Whence};
use libos::vfs::node::{FileType, Timespec};
use libos::vfs::{Access, Cred, Node, PATH_MAX};
use libos::{Errno, Result};

use crate::abi::{
    self, AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW,
};
use crate::{kqueue, proc, socket, sysctl};

/// Largest single read or write moved through the personality at once.
pub(crate) use exo_personality::posix::IO_MAX;

/// `socketpair`'s number (its family checks run before dispatch).
pub(crate) const SOCKETPAIR: u64 = 135;

/// Every implemented call, by FreeBSD amd64 number.
pub static TABLE: Table = Table {
    name: "freebsd",
    calls: &[
        (1, "exit", proc::exit),
        (2, "fork", proc::fork),
        (3, "read", read),
        (4, "write", write),
        (5, "open", open),
        (6, "close", close),
        (7, "wait4", proc::wait4),
        (9, "link", link),
        (10, "unlink", unlink),
        (12, "chdir", chdir),
        (13, "fchdir", fchdir),
        (15, "chmod", chmod),
        (20, "getpid", proc::getpid),
        (24, "getuid", proc::getuid),
        (25, "geteuid", proc::getuid),
        (33, "access", access),
        (37, "kill", proc::kill),
        (39, "getppid", proc::getppid),
        (41, "dup", dup),
        (43, "getegid", proc::getgid),
        (47, "getgid", proc::getgid),
        (54, "ioctl", ioctl),
        (57, "symlink", symlink),
        (58, "readlink", readlink),
        (60, "umask", umask),
        (81, "getpgrp", proc::getpgrp),
        (82, "setpgid", proc::setpgid),
        (89, "getdtablesize", getdtablesize),
        (90, "dup2", dup2),
        (92, "fcntl", fcntl),
        (95, "fsync", fsync),
        (116, "gettimeofday", gettimeofday),
        (120, "readv", readv),
        (121, "writev", writev),
        (128, "rename", rename),
        (SOCKETPAIR, "socketpair", socket::socketpair),
        (136, "mkdir", mkdir),
        (137, "rmdir", rmdir),
        (147, "setsid", proc::setsid),
        (202, "__sysctl", sysctl::sysctl),
        (207, "getpgid", proc::getpgid),
        (209, "poll", poll),
        (232, "clock_gettime", clock_gettime),
        (240, "nanosleep", nanosleep),
        (251, "rfork", proc::rfork),
        (253, "issetugid", issetugid),
        (310, "getsid", proc::getsid),
        (326, "__getcwd", getcwd),
        (331, "sched_yield", sched_yield),
        (340, "sigprocmask", proc::sigprocmask),
        (343, "sigpending", proc::sigpending),
        (362, "kqueue", kqueue::kqueue),
        (376, "eaccess", eaccess),
        (416, "sigaction", proc::sigaction),
        (478, "lseek", lseek),
        (479, "truncate", truncate),
        (480, "ftruncate", ftruncate),
        (489, "faccessat", faccessat),
        (495, "linkat", linkat),
        (496, "mkdirat", mkdirat),
        (499, "openat", openat),
        (500, "readlinkat", readlinkat),
        (501, "renameat", renameat),
        (502, "symlinkat", symlinkat),
        (503, "unlinkat", unlinkat),
        (532, "wait6", proc::wait6),
        (542, "pipe2", pipe2),
        (550, "fdatasync", fsync),
        (551, "fstat", fstat),
        (552, "fstatat", fstatat),
        (554, "getdirentries", getdirentries),
        (560, "kevent", kqueue::kevent),
        (563, "getrandom", getrandom),
        (570, "__sysctlbyname", sysctl::sysctlbyname),
    ],
};

/// FreeBSD's `PATH_MAX` (`MAXPATHLEN`), the NUL included.
pub(crate) const BSD_PATH_MAX: usize = 1024;

/// A path argument: `ENAMETOOLONG` from FreeBSD's 1024 bytes (the
/// libOS's own limit is larger).
pub(crate) fn path(ctx: &Ctx<'_>, addr: u64) -> Result<Vec<u8>> {
    let p = ctx.cstr(addr)?;
    if p.len() >= BSD_PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(p)
}

/// The open file behind descriptor `fd` of the caller.
pub(crate) fn file(ctx: &Ctx<'_>, fd: u64) -> Result<Arc<OpenFile>> {
    posix::file(ctx, fd)
}

/// The directory an `*at` call is relative to.
fn dir_of(ctx: &Ctx<'_>, dirfd: u64) -> Result<Node> {
    posix::dir_of(ctx, dirfd, dirfd as i64 as i32 == AT_FDCWD as i32)
}

pub(crate) fn cred(ctx: &Ctx<'_>) -> Result<Cred> {
    posix::cred(ctx)
}

/// Installs `f` at the caller's lowest free descriptor.
pub(crate) fn install(ctx: &Ctx<'_>, f: Arc<OpenFile>, cloexec: bool) -> Result<u64> {
    posix::install(ctx, f, cloexec)
}

/// Installs two files (pipe ends, socket ends) and writes their
/// descriptors as two `int`s at `at`; all or nothing.
pub(crate) fn install_pair(
    ctx: &mut Ctx<'_>,
    at: u64,
    a: Arc<OpenFile>,
    b: Arc<OpenFile>,
    cloexec: bool,
) -> Result<u64> {
    posix::install_pair(ctx, at, a, b, cloexec)
}

fn read(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    posix::read(ctx, a[0], a[1], a[2])
}

fn write(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    posix::write(ctx, a[0], a[1], a[2])
}

fn readv(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    posix::readv(ctx, a[0], a[1], a[2], true)
}

fn writev(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    posix::writev(ctx, a[0], a[1], a[2], true)
}

fn do_open(ctx: &mut Ctx<'_>, dirfd: u64, at: u64, flags: u64, mode: u64) -> Result<u64> {
    let path = path(ctx, at)?;
    let f = abi::open_flags(flags)?;
    let base = dir_of(ctx, dirfd)?;
    posix::open_at(ctx, base, &path, f, mode)
}

fn open(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    do_open(ctx, AT_FDCWD as u64, a[0], a[1], a[2])
}

fn openat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    do_open(ctx, a[0], a[1], a[2], a[3])
}

fn close(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    ctx.sys
        .procs
        .with(ctx.pid, |p| p.fds.close(a[0] as i32 as i64))?
        .map(|()| 0)
}

fn fstat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let f = file(ctx, a[0])?;
    let st = posix::stat_of(&f, true);
    ctx.mem.write(a[1], &abi::stat_bytes(&st))?;
    Ok(0)
}

fn fstatat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let (dirfd, flags) = (a[0], a[3]);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = path(ctx, a[1])?;
    let st = if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
        if dirfd as i64 as i32 == AT_FDCWD as i32 {
            let cwd = dir_of(ctx, dirfd)?;
            ctx.sys.vfs.stat_node(cwd)?
        } else {
            let f = file(ctx, dirfd)?;
            posix::stat_of(&f, true)
        }
    } else {
        let base = dir_of(ctx, dirfd)?;
        let cred = cred(ctx)?;
        ctx.sys
            .vfs
            .stat(&cred, base, &path, flags & AT_SYMLINK_NOFOLLOW == 0)?
    };
    ctx.mem.write(a[2], &abi::stat_bytes(&st))?;
    Ok(0)
}

/// `lseek(fd, offset, whence)`: `SEEK_SET`/`CUR`/`END`, and
/// `SEEK_DATA` (3) / `SEEK_HOLE` (4), for which a file is all data (the
/// libOS's filesystems keep no holes): data at any offset before the
/// end, the one hole at the end; `ENXIO` at or past it.
fn lseek(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let f = file(ctx, a[0])?;
    let whence = match a[2] as u32 {
        0 => Whence::Set,
        1 => Whence::Current,
        2 => Whence::End,
        w @ (3 | 4) => {
            let size = f.stat().map_err(|_| Errno::ESPIPE)?.size;
            let at = a[1] as i64;
            if at < 0 {
                return Err(Errno::ENXIO);
            }
            if at as u64 >= size {
                return Err(Errno::ENXIO);
            }
            let to = if w == 3 { at as u64 } else { size };
            return f.seek(to as i64, Whence::Set);
        }
        _ => return Err(Errno::EINVAL),
    };
    f.seek(a[1] as i64, whence)
}

fn ftruncate(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if (a[1] as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    file(ctx, a[0])?.truncate(a[1]).map(|()| 0)
}

/// `getdirentries(fd, buf, nbytes, basep)`: FreeBSD 12 `struct dirent`
/// records; `*basep` gets the directory offset the read started at.
fn getdirentries(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let f = file(ctx, a[0])?;
    if f.kind() != FileType::Directory {
        return Err(Errno::EINVAL);
    }
    let room = usize::try_from(a[2]).unwrap_or(usize::MAX).min(IO_MAX);
    let base = f.seek(0, Whence::Current)?;
    let mut out = Vec::new();
    while let Some(e) = f.read_dir(1)?.into_iter().next() {
        let next = f.seek(0, Whence::Current)?;
        let rec = abi::dirent(e.ino, next, e.kind.dirent_type(), &e.name);
        if out.len() + rec.len() > room {
            // Give the entry back for the next call.
            f.seek(-1, Whence::Current)?;
            if out.is_empty() {
                return Err(Errno::EINVAL);
            }
            break;
        }
        out.extend_from_slice(&rec);
    }
    ctx.mem.write(a[1], &out)?;
    if a[3] != 0 {
        ctx.mem.write(a[3], &base.to_le_bytes())?;
    }
    Ok(out.len() as u64)
}

fn with_base<R>(ctx: &Ctx<'_>, dirfd: u64, f: impl FnOnce(&Cred, Node) -> Result<R>) -> Result<R> {
    let base = dir_of(ctx, dirfd)?;
    let cred = cred(ctx)?;
    f(&cred, base)
}

fn mkdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    mkdirat(ctx, [AT_FDCWD as u64, a[0], a[1], 0, 0, 0])
}

fn mkdirat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let p = path(ctx, a[1])?;
    let base = dir_of(ctx, a[0])?;
    posix::mkdir_at(ctx, base, &p, a[2])
}

fn rmdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    unlinkat(ctx, [AT_FDCWD as u64, a[0], AT_REMOVEDIR, 0, 0, 0])
}

fn unlink(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    unlinkat(ctx, [AT_FDCWD as u64, a[0], 0, 0, 0, 0])
}

fn unlinkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[2] & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let p = path(ctx, a[1])?;
    let base = dir_of(ctx, a[0])?;
    // FreeBSD's unlink of a directory is EPERM, not EISDIR.
    posix::unlink_at(ctx, base, &p, a[2] & AT_REMOVEDIR != 0).map_err(|e| match e {
        Errno::EISDIR => Errno::EPERM,
        e => e,
    })
}

fn rename(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    renameat(ctx, [AT_FDCWD as u64, a[0], AT_FDCWD as u64, a[1], 0, 0])
}

fn renameat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let (from, to) = (path(ctx, a[1])?, path(ctx, a[3])?);
    let (fb, tb) = (dir_of(ctx, a[0])?, dir_of(ctx, a[2])?);
    posix::rename_at(ctx, fb, &from, tb, &to)
}

/// `link(path, link)`: FreeBSD's `link` follows a final symlink of
/// `path` (it is `linkat` with `AT_SYMLINK_FOLLOW`).
fn link(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    linkat(
        ctx,
        [
            AT_FDCWD as u64,
            a[0],
            AT_FDCWD as u64,
            a[1],
            AT_SYMLINK_FOLLOW,
            0,
        ],
    )
}

/// `linkat(fd1, path1, fd2, path2, flag)`: `AT_SYMLINK_FOLLOW` (0x400)
/// links what a final symlink names rather than the link itself.
/// (`AT_EMPTY_PATH`, linking a descriptor itself, is not supported:
/// `EINVAL`.)
fn linkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[4] & !AT_SYMLINK_FOLLOW != 0 {
        return Err(Errno::EINVAL);
    }
    let (old, new) = (path(ctx, a[1])?, path(ctx, a[3])?);
    let (ob, nb) = (dir_of(ctx, a[0])?, dir_of(ctx, a[2])?);
    let c = cred(ctx)?;
    let vfs = &ctx.sys.vfs;
    let mut old = old;
    if a[4] & AT_SYMLINK_FOLLOW != 0 {
        // Follow a final symlink by hand (the libOS's link never does):
        // each target is relative to the link's directory.
        let mut hops = 0;
        loop {
            match vfs.readlink(&c, ob, &old) {
                Ok(target) => {
                    hops += 1;
                    if hops > 32 {
                        return Err(Errno::ELOOP);
                    }
                    old = if target.starts_with(b"/") {
                        target
                    } else {
                        let dir = old
                            .iter()
                            .rposition(|&b| b == b'/')
                            .map_or(&b""[..], |k| &old[..=k]);
                        let mut p = dir.to_vec();
                        p.extend_from_slice(&target);
                        p
                    };
                }
                Err(Errno::EINVAL) => break,
                Err(e) => return Err(e),
            }
        }
    }
    // One base for both names: the old one absolute when they differ.
    if ob != nb && !old.starts_with(b"/") {
        let mut p = vfs.path_of(ob)?;
        p.push(b'/');
        p.extend_from_slice(&old);
        old = p;
    }
    vfs.link(&c, nb, &old, &new).map(|()| 0)
}

fn symlink(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    symlinkat(ctx, [a[0], AT_FDCWD as u64, a[1], 0, 0, 0])
}

/// `symlinkat(target, fd, path)`.
fn symlinkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let (target, path) = (path(ctx, a[0])?, path(ctx, a[2])?);
    let base = dir_of(ctx, a[1])?;
    posix::symlink_at(ctx, &target, base, &path)
}

fn access(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    faccessat(ctx, [AT_FDCWD as u64, a[0], a[1], 0, 0, 0])
}

/// `faccessat(fd, path, mode, flag)`: `F_OK` 0 or any of `X_OK` 1,
/// `W_OK` 2, `R_OK` 4; flags `AT_EACCESS` (0x100; real and effective ids
/// are one in the libOS) and `AT_SYMLINK_NOFOLLOW`. `eaccess` is the
/// `AT_EACCESS` form.
fn faccessat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    const AT_EACCESS: u64 = 0x100;
    if a[2] & !7 != 0 || a[3] & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    let p = path(ctx, a[1])?;
    let st = with_base(ctx, a[0], |c, n| {
        ctx.sys.vfs.stat(c, n, &p, a[3] & AT_SYMLINK_NOFOLLOW == 0)
    })?;
    let c = cred(ctx)?;
    for (bit, what) in [(4, Access::Read), (2, Access::Write), (1, Access::Exec)] {
        if a[2] & bit != 0 && !libos::vfs::permits(&c, &st, what) {
            return Err(Errno::EACCES);
        }
    }
    Ok(0)
}

fn eaccess(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    faccessat(ctx, [AT_FDCWD as u64, a[0], a[1], 0x100, 0, 0])
}

/// `truncate(path, length)`.
fn truncate(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if (a[1] as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let p = path(ctx, a[0])?;
    with_base(ctx, AT_FDCWD as u64, |c, n| {
        ctx.sys.vfs.truncate(c, n, &p, a[1])
    })
    .map(|()| 0)
}

/// `fsync`/`fdatasync`: the libOS's filesystems keep nothing unwritten
/// (tmpfs, and ext2 writes through), so only the descriptor is checked.
fn fsync(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    file(ctx, a[0]).map(|_| 0)
}

/// `getdtablesize`: the descriptor limit.
fn getdtablesize(_ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    Ok(libos::vfs::file::MAX_FDS as u64)
}

/// `poll(fds, nfds, timeout)`: FreeBSD's `struct pollfd` (`int fd`,
/// `short events`, `short revents`) and bits — `POLLIN` 1, `POLLOUT` 4,
/// `POLLHUP` 0x10, `POLLNVAL` 0x20, `POLLRDNORM` 0x40. Timeout in ms,
/// `INFTIM` (-1) blocks; a pending signal to handle ends the wait with
/// `EINTR`.
fn poll(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    const POLLIN: u16 = 0x1;
    const POLLOUT: u16 = 0x4;
    const POLLHUP: u16 = 0x10;
    const POLLNVAL: u16 = 0x20;
    const POLLRDNORM: u16 = 0x40;
    let nfds = a[1] & 0xffff_ffff;
    let timeout = a[2] as i32;
    if nfds > libos::vfs::file::MAX_FDS as u64 || timeout < -1 {
        return Err(Errno::EINVAL);
    }
    let raw = ctx.bytes(a[0], nfds * 8, libos::vfs::file::MAX_FDS * 8)?;
    let want: Vec<(i32, u16)> = raw
        .chunks_exact(8)
        .map(|c| {
            (
                i32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                u16::from_le_bytes([c[4], c[5]]),
            )
        })
        .collect();
    let files: Vec<Option<Arc<OpenFile>>> = want
        .iter()
        .map(|&(fd, _)| (fd >= 0).then(|| file(ctx, fd as u64).ok()).flatten())
        .collect();
    let scan = || -> Vec<u16> {
        want.iter()
            .zip(&files)
            .map(|(&(fd, events), f)| match f {
                _ if fd < 0 => 0,
                None => POLLNVAL,
                Some(f) => {
                    // Files and directories always poll ready (FreeBSD's
                    // vop_stdpoll); queues say for themselves.
                    let ready = libos::poll::readiness(f);
                    let (_, _, r_eof) = kqueue::fd_state(f, true);
                    let (_, _, w_eof) = kqueue::fd_state(f, false);
                    let mut rev = 0;
                    if ready.read {
                        rev |= events & (POLLIN | POLLRDNORM);
                    }
                    if ready.write {
                        rev |= events & POLLOUT;
                    }
                    if r_eof || w_eof {
                        rev |= POLLHUP;
                    }
                    rev
                }
            })
            .collect()
    };
    let clock = Arc::clone(&ctx.sys.clock);
    let deadline =
        (timeout >= 0).then(|| clock.uptime_ns() + u64::from(timeout.unsigned_abs()) * 1_000_000);
    let (procs, pid) = (Arc::clone(&ctx.sys.procs), ctx.pid);
    let revents = libos::wait::until(|| {
        let rev = scan();
        if rev.iter().any(|&r| r != 0) || deadline.is_some_and(|d| clock.uptime_ns() >= d) {
            return Some(Ok(rev));
        }
        kqueue::signal_pending(&procs, pid).then_some(Err(Errno::EINTR))
    })?;
    for (i, r) in revents.iter().enumerate() {
        ctx.mem.write(a[0] + i as u64 * 8 + 6, &r.to_le_bytes())?;
    }
    Ok(revents.iter().filter(|&&r| r != 0).count() as u64)
}

fn readlink(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    readlinkat(ctx, [AT_FDCWD as u64, a[0], a[1], a[2], 0, 0])
}

/// `readlinkat(fd, path, buf, bufsize)`: the target without a NUL,
/// truncated to `bufsize` (0 is allowed; above `SSIZE_MAX` is `EINVAL`).
fn readlinkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[3] > i64::MAX as u64 {
        return Err(Errno::EINVAL);
    }
    let p = path(ctx, a[1])?;
    let base = dir_of(ctx, a[0])?;
    posix::readlink_at(ctx, base, &p, a[2], a[3])
}

fn chmod(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let p = path(ctx, a[0])?;
    with_base(ctx, AT_FDCWD as u64, |c, n| {
        ctx.sys.vfs.chmod(c, n, &p, (a[1] & 0o7777) as u32)
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

/// `__getcwd(buf, buflen)`: the path with its NUL; returns 0 (libc's
/// `getcwd` returns the buffer). `EINVAL` below 2 bytes, `ENOMEM` when
/// the path does not fit (as FreeBSD's `vn_getcwd`).
fn getcwd(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[1] < 2 {
        return Err(Errno::EINVAL);
    }
    let path = posix::cwd_path(ctx)?;
    if path.len() as u64 > a[1].min(BSD_PATH_MAX as u64) {
        return Err(Errno::ENOMEM);
    }
    ctx.mem.write(a[0], &path)?;
    Ok(0)
}

fn chdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let p = path(ctx, a[0])?;
    ctx.sys.procs.chdir(ctx.pid, &p).map(|()| 0)
}

fn fchdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let f = file(ctx, a[0])?;
    let node = match f.node() {
        Some(n) if f.kind() == FileType::Directory => n,
        _ => return Err(Errno::ENOTDIR),
    };
    ctx.sys.vfs.hold(node);
    match ctx
        .sys
        .procs
        .with(ctx.pid, |p| core::mem::replace(&mut p.cwd, node))
    {
        Ok(old) => {
            ctx.sys.vfs.release(old);
            Ok(0)
        }
        Err(e) => {
            ctx.sys.vfs.release(node);
            Err(e)
        }
    }
}

fn dup(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    ctx.sys
        .procs
        .with(ctx.pid, |p| p.fds.dup(a[0] as i32 as i64))?
        .map(|fd| fd as u64)
}

fn dup2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    ctx.sys
        .procs
        .with(ctx.pid, |p| {
            p.fds.dup2(a[0] as i32 as i64, a[1] as i32 as i64, false)
        })?
        .map(|fd| fd as u64)
}

/// `fcntl` with FreeBSD's commands: `F_DUPFD` 0, `F_GETFD` 1, `F_SETFD`
/// 2, `F_GETFL` 3, `F_SETFL` 4, `F_DUP2FD` 10, `F_DUPFD_CLOEXEC` 17,
/// `F_DUP2FD_CLOEXEC` 18.
fn fcntl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    const F_DUPFD: u64 = 0;
    const F_GETFD: u64 = 1;
    const F_SETFD: u64 = 2;
    const F_GETFL: u64 = 3;
    const F_SETFL: u64 = 4;
    const F_DUP2FD: u64 = 10;
    const F_DUPFD_CLOEXEC: u64 = 17;
    const F_DUP2FD_CLOEXEC: u64 = 18;
    let fd = a[0] as i32 as i64;
    // `fd` and `cmd` are ints; `arg` is a long whose int value counts.
    match a[1] as u32 as u64 {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let f = file(ctx, a[0])?;
            let min = usize::try_from(a[2] as i32).map_err(|_| Errno::EINVAL)?;
            ctx.sys
                .procs
                .with(ctx.pid, |p| {
                    p.fds
                        .insert_from(min, f, a[1] as u32 as u64 == F_DUPFD_CLOEXEC)
                })?
                .map(|fd| fd as u64)
        }
        F_DUP2FD | F_DUP2FD_CLOEXEC => ctx
            .sys
            .procs
            .with(ctx.pid, |p| {
                p.fds.dup2(
                    fd,
                    a[2] as i32 as i64,
                    a[1] as u32 as u64 == F_DUP2FD_CLOEXEC,
                )
            })?
            .map(|fd| fd as u64),
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
            file(ctx, a[0])?.set_status(a[2] & abi::o::APPEND != 0, a[2] & abi::o::NONBLOCK != 0);
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

fn pipe2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    use abi::o;
    if a[1] & !(o::CLOEXEC | o::NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let (nonblock, cloexec) = (a[1] & o::NONBLOCK != 0, a[1] & o::CLOEXEC != 0);
    posix::pipe(ctx, a[0], nonblock, cloexec)
}

/// Terminal and descriptor ioctls, by FreeBSD's encoded numbers.
fn ioctl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    /// `_IOR('t', 104, struct winsize)`.
    const TIOCGWINSZ: u64 = 0x4008_7468;
    /// `_IOR('t', 19, struct termios)` (44 bytes).
    const TIOCGETA: u64 = 0x402c_7413;
    /// `_IOR('f', 127, int)`.
    const FIONREAD: u64 = 0x4004_667f;
    /// `_IOW('f', 126, int)`.
    const FIONBIO: u64 = 0x8004_667e;
    /// `_IO('f', 1)`.
    const FIOCLEX: u64 = 0x2000_6601;
    /// `_IO('f', 2)`.
    const FIONCLEX: u64 = 0x2000_6602;
    let f = file(ctx, a[0])?;
    let tty = f.special().is_some_and(|s| s.is_tty());
    // The command is a u_long, but libc passes it through an int.
    let cmd = a[1] & 0xffff_ffff;
    match cmd {
        TIOCGETA | TIOCGWINSZ if !tty => Err(Errno::ENOTTY),
        TIOCGETA => {
            // TTYDEF_IFLAG, TTYDEF_OFLAG, TTYDEF_CFLAG, TTYDEF_LFLAG,
            // ttydefchars, 9600 baud.
            let mut t = [0u8; 44];
            t[0..4].copy_from_slice(&0x2b02u32.to_le_bytes());
            t[4..8].copy_from_slice(&0x3u32.to_le_bytes());
            t[8..12].copy_from_slice(&0x4b00u32.to_le_bytes());
            t[12..16].copy_from_slice(&0x5cbu32.to_le_bytes());
            let cc: [u8; 20] = [
                4, 0xff, 0xff, 0x7f, 0x17, 0x15, 0x12, 0x08, 3, 0x1c, 0x1a, 0x19, 0x11, 0x13, 0x16,
                0x0f, 1, 0, 0x14, 0xff,
            ];
            t[16..36].copy_from_slice(&cc);
            t[36..40].copy_from_slice(&9600u32.to_le_bytes());
            t[40..44].copy_from_slice(&9600u32.to_le_bytes());
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
        FIONREAD => {
            let n = match f.special() {
                Some(s) => s.readable_bytes().unwrap_or(0) as u64,
                None => {
                    let here = f.seek(0, Whence::Current).unwrap_or(0);
                    f.stat().map_or(0, |s| s.size.saturating_sub(here))
                }
            };
            let n = i32::try_from(n).unwrap_or(i32::MAX);
            ctx.mem.write(a[2], &n.to_le_bytes())?;
            Ok(0)
        }
        FIONBIO => {
            let mut b = [0u8; 4];
            ctx.mem.read(a[2], &mut b)?;
            f.set_status(f.flags().append, i32::from_le_bytes(b) != 0);
            Ok(0)
        }
        FIOCLEX | FIONCLEX => ctx
            .sys
            .procs
            .with(ctx.pid, |p| {
                p.fds.set_cloexec(a[0] as i32 as i64, cmd == FIOCLEX)
            })?
            .map(|()| 0),
        _ => Err(Errno::ENOTTY),
    }
}

/// `clock_gettime` with FreeBSD's clock ids: the realtime family
/// (`CLOCK_REALTIME` 0, `_PRECISE` 9, `_FAST` 10, `CLOCK_SECOND` 13) and
/// the monotonic family (`CLOCK_MONOTONIC` 4, `CLOCK_UPTIME` 5 and their
/// `_PRECISE`/`_FAST` variants 7, 8, 11, 12). The CPU-time clocks are
/// `EINVAL`: the libOS keeps no CPU accounting.
fn clock_gettime(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let t = match a[0] {
        0 | 9 | 10 => ctx.sys.clock.now(),
        13 => Timespec {
            sec: ctx.sys.clock.now().sec,
            nsec: 0,
        },
        4 | 5 | 7 | 8 | 11 | 12 => Timespec::from_nanos(ctx.sys.clock.uptime_ns()),
        _ => return Err(Errno::EINVAL),
    };
    ctx.mem.write(a[1], &abi::timespec(t))?;
    Ok(0)
}

fn gettimeofday(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[0] != 0 {
        let t = ctx.sys.clock.now();
        let mut tv = [0u8; 16];
        tv[..8].copy_from_slice(&t.sec.to_le_bytes());
        tv[8..].copy_from_slice(&i64::from(t.nsec / 1000).to_le_bytes());
        ctx.mem.write(a[0], &tv)?;
    }
    if a[1] != 0 {
        // struct timezone: minutes west and DST type, both 0 (UTC).
        ctx.mem.write(a[1], &[0u8; 8])?;
    }
    Ok(0)
}

/// Reads a `struct timespec` and checks it: nanoseconds below 10⁹, no
/// negative seconds. Returns nanoseconds.
pub(crate) fn timespec_ns(ctx: &Ctx<'_>, at: u64) -> Result<u64> {
    let (sec, nsec) = (ctx.u64_at(at)? as i64, ctx.u64_at(at + 8)? as i64);
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok((sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(nsec as u64))
}

fn nanosleep(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let ns = timespec_ns(ctx, a[0])?;
    // Never interrupted, so `rmtp` (written only on EINTR) stays as is.
    libos::time::sleep(&*ctx.sys.clock, ns);
    Ok(0)
}

fn sched_yield(_ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    libos::wait::pause();
    Ok(0)
}

/// `issetugid`: 0 — the libOS has no set-id executables.
fn issetugid(_ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    Ok(0)
}

/// `getrandom(buf, buflen, flags)`: `GRND_NONBLOCK` 1, `GRND_RANDOM` 2,
/// `GRND_INSECURE` 4.
fn getrandom(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[2] & !7 != 0 {
        return Err(Errno::EINVAL);
    }
    let len = usize::try_from(a[1])
        .unwrap_or(usize::MAX)
        .min(PATH_MAX * 8);
    let c = Cred::root();
    let f = ctx
        .sys
        .vfs
        .open(&c, ctx.sys.vfs.root(), b"/dev/urandom", OpenFlags::READ, 0)?;
    let mut buf = alloc::vec![0u8; len];
    let n = f.read(&mut buf)?;
    ctx.mem.write(a[0], &buf[..n])?;
    Ok(n as u64)
}

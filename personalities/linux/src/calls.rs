//! The handlers, by Linux x86_64 call number.

use alloc::sync::Arc;
use alloc::vec::Vec;

use exo_personality::{Ctx, Table};
use libos::process::{KillTarget, WaitFor};
use libos::signal::{ActionFlags, Disposition, SigSet, Signal};
use libos::vfs::file::{OpenFile, OpenFlags, Whence};
use libos::vfs::{Node, PATH_MAX};
use libos::{Errno, Result};

use exo_personality::posix::{self, IO_MAX};

use crate::abi::{self, AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW};
use crate::{events, mem, proc, system};

/// The same calls under the aarch64 (generic `unistd.h`) numbers: no
/// legacy path calls (`open`, `stat`, `pipe`, `dup2`, … exist only as
/// their `*at`/`3` forms there), and the generic `struct stat` layout.
pub static AARCH64: Table = Table {
    name: "linux",
    calls: &[
        (17, "getcwd", getcwd),
        (19, "eventfd2", events::eventfd2),
        (20, "epoll_create1", events::epoll_create1),
        (21, "epoll_ctl", events::epoll_ctl),
        (22, "epoll_pwait", events::epoll_pwait),
        (23, "dup", dup),
        (24, "dup3", dup3),
        (25, "fcntl", fcntl),
        (29, "ioctl", ioctl),
        (34, "mkdirat", mkdirat),
        (35, "unlinkat", unlinkat),
        (36, "symlinkat", symlinkat),
        (37, "linkat", linkat),
        (38, "renameat", renameat),
        (46, "ftruncate", ftruncate),
        (49, "chdir", chdir),
        (53, "fchmodat", fchmodat),
        (56, "openat", openat_aarch64),
        (57, "close", close),
        (59, "pipe2", pipe2),
        (61, "getdents64", getdents64),
        (62, "lseek", lseek),
        (63, "read", read),
        (64, "write", write),
        (65, "readv", readv),
        (66, "writev", writev),
        (71, "sendfile", system::sendfile),
        (78, "readlinkat", readlinkat),
        (79, "newfstatat", newfstatat_generic),
        (80, "fstat", fstat_generic),
        (93, "exit", proc::exit),
        (94, "exit_group", proc::exit),
        (96, "set_tid_address", proc::set_tid_address),
        (98, "futex", events::futex),
        (99, "set_robust_list", set_robust_list),
        (101, "nanosleep", nanosleep),
        (113, "clock_gettime", clock_gettime),
        (115, "clock_nanosleep", clock_nanosleep),
        (124, "sched_yield", sched_yield),
        (129, "kill", kill),
        (130, "tkill", tkill),
        (131, "tgkill", tgkill),
        (132, "sigaltstack", proc::sigaltstack),
        (134, "rt_sigaction", rt_sigaction),
        (135, "rt_sigprocmask", rt_sigprocmask),
        (160, "uname", uname_aarch64),
        (163, "getrlimit", getrlimit),
        (166, "umask", umask),
        (167, "prctl", system::prctl),
        (169, "gettimeofday", gettimeofday),
        (172, "getpid", getpid),
        (173, "getppid", getppid),
        (174, "getuid", getuid),
        (175, "geteuid", getuid),
        (176, "getgid", getgid),
        (177, "getegid", getgid),
        (178, "gettid", getpid),
        (179, "sysinfo", system::sysinfo),
        (214, "brk", mem::brk),
        (215, "munmap", mem::munmap),
        (216, "mremap", mem::mremap),
        (220, "clone", proc::clone_aarch64),
        (222, "mmap", mem::mmap),
        (226, "mprotect", mem::mprotect),
        (260, "wait4", wait4),
        (261, "prlimit64", prlimit64),
        (278, "getrandom", getrandom),
        (291, "statx", statx),
    ],
};

/// `openat` with arm64's open flags: `O_DIRECTORY`, `O_NOFOLLOW`,
/// `O_DIRECT` and `O_LARGEFILE` have other values there than on x86_64
/// (which the shared handler speaks); every other flag is the same.
fn openat_aarch64(ctx: &mut Ctx<'_>, mut a: [u64; 6]) -> Result<u64> {
    const MOVED: [(u64, u64); 4] = [
        (0o40_000, abi::o::DIRECTORY),
        (0o100_000, abi::o::NOFOLLOW),
        (0o200_000, 0o40_000),
        (0o400_000, abi::o::LARGEFILE),
    ];
    let arm = a[2];
    let mut flags = arm & !MOVED.iter().fold(0, |m, &(from, _)| m | from);
    for (from, to) in MOVED {
        if arm & from != 0 {
            flags |= to;
        }
    }
    a[2] = flags;
    openat(ctx, a)
}

fn newfstatat_generic(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    do_stat(ctx, a[0], a[1], a[2], a[3], Arch::Aarch64)
}

fn fstat_generic(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    fstat_as(ctx, a, Arch::Aarch64)
}

/// Every implemented call (x86_64 numbers).
pub static TABLE: Table = Table {
    name: "linux",
    calls: &[
        (0, "read", read),
        (1, "write", write),
        (2, "open", open),
        (3, "close", close),
        (4, "stat", stat),
        (5, "fstat", fstat),
        (6, "lstat", lstat),
        (8, "lseek", lseek),
        (9, "mmap", mem::mmap),
        (10, "mprotect", mem::mprotect),
        (11, "munmap", mem::munmap),
        (12, "brk", mem::brk),
        (13, "rt_sigaction", rt_sigaction),
        (14, "rt_sigprocmask", rt_sigprocmask),
        (16, "ioctl", ioctl),
        (19, "readv", readv),
        (20, "writev", writev),
        (22, "pipe", pipe),
        (24, "sched_yield", sched_yield),
        (25, "mremap", mem::mremap),
        (32, "dup", dup),
        (33, "dup2", dup2),
        (35, "nanosleep", nanosleep),
        (39, "getpid", getpid),
        (40, "sendfile", system::sendfile),
        (56, "clone", proc::clone),
        (57, "fork", proc::fork),
        (58, "vfork", proc::vfork),
        (60, "exit", proc::exit),
        (61, "wait4", wait4),
        (62, "kill", kill),
        (63, "uname", uname),
        (72, "fcntl", fcntl),
        (77, "ftruncate", ftruncate),
        (79, "getcwd", getcwd),
        (80, "chdir", chdir),
        (82, "rename", rename),
        (83, "mkdir", mkdir),
        (84, "rmdir", rmdir),
        (86, "link", link),
        (87, "unlink", unlink),
        (88, "symlink", symlink),
        (89, "readlink", readlink),
        (90, "chmod", chmod),
        (95, "umask", umask),
        (96, "gettimeofday", gettimeofday),
        (97, "getrlimit", getrlimit),
        (99, "sysinfo", system::sysinfo),
        (102, "getuid", getuid),
        (104, "getgid", getgid),
        (107, "geteuid", getuid),
        (108, "getegid", getgid),
        (110, "getppid", getppid),
        (131, "sigaltstack", proc::sigaltstack),
        (157, "prctl", system::prctl),
        (186, "gettid", getpid),
        (200, "tkill", tkill),
        (202, "futex", events::futex),
        (213, "epoll_create", events::epoll_create),
        (217, "getdents64", getdents64),
        (218, "set_tid_address", proc::set_tid_address),
        (228, "clock_gettime", clock_gettime),
        (230, "clock_nanosleep", clock_nanosleep),
        (231, "exit_group", proc::exit),
        (232, "epoll_wait", events::epoll_wait),
        (233, "epoll_ctl", events::epoll_ctl),
        (234, "tgkill", tgkill),
        (257, "openat", openat),
        (258, "mkdirat", mkdirat),
        (262, "newfstatat", newfstatat),
        (263, "unlinkat", unlinkat),
        (264, "renameat", renameat),
        (265, "linkat", linkat),
        (266, "symlinkat", symlinkat),
        (267, "readlinkat", readlinkat),
        (268, "fchmodat", fchmodat),
        (273, "set_robust_list", set_robust_list),
        (281, "epoll_pwait", events::epoll_pwait),
        (284, "eventfd", events::eventfd),
        (290, "eventfd2", events::eventfd2),
        (291, "epoll_create1", events::epoll_create1),
        (292, "dup3", dup3),
        (293, "pipe2", pipe2),
        (302, "prlimit64", prlimit64),
        (318, "getrandom", getrandom),
        (332, "statx", statx),
    ],
};

/// A descriptor argument: Linux declares them `int` (or `unsigned int`),
/// so only the low 32 bits count — a C caller passing an `int` through
/// `syscall(2)`'s varargs leaves the upper half undefined.
pub(crate) const fn fd_arg(fd: u64) -> i64 {
    posix::fd(fd)
}

/// Whether a directory-descriptor argument is `AT_FDCWD`.
pub(crate) const fn is_cwd(dirfd: u64) -> bool {
    fd_arg(dirfd) == AT_FDCWD
}

pub(crate) fn file(ctx: &Ctx<'_>, fd: u64) -> Result<Arc<OpenFile>> {
    posix::file(ctx, fd)
}

/// The directory an `*at` call is relative to.
fn dir_of(ctx: &Ctx<'_>, dirfd: u64) -> Result<Node> {
    posix::dir_of(ctx, dirfd, is_cwd(dirfd))
}

fn cred(ctx: &Ctx<'_>) -> Result<libos::vfs::Cred> {
    posix::cred(ctx)
}

pub(crate) fn install(ctx: &Ctx<'_>, f: Arc<OpenFile>, cloexec: bool) -> Result<u64> {
    posix::install(ctx, f, cloexec)
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

fn do_open(ctx: &mut Ctx<'_>, dirfd: u64, path: u64, flags: u64, mode: u64) -> Result<u64> {
    let path = ctx.cstr(path)?;
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
        .with(ctx.pid, |p| p.fds.close(fd_arg(a[0])))?
        .map(|()| 0)
}

/// Which `struct stat` layout a call writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arch {
    /// x86_64's 144-byte layout.
    X86_64,
    /// The generic (aarch64) 128-byte layout.
    Aarch64,
}

fn put_stat(ctx: &mut Ctx<'_>, st: &libos::vfs::node::Stat, at: u64, arch: Arch) -> Result<u64> {
    match arch {
        Arch::X86_64 => ctx.mem.write(at, &abi::stat_bytes(st))?,
        Arch::Aarch64 => ctx.mem.write(at, &abi::stat_bytes_generic(st))?,
    }
    Ok(0)
}

pub(crate) fn do_stat(
    ctx: &mut Ctx<'_>,
    dirfd: u64,
    path: u64,
    buf: u64,
    flags: u64,
    arch: Arch,
) -> Result<u64> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let st = lookup_stat(ctx, dirfd, path, flags)?;
    put_stat(ctx, &st, buf, arch)
}

/// The status an `*at` stat call describes: `path` relative to `dirfd`,
/// or with `AT_EMPTY_PATH` and an empty path the descriptor itself.
pub(crate) fn lookup_stat(
    ctx: &mut Ctx<'_>,
    dirfd: u64,
    path: u64,
    flags: u64,
) -> Result<libos::vfs::node::Stat> {
    let path = ctx.cstr(path)?;
    if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
        if is_cwd(dirfd) {
            let cwd = dir_of(ctx, dirfd)?;
            ctx.sys.vfs.stat_node(cwd)
        } else {
            file_stat(&*file(ctx, dirfd)?)
        }
    } else {
        let base = dir_of(ctx, dirfd)?;
        let cred = cred(ctx)?;
        ctx.sys
            .vfs
            .stat(&cred, base, &path, flags & AT_SYMLINK_NOFOLLOW == 0)
    }
}

/// An open file's status; pipes and other anonymous files describe
/// themselves by their kind alone.
pub(crate) fn file_stat(f: &OpenFile) -> Result<libos::vfs::node::Stat> {
    Ok(posix::stat_of(f, false))
}

fn stat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    do_stat(ctx, AT_FDCWD as u64, a[0], a[1], 0, Arch::X86_64)
}

fn lstat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    do_stat(
        ctx,
        AT_FDCWD as u64,
        a[0],
        a[1],
        AT_SYMLINK_NOFOLLOW,
        Arch::X86_64,
    )
}

fn newfstatat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    do_stat(ctx, a[0], a[1], a[2], a[3], Arch::X86_64)
}

fn fstat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    fstat_as(ctx, a, Arch::X86_64)
}

pub(crate) fn fstat_as(ctx: &mut Ctx<'_>, a: [u64; 6], arch: Arch) -> Result<u64> {
    let st = file_stat(&*file(ctx, a[0])?)?;
    put_stat(ctx, &st, a[1], arch)
}

/// `statx(dirfd, path, flags, mask, buf)`: the 256-byte `struct statx`
/// with every basic field (`STATX_BASIC_STATS`); the libOS keeps no
/// birth time, so `STATX_BTIME` is never in the returned mask.
fn statx(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    const AT_NO_AUTOMOUNT: u64 = 0x800;
    const AT_STATX_SYNC_TYPE: u64 = 0x6000;
    const STATX_RESERVED: u64 = 0x8000_0000;
    let flags = a[2] & 0xffff_ffff;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || a[3] & STATX_RESERVED != 0
    {
        return Err(Errno::EINVAL);
    }
    let st = lookup_stat(ctx, a[0], a[1], flags)?;
    ctx.mem.write(a[4], &abi::statx_bytes(&st))?;
    Ok(0)
}

fn lseek(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let whence = match a[2] {
        0 => Whence::Set,
        1 => Whence::Current,
        2 => Whence::End,
        _ => return Err(Errno::EINVAL),
    };
    file(ctx, a[0])?.seek(a[1] as i64, whence)
}

fn getdents64(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let f = file(ctx, a[0])?;
    let room = usize::try_from(a[2]).unwrap_or(usize::MAX).min(IO_MAX);
    let mut out = Vec::new();
    while let Some(e) = f.read_dir(1)?.into_iter().next() {
        let next = f.seek(0, Whence::Current)? as i64;
        let rec = abi::dirent64(e.ino, next, e.kind.dirent_type(), &e.name);
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
    Ok(out.len() as u64)
}

fn path_arg(ctx: &Ctx<'_>, addr: u64) -> Result<Vec<u8>> {
    ctx.cstr(addr)
}

fn with_cwd<R>(
    ctx: &Ctx<'_>,
    dirfd: u64,
    f: impl FnOnce(&libos::vfs::Cred, Node) -> Result<R>,
) -> Result<R> {
    let base = dir_of(ctx, dirfd)?;
    let cred = cred(ctx)?;
    f(&cred, base)
}

fn mkdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    mkdirat(ctx, [AT_FDCWD as u64, a[0], a[1], 0, 0, 0])
}

fn mkdirat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let p = path_arg(ctx, a[1])?;
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
    let p = path_arg(ctx, a[1])?;
    let base = dir_of(ctx, a[0])?;
    posix::unlink_at(ctx, base, &p, a[2] & AT_REMOVEDIR != 0)
}

fn rename(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    renameat(ctx, [AT_FDCWD as u64, a[0], AT_FDCWD as u64, a[1], 0, 0])
}

fn renameat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let (from, to) = (path_arg(ctx, a[1])?, path_arg(ctx, a[3])?);
    let (fb, tb) = (dir_of(ctx, a[0])?, dir_of(ctx, a[2])?);
    posix::rename_at(ctx, fb, &from, tb, &to)
}

fn link(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let (old, new) = (path_arg(ctx, a[0])?, path_arg(ctx, a[1])?);
    with_cwd(ctx, AT_FDCWD as u64, |c, n| {
        ctx.sys.vfs.link(c, n, &old, &new)
    })
    .map(|()| 0)
}

fn linkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    const AT_SYMLINK_FOLLOW: u64 = 0x400;
    if a[4] & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    // The libOS links by path: paths relative to different directory
    // descriptors become absolute first.
    let absolute = |dirfd: u64, path: Vec<u8>| -> Result<Vec<u8>> {
        if path.starts_with(b"/") {
            return Ok(path);
        }
        let mut full = ctx.sys.vfs.path_of(dir_of(ctx, dirfd)?)?;
        if !full.ends_with(b"/") {
            full.push(b'/');
        }
        full.extend_from_slice(&path);
        Ok(full)
    };
    let old = absolute(a[0], path_arg(ctx, a[1])?)?;
    let new = absolute(a[2], path_arg(ctx, a[3])?)?;
    let root = ctx.sys.vfs.root();
    let c = cred(ctx)?;
    ctx.sys.vfs.link(&c, root, &old, &new).map(|()| 0)
}

fn symlinkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let (target, path) = (path_arg(ctx, a[0])?, path_arg(ctx, a[2])?);
    let base = dir_of(ctx, a[1])?;
    posix::symlink_at(ctx, &target, base, &path)
}

fn fchmodat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let p = path_arg(ctx, a[1])?;
    with_cwd(ctx, a[0], |c, n| {
        ctx.sys.vfs.chmod(c, n, &p, (a[2] & 0o7777) as u32)
    })
    .map(|()| 0)
}

fn symlink(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let (target, path) = (path_arg(ctx, a[0])?, path_arg(ctx, a[1])?);
    with_cwd(ctx, AT_FDCWD as u64, |c, n| {
        ctx.sys.vfs.symlink(c, n, &target, &path)
    })
    .map(|()| 0)
}

fn readlink(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    readlinkat(ctx, [AT_FDCWD as u64, a[0], a[1], a[2], 0, 0])
}

fn readlinkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[3] as i64 <= 0 {
        return Err(Errno::EINVAL);
    }
    let p = path_arg(ctx, a[1])?;
    let base = dir_of(ctx, a[0])?;
    posix::readlink_at(ctx, base, &p, a[2], a[3])
}

fn chmod(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let p = path_arg(ctx, a[0])?;
    with_cwd(ctx, AT_FDCWD as u64, |c, n| {
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

fn ftruncate(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if (a[1] as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    file(ctx, a[0])?.truncate(a[1]).map(|()| 0)
}

fn getcwd(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let path = posix::cwd_path(ctx)?;
    if path.len() as u64 > a[1] {
        return Err(Errno::ERANGE);
    }
    ctx.mem.write(a[0], &path)?;
    Ok(path.len() as u64)
}

fn chdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let p = path_arg(ctx, a[0])?;
    ctx.sys.procs.chdir(ctx.pid, &p).map(|()| 0)
}

fn getpid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    Ok(u64::from(ctx.pid))
}

fn getppid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    ctx.sys.procs.with(ctx.pid, |p| u64::from(p.ppid))
}

fn getuid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    ctx.sys.procs.with(ctx.pid, |p| u64::from(p.cred.uid))
}

fn getgid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    ctx.sys.procs.with(ctx.pid, |p| u64::from(p.cred.gid))
}

fn wait4(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    const WNOHANG: u64 = 1;
    if a[2] & !(WNOHANG | 2 | 8) != 0 {
        return Err(Errno::EINVAL);
    }
    let pid = a[0] as i64 as i32;
    let which = match pid {
        -1 => WaitFor::Any,
        0 => WaitFor::Group(ctx.sys.procs.with(ctx.pid, |p| p.pgid)?),
        p if p < -1 => WaitFor::Group(p.unsigned_abs()),
        p => WaitFor::Pid(p as u32),
    };
    match ctx.sys.procs.wait(ctx.pid, which, a[2] & WNOHANG != 0)? {
        None => Ok(0),
        Some((child, status)) => {
            if a[1] != 0 {
                ctx.mem.write(a[1], &status.wait_status().to_le_bytes())?;
            }
            Ok(u64::from(child))
        }
    }
}

fn kill(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let sig = match a[1] {
        0 => None,
        n => Some(Signal::new(n as u32)?),
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

/// Linux's `sa_flags` bits (the same on x86_64 and aarch64).
pub(crate) const SA_FLAGS: &libos::signal::FlagTable = &[
    (0x0000_0004, ActionFlags::SIGINFO),
    (0x0400_0000, ActionFlags::RESTORER),
    (0x0800_0000, ActionFlags::ONSTACK),
    (0x1000_0000, ActionFlags::RESTART),
    (0x4000_0000, ActionFlags::NODEFER),
    (0x8000_0000, ActionFlags::RESETHAND),
];

/// `rt_sigaction(sig, act, oact, sigsetsize)` with the kernel's
/// `struct sigaction`: handler 0, `sa_flags` 8, `sa_restorer` 16,
/// `sa_mask` 24; 32 bytes.
fn rt_sigaction(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[3] != 8 {
        return Err(Errno::EINVAL);
    }
    let sig = Signal::new(a[0] as u32)?;
    let new = if a[1] == 0 {
        None
    } else {
        let (handler, flags, restorer, mask) = (
            ctx.u64_at(a[1])?,
            ctx.u64_at(a[1] + 8)?,
            ctx.u64_at(a[1] + 16)?,
            ctx.u64_at(a[1] + 24)?,
        );
        let flags = ActionFlags::from_abi(flags, SA_FLAGS);
        let restorer = if flags.contains(ActionFlags::RESTORER) {
            restorer
        } else {
            0
        };
        Some(Disposition::from_parts(
            handler,
            flags,
            SigSet(mask),
            restorer,
        ))
    };
    let old = ctx.sys.procs.sigaction(ctx.pid, sig, new)?;
    if a[2] != 0 {
        let (handler, flags, mask, restorer) = old.parts();
        let mut out = [0u8; 32];
        out[0..8].copy_from_slice(&handler.to_le_bytes());
        out[8..16].copy_from_slice(&flags.to_abi(SA_FLAGS).to_le_bytes());
        out[16..24].copy_from_slice(&restorer.to_le_bytes());
        out[24..32].copy_from_slice(&mask.0.to_le_bytes());
        ctx.mem.write(a[2], &out)?;
    }
    Ok(0)
}

fn rt_sigprocmask(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[3] != 8 {
        return Err(Errno::EINVAL);
    }
    let set = if a[1] == 0 {
        None
    } else {
        Some(SigSet(ctx.u64_at(a[1])?))
    };
    let old = ctx.sys.procs.sigprocmask(ctx.pid, a[0] as u32, set)?;
    if a[2] != 0 {
        ctx.mem.write(a[2], &old.0.to_le_bytes())?;
    }
    Ok(0)
}

fn ioctl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    const TCGETS: u64 = 0x5401;
    const TIOCGWINSZ: u64 = 0x5413;
    let f = file(ctx, a[0])?;
    let tty = f.special().is_some_and(|s| s.is_tty());
    match a[1] {
        TCGETS | TIOCGWINSZ if !tty => Err(Errno::ENOTTY),
        TCGETS => {
            // struct termios (60 bytes): ICRNL | IXON, OPOST | ONLCR,
            // B38400 | CS8 | CREAD, ISIG | ICANON | ECHO | ECHOE | IEXTEN.
            let mut t = [0u8; 60];
            t[0..4].copy_from_slice(&0o2400u32.to_le_bytes());
            t[4..8].copy_from_slice(&0o5u32.to_le_bytes());
            t[8..12].copy_from_slice(&0o277u32.to_le_bytes());
            t[12..16].copy_from_slice(&0o105073u32.to_le_bytes());
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

fn pipe(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    pipe2(ctx, [a[0], 0, 0, 0, 0, 0])
}

fn pipe2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    use abi::o;
    if a[1] & !(o::CLOEXEC | o::NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let (nonblock, cloexec) = (a[1] & o::NONBLOCK != 0, a[1] & o::CLOEXEC != 0);
    posix::pipe(ctx, a[0], nonblock, cloexec)
}

fn sched_yield(_ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    libos::wait::pause();
    Ok(0)
}

fn dup(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    ctx.sys
        .procs
        .with(ctx.pid, |p| p.fds.dup(fd_arg(a[0])))?
        .map(|fd| fd as u64)
}

fn dup2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    ctx.sys
        .procs
        .with(ctx.pid, |p| p.fds.dup2(fd_arg(a[0]), fd_arg(a[1]), false))?
        .map(|fd| fd as u64)
}

fn dup3(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[0] == a[1] || a[2] & !abi::o::CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    ctx.sys
        .procs
        .with(ctx.pid, |p| {
            p.fds
                .dup2(fd_arg(a[0]), fd_arg(a[1]), a[2] & abi::o::CLOEXEC != 0)
        })?
        .map(|fd| fd as u64)
}

fn fcntl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    const F_DUPFD: u64 = 0;
    const F_GETFD: u64 = 1;
    const F_SETFD: u64 = 2;
    const F_GETFL: u64 = 3;
    const F_SETFL: u64 = 4;
    const F_DUPFD_CLOEXEC: u64 = 1030;
    let fd = fd_arg(a[0]);
    match a[1] {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let f = file(ctx, a[0])?;
            let min = usize::try_from(a[2]).map_err(|_| Errno::EINVAL)?;
            ctx.sys
                .procs
                .with(ctx.pid, |p| {
                    p.fds.insert_from(min, f, a[1] == F_DUPFD_CLOEXEC)
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
            file(ctx, a[0])?.set_status(a[2] & abi::o::APPEND != 0, a[2] & abi::o::NONBLOCK != 0);
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

fn clock_gettime(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let t = match a[0] {
        0 | 5 => ctx.sys.clock.now(),
        1 | 4 | 6 | 7 => libos::vfs::node::Timespec::from_nanos(ctx.sys.clock.uptime_ns()),
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
    Ok(0)
}

fn uname(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    uname_for(ctx, a[0], b"x86_64")
}

fn uname_aarch64(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    uname_for(ctx, a[0], b"aarch64")
}

fn uname_for(ctx: &mut Ctx<'_>, at: u64, machine: &[u8]) -> Result<u64> {
    let c = libos::vfs::Cred::root();
    let root = ctx.sys.vfs.root();
    let host = ctx
        .sys
        .vfs
        .open(&c, root, b"/sys/kernel/hostname", OpenFlags::READ, 0)
        .and_then(|f| {
            let mut b = [0u8; 64];
            let n = f.read(&mut b)?;
            Ok(b[..n]
                .iter()
                .copied()
                .take_while(|&c| c != b'\n')
                .collect::<Vec<u8>>())
        })
        .unwrap_or_else(|_| b"exo".to_vec());
    let u = abi::utsname([
        b"Linux",
        &host,
        b"6.1.0-exo",
        b"#1 SMP exo libOS",
        machine,
        b"(none)",
    ]);
    ctx.mem.write(at, &u)?;
    Ok(0)
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

fn gettimeofday(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[0] != 0 {
        let t = ctx.sys.clock.now();
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&t.sec.to_le_bytes());
        b[8..].copy_from_slice(&i64::from(t.nsec / 1000).to_le_bytes());
        ctx.mem.write(a[0], &b)?;
    }
    if a[1] != 0 {
        // struct timezone: minutes west of Greenwich and DST, both 0 (UTC).
        ctx.mem.write(a[1], &[0u8; 8])?;
    }
    Ok(0)
}

fn clock_nanosleep(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    const TIMER_ABSTIME: u64 = 1;
    let [clock, flags, req, ..] = a;
    if flags & !TIMER_ABSTIME != 0 {
        return Err(Errno::EINVAL);
    }
    let (sec, nsec) = (ctx.u64_at(req)? as i64, ctx.u64_at(req + 8)?);
    if sec < 0 || nsec >= 1_000_000_000 {
        return Err(Errno::EINVAL);
    }
    let t = (sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(nsec);
    let now = match clock {
        0 => {
            let n = ctx.sys.clock.now();
            (n.sec.max(0) as u64) * 1_000_000_000 + u64::from(n.nsec)
        }
        1 | 7 => ctx.sys.clock.uptime_ns(),
        // Per-process and per-thread CPU clocks cannot be slept on.
        2 | 3 => return Err(Errno::EINVAL),
        _ => return Err(Errno::EINVAL),
    };
    let ns = if flags & TIMER_ABSTIME != 0 {
        t.saturating_sub(now)
    } else {
        t
    };
    libos::time::sleep(&*ctx.sys.clock, ns);
    Ok(0)
}

/// `RLIM_INFINITY`.
const RLIM_INFINITY: u64 = u64::MAX;

/// The limits the libOS actually enforces (or that are unlimited), as
/// `(soft, hard)` for each `RLIMIT_*` resource.
fn rlimit(resource: u64) -> Result<(u64, u64)> {
    const RLIMIT_NPROC: u64 = 6;
    const RLIMIT_NOFILE: u64 = 7;
    const RLIMIT_STACK: u64 = 3;
    Ok(match resource {
        RLIMIT_STACK => (8 << 20, RLIM_INFINITY),
        RLIMIT_NPROC => {
            let n = libos::process::MAX_PROCESSES as u64;
            (n, n)
        }
        RLIMIT_NOFILE => {
            let n = libos::vfs::file::MAX_FDS as u64;
            (n, n)
        }
        // CPU, FSIZE, DATA, CORE, RSS, MEMLOCK, AS, LOCKS, SIGPENDING,
        // MSGQUEUE, NICE, RTPRIO, RTTIME: not limited by the libOS.
        0..=15 => (RLIM_INFINITY, RLIM_INFINITY),
        _ => return Err(Errno::EINVAL),
    })
}

fn getrlimit(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let (soft, hard) = rlimit(a[0])?;
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&soft.to_le_bytes());
    b[8..].copy_from_slice(&hard.to_le_bytes());
    ctx.mem.write(a[1], &b)?;
    Ok(0)
}

/// `prlimit64`: reading works for the caller (pid 0 or its own); setting a
/// limit the libOS does not keep is refused with `EPERM` unless it leaves
/// the limit as it is.
fn prlimit64(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let [pid, resource, new, old, ..] = a;
    if pid != 0 && pid != u64::from(ctx.pid) {
        ctx.sys.procs.with(pid as u32, |_| ())?;
    }
    let current = rlimit(resource)?;
    if new != 0 {
        let wanted = (ctx.u64_at(new)?, ctx.u64_at(new + 8)?);
        if wanted.0 > wanted.1 {
            return Err(Errno::EINVAL);
        }
        if wanted != current {
            return Err(Errno::EPERM);
        }
    }
    if old != 0 {
        getrlimit(ctx, [resource, old, 0, 0, 0, 0])?;
    }
    Ok(0)
}

/// `set_robust_list`: the head is accepted (its size must be Linux's 24
/// bytes); the libOS does not walk robust lists when a thread dies.
fn set_robust_list(_ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[1] != 24 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

/// The process a thread id belongs to.
fn process_of_thread(ctx: &Ctx<'_>, tid: u32) -> Result<libos::process::Pid> {
    ctx.sys
        .procs
        .pids()
        .into_iter()
        .find(|&p| {
            ctx.sys
                .procs
                .with(p, |pr| pr.threads.contains(&tid))
                .unwrap_or(false)
        })
        .ok_or(Errno::ESRCH)
}

fn signal_thread(ctx: &mut Ctx<'_>, pid: libos::process::Pid, sig: u64) -> Result<u64> {
    let sig = match sig {
        0 => None,
        n => Some(Signal::new(n as u32)?),
    };
    let c = cred(ctx)?;
    ctx.sys
        .procs
        .kill(&c, KillTarget::Pid(pid), sig)
        .map(|()| 0)
}

/// `tkill`: the signal goes to the thread's process (the libOS keeps one
/// pending set per process).
fn tkill(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let tid = i32::try_from(a[0] as i64)
        .ok()
        .filter(|&t| t > 0)
        .ok_or(Errno::EINVAL)?;
    let pid = process_of_thread(ctx, tid as u32)?;
    signal_thread(ctx, pid, a[1])
}

fn tgkill(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let tgid = i32::try_from(a[0] as i64)
        .ok()
        .filter(|&t| t > 0)
        .ok_or(Errno::EINVAL)?;
    let tid = i32::try_from(a[1] as i64)
        .ok()
        .filter(|&t| t > 0)
        .ok_or(Errno::EINVAL)?;
    if process_of_thread(ctx, tid as u32)? != tgid as u32 {
        return Err(Errno::ESRCH);
    }
    signal_thread(ctx, tgid as u32, a[2])
}

//! The calls whose meaning is the same in every ABI, once: descriptor
//! lookup, the directory an `*at` call is relative to, credentials,
//! descriptor installation, `read`/`write`/`readv`/`writev` (with
//! `SIGPIPE` on a broken pipe), and what `fstat` says of a file without a
//! node. Each personality decodes its own argument registers and flag
//! values and calls these; only the ABI's own translations stay in it.

use alloc::sync::Arc;
use alloc::vec::Vec;

use libos::signal::Signal;
use libos::vfs::file::{OpenFile, OpenFlags};
use libos::vfs::node::{FileType, Stat, Timespec};
use libos::vfs::{Cred, Node};
use libos::{Errno, Result};

use crate::Ctx;

/// Most bytes one `read`, `write` or vector of them moves.
pub const IO_MAX: usize = 1 << 20;
/// Most `iovec` entries (`IOV_MAX` of all three ABIs).
pub const IOV_MAX: u64 = 1024;

/// A descriptor argument: every ABI declares it `int`, so only the low 32
/// bits count (a 32-bit value passed through `syscall(2)` arrives with
/// anything above).
#[must_use]
pub const fn fd(raw: u64) -> i64 {
    raw as u32 as i32 as i64
}

/// The open file behind the caller's descriptor `raw`.
///
/// # Errors
/// `EBADF`, `ESRCH`.
pub fn file(ctx: &Ctx<'_>, raw: u64) -> Result<Arc<OpenFile>> {
    ctx.sys.procs.with(ctx.pid, |p| p.fds.file(fd(raw)))?
}

/// The caller's credentials.
///
/// # Errors
/// `ESRCH`.
pub fn cred(ctx: &Ctx<'_>) -> Result<Cred> {
    ctx.sys.procs.with(ctx.pid, |p| p.cred.clone())
}

/// Installs `f` at the caller's lowest free descriptor.
///
/// # Errors
/// `EMFILE`, `ESRCH`.
pub fn install(ctx: &Ctx<'_>, f: Arc<OpenFile>, cloexec: bool) -> Result<u64> {
    ctx.sys
        .procs
        .with(ctx.pid, |p| p.fds.insert(f, cloexec))?
        .map(|fd| fd as u64)
}

/// Installs two files (pipe ends, socket ends) and writes their
/// descriptors as two `int`s at `at`: all or nothing.
///
/// # Errors
/// `EFAULT` (checked before anything is installed), `EMFILE`.
pub fn install_pair(
    ctx: &mut Ctx<'_>,
    at: u64,
    a: Arc<OpenFile>,
    b: Arc<OpenFile>,
    cloexec: bool,
) -> Result<u64> {
    ctx.mem.write(at, &[0u8; 8])?;
    let afd = install(ctx, a, cloexec)?;
    let bfd = match install(ctx, b, cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = ctx.sys.procs.with(ctx.pid, |p| p.fds.close(afd as i64));
            return Err(e);
        }
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&(afd as i32).to_le_bytes());
    out[4..].copy_from_slice(&(bfd as i32).to_le_bytes());
    ctx.mem.write(at, &out)?;
    Ok(0)
}

/// `pipe2(fds, flags)` once the ABI has decoded `O_NONBLOCK` and
/// `O_CLOEXEC`: a libOS pipe, read end then write end at `fds`.
///
/// # Errors
/// As [`install_pair`].
pub fn pipe(ctx: &mut Ctx<'_>, fds: u64, nonblock: bool, cloexec: bool) -> Result<u64> {
    let (r, w) = libos::pipe::pipe();
    let vfs = Arc::clone(&ctx.sys.vfs);
    let end = |special, flags: OpenFlags| {
        Arc::new(OpenFile::anonymous(
            Arc::clone(&vfs),
            special,
            OpenFlags { nonblock, ..flags },
            FileType::Fifo,
        ))
    };
    let (rf, wf) = (end(r, OpenFlags::READ), end(w, OpenFlags::WRITE));
    install_pair(ctx, fds, rf, wf, cloexec)
}

/// The directory an `*at` call is relative to: the working directory when
/// the ABI's `AT_FDCWD` was passed (`cwd`), else the directory open at
/// `dirfd`.
///
/// # Errors
/// `EBADF`, `ENOTDIR` for a descriptor that is not a directory.
pub fn dir_of(ctx: &Ctx<'_>, dirfd: u64, cwd: bool) -> Result<Node> {
    if cwd {
        return ctx.sys.procs.with(ctx.pid, |p| p.cwd);
    }
    let f = file(ctx, dirfd)?;
    match f.node() {
        Some(n) if f.kind() == FileType::Directory => Ok(n),
        _ => Err(Errno::ENOTDIR),
    }
}

/// `openat` once the ABI has decoded its flags: opens `path` relative to
/// `base` with permission bits `mode` (for a created file) and installs
/// it at the lowest free descriptor.
///
/// # Errors
/// The VFS's (`ENOENT`, `EACCES`, `EEXIST`, `EISDIR`, …), `EMFILE`.
pub fn open_at(ctx: &Ctx<'_>, base: Node, path: &[u8], flags: OpenFlags, mode: u64) -> Result<u64> {
    let cred = cred(ctx)?;
    let file = ctx
        .sys
        .vfs
        .open(&cred, base, path, flags, (mode & 0o7777) as u32)?;
    install(ctx, file, flags.cloexec)
}

/// `mkdirat` against `base`.
///
/// # Errors
/// The VFS's.
pub fn mkdir_at(ctx: &Ctx<'_>, base: Node, path: &[u8], mode: u64) -> Result<u64> {
    let c = cred(ctx)?;
    ctx.sys
        .vfs
        .mkdir(&c, base, path, (mode & 0o7777) as u32)
        .map(|()| 0)
}

/// `unlinkat` against `base`: a directory with `removedir`
/// (`AT_REMOVEDIR`), anything else without.
///
/// # Errors
/// The VFS's (`EISDIR` for a directory without `removedir`).
pub fn unlink_at(ctx: &Ctx<'_>, base: Node, path: &[u8], removedir: bool) -> Result<u64> {
    let c = cred(ctx)?;
    if removedir {
        ctx.sys.vfs.rmdir(&c, base, path)
    } else {
        ctx.sys.vfs.unlink(&c, base, path)
    }
    .map(|()| 0)
}

/// `renameat`: `from` relative to `from_base` to `to` relative to
/// `to_base` (named absolutely when the bases differ).
///
/// # Errors
/// The VFS's.
pub fn rename_at(
    ctx: &Ctx<'_>,
    from_base: Node,
    from: &[u8],
    to_base: Node,
    to: &[u8],
) -> Result<u64> {
    let c = cred(ctx)?;
    if from_base == to_base || to.starts_with(b"/") {
        return ctx.sys.vfs.rename(&c, from_base, from, to).map(|()| 0);
    }
    let mut abs_to = ctx.sys.vfs.path_of(to_base)?;
    abs_to.push(b'/');
    abs_to.extend_from_slice(to);
    ctx.sys.vfs.rename(&c, from_base, from, &abs_to).map(|()| 0)
}

/// `symlinkat(target, base, path)`.
///
/// # Errors
/// The VFS's.
pub fn symlink_at(ctx: &Ctx<'_>, target: &[u8], base: Node, path: &[u8]) -> Result<u64> {
    let c = cred(ctx)?;
    ctx.sys.vfs.symlink(&c, base, target, path).map(|()| 0)
}

/// `readlinkat` against `base`: the target's first `len` bytes at `buf`
/// (no NUL), and how many.
///
/// # Errors
/// The VFS's (`EINVAL` for a non-link), `EFAULT`.
pub fn readlink_at(ctx: &mut Ctx<'_>, base: Node, path: &[u8], buf: u64, len: u64) -> Result<u64> {
    let c = cred(ctx)?;
    let target = ctx.sys.vfs.readlink(&c, base, path)?;
    let n = target.len().min(usize::try_from(len).unwrap_or(usize::MAX));
    ctx.mem.write(buf, &target[..n])?;
    Ok(n as u64)
}

/// The caller's working directory as a path, NUL included (for
/// `getcwd`, whose size checks and result differ by ABI).
///
/// # Errors
/// `ESRCH`, the VFS's.
pub fn cwd_path(ctx: &Ctx<'_>) -> Result<Vec<u8>> {
    let cwd = ctx.sys.procs.with(ctx.pid, |p| p.cwd)?;
    let mut path = ctx.sys.vfs.path_of(cwd)?;
    path.push(0);
    Ok(path)
}

/// `read(fd, buf, len)`, at most [`IO_MAX`] bytes.
///
/// # Errors
/// The file's errors, `EFAULT`.
pub fn read(ctx: &mut Ctx<'_>, fd: u64, buf: u64, len: u64) -> Result<u64> {
    let f = file(ctx, fd)?;
    let len = usize::try_from(len).unwrap_or(usize::MAX).min(IO_MAX);
    let mut data = alloc::vec![0u8; len];
    let n = f.read(&mut data)?;
    ctx.mem.write(buf, &data[..n])?;
    Ok(n as u64)
}

/// Writes `data` to `f`, raising `SIGPIPE` on a broken pipe or socket.
///
/// # Errors
/// The file's errors (`EPIPE` after the signal).
pub fn write_all(ctx: &mut Ctx<'_>, f: &OpenFile, data: &[u8]) -> Result<u64> {
    match f.write(data) {
        Err(Errno::EPIPE) => {
            let _ = ctx.sys.procs.raise(ctx.pid, Signal::SIGPIPE);
            Err(Errno::EPIPE)
        }
        other => other.map(|n| n as u64),
    }
}

/// `write(fd, buf, len)`, at most [`IO_MAX`] bytes.
///
/// # Errors
/// As [`write_all`], `EFAULT`.
pub fn write(ctx: &mut Ctx<'_>, fd: u64, buf: u64, len: u64) -> Result<u64> {
    let f = file(ctx, fd)?;
    let data = ctx.bytes(buf, len.min(IO_MAX as u64), IO_MAX)?;
    write_all(ctx, &f, &data)
}

/// A `struct iovec` array (`base`, `len` pairs), at most [`IOV_MAX`]
/// entries; `empty_ok` says whether the ABI accepts none.
///
/// # Errors
/// `EINVAL` for too many (or, unless `empty_ok`, no) entries, `EFAULT`.
pub fn iovecs(ctx: &Ctx<'_>, iov: u64, count: u64, empty_ok: bool) -> Result<Vec<(u64, u64)>> {
    if count > IOV_MAX || (count == 0 && !empty_ok) {
        return Err(Errno::EINVAL);
    }
    (0..count)
        .map(|i| {
            let at = iov.checked_add(i * 16).ok_or(Errno::EFAULT)?;
            Ok((ctx.u64_at(at)?, ctx.u64_at(at + 8)?))
        })
        .collect()
}

/// `readv(fd, iov, count)`: fills the buffers in order, stopping at a
/// short read.
///
/// # Errors
/// As [`iovecs`] and [`read`].
pub fn readv(ctx: &mut Ctx<'_>, fd: u64, iov: u64, count: u64, empty_ok: bool) -> Result<u64> {
    let f = file(ctx, fd)?;
    let mut total = 0u64;
    for (base, len) in iovecs(ctx, iov, count, empty_ok)? {
        let mut buf = alloc::vec![0u8; usize::try_from(len).unwrap_or(usize::MAX).min(IO_MAX)];
        let n = f.read(&mut buf)?;
        ctx.mem.write(base, &buf[..n])?;
        total += n as u64;
        if n < buf.len() {
            break;
        }
    }
    Ok(total)
}

/// `writev(fd, iov, count)`: one write of the gathered buffers, at most
/// [`IO_MAX`] bytes.
///
/// # Errors
/// As [`iovecs`] and [`write_all`]; `EINVAL` past [`IO_MAX`].
pub fn writev(ctx: &mut Ctx<'_>, fd: u64, iov: u64, count: u64, empty_ok: bool) -> Result<u64> {
    let f = file(ctx, fd)?;
    let mut data = Vec::new();
    for (base, len) in iovecs(ctx, iov, count, empty_ok)? {
        data.extend_from_slice(&ctx.bytes(base, len, IO_MAX)?);
        if data.len() > IO_MAX {
            return Err(Errno::EINVAL);
        }
    }
    write_all(ctx, &f, &data)
}

/// What `fstat` says of a file without a node (a pipe, a socket, an
/// event queue, a door): its kind, mode 0600, and `size`.
#[must_use]
pub fn anonymous_stat(kind: FileType, size: u64) -> Stat {
    Stat {
        dev: 0,
        ino: 0,
        kind,
        perm: 0o600,
        nlink: 1,
        uid: 0,
        gid: 0,
        rdev: 0,
        size,
        blksize: 4096,
        blocks: 0,
        atime: Timespec::default(),
        mtime: Timespec::default(),
        ctime: Timespec::default(),
    }
}

/// An open file's status, or [`anonymous_stat`] for one without a node,
/// whose size is the bytes waiting in it where the ABI says so (`queued`:
/// FreeBSD), else 0 (Linux, illumos).
#[must_use]
pub fn stat_of(f: &OpenFile, queued: bool) -> Stat {
    f.stat().unwrap_or_else(|_| {
        let size = if queued {
            f.special().and_then(|s| s.readable_bytes()).unwrap_or(0) as u64
        } else {
            0
        };
        anonymous_stat(f.kind(), size)
    })
}

//! The FreeBSD personality suite: FreeBSD amd64 call numbers in; values
//! or carry-flag errors with FreeBSD's errno numbers, FreeBSD struct
//! bytes (`stat`, `dirent`, `kevent`, `sigaction`, `siginfo_t`), sysctl
//! values and kqueue events out — on the hosted libOS, including blocking
//! and wake-up across threads.

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use exo_personality::{Ctx, UserMemory, VecMemory};
use exo_personality_tests::{Case, Duration, Instant, World, check};
use libos::process::{ExitStatus, Pid};
use libos::signal::Signal;

// FreeBSD amd64 numbers (sys/kern/syscalls.master).
const EXIT: u64 = 1;
const FORK: u64 = 2;
const READ: u64 = 3;
const WRITE: u64 = 4;
const OPEN: u64 = 5;
const CLOSE: u64 = 6;
const WAIT4: u64 = 7;
const UNLINK: u64 = 10;
const CHDIR: u64 = 12;
const FCHDIR: u64 = 13;
const GETPID: u64 = 20;
const GETUID: u64 = 24;
const KILL: u64 = 37;
const GETPPID: u64 = 39;
const DUP: u64 = 41;
const IOCTL: u64 = 54;
const SYMLINK: u64 = 57;
const READLINK: u64 = 58;
const UMASK: u64 = 60;
const DUP2: u64 = 90;
const FCNTL: u64 = 92;
const GETTIMEOFDAY: u64 = 116;
const READV: u64 = 120;
const WRITEV: u64 = 121;
const RENAME: u64 = 128;
const SOCKETPAIR: u64 = 135;
const MKDIR: u64 = 136;
const RMDIR: u64 = 137;
const SYSCTL: u64 = 202;
const CLOCK_GETTIME: u64 = 232;
const NANOSLEEP: u64 = 240;
const RFORK: u64 = 251;
const ISSETUGID: u64 = 253;
const GETCWD: u64 = 326;
const SIGPROCMASK: u64 = 340;
const KQUEUE: u64 = 362;
const SIGACTION: u64 = 416;
const LSEEK: u64 = 478;
const MKDIRAT: u64 = 496;
const OPENAT: u64 = 499;
const UNLINKAT: u64 = 503;
const WAIT6: u64 = 532;
const PIPE2: u64 = 542;
const FSTAT: u64 = 551;
const FSTATAT: u64 = 552;
const GETDIRENTRIES: u64 = 554;
const KEVENT: u64 = 560;
const GETRANDOM: u64 = 563;
const SYSCTLBYNAME: u64 = 570;

// FreeBSD errno numbers (sys/sys/errno.h), negated by `sys` below.
const EPERM: i64 = -1;
const ENOENT: i64 = -2;
const ESRCH: i64 = -3;
const EBADF: i64 = -9;
const ECHILD: i64 = -10;
const ENOMEM: i64 = -12;
const EFAULT: i64 = -14;
const EEXIST: i64 = -17;
const ENOTDIR: i64 = -20;
const EISDIR: i64 = -21;
const EINVAL: i64 = -22;
const ENOTTY: i64 = -25;
const ESPIPE: i64 = -29;
const EPIPE: i64 = -32;
const EAGAIN: i64 = -35;
const EPROTONOSUPPORT: i64 = -43;
const EAFNOSUPPORT: i64 = -47;
const ELOOP: i64 = -62;
const ENAMETOOLONG: i64 = -63;
const ENOTEMPTY: i64 = -66;
const ENOSYS: i64 = -78;

// FreeBSD flag values (sys/sys/fcntl.h).
const O_RDONLY: u64 = 0;
const O_WRONLY: u64 = 1;
const O_RDWR: u64 = 2;
const O_NONBLOCK: u64 = 0x4;
const O_APPEND: u64 = 0x8;
const O_CREAT: u64 = 0x200;
const O_TRUNC: u64 = 0x400;
const O_EXCL: u64 = 0x800;
const O_DIRECTORY: u64 = 0x2_0000;
const O_CLOEXEC: u64 = 0x10_0000;
const AT_FDCWD: u64 = -100i64 as u64;
const AT_SYMLINK_NOFOLLOW: u64 = 0x200;
const AT_REMOVEDIR: u64 = 0x800;

// kqueue (sys/sys/event.h).
const EVFILT_READ: i16 = -1;
const EVFILT_WRITE: i16 = -2;
#[cfg(not(target_os = "none"))]
const EVFILT_PROC: i16 = -5;
const EVFILT_SIGNAL: i16 = -6;
const EVFILT_TIMER: i16 = -7;
const EV_ADD: u16 = 0x1;
const EV_DELETE: u16 = 0x2;
const EV_ENABLE: u16 = 0x4;
const EV_DISABLE: u16 = 0x8;
const EV_ONESHOT: u16 = 0x10;
const EV_CLEAR: u16 = 0x20;
const EV_RECEIPT: u16 = 0x40;
const EV_DISPATCH: u16 = 0x80;
const EV_ERROR: u16 = 0x4000;
const EV_EOF: u16 = 0x8000;
#[cfg(not(target_os = "none"))]
const NOTE_EXIT: u32 = 0x8000_0000;

// FreeBSD signal numbers.
const SIGKILL: u64 = 9;
const SIGUSR1: u64 = 30;
const SIGUSR2: u64 = 31;

/// Runs a call; the value, or the negated FreeBSD errno when the carry
/// flag is set (the suite's shorthand; `carry_flag_convention` checks
/// the raw register pair).
fn sys(w: &mut World, nr: u64, args: &[u64]) -> i64 {
    raw(&mut w.ctx(), nr, args)
}

fn raw(ctx: &mut Ctx<'_>, nr: u64, args: &[u64]) -> i64 {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    let r = exo_freebsd::syscall(ctx, nr, a);
    if r.carry {
        -(r.rax as i64)
    } else {
        r.rax as i64
    }
}

fn u64_at(w: &World, at: u64, off: usize) -> u64 {
    u64::from_le_bytes(w.get(at + off as u64, 8).try_into().expect("8 bytes"))
}

fn u32_at(w: &World, at: u64, off: usize) -> u32 {
    u32::from_le_bytes(w.get(at + off as u64, 4).try_into().expect("4 bytes"))
}

fn u16_at(w: &World, at: u64, off: usize) -> u16 {
    u16::from_le_bytes(w.get(at + off as u64, 2).try_into().expect("2 bytes"))
}

fn create(w: &mut World, path: &str, data: &[u8]) -> Result<(), String> {
    let p = w.cstr(path);
    let fd = sys(w, OPEN, &[p, O_WRONLY | O_CREAT | O_TRUNC, 0o644]);
    check!(fd >= 0, "open {path}: {fd}");
    let d = w.put(data);
    check!(
        sys(w, WRITE, &[fd as u64, d, data.len() as u64]) == data.len() as i64,
        "write"
    );
    check!(sys(w, CLOSE, &[fd as u64]) == 0, "close");
    Ok(())
}

fn pipe(w: &mut World, flags: u64) -> Result<(u64, u64), String> {
    let fds = w.buf(8);
    let r = sys(w, PIPE2, &[fds, flags]);
    check!(r == 0, "pipe2: {r}");
    Ok((u64::from(u32_at(w, fds, 0)), u64::from(u32_at(w, fds, 4))))
}

/// A `struct kevent` (64 bytes).
fn kev(ident: u64, filter: i16, flags: u16, fflags: u32, data: i64, udata: u64) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[0..8].copy_from_slice(&ident.to_le_bytes());
    b[8..10].copy_from_slice(&filter.to_le_bytes());
    b[10..12].copy_from_slice(&flags.to_le_bytes());
    b[12..16].copy_from_slice(&fflags.to_le_bytes());
    b[16..24].copy_from_slice(&data.to_le_bytes());
    b[24..32].copy_from_slice(&udata.to_le_bytes());
    b
}

/// A decoded `struct kevent`.
#[derive(Debug, PartialEq, Eq)]
struct Ev {
    ident: u64,
    filter: i16,
    flags: u16,
    fflags: u32,
    data: i64,
    udata: u64,
}

fn events(w: &World, at: u64, n: i64) -> Vec<Ev> {
    (0..n.max(0) as u64)
        .map(|i| {
            let b = w.get(at + i * 64, 64);
            Ev {
                ident: u64::from_le_bytes(b[0..8].try_into().expect("8")),
                filter: i16::from_le_bytes([b[8], b[9]]),
                flags: u16::from_le_bytes([b[10], b[11]]),
                fflags: u32::from_le_bytes(b[12..16].try_into().expect("4")),
                data: i64::from_le_bytes(b[16..24].try_into().expect("8")),
                udata: u64::from_le_bytes(b[24..32].try_into().expect("8")),
            }
        })
        .collect()
}

/// A `struct timespec` for `ms` milliseconds.
fn timeout(w: &mut World, ms: u64) -> u64 {
    let mut t = Vec::new();
    t.extend_from_slice(&(ms / 1000).to_le_bytes());
    t.extend_from_slice(&((ms % 1000) * 1_000_000).to_le_bytes());
    w.put(&t)
}

/// Registers `changes` on `kq` without collecting.
fn change(w: &mut World, kq: u64, changes: &[[u8; 64]]) -> i64 {
    let list: Vec<u8> = changes.iter().flatten().copied().collect();
    let at = w.put(&list);
    sys(w, KEVENT, &[kq, at, changes.len() as u64, 0, 0, 0])
}

/// Collects up to 8 events, waiting at most `ms` (`None`: forever).
fn collect(w: &mut World, kq: u64, ms: Option<u64>) -> Vec<Ev> {
    let out = w.buf(8 * 64);
    let t = ms.map_or(0, |ms| timeout(w, ms));
    let n = sys(w, KEVENT, &[kq, 0, 0, out, 8, t]);
    events(w, out, n)
}

/// The pid of a fresh child of the test process.
fn child(w: &World) -> Result<Pid, String> {
    w.sys.procs.fork(w.pid).map_err(|e| e.to_string())
}

/// Runs a call as process `pid` with its own scratch memory.
fn as_pid(w: &World, pid: Pid, nr: u64, args: &[u64]) -> i64 {
    as_pid_sys(&w.sys, pid, nr, args)
}

/// [`as_pid`] from another thread, given only the libOS.
fn as_pid_sys(sys: &libos::system::System, pid: Pid, nr: u64, args: &[u64]) -> i64 {
    let mut mem = VecMemory::new();
    mem.map(0x1000, 4096);
    raw(
        &mut Ctx {
            sys,
            pid,
            mem: &mut mem,
        },
        nr,
        args,
    )
}

fn open_read_write_close() -> Result<(), String> {
    let mut w = World::new();
    create(&mut w, "/tmp/f", b"hello freebsd")?;
    let p = w.cstr("/tmp/f");
    let fd = sys(&mut w, OPEN, &[p, O_RDONLY]);
    check!(fd == 0, "lowest free descriptor: {fd}");
    let buf = w.buf(64);
    check!(
        sys(&mut w, READ, &[fd as u64, buf, 64]) == 13,
        "read length"
    );
    check!(w.get(buf, 13) == b"hello freebsd", "contents");
    check!(sys(&mut w, READ, &[fd as u64, buf, 64]) == 0, "EOF");
    check!(sys(&mut w, CLOSE, &[fd as u64]) == 0, "close");
    check!(sys(&mut w, CLOSE, &[fd as u64]) == EBADF, "double close");
    Ok(())
}

fn carry_flag_convention() -> Result<(), String> {
    let mut w = World::new();
    let p = w.cstr("/no/such/file");
    let r = exo_freebsd::syscall(&mut w.ctx(), OPEN, [p, 0, 0, 0, 0, 0]);
    check!(
        r.carry && r.rax == 2 && r.errno() == Some(2) && r.value().is_none(),
        "ENOENT is rax 2 with the carry set: {r:?}"
    );
    let r = exo_freebsd::syscall(&mut w.ctx(), GETPID, [0; 6]);
    check!(
        !r.carry && r.rax == u64::from(w.pid) && r.value() == Some(u64::from(w.pid)),
        "success clears the carry: {r:?}"
    );
    let r = exo_freebsd::syscall(&mut w.ctx(), 9999, [0; 6]);
    check!(r == exo_freebsd::SysResult::err(78), "ENOSYS is 78: {r:?}");
    check!(exo_freebsd::TABLE.name == "freebsd", "table name");
    Ok(())
}

fn errno_numbers_are_freebsd() -> Result<(), String> {
    use exo_freebsd::errno;
    use libos::Errno;
    for (e, n) in [
        (Errno::EAGAIN, 35),
        (Errno::EDEADLK, 11),
        (Errno::ENAMETOOLONG, 63),
        (Errno::ENOSYS, 78),
        (Errno::ENOTEMPTY, 66),
        (Errno::ELOOP, 62),
        (Errno::ETIMEDOUT, 60),
        (Errno::EPIPE, 32),
        (Errno::ERANGE, 34),
    ] {
        check!(errno(e) == n, "{e:?} → {} (want {n})", errno(e));
    }
    for e in Errno::ALL {
        let n = errno(*e);
        check!((1..=97).contains(&n), "{e:?} → {n} outside 1..=ELAST");
    }
    let mut w = World::new();
    let p = w.cstr("/no/such/file");
    check!(sys(&mut w, OPEN, &[p, O_RDONLY]) == ENOENT, "ENOENT");
    check!(sys(&mut w, READ, &[77, 0, 0]) == EBADF, "EBADF");
    let d = w.cstr("/tmp");
    check!(sys(&mut w, OPEN, &[d, O_WRONLY]) == EISDIR, "EISDIR");
    check!(sys(&mut w, OPEN, &[p, 3]) == EINVAL, "bad access mode");
    check!(sys(&mut w, 9999, &[]) == ENOSYS, "ENOSYS");
    Ok(())
}

fn bad_pointers_are_efault() -> Result<(), String> {
    let mut w = World::new();
    check!(
        sys(&mut w, OPEN, &[0xdead_0000, O_RDONLY]) == EFAULT,
        "path pointer"
    );
    create(&mut w, "/tmp/f", b"x")?;
    let p = w.cstr("/tmp/f");
    let fd = sys(&mut w, OPEN, &[p, O_RDONLY]) as u64;
    check!(
        sys(&mut w, READ, &[fd, 0xdead_0000, 1]) == EFAULT,
        "read buffer"
    );
    check!(
        sys(&mut w, FSTAT, &[fd, 0xdead_0000]) == EFAULT,
        "stat buffer"
    );
    check!(
        sys(&mut w, PIPE2, &[0xdead_0000, 0]) == EFAULT,
        "pipe array"
    );
    check!(sys(&mut w, GETPID, &[]) > 0, "still alive");
    Ok(())
}

fn struct_stat_layout() -> Result<(), String> {
    let mut w = World::new();
    create(&mut w, "/tmp/s", &[7u8; 1234])?;
    let p = w.cstr("/tmp/s");
    // 224 bytes of struct plus 8 guard bytes that must stay untouched.
    let st = w.put(&[0xaau8; 232]);
    check!(sys(&mut w, FSTATAT, &[AT_FDCWD, p, st, 0]) == 0, "fstatat");
    check!(w.get(st + 224, 8) == [0xaa; 8], "wrote past 224 bytes");
    check!(u64_at(&w, st, 112) == 1234, "st_size at 112");
    check!(
        u16_at(&w, st, 24) == 0o100_644,
        "st_mode (u16) at 24: {:o}",
        u16_at(&w, st, 24)
    );
    check!(u16_at(&w, st, 26) == 0, "st_padding0");
    check!(u64_at(&w, st, 16) == 1, "st_nlink (u64) at 16");
    check!(u32_at(&w, st, 128) == 4096, "st_blksize at 128");
    check!(u64_at(&w, st, 120) == 3, "st_blocks at 120");
    check!(u64_at(&w, st, 8) != 0, "st_ino at 8");
    check!(
        u64_at(&w, st, 96) as i64 == -1,
        "st_birthtim unknown (-1) at 96"
    );
    check!(
        u32_at(&w, st, 132) == 0 && u64_at(&w, st, 136) == 0,
        "st_flags, st_gen"
    );
    let fd = sys(&mut w, OPEN, &[p, O_RDONLY]) as u64;
    let st2 = w.buf(224);
    check!(sys(&mut w, FSTAT, &[fd, st2]) == 0, "fstat");
    check!(
        w.get(st, 224) == w.get(st2, 224),
        "fstat agrees with fstatat"
    );
    Ok(())
}

fn symlinks_and_nofollow() -> Result<(), String> {
    let mut w = World::new();
    create(&mut w, "/tmp/t", b"abc")?;
    let (t, l) = (w.cstr("/tmp/t"), w.cstr("/tmp/l"));
    check!(sys(&mut w, SYMLINK, &[t, l]) == 0, "symlink");
    let st = w.buf(224);
    check!(
        sys(&mut w, FSTATAT, &[AT_FDCWD, l, st, AT_SYMLINK_NOFOLLOW]) == 0,
        "lstat"
    );
    check!(u16_at(&w, st, 24) & 0o170_000 == 0o120_000, "S_IFLNK");
    check!(u64_at(&w, st, 112) == 6, "link size is the target length");
    check!(
        sys(&mut w, FSTATAT, &[AT_FDCWD, l, st, 0]) == 0 && u64_at(&w, st, 112) == 3,
        "stat follows"
    );
    check!(
        sys(&mut w, FSTATAT, &[AT_FDCWD, l, st, 0x100]) == EINVAL,
        "Linux's AT_SYMLINK_NOFOLLOW is not FreeBSD's"
    );
    let buf = w.buf(64);
    check!(sys(&mut w, READLINK, &[l, buf, 64]) == 6, "readlink");
    check!(w.get(buf, 6) == b"/tmp/t", "target");
    check!(sys(&mut w, READLINK, &[t, buf, 64]) == EINVAL, "not a link");
    let (a, b) = (w.cstr("/tmp/a"), w.cstr("/tmp/b"));
    sys(&mut w, SYMLINK, &[b, a]);
    sys(&mut w, SYMLINK, &[a, b]);
    check!(
        sys(&mut w, FSTATAT, &[AT_FDCWD, a, st, 0]) == ELOOP,
        "ELOOP is 62"
    );
    Ok(())
}

fn lseek_and_append() -> Result<(), String> {
    let mut w = World::new();
    create(&mut w, "/tmp/f", b"0123456789")?;
    let p = w.cstr("/tmp/f");
    let fd = sys(&mut w, OPEN, &[p, O_RDWR | O_APPEND]) as u64;
    check!(sys(&mut w, LSEEK, &[fd, 3, 0]) == 3, "SEEK_SET");
    check!(sys(&mut w, LSEEK, &[fd, 2, 1]) == 5, "SEEK_CUR");
    check!(sys(&mut w, LSEEK, &[fd, -1i64 as u64, 2]) == 9, "SEEK_END");
    check!(
        sys(&mut w, LSEEK, &[fd, -100i64 as u64, 1]) == EINVAL,
        "negative"
    );
    let d = w.put(b"!");
    sys(&mut w, WRITE, &[fd, d, 1]);
    check!(
        sys(&mut w, LSEEK, &[fd, 0, 1]) == 11,
        "O_APPEND (8) wrote at the end"
    );
    check!(sys(&mut w, LSEEK, &[fd, 4, 3]) == 4, "SEEK_DATA: all data");
    check!(sys(&mut w, LSEEK, &[fd, 4, 4]) == 11, "SEEK_HOLE: the end");
    check!(
        sys(&mut w, LSEEK, &[fd, 11, 3]) == -6,
        "SEEK_DATA at the end: ENXIO"
    );
    let (r, _) = pipe(&mut w, 0)?;
    check!(sys(&mut w, LSEEK, &[r, 0, 0]) == ESPIPE, "ESPIPE on a pipe");
    check!(
        sys(&mut w, LSEEK, &[r, 0, 3]) == ESPIPE,
        "SEEK_DATA on a pipe"
    );
    Ok(())
}

fn at_calls_relative_to_a_directory() -> Result<(), String> {
    let mut w = World::new();
    let d = w.cstr("/tmp/dir");
    check!(
        sys(&mut w, MKDIRAT, &[AT_FDCWD, d, 0o755]) == 0,
        "mkdirat AT_FDCWD (-100)"
    );
    let dfd = sys(&mut w, OPEN, &[d, O_RDONLY | O_DIRECTORY]) as u64;
    let name = w.cstr("inner");
    let fd = sys(
        &mut w,
        OPENAT,
        &[dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0o600],
    );
    check!(fd >= 0, "openat O_CREAT|O_EXCL: {fd}");
    check!(
        sys(
            &mut w,
            OPENAT,
            &[dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0o600]
        ) == EEXIST,
        "O_EXCL (0x800)"
    );
    let st = w.buf(224);
    check!(
        sys(&mut w, FSTATAT, &[dfd, name, st, 0]) == 0,
        "fstatat relative"
    );
    check!(u16_at(&w, st, 24) == 0o100_600, "mode");
    let f = w.cstr("/tmp/dir/inner");
    let ffd = sys(&mut w, OPEN, &[f, O_RDONLY]) as u64;
    check!(
        sys(&mut w, OPENAT, &[ffd, name, O_RDONLY]) == ENOTDIR,
        "dirfd not a directory"
    );
    check!(
        sys(&mut w, OPEN, &[f, O_RDONLY | O_DIRECTORY]) == ENOTDIR,
        "O_DIRECTORY (0x20000) on a file"
    );
    check!(
        sys(&mut w, UNLINKAT, &[dfd, name, 0]) == 0,
        "unlinkat relative"
    );
    check!(
        sys(&mut w, UNLINKAT, &[AT_FDCWD, d, AT_REMOVEDIR]) == 0,
        "unlinkat AT_REMOVEDIR (0x800)"
    );
    Ok(())
}

/// Parses FreeBSD 12 dirent records: (name, type, fileno, off, namlen).
fn dirents(bytes: &[u8]) -> Result<Vec<(String, u8, u64, u64)>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let reclen = u16::from_le_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
        let namlen = u16::from_le_bytes([bytes[at + 20], bytes[at + 21]]) as usize;
        check!(
            reclen.is_multiple_of(8) && reclen == (24 + namlen + 1).next_multiple_of(8),
            "reclen {reclen} for namlen {namlen}"
        );
        check!(bytes[at + 24 + namlen] == 0, "name NUL-terminated");
        let fileno = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        let off = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().expect("8"));
        let name = String::from_utf8_lossy(&bytes[at + 24..at + 24 + namlen]).into_owned();
        out.push((name, bytes[at + 18], fileno, off));
        at += reclen;
    }
    Ok(out)
}

fn getdirentries_records() -> Result<(), String> {
    let mut w = World::new();
    let d = w.cstr("/tmp/g");
    sys(&mut w, MKDIR, &[d, 0o755]);
    for n in ["a", "bb", "ccccccccc"] {
        create(&mut w, &format!("/tmp/g/{n}"), b"")?;
    }
    let fd = sys(&mut w, OPEN, &[d, O_RDONLY | O_DIRECTORY]) as u64;
    let (buf, basep) = (w.buf(4096), w.buf(8));
    let n = sys(&mut w, GETDIRENTRIES, &[fd, buf, 4096, basep]);
    check!(n > 0, "getdirentries: {n}");
    check!(u64_at(&w, basep, 0) == 0, "*basep is where the read began");
    let recs = dirents(&w.get(buf, n as usize))?;
    let names: Vec<(&str, u8)> = recs.iter().map(|r| (r.0.as_str(), r.1)).collect();
    check!(
        names.contains(&("ccccccccc", 8)) && names.contains(&(".", 4)),
        "{names:?}"
    );
    check!(recs.len() == 5, "., .. and three files: {names:?}");
    check!(
        recs.iter().enumerate().all(|(i, r)| r.3 == i as u64 + 1),
        "d_off is the next entry's offset: {recs:?}"
    );
    check!(recs.iter().all(|r| r.2 != 0), "d_fileno");
    check!(
        sys(&mut w, GETDIRENTRIES, &[fd, buf, 4096, basep]) == 0,
        "end"
    );
    check!(u64_at(&w, basep, 0) == 5, "*basep at the end");
    let fd2 = sys(&mut w, OPEN, &[d, O_RDONLY | O_DIRECTORY]) as u64;
    check!(
        sys(&mut w, GETDIRENTRIES, &[fd2, buf, 16, 0]) == EINVAL,
        "buffer too small for one record"
    );
    // One record at a time: a 32-byte buffer holds "." (24 + 2 → 32).
    let n = sys(&mut w, GETDIRENTRIES, &[fd2, buf, 32, basep]);
    check!(n == 32, "one record: {n}");
    let n = sys(&mut w, GETDIRENTRIES, &[fd2, buf, 32, basep]);
    check!(
        n == 32 && u64_at(&w, basep, 0) == 1,
        "next one from offset 1"
    );
    Ok(())
}

fn mkdir_rmdir_unlink_rename() -> Result<(), String> {
    let mut w = World::new();
    let (d, f, g) = (w.cstr("/tmp/d"), w.cstr("/tmp/d/f"), w.cstr("/tmp/g"));
    check!(sys(&mut w, MKDIR, &[d, 0o755]) == 0, "mkdir");
    check!(sys(&mut w, MKDIR, &[d, 0o755]) == EEXIST, "EEXIST");
    create(&mut w, "/tmp/d/f", b"x")?;
    check!(sys(&mut w, RMDIR, &[d]) == ENOTEMPTY, "ENOTEMPTY is 66");
    check!(
        sys(&mut w, UNLINK, &[d]) == EPERM,
        "unlink of a directory is EPERM on FreeBSD"
    );
    check!(sys(&mut w, RENAME, &[f, g]) == 0, "rename");
    check!(sys(&mut w, UNLINK, &[f]) == ENOENT, "moved away");
    check!(sys(&mut w, RMDIR, &[d]) == 0, "rmdir");
    check!(sys(&mut w, RMDIR, &[g]) == ENOTDIR, "rmdir a file");
    check!(sys(&mut w, UNLINK, &[g]) == 0, "unlink");
    Ok(())
}

fn getcwd_chdir_fchdir() -> Result<(), String> {
    let mut w = World::new();
    let d = w.cstr("/tmp/work");
    sys(&mut w, MKDIR, &[d, 0o755]);
    check!(sys(&mut w, CHDIR, &[d]) == 0, "chdir");
    let buf = w.buf(64);
    check!(sys(&mut w, GETCWD, &[buf, 64]) == 0, "__getcwd returns 0");
    check!(w.get(buf, 10) == b"/tmp/work\0", "path with NUL");
    check!(
        sys(&mut w, GETCWD, &[buf, 5]) == ENOMEM,
        "too small: ENOMEM"
    );
    check!(sys(&mut w, GETCWD, &[buf, 1]) == EINVAL, "below 2 bytes");
    let root = w.cstr("/");
    let rfd = sys(&mut w, OPEN, &[root, O_RDONLY | O_DIRECTORY]) as u64;
    check!(sys(&mut w, FCHDIR, &[rfd]) == 0, "fchdir");
    sys(&mut w, GETCWD, &[buf, 64]);
    check!(w.get(buf, 2) == b"/\0", "back at /");
    create(&mut w, "/tmp/file", b"")?;
    let f = w.cstr("/tmp/file");
    let ffd = sys(&mut w, OPEN, &[f, O_RDONLY]) as u64;
    check!(sys(&mut w, FCHDIR, &[ffd]) == ENOTDIR, "fchdir to a file");
    check!(sys(&mut w, CHDIR, &[f]) == ENOTDIR, "chdir to a file");
    Ok(())
}

fn dup_dup2_fcntl() -> Result<(), String> {
    let mut w = World::new();
    create(&mut w, "/tmp/f", b"abcdef")?;
    let p = w.cstr("/tmp/f");
    let fd = sys(&mut w, OPEN, &[p, O_RDONLY | O_CLOEXEC]) as u64;
    check!(
        sys(&mut w, FCNTL, &[fd, 1]) == 1,
        "O_CLOEXEC (0x100000) sets FD_CLOEXEC"
    );
    check!(sys(&mut w, DUP, &[fd]) == 1, "dup takes the lowest");
    check!(sys(&mut w, FCNTL, &[1, 1]) == 0, "dup clears FD_CLOEXEC");
    check!(sys(&mut w, DUP2, &[fd, 10]) == 10, "dup2");
    check!(sys(&mut w, DUP2, &[fd, 5000]) == EBADF, "dup2 out of range");
    check!(
        sys(&mut w, FCNTL, &[fd, 17, 20]) == 20,
        "F_DUPFD_CLOEXEC (17) at least 20"
    );
    check!(sys(&mut w, FCNTL, &[20, 1]) == 1, "with FD_CLOEXEC");
    check!(
        sys(&mut w, FCNTL, &[fd, 10, 30]) == 30,
        "F_DUP2FD (10) onto 30"
    );
    let buf = w.buf(8);
    sys(&mut w, READ, &[fd, buf, 2]);
    sys(&mut w, READ, &[30, buf, 2]);
    check!(w.get(buf, 2) == b"cd", "shared offset");
    check!(sys(&mut w, FCNTL, &[fd, 3]) == 0, "F_GETFL O_RDONLY");
    check!(
        sys(&mut w, FCNTL, &[fd, 4, O_NONBLOCK | O_APPEND]) == 0,
        "F_SETFL"
    );
    check!(
        sys(&mut w, FCNTL, &[fd, 3]) as u64 == O_NONBLOCK | O_APPEND,
        "F_GETFL: O_NONBLOCK 4 | O_APPEND 8"
    );
    check!(sys(&mut w, FCNTL, &[fd, 999]) == EINVAL, "bad command");
    Ok(())
}

fn pipes_nonblocking_and_sigpipe() -> Result<(), String> {
    let mut w = World::new();
    let (r, wr) = pipe(&mut w, O_NONBLOCK | O_CLOEXEC)?;
    let buf = w.buf(16);
    check!(sys(&mut w, READ, &[r, buf, 16]) == EAGAIN, "EAGAIN is 35");
    let d = w.put(b"ping");
    check!(sys(&mut w, WRITE, &[wr, d, 4]) == 4, "write");
    let n = w.buf(4);
    check!(
        sys(&mut w, IOCTL, &[r, 0x4004_667f, n]) == 0 && u32_at(&w, n, 0) == 4,
        "FIONREAD"
    );
    check!(sys(&mut w, READ, &[r, buf, 16]) == 4, "read");
    check!(sys(&mut w, FCNTL, &[r, 1]) == 1, "O_CLOEXEC");
    check!(sys(&mut w, CLOSE, &[r]) == 0, "close read end");
    check!(sys(&mut w, WRITE, &[wr, d, 4]) == EPIPE, "EPIPE");
    let pending = w
        .sys
        .procs
        .get(w.pid)
        .map_err(|e| e.to_string())?
        .signals
        .pending;
    check!(pending.contains(Signal::SIGPIPE), "SIGPIPE raised");
    check!(
        sys(&mut w, PIPE2, &[buf, 0o4000]) == EINVAL,
        "Linux's O_NONBLOCK is not a FreeBSD pipe2 flag"
    );
    Ok(())
}

fn readv_writev() -> Result<(), String> {
    let mut w = World::new();
    let p = w.cstr("/tmp/v");
    let fd = sys(&mut w, OPEN, &[p, O_RDWR | O_CREAT, 0o644]) as u64;
    let (a, b) = (w.put(b"hello "), w.put(b"vectors"));
    let mut iov = Vec::new();
    for (base, len) in [(a, 6u64), (b, 7)] {
        iov.extend_from_slice(&base.to_le_bytes());
        iov.extend_from_slice(&len.to_le_bytes());
    }
    let iov = w.put(&iov);
    check!(sys(&mut w, WRITEV, &[fd, iov, 2]) == 13, "writev");
    sys(&mut w, LSEEK, &[fd, 0, 0]);
    let (x, y) = (w.buf(5), w.buf(20));
    let mut iov2 = Vec::new();
    for (base, len) in [(x, 5u64), (y, 20)] {
        iov2.extend_from_slice(&base.to_le_bytes());
        iov2.extend_from_slice(&len.to_le_bytes());
    }
    let iov2 = w.put(&iov2);
    check!(sys(&mut w, READV, &[fd, iov2, 2]) == 13, "readv");
    check!(
        w.get(x, 5) == b"hello" && w.get(y, 8) == b" vectors",
        "scattered"
    );
    check!(
        sys(&mut w, WRITEV, &[fd, iov, 5000]) == EINVAL,
        "iovcnt > IOV_MAX"
    );
    Ok(())
}

fn ioctl_terminals() -> Result<(), String> {
    let mut w = World::new();
    let tty = w.cstr("/dev/tty");
    let fd = sys(&mut w, OPEN, &[tty, O_RDWR]) as u64;
    let ws = w.buf(8);
    check!(
        sys(&mut w, IOCTL, &[fd, 0x4008_7468, ws]) == 0,
        "TIOCGWINSZ"
    );
    check!(w.get(ws, 4) == [24, 0, 80, 0], "24x80");
    let t = w.put(&[0xaa; 48]);
    check!(sys(&mut w, IOCTL, &[fd, 0x402c_7413, t]) == 0, "TIOCGETA");
    check!(w.get(t + 44, 4) == [0xaa; 4], "termios is 44 bytes");
    check!(
        u32_at(&w, t, 8) & 0x300 == 0x300 && u32_at(&w, t, 8) & 0x800 != 0,
        "c_cflag CS8 | CREAD"
    );
    check!(u32_at(&w, t, 12) & 0x100 != 0, "c_lflag ICANON (0x100)");
    check!(w.get(t + 16 + 8, 1) == [3], "VINTR is ^C at c_cc[8]");
    check!(u32_at(&w, t, 36) == 9600, "c_ispeed");
    create(&mut w, "/tmp/f", b"")?;
    let f = w.cstr("/tmp/f");
    let ffd = sys(&mut w, OPEN, &[f, O_RDONLY]) as u64;
    check!(
        sys(&mut w, IOCTL, &[ffd, 0x402c_7413, t]) == ENOTTY,
        "ENOTTY on a file"
    );
    check!(
        sys(&mut w, IOCTL, &[fd, 0x5413, ws]) == ENOTTY,
        "Linux's TIOCGWINSZ number is not FreeBSD's"
    );
    Ok(())
}

fn clocks_sleep_and_random() -> Result<(), String> {
    let mut w = World::new();
    let ts = w.buf(16);
    check!(
        sys(&mut w, CLOCK_GETTIME, &[4, ts]) == 0,
        "CLOCK_MONOTONIC (4)"
    );
    let t0 = u64_at(&w, ts, 0) * 1_000_000_000 + u64_at(&w, ts, 8);
    check!(u64_at(&w, ts, 8) < 1_000_000_000, "nsec in range");
    check!(
        sys(&mut w, CLOCK_GETTIME, &[1, ts]) == EINVAL,
        "CLOCK_VIRTUAL: no CPU accounting"
    );
    check!(sys(&mut w, CLOCK_GETTIME, &[99, ts]) == EINVAL, "bad clock");
    let req = timeout(&mut w, 30);
    let start = Instant::now();
    check!(sys(&mut w, NANOSLEEP, &[req, 0]) == 0, "nanosleep");
    check!(
        start.elapsed() >= Duration::from_millis(25),
        "slept {:?}",
        start.elapsed()
    );
    sys(&mut w, CLOCK_GETTIME, &[4, ts]);
    let t1 = u64_at(&w, ts, 0) * 1_000_000_000 + u64_at(&w, ts, 8);
    check!(
        t1 >= t0 + 30_000_000,
        "monotonic clock advanced {}",
        t1 - t0
    );
    let bad = w.put(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0xca, 0x9a, 0x3b, 0, 0, 0, 0]);
    check!(sys(&mut w, NANOSLEEP, &[bad, 0]) == EINVAL, "nsec of 10^9");
    let (tv, tz) = (w.buf(16), w.put(&[0xff; 8]));
    check!(sys(&mut w, GETTIMEOFDAY, &[tv, tz]) == 0, "gettimeofday");
    check!(u64_at(&w, tv, 8) < 1_000_000, "tv_usec");
    check!(w.get(tz, 8) == [0; 8], "timezone zeroed");
    let (a, b) = (w.buf(64), w.buf(64));
    check!(sys(&mut w, GETRANDOM, &[a, 64, 0]) == 64, "getrandom");
    check!(sys(&mut w, GETRANDOM, &[b, 64, 1]) == 64, "GRND_NONBLOCK");
    check!(w.get(a, 64) != w.get(b, 64), "different bytes");
    check!(sys(&mut w, GETRANDOM, &[a, 8, 0x80]) == EINVAL, "bad flags");
    Ok(())
}

fn sigaction_and_sigprocmask() -> Result<(), String> {
    let mut w = World::new();
    // struct sigaction { handler; int sa_flags; sigset_t sa_mask; }:
    // SA_RESTART (2), mask = SIGUSR2 (31 → bit 30).
    let mut act = vec![0u8; 32];
    act[0..8].copy_from_slice(&0x40_1000u64.to_le_bytes());
    act[8..12].copy_from_slice(&2u32.to_le_bytes());
    act[12..16].copy_from_slice(&(1u32 << 30).to_le_bytes());
    let act = w.put(&act);
    let old = w.buf(32);
    check!(
        sys(&mut w, SIGACTION, &[SIGUSR1, act, old]) == 0,
        "install a SIGUSR1 (30) handler"
    );
    check!(u64_at(&w, old, 0) == 0, "was SIG_DFL");
    check!(sys(&mut w, SIGACTION, &[SIGUSR1, 0, old]) == 0, "query");
    check!(
        u64_at(&w, old, 0) == 0x40_1000 && u32_at(&w, old, 8) == 2,
        "handler and SA_RESTART back"
    );
    check!(
        u32_at(&w, old, 12) == 1 << 30 && u32_at(&w, old, 16) == 0,
        "sa_mask SIGUSR2 at bit 30 of word 0"
    );
    let dispo = w
        .sys
        .procs
        .get(w.pid)
        .map_err(|e| e.to_string())?
        .signals
        .actions[usize::from(Signal::SIGUSR1.number() - 1)];
    check!(
        matches!(
            dispo,
            libos::signal::Disposition::Handler {
                entry: 0x40_1000,
                flags,
                ..
            } if flags.contains(libos::signal::ActionFlags::RESTART)
        ),
        "libOS SIGUSR1 got it: {dispo:?}"
    );
    check!(
        sys(&mut w, SIGACTION, &[SIGKILL, act, 0]) == EINVAL,
        "SIGKILL"
    );
    check!(
        sys(&mut w, SIGACTION, &[29, act, 0]) == EINVAL,
        "SIGINFO has no libOS counterpart"
    );
    // SIG_BLOCK (1) SIGUSR1: bit 29.
    let mut set = [0u8; 16];
    set[0..4].copy_from_slice(&(1u32 << 29).to_le_bytes());
    let set = w.put(&set);
    let oset = w.buf(16);
    check!(sys(&mut w, SIGPROCMASK, &[1, set, oset]) == 0, "SIG_BLOCK");
    check!(sys(&mut w, SIGPROCMASK, &[0, set, oset]) == EINVAL, "how 0");
    check!(
        sys(&mut w, SIGPROCMASK, &[3, 0, oset]) == 0,
        "query the mask"
    );
    check!(
        w.get(oset, 16) == [0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        "SIGUSR1 blocked: {:?}",
        w.get(oset, 16)
    );
    let mask = w
        .sys
        .procs
        .get(w.pid)
        .map_err(|e| e.to_string())?
        .signals
        .mask;
    check!(mask.contains(Signal::SIGUSR1), "libOS mask has SIGUSR1");
    let pid = u64::from(w.pid);
    check!(sys(&mut w, KILL, &[pid, SIGUSR1]) == 0, "kill self");
    let pending = w
        .sys
        .procs
        .get(w.pid)
        .map_err(|e| e.to_string())?
        .signals
        .pending;
    check!(pending.contains(Signal::SIGUSR1), "SIGUSR1 pending");
    check!(sys(&mut w, KILL, &[99_999, 0]) == ESRCH, "ESRCH");
    check!(sys(&mut w, KILL, &[pid, 200]) == EINVAL, "bad signal");
    Ok(())
}

fn wait4_status_words() -> Result<(), String> {
    let mut w = World::new();
    check!(
        sys(&mut w, WAIT4, &[-1i64 as u64, 0, 1, 0]) == ECHILD,
        "no children: ECHILD"
    );
    let c = child(&w)?;
    check!(
        sys(&mut w, WAIT4, &[-1i64 as u64, 0, 1, 0]) == 0,
        "WNOHANG, still running"
    );
    check!(
        as_pid(&w, c, EXIT, &[3]) == 0,
        "child exits through the personality"
    );
    let (status, ru) = (w.buf(4), w.put(&[0xff; 144]));
    check!(
        sys(&mut w, WAIT4, &[u64::from(c), status, 0, ru]) == i64::from(c),
        "reaped"
    );
    check!(u32_at(&w, status, 0) == 0x300, "exit 3 → 0x300");
    check!(w.get(ru, 144) == vec![0; 144], "rusage zeroed (144 bytes)");
    // Killed by SIGUSR1: the status holds FreeBSD's 30, not the libOS's 10.
    let c2 = child(&w)?;
    w.sys
        .procs
        .exit(
            c2,
            ExitStatus::Signaled {
                signal: Signal::SIGUSR1,
                core: false,
            },
        )
        .map_err(|e| e.to_string())?;
    check!(
        sys(&mut w, WAIT4, &[u64::from(c2), status, 0, 0]) == i64::from(c2),
        "reaped"
    );
    check!(
        u32_at(&w, status, 0) == 30,
        "signal status {}",
        u32_at(&w, status, 0)
    );
    Ok(())
}

fn wait6_idtypes_and_siginfo() -> Result<(), String> {
    const P_PID: u64 = 0;
    const P_PGID: u64 = 2;
    const P_ALL: u64 = 7;
    const WNOHANG: u64 = 1;
    const WNOWAIT: u64 = 8;
    const WEXITED: u64 = 16;
    let mut w = World::new();
    let c = child(&w)?;
    let (status, wru, info) = (w.buf(4), w.put(&[0xff; 288]), w.buf(80));
    check!(
        sys(
            &mut w,
            WAIT6,
            &[P_ALL, 0, status, WEXITED | WNOHANG, 0, info]
        ) == 0,
        "WNOHANG with a running child"
    );
    check!(
        sys(&mut w, WAIT6, &[P_ALL, 0, status, WNOHANG, 0, 0]) == EINVAL,
        "no WEXITED/WUNTRACED/…: EINVAL"
    );
    check!(
        sys(&mut w, WAIT6, &[99, 0, status, WEXITED, 0, 0]) == EINVAL,
        "bad idtype"
    );
    check!(as_pid(&w, c, EXIT, &[42]) == 0, "child exits");
    check!(
        sys(
            &mut w,
            WAIT6,
            &[P_PID, u64::from(c), status, WEXITED | WNOWAIT, wru, info]
        ) == i64::from(c),
        "WNOWAIT sees it"
    );
    check!(w.sys.procs.get(c).is_ok(), "WNOWAIT leaves the zombie");
    let pgid = u64::from(w.sys.procs.get(w.pid).map_err(|e| e.to_string())?.pgid);
    check!(
        sys(&mut w, WAIT6, &[P_PGID, pgid, status, WEXITED, wru, info]) == i64::from(c),
        "P_PGID reaps it"
    );
    check!(w.sys.procs.get(c).is_err(), "gone");
    check!(u32_at(&w, status, 0) == 42 << 8, "status");
    check!(
        w.get(wru, 288) == vec![0; 288],
        "__wrusage zeroed (2 × 144)"
    );
    check!(u32_at(&w, info, 0) == 20, "si_signo SIGCHLD (20)");
    check!(u32_at(&w, info, 8) == 1, "si_code CLD_EXITED");
    check!(u32_at(&w, info, 12) == c, "si_pid");
    check!(u32_at(&w, info, 16) == 0, "si_uid");
    check!(u32_at(&w, info, 20) == 42, "si_status");
    check!(
        sys(&mut w, WAIT6, &[P_ALL, 0, status, WEXITED, 0, 0]) == ECHILD,
        "no more children"
    );
    Ok(())
}

fn fork_and_rfork() -> Result<(), String> {
    const RFFDG: u64 = 1 << 2;
    const RFPROC: u64 = 1 << 4;
    const RFMEM: u64 = 1 << 5;
    const RFNOWAIT: u64 = 1 << 6;
    const RFCFDG: u64 = 1 << 12;
    let mut w = World::new();
    create(&mut w, "/tmp/f", b"x")?;
    let p = w.cstr("/tmp/f");
    let fd = sys(&mut w, OPEN, &[p, O_RDONLY]);
    let kq = sys(&mut w, KQUEUE, &[]);
    check!(fd == 0 && kq == 1, "fd {fd}, kq {kq}");
    let c = sys(&mut w, FORK, &[]);
    check!(
        c > 0 && c != i64::from(w.pid),
        "fork returns the child: {c}"
    );
    let c = c as u32;
    check!(
        as_pid(&w, c, GETPPID, &[]) == i64::from(w.pid),
        "child's parent"
    );
    let fds: Vec<usize> = w
        .sys
        .procs
        .get(c)
        .map_err(|e| e.to_string())?
        .fds
        .iter()
        .map(|(fd, _)| fd)
        .collect();
    check!(
        fds == [0],
        "descriptors copied, kqueue not inherited: {fds:?}"
    );
    let c2 = sys(&mut w, RFORK, &[RFPROC | RFCFDG]);
    check!(c2 > 0, "rfork(RFPROC|RFCFDG): {c2}");
    check!(
        w.sys
            .procs
            .get(c2 as u32)
            .map_err(|e| e.to_string())?
            .fds
            .iter()
            .count()
            == 0,
        "clean descriptor table"
    );
    let c3 = sys(&mut w, RFORK, &[RFPROC | RFFDG]);
    check!(
        w.sys
            .procs
            .get(c3 as u32)
            .map_err(|e| e.to_string())?
            .fds
            .iter()
            .count()
            == 1,
        "rfork(RFPROC|RFFDG) copies"
    );
    let c4 = sys(&mut w, RFORK, &[RFPROC | RFFDG | RFNOWAIT]);
    check!(
        as_pid(&w, c4 as u32, GETPPID, &[]) == 1,
        "RFNOWAIT gives the child to init"
    );
    check!(
        sys(&mut w, RFORK, &[RFPROC | RFFDG | RFCFDG]) == EINVAL,
        "RFFDG with RFCFDG"
    );
    check!(
        sys(&mut w, RFORK, &[RFPROC]) == EINVAL,
        "sharing the descriptor table is not supported"
    );
    check!(
        sys(&mut w, RFORK, &[RFPROC | RFMEM | RFFDG]) == EINVAL,
        "RFMEM"
    );
    check!(
        sys(&mut w, RFORK, &[RFCFDG]) == 0,
        "rfork(RFCFDG) on the caller"
    );
    check!(
        sys(&mut w, CLOSE, &[fd as u64]) == EBADF,
        "the caller's descriptors are gone"
    );
    Ok(())
}

/// Reads a sysctl by MIB: (result, bytes, reported length).
fn sysctl_mib(w: &mut World, mib: &[i32], room: usize) -> (i64, Vec<u8>, u64) {
    let name: Vec<u8> = mib.iter().flat_map(|v| v.to_le_bytes()).collect();
    let name = w.put(&name);
    let old = w.buf(room.max(1));
    let len = w.put(&(room as u64).to_le_bytes());
    let r = sys(w, SYSCTL, &[name, mib.len() as u64, old, len, 0, 0]);
    let n = u64_at(w, len, 0);
    (r, w.get(old, (n as usize).min(room)), n)
}

fn sysctl_kern_values() -> Result<(), String> {
    let mut w = World::new();
    let (r, v, n) = sysctl_mib(&mut w, &[1, 1], 64);
    check!(
        r == 0 && v == b"FreeBSD\0" && n == 8,
        "kern.ostype: {r} {v:?}"
    );
    let (r, v, _) = sysctl_mib(&mut w, &[1, 2], 64);
    check!(r == 0 && v.ends_with(b"-RELEASE\0"), "kern.osrelease {v:?}");
    let (r, v, n) = sysctl_mib(&mut w, &[1, 3], 64);
    check!(
        r == 0 && n == 4 && v == 199_506i32.to_le_bytes(),
        "kern.osrevision is an int"
    );
    let (r, v, _) = sysctl_mib(&mut w, &[1, 4], 128);
    check!(r == 0 && v.starts_with(b"FreeBSD 13.2"), "kern.version");
    let (r, v, _) = sysctl_mib(&mut w, &[1, 10], 64);
    check!(
        r == 0 && v == b"exo\0",
        "kern.hostname from /sys/kernel/hostname: {v:?}"
    );
    let (r, v, _) = sysctl_mib(&mut w, &[1, 24], 64);
    check!(
        r == 0 && i32::from_le_bytes(v[..4].try_into().expect("4")) / 100_000 == 13,
        "kern.osreldate"
    );
    let (r, v, _) = sysctl_mib(&mut w, &[1, 8], 64);
    check!(r == 0 && v == 524_288i32.to_le_bytes(), "kern.argmax");
    let (r, v, _) = sysctl_mib(&mut w, &[1, 6], 64);
    check!(
        r == 0 && v == 32_768i32.to_le_bytes(),
        "kern.maxproc is the libOS's process limit"
    );
    let (r, v, _) = sysctl_mib(&mut w, &[1, 27], 64);
    check!(
        r == 0 && v == 1024i32.to_le_bytes(),
        "kern.maxfilesperproc is the descriptor limit"
    );
    let (r, v, n) = sysctl_mib(&mut w, &[1, 21], 64);
    let tv = w.buf(16);
    sys(&mut w, GETTIMEOFDAY, &[tv, 0]);
    let (sec, usec) = (
        i64::from_le_bytes(v[0..8].try_into().expect("8")),
        i64::from_le_bytes(v[8..16].try_into().expect("8")),
    );
    check!(
        r == 0 && n == 16 && (0..1_000_000).contains(&usec) && sec <= u64_at(&w, tv, 0) as i64,
        "kern.boottime is a timeval before now: {sec}.{usec}"
    );
    let (r, v, _) = sysctl_mib(&mut w, &[0, 4, 1, 21], 32);
    check!(
        r == 0 && v[..4] == (5u32 | 0x8000_0000).to_le_bytes() && &v[4..] == b"S,timeval\0",
        "oidfmt of kern.boottime: {v:?}"
    );
    Ok(())
}

fn sysctl_size_negotiation() -> Result<(), String> {
    let mut w = World::new();
    let name = w.put(&[1, 0, 0, 0, 1, 0, 0, 0]);
    let len = w.put(&0u64.to_le_bytes());
    check!(
        sys(&mut w, SYSCTL, &[name, 2, 0, len, 0, 0]) == 0,
        "NULL oldp"
    );
    check!(
        u64_at(&w, len, 0) == 8,
        "size needed: {}",
        u64_at(&w, len, 0)
    );
    let (r, v, n) = sysctl_mib(&mut w, &[1, 1], 4);
    check!(
        r == ENOMEM && n == 4 && v == b"Free",
        "too small: ENOMEM, partial copy, *oldlenp = 4 ({r}, {v:?}, {n})"
    );
    check!(sysctl_mib(&mut w, &[1], 64).0 == EINVAL, "namelen below 2");
    check!(
        sysctl_mib(&mut w, &[1, 9999], 64).0 == ENOENT,
        "unknown OID"
    );
    check!(
        sysctl_mib(&mut w, &[77, 1], 64).0 == ENOENT,
        "unknown top level"
    );
    let new = w.put(b"Linux");
    let old = w.buf(16);
    let len = w.put(&16u64.to_le_bytes());
    check!(
        sys(&mut w, SYSCTL, &[name, 2, old, len, new, 5]) == EPERM,
        "kern.ostype is read-only"
    );
    check!(
        sys(&mut w, SYSCTL, &[0xdead_0000, 2, old, len, 0, 0]) == EFAULT,
        "name pointer"
    );
    Ok(())
}

fn sysctl_hw_and_names() -> Result<(), String> {
    let mut w = World::new();
    let (r, v, _) = sysctl_mib(&mut w, &[6, 1], 16);
    check!(r == 0 && v == b"amd64\0", "hw.machine");
    let (r, v, _) = sysctl_mib(&mut w, &[6, 7], 16);
    check!(r == 0 && v == 4096i32.to_le_bytes(), "hw.pagesize");
    let (r, v, n) = sysctl_mib(&mut w, &[6, 5], 16);
    check!(
        r == 0 && n == 8 && v == (65_536u64 * 1024).to_le_bytes(),
        "hw.physmem (u_long) from /proc/meminfo: {v:?}"
    );
    let (r, v, _) = sysctl_mib(&mut w, &[6, 3], 16);
    check!(
        r == 0 && i32::from_le_bytes(v[..4].try_into().expect("4")) >= 1,
        "hw.ncpu"
    );
    // name2oid: {0, 3} with the name as the new value.
    let q = w.put(&[0, 0, 0, 0, 3, 0, 0, 0]);
    let name = w.put(b"kern.hostname");
    let (oid, len) = (w.buf(96), w.put(&96u64.to_le_bytes()));
    check!(
        sys(&mut w, SYSCTL, &[q, 2, oid, len, name, 13]) == 0,
        "name2oid"
    );
    check!(
        u64_at(&w, len, 0) == 8 && w.get(oid, 8) == [1, 0, 0, 0, 10, 0, 0, 0],
        "kern.hostname is {{1, 10}}"
    );
    let bogus = w.put(b"kern.bogus");
    check!(
        sys(&mut w, SYSCTL, &[q, 2, oid, len, bogus, 10]) == ENOENT,
        "unknown name"
    );
    // oidfmt {0, 4, 6, 5}: CTLTYPE_ULONG | CTLFLAG_RD, "LU".
    let (r, v, _) = sysctl_mib(&mut w, &[0, 4, 6, 5], 16);
    check!(
        r == 0 && v[..4] == (8u32 | 0x8000_0000).to_le_bytes() && &v[4..] == b"LU\0",
        "oidfmt {v:?}"
    );
    let (r, v, _) = sysctl_mib(&mut w, &[0, 1, 6, 7], 32);
    check!(r == 0 && v == b"hw.pagesize\0", "sysctl.name");
    // __sysctlbyname, reading and (as root) writing kern.hostname.
    let n = w.put(b"hw.machine_arch");
    let (old, len) = (w.buf(16), w.put(&16u64.to_le_bytes()));
    check!(
        sys(&mut w, SYSCTLBYNAME, &[n, 15, old, len, 0, 0]) == 0,
        "__sysctlbyname"
    );
    check!(w.get(old, 6) == b"amd64\0", "hw.machine_arch");
    let n = w.put(b"kern.hostname");
    let new = w.put(b"bsdbox");
    check!(
        sys(&mut w, SYSCTLBYNAME, &[n, 13, 0, 0, new, 6]) == 0,
        "set kern.hostname"
    );
    let (r, v, _) = sysctl_mib(&mut w, &[1, 10], 64);
    check!(r == 0 && v == b"bsdbox\0", "hostname changed: {v:?}");
    let hn = w.cstr("/sys/kernel/hostname");
    let fd = sys(&mut w, OPEN, &[hn, O_RDONLY]) as u64;
    let buf = w.buf(16);
    let got = sys(&mut w, READ, &[fd, buf, 16]);
    check!(
        w.get(buf, got as usize) == b"bsdbox\n",
        "in /sys/kernel/hostname"
    );
    Ok(())
}

fn kqueue_pipe_read_level_and_clear() -> Result<(), String> {
    let mut w = World::new();
    let kq = sys(&mut w, KQUEUE, &[]) as u64;
    let (r, wr) = pipe(&mut w, 0)?;
    check!(
        change(&mut w, kq, &[kev(r, EVFILT_READ, EV_ADD, 0, 0, 0xfeed)]) == 0,
        "EV_ADD"
    );
    check!(
        collect(&mut w, kq, Some(0)).is_empty(),
        "empty pipe: nothing"
    );
    let d = w.put(b"hello");
    sys(&mut w, WRITE, &[wr, d, 5]);
    let evs = collect(&mut w, kq, Some(0));
    check!(
        evs == [Ev {
            ident: r,
            filter: EVFILT_READ,
            flags: 0,
            fflags: 0,
            data: 5,
            udata: 0xfeed
        }],
        "one event, data = bytes queued: {evs:?}"
    );
    check!(collect(&mut w, kq, Some(0)).len() == 1, "level-triggered");
    // EV_CLEAR: reported once per change.
    check!(
        change(
            &mut w,
            kq,
            &[kev(r, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, 0)]
        ) == 0,
        "modify"
    );
    check!(collect(&mut w, kq, Some(0)).len() == 1, "first report");
    check!(
        collect(&mut w, kq, Some(0)).is_empty(),
        "EV_CLEAR: not again"
    );
    sys(&mut w, WRITE, &[wr, d, 2]);
    let evs = collect(&mut w, kq, Some(0));
    check!(
        evs.len() == 1 && evs[0].data == 7,
        "new data re-arms: {evs:?}"
    );
    // EV_DISABLE / EV_ENABLE.
    change(&mut w, kq, &[kev(r, EVFILT_READ, EV_DISABLE, 0, 0, 0)]);
    sys(&mut w, WRITE, &[wr, d, 1]);
    check!(collect(&mut w, kq, Some(0)).is_empty(), "disabled");
    change(&mut w, kq, &[kev(r, EVFILT_READ, EV_ENABLE, 0, 0, 0)]);
    check!(collect(&mut w, kq, Some(0)).len() == 1, "enabled");
    // The writer goes: EV_EOF.
    sys(&mut w, CLOSE, &[wr]);
    let buf = w.buf(16);
    sys(&mut w, READ, &[r, buf, 16]);
    let evs = collect(&mut w, kq, Some(0));
    check!(
        evs.len() == 1 && evs[0].flags & EV_EOF != 0 && evs[0].data == 0,
        "EOF: {evs:?}"
    );
    // EVFILT_WRITE on a fresh pipe: room for 64 KiB.
    let (_r2, w2) = pipe(&mut w, 0)?;
    change(
        &mut w,
        kq,
        &[kev(w2, EVFILT_WRITE, EV_ADD | EV_ONESHOT, 0, 0, 0)],
    );
    let evs = collect(&mut w, kq, Some(0));
    check!(
        evs.iter()
            .any(|e| e.filter == EVFILT_WRITE && e.data == 65_536 && e.flags & EV_ONESHOT != 0),
        "writable: {evs:?}"
    );
    check!(
        !collect(&mut w, kq, Some(0))
            .iter()
            .any(|e| e.filter == EVFILT_WRITE),
        "EV_ONESHOT removed it"
    );
    // Closing the descriptor drops its knote.
    sys(&mut w, CLOSE, &[r]);
    check!(
        collect(&mut w, kq, Some(0)).is_empty(),
        "closed fd: knote gone"
    );
    check!(
        change(&mut w, kq, &[kev(r, EVFILT_READ, EV_DELETE, 0, 0, 0)]) == EBADF,
        "and its descriptor is gone"
    );
    // A number closed and reused names a new file: a fresh knote.
    let (r5, _w5) = pipe(&mut w, 0)?;
    change(&mut w, kq, &[kev(r5, EVFILT_READ, EV_ADD, 0, 0, 1)]);
    sys(&mut w, CLOSE, &[r5]);
    let (r6, w6) = pipe(&mut w, 0)?;
    check!(r6 == r5, "number reused: {r6} vs {r5}");
    let z = w.put(b"z");
    sys(&mut w, WRITE, &[w6, z, 1]);
    change(
        &mut w,
        kq,
        &[kev(r6, EVFILT_READ, EV_ADD | EV_DISABLE, 0, 0, 2)],
    );
    check!(collect(&mut w, kq, Some(0)).is_empty(), "added disabled");
    change(&mut w, kq, &[kev(r6, EVFILT_READ, EV_ADD, 0, 0, 3)]);
    check!(
        collect(&mut w, kq, Some(0)).is_empty(),
        "EV_ADD alone leaves it disabled"
    );
    change(&mut w, kq, &[kev(r6, EVFILT_READ, EV_ENABLE, 0, 0, 0)]);
    let evs = collect(&mut w, kq, Some(0));
    check!(
        evs.len() == 1 && evs[0].udata == 3 && evs[0].data == 1,
        "the new pipe's event: {evs:?}"
    );
    Ok(())
}

#[cfg(not(target_os = "none"))]
fn kqueue_blocks_until_a_thread_writes() -> Result<(), String> {
    let mut w = World::new();
    let kq = sys(&mut w, KQUEUE, &[]) as u64;
    let (r, wr) = pipe(&mut w, 0)?;
    change(&mut w, kq, &[kev(r, EVFILT_READ, EV_ADD, 0, 0, 7)]);
    let out = w.buf(4 * 64);
    let pid = w.pid;
    let start = Instant::now();
    let n = std::thread::scope(|s| {
        let sys_ref = &w.sys;
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(60));
            let mut mem = VecMemory::new();
            mem.map(0x1000, 64);
            let _ = mem.write(0x1000, b"wake");
            raw(
                &mut Ctx {
                    sys: sys_ref,
                    pid,
                    mem: &mut mem,
                },
                WRITE,
                &[wr, 0x1000, 4],
            )
        });
        // NULL timeout: block until the write.
        raw(
            &mut Ctx {
                sys: &w.sys,
                pid,
                mem: &mut w.mem,
            },
            KEVENT,
            &[kq, 0, 0, out, 4, 0],
        )
    });
    let waited = start.elapsed();
    check!(n == 1, "one event after the wake-up: {n}");
    check!(
        waited >= Duration::from_millis(50),
        "kevent returned after {waited:?}, before the write"
    );
    let evs = events(&w, out, n);
    check!(evs[0].data == 4 && evs[0].udata == 7, "{evs:?}");
    // A timeout with nothing ready returns 0 after the time.
    let buf = w.buf(16);
    sys(&mut w, READ, &[r, buf, 16]);
    let start = Instant::now();
    check!(collect(&mut w, kq, Some(40)).is_empty(), "timed out");
    check!(
        start.elapsed() >= Duration::from_millis(35),
        "waited {:?}",
        start.elapsed()
    );
    Ok(())
}

#[cfg(not(target_os = "none"))]
fn kqueue_wait_interrupted_by_a_signal() -> Result<(), String> {
    const EINTR: i64 = -4;
    let mut w = World::new();
    // A SIGUSR1 handler: its delivery interrupts a blocked kevent.
    let mut act = vec![0u8; 32];
    act[0..8].copy_from_slice(&0x40_2000u64.to_le_bytes());
    act[8..12].copy_from_slice(&2u32.to_le_bytes()); // SA_RESTART
    let act = w.put(&act);
    sys(&mut w, SIGACTION, &[SIGUSR1, act, 0]);
    let kq = sys(&mut w, KQUEUE, &[]) as u64;
    let (r, _wr) = pipe(&mut w, 0)?;
    change(&mut w, kq, &[kev(r, EVFILT_READ, EV_ADD, 0, 0, 0)]);
    let out = w.buf(64);
    let pid = w.pid;
    let start = Instant::now();
    let n = std::thread::scope(|s| {
        let sys_ref = &w.sys;
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            as_pid_sys(sys_ref, pid, KILL, &[u64::from(pid), SIGUSR1])
        });
        raw(
            &mut Ctx {
                sys: &w.sys,
                pid,
                mem: &mut w.mem,
            },
            KEVENT,
            &[kq, 0, 0, out, 1, 0],
        )
    });
    check!(
        n == EINTR,
        "EINTR (4) even with SA_RESTART: kevent is not restarted ({n})"
    );
    check!(
        start.elapsed() >= Duration::from_millis(40),
        "interrupted after {:?}",
        start.elapsed()
    );
    // A blocked signal does not interrupt: the timeout ends the wait.
    let mut set = [0u8; 16];
    set[0..4].copy_from_slice(&(1u32 << 29).to_le_bytes());
    let set = w.put(&set);
    sys(&mut w, SIGPROCMASK, &[1, set, 0]);
    check!(
        collect(&mut w, kq, Some(30)).is_empty(),
        "masked: timed out"
    );
    Ok(())
}

fn kqueue_timers() -> Result<(), String> {
    let mut w = World::new();
    let kq = sys(&mut w, KQUEUE, &[]) as u64;
    // A 20 ms periodic timer (default unit: milliseconds).
    let start = Instant::now();
    change(&mut w, kq, &[kev(5, EVFILT_TIMER, EV_ADD, 0, 20, 0)]);
    let evs = collect(&mut w, kq, None);
    let first = start.elapsed();
    check!(
        evs.len() == 1 && evs[0].ident == 5 && evs[0].filter == EVFILT_TIMER && evs[0].data >= 1,
        "timer fired: {evs:?}"
    );
    check!(first >= Duration::from_millis(18), "fired after {first:?}");
    check!(evs[0].flags & EV_CLEAR != 0, "timers are EV_CLEAR");
    exo_personality_tests::sleep(Duration::from_millis(70));
    let evs = collect(&mut w, kq, Some(0));
    check!(
        evs.len() == 1 && evs[0].data >= 3,
        "expirations accumulate: {evs:?}"
    );
    change(&mut w, kq, &[kev(5, EVFILT_TIMER, EV_DELETE, 0, 0, 0)]);
    // One-shot, in microseconds (NOTE_USECONDS 4).
    change(
        &mut w,
        kq,
        &[kev(6, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 4, 15_000, 0)],
    );
    let evs = collect(&mut w, kq, Some(1000));
    check!(
        evs.len() == 1 && evs[0].data == 1,
        "one-shot fired: {evs:?}"
    );
    check!(collect(&mut w, kq, Some(50)).is_empty(), "and only once");
    check!(
        change(&mut w, kq, &[kev(7, EVFILT_TIMER, EV_ADD, 0, -5, 0)]) == EINVAL,
        "negative period"
    );
    Ok(())
}

#[cfg(not(target_os = "none"))]
fn kqueue_proc_note_exit() -> Result<(), String> {
    let mut w = World::new();
    let kq = sys(&mut w, KQUEUE, &[]) as u64;
    let c = child(&w)?;
    check!(
        change(
            &mut w,
            kq,
            &[kev(u64::from(c), EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 9)]
        ) == 0,
        "watch the child"
    );
    check!(
        change(
            &mut w,
            kq,
            &[kev(99_999, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 0)]
        ) == ESRCH,
        "no such process"
    );
    check!(collect(&mut w, kq, Some(0)).is_empty(), "still running");
    let out = w.buf(64 * 4);
    let pid = w.pid;
    let start = Instant::now();
    let n = std::thread::scope(|s| {
        let sys_ref = &w.sys;
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let mut mem = VecMemory::new();
            raw(
                &mut Ctx {
                    sys: sys_ref,
                    pid: c,
                    mem: &mut mem,
                },
                EXIT,
                &[7],
            )
        });
        raw(
            &mut Ctx {
                sys: &w.sys,
                pid,
                mem: &mut w.mem,
            },
            KEVENT,
            &[kq, 0, 0, out, 4, 0],
        )
    });
    check!(
        start.elapsed() >= Duration::from_millis(40),
        "woke after {:?}",
        start.elapsed()
    );
    let evs = events(&w, out, n);
    check!(
        evs == [Ev {
            ident: u64::from(c),
            filter: EVFILT_PROC,
            flags: EV_EOF | EV_ONESHOT,
            fflags: NOTE_EXIT,
            data: 0x700,
            udata: 9
        }],
        "NOTE_EXIT with the wait status: {evs:?}"
    );
    check!(collect(&mut w, kq, Some(0)).is_empty(), "one-shot");
    let status = w.buf(4);
    check!(
        sys(&mut w, WAIT4, &[u64::from(c), status, 0, 0]) == i64::from(c),
        "still reapable"
    );
    Ok(())
}

fn kqueue_signal_counts() -> Result<(), String> {
    let mut w = World::new();
    let kq = sys(&mut w, KQUEUE, &[]) as u64;
    // Ignore SIGUSR2: the filter still counts every attempt.
    let mut act = vec![0u8; 32];
    act[0..8].copy_from_slice(&1u64.to_le_bytes());
    let act = w.put(&act);
    sys(&mut w, SIGACTION, &[SIGUSR2, act, 0]);
    check!(
        change(&mut w, kq, &[kev(SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0, 0)]) == 0,
        "watch SIGUSR2 (31)"
    );
    let pid = u64::from(w.pid);
    for _ in 0..3 {
        sys(&mut w, KILL, &[pid, SIGUSR2]);
    }
    sys(&mut w, KILL, &[pid, SIGUSR1]);
    let evs = collect(&mut w, kq, Some(0));
    check!(
        evs.len() == 1
            && evs[0].ident == SIGUSR2
            && evs[0].data == 3
            && evs[0].flags & EV_CLEAR != 0,
        "three deliveries: {evs:?}"
    );
    check!(collect(&mut w, kq, Some(0)).is_empty(), "counted once");
    sys(&mut w, KILL, &[pid, SIGUSR2]);
    let evs = collect(&mut w, kq, Some(0));
    check!(evs.len() == 1 && evs[0].data == 1, "{evs:?}");
    check!(
        change(&mut w, kq, &[kev(29, EVFILT_SIGNAL, EV_ADD, 0, 0, 0)]) == EINVAL,
        "SIGINFO"
    );
    Ok(())
}

fn kqueue_errors_receipts_and_layout() -> Result<(), String> {
    let mut w = World::new();
    let kq = sys(&mut w, KQUEUE, &[]) as u64;
    let (r, wr) = pipe(&mut w, 0)?;
    // Errors become EV_ERROR events while there is room.
    let changes: Vec<u8> = [
        kev(r, EVFILT_READ, EV_DELETE, 0, 0, 1),
        kev(77, EVFILT_READ, EV_ADD, 0, 0, 2),
        kev(r, -42, EV_ADD, 0, 0, 3),
        kev(r, EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, 4),
    ]
    .iter()
    .flatten()
    .copied()
    .collect();
    let ch = w.put(&changes);
    let out = w.put(&[0xcc; 5 * 64]);
    let n = sys(&mut w, KEVENT, &[kq, ch, 4, out, 5, 0]);
    check!(n == 4, "four receipts, returned at once: {n}");
    let evs = events(&w, out, n);
    let got: Vec<(u16, i64, u64)> = evs.iter().map(|e| (e.flags, e.data, e.udata)).collect();
    check!(
        got == [
            (EV_ERROR, 2, 1),
            (EV_ERROR, 9, 2),
            (EV_ERROR, 22, 3),
            (EV_ERROR, 0, 4)
        ],
        "ENOENT, EBADF, EINVAL, receipt 0: {got:?}"
    );
    check!(evs[2].filter == -42, "the change comes back");
    check!(
        w.get(out + 4 * 64, 64) == [0xcc; 64],
        "64-byte records only"
    );
    // Without room the first error is the call's.
    let del = w.put(&kev(wr, EVFILT_READ, EV_DELETE, 0, 0, 0));
    check!(
        sys(&mut w, KEVENT, &[kq, del, 1, 0, 0, 0]) == ENOENT,
        "ENOENT as the result"
    );
    // Not a kqueue, bad counts, bad timeout, bad pointers.
    check!(
        sys(&mut w, KEVENT, &[r, 0, 0, out, 1, 0]) == EBADF,
        "not a kqueue"
    );
    check!(
        sys(&mut w, KEVENT, &[kq, 0, -1i64 as u64, out, 1, 0]) == EINVAL,
        "negative nchanges"
    );
    let bad = w.put(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    check!(
        sys(&mut w, KEVENT, &[kq, 0, 0, out, 1, bad]) == EINVAL,
        "bad timeout"
    );
    check!(
        sys(&mut w, KEVENT, &[kq, 0xdead_0000, 1, out, 1, 0]) == EFAULT,
        "changelist pointer"
    );
    // A kqueue cannot watch itself; EV_DISPATCH disables after a report.
    check!(
        change(&mut w, kq, &[kev(kq, EVFILT_READ, EV_ADD, 0, 0, 0)]) == EINVAL,
        "kqueue in itself"
    );
    let (r2, w2) = pipe(&mut w, 0)?;
    change(
        &mut w,
        kq,
        &[kev(r2, EVFILT_READ, EV_ADD | EV_DISPATCH, 0, 0, 0)],
    );
    let d = w.put(b"x");
    sys(&mut w, WRITE, &[w2, d, 1]);
    check!(collect(&mut w, kq, Some(0)).len() == 1, "dispatched");
    check!(collect(&mut w, kq, Some(0)).is_empty(), "then disabled");
    change(&mut w, kq, &[kev(r2, EVFILT_READ, EV_ENABLE, 0, 0, 0)]);
    check!(collect(&mut w, kq, Some(0)).len() == 1, "re-enabled");
    // A kqueue in a kqueue: readable when the inner one has events.
    let outer = sys(&mut w, KQUEUE, &[]) as u64;
    check!(
        change(&mut w, outer, &[kev(kq, EVFILT_READ, EV_ADD, 0, 0, 0)]) == 0,
        "nest"
    );
    check!(
        collect(&mut w, outer, Some(0)).is_empty(),
        "inner has nothing (r2 dispatched, r empty)"
    );
    sys(&mut w, WRITE, &[wr, d, 1]);
    let evs = collect(&mut w, outer, Some(0));
    check!(
        evs.len() == 1 && evs[0].ident == kq && evs[0].data == 1,
        "outer sees the inner's readiness, data = its pending events: {evs:?}"
    );
    check!(
        change(&mut w, kq, &[kev(outer, EVFILT_READ, EV_ADD, 0, 0, 0)]) == EINVAL,
        "no cycles"
    );
    // With no room for reports, a receipt ends the change list at once.
    let (r3, _w3) = pipe(&mut w, 0)?;
    let two: Vec<u8> = [
        kev(r3, EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, 0),
        kev(r3, EVFILT_WRITE, EV_ADD, 0, 0, 0),
    ]
    .iter()
    .flatten()
    .copied()
    .collect();
    let two = w.put(&two);
    check!(
        sys(&mut w, KEVENT, &[kq, two, 2, 0, 0, 0]) == 0,
        "returns 0"
    );
    let del = w.put(&kev(r3, EVFILT_WRITE, EV_DELETE, 0, 0, 0));
    check!(
        sys(&mut w, KEVENT, &[kq, del, 1, 0, 0, 0]) == ENOENT,
        "the second change was not applied"
    );
    Ok(())
}

fn socketpair_stream() -> Result<(), String> {
    const AF_UNIX: u64 = 1;
    const AF_INET: u64 = 2;
    const SOCK_STREAM: u64 = 1;
    const SOCK_DGRAM: u64 = 2;
    const SOCK_NONBLOCK: u64 = 0x2000_0000;
    let mut w = World::new();
    let sv = w.buf(8);
    check!(
        sys(
            &mut w,
            SOCKETPAIR,
            &[AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv]
        ) == 0,
        "socketpair"
    );
    let (a, b) = (u64::from(u32_at(&w, sv, 0)), u64::from(u32_at(&w, sv, 4)));
    let (ping, pong, buf) = (w.put(b"ping"), w.put(b"pong!"), w.buf(16));
    check!(sys(&mut w, READ, &[a, buf, 16]) == EAGAIN, "nothing yet");
    check!(sys(&mut w, WRITE, &[a, ping, 4]) == 4, "a → b");
    check!(sys(&mut w, WRITE, &[b, pong, 5]) == 5, "b → a");
    check!(
        sys(&mut w, READ, &[b, buf, 16]) == 4 && w.get(buf, 4) == b"ping",
        "b reads a's bytes"
    );
    check!(
        sys(&mut w, READ, &[a, buf, 16]) == 5 && w.get(buf, 5) == b"pong!",
        "a reads b's bytes"
    );
    let st = w.buf(224);
    check!(sys(&mut w, FSTAT, &[a, st]) == 0, "fstat");
    check!(u16_at(&w, st, 24) & 0o170_000 == 0o140_000, "S_IFSOCK");
    // kqueue sees the socket's readiness.
    let kq = sys(&mut w, KQUEUE, &[]) as u64;
    change(&mut w, kq, &[kev(b, EVFILT_READ, EV_ADD, 0, 0, 0)]);
    sys(&mut w, WRITE, &[a, ping, 4]);
    let evs = collect(&mut w, kq, Some(0));
    check!(evs.len() == 1 && evs[0].data == 4, "{evs:?}");
    sys(&mut w, READ, &[b, buf, 16]);
    // Close one end: EOF on the other, and EPIPE writing to it.
    sys(&mut w, CLOSE, &[a]);
    check!(sys(&mut w, READ, &[b, buf, 16]) == 0, "EOF");
    let evs = collect(&mut w, kq, Some(0));
    check!(
        evs.len() == 1 && evs[0].flags & EV_EOF != 0,
        "EV_EOF {evs:?}"
    );
    check!(sys(&mut w, WRITE, &[b, ping, 4]) == EPIPE, "EPIPE");
    check!(
        sys(&mut w, SOCKETPAIR, &[AF_INET, SOCK_STREAM, 0, sv]) == EAFNOSUPPORT,
        "AF_INET pairs: EAFNOSUPPORT (47)"
    );
    check!(
        sys(&mut w, SOCKETPAIR, &[AF_UNIX, SOCK_DGRAM, 0, sv]) == EPROTONOSUPPORT,
        "datagram pairs not built"
    );
    check!(
        sys(&mut w, SOCKETPAIR, &[AF_UNIX, SOCK_STREAM, 0, 0xdead_0000]) == EFAULT,
        "sv pointer"
    );
    Ok(())
}

fn ids_umask_and_issetugid() -> Result<(), String> {
    let mut w = World::new();
    let pid = i64::from(w.pid);
    check!(sys(&mut w, GETPID, &[]) == pid, "getpid (20)");
    check!(sys(&mut w, GETPPID, &[]) == 1, "getppid is init");
    check!(
        sys(&mut w, GETUID, &[]) == 0 && sys(&mut w, 25, &[]) == 0 && sys(&mut w, 43, &[]) == 0,
        "root ids"
    );
    check!(sys(&mut w, ISSETUGID, &[]) == 0, "issetugid");
    check!(sys(&mut w, UMASK, &[0o077]) == 0o022, "old umask");
    let p = w.cstr("/tmp/private");
    let fd = sys(&mut w, OPEN, &[p, O_WRONLY | O_CREAT, 0o666]);
    check!(fd >= 0, "create");
    let st = w.buf(224);
    sys(&mut w, FSTAT, &[fd as u64, st]);
    check!(u16_at(&w, st, 24) & 0o777 == 0o600, "umask applied");
    check!(sys(&mut w, 147, &[]) == pid, "setsid");
    check!(sys(&mut w, 81, &[]) == pid, "getpgrp after setsid");
    Ok(())
}

fn access_truncate_and_links() -> Result<(), String> {
    const ACCESS: u64 = 33;
    const EACCES: i64 = -13;
    const TRUNCATE: u64 = 479;
    const FACCESSAT: u64 = 489;
    const LINKAT: u64 = 495;
    const SYMLINKAT: u64 = 502;
    const LINK: u64 = 9;
    let mut w = World::new();
    create(&mut w, "/tmp/t", b"0123456789")?;
    let (t, missing) = (w.cstr("/tmp/t"), w.cstr("/tmp/missing"));
    check!(sys(&mut w, ACCESS, &[t, 0]) == 0, "F_OK");
    check!(sys(&mut w, ACCESS, &[t, 4 | 2]) == 0, "root: R_OK | W_OK");
    check!(
        sys(&mut w, ACCESS, &[t, 1]) == EACCES,
        "root: X_OK needs an x bit"
    );
    check!(sys(&mut w, ACCESS, &[missing, 0]) == ENOENT, "ENOENT");
    check!(sys(&mut w, ACCESS, &[t, 8]) == EINVAL, "bad mode");
    // An ordinary user may read but not write root's 0644 file.
    let c = child(&w)?;
    w.sys
        .procs
        .with(c, |p| p.cred = libos::vfs::Cred::user(1000, 1000))
        .map_err(|e| e.to_string())?;
    let mut mem = VecMemory::new();
    mem.map(0x1000, 4096);
    mem.write(0x1000, b"/tmp/t\0").map_err(|e| e.to_string())?;
    let mut uctx = Ctx {
        sys: &w.sys,
        pid: c,
        mem: &mut mem,
    };
    check!(
        raw(&mut uctx, FACCESSAT, &[AT_FDCWD, 0x1000, 4, 0]) == 0,
        "user: R_OK"
    );
    check!(
        raw(&mut uctx, FACCESSAT, &[AT_FDCWD, 0x1000, 2, 0x100]) == EACCES,
        "user: W_OK with AT_EACCESS"
    );
    check!(sys(&mut w, TRUNCATE, &[t, 3]) == 0, "truncate");
    let st = w.buf(224);
    sys(&mut w, FSTATAT, &[AT_FDCWD, t, st, 0]);
    check!(u64_at(&w, st, 112) == 3, "size 3");
    check!(
        sys(&mut w, TRUNCATE, &[t, -1i64 as u64]) == EINVAL,
        "negative length"
    );
    // link follows a symlink (FreeBSD's link is linkat with
    // AT_SYMLINK_FOLLOW); linkat without the flag links the symlink.
    let (l, h, h2) = (w.cstr("/tmp/l"), w.cstr("/tmp/h"), w.cstr("/tmp/h2"));
    check!(sys(&mut w, SYMLINK, &[t, l]) == 0, "symlink");
    let rl = sys(&mut w, LINK, &[l, h]);
    check!(rl == 0, "link: {rl}");
    sys(&mut w, FSTATAT, &[AT_FDCWD, h, st, AT_SYMLINK_NOFOLLOW]);
    check!(
        u16_at(&w, st, 24) & 0o170_000 == 0o100_000 && u64_at(&w, st, 16) == 2,
        "a second name of the file: mode {:o}, nlink {}",
        u16_at(&w, st, 24),
        u64_at(&w, st, 16)
    );
    check!(
        sys(&mut w, LINKAT, &[AT_FDCWD, l, AT_FDCWD, h2, 0]) == 0,
        "linkat"
    );
    sys(&mut w, FSTATAT, &[AT_FDCWD, h2, st, AT_SYMLINK_NOFOLLOW]);
    check!(
        u16_at(&w, st, 24) & 0o170_000 == 0o120_000,
        "a second name of the symlink"
    );
    check!(
        sys(&mut w, LINKAT, &[AT_FDCWD, l, AT_FDCWD, h2, 0x4000]) == EINVAL,
        "AT_EMPTY_PATH not supported"
    );
    let d = w.cstr("/tmp/sd");
    sys(&mut w, MKDIR, &[d, 0o755]);
    let dfd = sys(&mut w, OPEN, &[d, O_RDONLY | O_DIRECTORY]) as u64;
    let name = w.cstr("rel");
    check!(
        sys(&mut w, SYMLINKAT, &[t, dfd, name]) == 0,
        "symlinkat relative to a directory"
    );
    let buf = w.buf(16);
    let p = w.cstr("/tmp/sd/rel");
    check!(
        sys(&mut w, READLINK, &[p, buf, 16]) == 6 && w.get(buf, 6) == b"/tmp/t",
        "landed in /tmp/sd"
    );
    let fd = sys(&mut w, OPEN, &[t, O_RDONLY]) as u64;
    check!(sys(&mut w, 95, &[fd]) == 0, "fsync");
    check!(sys(&mut w, 550, &[fd]) == 0, "fdatasync");
    check!(sys(&mut w, 95, &[99]) == EBADF, "fsync EBADF");
    check!(sys(&mut w, 89, &[]) == 1024, "getdtablesize");
    Ok(())
}

#[cfg(not(target_os = "none"))]
fn poll_pollfds() -> Result<(), String> {
    const POLL: u64 = 209;
    const POLLIN: u16 = 0x1;
    const POLLOUT: u16 = 0x4;
    const POLLHUP: u16 = 0x10;
    const POLLNVAL: u16 = 0x20;
    const POLLRDNORM: u16 = 0x40;
    fn pollfd(fd: i32, events: u16) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0..4].copy_from_slice(&fd.to_le_bytes());
        b[4..6].copy_from_slice(&events.to_le_bytes());
        b[6..8].copy_from_slice(&0xffffu16.to_le_bytes());
        b
    }
    let mut w = World::new();
    let (r, wr) = pipe(&mut w, 0)?;
    create(&mut w, "/tmp/f", b"")?;
    let f = w.cstr("/tmp/f");
    let ffd = sys(&mut w, OPEN, &[f, O_RDONLY]) as u64;
    let fds: Vec<u8> = [
        pollfd(r as i32, POLLIN | POLLRDNORM),
        pollfd(wr as i32, POLLOUT),
        pollfd(ffd as i32, POLLIN),
        pollfd(77, POLLIN),
        pollfd(-1, POLLIN),
    ]
    .iter()
    .flatten()
    .copied()
    .collect();
    let fds = w.put(&fds);
    let revents = |w: &World| -> Vec<u16> { (0..5).map(|i| u16_at(w, fds, i * 8 + 6)).collect() };
    check!(sys(&mut w, POLL, &[fds, 5, 0]) == 3, "three ready");
    check!(
        revents(&w) == [0, POLLOUT, POLLIN, POLLNVAL, 0],
        "revents {:?}",
        revents(&w)
    );
    let d = w.put(b"abc");
    sys(&mut w, WRITE, &[wr, d, 3]);
    check!(sys(&mut w, POLL, &[fds, 1, 0]) == 1, "readable");
    check!(
        revents(&w)[0] == POLLIN | POLLRDNORM,
        "POLLIN | POLLRDNORM: {:?}",
        revents(&w)
    );
    let buf = w.buf(8);
    sys(&mut w, READ, &[r, buf, 8]);
    // Blocks (INFTIM) until another thread writes.
    let pid = w.pid;
    let start = Instant::now();
    let n = std::thread::scope(|s| {
        let sys_ref = &w.sys;
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let mut mem = VecMemory::new();
            mem.map(0x1000, 4096);
            raw(
                &mut Ctx {
                    sys: sys_ref,
                    pid,
                    mem: &mut mem,
                },
                WRITE,
                &[wr, 0x1000, 1],
            )
        });
        raw(
            &mut Ctx {
                sys: &w.sys,
                pid,
                mem: &mut w.mem,
            },
            POLL,
            &[fds, 1, -1i64 as u64],
        )
    });
    check!(n == 1, "woken: {n}");
    check!(
        start.elapsed() >= Duration::from_millis(40),
        "after {:?}",
        start.elapsed()
    );
    sys(&mut w, READ, &[r, buf, 8]);
    let start = Instant::now();
    check!(sys(&mut w, POLL, &[fds, 1, 30]) == 0, "timeout");
    check!(start.elapsed() >= Duration::from_millis(25), "waited");
    sys(&mut w, CLOSE, &[wr]);
    check!(sys(&mut w, POLL, &[fds, 1, 0]) == 1, "hang-up");
    check!(
        revents(&w)[0] & POLLHUP != 0,
        "POLLHUP once the writer is gone: {:?}",
        revents(&w)
    );
    check!(
        sys(&mut w, POLL, &[fds, 1, -2i64 as u64]) == EINVAL,
        "timeout below INFTIM"
    );
    check!(
        sys(&mut w, POLL, &[0xdead_0000, 1, 0]) == EFAULT,
        "pollfd pointer"
    );
    Ok(())
}

fn sigpending_reports_blocked_signals() -> Result<(), String> {
    const SIGPENDING: u64 = 343;
    let mut w = World::new();
    let mut set = [0u8; 16];
    set[0..4].copy_from_slice(&(1u32 << 29).to_le_bytes());
    let set = w.put(&set);
    sys(&mut w, SIGPROCMASK, &[1, set, 0]);
    let pid = u64::from(w.pid);
    let out = w.buf(16);
    check!(sys(&mut w, SIGPENDING, &[out]) == 0, "sigpending");
    check!(w.get(out, 16) == [0; 16], "nothing pending");
    sys(&mut w, KILL, &[pid, SIGUSR1]);
    sys(&mut w, SIGPENDING, &[out]);
    check!(
        u32_at(&w, out, 0) == 1 << 29,
        "SIGUSR1 (30) pending: {:?}",
        w.get(out, 16)
    );
    check!(sys(&mut w, SIGPENDING, &[0xdead_0000]) == EFAULT, "EFAULT");
    Ok(())
}

fn path_limits() -> Result<(), String> {
    let mut w = World::new();
    let long = format!("/tmp/{}", "x".repeat(256));
    let p = w.cstr(&long);
    check!(
        sys(&mut w, MKDIR, &[p, 0o755]) == ENAMETOOLONG,
        "NAME_MAX: ENAMETOOLONG is 63"
    );
    // FreeBSD's PATH_MAX is 1024 (with the NUL): a 1100-byte path the
    // libOS would resolve (and fail with ENOENT) is too long here.
    let over = format!("/tmp/{}", "x/".repeat(550));
    let p = w.cstr(&over);
    check!(
        sys(&mut w, OPEN, &[p, O_RDONLY]) == ENAMETOOLONG,
        "1024-byte PATH_MAX"
    );
    let huge = "/a".repeat(3000);
    let p = w.cstr(&huge);
    check!(
        sys(&mut w, OPEN, &[p, O_RDONLY]) == ENAMETOOLONG,
        "PATH_MAX"
    );
    let end = exo_personality_tests::MEM + exo_personality_tests::MEM_LEN as u64 - 3;
    w.mem.write(end, b"abc").map_err(|e| e.to_string())?;
    check!(
        sys(&mut w, OPEN, &[end, O_RDONLY]) == EFAULT,
        "unterminated"
    );
    Ok(())
}

/// Every case; those needing host threads only when hosted.
pub fn cases() -> Vec<Case> {
    // Blocking calls pause through the libOS waiter: yield the host
    // thread rather than spin.
    libos::wait::install(Box::new(exo_personality_tests::yield_now));
    vec![
        ("open_read_write_close", open_read_write_close),
        ("carry_flag_convention", carry_flag_convention),
        ("errno_numbers_are_freebsd", errno_numbers_are_freebsd),
        ("bad_pointers_are_efault", bad_pointers_are_efault),
        ("struct_stat_layout", struct_stat_layout),
        ("symlinks_and_nofollow", symlinks_and_nofollow),
        ("lseek_and_append", lseek_and_append),
        (
            "at_calls_relative_to_a_directory",
            at_calls_relative_to_a_directory,
        ),
        ("getdirentries_records", getdirentries_records),
        ("mkdir_rmdir_unlink_rename", mkdir_rmdir_unlink_rename),
        ("getcwd_chdir_fchdir", getcwd_chdir_fchdir),
        ("dup_dup2_fcntl", dup_dup2_fcntl),
        (
            "pipes_nonblocking_and_sigpipe",
            pipes_nonblocking_and_sigpipe,
        ),
        ("readv_writev", readv_writev),
        ("ioctl_terminals", ioctl_terminals),
        ("clocks_sleep_and_random", clocks_sleep_and_random),
        ("sigaction_and_sigprocmask", sigaction_and_sigprocmask),
        ("wait4_status_words", wait4_status_words),
        ("wait6_idtypes_and_siginfo", wait6_idtypes_and_siginfo),
        ("fork_and_rfork", fork_and_rfork),
        ("sysctl_kern_values", sysctl_kern_values),
        ("sysctl_size_negotiation", sysctl_size_negotiation),
        ("sysctl_hw_and_names", sysctl_hw_and_names),
        (
            "kqueue_pipe_read_level_and_clear",
            kqueue_pipe_read_level_and_clear,
        ),
        #[cfg(not(target_os = "none"))]
        (
            "kqueue_blocks_until_a_thread_writes",
            kqueue_blocks_until_a_thread_writes,
        ),
        #[cfg(not(target_os = "none"))]
        (
            "kqueue_wait_interrupted_by_a_signal",
            kqueue_wait_interrupted_by_a_signal,
        ),
        ("kqueue_timers", kqueue_timers),
        #[cfg(not(target_os = "none"))]
        ("kqueue_proc_note_exit", kqueue_proc_note_exit),
        ("kqueue_signal_counts", kqueue_signal_counts),
        (
            "kqueue_errors_receipts_and_layout",
            kqueue_errors_receipts_and_layout,
        ),
        ("socketpair_stream", socketpair_stream),
        ("ids_umask_and_issetugid", ids_umask_and_issetugid),
        ("access_truncate_and_links", access_truncate_and_links),
        #[cfg(not(target_os = "none"))]
        ("poll_pollfds", poll_pollfds),
        (
            "sigpending_reports_blocked_signals",
            sigpending_reports_blocked_signals,
        ),
        ("path_limits", path_limits),
    ]
}

#[cfg(not(target_os = "none"))]
fn main() {
    exo_personality_tests::run_and_exit("freebsd", &cases());
}

//! The Linux personality suite: Linux x86_64 call numbers in, Linux
//! results, errno numbers and struct bytes out — on the hosted libOS.

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use exo_personality_tests::{Case, World, check};

mod aarch64;
mod exec;
mod memory_events;
mod process;
mod signals;
mod signals_a64;
mod threads;

// Linux x86_64 numbers.
const READ: u64 = 0;
const WRITE: u64 = 1;
const OPEN: u64 = 2;
const CLOSE: u64 = 3;
const STAT: u64 = 4;
const FSTAT: u64 = 5;
const LSTAT: u64 = 6;
const LSEEK: u64 = 8;
const RT_SIGACTION: u64 = 13;
const RT_SIGPROCMASK: u64 = 14;
const IOCTL: u64 = 16;
const READV: u64 = 19;
const WRITEV: u64 = 20;
const DUP: u64 = 32;
const DUP2: u64 = 33;
const GETPID: u64 = 39;
const EXIT_GROUP: u64 = 231;
const WAIT4: u64 = 61;
const KILL: u64 = 62;
const UNAME: u64 = 63;
const FCNTL: u64 = 72;
const GETCWD: u64 = 79;
const CHDIR: u64 = 80;
const MKDIR: u64 = 83;
const RMDIR: u64 = 84;
const UNLINK: u64 = 87;
const SYMLINK: u64 = 88;
const READLINK: u64 = 89;
const GETDENTS64: u64 = 217;
const CLOCK_GETTIME: u64 = 228;
const OPENAT: u64 = 257;
const NEWFSTATAT: u64 = 262;
const RENAMEAT: u64 = 264;
const DUP3: u64 = 292;
const PIPE2: u64 = 293;
const GETRANDOM: u64 = 318;

// Linux errno numbers.
const ENOENT: i64 = -2;
const EBADF: i64 = -9;
const EAGAIN: i64 = -11;
const EFAULT: i64 = -14;
const EEXIST: i64 = -17;
const ENOTDIR: i64 = -20;
const EISDIR: i64 = -21;
const EINVAL: i64 = -22;
const ENOTTY: i64 = -25;
const ESPIPE: i64 = -29;
const EPIPE: i64 = -32;
const ERANGE: i64 = -34;
const ENAMETOOLONG: i64 = -36;
const ENOSYS: i64 = -38;
const ENOTEMPTY: i64 = -39;
const ELOOP: i64 = -40;
const ECHILD: i64 = -10;

const O_RDONLY: u64 = 0;
const O_WRONLY: u64 = 1;
const O_RDWR: u64 = 2;
const O_CREAT: u64 = 0o100;
const O_EXCL: u64 = 0o200;
const O_TRUNC: u64 = 0o1000;
const O_APPEND: u64 = 0o2000;
const O_NONBLOCK: u64 = 0o4000;
const O_DIRECTORY: u64 = 0o200_000;
const O_CLOEXEC: u64 = 0o2_000_000;
const AT_FDCWD: u64 = -100i64 as u64;

fn sys(w: &mut World, nr: u64, args: &[u64]) -> i64 {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    exo_linux::syscall(&mut w.ctx(), nr, a)
}

fn u64_at(w: &World, at: u64, off: usize) -> u64 {
    u64::from_le_bytes(w.get(at + off as u64, 8).try_into().expect("8 bytes"))
}

fn u32_at(w: &World, at: u64, off: usize) -> u32 {
    u32::from_le_bytes(w.get(at + off as u64, 4).try_into().expect("4 bytes"))
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

fn open_read_write_close() -> Result<(), String> {
    let mut w = World::new();
    create(&mut w, "/tmp/f", b"hello linux")?;
    let p = w.cstr("/tmp/f");
    let fd = sys(&mut w, OPEN, &[p, O_RDONLY]);
    check!(fd == 0, "lowest free descriptor: {fd}");
    let buf = w.buf(64);
    check!(
        sys(&mut w, READ, &[fd as u64, buf, 64]) == 11,
        "read length"
    );
    check!(w.get(buf, 11) == b"hello linux", "contents");
    check!(sys(&mut w, READ, &[fd as u64, buf, 64]) == 0, "EOF");
    check!(sys(&mut w, CLOSE, &[fd as u64]) == 0, "close");
    check!(sys(&mut w, CLOSE, &[fd as u64]) == EBADF, "double close");
    Ok(())
}

fn errno_numbers_are_linux() -> Result<(), String> {
    let mut w = World::new();
    let p = w.cstr("/no/such/file");
    check!(sys(&mut w, OPEN, &[p, O_RDONLY]) == ENOENT, "ENOENT");
    check!(sys(&mut w, READ, &[77, 0, 0]) == EBADF, "EBADF");
    let d = w.cstr("/tmp");
    check!(sys(&mut w, OPEN, &[d, O_WRONLY]) == EISDIR, "EISDIR");
    check!(sys(&mut w, 9999, &[]) == ENOSYS, "ENOSYS");
    check!(sys(&mut w, OPEN, &[p, 3]) == EINVAL, "bad access mode");
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
    let st = w.buf(144);
    check!(sys(&mut w, STAT, &[p, st]) == 0, "stat");
    check!(u64_at(&w, st, 48) == 1234, "st_size at 48");
    check!(
        u32_at(&w, st, 24) == 0o100_644,
        "st_mode at 24: {:o}",
        u32_at(&w, st, 24)
    );
    check!(u64_at(&w, st, 16) == 1, "st_nlink at 16");
    check!(u64_at(&w, st, 56) == 4096, "st_blksize at 56");
    check!(u64_at(&w, st, 64) == 3, "st_blocks at 64");
    check!(u64_at(&w, st, 8) != 0, "st_ino");
    Ok(())
}

fn lstat_and_symlinks() -> Result<(), String> {
    let mut w = World::new();
    create(&mut w, "/tmp/t", b"abc")?;
    let (t, l) = (w.cstr("/tmp/t"), w.cstr("/tmp/l"));
    check!(sys(&mut w, SYMLINK, &[t, l]) == 0, "symlink");
    let st = w.buf(144);
    check!(sys(&mut w, LSTAT, &[l, st]) == 0, "lstat");
    check!(u32_at(&w, st, 24) & 0o170_000 == 0o120_000, "S_IFLNK");
    check!(u64_at(&w, st, 48) == 6, "link size is the target length");
    check!(
        sys(&mut w, STAT, &[l, st]) == 0 && u64_at(&w, st, 48) == 3,
        "stat follows"
    );
    let buf = w.buf(64);
    check!(
        sys(&mut w, READLINK, &[l, buf, 64]) == 6,
        "readlink length without NUL"
    );
    check!(w.get(buf, 6) == b"/tmp/t", "target");
    check!(sys(&mut w, READLINK, &[t, buf, 64]) == EINVAL, "not a link");
    let (a, b) = (w.cstr("/tmp/a"), w.cstr("/tmp/b"));
    sys(&mut w, SYMLINK, &[b, a]);
    sys(&mut w, SYMLINK, &[a, b]);
    check!(sys(&mut w, STAT, &[a, st]) == ELOOP, "ELOOP");
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
    check!(sys(&mut w, LSEEK, &[fd, 0, 7]) == EINVAL, "bad whence");
    let d = w.put(b"!");
    sys(&mut w, WRITE, &[fd, d, 1]);
    check!(
        sys(&mut w, LSEEK, &[fd, 0, 1]) == 11,
        "append wrote at the end"
    );
    let pipefd = w.buf(8);
    sys(&mut w, PIPE2, &[pipefd, 0]);
    let r = u32_at(&w, pipefd, 0) as u64;
    check!(sys(&mut w, LSEEK, &[r, 0, 0]) == ESPIPE, "ESPIPE on a pipe");
    Ok(())
}

fn openat_relative_to_a_directory() -> Result<(), String> {
    let mut w = World::new();
    let d = w.cstr("/tmp/dir");
    check!(sys(&mut w, MKDIR, &[d, 0o755]) == 0, "mkdir");
    let dfd = sys(&mut w, OPEN, &[d, O_RDONLY | O_DIRECTORY]) as u64;
    let name = w.cstr("inner");
    let fd = sys(
        &mut w,
        OPENAT,
        &[dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0o600],
    );
    check!(fd >= 0, "openat create: {fd}");
    check!(
        sys(
            &mut w,
            OPENAT,
            &[dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0o600]
        ) == EEXIST,
        "O_EXCL"
    );
    let st = w.buf(144);
    check!(
        sys(&mut w, NEWFSTATAT, &[dfd, name, st, 0]) == 0,
        "newfstatat"
    );
    check!(
        u32_at(&w, st, 24) == 0o100_600,
        "mode {:o}",
        u32_at(&w, st, 24)
    );
    let f = w.cstr("/tmp/dir/inner");
    let ffd = sys(&mut w, OPEN, &[f, O_RDONLY]) as u64;
    check!(
        sys(&mut w, OPENAT, &[ffd, name, O_RDONLY]) == ENOTDIR,
        "dirfd not a directory"
    );
    check!(
        sys(&mut w, OPENAT, &[AT_FDCWD, f, O_RDONLY]) >= 0,
        "AT_FDCWD"
    );
    Ok(())
}

fn getdents64_records() -> Result<(), String> {
    let mut w = World::new();
    let d = w.cstr("/tmp/g");
    sys(&mut w, MKDIR, &[d, 0o755]);
    for n in ["a", "bb", "ccc"] {
        create(&mut w, &format!("/tmp/g/{n}"), b"")?;
    }
    let fd = sys(&mut w, OPEN, &[d, O_RDONLY | O_DIRECTORY]) as u64;
    let buf = w.buf(4096);
    let n = sys(&mut w, GETDENTS64, &[fd, buf, 4096]);
    check!(n > 0, "getdents64: {n}");
    let bytes = w.get(buf, n as usize);
    let mut names = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let reclen = u16::from_le_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
        check!(reclen.is_multiple_of(8) && reclen >= 24, "reclen {reclen}");
        let name: Vec<u8> = bytes[at + 19..at + reclen]
            .iter()
            .copied()
            .take_while(|&b| b != 0)
            .collect();
        names.push((String::from_utf8_lossy(&name).into_owned(), bytes[at + 18]));
        at += reclen;
    }
    check!(
        names.contains(&("ccc".into(), 8)) && names.contains(&(".".into(), 4)),
        "{names:?}"
    );
    check!(names.len() == 5, "., .. and three files: {names:?}");
    check!(sys(&mut w, GETDENTS64, &[fd, buf, 4096]) == 0, "end");
    let fd2 = sys(&mut w, OPEN, &[d, O_RDONLY | O_DIRECTORY]) as u64;
    check!(
        sys(&mut w, GETDENTS64, &[fd2, buf, 10]) == EINVAL,
        "buffer too small for one record"
    );
    Ok(())
}

fn mkdir_rmdir_unlink_rename() -> Result<(), String> {
    let mut w = World::new();
    let (d, f, g) = (w.cstr("/tmp/d"), w.cstr("/tmp/d/f"), w.cstr("/tmp/g"));
    check!(sys(&mut w, MKDIR, &[d, 0o755]) == 0, "mkdir");
    check!(sys(&mut w, MKDIR, &[d, 0o755]) == EEXIST, "EEXIST");
    create(&mut w, "/tmp/d/f", b"x")?;
    check!(sys(&mut w, RMDIR, &[d]) == ENOTEMPTY, "ENOTEMPTY");
    check!(sys(&mut w, UNLINK, &[d]) == EISDIR, "unlink a directory");
    check!(
        sys(&mut w, RENAMEAT, &[AT_FDCWD, f, AT_FDCWD, g]) == 0,
        "renameat"
    );
    check!(sys(&mut w, UNLINK, &[f]) == ENOENT, "moved away");
    check!(sys(&mut w, RMDIR, &[d]) == 0, "rmdir");
    check!(sys(&mut w, RMDIR, &[g]) == ENOTDIR, "rmdir a file");
    check!(sys(&mut w, UNLINK, &[g]) == 0, "unlink");
    Ok(())
}

fn getcwd_and_chdir() -> Result<(), String> {
    let mut w = World::new();
    let d = w.cstr("/tmp/work");
    sys(&mut w, MKDIR, &[d, 0o755]);
    check!(sys(&mut w, CHDIR, &[d]) == 0, "chdir");
    let buf = w.buf(64);
    check!(sys(&mut w, GETCWD, &[buf, 64]) == 10, "length with NUL");
    check!(w.get(buf, 10) == b"/tmp/work\0", "path");
    check!(sys(&mut w, GETCWD, &[buf, 5]) == ERANGE, "ERANGE");
    create(&mut w, "rel", b"")?;
    let st = w.buf(144);
    let abs = w.cstr("/tmp/work/rel");
    check!(
        sys(&mut w, STAT, &[abs, st]) == 0,
        "relative create landed in cwd"
    );
    let f = w.cstr("/tmp/work/rel");
    check!(sys(&mut w, CHDIR, &[f]) == ENOTDIR, "chdir to a file");
    Ok(())
}

fn dup_dup2_dup3_fcntl() -> Result<(), String> {
    let mut w = World::new();
    create(&mut w, "/tmp/f", b"abcdef")?;
    let p = w.cstr("/tmp/f");
    let fd = sys(&mut w, OPEN, &[p, O_RDONLY]) as u64;
    check!(sys(&mut w, DUP, &[fd]) == 1, "dup takes the lowest");
    check!(sys(&mut w, DUP2, &[fd, 10]) == 10, "dup2");
    check!(sys(&mut w, DUP2, &[fd, fd]) == fd as i64, "dup2 to itself");
    check!(sys(&mut w, DUP3, &[fd, fd, 0]) == EINVAL, "dup3 to itself");
    check!(sys(&mut w, DUP3, &[fd, 11, O_CLOEXEC]) == 11, "dup3");
    check!(sys(&mut w, FCNTL, &[11, 1]) == 1, "FD_CLOEXEC set");
    check!(sys(&mut w, FCNTL, &[10, 1]) == 0, "FD_CLOEXEC clear");
    check!(
        sys(&mut w, FCNTL, &[fd, 0, 20]) == 20,
        "F_DUPFD at least 20"
    );
    let buf = w.buf(8);
    sys(&mut w, READ, &[fd, buf, 2]);
    sys(&mut w, READ, &[10, buf, 2]);
    check!(w.get(buf, 2) == b"cd", "shared offset");
    check!(
        sys(&mut w, FCNTL, &[fd, 3]) as u64 & 3 == 0,
        "F_GETFL O_RDONLY"
    );
    check!(sys(&mut w, FCNTL, &[fd, 4, O_NONBLOCK]) == 0, "F_SETFL");
    check!(
        sys(&mut w, FCNTL, &[fd, 3]) as u64 & O_NONBLOCK != 0,
        "nonblock now"
    );
    check!(sys(&mut w, FCNTL, &[fd, 999]) == EINVAL, "bad command");
    Ok(())
}

fn pipes_and_nonblocking() -> Result<(), String> {
    let mut w = World::new();
    let fds = w.buf(8);
    check!(
        sys(&mut w, PIPE2, &[fds, O_NONBLOCK | O_CLOEXEC]) == 0,
        "pipe2"
    );
    let (r, wr) = (u32_at(&w, fds, 0) as u64, u32_at(&w, fds, 4) as u64);
    let buf = w.buf(16);
    check!(
        sys(&mut w, READ, &[r, buf, 16]) == EAGAIN,
        "empty pipe, O_NONBLOCK"
    );
    let d = w.put(b"ping");
    check!(sys(&mut w, WRITE, &[wr, d, 4]) == 4, "write");
    check!(sys(&mut w, READ, &[r, buf, 16]) == 4, "read");
    check!(sys(&mut w, FCNTL, &[r, 1]) == 1, "O_CLOEXEC");
    check!(sys(&mut w, CLOSE, &[r]) == 0, "close read end");
    check!(sys(&mut w, WRITE, &[wr, d, 4]) == EPIPE, "EPIPE");
    let pid = w.pid;
    let pending = w
        .sys
        .procs
        .get(pid)
        .map_err(|e| e.to_string())?
        .signals
        .pending;
    check!(
        pending.contains(libos::signal::Signal::SIGPIPE),
        "SIGPIPE raised"
    );
    check!(sys(&mut w, PIPE2, &[fds, 0xffff]) == EINVAL, "bad flags");
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
        "iovcnt > 1024"
    );
    Ok(())
}

fn ioctl_terminals() -> Result<(), String> {
    let mut w = World::new();
    let tty = w.cstr("/dev/tty");
    let fd = sys(&mut w, OPEN, &[tty, O_RDWR]) as u64;
    let ws = w.buf(8);
    check!(sys(&mut w, IOCTL, &[fd, 0x5413, ws]) == 0, "TIOCGWINSZ");
    check!(w.get(ws, 4) == [24, 0, 80, 0], "24x80");
    let t = w.buf(60);
    check!(sys(&mut w, IOCTL, &[fd, 0x5401, t]) == 0, "TCGETS");
    create(&mut w, "/tmp/f", b"")?;
    let f = w.cstr("/tmp/f");
    let ffd = sys(&mut w, OPEN, &[f, O_RDONLY]) as u64;
    check!(
        sys(&mut w, IOCTL, &[ffd, 0x5401, t]) == ENOTTY,
        "ENOTTY on a file"
    );
    Ok(())
}

fn uname_fields() -> Result<(), String> {
    let mut w = World::new();
    let u = w.buf(390);
    check!(sys(&mut w, UNAME, &[u]) == 0, "uname");
    check!(w.get(u, 6) == b"Linux\0", "sysname");
    check!(
        w.get(u + 65, 4) == b"exo\0",
        "nodename from /sys/kernel/hostname"
    );
    check!(w.get(u + 4 * 65, 7) == b"x86_64\0", "machine");
    check!(sys(&mut w, UNAME, &[0x1234]) == EFAULT, "EFAULT");
    Ok(())
}

fn clock_gettime_and_getrandom() -> Result<(), String> {
    let mut w = World::new();
    let ts = w.buf(16);
    check!(sys(&mut w, CLOCK_GETTIME, &[1, ts]) == 0, "CLOCK_MONOTONIC");
    check!(u64_at(&w, ts, 8) < 1_000_000_000, "nsec in range");
    check!(sys(&mut w, CLOCK_GETTIME, &[99, ts]) == EINVAL, "bad clock");
    let (a, b) = (w.buf(64), w.buf(64));
    check!(sys(&mut w, GETRANDOM, &[a, 64, 0]) == 64, "getrandom");
    check!(sys(&mut w, GETRANDOM, &[b, 64, 0]) == 64, "getrandom again");
    check!(w.get(a, 64) != w.get(b, 64), "different bytes");
    check!(sys(&mut w, GETRANDOM, &[a, 8, 0x80]) == EINVAL, "bad flags");
    Ok(())
}

fn signals_sigaction_and_mask() -> Result<(), String> {
    let mut w = World::new();
    // struct k_sigaction { handler, flags, restorer, mask }.
    let mut act = Vec::new();
    for v in [0x40_1000u64, 0x1000_0000, 0, 1 << 1] {
        act.extend_from_slice(&v.to_le_bytes());
    }
    let act = w.put(&act);
    let old = w.buf(32);
    check!(
        sys(&mut w, RT_SIGACTION, &[10, act, old, 8]) == 0,
        "install SIGUSR1 handler"
    );
    check!(u64_at(&w, old, 0) == 0, "was SIG_DFL");
    check!(sys(&mut w, RT_SIGACTION, &[10, 0, old, 8]) == 0, "query");
    check!(
        u64_at(&w, old, 0) == 0x40_1000 && u64_at(&w, old, 8) == 0x1000_0000,
        "handler and SA_RESTART back"
    );
    check!(
        sys(&mut w, RT_SIGACTION, &[9, act, 0, 8]) == EINVAL,
        "SIGKILL"
    );
    check!(
        sys(&mut w, RT_SIGACTION, &[10, act, 0, 4]) == EINVAL,
        "sigsetsize"
    );
    let set = w.put(&(1u64 << 9).to_le_bytes());
    let oset = w.buf(8);
    check!(
        sys(&mut w, RT_SIGPROCMASK, &[0, set, oset, 8]) == 0,
        "SIG_BLOCK"
    );
    check!(
        sys(&mut w, RT_SIGPROCMASK, &[0, 0, oset, 8]) == 0,
        "query mask"
    );
    check!(u64_at(&w, oset, 0) == 1 << 9, "SIGUSR1 blocked");
    let pid = w.pid as u64;
    check!(sys(&mut w, KILL, &[pid, 10]) == 0, "kill self");
    check!(sys(&mut w, KILL, &[99_999, 0]) == -3, "ESRCH");
    check!(sys(&mut w, KILL, &[pid, 65]) == EINVAL, "bad signal");
    Ok(())
}

fn wait4_children() -> Result<(), String> {
    let mut w = World::new();
    check!(
        sys(&mut w, WAIT4, &[-1i64 as u64, 0, 1, 0]) == ECHILD,
        "no children"
    );
    let child = w.sys.procs.fork(w.pid).map_err(|e| e.to_string())?;
    check!(
        sys(&mut w, WAIT4, &[-1i64 as u64, 0, 1, 0]) == 0,
        "WNOHANG, still running"
    );
    // The child exits through the personality.
    let mut cw = exo_personality::Ctx {
        sys: &w.sys,
        pid: child,
        mem: &mut exo_personality::VecMemory::new(),
    };
    check!(
        exo_linux::syscall(&mut cw, EXIT_GROUP, [3, 0, 0, 0, 0, 0]) == 0,
        "exit_group"
    );
    let status = w.buf(4);
    check!(
        sys(&mut w, WAIT4, &[child as u64, status, 0, 0]) == child as i64,
        "reaped"
    );
    check!(
        u32_at(&w, status, 0) == 0x300,
        "status word {:#x}",
        u32_at(&w, status, 0)
    );
    Ok(())
}

fn path_limits() -> Result<(), String> {
    let mut w = World::new();
    let long = format!("/tmp/{}", "x".repeat(256));
    let p = w.cstr(&long);
    check!(sys(&mut w, MKDIR, &[p, 0o755]) == ENAMETOOLONG, "NAME_MAX");
    let huge = "/a".repeat(3000);
    let p = w.cstr(&huge);
    check!(
        sys(&mut w, OPEN, &[p, O_RDONLY]) == ENAMETOOLONG,
        "PATH_MAX"
    );
    // An unterminated string running off mapped memory is EFAULT.
    let end = exo_personality_tests::MEM + exo_personality_tests::MEM_LEN as u64 - 3;
    use exo_personality::UserMemory;
    w.mem.write(end, b"abc").map_err(|e| e.to_string())?;
    check!(
        sys(&mut w, OPEN, &[end, O_RDONLY]) == EFAULT,
        "unterminated"
    );
    Ok(())
}

fn getpid_family() -> Result<(), String> {
    let mut w = World::new();
    let pid = w.pid as i64;
    check!(sys(&mut w, GETPID, &[]) == pid, "getpid");
    check!(sys(&mut w, 110, &[]) == 1, "getppid is init");
    check!(
        sys(&mut w, 102, &[]) == 0 && sys(&mut w, 104, &[]) == 0,
        "root uid/gid"
    );
    check!(
        sys(&mut w, 218, &[0]) == pid,
        "set_tid_address returns the tid"
    );
    Ok(())
}

fn umask_applies() -> Result<(), String> {
    let mut w = World::new();
    check!(sys(&mut w, 95, &[0o077]) == 0o022, "old umask");
    let p = w.cstr("/tmp/private");
    let fd = sys(&mut w, OPEN, &[p, O_WRONLY | O_CREAT, 0o666]);
    check!(fd >= 0, "create");
    let st = w.buf(144);
    sys(&mut w, STAT, &[p, st]);
    check!(
        u32_at(&w, st, 24) & 0o777 == 0o600,
        "mode {:o}",
        u32_at(&w, st, 24)
    );
    Ok(())
}

fn proc_through_the_personality() -> Result<(), String> {
    let mut w = World::new();
    let p = w.cstr("/proc/self/status");
    let fd = sys(&mut w, OPEN, &[p, O_RDONLY]);
    check!(fd >= 0, "open /proc/self/status: {fd}");
    let buf = w.buf(4096);
    let n = sys(&mut w, READ, &[fd as u64, buf, 4096]);
    check!(n > 0, "read");
    let text = String::from_utf8_lossy(&w.get(buf, n as usize)).into_owned();
    check!(text.starts_with("Name:\tinit"), "{text}");
    Ok(())
}

/// Every case; those needing host threads only when hosted.
pub fn cases() -> Vec<Case> {
    vec![
        ("open_read_write_close", open_read_write_close),
        ("errno_numbers_are_linux", errno_numbers_are_linux),
        ("bad_pointers_are_efault", bad_pointers_are_efault),
        ("struct_stat_layout", struct_stat_layout),
        ("lstat_and_symlinks", lstat_and_symlinks),
        ("lseek_and_append", lseek_and_append),
        (
            "openat_relative_to_a_directory",
            openat_relative_to_a_directory,
        ),
        ("getdents64_records", getdents64_records),
        ("mkdir_rmdir_unlink_rename", mkdir_rmdir_unlink_rename),
        ("getcwd_and_chdir", getcwd_and_chdir),
        ("dup_dup2_dup3_fcntl", dup_dup2_dup3_fcntl),
        ("pipes_and_nonblocking", pipes_and_nonblocking),
        ("readv_writev", readv_writev),
        ("ioctl_terminals", ioctl_terminals),
        ("uname_fields", uname_fields),
        ("clock_gettime_and_getrandom", clock_gettime_and_getrandom),
        ("signals_sigaction_and_mask", signals_sigaction_and_mask),
        ("wait4_children", wait4_children),
        ("path_limits", path_limits),
        ("getpid_family", getpid_family),
        ("umask_applies", umask_applies),
        ("proc_through_the_personality", proc_through_the_personality),
        (
            "mmap_anonymous_memory",
            memory_events::mmap_anonymous_memory,
        ),
        ("mmap_argument_errors", memory_events::mmap_argument_errors),
        (
            "mmap_fixed_and_noreplace",
            memory_events::mmap_fixed_and_noreplace,
        ),
        (
            "mprotect_changes_access",
            memory_events::mprotect_changes_access,
        ),
        (
            "file_mappings_copy_the_file",
            memory_events::file_mappings_copy_the_file,
        ),
        ("brk_and_mremap", memory_events::brk_and_mremap),
        (
            "futex_wait_value_and_timeout",
            memory_events::futex_wait_value_and_timeout,
        ),
        #[cfg(not(target_os = "none"))]
        (
            "futex_wake_and_requeue",
            memory_events::futex_wake_and_requeue,
        ),
        ("eventfd_counts", memory_events::eventfd_counts),
        (
            "epoll_level_edge_and_oneshot",
            memory_events::epoll_level_edge_and_oneshot,
        ),
        #[cfg(not(target_os = "none"))]
        (
            "epoll_wait_blocks_until_a_write",
            memory_events::epoll_wait_blocks_until_a_write,
        ),
        (
            "time_limits_and_thread_signals",
            memory_events::time_limits_and_thread_signals,
        ),
        (
            "prctl_sysinfo_sendfile",
            memory_events::prctl_sysinfo_sendfile,
        ),
        (
            "aarch64_numbers_and_stat_layout",
            aarch64::aarch64_numbers_and_stat_layout,
        ),
        (
            "aarch64_open_flags_are_translated",
            aarch64::aarch64_open_flags_are_translated,
        ),
        (
            "linkat_symlinkat_fchmodat",
            aarch64::linkat_symlinkat_fchmodat,
        ),
        (
            "fork_and_vfork_make_children",
            process::fork_and_vfork_make_children,
        ),
        ("clone_flag_sets", process::clone_flag_sets),
        #[cfg(not(target_os = "none"))]
        (
            "exit_clears_and_wakes_the_tid_address",
            process::exit_clears_and_wakes_the_tid_address,
        ),
        (
            "sigaltstack_set_and_query",
            process::sigaltstack_set_and_query,
        ),
        ("statx_layout", process::statx_layout),
        (
            "signal_handler_frame_and_sigreturn",
            signals::handler_frame_and_sigreturn,
        ),
        (
            "sigreturn_keeps_privileged_flags_and_checks_the_frame",
            signals::sigreturn_keeps_privileged_flags_and_checks_the_frame,
        ),
        (
            "sigaction_reports_linux_flags_and_restorer",
            signals::sigaction_reports_linux_flags_and_restorer,
        ),
        (
            "no_restorer_or_default_action_ends_the_process",
            signals::no_restorer_or_default_action_ends_the_process,
        ),
        (
            "alternate_stack_and_autodisarm",
            signals::alternate_stack_and_autodisarm,
        ),
        (
            "execve_starts_the_new_program",
            exec::execve_starts_the_new_program,
        ),
        (
            "execve_refusals_change_nothing",
            exec::execve_refusals_change_nothing,
        ),
        ("clone_makes_a_thread", threads::clone_makes_a_thread),
        (
            "futex_waits_park_and_wakes_end_them",
            threads::futex_waits_park_and_wakes_end_them,
        ),
        (
            "thread_exit_wakes_the_joiner_and_the_last_ends_the_process",
            threads::thread_exit_wakes_the_joiner_and_the_last_ends_the_process,
        ),
        (
            "aarch64_signal_frame_and_sigreturn",
            signals_a64::aarch64_signal_frame_and_sigreturn,
        ),
        (
            "aarch64_clone_and_execve",
            signals_a64::aarch64_clone_and_execve,
        ),
    ]
}

#[cfg(not(target_os = "none"))]
fn main() {
    exo_personality_tests::run_and_exit("linux", &cases());
}

//! The illumos personality suite: illumos amd64 call numbers in; illumos
//! results (carry flag, positive errno, second register), errno numbers,
//! struct bytes and doors out — on the hosted libOS and, for doors, the
//! hosted exokernel's IPC between separate environments on separate
//! threads. Built for bare metal (`tests/user`'s `illumossuite`), every
//! case but the doors runs on the exokernel itself.

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use exo_illumos::Regs;
use exo_personality::{Ctx, UserMemory, VecMemory};
use exo_personality_tests::{Case, MEM, MEM_LEN, World, check};
use libos::process::Pid;

#[cfg(not(target_os = "none"))]
mod doors;

// illumos numbers (sys/syscall.h).
const EXIT: u64 = 1;
const READ: u64 = 3;
const WRITE: u64 = 4;
const OPEN: u64 = 5;
const CLOSE: u64 = 6;
const UNLINK: u64 = 10;
const SYMLINKAT: u64 = 11;
const CHDIR: u64 = 12;
const STAT: u64 = 18;
const LSEEK: u64 = 19;
const GETPID: u64 = 20;
const READLINKAT: u64 = 22;
const GETUID: u64 = 24;
const FSTAT: u64 = 28;
const KILL: u64 = 37;
const PIPE: u64 = 42;
const GETGID: u64 = 47;
const IOCTL: u64 = 54;
const UMASK: u64 = 60;
const FCNTL: u64 = 62;
const RENAMEAT: u64 = 64;
const UNLINKAT: u64 = 65;
const FSTATAT: u64 = 66;
const OPENAT: u64 = 68;
const RMDIR: u64 = 79;
const MKDIR: u64 = 80;
const GETDENTS: u64 = 81;
const LSTAT: u64 = 88;
const SYMLINK: u64 = 89;
const READLINK: u64 = 90;
const SIGPROCMASK: u64 = 95;
const SIGACTION: u64 = 98;
const FCHMODAT: u64 = 101;
const MKDIRAT: u64 = 102;
const WAITID: u64 = 107;
const FCHDIR: u64 = 120;
const READV: u64 = 121;
const WRITEV: u64 = 122;
const GETRANDOM: u64 = 126;
const RENAME: u64 = 134;
const UNAME: u64 = 135;
const SYSTEMINFO: u64 = 139;
const FORKSYS: u64 = 142;
const CLOCK_GETTIME: u64 = 191;
const NANOSLEEP: u64 = 199;
const GETCWD: u64 = 229;

// illumos errno (sys/errno.h).
const ENOENT: u32 = 2;
const ESRCH: u32 = 3;
const EBADF: u32 = 9;
const ECHILD: u32 = 10;
const EAGAIN: u32 = 11;
const EFAULT: u32 = 14;
const EEXIST: u32 = 17;
const ENOTDIR: u32 = 20;
const EISDIR: u32 = 21;
const EINVAL: u32 = 22;
const ENOTTY: u32 = 25;
const ESPIPE: u32 = 29;
const EPIPE: u32 = 32;
const ERANGE: u32 = 34;
const ENAMETOOLONG: u32 = 78;
const ENOSYS: u32 = 89;
const ELOOP: u32 = 90;
const ENOTEMPTY: u32 = 93;

// illumos open flags (sys/fcntl.h).
const O_RDONLY: u64 = 0;
const O_WRONLY: u64 = 1;
const O_RDWR: u64 = 2;
const O_APPEND: u64 = 0x08;
const O_NONBLOCK: u64 = 0x80;
const O_CREAT: u64 = 0x100;
const O_TRUNC: u64 = 0x200;
const O_EXCL: u64 = 0x400;
const O_CLOEXEC: u64 = 0x80_0000;
const O_DIRECTORY: u64 = 0x100_0000;
const AT_FDCWD: u64 = 0xffd1_9553;
const AT_SYMLINK_NOFOLLOW: u64 = 0x1000;
const AT_REMOVEDIR: u64 = 0x1;

/// A call as the illumos convention returns it: `Ok(rax)` with carry
/// clear, `Err(errno)` with carry set.
fn sc(w: &mut World, nr: u64, args: &[u64]) -> Result<i64, u32> {
    split(regs(w, nr, args))
}

fn regs(w: &mut World, nr: u64, args: &[u64]) -> Regs {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    exo_illumos::syscall(&mut w.ctx(), nr, a)
}

fn split(r: Regs) -> Result<i64, u32> {
    if r.carry {
        Err(u32::try_from(r.rax).unwrap_or(u32::MAX))
    } else {
        Ok(r.rax as i64)
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
    let fd = sc(w, OPEN, &[p, O_WRONLY | O_CREAT | O_TRUNC, 0o644]);
    let Ok(fd) = fd else {
        return Err(format!("open {path}: {fd:?}"));
    };
    let d = w.put(data);
    check!(
        sc(w, WRITE, &[fd as u64, d, data.len() as u64]) == Ok(data.len() as i64),
        "write"
    );
    check!(sc(w, CLOSE, &[fd as u64]) == Ok(0), "close");
    Ok(())
}

fn open_read_write_close() -> Result<(), String> {
    let mut w = World::new();
    create(&mut w, "/tmp/f", b"hello illumos")?;
    let p = w.cstr("/tmp/f");
    check!(
        sc(&mut w, OPEN, &[p, O_RDONLY]) == Ok(0),
        "lowest free descriptor"
    );
    let buf = w.buf(64);
    check!(sc(&mut w, READ, &[0, buf, 64]) == Ok(13), "read length");
    check!(w.get(buf, 13) == b"hello illumos", "contents");
    check!(sc(&mut w, READ, &[0, buf, 64]) == Ok(0), "EOF");
    check!(sc(&mut w, CLOSE, &[0]) == Ok(0), "close");
    let r = regs(&mut w, CLOSE, &[0]);
    check!(
        r.carry && r.rax == u64::from(EBADF) && r.rdx == 0,
        "double close: carry set, positive EBADF in rax: {r:?}"
    );
    Ok(())
}

fn errno_numbers_are_illumos() -> Result<(), String> {
    let mut w = World::new();
    let p = w.cstr("/no/such/file");
    check!(sc(&mut w, OPEN, &[p, O_RDONLY]) == Err(ENOENT), "ENOENT 2");
    check!(sc(&mut w, READ, &[77, 0, 0]) == Err(EBADF), "EBADF 9");
    let d = w.cstr("/tmp");
    check!(sc(&mut w, OPEN, &[d, O_WRONLY]) == Err(EISDIR), "EISDIR 21");
    check!(sc(&mut w, OPEN, &[p, 3]) == Err(EINVAL), "EINVAL 22");
    let r = regs(&mut w, 9999, &[]);
    check!(
        r.carry && r.rax == u64::from(ENOSYS),
        "unknown numbers are ENOSYS 89: {r:?}"
    );
    // Numbers illumos does not implement in this personality either.
    check!(sc(&mut w, 17, &[0]) == Err(ENOSYS), "brk is ENOSYS");
    let dd = w.cstr("/tmp/full");
    sc(&mut w, MKDIR, &[dd, 0o755]).map_err(|e| format!("mkdir {e}"))?;
    create(&mut w, "/tmp/full/x", b"")?;
    check!(sc(&mut w, RMDIR, &[dd]) == Err(ENOTEMPTY), "ENOTEMPTY 93");
    let long = w.cstr(&format!("/tmp/{}", "n".repeat(300)));
    check!(
        sc(&mut w, MKDIR, &[long, 0o755]) == Err(ENAMETOOLONG),
        "ENAMETOOLONG 78"
    );
    let (a, b) = (w.cstr("/tmp/a"), w.cstr("/tmp/b"));
    sc(&mut w, SYMLINK, &[b, a]).map_err(|e| format!("symlink {e}"))?;
    sc(&mut w, SYMLINK, &[a, b]).map_err(|e| format!("symlink {e}"))?;
    let st = w.buf(128);
    check!(sc(&mut w, STAT, &[a, st]) == Err(ELOOP), "ELOOP 90");
    check!(exo_illumos::table().name == "illumos", "table name");
    Ok(())
}

fn bad_pointers_are_efault() -> Result<(), String> {
    let mut w = World::new();
    check!(
        sc(&mut w, OPEN, &[0xdead_0000, O_RDONLY]) == Err(EFAULT),
        "path pointer"
    );
    create(&mut w, "/tmp/f", b"x")?;
    let p = w.cstr("/tmp/f");
    let fd = sc(&mut w, OPEN, &[p, O_RDONLY]).map_err(|e| e.to_string())? as u64;
    check!(
        sc(&mut w, READ, &[fd, 0xdead_0000, 1]) == Err(EFAULT),
        "read buffer"
    );
    check!(
        sc(&mut w, FSTAT, &[fd, 0xdead_0000]) == Err(EFAULT),
        "stat buffer"
    );
    check!(
        sc(&mut w, PIPE, &[0xdead_0000, 0]) == Err(EFAULT),
        "pipe array"
    );
    check!(sc(&mut w, UNAME, &[0x1234]) == Err(EFAULT), "utsname");
    // An unterminated string running off mapped memory.
    let end = MEM + MEM_LEN as u64 - 3;
    w.mem.write(end, b"abc").map_err(|e| e.to_string())?;
    check!(
        sc(&mut w, OPEN, &[end, O_RDONLY]) == Err(EFAULT),
        "unterminated"
    );
    Ok(())
}

fn struct_stat_layout() -> Result<(), String> {
    let mut w = World::new();
    create(&mut w, "/tmp/s", &[7u8; 1234])?;
    let p = w.cstr("/tmp/s");
    let st = w.put(&[0xffu8; 136]);
    check!(sc(&mut w, STAT, &[p, st]) == Ok(0), "stat");
    check!(u64_at(&w, st, 8) != 0, "st_ino at 8");
    check!(
        u32_at(&w, st, 16) == 0o100_644,
        "st_mode at 16: {:o}",
        u32_at(&w, st, 16)
    );
    check!(u32_at(&w, st, 20) == 1, "st_nlink at 20");
    check!(u32_at(&w, st, 24) == 0, "st_uid at 24");
    check!(u64_at(&w, st, 40) == 1234, "st_size at 40");
    check!(u32_at(&w, st, 96) == 4096, "st_blksize at 96");
    check!(u64_at(&w, st, 104) == 3, "st_blocks at 104");
    check!(w.get(st + 112, 6) == b"tmpfs\0", "st_fstype at 112");
    check!(
        w.get(st + 128, 8) == [0xff; 8],
        "struct stat is 128 bytes: nothing written past it"
    );
    let fd = sc(&mut w, OPEN, &[p, O_RDONLY]).map_err(|e| e.to_string())? as u64;
    let st2 = w.buf(128);
    check!(sc(&mut w, FSTAT, &[fd, st2]) == Ok(0), "fstat");
    check!(u64_at(&w, st2, 40) == 1234, "fstat size");
    check!(
        u64_at(&w, st2, 8) == u64_at(&w, st, 8),
        "same inode through fstat"
    );
    Ok(())
}

fn lstat_symlink_readlink() -> Result<(), String> {
    let mut w = World::new();
    create(&mut w, "/tmp/t", b"abc")?;
    let (t, l) = (w.cstr("/tmp/t"), w.cstr("/tmp/l"));
    check!(sc(&mut w, SYMLINK, &[t, l]) == Ok(0), "symlink");
    let st = w.buf(128);
    check!(sc(&mut w, LSTAT, &[l, st]) == Ok(0), "lstat");
    check!(u32_at(&w, st, 16) & 0o170_000 == 0o120_000, "S_IFLNK");
    check!(u64_at(&w, st, 40) == 6, "link size is the target length");
    check!(
        sc(&mut w, STAT, &[l, st]) == Ok(0) && u64_at(&w, st, 40) == 3,
        "stat follows"
    );
    let buf = w.buf(64);
    check!(
        sc(&mut w, READLINK, &[l, buf, 64]) == Ok(6),
        "readlink length without NUL"
    );
    check!(w.get(buf, 6) == b"/tmp/t", "target");
    check!(
        sc(&mut w, READLINK, &[t, buf, 64]) == Err(EINVAL),
        "not a link"
    );
    check!(sc(&mut w, READLINK, &[l, buf, 3]) == Ok(3), "truncated");
    Ok(())
}

fn getpid_getuid_getgid_use_two_registers() -> Result<(), String> {
    let mut w = World::new();
    let r = regs(&mut w, GETPID, &[]);
    check!(
        !r.carry && r.rax == u64::from(w.pid) && r.rdx == 1,
        "getpid: rax = pid, rdx = ppid (init): {r:?}"
    );
    let child = w.sys.procs.fork(w.pid).map_err(|e| e.to_string())?;
    let mut mem = VecMemory::new();
    let r = exo_illumos::syscall(
        &mut Ctx {
            sys: &w.sys,
            pid: child,
            mem: &mut mem,
        },
        GETPID,
        [0; 6],
    );
    check!(
        r.rax == u64::from(child) && r.rdx == u64::from(w.pid),
        "child's rdx is its parent: {r:?}"
    );
    let r = regs(&mut w, GETUID, &[]);
    check!(
        !r.carry && r.rax == 0 && r.rdx == 0,
        "getuid real/effective"
    );
    let r = regs(&mut w, GETGID, &[]);
    check!(
        !r.carry && r.rax == 0 && r.rdx == 0,
        "getgid real/effective"
    );
    let r = regs(&mut w, CLOSE, &[99]);
    check!(r.carry && r.rdx == 0, "failures leave rdx 0");
    Ok(())
}

fn openat_fstatat_and_the_at_fdcwd_cookie() -> Result<(), String> {
    let mut w = World::new();
    let d = w.cstr("/tmp/dir");
    check!(sc(&mut w, MKDIR, &[d, 0o755]) == Ok(0), "mkdir");
    let dfd = sc(&mut w, OPEN, &[d, O_RDONLY | O_DIRECTORY]).map_err(|e| e.to_string())? as u64;
    let name = w.cstr("inner");
    let fd = sc(
        &mut w,
        OPENAT,
        &[dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0o600],
    );
    check!(fd.is_ok(), "openat create: {fd:?}");
    check!(
        sc(
            &mut w,
            OPENAT,
            &[dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0o600]
        ) == Err(EEXIST),
        "O_EXCL (0x400)"
    );
    let st = w.buf(128);
    check!(
        sc(&mut w, FSTATAT, &[dfd, name, st, 0]) == Ok(0),
        "fstatat relative to dirfd"
    );
    check!(u32_at(&w, st, 16) == 0o100_600, "mode");
    let f = w.cstr("/tmp/dir/inner");
    check!(
        sc(&mut w, FSTATAT, &[AT_FDCWD, f, st, 0]) == Ok(0),
        "AT_FDCWD is 0xffd19553"
    );
    check!(
        sc(&mut w, FSTATAT, &[0xffff_ffff_ffd1_9553, f, st, 0]) == Ok(0),
        "the cookie sign-extended from an int"
    );
    check!(
        sc(&mut w, OPENAT, &[(-100i64) as u64, f, O_RDONLY]) == Err(EBADF),
        "Linux's -100 is just a bad descriptor here"
    );
    let ffd = sc(&mut w, OPEN, &[f, O_RDONLY]).map_err(|e| e.to_string())? as u64;
    check!(
        sc(&mut w, OPENAT, &[ffd, name, O_RDONLY]) == Err(ENOTDIR),
        "dirfd not a directory"
    );
    check!(
        sc(&mut w, FSTATAT, &[dfd, 0, st, 0]) == Ok(0)
            && u32_at(&w, st, 16) & 0o170_000 == 0o040_000,
        "fstatat(fd, NULL) describes fd itself"
    );
    check!(
        sc(&mut w, FSTATAT, &[dfd, name, st, 0x4]) == Err(EINVAL),
        "unknown flag"
    );
    Ok(())
}

fn getdents_records_have_no_d_type() -> Result<(), String> {
    let mut w = World::new();
    let d = w.cstr("/tmp/g");
    sc(&mut w, MKDIR, &[d, 0o755]).map_err(|e| e.to_string())?;
    for n in ["a", "bb", "ccc"] {
        create(&mut w, &format!("/tmp/g/{n}"), b"")?;
    }
    let fd = sc(&mut w, OPEN, &[d, O_RDONLY | O_DIRECTORY]).map_err(|e| e.to_string())? as u64;
    let buf = w.buf(4096);
    let n = sc(&mut w, GETDENTS, &[fd, buf, 4096]).map_err(|e| e.to_string())?;
    let bytes = w.get(buf, n as usize);
    let mut names = Vec::new();
    let mut at = 0;
    let mut last_off = 0i64;
    while at < bytes.len() {
        let reclen = u16::from_le_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
        check!(
            reclen.is_multiple_of(8) && reclen >= 24,
            "d_reclen {reclen}"
        );
        let off = i64::from_le_bytes(bytes[at + 8..at + 16].try_into().expect("8"));
        check!(off > last_off, "d_off increases");
        last_off = off;
        let name: Vec<u8> = bytes[at + 18..at + reclen]
            .iter()
            .copied()
            .take_while(|&b| b != 0)
            .collect();
        names.push(String::from_utf8_lossy(&name).into_owned());
        at += reclen;
    }
    check!(
        names.contains(&"ccc".into()) && names.contains(&".".into()),
        "d_name at 18: {names:?}"
    );
    check!(names.len() == 5, ". .. and three files: {names:?}");
    // "a" needs 18 + 2 = 20 bytes: one 24-byte record, name right at 18.
    check!(sc(&mut w, GETDENTS, &[fd, buf, 4096]) == Ok(0), "end");
    let fd2 = sc(&mut w, OPEN, &[d, O_RDONLY | O_DIRECTORY]).map_err(|e| e.to_string())? as u64;
    check!(
        sc(&mut w, GETDENTS, &[fd2, buf, 10]) == Err(EINVAL),
        "buffer too small for one record"
    );
    Ok(())
}

fn directories_rename_and_unlinkat() -> Result<(), String> {
    let mut w = World::new();
    let (d, f, g) = (w.cstr("/tmp/d"), w.cstr("/tmp/d/f"), w.cstr("/tmp/g"));
    check!(sc(&mut w, MKDIR, &[d, 0o755]) == Ok(0), "mkdir");
    check!(sc(&mut w, MKDIR, &[d, 0o755]) == Err(EEXIST), "EEXIST");
    create(&mut w, "/tmp/d/f", b"x")?;
    check!(
        sc(&mut w, UNLINK, &[d]) == Err(EISDIR),
        "unlink a directory"
    );
    check!(
        sc(&mut w, RENAMEAT, &[AT_FDCWD, f, AT_FDCWD, g]) == Ok(0),
        "renameat"
    );
    check!(sc(&mut w, UNLINK, &[f]) == Err(ENOENT), "moved away");
    check!(sc(&mut w, RENAME, &[g, f]) == Ok(0), "rename back");
    let dfd = sc(&mut w, OPEN, &[d, O_RDONLY | O_DIRECTORY]).map_err(|e| e.to_string())? as u64;
    let (fname, sub) = (w.cstr("f"), w.cstr("sub"));
    check!(sc(&mut w, MKDIRAT, &[dfd, sub, 0o700]) == Ok(0), "mkdirat");
    check!(
        sc(&mut w, UNLINKAT, &[dfd, sub, 0]) == Err(EISDIR),
        "unlinkat of a directory without AT_REMOVEDIR"
    );
    check!(
        sc(&mut w, UNLINKAT, &[dfd, sub, AT_REMOVEDIR]) == Ok(0),
        "AT_REMOVEDIR is 0x1"
    );
    check!(
        sc(&mut w, UNLINKAT, &[dfd, fname, 0]) == Ok(0),
        "unlinkat file"
    );
    check!(sc(&mut w, RMDIR, &[d]) == Ok(0), "rmdir");
    create(&mut w, "/tmp/plain", b"")?;
    let plain = w.cstr("/tmp/plain");
    check!(sc(&mut w, RMDIR, &[plain]) == Err(ENOTDIR), "rmdir a file");
    Ok(())
}

fn getcwd_chdir_fchdir() -> Result<(), String> {
    let mut w = World::new();
    let d = w.cstr("/tmp/work");
    sc(&mut w, MKDIR, &[d, 0o755]).map_err(|e| e.to_string())?;
    check!(sc(&mut w, CHDIR, &[d]) == Ok(0), "chdir");
    let buf = w.buf(64);
    check!(sc(&mut w, GETCWD, &[buf, 64]) == Ok(0), "getcwd returns 0");
    check!(w.get(buf, 10) == b"/tmp/work\0", "path");
    check!(sc(&mut w, GETCWD, &[buf, 5]) == Err(ERANGE), "ERANGE 34");
    check!(sc(&mut w, GETCWD, &[buf, 0]) == Err(EINVAL), "size 0");
    create(&mut w, "rel", b"")?;
    let abs = w.cstr("/tmp/work/rel");
    let st = w.buf(128);
    check!(
        sc(&mut w, STAT, &[abs, st]) == Ok(0),
        "relative create in cwd"
    );
    let root = w.cstr("/");
    let rfd = sc(&mut w, OPEN, &[root, O_RDONLY]).map_err(|e| e.to_string())? as u64;
    check!(sc(&mut w, FCHDIR, &[rfd]) == Ok(0), "fchdir");
    check!(
        sc(&mut w, GETCWD, &[buf, 64]) == Ok(0) && w.get(buf, 2) == b"/\0",
        "back at /"
    );
    let ffd = sc(&mut w, OPEN, &[abs, O_RDONLY]).map_err(|e| e.to_string())? as u64;
    check!(
        sc(&mut w, FCHDIR, &[ffd]) == Err(ENOTDIR),
        "fchdir to a file"
    );
    Ok(())
}

fn fcntl_dup_commands_and_flags() -> Result<(), String> {
    const F_DUPFD: u64 = 0;
    const F_GETFD: u64 = 1;
    const F_GETFL: u64 = 3;
    const F_SETFL: u64 = 4;
    const F_DUP2FD: u64 = 9;
    const F_DUP2FD_CLOEXEC: u64 = 36;
    const F_DUPFD_CLOEXEC: u64 = 37;
    let mut w = World::new();
    create(&mut w, "/tmp/f", b"abcdef")?;
    let p = w.cstr("/tmp/f");
    let fd = sc(&mut w, OPEN, &[p, O_RDONLY]).map_err(|e| e.to_string())? as u64;
    check!(
        sc(&mut w, FCNTL, &[fd, F_DUPFD, 0]) == Ok(1),
        "F_DUPFD takes the lowest"
    );
    check!(
        sc(&mut w, FCNTL, &[fd, F_DUP2FD, 10]) == Ok(10),
        "F_DUP2FD (9)"
    );
    check!(
        sc(&mut w, FCNTL, &[fd, F_DUP2FD_CLOEXEC, 11]) == Ok(11),
        "F_DUP2FD_CLOEXEC (36)"
    );
    check!(
        sc(&mut w, FCNTL, &[fd, F_DUP2FD_CLOEXEC, fd]) == Err(EINVAL),
        "F_DUP2FD_CLOEXEC onto itself"
    );
    check!(sc(&mut w, FCNTL, &[11, F_GETFD]) == Ok(1), "FD_CLOEXEC set");
    check!(
        sc(&mut w, FCNTL, &[10, F_GETFD]) == Ok(0),
        "FD_CLOEXEC clear"
    );
    check!(
        sc(&mut w, FCNTL, &[fd, F_DUPFD_CLOEXEC, 20]) == Ok(20),
        "F_DUPFD_CLOEXEC (37) at least 20"
    );
    check!(sc(&mut w, FCNTL, &[20, F_GETFD]) == Ok(1), "its FD_CLOEXEC");
    let buf = w.buf(8);
    sc(&mut w, READ, &[fd, buf, 2]).map_err(|e| e.to_string())?;
    sc(&mut w, READ, &[10, buf, 2]).map_err(|e| e.to_string())?;
    check!(w.get(buf, 2) == b"cd", "shared offset");
    check!(
        sc(&mut w, FCNTL, &[fd, F_SETFL, O_NONBLOCK | O_APPEND]) == Ok(0),
        "F_SETFL"
    );
    let fl = sc(&mut w, FCNTL, &[fd, F_GETFL]).map_err(|e| e.to_string())? as u64;
    check!(
        fl & O_NONBLOCK == 0x80 && fl & O_APPEND == 0x08 && fl & 3 == O_RDONLY,
        "O_NONBLOCK 0x80, O_APPEND 0x08: {fl:#x}"
    );
    check!(
        sc(&mut w, FCNTL, &[fd, 999]) == Err(EINVAL),
        "unknown command"
    );
    check!(
        sc(&mut w, FCNTL, &[55, F_GETFD]) == Err(EBADF),
        "bad descriptor"
    );
    Ok(())
}

fn open_flag_values() -> Result<(), String> {
    let mut w = World::new();
    let p = w.cstr("/tmp/o");
    let fd = sc(&mut w, OPEN, &[p, O_RDWR | O_CREAT | O_CLOEXEC, 0o644])
        .map_err(|e| e.to_string())? as u64;
    check!(
        sc(&mut w, FCNTL, &[fd, 1]) == Ok(1),
        "O_CLOEXEC (0x800000) sets FD_CLOEXEC"
    );
    let d = w.put(b"0123456789");
    sc(&mut w, WRITE, &[fd, d, 10]).map_err(|e| e.to_string())?;
    let fa = sc(&mut w, OPEN, &[p, O_WRONLY | O_APPEND]).map_err(|e| e.to_string())? as u64;
    let x = w.put(b"!");
    sc(&mut w, WRITE, &[fa, x, 1]).map_err(|e| e.to_string())?;
    check!(
        sc(&mut w, LSEEK, &[fa, 0, 1]) == Ok(11),
        "O_APPEND (0x08) wrote at the end"
    );
    let ft = sc(&mut w, OPEN, &[p, O_WRONLY | O_TRUNC]).map_err(|e| e.to_string())? as u64;
    check!(sc(&mut w, LSEEK, &[ft, 0, 2]) == Ok(0), "O_TRUNC (0x200)");
    check!(
        sc(&mut w, OPEN, &[p, O_RDONLY | O_DIRECTORY]) == Err(ENOTDIR),
        "O_DIRECTORY (0x1000000) on a file"
    );
    check!(
        sc(&mut w, OPEN, &[p, O_WRONLY | O_CREAT | O_EXCL, 0o644]) == Err(EEXIST),
        "O_CREAT|O_EXCL"
    );
    // Linux's O_CREAT (0o100 = 0x40) is O_DSYNC on illumos: no create.
    let q = w.cstr("/tmp/not-created");
    check!(
        sc(&mut w, OPEN, &[q, O_WRONLY | 0o100, 0o644]) == Err(ENOENT),
        "Linux O_CREAT bit does not create"
    );
    check!(sc(&mut w, LSEEK, &[fd, 0, 7]) == Err(EINVAL), "bad whence");
    Ok(())
}

fn pipe_fills_the_array() -> Result<(), String> {
    let mut w = World::new();
    let fds = w.buf(8);
    check!(
        sc(&mut w, PIPE, &[fds, O_NONBLOCK | O_CLOEXEC]) == Ok(0),
        "pipe(fds, flags) returns 0"
    );
    let (r, wr) = (u32_at(&w, fds, 0) as u64, u32_at(&w, fds, 4) as u64);
    check!(r == 0 && wr == 1, "fds[0], fds[1]: {r} {wr}");
    let buf = w.buf(16);
    check!(
        sc(&mut w, READ, &[r, buf, 16]) == Err(EAGAIN),
        "empty, O_NONBLOCK: EAGAIN 11"
    );
    let d = w.put(b"ping");
    check!(sc(&mut w, WRITE, &[wr, d, 4]) == Ok(4), "write");
    check!(sc(&mut w, READ, &[r, buf, 16]) == Ok(4), "read");
    check!(sc(&mut w, FCNTL, &[r, 1]) == Ok(1), "O_CLOEXEC");
    check!(sc(&mut w, LSEEK, &[r, 0, 0]) == Err(ESPIPE), "ESPIPE 29");
    check!(sc(&mut w, CLOSE, &[r]) == Ok(0), "close read end");
    check!(sc(&mut w, WRITE, &[wr, d, 4]) == Err(EPIPE), "EPIPE 32");
    let pending = w
        .sys
        .procs
        .get(w.pid)
        .map_err(|e| e.to_string())?
        .signals
        .pending;
    check!(
        pending.contains(libos::signal::Signal::SIGPIPE),
        "SIGPIPE raised"
    );
    check!(
        sc(&mut w, PIPE, &[fds, 0x40]) == Err(EINVAL),
        "flags other than O_NONBLOCK|O_CLOEXEC"
    );
    Ok(())
}

fn readv_writev() -> Result<(), String> {
    let mut w = World::new();
    let p = w.cstr("/tmp/v");
    let fd = sc(&mut w, OPEN, &[p, O_RDWR | O_CREAT, 0o644]).map_err(|e| e.to_string())? as u64;
    let (a, b) = (w.put(b"hello "), w.put(b"doors"));
    let mut iov = Vec::new();
    for (base, len) in [(a, 6u64), (b, 5)] {
        iov.extend_from_slice(&base.to_le_bytes());
        iov.extend_from_slice(&len.to_le_bytes());
    }
    let iov = w.put(&iov);
    check!(sc(&mut w, WRITEV, &[fd, iov, 2]) == Ok(11), "writev");
    sc(&mut w, LSEEK, &[fd, 0, 0]).map_err(|e| e.to_string())?;
    let (x, y) = (w.buf(5), w.buf(20));
    let mut iov2 = Vec::new();
    for (base, len) in [(x, 5u64), (y, 20)] {
        iov2.extend_from_slice(&base.to_le_bytes());
        iov2.extend_from_slice(&len.to_le_bytes());
    }
    let iov2 = w.put(&iov2);
    check!(sc(&mut w, READV, &[fd, iov2, 2]) == Ok(11), "readv");
    check!(
        w.get(x, 5) == b"hello" && w.get(y, 6) == b" doors",
        "scattered"
    );
    check!(
        sc(&mut w, WRITEV, &[fd, iov, 5000]) == Err(EINVAL),
        "iovcnt > IOV_MAX"
    );
    Ok(())
}

fn ioctl_termio_and_winsize() -> Result<(), String> {
    let mut w = World::new();
    let tty = w.cstr("/dev/tty");
    let fd = sc(&mut w, OPEN, &[tty, O_RDWR]).map_err(|e| e.to_string())? as u64;
    let ws = w.buf(8);
    check!(
        sc(&mut w, IOCTL, &[fd, 0x5468, ws]) == Ok(0),
        "TIOCGWINSZ ('T'<<8|104)"
    );
    check!(w.get(ws, 4) == [24, 0, 80, 0], "24x80");
    let t = w.put(&[0xaa; 20]);
    check!(sc(&mut w, IOCTL, &[fd, 0x5401, t]) == Ok(0), "TCGETA");
    check!(
        u16_at(&w, t, 6) & 0x2 != 0 && w.get(t + 9, 1) == [0x03],
        "termio: ICANON in c_lflag, VINTR ^C in c_cc[0]"
    );
    check!(
        w.get(t + 18, 2) == [0xaa, 0xaa],
        "struct termio is 18 bytes"
    );
    let ts = w.buf(36);
    check!(sc(&mut w, IOCTL, &[fd, 0x540d, ts]) == Ok(0), "TCGETS");
    check!(u32_at(&w, ts, 12) & 0x8 != 0, "termios: ECHO");
    create(&mut w, "/tmp/f", b"")?;
    let f = w.cstr("/tmp/f");
    let ffd = sc(&mut w, OPEN, &[f, O_RDONLY]).map_err(|e| e.to_string())? as u64;
    check!(
        sc(&mut w, IOCTL, &[ffd, 0x5401, t]) == Err(ENOTTY),
        "ENOTTY 25 on a file"
    );
    check!(
        sc(&mut w, IOCTL, &[fd, 0x5413, ws]) == Err(ENOTTY),
        "Linux's TIOCGWINSZ number means nothing here"
    );
    Ok(())
}

fn uname_is_sunos_with_257_byte_fields() -> Result<(), String> {
    let mut w = World::new();
    let u = w.put(&[0xee; 1290]);
    check!(sc(&mut w, UNAME, &[u]) == Ok(1), "uname returns 1");
    check!(w.get(u, 6) == b"SunOS\0", "sysname");
    check!(w.get(u + 257, 4) == b"exo\0", "nodename at 257");
    check!(w.get(u + 514, 5) == b"5.11\0", "release at 514");
    check!(w.get(u + 1028, 6) == b"i86pc\0", "machine at 1028");
    check!(
        w.get(u + 1284, 1) == [0] && w.get(u + 1285, 5) == [0xee; 5],
        "exactly 5 x 257 bytes"
    );
    Ok(())
}

fn systeminfo_lengths_and_truncation() -> Result<(), String> {
    let mut w = World::new();
    let buf = w.put(&[0xee; 64]);
    check!(
        sc(&mut w, SYSTEMINFO, &[1, buf, 64]) == Ok(6),
        "SI_SYSNAME: length with NUL"
    );
    check!(w.get(buf, 6) == b"SunOS\0", "SunOS");
    check!(
        sc(&mut w, SYSTEMINFO, &[6, buf, 64]) == Ok(5) && w.get(buf, 5) == b"i386\0",
        "SI_ARCHITECTURE i386"
    );
    check!(
        sc(&mut w, SYSTEMINFO, &[513, buf, 64]) == Ok(6) && w.get(buf, 6) == b"i86pc\0",
        "SI_PLATFORM"
    );
    check!(
        sc(&mut w, SYSTEMINFO, &[517, buf, 64]) == Ok(6) && w.get(buf, 6) == b"amd64\0",
        "SI_ARCHITECTURE_64"
    );
    let isa = sc(&mut w, SYSTEMINFO, &[514, buf, 4]).map_err(|e| e.to_string())?;
    check!(isa > 4, "SI_ISALIST reports its full length: {isa}");
    check!(
        w.get(buf, 4) == b"amd\0",
        "truncated to the buffer, NUL-terminated"
    );
    check!(
        sc(&mut w, SYSTEMINFO, &[2, buf, 64]) == Ok(4) && w.get(buf, 4) == b"exo\0",
        "SI_HOSTNAME"
    );
    check!(
        sc(&mut w, SYSTEMINFO, &[3, buf, 0]) == Ok(5),
        "count 0 copies nothing, still reports the length"
    );
    check!(
        sc(&mut w, SYSTEMINFO, &[4242, buf, 64]) == Err(EINVAL),
        "unknown command"
    );
    Ok(())
}

fn clocks_sleep_and_random() -> Result<(), String> {
    let mut w = World::new();
    let ts = w.buf(16);
    check!(
        sc(&mut w, CLOCK_GETTIME, &[4, ts]) == Ok(0),
        "CLOCK_HIGHRES (4)"
    );
    let first = u64_at(&w, ts, 0) * 1_000_000_000 + u64_at(&w, ts, 8);
    check!(u64_at(&w, ts, 8) < 1_000_000_000, "nsec in range");
    let req = w.put(&[0u8, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x4b, 0x4c, 0, 0, 0, 0, 0]);
    check!(sc(&mut w, NANOSLEEP, &[req, 0]) == Ok(0), "nanosleep 5 ms");
    sc(&mut w, CLOCK_GETTIME, &[4, ts]).map_err(|e| e.to_string())?;
    let second = u64_at(&w, ts, 0) * 1_000_000_000 + u64_at(&w, ts, 8);
    check!(
        second >= first + 5_000_000,
        "monotonic clock advanced past the sleep"
    );
    check!(
        sc(&mut w, CLOCK_GETTIME, &[3, ts]) == Ok(0),
        "CLOCK_REALTIME (3)"
    );
    check!(
        sc(&mut w, CLOCK_GETTIME, &[99, ts]) == Err(EINVAL),
        "bad clock"
    );
    let (a, b) = (w.buf(64), w.buf(64));
    check!(sc(&mut w, GETRANDOM, &[a, 64, 0]) == Ok(64), "getrandom");
    check!(sc(&mut w, GETRANDOM, &[b, 64, 0]) == Ok(64), "again");
    check!(w.get(a, 64) != w.get(b, 64), "different bytes");
    check!(
        sc(&mut w, GETRANDOM, &[a, 8, 0x80]) == Err(EINVAL),
        "bad flags"
    );
    Ok(())
}

fn sigaction_and_sigprocmask_layouts() -> Result<(), String> {
    let mut w = World::new();
    // struct sigaction { int sa_flags; handler; sigset_t sa_mask; resv }.
    let mut act = vec![0u8; 40];
    act[0..4].copy_from_slice(&0x4u32.to_le_bytes()); // SA_RESTART
    act[8..16].copy_from_slice(&0x40_1000u64.to_le_bytes());
    act[16..20].copy_from_slice(&(1u32 << 1).to_le_bytes()); // SIGINT
    let act = w.put(&act);
    let old = w.put(&[0xee; 40]);
    check!(
        sc(&mut w, SIGACTION, &[16, act, old]) == Ok(0),
        "install a SIGUSR1 (16) handler"
    );
    check!(u64_at(&w, old, 8) == 0, "was SIG_DFL");
    let pid = w.pid;
    let disp = w
        .sys
        .procs
        .get(pid)
        .map_err(|e| e.to_string())?
        .signals
        .actions[usize::from(libos::signal::Signal::SIGUSR1.number() - 1)];
    check!(
        matches!(
            disp,
            libos::signal::Disposition::Handler {
                entry: 0x40_1000,
                flags,
                ..
            } if flags.contains(libos::signal::ActionFlags::RESTART)
        ),
        "illumos 16 is the libOS's SIGUSR1: {disp:?}"
    );
    check!(sc(&mut w, SIGACTION, &[16, 0, old]) == Ok(0), "query");
    check!(
        u32_at(&w, old, 0) == 0x4 && u64_at(&w, old, 8) == 0x40_1000 && u32_at(&w, old, 16) == 2,
        "flags at 0, handler at 8, mask at 16"
    );
    check!(
        sc(&mut w, SIGACTION, &[9, act, 0]) == Err(EINVAL),
        "SIGKILL"
    );
    check!(
        sc(&mut w, SIGACTION, &[7, act, 0]) == Err(EINVAL),
        "SIGEMT has no libOS counterpart"
    );
    // SIG_BLOCK is 1 on illumos; block SIGUSR1 (bit 15).
    let set = w.put(&[0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let oset = w.put(&[0xee; 16]);
    check!(
        sc(&mut w, SIGPROCMASK, &[1, set, oset]) == Ok(0),
        "SIG_BLOCK"
    );
    check!(w.get(oset, 16) == [0; 16], "old mask empty");
    check!(
        sc(&mut w, SIGPROCMASK, &[0, 0, oset]) == Ok(0),
        "query (how ignored)"
    );
    check!(u32_at(&w, oset, 0) == 1 << 15, "SIGUSR1 blocked");
    check!(
        sc(&mut w, SIGPROCMASK, &[3, oset, 0]) == Ok(0)
            && sc(&mut w, SIGPROCMASK, &[9, set, 0]) == Err(EINVAL),
        "SIG_SETMASK ok, bad how EINVAL"
    );
    Ok(())
}

fn kill_uses_illumos_signal_numbers() -> Result<(), String> {
    let mut w = World::new();
    let set = w.put(&[0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    sc(&mut w, SIGPROCMASK, &[3, set, 0]).map_err(|e| e.to_string())?;
    let pid = w.pid as u64;
    check!(
        sc(&mut w, KILL, &[pid, 17]) == Ok(0),
        "kill(self, SIGUSR2=17)"
    );
    let pending = w
        .sys
        .procs
        .get(w.pid)
        .map_err(|e| e.to_string())?
        .signals
        .pending;
    check!(
        pending.contains(libos::signal::Signal::SIGUSR2)
            && !pending.contains(libos::signal::Signal::SIGCHLD),
        "pending is SIGUSR2, not Linux's 17 (SIGCHLD)"
    );
    check!(sc(&mut w, KILL, &[pid, 0]) == Ok(0), "signal 0 probes");
    check!(sc(&mut w, KILL, &[99_999, 0]) == Err(ESRCH), "ESRCH 3");
    check!(sc(&mut w, KILL, &[pid, 65]) == Err(EINVAL), "bad signal");
    Ok(())
}

fn waitid_fills_siginfo() -> Result<(), String> {
    const P_PID: u64 = 0;
    const P_ALL: u64 = 7;
    const WEXITED: u64 = 0x1;
    const WNOHANG: u64 = 0x40;
    let mut w = World::new();
    let si = w.put(&[0xee; 256]);
    check!(
        sc(&mut w, WAITID, &[P_ALL, 0, si, WEXITED | WNOHANG]) == Err(ECHILD),
        "no children: ECHILD 10"
    );
    let r = regs(&mut w, FORKSYS, &[0, 0]);
    let child = r.rax as Pid;
    check!(
        !r.carry && child > w.pid && r.rdx == 0,
        "forkx in the parent: rax = child, rdx = 0: {r:?}"
    );
    check!(
        sc(&mut w, WAITID, &[P_ALL, 0, si, WEXITED | WNOHANG]) == Ok(0),
        "WNOHANG, still running"
    );
    check!(
        u32_at(&w, si, 0) == 0 && u32_at(&w, si, 16) == 0,
        "nothing to report: siginfo zeroed"
    );
    let mut mem = VecMemory::new();
    let r = exo_illumos::syscall(
        &mut Ctx {
            sys: &w.sys,
            pid: child,
            mem: &mut mem,
        },
        EXIT,
        [3, 0, 0, 0, 0, 0],
    );
    check!(!r.carry, "child exits");
    check!(
        sc(&mut w, WAITID, &[P_PID, u64::from(child), si, WEXITED]) == Ok(0),
        "waitid(P_PID)"
    );
    check!(u32_at(&w, si, 0) == 18, "si_signo SIGCLD (18)");
    check!(u32_at(&w, si, 4) == 1, "si_code CLD_EXITED");
    check!(u32_at(&w, si, 16) == child, "si_pid at 16");
    check!(u32_at(&w, si, 32) == 3, "si_status at 32");
    check!(
        sc(&mut w, WAITID, &[P_ALL, 0, si, WNOHANG]) == Err(EINVAL),
        "no WEXITED/WSTOPPED/WCONTINUED/WTRAPPED"
    );
    check!(
        sc(&mut w, FORKSYS, &[2, 0]) == Err(EINVAL)
            && sc(&mut w, FORKSYS, &[0, 0x10]) == Err(EINVAL),
        "vforkx and unknown flags"
    );
    Ok(())
}

fn umask_at_calls_and_fchmodat() -> Result<(), String> {
    let mut w = World::new();
    check!(sc(&mut w, UMASK, &[0o077]) == Ok(0o022), "old umask");
    let p = w.cstr("/tmp/private");
    sc(&mut w, OPEN, &[p, O_WRONLY | O_CREAT, 0o666]).map_err(|e| e.to_string())?;
    let st = w.buf(128);
    sc(&mut w, STAT, &[p, st]).map_err(|e| e.to_string())?;
    check!(u32_at(&w, st, 16) & 0o777 == 0o600, "umask applied");
    let tmp = w.cstr("/tmp");
    let dfd = sc(&mut w, OPEN, &[tmp, O_RDONLY]).map_err(|e| e.to_string())? as u64;
    let (target, name) = (w.cstr("private"), w.cstr("alias"));
    check!(
        sc(&mut w, SYMLINKAT, &[target, dfd, name]) == Ok(0),
        "symlinkat(target, fd, path)"
    );
    let buf = w.buf(32);
    check!(
        sc(&mut w, READLINKAT, &[dfd, name, buf, 32]) == Ok(7) && w.get(buf, 7) == b"private",
        "readlinkat"
    );
    let pname = w.cstr("private");
    check!(
        sc(&mut w, FCHMODAT, &[dfd, pname, 0o640, 0]) == Ok(0),
        "fchmodat"
    );
    check!(
        sc(&mut w, FSTATAT, &[dfd, name, st, 0]) == Ok(0) && u32_at(&w, st, 16) & 0o777 == 0o640,
        "fstatat follows the link to the new mode"
    );
    check!(
        sc(&mut w, FSTATAT, &[dfd, name, st, AT_SYMLINK_NOFOLLOW]) == Ok(0)
            && u32_at(&w, st, 16) & 0o170_000 == 0o120_000,
        "AT_SYMLINK_NOFOLLOW is 0x1000"
    );
    Ok(())
}

/// Every case; the doors (two environments and host threads) only
/// when hosted.
pub fn cases() -> Vec<Case> {
    vec![
        ("open_read_write_close", open_read_write_close),
        ("errno_numbers_are_illumos", errno_numbers_are_illumos),
        ("bad_pointers_are_efault", bad_pointers_are_efault),
        ("struct_stat_layout", struct_stat_layout),
        ("lstat_symlink_readlink", lstat_symlink_readlink),
        (
            "getpid_getuid_getgid_use_two_registers",
            getpid_getuid_getgid_use_two_registers,
        ),
        (
            "openat_fstatat_and_the_at_fdcwd_cookie",
            openat_fstatat_and_the_at_fdcwd_cookie,
        ),
        (
            "getdents_records_have_no_d_type",
            getdents_records_have_no_d_type,
        ),
        (
            "directories_rename_and_unlinkat",
            directories_rename_and_unlinkat,
        ),
        ("getcwd_chdir_fchdir", getcwd_chdir_fchdir),
        ("fcntl_dup_commands_and_flags", fcntl_dup_commands_and_flags),
        ("open_flag_values", open_flag_values),
        ("pipe_fills_the_array", pipe_fills_the_array),
        ("readv_writev", readv_writev),
        ("ioctl_termio_and_winsize", ioctl_termio_and_winsize),
        (
            "uname_is_sunos_with_257_byte_fields",
            uname_is_sunos_with_257_byte_fields,
        ),
        (
            "systeminfo_lengths_and_truncation",
            systeminfo_lengths_and_truncation,
        ),
        ("clocks_sleep_and_random", clocks_sleep_and_random),
        (
            "sigaction_and_sigprocmask_layouts",
            sigaction_and_sigprocmask_layouts,
        ),
        (
            "kill_uses_illumos_signal_numbers",
            kill_uses_illumos_signal_numbers,
        ),
        ("waitid_fills_siginfo", waitid_fills_siginfo),
        ("umask_at_calls_and_fchmodat", umask_at_calls_and_fchmodat),
        #[cfg(not(target_os = "none"))]
        (
            "door_create_info_and_fstat",
            doors::door_create_info_and_fstat,
        ),
        #[cfg(not(target_os = "none"))]
        (
            "door_call_blocks_until_door_return",
            doors::door_call_blocks_until_door_return,
        ),
        #[cfg(not(target_os = "none"))]
        ("door_descriptor_passing", doors::door_descriptor_passing),
        #[cfg(not(target_os = "none"))]
        ("door_revoke_semantics", doors::door_revoke_semantics),
        #[cfg(not(target_os = "none"))]
        ("door_call_errors", doors::door_call_errors),
    ]
}

#[cfg(not(target_os = "none"))]
fn main() {
    exo_personality_tests::run_and_exit("illumos", &cases());
}

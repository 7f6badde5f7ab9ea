//! illumos amd64 ABI constants, errno numbers and struct layouts.
//!
//! Sources: illumos-gate `usr/src/uts/common/sys/{syscall,errno,fcntl,stat,
//! dirent,utsname,systeminfo,door,signal,siginfo,wait}.h`.

use alloc::vec::Vec;

use libos::Errno;
use libos::signal::Signal;
use libos::vfs::file::OpenFlags;
use libos::vfs::node::Stat;

/// illumos system-call numbers (`sys/syscall.h`).
#[allow(missing_docs)]
pub mod nr {
    pub const EXIT: u64 = 1;
    pub const READ: u64 = 3;
    pub const WRITE: u64 = 4;
    pub const OPEN: u64 = 5;
    pub const CLOSE: u64 = 6;
    pub const LINKAT: u64 = 7;
    pub const LINK: u64 = 9;
    pub const UNLINK: u64 = 10;
    pub const SYMLINKAT: u64 = 11;
    pub const CHDIR: u64 = 12;
    pub const CHMOD: u64 = 15;
    pub const STAT: u64 = 18;
    pub const LSEEK: u64 = 19;
    pub const GETPID: u64 = 20;
    pub const READLINKAT: u64 = 22;
    pub const GETUID: u64 = 24;
    pub const FSTAT: u64 = 28;
    pub const KILL: u64 = 37;
    pub const PIPE: u64 = 42;
    pub const GETGID: u64 = 47;
    pub const IOCTL: u64 = 54;
    pub const UMASK: u64 = 60;
    pub const FCNTL: u64 = 62;
    pub const RENAMEAT: u64 = 64;
    pub const UNLINKAT: u64 = 65;
    pub const FSTATAT: u64 = 66;
    pub const OPENAT: u64 = 68;
    pub const RMDIR: u64 = 79;
    pub const MKDIR: u64 = 80;
    pub const GETDENTS: u64 = 81;
    pub const LSTAT: u64 = 88;
    pub const SYMLINK: u64 = 89;
    pub const READLINK: u64 = 90;
    pub const SIGPROCMASK: u64 = 95;
    pub const SIGACTION: u64 = 98;
    pub const FCHMODAT: u64 = 101;
    pub const MKDIRAT: u64 = 102;
    pub const WAITID: u64 = 107;
    pub const FCHDIR: u64 = 120;
    pub const READV: u64 = 121;
    pub const WRITEV: u64 = 122;
    pub const GETRANDOM: u64 = 126;
    pub const RENAME: u64 = 134;
    pub const UNAME: u64 = 135;
    pub const SYSTEMINFO: u64 = 139;
    pub const FORKSYS: u64 = 142;
    pub const YIELD: u64 = 146;
    pub const LLSEEK: u64 = 175;
    pub const CLOCK_GETTIME: u64 = 191;
    pub const NANOSLEEP: u64 = 199;
    pub const DOOR: u64 = 201;
    pub const GETCWD: u64 = 229;
}

/// `door` (201) subcodes, in the sixth argument (`sys/door.h`).
#[allow(missing_docs)]
pub mod door {
    pub const CREATE: u64 = 0;
    pub const REVOKE: u64 = 1;
    pub const INFO: u64 = 2;
    pub const CALL: u64 = 3;
    pub const BIND: u64 = 6;
    pub const UNBIND: u64 = 7;
    pub const UNREFSYS: u64 = 8;
    pub const UCRED: u64 = 9;
    pub const RETURN: u64 = 10;
    pub const GETPARAM: u64 = 11;
    pub const SETPARAM: u64 = 12;

    /// `door_create` attributes.
    pub const DOOR_UNREF: u32 = 0x01;
    pub const DOOR_PRIVATE: u32 = 0x02;
    pub const DOOR_LOCAL: u32 = 0x04;
    pub const DOOR_REVOKED: u32 = 0x08;
    pub const DOOR_UNREF_MULTI: u32 = 0x10;
    pub const DOOR_REFUSE_DESC: u32 = 0x40;
    pub const DOOR_NO_CANCEL: u32 = 0x80;
    /// Attributes `door_create` accepts.
    pub const DOOR_CREATE_MASK: u32 =
        DOOR_UNREF | DOOR_PRIVATE | DOOR_UNREF_MULTI | DOOR_REFUSE_DESC | DOOR_NO_CANCEL;
    /// `door_desc_t`: a file descriptor is passed.
    pub const DOOR_DESCRIPTOR: u32 = 0x10000;
    /// `door_desc_t`: the sender's descriptor is closed once passed.
    pub const DOOR_RELEASE: u32 = 0x40000;
    /// `door_info` on the door the calling thread is serving.
    pub const DOOR_QUERY: i32 = -2;

    /// `door_arg_t` (amd64, natural alignment): 48 bytes.
    pub const ARG_SIZE: usize = 48;
    /// `door_desc_t` (amd64 under `#pragma pack(4)`): 24 bytes.
    pub const DESC_SIZE: usize = 24;
    /// `door_info_t` (amd64 under `#pragma pack(4)`): 48 bytes.
    pub const INFO_SIZE: usize = 48;
    /// `struct door_results` (amd64): 64 bytes.
    pub const RESULTS_SIZE: usize = 64;
}

/// illumos errno numbers (`sys/errno.h`).
#[must_use]
pub fn errno(e: Errno) -> u32 {
    match e {
        Errno::EPERM => 1,
        Errno::ENOENT => 2,
        Errno::ESRCH => 3,
        Errno::EINTR => 4,
        Errno::EIO => 5,
        Errno::ENXIO => 6,
        Errno::E2BIG => 7,
        Errno::ENOEXEC => 8,
        Errno::EBADF => 9,
        Errno::ECHILD => 10,
        Errno::EAGAIN => 11,
        Errno::ENOMEM => 12,
        Errno::EACCES => 13,
        Errno::EFAULT => 14,
        Errno::EBUSY => 16,
        Errno::EEXIST => 17,
        Errno::EXDEV => 18,
        Errno::ENODEV => 19,
        Errno::ENOTDIR => 20,
        Errno::EISDIR => 21,
        Errno::EINVAL => 22,
        Errno::ENFILE => 23,
        Errno::EMFILE => 24,
        Errno::ENOTTY => 25,
        Errno::EFBIG => 27,
        Errno::ENOSPC => 28,
        Errno::ESPIPE => 29,
        Errno::EROFS => 30,
        Errno::EMLINK => 31,
        Errno::EPIPE => 32,
        Errno::ERANGE => 34,
        Errno::EDEADLK => 45,
        Errno::ENAMETOOLONG => 78,
        Errno::ENOSYS => 89,
        Errno::ELOOP => 90,
        Errno::ENOTEMPTY => 93,
        Errno::ETIMEDOUT => 145,
        // `Errno` is non-exhaustive: anything added later is reported as
        // EINVAL until it gets its own number here.
        _ => 22,
    }
}

/// `AT_FDCWD` (`sys/fcntl.h`): a 32-bit magic cookie.
pub const AT_FDCWD: u64 = 0xffd1_9553;
/// `AT_SYMLINK_NOFOLLOW`.
pub const AT_SYMLINK_NOFOLLOW: u64 = 0x1000;
/// `AT_REMOVEDIR`.
pub const AT_REMOVEDIR: u64 = 0x1;

/// `open` flag bits (`sys/fcntl.h`).
#[allow(missing_docs)]
pub mod o {
    pub const ACCMODE: u64 = 3;
    pub const NDELAY: u64 = 0x04;
    pub const APPEND: u64 = 0x08;
    pub const SYNC: u64 = 0x10;
    pub const DSYNC: u64 = 0x40;
    pub const NONBLOCK: u64 = 0x80;
    pub const CREAT: u64 = 0x100;
    pub const TRUNC: u64 = 0x200;
    pub const EXCL: u64 = 0x400;
    pub const NOCTTY: u64 = 0x800;
    pub const LARGEFILE: u64 = 0x2000;
    pub const NOFOLLOW: u64 = 0x20000;
    pub const CLOEXEC: u64 = 0x80_0000;
    pub const DIRECTORY: u64 = 0x100_0000;
}

/// Is `fd` the `AT_FDCWD` cookie (as an `int`, possibly sign-extended)?
#[must_use]
pub fn is_at_fdcwd(fd: u64) -> bool {
    fd & 0xffff_ffff == AT_FDCWD
}

/// Decodes illumos `open` flags.
///
/// # Errors
/// `EINVAL` for access mode 3.
pub fn open_flags(flags: u64) -> libos::Result<OpenFlags> {
    let (read, write) = match flags & o::ACCMODE {
        0 => (true, false),
        1 => (false, true),
        2 => (true, true),
        _ => return Err(Errno::EINVAL),
    };
    Ok(OpenFlags {
        read,
        write,
        create: flags & o::CREAT != 0,
        excl: flags & o::EXCL != 0,
        trunc: flags & o::TRUNC != 0,
        append: flags & o::APPEND != 0,
        nonblock: flags & (o::NONBLOCK | o::NDELAY) != 0,
        directory: flags & o::DIRECTORY != 0,
        nofollow: flags & o::NOFOLLOW != 0,
        cloexec: flags & o::CLOEXEC != 0,
    })
}

/// Status flags for `F_GETFL`.
#[must_use]
pub fn status_flags(f: OpenFlags) -> u64 {
    let mut v = match (f.read, f.write) {
        (true, true) => 2,
        (false, true) => 1,
        _ => 0,
    };
    if f.append {
        v |= o::APPEND;
    }
    if f.nonblock {
        v |= o::NONBLOCK;
    }
    v | o::LARGEFILE
}

/// `S_IFDOOR`: the file type of a door descriptor.
pub const S_IFDOOR: u32 = 0xd000;

/// Size of amd64 `struct stat` (`_LP64`).
pub const STAT_SIZE: usize = 128;

/// amd64 `struct stat`: `st_dev` 0, `st_ino` 8, `st_mode` 16, `st_nlink`
/// 20, `st_uid` 24, `st_gid` 28, `st_rdev` 32, `st_size` 40, `st_atim` 48,
/// `st_mtim` 64, `st_ctim` 80, `st_blksize` 96, `st_blocks` 104,
/// `st_fstype[16]` 112.
#[must_use]
pub fn stat_bytes(s: &Stat, mode: u32, fstype: &[u8]) -> [u8; STAT_SIZE] {
    let mut b = [0u8; STAT_SIZE];
    let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(0, &s.dev.to_le_bytes());
    put(8, &s.ino.to_le_bytes());
    put(16, &mode.to_le_bytes());
    put(20, &s.nlink.to_le_bytes());
    put(24, &s.uid.to_le_bytes());
    put(28, &s.gid.to_le_bytes());
    put(32, &s.rdev.to_le_bytes());
    put(40, &s.size.to_le_bytes());
    for (at, t) in [(48, s.atime), (64, s.mtime), (80, s.ctime)] {
        put(at, &t.sec.to_le_bytes());
        put(at + 8, &u64::from(t.nsec).to_le_bytes());
    }
    put(96, &s.blksize.to_le_bytes());
    put(104, &s.blocks.to_le_bytes());
    let n = fstype.len().min(15);
    put(112, &fstype[..n]);
    b
}

/// `st_fstype` by the libOS's filesystem ids (see `System::boot`).
#[must_use]
pub fn fstype(dev: u64) -> &'static [u8] {
    match dev {
        1 | 5 => b"tmpfs",
        2 => b"dev",
        3 => b"proc",
        4 => b"sysfs",
        _ => b"",
    }
}

/// One amd64 `struct dirent` record: `d_ino` 0, `d_off` 8, `d_reclen` 16,
/// `d_name` 18 (NUL-terminated), 8-aligned. illumos has no `d_type`.
#[must_use]
pub fn dirent(ino: u64, next_offset: i64, name: &[u8]) -> Vec<u8> {
    let reclen = (18 + name.len() + 1).next_multiple_of(8);
    let mut r = alloc::vec![0u8; reclen];
    r[0..8].copy_from_slice(&ino.to_le_bytes());
    r[8..16].copy_from_slice(&next_offset.to_le_bytes());
    r[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
    r[18..18 + name.len()].copy_from_slice(name);
    r
}

/// `SYS_NMLN`: the size of each `utsname` field.
pub const SYS_NMLN: usize = 257;

/// `struct utsname`: five 257-byte fields (sysname, nodename, release,
/// version, machine).
#[must_use]
pub fn utsname(fields: [&[u8]; 5]) -> [u8; 5 * SYS_NMLN] {
    let mut b = [0u8; 5 * SYS_NMLN];
    for (i, f) in fields.iter().enumerate() {
        let n = f.len().min(SYS_NMLN - 1);
        b[i * SYS_NMLN..i * SYS_NMLN + n].copy_from_slice(&f[..n]);
    }
    b
}

/// `timespec_t`.
#[must_use]
pub fn timespec(sec: i64, nsec: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&sec.to_le_bytes());
    b[8..].copy_from_slice(&u64::from(nsec).to_le_bytes());
    b
}

/// illumos signal numbers (`sys/signal.h`) to the libOS's; `SIGEMT` (7)
/// and the real-time range have no libOS counterpart.
///
/// # Errors
/// `EINVAL` for numbers outside 1–31 and `SIGEMT`.
pub fn signal_in(n: u64) -> libos::Result<Signal> {
    Ok(match n {
        1 => Signal::SIGHUP,
        2 => Signal::SIGINT,
        3 => Signal::SIGQUIT,
        4 => Signal::SIGILL,
        5 => Signal::SIGTRAP,
        6 => Signal::SIGABRT,
        8 => Signal::SIGFPE,
        9 => Signal::SIGKILL,
        10 => Signal::SIGBUS,
        11 => Signal::SIGSEGV,
        12 => Signal::SIGSYS,
        13 => Signal::SIGPIPE,
        14 => Signal::SIGALRM,
        15 => Signal::SIGTERM,
        16 => Signal::SIGUSR1,
        17 => Signal::SIGUSR2,
        18 => Signal::SIGCHLD,
        19 => Signal::SIGPWR,
        20 => Signal::SIGWINCH,
        21 => Signal::SIGURG,
        22 => Signal::SIGIO,
        23 => Signal::SIGSTOP,
        24 => Signal::SIGTSTP,
        25 => Signal::SIGCONT,
        26 => Signal::SIGTTIN,
        27 => Signal::SIGTTOU,
        28 => Signal::SIGVTALRM,
        29 => Signal::SIGPROF,
        30 => Signal::SIGXCPU,
        31 => Signal::SIGXFSZ,
        _ => return Err(Errno::EINVAL),
    })
}

/// The illumos number of a libOS signal (0 if illumos has none).
#[must_use]
pub fn signal_out(s: Signal) -> u32 {
    (1..=31u32)
        .find(|&n| signal_in(u64::from(n)).is_ok_and(|x| x == s))
        .unwrap_or(0)
}

/// An illumos `sigset_t` (four 32-bit words) as a libOS set.
#[must_use]
pub fn sigset_in(words: [u32; 4]) -> libos::signal::SigSet {
    let mut set = libos::signal::SigSet::EMPTY;
    for n in 1..=31u64 {
        let bit = words[0] & (1 << (n - 1)) != 0;
        if bit && let Ok(s) = signal_in(n) {
            set.insert(s);
        }
    }
    set
}

/// A libOS set as an illumos `sigset_t` (16 bytes).
#[must_use]
pub fn sigset_out(set: libos::signal::SigSet) -> [u8; 16] {
    let mut w0 = 0u32;
    for n in 1..=31u32 {
        if let Ok(s) = signal_in(u64::from(n))
            && set.contains(s)
        {
            w0 |= 1 << (n - 1);
        }
    }
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&w0.to_le_bytes());
    b
}

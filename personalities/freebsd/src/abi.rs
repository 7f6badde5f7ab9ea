//! FreeBSD amd64 ABI constants and struct layouts (FreeBSD 12+, "ino64").

use alloc::vec::Vec;

use libos::process::ExitStatus;
use libos::signal::{SigSet, Signal};
use libos::vfs::file::OpenFlags;
use libos::vfs::node::{Stat, Timespec};
use libos::{Errno, Result};

/// `AT_FDCWD`.
pub const AT_FDCWD: i64 = -100;
/// `AT_SYMLINK_NOFOLLOW`.
pub const AT_SYMLINK_NOFOLLOW: u64 = 0x200;
/// `AT_SYMLINK_FOLLOW`.
pub const AT_SYMLINK_FOLLOW: u64 = 0x400;
/// `AT_REMOVEDIR`.
pub const AT_REMOVEDIR: u64 = 0x800;
/// `AT_EMPTY_PATH`.
pub const AT_EMPTY_PATH: u64 = 0x4000;

/// `open` flag bits (`sys/sys/fcntl.h`).
pub mod o {
    /// Access mode mask.
    pub const ACCMODE: u64 = 3;
    /// Non-blocking.
    pub const NONBLOCK: u64 = 0x4;
    /// Append.
    pub const APPEND: u64 = 0x8;
    /// Do not follow a final symlink.
    pub const NOFOLLOW: u64 = 0x100;
    /// Create.
    pub const CREAT: u64 = 0x200;
    /// Truncate.
    pub const TRUNC: u64 = 0x400;
    /// Exclusive.
    pub const EXCL: u64 = 0x800;
    /// No controlling tty.
    pub const NOCTTY: u64 = 0x8000;
    /// Must be a directory.
    pub const DIRECTORY: u64 = 0x2_0000;
    /// Close on exec.
    pub const CLOEXEC: u64 = 0x10_0000;
}

/// Decodes FreeBSD `open` flags.
///
/// # Errors
/// `EINVAL` for an access mode of 3.
pub fn open_flags(flags: u64) -> Result<OpenFlags> {
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
        nonblock: flags & o::NONBLOCK != 0,
        directory: flags & o::DIRECTORY != 0,
        nofollow: flags & o::NOFOLLOW != 0,
        cloexec: flags & o::CLOEXEC != 0,
    })
}

/// Encodes status flags for `F_GETFL`.
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
    v
}

/// Size of `struct stat` (FreeBSD 12+ on amd64).
pub const STAT_SIZE: usize = 224;

/// Byte offsets of `struct stat`'s fields.
pub mod stat_off {
    /// `st_dev` (u64).
    pub const DEV: usize = 0;
    /// `st_ino` (u64).
    pub const INO: usize = 8;
    /// `st_nlink` (u64).
    pub const NLINK: usize = 16;
    /// `st_mode` (u16).
    pub const MODE: usize = 24;
    /// `st_uid` (u32).
    pub const UID: usize = 28;
    /// `st_gid` (u32).
    pub const GID: usize = 32;
    /// `st_rdev` (u64).
    pub const RDEV: usize = 40;
    /// `st_atim` (timespec).
    pub const ATIM: usize = 48;
    /// `st_mtim`.
    pub const MTIM: usize = 64;
    /// `st_ctim`.
    pub const CTIM: usize = 80;
    /// `st_birthtim`.
    pub const BIRTHTIM: usize = 96;
    /// `st_size` (i64).
    pub const SIZE: usize = 112;
    /// `st_blocks` (i64).
    pub const BLOCKS: usize = 120;
    /// `st_blksize` (i32).
    pub const BLKSIZE: usize = 128;
    /// `st_flags` (u32).
    pub const FLAGS: usize = 132;
    /// `st_gen` (u64).
    pub const GEN: usize = 136;
}

/// `struct stat`. The libOS keeps no birth time, so `st_birthtim` is
/// `{-1, 0}` as on FreeBSD filesystems without one; `st_flags` and
/// `st_gen` are 0.
#[must_use]
pub fn stat_bytes(s: &Stat) -> [u8; STAT_SIZE] {
    use stat_off as f;
    let mut b = [0u8; STAT_SIZE];
    let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(f::DEV, &s.dev.to_le_bytes());
    put(f::INO, &s.ino.to_le_bytes());
    put(f::NLINK, &u64::from(s.nlink).to_le_bytes());
    put(f::MODE, &(s.mode() as u16).to_le_bytes());
    put(f::UID, &s.uid.to_le_bytes());
    put(f::GID, &s.gid.to_le_bytes());
    put(f::RDEV, &s.rdev.to_le_bytes());
    for (at, t) in [(f::ATIM, s.atime), (f::MTIM, s.mtime), (f::CTIM, s.ctime)] {
        put(at, &timespec(t));
    }
    put(f::BIRTHTIM, &(-1i64).to_le_bytes());
    put(f::SIZE, &s.size.to_le_bytes());
    put(f::BLOCKS, &s.blocks.to_le_bytes());
    put(f::BLKSIZE, &s.blksize.to_le_bytes());
    b
}

/// Offset of `d_name` in `struct dirent`.
pub const DIRENT_NAME: usize = 24;

/// One FreeBSD 12 `struct dirent` record: `d_fileno` u64, `d_off` u64
/// (the offset of the next entry), `d_reclen` u16, `d_type` u8, `d_pad0`,
/// `d_namlen` u16, `d_pad1`, then the NUL-terminated name, padded to 8
/// bytes (`_GENERIC_DIRSIZ`).
#[must_use]
pub fn dirent(ino: u64, next_offset: u64, d_type: u8, name: &[u8]) -> Vec<u8> {
    let reclen = (DIRENT_NAME + name.len() + 1).next_multiple_of(8);
    let mut r = alloc::vec![0u8; reclen];
    r[0..8].copy_from_slice(&ino.to_le_bytes());
    r[8..16].copy_from_slice(&next_offset.to_le_bytes());
    r[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
    r[18] = d_type;
    r[20..22].copy_from_slice(&(name.len() as u16).to_le_bytes());
    r[DIRENT_NAME..DIRENT_NAME + name.len()].copy_from_slice(name);
    r
}

/// `struct timespec` (two 64-bit words).
#[must_use]
pub fn timespec(t: Timespec) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&t.sec.to_le_bytes());
    b[8..].copy_from_slice(&i64::from(t.nsec).to_le_bytes());
    b
}

/// FreeBSD signal numbers (`sys/sys/signal.h`) and their libOS
/// counterparts. The libOS numbers signals as Linux does; FreeBSD's
/// differ from 7 upwards (`SIGBUS` 10, `SIGUSR1` 30, `SIGCHLD` 20, …).
pub mod sig {
    /// `SIGCHLD`.
    pub const SIGCHLD: u32 = 20;
    /// `SIGUSR1`.
    pub const SIGUSR1: u32 = 30;
    /// `SIGUSR2`.
    pub const SIGUSR2: u32 = 31;
    /// First real-time signal (`SIGRTMIN`).
    pub const SIGRTMIN: u32 = 65;
    /// Highest signal number (`_SIG_MAXSIG`).
    pub const MAXSIG: u32 = 128;

    /// `(FreeBSD, libOS)` pairs for the classic signals. `SIGEMT` (7),
    /// `SIGINFO` (29), `SIGTHR` (32) and `SIGLIBRT` (33) have no libOS
    /// counterpart.
    pub const MAP: &[(u32, u8)] = &[
        (1, 1),   // SIGHUP
        (2, 2),   // SIGINT
        (3, 3),   // SIGQUIT
        (4, 4),   // SIGILL
        (5, 5),   // SIGTRAP
        (6, 6),   // SIGABRT
        (8, 8),   // SIGFPE
        (9, 9),   // SIGKILL
        (10, 7),  // SIGBUS
        (11, 11), // SIGSEGV
        (12, 31), // SIGSYS
        (13, 13), // SIGPIPE
        (14, 14), // SIGALRM
        (15, 15), // SIGTERM
        (16, 23), // SIGURG
        (17, 19), // SIGSTOP
        (18, 20), // SIGTSTP
        (19, 18), // SIGCONT
        (20, 17), // SIGCHLD
        (21, 21), // SIGTTIN
        (22, 22), // SIGTTOU
        (23, 29), // SIGIO
        (24, 24), // SIGXCPU
        (25, 25), // SIGXFSZ
        (26, 26), // SIGVTALRM
        (27, 27), // SIGPROF
        (28, 28), // SIGWINCH
        (30, 10), // SIGUSR1
        (31, 12), // SIGUSR2
    ];
}

/// The libOS signal for FreeBSD signal `n`.
///
/// # Errors
/// `EINVAL` for 0, numbers past `_SIG_MAXSIG`, and FreeBSD signals the
/// libOS cannot represent (`SIGEMT`, `SIGINFO`, `SIGTHR`, `SIGLIBRT`,
/// real-time signals past the libOS's 64).
pub fn signal_from(n: u64) -> Result<Signal> {
    let n = u32::try_from(n).map_err(|_| Errno::EINVAL)?;
    if let Some(&(_, l)) = sig::MAP.iter().find(|(f, _)| *f == n) {
        return Signal::new(u32::from(l));
    }
    if (sig::SIGRTMIN..sig::SIGRTMIN + 31).contains(&n) {
        return Signal::new(n - sig::SIGRTMIN + 34);
    }
    Err(Errno::EINVAL)
}

/// The FreeBSD number of libOS signal `s` (`None` for `SIGSTKFLT` and
/// `SIGPWR`, which FreeBSD lacks).
#[must_use]
pub fn signal_to(s: Signal) -> Option<u32> {
    let l = s.number();
    if let Some(&(f, _)) = sig::MAP.iter().find(|(_, x)| *x == l) {
        return Some(f);
    }
    (34..=Signal::MAX)
        .contains(&l)
        .then(|| u32::from(l) - 34 + sig::SIGRTMIN)
}

/// Size of `sigset_t`: four 32-bit words.
pub const SIGSET_SIZE: usize = 16;

/// Decodes a FreeBSD `sigset_t` (bit `n - 1` for signal `n`); signals the
/// libOS lacks are dropped.
#[must_use]
pub fn sigset_from(bytes: &[u8; SIGSET_SIZE]) -> SigSet {
    let bits = u128::from_le_bytes(*bytes);
    let mut set = SigSet::EMPTY;
    for n in 1..=sig::MAXSIG {
        if bits & (1u128 << (n - 1)) != 0
            && let Ok(s) = signal_from(u64::from(n))
        {
            set.insert(s);
        }
    }
    set
}

/// Encodes a libOS signal set as a FreeBSD `sigset_t`.
#[must_use]
pub fn sigset_to(set: SigSet) -> [u8; SIGSET_SIZE] {
    let mut bits = 0u128;
    for l in 1..=Signal::MAX {
        if let Ok(s) = Signal::new(u32::from(l))
            && set.contains(s)
            && let Some(f) = signal_to(s)
        {
            bits |= 1u128 << (f - 1);
        }
    }
    bits.to_le_bytes()
}

/// The `wait` status word with FreeBSD's signal numbers (exit code in
/// bits 8–15; or the signal in bits 0–6, bit 7 for a core dump).
#[must_use]
pub fn wait_status(s: ExitStatus) -> i32 {
    match s {
        ExitStatus::Exited(code) => i32::from(code) << 8,
        ExitStatus::Signaled { signal, core } => {
            let n = signal_to(signal).unwrap_or(u32::from(signal.number())) as i32;
            n | if core { 0x80 } else { 0 }
        }
    }
}

/// Size of `siginfo_t` on amd64.
pub const SIGINFO_SIZE: usize = 80;

/// `siginfo_t` as `wait6` fills it for a child that ended: `si_signo`
/// `SIGCHLD`, `si_code` `CLD_EXITED` (1), `CLD_KILLED` (2) or
/// `CLD_DUMPED` (3), `si_pid`, `si_uid`, `si_status` (exit code or
/// signal).
#[must_use]
pub fn child_siginfo(pid: u32, uid: u32, s: ExitStatus) -> [u8; SIGINFO_SIZE] {
    let (code, status) = match s {
        ExitStatus::Exited(c) => (1i32, i32::from(c)),
        ExitStatus::Signaled { signal, core } => (
            if core { 3 } else { 2 },
            signal_to(signal).unwrap_or(u32::from(signal.number())) as i32,
        ),
    };
    let mut b = [0u8; SIGINFO_SIZE];
    b[0..4].copy_from_slice(&(sig::SIGCHLD as i32).to_le_bytes());
    b[8..12].copy_from_slice(&code.to_le_bytes());
    b[12..16].copy_from_slice(&pid.to_le_bytes());
    b[16..20].copy_from_slice(&uid.to_le_bytes());
    b[20..24].copy_from_slice(&status.to_le_bytes());
    b
}

/// Size of `struct rusage` on amd64 (two `timeval`s and 14 longs).
pub const RUSAGE_SIZE: usize = 144;

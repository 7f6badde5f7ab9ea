//! Linux x86_64 ABI constants and struct layouts.

use alloc::vec::Vec;

use libos::vfs::file::OpenFlags;
use libos::vfs::node::Stat;

/// `AT_FDCWD`.
pub const AT_FDCWD: i64 = -100;
/// `AT_SYMLINK_NOFOLLOW`.
pub const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
/// `AT_REMOVEDIR`.
pub const AT_REMOVEDIR: u64 = 0x200;
/// `AT_EMPTY_PATH`.
pub const AT_EMPTY_PATH: u64 = 0x1000;

/// `open` flag bits.
pub mod o {
    /// Access mode mask.
    pub const ACCMODE: u64 = 3;
    /// Create.
    pub const CREAT: u64 = 0o100;
    /// Exclusive.
    pub const EXCL: u64 = 0o200;
    /// No controlling tty.
    pub const NOCTTY: u64 = 0o400;
    /// Truncate.
    pub const TRUNC: u64 = 0o1000;
    /// Append.
    pub const APPEND: u64 = 0o2000;
    /// Non-blocking.
    pub const NONBLOCK: u64 = 0o4000;
    /// Must be a directory.
    pub const DIRECTORY: u64 = 0o200_000;
    /// Do not follow a final symlink.
    pub const NOFOLLOW: u64 = 0o400_000;
    /// Close on exec.
    pub const CLOEXEC: u64 = 0o2_000_000;
    /// Large-file (always on for 64-bit; accepted and ignored).
    pub const LARGEFILE: u64 = 0o100_000;
    /// Every bit handled.
    pub const KNOWN: u64 = ACCMODE
        | CREAT
        | EXCL
        | NOCTTY
        | TRUNC
        | APPEND
        | NONBLOCK
        | DIRECTORY
        | NOFOLLOW
        | CLOEXEC
        | LARGEFILE;
}

/// Decodes `open` flags.
///
/// # Errors
/// `EINVAL` for an access mode of 3.
pub fn open_flags(flags: u64) -> libos::Result<OpenFlags> {
    let (read, write) = match flags & o::ACCMODE {
        0 => (true, false),
        1 => (false, true),
        2 => (true, true),
        _ => return Err(libos::Errno::EINVAL),
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
    v | o::LARGEFILE
}

/// Size of `struct stat`.
pub const STAT_SIZE: usize = 144;

/// `struct stat` (x86_64).
#[must_use]
pub fn stat_bytes(s: &Stat) -> [u8; STAT_SIZE] {
    let mut b = [0u8; STAT_SIZE];
    let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(0, &s.dev.to_le_bytes());
    put(8, &s.ino.to_le_bytes());
    put(16, &u64::from(s.nlink).to_le_bytes());
    put(24, &s.mode().to_le_bytes());
    put(28, &s.uid.to_le_bytes());
    put(32, &s.gid.to_le_bytes());
    put(40, &s.rdev.to_le_bytes());
    put(48, &s.size.to_le_bytes());
    put(56, &u64::from(s.blksize).to_le_bytes());
    put(64, &s.blocks.to_le_bytes());
    for (at, t) in [(72, s.atime), (88, s.mtime), (104, s.ctime)] {
        put(at, &t.sec.to_le_bytes());
        put(at + 8, &u64::from(t.nsec).to_le_bytes());
    }
    b
}

/// Size of `struct statx` (the same on every architecture).
pub const STATX_SIZE: usize = 256;

/// `STATX_BASIC_STATS`: type, mode, nlink, uid, gid, atime, mtime, ctime,
/// ino, size, blocks — every field [`statx_bytes`] fills.
pub const STATX_BASIC_STATS: u32 = 0x7ff;

/// A device number's `(major, minor)` as Linux encodes `dev_t` (12-bit
/// major and 20-bit minor, split around the low byte).
#[must_use]
pub const fn dev_split(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// `struct statx` (`linux/stat.h`): `stx_mask` at 0, `stx_blksize` 4,
/// `stx_nlink` 16, `stx_uid` 20, `stx_gid` 24, `stx_mode` (u16) 28,
/// `stx_ino` 32, `stx_size` 40, `stx_blocks` 48, timestamps of 16 bytes
/// (`tv_sec` i64, `tv_nsec` u32) with atime at 64, btime 80 (zero: not
/// kept), ctime 96, mtime 112, then `stx_rdev_major`/`minor` at 128/132
/// and `stx_dev_major`/`minor` at 136/140.
#[must_use]
pub fn statx_bytes(s: &Stat) -> [u8; STATX_SIZE] {
    let mut b = [0u8; STATX_SIZE];
    let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(0, &STATX_BASIC_STATS.to_le_bytes());
    put(4, &s.blksize.to_le_bytes());
    put(16, &s.nlink.to_le_bytes());
    put(20, &s.uid.to_le_bytes());
    put(24, &s.gid.to_le_bytes());
    put(28, &(s.mode() as u16).to_le_bytes());
    put(32, &s.ino.to_le_bytes());
    put(40, &s.size.to_le_bytes());
    put(48, &s.blocks.to_le_bytes());
    for (at, t) in [(64, s.atime), (96, s.ctime), (112, s.mtime)] {
        put(at, &t.sec.to_le_bytes());
        put(at + 8, &t.nsec.to_le_bytes());
    }
    let (rmaj, rmin) = dev_split(s.rdev);
    let (dmaj, dmin) = dev_split(s.dev);
    put(128, &rmaj.to_le_bytes());
    put(132, &rmin.to_le_bytes());
    put(136, &dmaj.to_le_bytes());
    put(140, &dmin.to_le_bytes());
    b
}

/// Size of the generic `struct stat` (aarch64, riscv64).
pub const STAT_SIZE_GENERIC: usize = 128;

/// The generic `struct stat` (`asm-generic/stat.h`), which aarch64 uses:
/// `st_mode` before `st_nlink`, both 32-bit, padding after `st_rdev` and
/// `st_blksize`.
#[must_use]
pub fn stat_bytes_generic(s: &Stat) -> [u8; STAT_SIZE_GENERIC] {
    let mut b = [0u8; STAT_SIZE_GENERIC];
    let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(0, &s.dev.to_le_bytes());
    put(8, &s.ino.to_le_bytes());
    put(16, &s.mode().to_le_bytes());
    put(20, &s.nlink.to_le_bytes());
    put(24, &s.uid.to_le_bytes());
    put(28, &s.gid.to_le_bytes());
    put(32, &s.rdev.to_le_bytes());
    put(48, &s.size.to_le_bytes());
    put(56, &s.blksize.to_le_bytes());
    put(64, &s.blocks.to_le_bytes());
    for (at, t) in [(72, s.atime), (88, s.mtime), (104, s.ctime)] {
        put(at, &t.sec.to_le_bytes());
        put(at + 8, &u64::from(t.nsec).to_le_bytes());
    }
    b
}

/// One `struct linux_dirent64` record.
#[must_use]
pub fn dirent64(ino: u64, next_offset: i64, d_type: u8, name: &[u8]) -> Vec<u8> {
    let reclen = (19 + name.len() + 1).next_multiple_of(8);
    let mut r = alloc::vec![0u8; reclen];
    r[0..8].copy_from_slice(&ino.to_le_bytes());
    r[8..16].copy_from_slice(&next_offset.to_le_bytes());
    r[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
    r[18] = d_type;
    r[19..19 + name.len()].copy_from_slice(name);
    r
}

/// `struct utsname`: six 65-byte fields.
#[must_use]
pub fn utsname(fields: [&[u8]; 6]) -> [u8; 390] {
    let mut b = [0u8; 390];
    for (i, f) in fields.iter().enumerate() {
        let n = f.len().min(64);
        b[i * 65..i * 65 + n].copy_from_slice(&f[..n]);
    }
    b
}

/// `struct timespec`.
#[must_use]
pub fn timespec(sec: i64, nsec: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&sec.to_le_bytes());
    b[8..].copy_from_slice(&u64::from(nsec).to_le_bytes());
    b
}

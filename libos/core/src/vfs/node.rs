//! What a filesystem provides: the [`Fs`] trait over inode numbers, and the
//! attribute types the VFS and personalities share.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::errno::Result;

/// An inode number within one filesystem.
pub type Ino = u64;

/// The kind of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// Regular file.
    Regular,
    /// Directory.
    Directory,
    /// Symbolic link.
    Symlink,
    /// Character device.
    CharDevice,
    /// Block device.
    BlockDevice,
    /// Named pipe.
    Fifo,
    /// Socket.
    Socket,
}

impl FileType {
    /// The `S_IFMT` bits of `st_mode`.
    #[must_use]
    pub const fn mode_bits(self) -> u32 {
        match self {
            Self::Fifo => 0o010_000,
            Self::CharDevice => 0o020_000,
            Self::Directory => 0o040_000,
            Self::BlockDevice => 0o060_000,
            Self::Regular => 0o100_000,
            Self::Symlink => 0o120_000,
            Self::Socket => 0o140_000,
        }
    }

    /// The `d_type` value of `dirent`.
    #[must_use]
    pub const fn dirent_type(self) -> u8 {
        match self {
            Self::Fifo => 1,
            Self::CharDevice => 2,
            Self::Directory => 4,
            Self::BlockDevice => 6,
            Self::Regular => 8,
            Self::Symlink => 10,
            Self::Socket => 12,
        }
    }
}

/// A point in time: seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timespec {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nsec: u32,
}

impl Timespec {
    /// From nanoseconds.
    #[must_use]
    pub const fn from_nanos(ns: u64) -> Self {
        Self {
            sec: (ns / 1_000_000_000) as i64,
            nsec: (ns % 1_000_000_000) as u32,
        }
    }
}

/// Node attributes: everything `stat` reports, in the libOS's own layout
/// (personalities convert it to their `struct stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Device (filesystem) id.
    pub dev: u64,
    /// Inode number.
    pub ino: Ino,
    /// Kind.
    pub kind: FileType,
    /// Permission bits (`0o7777`).
    pub perm: u32,
    /// Hard links.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device number for device nodes.
    pub rdev: u64,
    /// Size in bytes.
    pub size: u64,
    /// Preferred I/O size.
    pub blksize: u32,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    /// Last access.
    pub atime: Timespec,
    /// Last modification.
    pub mtime: Timespec,
    /// Last status change.
    pub ctime: Timespec,
}

impl Stat {
    /// `st_mode`: type and permission bits.
    #[must_use]
    pub const fn mode(&self) -> u32 {
        self.kind.mode_bits() | self.perm
    }
}

/// One directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// Inode number.
    pub ino: Ino,
    /// Name (bytes, no `/` or NUL).
    pub name: Vec<u8>,
    /// Kind.
    pub kind: FileType,
}

/// What to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NewNode {
    /// An empty regular file.
    File,
    /// An empty directory.
    Directory,
    /// A symbolic link to the target.
    Symlink(Vec<u8>),
    /// A device node (character when `char`), number `rdev`.
    Device {
        /// Character (else block) device.
        char: bool,
        /// Device number.
        rdev: u64,
    },
    /// A named pipe.
    Fifo,
}

/// Owner and permission bits for a new node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Permission bits (after the umask).
    pub perm: u32,
}

/// Attribute changes (`chmod`, `chown`, `utimes`); `None` leaves a field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// New permission bits.
    pub perm: Option<u32>,
    /// New owner.
    pub uid: Option<u32>,
    /// New group.
    pub gid: Option<u32>,
    /// New access time.
    pub atime: Option<Timespec>,
    /// New modification time.
    pub mtime: Option<Timespec>,
}

/// Filesystem-wide figures (`statfs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsStat {
    /// Block size.
    pub bsize: u64,
    /// Blocks in all.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Inodes in all.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// Longest name.
    pub namelen: u64,
}

/// A filesystem: nodes named by inode number. Implementations lock
/// internally; every method may be called from any thread.
///
/// Default methods answer `EROFS` (for mutations) or `EINVAL`/`ENOTDIR`
/// as POSIX does for nodes that cannot do something, so a read-only
/// filesystem implements only the read side.
pub trait Fs: Send + Sync {
    /// The filesystem type as `/proc/mounts` shows it (`tmpfs`, `ext2`, …).
    fn fs_type(&self) -> &'static str;
    /// The root directory.
    fn root(&self) -> Ino;
    /// Attributes of `ino`.
    fn stat(&self, ino: Ino) -> Result<Stat>;
    /// The node `name` in directory `dir`.
    fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Ino>;
    /// Every entry of directory `dir` (with `.` and `..`).
    fn readdir(&self, dir: Ino) -> Result<Vec<DirEntry>>;
    /// Reads at `offset`; 0 at end of file.
    fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize>;
    /// The target of symlink `ino`.
    fn readlink(&self, ino: Ino) -> Result<Vec<u8>>;
    /// Filesystem figures.
    fn statfs(&self) -> FsStat {
        FsStat::default()
    }
    /// Whether the VFS may cache its name lookups (not for filesystems
    /// whose names come and go by themselves, like procfs).
    fn cacheable(&self) -> bool {
        true
    }
    /// Whether mutations are refused.
    fn read_only(&self) -> bool {
        true
    }
    /// Writes at `offset`; returns bytes written.
    fn write(&self, _ino: Ino, _offset: u64, _data: &[u8]) -> Result<usize> {
        Err(crate::errno::Errno::EROFS)
    }
    /// Sets the size of regular file `ino`.
    fn truncate(&self, _ino: Ino, _size: u64) -> Result<()> {
        Err(crate::errno::Errno::EROFS)
    }
    /// Creates `name` in `dir`.
    fn create(&self, _dir: Ino, _name: &[u8], _node: NewNode, _owner: Owner) -> Result<Ino> {
        Err(crate::errno::Errno::EROFS)
    }
    /// Adds a hard link `name` in `dir` to `ino`.
    fn link(&self, _dir: Ino, _name: &[u8], _ino: Ino) -> Result<()> {
        Err(crate::errno::Errno::EROFS)
    }
    /// Removes non-directory `name` from `dir`.
    fn unlink(&self, _dir: Ino, _name: &[u8]) -> Result<()> {
        Err(crate::errno::Errno::EROFS)
    }
    /// Removes empty directory `name` from `dir`.
    fn rmdir(&self, _dir: Ino, _name: &[u8]) -> Result<()> {
        Err(crate::errno::Errno::EROFS)
    }
    /// Moves `from_dir/from` to `to_dir/to` (the VFS has checked that a
    /// directory is not moved into itself).
    fn rename(&self, _from_dir: Ino, _from: &[u8], _to_dir: Ino, _to: &[u8]) -> Result<()> {
        Err(crate::errno::Errno::EROFS)
    }
    /// Changes attributes.
    fn setattr(&self, _ino: Ino, _attr: SetAttr) -> Result<()> {
        Err(crate::errno::Errno::EROFS)
    }
    /// A node whose reads and writes are not file data (devices, procfs
    /// files generated per open): the VFS asks this first.
    fn special(&self, _ino: Ino) -> Option<Arc<dyn Special>> {
        None
    }
}

/// Behaviour of a special node (a device, a generated file) once open.
pub trait Special: Send + Sync {
    /// Reads at `offset` (ignored by stream devices).
    fn read(&self, offset: u64, buf: &mut [u8], nonblock: bool) -> Result<usize>;
    /// Writes at `offset`.
    fn write(&self, offset: u64, data: &[u8], nonblock: bool) -> Result<usize>;
    /// Whether the node is a stream (no seeking: `ESPIPE`).
    fn is_stream(&self) -> bool {
        true
    }
    /// Terminal queries (`TCGETS`, `TIOCGWINSZ`) succeed on it.
    fn is_tty(&self) -> bool {
        false
    }
    /// Readiness for `poll`: (readable, writable).
    fn poll(&self) -> (bool, bool) {
        (true, true)
    }
    /// The object itself, so a personality can recognise descriptors of
    /// its own kinds (an epoll instance, a kqueue) behind an fd.
    fn as_any(&self) -> Option<&dyn core::any::Any> {
        None
    }
    /// Bytes a read would return now (`FIONREAD`, kqueue's `EVFILT_READ`
    /// data), if the node keeps a queue.
    fn readable_bytes(&self) -> Option<usize> {
        None
    }
    /// Bytes a write could queue now (kqueue's `EVFILT_WRITE` data), if
    /// the node keeps a queue.
    fn writable_bytes(&self) -> Option<usize> {
        None
    }
}

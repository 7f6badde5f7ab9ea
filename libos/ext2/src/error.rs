//! Why an ext2 operation failed.
//!
//! Every malformed image ends in one of these values, never in a panic: the
//! driver reads untrusted bytes (a disk, a downloaded image, a fuzzer's
//! input), so each check that can fail names what it found. The variants
//! carry plain numbers so the type stays `Copy` and the VFS can map each one
//! to an errno without allocating.

/// Why an ext2 operation failed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ext2Error {
    /// A read reached past the end of the block device.
    #[error("read of {len} bytes at offset {offset} is past the end of the device")]
    OutOfRange {
        /// Byte offset of the read.
        offset: u64,
        /// Length of the read in bytes.
        len: u64,
    },
    /// The block device reported a failure of its own.
    #[error("block device I/O error")]
    Io,
    /// The device is smaller than the file system it claims to hold
    /// (a truncated image).
    #[error("device holds {size} bytes but the file system needs {needed}")]
    DeviceTooSmall {
        /// Bytes the superblock says the file system spans.
        needed: u64,
        /// Bytes the device actually has.
        size: u64,
    },
    /// The superblock magic is not `0xEF53`: not an ext2 file system.
    #[error("bad superblock magic {0:#06x}")]
    BadMagic(u16),
    /// A superblock field has an impossible value.
    #[error("bad superblock field {field}")]
    BadSuperblock {
        /// Name of the field, as in the on-disk layout (`s_…`).
        field: &'static str,
    },
    /// The superblock's revision is neither 0 (original) nor 1 (dynamic).
    #[error("unsupported file system revision {0}")]
    UnsupportedRevision(u32),
    /// The file system uses incompatible features this driver cannot read.
    #[error("unsupported incompatible features {0:#x}")]
    UnsupportedFeatures(u32),
    /// A group descriptor points its bitmaps or inode table outside the
    /// file system.
    #[error("group descriptor {group} points outside the file system")]
    BadGroupDescriptor {
        /// Index of the block group.
        group: u32,
    },
    /// The inode number is 0 or greater than the file system's inode count.
    #[error("inode number {0} is out of range")]
    InodeOutOfRange(u32),
    /// The inode is free (deleted or never allocated).
    #[error("inode {0} is not in use")]
    UnusedInode(u32),
    /// The inode's mode names no known file type.
    #[error("inode {ino} has unknown file type in mode {mode:#o}")]
    BadFileType {
        /// Inode number.
        ino: u32,
        /// The raw `i_mode`.
        mode: u16,
    },
    /// The inode stores its data in a way this driver does not read
    /// (extents, inline data).
    #[error("inode {ino} uses unsupported flags {flags:#x}")]
    UnsupportedInode {
        /// Inode number.
        ino: u32,
        /// The unsupported `i_flags` bits.
        flags: u32,
    },
    /// A block pointer of the inode is past the end of the file system.
    #[error("inode {ino} points to block {block}, outside the file system")]
    BadBlock {
        /// Inode number.
        ino: u32,
        /// The offending block number.
        block: u32,
    },
    /// An indirect block points to itself or to another block on its own
    /// lookup path (a cycle).
    #[error("inode {ino}: indirect block {block} is referenced twice on one path")]
    IndirectLoop {
        /// Inode number.
        ino: u32,
        /// The block that appears twice.
        block: u32,
    },
    /// A directory's size or entries are malformed.
    #[error("directory {ino} is corrupt at byte {offset}")]
    CorruptDirectory {
        /// Inode number of the directory.
        ino: u32,
        /// Byte offset inside the directory where the problem was found.
        offset: u64,
    },
    /// A symbolic link's size or data is malformed.
    #[error("symbolic link {0} is corrupt")]
    BadSymlink(u32),
    /// The operation needs a directory.
    #[error("inode {0} is not a directory")]
    NotADirectory(u32),
    /// The operation needs a file, not a directory.
    #[error("inode {0} is a directory")]
    IsADirectory(u32),
    /// The operation needs a regular file.
    #[error("inode {0} is not a regular file")]
    NotARegularFile(u32),
    /// The operation needs a symbolic link.
    #[error("inode {0} is not a symbolic link")]
    NotASymlink(u32),
    /// An offset overflows, or lies past what the block map can address.
    #[error("offset in inode {0} is past the largest possible file")]
    FileTooLarge(u32),
}

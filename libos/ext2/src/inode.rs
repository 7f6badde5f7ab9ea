//! Inodes: a file's type, permissions, owner, size, times and block map.
//!
//! The public [`Inode`] is what `stat` needs; the private [`RawInode`] adds
//! the fields only the readers use (block pointers, flags). Only the first
//! 128 bytes of an on-disk inode are read: the larger inodes of revision 1
//! keep nanosecond times and inline attributes there, which a read-only
//! driver with second-granularity times does not need.

use crate::Ext2Error;
use crate::bytes::{u16_at, u32_at};
use crate::superblock::{RO_COMPAT_HUGE_FILE, Superblock};

/// Bytes of an inode the driver reads (the revision-0 inode).
pub(crate) const INODE_BYTES: usize = 128;
/// Block pointers in an inode: 12 direct, then single-, double- and
/// triple-indirect.
pub(crate) const BLOCK_POINTERS: usize = 15;
/// Bytes of the block-pointer array, which a fast symlink uses for its
/// target.
pub(crate) const INLINE_BYTES: usize = BLOCK_POINTERS * 4;
/// The root directory's inode number.
pub const ROOT_INO: u32 = 2;

/// `i_blocks` counts file-system blocks, not 512-byte sectors.
const HUGE_FILE_FL: u32 = 0x0004_0000;
/// The inode maps its data with extents (ext4), not block pointers.
const EXTENTS_FL: u32 = 0x0008_0000;
/// The inode keeps its data inside itself (ext4).
const INLINE_DATA_FL: u32 = 0x1000_0000;
/// Flags that change how data is found, which this driver cannot follow.
pub(crate) const UNSUPPORTED_DATA_FLAGS: u32 = EXTENTS_FL | INLINE_DATA_FL;

/// What kind of file an inode is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A character device node.
    CharDevice,
    /// A block device node.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A Unix-domain socket.
    Socket,
}

impl FileType {
    /// The type encoded in the top four bits of `i_mode`.
    fn from_mode(mode: u16) -> Option<Self> {
        Some(match mode & 0xF000 {
            0x1000 => Self::Fifo,
            0x2000 => Self::CharDevice,
            0x4000 => Self::Directory,
            0x6000 => Self::BlockDevice,
            0x8000 => Self::Regular,
            0xA000 => Self::Symlink,
            0xC000 => Self::Socket,
            _ => return None,
        })
    }

    /// The type encoded in a directory entry's `file_type` byte, if it is
    /// one of the seven known values.
    pub(crate) fn from_dir_entry(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::Regular,
            2 => Self::Directory,
            3 => Self::CharDevice,
            4 => Self::BlockDevice,
            5 => Self::Fifo,
            6 => Self::Socket,
            7 => Self::Symlink,
            _ => return None,
        })
    }
}

/// What `stat` reports about a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inode {
    /// Inode number.
    pub ino: u32,
    /// File type.
    pub kind: FileType,
    /// Permission bits including setuid, setgid and sticky (`0o7777`); the
    /// type bits are in [`kind`](Self::kind).
    pub mode: u16,
    /// Owner user id (32 bits: low half plus `l_i_uid_high`).
    pub uid: u32,
    /// Owner group id (32 bits: low half plus `l_i_gid_high`).
    pub gid: u32,
    /// Size in bytes (64-bit for regular files, `large_file`).
    pub size: u64,
    /// Hard link count.
    pub links: u16,
    /// Last access, seconds since the Unix epoch.
    pub atime: u32,
    /// Last modification, seconds since the Unix epoch.
    pub mtime: u32,
    /// Last status change, seconds since the Unix epoch.
    pub ctime: u32,
    /// Space used in 512-byte units, as `st_blocks` reports it.
    pub blocks_512: u64,
    /// Device number of a character or block device node, in Linux's
    /// `new_encode_dev` layout (see [`major`](Self::major) and
    /// [`minor`](Self::minor)); 0 for other files.
    pub rdev: u32,
    /// The raw `i_flags` (immutable, append-only, …).
    pub flags: u32,
}

impl Inode {
    /// Major number of a device node.
    #[must_use]
    pub fn major(&self) -> u32 {
        (self.rdev & 0x000F_FF00) >> 8
    }

    /// Minor number of a device node.
    #[must_use]
    pub fn minor(&self) -> u32 {
        (self.rdev & 0xFF) | ((self.rdev >> 12) & 0x000F_FF00)
    }
}

/// An inode with the fields the readers need.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawInode {
    /// The public part.
    pub(crate) inode: Inode,
    /// The block pointers, or a fast symlink's target.
    pub(crate) inline: [u8; INLINE_BYTES],
    /// Block of extended attributes, 0 if none.
    pub(crate) file_acl: u32,
}

impl RawInode {
    /// Decodes the first [`INODE_BYTES`] of inode `ino`.
    ///
    /// # Errors
    /// [`Ext2Error::UnusedInode`] for a free inode and
    /// [`Ext2Error::BadFileType`] for an unknown type.
    pub(crate) fn parse(
        ino: u32,
        raw: &[u8; INODE_BYTES],
        sb: &Superblock,
    ) -> Result<Self, Ext2Error> {
        let mode = u16_at(raw, 0);
        let links = u16_at(raw, 26);
        let dtime = u32_at(raw, 20);
        // The kernel's test for a deleted or never-used inode.
        if links == 0 && (mode == 0 || dtime != 0) {
            return Err(Ext2Error::UnusedInode(ino));
        }
        let kind = FileType::from_mode(mode).ok_or(Ext2Error::BadFileType { ino, mode })?;
        let flags = u32_at(raw, 32);
        let mut inline = [0; INLINE_BYTES];
        inline.copy_from_slice(&raw[40..40 + INLINE_BYTES]);

        let size_low = u64::from(u32_at(raw, 4));
        // For regular files this is i_size_high (`large_file`); for
        // directories it is i_dir_acl in ext2.
        let size = if kind == FileType::Regular {
            size_low | (u64::from(u32_at(raw, 108)) << 32)
        } else {
            size_low
        };
        let mut blocks_512 = u64::from(u32_at(raw, 28));
        if sb.feature_ro_compat & RO_COMPAT_HUGE_FILE != 0 {
            blocks_512 |= u64::from(u16_at(raw, 116)) << 32;
            if flags & HUGE_FILE_FL != 0 {
                blocks_512 = blocks_512.saturating_mul(u64::from(sb.block_size / 512));
            }
        }
        let rdev = match kind {
            FileType::CharDevice | FileType::BlockDevice => {
                let old = u32_at(&inline, 0);
                if old != 0 {
                    // Old 16-bit encoding: major in bits 8-15, minor in 0-7,
                    // which new_encode_dev leaves in the same places.
                    old & 0xFFFF
                } else {
                    u32_at(&inline, 4)
                }
            }
            _ => 0,
        };
        let inode = Inode {
            ino,
            kind,
            mode: mode & 0o7777,
            uid: u32::from(u16_at(raw, 2)) | (u32::from(u16_at(raw, 120)) << 16),
            gid: u32::from(u16_at(raw, 24)) | (u32::from(u16_at(raw, 122)) << 16),
            size,
            links,
            atime: u32_at(raw, 8),
            mtime: u32_at(raw, 16),
            ctime: u32_at(raw, 12),
            blocks_512,
            rdev,
            flags,
        };
        Ok(Self {
            inode,
            inline,
            file_acl: u32_at(raw, 104),
        })
    }

    /// Block pointer `index` (0–14).
    pub(crate) fn block_pointer(&self, index: usize) -> u32 {
        u32_at(&self.inline, index * 4)
    }

    /// 512-byte units holding file data, that is `i_blocks` less the
    /// extended-attribute block.
    pub(crate) fn data_blocks_512(&self, block_size: u32) -> u64 {
        let attribute_blocks = if self.file_acl != 0 {
            u64::from(block_size / 512)
        } else {
            0
        };
        self.inode.blocks_512.saturating_sub(attribute_blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_split_like_linux() {
        let mut inode = Inode {
            ino: 12,
            kind: FileType::CharDevice,
            mode: 0o600,
            uid: 0,
            gid: 0,
            size: 0,
            links: 1,
            atime: 0,
            mtime: 0,
            ctime: 0,
            blocks_512: 0,
            rdev: 0x0000_0440, // makedev(4, 64)
            flags: 0,
        };
        assert_eq!((inode.major(), inode.minor()), (4, 64));
        inode.rdev = (259 << 8) | 0x12 | (0x345 << 12 << 8); // makedev(259, 0x34512)
        assert_eq!((inode.major(), inode.minor()), (259, 0x34512));
    }

    #[test]
    fn every_type_byte_round_trips_through_the_mode() {
        for byte in 1..=7 {
            let kind = FileType::from_dir_entry(byte).unwrap();
            let mode = match kind {
                FileType::Fifo => 0x1000,
                FileType::CharDevice => 0x2000,
                FileType::Directory => 0x4000,
                FileType::BlockDevice => 0x6000,
                FileType::Regular => 0x8000,
                FileType::Symlink => 0xA000,
                FileType::Socket => 0xC000,
            };
            assert_eq!(FileType::from_mode(mode), Some(kind));
        }
        assert_eq!(FileType::from_dir_entry(0), None);
        assert_eq!(FileType::from_dir_entry(8), None);
        assert_eq!(FileType::from_mode(0xE000), None);
    }
}

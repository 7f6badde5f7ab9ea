//! The superblock: the file system's geometry, validated once at mount.
//!
//! Everything later code relies on is checked here — block size, counts,
//! group geometry, inode size, features, and that the device really holds
//! every block the superblock claims — so the readers after it only have to
//! check the numbers that come out of individual inodes and directories.

use alloc::vec::Vec;

use crate::bytes::{u16_at, u32_at};
use crate::{BlockDevice, Ext2Error};

/// Byte offset of the superblock on the device, whatever the block size.
pub(crate) const SUPERBLOCK_OFFSET: u64 = 1024;
/// Bytes of the on-disk superblock.
pub(crate) const SUPERBLOCK_SIZE: usize = 1024;
/// The superblock magic number.
pub const EXT2_MAGIC: u16 = 0xEF53;

/// Directory entries carry a file-type byte.
pub(crate) const INCOMPAT_FILETYPE: u32 = 0x0002;
/// Group metadata may live outside its group; the group descriptors still
/// give absolute block numbers, so reading is unaffected.
pub(crate) const INCOMPAT_FLEX_BG: u32 = 0x0200;
/// Incompatible features this driver reads correctly.
pub(crate) const INCOMPAT_SUPPORTED: u32 = INCOMPAT_FILETYPE | INCOMPAT_FLEX_BG;
/// `i_blocks` has 48 bits, and may count file-system blocks.
pub(crate) const RO_COMPAT_HUGE_FILE: u32 = 0x0008;

/// Smallest inode number a superblock may give as the first non-reserved
/// inode (revision 0 fixes it at this value).
const GOOD_OLD_FIRST_INO: u32 = 11;
/// Inode size in revision 0.
const GOOD_OLD_INODE_SIZE: u32 = 128;
/// Largest `s_log_block_size`: 1 KiB << 6 = 64 KiB.
const MAX_LOG_BLOCK_SIZE: u32 = 6;

/// The validated superblock fields the driver uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Superblock {
    /// Total inodes.
    pub(crate) inodes_count: u32,
    /// Total blocks.
    pub(crate) blocks_count: u32,
    /// Blocks reserved for the superuser.
    pub(crate) reserved_blocks: u32,
    /// Free blocks.
    pub(crate) free_blocks: u32,
    /// Free inodes.
    pub(crate) free_inodes: u32,
    /// Block holding the superblock (1 with 1 KiB blocks, else 0).
    pub(crate) first_data_block: u32,
    /// Bytes per block: a power of two from 1 KiB to 64 KiB.
    pub(crate) block_size: u32,
    /// Inodes in each block group.
    pub(crate) inodes_per_group: u32,
    /// Bytes per on-disk inode (at least 128).
    pub(crate) inode_size: u32,
    /// Incompatible feature bits (all supported).
    pub(crate) feature_incompat: u32,
    /// Read-only-compatible feature bits.
    pub(crate) feature_ro_compat: u32,
    /// Number of block groups.
    pub(crate) group_count: u32,
    /// Volume UUID.
    pub(crate) uuid: [u8; 16],
    /// Volume label, NUL-padded.
    pub(crate) volume_name: [u8; 16],
}

impl Superblock {
    /// Reads and validates the superblock of `dev`.
    ///
    /// # Errors
    /// [`Ext2Error::DeviceTooSmall`] for a device shorter than the
    /// superblock or than the blocks it claims, [`Ext2Error::BadMagic`],
    /// [`Ext2Error::UnsupportedRevision`],
    /// [`Ext2Error::UnsupportedFeatures`], or [`Ext2Error::BadSuperblock`]
    /// naming the first impossible field.
    pub(crate) fn read<D: BlockDevice + ?Sized>(dev: &D) -> Result<Self, Ext2Error> {
        let needed = SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE as u64;
        let size = dev.size();
        if size < needed {
            return Err(Ext2Error::DeviceTooSmall { needed, size });
        }
        let mut raw = [0u8; SUPERBLOCK_SIZE];
        dev.read_at(SUPERBLOCK_OFFSET, &mut raw)?;
        Self::parse(&raw, size)
    }

    /// Validates the raw superblock `raw` of a device of `device_size`
    /// bytes.
    fn parse(raw: &[u8; SUPERBLOCK_SIZE], device_size: u64) -> Result<Self, Ext2Error> {
        let bad = |field| Err(Ext2Error::BadSuperblock { field });
        let magic = u16_at(raw, 56);
        if magic != EXT2_MAGIC {
            return Err(Ext2Error::BadMagic(magic));
        }
        let revision = u32_at(raw, 76);
        if revision > 1 {
            return Err(Ext2Error::UnsupportedRevision(revision));
        }
        let log_block_size = u32_at(raw, 24);
        if log_block_size > MAX_LOG_BLOCK_SIZE {
            return bad("s_log_block_size");
        }
        let block_size = 1024u32 << log_block_size;
        let bits_per_bitmap = block_size * 8;

        let inodes_count = u32_at(raw, 0);
        let blocks_count = u32_at(raw, 4);
        let reserved_blocks = u32_at(raw, 8);
        let free_blocks = u32_at(raw, 12);
        let free_inodes = u32_at(raw, 16);
        let first_data_block = u32_at(raw, 20);
        let blocks_per_group = u32_at(raw, 32);
        let inodes_per_group = u32_at(raw, 40);

        // The superblock sits at byte 1024: in block 1 with 1 KiB blocks,
        // in block 0 otherwise. Any other value misplaces the descriptors.
        if first_data_block != u32::from(block_size == 1024) {
            return bad("s_first_data_block");
        }
        if blocks_count <= first_data_block {
            return bad("s_blocks_count");
        }
        // Each group's block and inode bitmaps are one block long.
        if blocks_per_group == 0 || blocks_per_group > bits_per_bitmap {
            return bad("s_blocks_per_group");
        }
        if inodes_per_group == 0 || inodes_per_group > bits_per_bitmap {
            return bad("s_inodes_per_group");
        }
        let (inode_size, first_ino, feature_incompat, feature_ro_compat) = if revision == 0 {
            (GOOD_OLD_INODE_SIZE, GOOD_OLD_FIRST_INO, 0, 0)
        } else {
            (
                u32::from(u16_at(raw, 88)),
                u32_at(raw, 84),
                u32_at(raw, 96),
                u32_at(raw, 100),
            )
        };
        if inode_size < GOOD_OLD_INODE_SIZE
            || !inode_size.is_power_of_two()
            || inode_size > block_size
        {
            return bad("s_inode_size");
        }
        if first_ino < GOOD_OLD_FIRST_INO || first_ino > inodes_count {
            return bad("s_first_ino");
        }
        let unsupported = feature_incompat & !INCOMPAT_SUPPORTED;
        if unsupported != 0 {
            return Err(Ext2Error::UnsupportedFeatures(unsupported));
        }

        let group_count = (blocks_count - first_data_block).div_ceil(blocks_per_group);
        if u64::from(group_count) * u64::from(inodes_per_group) != u64::from(inodes_count) {
            return bad("s_inodes_count");
        }
        if reserved_blocks > blocks_count {
            return bad("s_r_blocks_count");
        }
        if free_blocks > blocks_count {
            return bad("s_free_blocks_count");
        }
        if free_inodes > inodes_count {
            return bad("s_free_inodes_count");
        }
        let needed = u64::from(blocks_count) * u64::from(block_size);
        if device_size < needed {
            return Err(Ext2Error::DeviceTooSmall {
                needed,
                size: device_size,
            });
        }

        let mut uuid = [0; 16];
        uuid.copy_from_slice(&raw[104..120]);
        let mut volume_name = [0; 16];
        volume_name.copy_from_slice(&raw[120..136]);
        Ok(Self {
            inodes_count,
            blocks_count,
            reserved_blocks,
            free_blocks,
            free_inodes,
            first_data_block,
            block_size,
            inodes_per_group,
            inode_size,
            feature_incompat,
            feature_ro_compat,
            group_count,
            uuid,
            volume_name,
        })
    }

    /// Whether directory entries carry a file-type byte.
    pub(crate) fn has_filetype(&self) -> bool {
        self.feature_incompat & INCOMPAT_FILETYPE != 0
    }

    /// Byte offset of block `block`.
    pub(crate) fn block_offset(&self, block: u32) -> u64 {
        u64::from(block) * u64::from(self.block_size)
    }

    /// Bytes the file system spans.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.block_offset(self.blocks_count)
    }

    /// Blocks in one group's inode table.
    pub(crate) fn inode_table_blocks(&self) -> u32 {
        let bytes = u64::from(self.inodes_per_group) * u64::from(self.inode_size);
        // At most 8 * block_size inodes of at most block_size bytes each:
        // 8 * block_size blocks, well inside a u32.
        u32::try_from(bytes.div_ceil(u64::from(self.block_size))).unwrap_or(u32::MAX)
    }

    /// The statistics `statfs` reports.
    pub(crate) fn stats(&self) -> FsStats {
        let name_len = self
            .volume_name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.volume_name.len());
        FsStats {
            block_size: self.block_size,
            blocks: u64::from(self.blocks_count),
            free_blocks: u64::from(self.free_blocks),
            reserved_blocks: u64::from(self.reserved_blocks),
            inodes: u64::from(self.inodes_count),
            free_inodes: u64::from(self.free_inodes),
            name_max: crate::dir::NAME_MAX,
            volume_name: self.volume_name[..name_len].to_vec(),
            uuid: self.uuid,
        }
    }
}

/// File-system-wide numbers for `statfs` and `/proc/mounts`.
///
/// Taken from the superblock as mounted; a read-only mount never changes
/// them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsStats {
    /// Bytes per block.
    pub block_size: u32,
    /// Total blocks.
    pub blocks: u64,
    /// Free blocks, including those reserved for the superuser.
    pub free_blocks: u64,
    /// Blocks reserved for the superuser (`f_bfree - f_bavail`).
    pub reserved_blocks: u64,
    /// Total inodes.
    pub inodes: u64,
    /// Free inodes.
    pub free_inodes: u64,
    /// Longest file name in bytes.
    pub name_max: u32,
    /// Volume label (`s_volume_name`) without its NUL padding; may be empty.
    pub volume_name: Vec<u8>,
    /// Volume UUID.
    pub uuid: [u8; 16],
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal consistent superblock: 1 KiB blocks, one group.
    fn valid() -> [u8; SUPERBLOCK_SIZE] {
        let mut raw = [0u8; SUPERBLOCK_SIZE];
        let mut put = |at: usize, value: u32| raw[at..at + 4].copy_from_slice(&value.to_le_bytes());
        put(0, 32); // s_inodes_count
        put(4, 64); // s_blocks_count
        put(20, 1); // s_first_data_block
        put(32, 8192); // s_blocks_per_group
        put(40, 32); // s_inodes_per_group
        put(76, 1); // s_rev_level
        put(84, 11); // s_first_ino
        raw[88..90].copy_from_slice(&128u16.to_le_bytes());
        raw[56..58].copy_from_slice(&EXT2_MAGIC.to_le_bytes());
        raw
    }

    #[test]
    fn accepts_a_consistent_superblock() {
        let sb = Superblock::parse(&valid(), 64 * 1024).unwrap();
        assert_eq!(sb.block_size, 1024);
        assert_eq!(sb.group_count, 1);
        assert_eq!(sb.inode_table_blocks(), 4);
    }

    #[test]
    fn names_the_bad_field() {
        let field = |at: usize, value: u32| {
            let mut raw = valid();
            raw[at..at + 4].copy_from_slice(&value.to_le_bytes());
            Superblock::parse(&raw, 64 * 1024)
        };
        let bad = |field| Err(Ext2Error::BadSuperblock { field });
        assert_eq!(field(24, 7), bad("s_log_block_size"));
        assert_eq!(field(24, u32::MAX), bad("s_log_block_size"));
        assert_eq!(field(40, 0), bad("s_inodes_per_group"));
        assert_eq!(field(32, 0), bad("s_blocks_per_group"));
        assert_eq!(field(20, 0), bad("s_first_data_block"));
        assert_eq!(field(0, 33), bad("s_inodes_count"));
        assert_eq!(field(16, 33), bad("s_free_inodes_count"));
        assert_eq!(field(84, 3), bad("s_first_ino"));
        assert_eq!(field(76, 2), Err(Ext2Error::UnsupportedRevision(2)));
        assert_eq!(field(96, 0x42), Err(Ext2Error::UnsupportedFeatures(0x40)));
        assert_eq!(
            Superblock::parse(&valid(), 1000),
            Err(Ext2Error::DeviceTooSmall {
                needed: 65536,
                size: 1000
            })
        );
    }
}

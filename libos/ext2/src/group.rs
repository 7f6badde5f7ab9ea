//! Block group descriptors: where each group keeps its inode table.
//!
//! The descriptor table follows the superblock's block. Only the inode
//! table's location is kept after mount, but both bitmaps are checked too:
//! a descriptor pointing anywhere outside the file system means the table
//! is corrupt and nothing it says can be trusted.

use alloc::vec::Vec;

use crate::bytes::u32_at;
use crate::superblock::Superblock;
use crate::{BlockDevice, Ext2Error};

/// Bytes per group descriptor (without the `64bit` feature).
const DESCRIPTOR_SIZE: u64 = 32;

/// Reads every group descriptor and returns each group's first inode-table
/// block.
///
/// # Errors
/// [`Ext2Error::BadSuperblock`] if the table itself does not fit in the
/// file system, [`Ext2Error::BadGroupDescriptor`] for a descriptor pointing
/// outside it, or the device's read error.
pub(crate) fn inode_tables<D: BlockDevice + ?Sized>(
    dev: &D,
    sb: &Superblock,
) -> Result<Vec<u32>, Ext2Error> {
    let table_start = sb.block_offset(sb.first_data_block + 1);
    let table_end = table_start + u64::from(sb.group_count) * DESCRIPTOR_SIZE;
    // This also bounds the allocation below by the device's size.
    if table_end > sb.total_bytes() {
        return Err(Ext2Error::BadSuperblock {
            field: "s_blocks_count",
        });
    }
    let first = sb.first_data_block;
    let end = sb.blocks_count;
    let mut tables = Vec::with_capacity(sb.group_count as usize);
    let mut raw = [0u8; DESCRIPTOR_SIZE as usize];
    for group in 0..sb.group_count {
        dev.read_at(table_start + u64::from(group) * DESCRIPTOR_SIZE, &mut raw)?;
        let block_bitmap = u32_at(&raw, 0);
        let inode_bitmap = u32_at(&raw, 4);
        let inode_table = u32_at(&raw, 8);
        let inside = |block: u32| first <= block && block < end;
        let table_fits = inode_table
            .checked_add(sb.inode_table_blocks())
            .is_some_and(|table_end| table_end <= end);
        if !inside(block_bitmap) || !inside(inode_bitmap) || !inside(inode_table) || !table_fits {
            return Err(Ext2Error::BadGroupDescriptor { group });
        }
        tables.push(inode_table);
    }
    Ok(tables)
}

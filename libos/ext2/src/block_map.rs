//! Finding a file's blocks: direct, single-, double- and triple-indirect.
//!
//! An inode holds 15 block pointers: 12 name data blocks directly, the
//! 13th names a block of pointers, the 14th a block of pointer blocks, the
//! 15th one more level. A pointer of 0 is a hole that reads as zeros. The
//! walk is at most three levels deep, so it always terminates; it still
//! refuses a block that appears twice on one path (an indirect block naming
//! itself or its parent), which only a corrupt image contains.

use crate::inode::RawInode;
use crate::superblock::Superblock;
use crate::{BlockDevice, Ext2Error};

/// Data blocks addressed directly by the inode.
const DIRECT_BLOCKS: u64 = 12;
/// Index of the single-indirect pointer; double and triple follow.
const FIRST_INDIRECT: usize = 12;

/// Logical blocks addressable with `block_size`-byte blocks:
/// 12 + p + p² + p³ with p pointers per block.
pub(crate) fn max_blocks(block_size: u32) -> u64 {
    let per_block = u64::from(block_size / 4);
    DIRECT_BLOCKS + per_block + per_block * per_block + per_block * per_block * per_block
}

/// The physical block holding logical block `index` of `inode`, or `None`
/// for a hole.
///
/// # Errors
/// [`Ext2Error::FileTooLarge`] if `index` is past what the map can
/// address, [`Ext2Error::BadBlock`] for a pointer outside the file system,
/// [`Ext2Error::IndirectLoop`] for a block repeated on the path, or the
/// device's read error.
pub(crate) fn map_block<D: BlockDevice + ?Sized>(
    dev: &D,
    sb: &Superblock,
    inode: &RawInode,
    index: u64,
) -> Result<Option<u32>, Ext2Error> {
    let ino = inode.inode.ino;
    let per_block = u64::from(sb.block_size / 4);
    if index >= max_blocks(sb.block_size) {
        return Err(Ext2Error::FileTooLarge(ino));
    }
    if index < DIRECT_BLOCKS {
        // Lossless: index < 12.
        return checked(sb, ino, inode.block_pointer(index as usize));
    }
    // Find the level (1, 2 or 3) and the index inside that level's tree.
    let mut rest = index - DIRECT_BLOCKS;
    let mut span = per_block;
    let mut level = 1;
    while rest >= span {
        rest -= span;
        level += 1;
        span *= per_block;
    }
    let Some(mut block) = checked(sb, ino, inode.block_pointer(FIRST_INDIRECT + level - 1))? else {
        return Ok(None);
    };
    // The indirect blocks walked so far, to refuse a cycle.
    let mut path = [0u32; 3];
    let mut walked = 0;
    while span > 1 {
        path[walked] = block;
        walked += 1;
        span /= per_block;
        let slot = rest / span;
        rest %= span;
        let mut pointer = [0u8; 4];
        dev.read_at(sb.block_offset(block) + slot * 4, &mut pointer)?;
        let Some(next) = checked(sb, ino, u32::from_le_bytes(pointer))? else {
            return Ok(None);
        };
        if path[..walked].contains(&next) {
            return Err(Ext2Error::IndirectLoop { ino, block: next });
        }
        block = next;
    }
    Ok(Some(block))
}

/// `Some(block)` for a pointer inside the file system, `None` for a hole.
fn checked(sb: &Superblock, ino: u32, block: u32) -> Result<Option<u32>, Ext2Error> {
    match block {
        0 => Ok(None),
        b if b < sb.blocks_count => Ok(Some(b)),
        b => Err(Ext2Error::BadBlock { ino, block: b }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_matches_the_format() {
        assert_eq!(max_blocks(1024), 12 + 256 + 65_536 + 16_777_216);
        assert_eq!(max_blocks(65_536), 12 + 16_384 + (1 << 28) + (1 << 42));
    }
}

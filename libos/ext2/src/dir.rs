//! Directory entries: the linked records that fill each directory block.
//!
//! Every entry is `inode (4) | rec_len (2) | name_len (1) | file_type (1) |
//! name`, and `rec_len` leads to the next entry; the last one in a block
//! stretches to the block's end. The checks are the kernel's
//! (`ext2_check_page`): a record is at least 12 bytes, 4-byte aligned,
//! holds its name and stays inside its block, so every block is walked in
//! at most `block_size / 12` steps. A live entry's name must also be one
//! path component (no NUL, no `/`), as e2fsck requires, so the VFS never
//! sees a name it could mistake for a path. An inode number of 0 marks a
//! deleted entry, which readers skip. (`dir_index` directories are read the same
//! way: their index blocks look like one empty entry to ext2.)

use alloc::vec::Vec;

#[cfg(doc)]
use crate::Ext2Error;
use crate::FileType;
use crate::bytes::{u16_at, u32_at};

/// Longest name an entry can hold.
pub(crate) const NAME_MAX: u32 = 255;
/// Bytes of an entry before its name.
const HEADER_BYTES: usize = 8;
/// Smallest record: the header plus a name of up to 4 bytes.
const MIN_RECORD: usize = 12;

/// One name in a directory.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DirEntry {
    /// Inode the name refers to.
    pub ino: u32,
    /// The name's bytes: 1 to 255 bytes, neither NUL nor `/`; an entry
    /// breaking this makes the directory
    /// [corrupt](crate::Ext2Error::CorruptDirectory).
    pub name: Vec<u8>,
    /// The file's type, from the entry if it records one (the `filetype`
    /// feature), otherwise from the inode.
    pub kind: FileType,
}

/// An entry as stored, borrowed from its block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawEntry<'a> {
    /// Byte offset of the entry inside its block.
    pub(crate) offset: usize,
    /// Inode number; 0 for a deleted entry.
    pub(crate) ino: u32,
    /// The name.
    pub(crate) name: &'a [u8],
    /// The `file_type` byte, or 0 without the `filetype` feature.
    pub(crate) type_byte: u8,
}

/// Walks the entries of one directory block.
#[derive(Debug)]
pub(crate) struct BlockEntries<'a> {
    block: &'a [u8],
    offset: usize,
    has_filetype: bool,
    inodes_count: u32,
}

impl<'a> BlockEntries<'a> {
    /// Entries of `block` in a file system with `inodes_count` inodes.
    pub(crate) fn new(block: &'a [u8], has_filetype: bool, inodes_count: u32) -> Self {
        Self {
            block,
            offset: 0,
            has_filetype,
            inodes_count,
        }
    }

    /// Decodes the entry at the current offset; `Err` gives the offset of
    /// a malformed one.
    fn decode(&self) -> Result<(RawEntry<'a>, usize), usize> {
        let at = self.offset;
        let room = self.block.len() - at;
        if room < MIN_RECORD {
            return Err(at);
        }
        let record = rec_len(u16_at(self.block, at + 4), self.block.len());
        if record < MIN_RECORD || !record.is_multiple_of(4) || record > room {
            return Err(at);
        }
        let ino = u32_at(self.block, at);
        let name_len = usize::from(self.block[at + 6]);
        if HEADER_BYTES + name_len > record || ino > self.inodes_count {
            return Err(at);
        }
        let name_start = at + HEADER_BYTES;
        let name = &self.block[name_start..name_start + name_len];
        // A live entry names exactly one path component.
        if ino != 0 && (name.is_empty() || name.contains(&b'/') || name.contains(&0)) {
            return Err(at);
        }
        let entry = RawEntry {
            offset: at,
            ino,
            name,
            type_byte: if self.has_filetype {
                self.block[at + 7]
            } else {
                0
            },
        };
        Ok((entry, record))
    }
}

impl<'a> Iterator for BlockEntries<'a> {
    type Item = Result<RawEntry<'a>, usize>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.offset >= self.block.len() {
            return None;
        }
        match self.decode() {
            Ok((entry, record)) => {
                self.offset += record;
                Some(Ok(entry))
            }
            Err(at) => {
                // Stop after reporting: nothing past a bad record can be
                // located.
                self.offset = self.block.len();
                Some(Err(at))
            }
        }
    }
}

/// Decodes an on-disk `rec_len` as e2fsprogs does: 64 KiB blocks store a
/// full-block record as 0 or 65535 and keep bits 16–17 in the low bits.
fn rec_len(raw: u16, block_size: usize) -> usize {
    if block_size < 65_536 {
        usize::from(raw)
    } else if raw == 0 || raw == u16::MAX {
        block_size
    } else {
        usize::from(raw & 0xFFFC) | (usize::from(raw & 3) << 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ino: u32, record: u16, name: &[u8], kind: u8) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&ino.to_le_bytes());
        bytes.extend_from_slice(&record.to_le_bytes());
        bytes.push(name.len() as u8);
        bytes.push(kind);
        bytes.extend_from_slice(name);
        bytes.resize(usize::from(record), 0);
        bytes
    }

    fn walk(block: &[u8]) -> Vec<Result<(u32, Vec<u8>), usize>> {
        BlockEntries::new(block, true, 100)
            .map(|e| e.map(|e| (e.ino, e.name.to_vec())))
            .collect()
    }

    #[test]
    fn walks_records_and_keeps_deleted_ones_visible() {
        let mut block = entry(2, 12, b".", 2);
        block.extend(entry(0, 16, b"gone", 1));
        block.extend(entry(12, 36, b"file", 1));
        assert_eq!(
            walk(&block),
            [
                Ok((2, b".".to_vec())),
                Ok((0, b"gone".to_vec())),
                Ok((12, b"file".to_vec()))
            ]
        );
    }

    #[test]
    fn refuses_malformed_records() {
        let mut zero = entry(2, 12, b".", 2);
        zero.extend(entry(12, 12, b"a", 1));
        zero[16] = 0; // second rec_len = 0
        zero.resize(64, 0);
        assert_eq!(walk(&zero).last(), Some(&Err(12)));
        let overrun = entry(2, 64, b".", 2);
        let mut bad = overrun.clone();
        bad[4..6].copy_from_slice(&68u16.to_le_bytes());
        assert_eq!(walk(&bad), [Err(0)]);
        let mut unaligned = overrun.clone();
        unaligned[4..6].copy_from_slice(&14u16.to_le_bytes());
        assert_eq!(walk(&unaligned), [Err(0)]);
        let mut past_inodes = overrun.clone();
        past_inodes[0..4].copy_from_slice(&101u32.to_le_bytes());
        assert_eq!(walk(&past_inodes), [Err(0)]);
        let mut long_name = entry(2, 12, b"abcd", 2);
        long_name[6] = 5;
        assert_eq!(walk(&long_name), [Err(0)]);
        let nameless = entry(2, 12, b"", 2);
        assert_eq!(walk(&nameless), [Err(0)]);
        assert_eq!(walk(&entry(2, 12, b"a/b", 1)), [Err(0)]);
        assert_eq!(walk(&entry(2, 12, b"a\0", 1)), [Err(0)]);
        // Deleted entries may hold anything.
        assert_eq!(walk(&entry(0, 12, b"a/b", 1)), [Ok((0, b"a/b".to_vec()))]);
    }

    #[test]
    fn decodes_large_block_record_lengths() {
        assert_eq!(rec_len(12, 4096), 12);
        assert_eq!(rec_len(0, 65_536), 65_536);
        assert_eq!(rec_len(u16::MAX, 65_536), 65_536);
        assert_eq!(rec_len(0xFFF4, 65_536), 0xFFF4);
    }
}

//! A mounted ext2 file system: inodes, directories, file data and links.
//!
//! [`Ext2`] holds the device, the validated superblock and each group's
//! inode-table location; nothing else is cached, so every call reads only
//! the blocks it needs and the type is `Sync` whenever the device is. Each
//! method reads its inode afresh: the file system is read-only, so there is
//! nothing to keep coherent.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::ops::ControlFlow;

use crate::block_map::map_block;
use crate::dir::{BlockEntries, NAME_MAX, RawEntry};
use crate::inode::{INLINE_BYTES, INODE_BYTES, ROOT_INO, RawInode, UNSUPPORTED_DATA_FLAGS};
use crate::superblock::Superblock;
use crate::{BlockDevice, DirEntry, Ext2Error, FileType, FsStats, Inode, group};

/// A read-only ext2 file system on a [`BlockDevice`].
pub struct Ext2<D: BlockDevice> {
    dev: D,
    sb: Superblock,
    /// First inode-table block of each group.
    inode_tables: Vec<u32>,
}

impl<D: BlockDevice> fmt::Debug for Ext2<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ext2")
            .field("block_size", &self.sb.block_size)
            .field("blocks", &self.sb.blocks_count)
            .field("inodes", &self.sb.inodes_count)
            .field("groups", &self.sb.group_count)
            .finish_non_exhaustive()
    }
}

impl<D: BlockDevice> Ext2<D> {
    /// Mounts the file system on `dev`.
    ///
    /// Validates the superblock (magic, revision 0 or 1, block size from
    /// 1 KiB to 64 KiB, consistent counts and group geometry, no
    /// unsupported incompatible feature, a device holding every block),
    /// every group descriptor, and that the root inode is a directory.
    ///
    /// # Errors
    /// [`Ext2Error::BadMagic`], [`Ext2Error::BadSuperblock`],
    /// [`Ext2Error::UnsupportedRevision`],
    /// [`Ext2Error::UnsupportedFeatures`], [`Ext2Error::DeviceTooSmall`],
    /// [`Ext2Error::BadGroupDescriptor`], an error reading the root inode,
    /// [`Ext2Error::NotADirectory`] if the root is not a directory, or the
    /// device's read error.
    pub fn open(dev: D) -> Result<Self, Ext2Error> {
        let sb = Superblock::read(&dev)?;
        let inode_tables = group::inode_tables(&dev, &sb)?;
        let fs = Self {
            dev,
            sb,
            inode_tables,
        };
        if fs.inode(ROOT_INO)?.kind != FileType::Directory {
            return Err(Ext2Error::NotADirectory(ROOT_INO));
        }
        Ok(fs)
    }

    /// The root directory's inode number (always 2).
    #[must_use]
    pub fn root(&self) -> u32 {
        ROOT_INO
    }

    /// Bytes per block.
    #[must_use]
    pub fn block_size(&self) -> u32 {
        self.sb.block_size
    }

    /// The device the file system is read from.
    #[must_use]
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// File-system-wide numbers for `statfs`.
    #[must_use]
    pub fn stats(&self) -> FsStats {
        self.sb.stats()
    }

    /// The inode numbered `ino`, as `stat` reports it.
    ///
    /// # Errors
    /// [`Ext2Error::InodeOutOfRange`] for 0 or a number past the inode
    /// count, [`Ext2Error::UnusedInode`] for a free inode,
    /// [`Ext2Error::BadFileType`], or the device's read error.
    pub fn inode(&self, ino: u32) -> Result<Inode, Ext2Error> {
        Ok(self.raw_inode(ino)?.inode)
    }

    /// Looks `name` up in directory `dir`: `Some(inode)` if present.
    ///
    /// `.` and `..` are found like any other name.
    ///
    /// # Errors
    /// [`Ext2Error::NotADirectory`], [`Ext2Error::CorruptDirectory`], an
    /// error reading the directory's inode or blocks.
    pub fn lookup(&self, dir: u32, name: &[u8]) -> Result<Option<u32>, Ext2Error> {
        let dir = self.raw_inode(dir)?;
        if name.is_empty() || name.len() > NAME_MAX as usize {
            // No entry can hold such a name; still report a non-directory.
            return self.check_directory(&dir).map(|()| None);
        }
        self.for_each_entry(&dir, |entry| {
            Ok(if entry.name == name {
                ControlFlow::Break(entry.ino)
            } else {
                ControlFlow::Continue(())
            })
        })
    }

    /// Every entry of directory `dir`, `.` and `..` first, in on-disk
    /// order.
    ///
    /// # Errors
    /// [`Ext2Error::NotADirectory`], [`Ext2Error::CorruptDirectory`], an
    /// error reading the directory's inode or blocks, or (without the
    /// `filetype` feature) an error reading an entry's inode.
    pub fn read_dir(&self, dir: u32) -> Result<Vec<DirEntry>, Ext2Error> {
        let dir = self.raw_inode(dir)?;
        let mut entries = Vec::new();
        self.for_each_entry(&dir, |entry| {
            let kind = match FileType::from_dir_entry(entry.type_byte) {
                Some(kind) => kind,
                None => self.inode(entry.ino)?.kind,
            };
            entries.push(DirEntry {
                ino: entry.ino,
                name: entry.name.to_vec(),
                kind,
            });
            Ok(ControlFlow::<()>::Continue(()))
        })?;
        Ok(entries)
    }

    /// Reads regular file `ino` from byte `offset` into `buf`; returns the
    /// bytes read, which is fewer than `buf.len()` only at the end of the
    /// file and 0 at or past it. Holes read as zeros.
    ///
    /// # Errors
    /// [`Ext2Error::IsADirectory`], [`Ext2Error::NotARegularFile`],
    /// [`Ext2Error::UnsupportedInode`], [`Ext2Error::BadBlock`],
    /// [`Ext2Error::IndirectLoop`], [`Ext2Error::FileTooLarge`] for data
    /// past what the block map can address, an error reading the inode, or
    /// the device's read error.
    pub fn read(&self, ino: u32, offset: u64, buf: &mut [u8]) -> Result<usize, Ext2Error> {
        let inode = self.raw_inode(ino)?;
        match inode.inode.kind {
            FileType::Regular => self.read_data(&inode, offset, buf),
            FileType::Directory => Err(Ext2Error::IsADirectory(ino)),
            _ => Err(Ext2Error::NotARegularFile(ino)),
        }
    }

    /// The target of symbolic link `ino`.
    ///
    /// Short targets (under 60 bytes, no data block) are stored in the
    /// inode itself ("fast" links); longer ones in one data block.
    ///
    /// # Errors
    /// [`Ext2Error::NotASymlink`], [`Ext2Error::BadSymlink`] for an empty
    /// or oversized target or a missing data block, an error reading the
    /// inode, or the device's read error.
    pub fn read_link(&self, ino: u32) -> Result<Vec<u8>, Ext2Error> {
        let inode = self.raw_inode(ino)?;
        if inode.inode.kind != FileType::Symlink {
            return Err(Ext2Error::NotASymlink(ino));
        }
        let size = inode.inode.size;
        if inode.data_blocks_512(self.sb.block_size) == 0 {
            // Fast link: the target is in the block-pointer array.
            let len = usize::try_from(size)
                .ok()
                .filter(|&len| (1..INLINE_BYTES).contains(&len))
                .ok_or(Ext2Error::BadSymlink(ino))?;
            return Ok(inode.inline[..len].to_vec());
        }
        // Slow link: one block, and the kernel keeps targets shorter than it.
        if size == 0 || size >= u64::from(self.sb.block_size) {
            return Err(Ext2Error::BadSymlink(ino));
        }
        if map_block(&self.dev, &self.sb, &inode, 0)?.is_none() {
            return Err(Ext2Error::BadSymlink(ino));
        }
        // Lossless: size < block_size <= 64 KiB.
        let mut target = vec![0; size as usize];
        self.read_data(&inode, 0, &mut target)?;
        Ok(target)
    }

    /// Reads and decodes inode `ino`.
    fn raw_inode(&self, ino: u32) -> Result<RawInode, Ext2Error> {
        if ino == 0 || ino > self.sb.inodes_count {
            return Err(Ext2Error::InodeOutOfRange(ino));
        }
        let index = ino - 1;
        let group = (index / self.sb.inodes_per_group) as usize;
        let table = *self
            .inode_tables
            .get(group)
            .ok_or(Ext2Error::InodeOutOfRange(ino))?;
        let within = u64::from(index % self.sb.inodes_per_group) * u64::from(self.sb.inode_size);
        let mut raw = [0u8; INODE_BYTES];
        self.dev
            .read_at(self.sb.block_offset(table) + within, &mut raw)?;
        RawInode::parse(ino, &raw, &self.sb)
    }

    /// Copies bytes of a block-mapped inode from `offset` into `buf`.
    fn read_data(&self, inode: &RawInode, offset: u64, buf: &mut [u8]) -> Result<usize, Ext2Error> {
        let ino = inode.inode.ino;
        let flags = inode.inode.flags & UNSUPPORTED_DATA_FLAGS;
        if flags != 0 {
            return Err(Ext2Error::UnsupportedInode { ino, flags });
        }
        let size = inode.inode.size;
        if offset >= size {
            return Ok(0);
        }
        // Lossless: bounded by buf.len().
        let len = (size - offset).min(buf.len() as u64) as usize;
        let block_size = u64::from(self.sb.block_size);
        let mut done = 0;
        while done < len {
            // No overflow: offset + len <= size.
            let position = offset + done as u64;
            let within = position % block_size;
            // Lossless: at most block_size.
            let chunk = ((block_size - within) as usize).min(len - done);
            let out = &mut buf[done..done + chunk];
            match map_block(&self.dev, &self.sb, inode, position / block_size)? {
                Some(block) => self
                    .dev
                    .read_at(self.sb.block_offset(block) + within, out)?,
                None => out.fill(0),
            }
            done += chunk;
        }
        Ok(len)
    }

    /// Checks that `dir` is a directory this driver can walk.
    fn check_directory(&self, dir: &RawInode) -> Result<(), Ext2Error> {
        let ino = dir.inode.ino;
        if dir.inode.kind != FileType::Directory {
            return Err(Ext2Error::NotADirectory(ino));
        }
        let flags = dir.inode.flags & UNSUPPORTED_DATA_FLAGS;
        if flags != 0 {
            return Err(Ext2Error::UnsupportedInode { ino, flags });
        }
        // A directory is whole blocks, at least one (for `.` and `..`), and
        // no larger than the file system: this bounds every walk below.
        let size = dir.inode.size;
        let block_size = u64::from(self.sb.block_size);
        if size == 0 || !size.is_multiple_of(block_size) || size > self.sb.total_bytes() {
            return Err(Ext2Error::CorruptDirectory { ino, offset: 0 });
        }
        Ok(())
    }

    /// Calls `visit` on each live entry of `dir` until it breaks.
    ///
    /// Also checks that the first block starts with `.` (naming `dir`) and
    /// `..`; deleted entries (inode 0) are skipped.
    fn for_each_entry<T>(
        &self,
        dir: &RawInode,
        mut visit: impl FnMut(&RawEntry<'_>) -> Result<ControlFlow<T>, Ext2Error>,
    ) -> Result<Option<T>, Ext2Error> {
        self.check_directory(dir)?;
        let ino = dir.inode.ino;
        let block_size = u64::from(self.sb.block_size);
        let mut block = vec![0; self.sb.block_size as usize];
        for index in 0..dir.inode.size / block_size {
            let base = index * block_size;
            let corrupt = |within: usize| Ext2Error::CorruptDirectory {
                ino,
                offset: base + within as u64,
            };
            let physical = map_block(&self.dev, &self.sb, dir, index)?.ok_or(corrupt(0))?;
            self.dev
                .read_at(self.sb.block_offset(physical), &mut block)?;
            let entries = BlockEntries::new(&block, self.sb.has_filetype(), self.sb.inodes_count);
            let mut position = 0;
            for entry in entries {
                let entry = entry.map_err(corrupt)?;
                if index == 0 && position < 2 {
                    let (name, valid) = if position == 0 {
                        (&b"."[..], entry.ino == ino)
                    } else {
                        (&b".."[..], entry.ino != 0)
                    };
                    if entry.name != name || !valid {
                        return Err(corrupt(entry.offset));
                    }
                }
                position += 1;
                if entry.ino == 0 {
                    continue;
                }
                if let ControlFlow::Break(found) = visit(&entry)? {
                    return Ok(Some(found));
                }
            }
            // A first block holding `.` alone has no `..`.
            if index == 0 && position < 2 {
                return Err(corrupt(0));
            }
        }
        Ok(None)
    }
}

//! ext2 as a VFS filesystem: the `exo-ext2` reader behind [`Fs`],
//! read-only (every mutation is `EROFS`), errors mapped to errno.

use alloc::vec::Vec;

use exo_ext2::{BlockDevice, Ext2, Ext2Error};

use crate::errno::{Errno, Result};
use crate::vfs::node::{DirEntry, FileType, Fs, FsStat, Ino, Stat, Timespec};

/// Inodes the cache keeps before it starts over.
pub const INODE_CACHE: usize = 1024;

/// A mounted ext2 image, with an inode cache (the image is read-only, so
/// cached inodes never go stale).
pub struct Ext2Fs<D: BlockDevice> {
    dev: u64,
    fs: Ext2<D>,
    inodes: spin::Mutex<alloc::collections::BTreeMap<u32, exo_ext2::Inode>>,
}

impl<D: BlockDevice> core::fmt::Debug for Ext2Fs<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ext2Fs")
            .field("dev", &self.dev)
            .finish_non_exhaustive()
    }
}

impl<D: BlockDevice> Ext2Fs<D> {
    /// Opens the image on `device`; `dev` is the VFS device id.
    ///
    /// # Errors
    /// `EINVAL` for an image that is not a valid ext2 filesystem (bad
    /// superblock, unsupported features), `EIO` for device errors.
    pub fn new(dev: u64, device: D) -> Result<Self> {
        Ok(Self {
            dev,
            fs: Ext2::open(device).map_err(errno)?,
            inodes: spin::Mutex::new(alloc::collections::BTreeMap::new()),
        })
    }

    fn inode(&self, ino: u32) -> Result<exo_ext2::Inode> {
        if let Some(i) = self.inodes.lock().get(&ino) {
            return Ok(*i);
        }
        let i = self.fs.inode(ino).map_err(errno)?;
        let mut cache = self.inodes.lock();
        if cache.len() >= INODE_CACHE {
            cache.clear();
        }
        cache.insert(ino, i);
        Ok(i)
    }
}

/// The errno for an ext2 error: structural damage is `EIO` (as Linux
/// reports a corrupt filesystem), usage errors their POSIX meaning.
fn errno(e: Ext2Error) -> Errno {
    match e {
        Ext2Error::NotADirectory { .. } => Errno::ENOTDIR,
        Ext2Error::IsADirectory { .. } => Errno::EISDIR,
        Ext2Error::NotASymlink { .. } | Ext2Error::NotARegularFile { .. } => Errno::EINVAL,
        Ext2Error::FileTooLarge { .. } => Errno::EFBIG,
        Ext2Error::InodeOutOfRange { .. } | Ext2Error::UnusedInode { .. } => Errno::EIO,
        Ext2Error::BadMagic { .. }
        | Ext2Error::BadSuperblock { .. }
        | Ext2Error::UnsupportedRevision { .. }
        | Ext2Error::UnsupportedFeatures { .. }
        | Ext2Error::DeviceTooSmall { .. } => Errno::EINVAL,
        _ => Errno::EIO,
    }
}

fn kind(k: exo_ext2::FileType) -> FileType {
    match k {
        exo_ext2::FileType::Regular => FileType::Regular,
        exo_ext2::FileType::Directory => FileType::Directory,
        exo_ext2::FileType::Symlink => FileType::Symlink,
        exo_ext2::FileType::CharDevice => FileType::CharDevice,
        exo_ext2::FileType::BlockDevice => FileType::BlockDevice,
        exo_ext2::FileType::Fifo => FileType::Fifo,
        _ => FileType::Socket,
    }
}

fn ino32(ino: Ino) -> Result<u32> {
    u32::try_from(ino).map_err(|_| Errno::ENOENT)
}

fn time(sec: u32) -> Timespec {
    Timespec {
        sec: i64::from(sec),
        nsec: 0,
    }
}

impl<D: BlockDevice + Send + Sync> Fs for Ext2Fs<D> {
    fn fs_type(&self) -> &'static str {
        "ext2"
    }

    fn root(&self) -> Ino {
        Ino::from(self.fs.root())
    }

    fn stat(&self, ino: Ino) -> Result<Stat> {
        let i = self.inode(ino32(ino)?)?;
        Ok(Stat {
            dev: self.dev,
            ino,
            kind: kind(i.kind),
            perm: u32::from(i.mode) & 0o7777,
            nlink: u32::from(i.links),
            uid: i.uid,
            gid: i.gid,
            rdev: u64::from(i.rdev),
            size: i.size,
            blksize: self.fs.block_size(),
            blocks: i.blocks_512,
            atime: time(i.atime),
            mtime: time(i.mtime),
            ctime: time(i.ctime),
        })
    }

    fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Ino> {
        match self.fs.lookup(ino32(dir)?, name).map_err(errno)? {
            Some(ino) => Ok(Ino::from(ino)),
            None => Err(Errno::ENOENT),
        }
    }

    fn readdir(&self, dir: Ino) -> Result<Vec<DirEntry>> {
        Ok(self
            .fs
            .read_dir(ino32(dir)?)
            .map_err(errno)?
            .into_iter()
            .map(|e| DirEntry {
                ino: Ino::from(e.ino),
                name: e.name,
                kind: kind(e.kind),
            })
            .collect())
    }

    fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.fs.read(ino32(ino)?, offset, buf).map_err(errno)
    }

    fn readlink(&self, ino: Ino) -> Result<Vec<u8>> {
        self.fs.read_link(ino32(ino)?).map_err(errno)
    }

    fn statfs(&self) -> FsStat {
        let s = self.fs.stats();
        FsStat {
            bsize: u64::from(s.block_size),
            blocks: s.blocks,
            bfree: s.free_blocks,
            files: s.inodes,
            ffree: s.free_inodes,
            namelen: u64::from(s.name_max),
        }
    }
}

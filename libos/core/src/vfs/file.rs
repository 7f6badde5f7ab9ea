//! Open files: the state behind a file descriptor (offset, flags, the node
//! or special behaviour) and the per-process descriptor table.

use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use super::node::{DirEntry, FileType, Special, Stat};
use super::{Node, Vfs};
use crate::errno::{Errno, Result};

/// How a file was opened (`O_*` flags, personality-neutral).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenFlags {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Create if missing (`O_CREAT`).
    pub create: bool,
    /// With `create`: fail if it exists (`O_EXCL`).
    pub excl: bool,
    /// Truncate to zero (`O_TRUNC`).
    pub trunc: bool,
    /// Every write goes to the end (`O_APPEND`).
    pub append: bool,
    /// Never block (`O_NONBLOCK`).
    pub nonblock: bool,
    /// Must be a directory (`O_DIRECTORY`).
    pub directory: bool,
    /// Do not follow a final symlink (`O_NOFOLLOW`).
    pub nofollow: bool,
    /// Close on exec (`O_CLOEXEC`).
    pub cloexec: bool,
}

impl OpenFlags {
    /// Read-only.
    pub const READ: Self = Self {
        read: true,
        ..Self::NONE
    };
    /// Write-only.
    pub const WRITE: Self = Self {
        write: true,
        ..Self::NONE
    };
    /// Read-write.
    pub const READ_WRITE: Self = Self {
        read: true,
        write: true,
        ..Self::NONE
    };
    const NONE: Self = Self {
        read: false,
        write: false,
        create: false,
        excl: false,
        trunc: false,
        append: false,
        nonblock: false,
        directory: false,
        nofollow: false,
        cloexec: false,
    };
}

/// What an open file reads and writes.
pub(crate) enum Backing {
    /// A node of a mounted filesystem.
    Node(Node),
    /// A device or generated file (possibly also a node, for `fstat`).
    Special(Arc<dyn Special>, Option<Node>),
}

/// An open file description, shared by duplicated descriptors.
pub struct OpenFile {
    vfs: Arc<Vfs>,
    backing: Backing,
    offset: Mutex<u64>,
    flags: Mutex<OpenFlags>,
    kind: FileType,
    /// The absolute path it was opened by (for `/proc/<pid>/fd`).
    path: Mutex<Option<Vec<u8>>>,
}

impl core::fmt::Debug for OpenFile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OpenFile")
            .field("kind", &self.kind)
            .field("offset", &*self.offset.lock())
            .field("flags", &*self.flags.lock())
            .finish_non_exhaustive()
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        let node = match &self.backing {
            Backing::Node(n) | Backing::Special(_, Some(n)) => Some(*n),
            Backing::Special(_, None) => None,
        };
        if let Some(n) = node {
            self.vfs.release(n);
        }
    }
}

/// `lseek` origins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whence {
    /// From the start.
    Set,
    /// From the current offset.
    Current,
    /// From the end.
    End,
}

impl OpenFile {
    pub(super) fn new(vfs: Arc<Vfs>, backing: Backing, flags: OpenFlags, kind: FileType) -> Self {
        Self {
            vfs,
            backing,
            offset: Mutex::new(0),
            flags: Mutex::new(flags),
            kind,
            path: Mutex::new(None),
        }
    }

    /// A file with no node behind it (pipes, sockets): `special` does the
    /// reads and writes.
    #[must_use]
    pub fn anonymous(
        vfs: Arc<Vfs>,
        special: Arc<dyn Special>,
        flags: OpenFlags,
        kind: FileType,
    ) -> Self {
        Self::new(vfs, Backing::Special(special, None), flags, kind)
    }

    /// The node, if the file has one.
    #[must_use]
    pub fn node(&self) -> Option<Node> {
        match &self.backing {
            Backing::Node(n) | Backing::Special(_, Some(n)) => Some(*n),
            Backing::Special(_, None) => None,
        }
    }

    /// The absolute path it was opened by, if known.
    #[must_use]
    pub fn path(&self) -> Option<Vec<u8>> {
        self.path.lock().clone()
    }

    pub(super) fn set_path(&self, path: Vec<u8>) {
        *self.path.lock() = Some(path);
    }

    /// The kind of file.
    #[must_use]
    pub fn kind(&self) -> FileType {
        self.kind
    }

    /// The status flags.
    #[must_use]
    pub fn flags(&self) -> OpenFlags {
        *self.flags.lock()
    }

    /// Changes `O_APPEND` and `O_NONBLOCK` (the flags `F_SETFL` may change).
    pub fn set_status(&self, append: bool, nonblock: bool) {
        let mut f = self.flags.lock();
        f.append = append;
        f.nonblock = nonblock;
    }

    /// The special behaviour, if any (for ioctl and poll).
    #[must_use]
    pub fn special(&self) -> Option<&Arc<dyn Special>> {
        match &self.backing {
            Backing::Special(s, _) => Some(s),
            Backing::Node(_) => None,
        }
    }

    /// Reads at the file offset, advancing it.
    ///
    /// # Errors
    /// `EBADF` if not open for reading, `EISDIR`, or the filesystem's error.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize> {
        let flags = self.flags();
        if !flags.read {
            return Err(Errno::EBADF);
        }
        if self.kind == FileType::Directory {
            return Err(Errno::EISDIR);
        }
        let mut offset = self.offset.lock();
        let n = match &self.backing {
            Backing::Node(node) => self.vfs.fs_of(*node)?.read(node.ino, *offset, buf)?,
            Backing::Special(s, _) => s.read(*offset, buf, flags.nonblock)?,
        };
        *offset += n as u64;
        Ok(n)
    }

    /// Reads at `offset` without moving the file offset (`pread`).
    ///
    /// # Errors
    /// As [`read`](Self::read), plus `ESPIPE` for streams.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let flags = self.flags();
        if !flags.read {
            return Err(Errno::EBADF);
        }
        match &self.backing {
            Backing::Node(node) => self.vfs.fs_of(*node)?.read(node.ino, offset, buf),
            Backing::Special(s, _) if !s.is_stream() => s.read(offset, buf, flags.nonblock),
            Backing::Special(..) => Err(Errno::ESPIPE),
        }
    }

    /// Writes at the file offset (or the end, with `O_APPEND`), advancing
    /// it.
    ///
    /// # Errors
    /// `EBADF` if not open for writing, `EROFS`, `ENOSPC`, `EFBIG`, `EPIPE`…
    pub fn write(&self, data: &[u8]) -> Result<usize> {
        let flags = self.flags();
        if !flags.write {
            return Err(Errno::EBADF);
        }
        let mut offset = self.offset.lock();
        let n = match &self.backing {
            Backing::Node(node) => {
                let fs = self.vfs.fs_of(*node)?;
                if self.vfs.read_only(*node) {
                    return Err(Errno::EROFS);
                }
                if flags.append {
                    *offset = fs.stat(node.ino)?.size;
                }
                fs.write(node.ino, *offset, data)?
            }
            Backing::Special(s, _) => s.write(*offset, data, flags.nonblock)?,
        };
        *offset += n as u64;
        Ok(n)
    }

    /// Moves the file offset.
    ///
    /// # Errors
    /// `ESPIPE` on streams, `EINVAL` for a negative result.
    pub fn seek(&self, offset: i64, whence: Whence) -> Result<u64> {
        if let Backing::Special(s, _) = &self.backing
            && s.is_stream()
        {
            return Err(Errno::ESPIPE);
        }
        let mut cur = self.offset.lock();
        let base = match whence {
            Whence::Set => 0,
            Whence::Current => *cur as i64,
            Whence::End => self.stat()?.size as i64,
        };
        let new = base
            .checked_add(offset)
            .filter(|&o| o >= 0)
            .ok_or(Errno::EINVAL)?;
        *cur = new as u64;
        Ok(*cur)
    }

    /// Attributes of the file.
    ///
    /// # Errors
    /// `EBADF` for a file without a node that cannot describe itself.
    pub fn stat(&self) -> Result<Stat> {
        match self.node() {
            Some(node) => self.vfs.stat_node(node),
            None => Err(Errno::EBADF),
        }
    }

    /// The next batch of directory entries from the file offset (which
    /// counts entries), at most `max`; empty at the end.
    ///
    /// # Errors
    /// `ENOTDIR`.
    pub fn read_dir(&self, max: usize) -> Result<Vec<DirEntry>> {
        let node = self.node().ok_or(Errno::ENOTDIR)?;
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let all = self.vfs.readdir_node(node)?;
        let mut offset = self.offset.lock();
        let start = usize::try_from(*offset)
            .unwrap_or(usize::MAX)
            .min(all.len());
        let batch: Vec<DirEntry> = all.into_iter().skip(start).take(max).collect();
        *offset += batch.len() as u64;
        Ok(batch)
    }

    /// Truncates or extends the file (`ftruncate`).
    ///
    /// # Errors
    /// `EBADF`/`EINVAL` if not open for writing or not a regular file.
    pub fn truncate(&self, size: u64) -> Result<()> {
        if !self.flags().write {
            return Err(Errno::EBADF);
        }
        match &self.backing {
            Backing::Node(node) if self.kind == FileType::Regular => {
                if self.vfs.read_only(*node) {
                    return Err(Errno::EROFS);
                }
                self.vfs.fs_of(*node)?.truncate(node.ino, size)
            }
            _ => Err(Errno::EINVAL),
        }
    }
}

/// Most descriptors a process may have (`RLIMIT_NOFILE`).
pub const MAX_FDS: usize = 1024;

/// One descriptor: the open file and its close-on-exec flag.
#[derive(Clone, Debug)]
pub struct FdEntry {
    /// The open file description.
    pub file: Arc<OpenFile>,
    /// `FD_CLOEXEC`.
    pub cloexec: bool,
}

/// A process's descriptor table.
#[derive(Clone, Debug, Default)]
pub struct FdTable {
    slots: Vec<Option<FdEntry>>,
}

impl FdTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs `file` at the lowest free descriptor ≥ `min`.
    ///
    /// # Errors
    /// `EMFILE` when the table is full; `EINVAL` for `min` past the limit.
    pub fn insert_from(&mut self, min: usize, file: Arc<OpenFile>, cloexec: bool) -> Result<usize> {
        if min >= MAX_FDS {
            return Err(Errno::EINVAL);
        }
        let fd = (min..MAX_FDS)
            .find(|&fd| self.slots.get(fd).is_none_or(Option::is_none))
            .ok_or(Errno::EMFILE)?;
        if fd >= self.slots.len() {
            self.slots.resize(fd + 1, None);
        }
        self.slots[fd] = Some(FdEntry { file, cloexec });
        Ok(fd)
    }

    /// Installs `file` at the lowest free descriptor.
    ///
    /// # Errors
    /// `EMFILE`.
    pub fn insert(&mut self, file: Arc<OpenFile>, cloexec: bool) -> Result<usize> {
        self.insert_from(0, file, cloexec)
    }

    /// The entry at `fd`.
    ///
    /// # Errors
    /// `EBADF`.
    pub fn get(&self, fd: i64) -> Result<&FdEntry> {
        usize::try_from(fd)
            .ok()
            .and_then(|fd| self.slots.get(fd))
            .and_then(Option::as_ref)
            .ok_or(Errno::EBADF)
    }

    /// The open file at `fd`.
    ///
    /// # Errors
    /// `EBADF`.
    pub fn file(&self, fd: i64) -> Result<Arc<OpenFile>> {
        self.get(fd).map(|e| Arc::clone(&e.file))
    }

    /// Sets `FD_CLOEXEC` of `fd`.
    ///
    /// # Errors
    /// `EBADF`.
    pub fn set_cloexec(&mut self, fd: i64, cloexec: bool) -> Result<()> {
        let slot = usize::try_from(fd)
            .ok()
            .and_then(|fd| self.slots.get_mut(fd))
            .and_then(Option::as_mut)
            .ok_or(Errno::EBADF)?;
        slot.cloexec = cloexec;
        Ok(())
    }

    /// Closes `fd`.
    ///
    /// # Errors
    /// `EBADF`.
    pub fn close(&mut self, fd: i64) -> Result<()> {
        let slot = usize::try_from(fd)
            .ok()
            .and_then(|fd| self.slots.get_mut(fd))
            .ok_or(Errno::EBADF)?;
        slot.take().map(|_| ()).ok_or(Errno::EBADF)
    }

    /// `dup`: a new descriptor for the same open file (cloexec clear).
    ///
    /// # Errors
    /// `EBADF`, `EMFILE`.
    pub fn dup(&mut self, fd: i64) -> Result<usize> {
        let file = self.file(fd)?;
        self.insert(file, false)
    }

    /// `dup2`/`dup3`: `new` refers to `old`'s open file (closing what it
    /// named). `dup2(fd, fd)` is a no-op returning `fd`.
    ///
    /// # Errors
    /// `EBADF` (bad `old`, or `new` out of range).
    pub fn dup2(&mut self, old: i64, new: i64, cloexec: bool) -> Result<usize> {
        let file = self.file(old)?;
        let new = usize::try_from(new)
            .ok()
            .filter(|&n| n < MAX_FDS)
            .ok_or(Errno::EBADF)?;
        if old == new as i64 {
            return Ok(new);
        }
        if new >= self.slots.len() {
            self.slots.resize(new + 1, None);
        }
        self.slots[new] = Some(FdEntry { file, cloexec });
        Ok(new)
    }

    /// Installs `file` at descriptor `fd` (closing what was there), as
    /// `dup2` does with an existing descriptor.
    ///
    /// # Errors
    /// `EBADF` for `fd` out of range.
    pub fn dup2_file(&mut self, fd: usize, file: Arc<OpenFile>) -> Result<usize> {
        if fd >= MAX_FDS {
            return Err(Errno::EBADF);
        }
        if fd >= self.slots.len() {
            self.slots.resize(fd + 1, None);
        }
        self.slots[fd] = Some(FdEntry {
            file,
            cloexec: false,
        });
        Ok(fd)
    }

    /// Closes every close-on-exec descriptor (at `exec`).
    pub fn close_on_exec(&mut self) {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|e| e.cloexec) {
                *slot = None;
            }
        }
    }

    /// Open descriptors, in order (for `/proc/[pid]/fd`).
    pub fn iter(&self) -> impl Iterator<Item = (usize, &FdEntry)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(fd, e)| e.as_ref().map(|e| (fd, e)))
    }
}

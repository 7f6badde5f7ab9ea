//! tmpfs: a filesystem in memory, with a size limit.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use crate::errno::{Errno, Result};
use crate::time::Clock;
use crate::vfs::node::{
    DirEntry, FileType, Fs, FsStat, Ino, NewNode, Owner, SetAttr, Stat, Timespec,
};

/// Longest name a tmpfs directory entry may have.
pub const NAME_MAX: usize = 255;

#[derive(Debug)]
enum Content {
    File(Vec<u8>),
    Dir {
        entries: BTreeMap<Vec<u8>, Ino>,
        parent: Ino,
    },
    Symlink(Vec<u8>),
    Device {
        char: bool,
        rdev: u64,
    },
    Fifo,
}

#[derive(Debug)]
struct Node {
    content: Content,
    perm: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
}

impl Node {
    fn kind(&self) -> FileType {
        match &self.content {
            Content::File(_) => FileType::Regular,
            Content::Dir { .. } => FileType::Directory,
            Content::Symlink(_) => FileType::Symlink,
            Content::Device { char: true, .. } => FileType::CharDevice,
            Content::Device { char: false, .. } => FileType::BlockDevice,
            Content::Fifo => FileType::Fifo,
        }
    }

    fn size(&self) -> u64 {
        match &self.content {
            Content::File(d) | Content::Symlink(d) => d.len() as u64,
            Content::Dir { entries, .. } => entries.len() as u64 * 32,
            _ => 0,
        }
    }
}

#[derive(Debug)]
struct Inner {
    nodes: BTreeMap<Ino, Node>,
    next: Ino,
    bytes: u64,
}

/// An in-memory filesystem.
pub struct Tmpfs {
    fs_type: &'static str,
    dev: u64,
    limit: u64,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

impl core::fmt::Debug for Tmpfs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tmpfs")
            .field("dev", &self.dev)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

const ROOT: Ino = 1;

impl Tmpfs {
    /// An empty tmpfs with device id `dev`, at most `limit` bytes of file
    /// data, root owned by `owner`.
    #[must_use]
    pub fn new(dev: u64, limit: u64, owner: Owner, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now();
        let mut nodes = BTreeMap::new();
        nodes.insert(
            ROOT,
            Node {
                content: Content::Dir {
                    entries: BTreeMap::new(),
                    parent: ROOT,
                },
                perm: owner.perm,
                uid: owner.uid,
                gid: owner.gid,
                nlink: 2,
                atime: now,
                mtime: now,
                ctime: now,
            },
        );
        Self {
            fs_type: "tmpfs",
            dev,
            limit,
            clock,
            inner: Mutex::new(Inner {
                nodes,
                next: ROOT + 1,
                bytes: 0,
            }),
        }
    }
}

impl Tmpfs {
    /// The same filesystem reported under another type name (sysfs is a
    /// tmpfs built at boot).
    #[must_use]
    pub fn with_type(mut self, fs_type: &'static str) -> Self {
        self.fs_type = fs_type;
        self
    }
}

fn check_name(name: &[u8]) -> Result<()> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(Errno::EINVAL);
    }
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}

impl Inner {
    fn node(&self, ino: Ino) -> Result<&Node> {
        self.nodes.get(&ino).ok_or(Errno::ENOENT)
    }

    fn node_mut(&mut self, ino: Ino) -> Result<&mut Node> {
        self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    fn entries(&self, dir: Ino) -> Result<&BTreeMap<Vec<u8>, Ino>> {
        match &self.node(dir)?.content {
            Content::Dir { entries, .. } => Ok(entries),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn entries_mut(&mut self, dir: Ino) -> Result<&mut BTreeMap<Vec<u8>, Ino>> {
        match &mut self.node_mut(dir)?.content {
            Content::Dir { entries, .. } => Ok(entries),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// Drops one link of `ino`, freeing it at zero.
    fn drop_link(&mut self, ino: Ino, now: Timespec) {
        let free = match self.nodes.get_mut(&ino) {
            Some(n) => {
                n.nlink = n.nlink.saturating_sub(1);
                n.ctime = now;
                n.nlink == 0
            }
            None => false,
        };
        if free && let Some(n) = self.nodes.remove(&ino) {
            self.bytes = self.bytes.saturating_sub(n.size());
        }
    }
}

impl Fs for Tmpfs {
    fn fs_type(&self) -> &'static str {
        self.fs_type
    }

    fn root(&self) -> Ino {
        ROOT
    }

    fn stat(&self, ino: Ino) -> Result<Stat> {
        let inner = self.inner.lock();
        let n = inner.node(ino)?;
        let size = n.size();
        Ok(Stat {
            dev: self.dev,
            ino,
            kind: n.kind(),
            perm: n.perm,
            nlink: n.nlink,
            uid: n.uid,
            gid: n.gid,
            rdev: match n.content {
                Content::Device { rdev, .. } => rdev,
                _ => 0,
            },
            size,
            blksize: 4096,
            blocks: size.div_ceil(512),
            atime: n.atime,
            mtime: n.mtime,
            ctime: n.ctime,
        })
    }

    fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Ino> {
        let inner = self.inner.lock();
        let n = inner.node(dir)?;
        let Content::Dir { entries, parent } = &n.content else {
            return Err(Errno::ENOTDIR);
        };
        match name {
            b"." => Ok(dir),
            b".." => Ok(*parent),
            _ => entries.get(name).copied().ok_or(Errno::ENOENT),
        }
    }

    fn readdir(&self, dir: Ino) -> Result<Vec<DirEntry>> {
        let inner = self.inner.lock();
        let Content::Dir { entries, parent } = &inner.node(dir)?.content else {
            return Err(Errno::ENOTDIR);
        };
        let mut out = Vec::with_capacity(entries.len() + 2);
        out.push(DirEntry {
            ino: dir,
            name: b".".to_vec(),
            kind: FileType::Directory,
        });
        out.push(DirEntry {
            ino: *parent,
            name: b"..".to_vec(),
            kind: FileType::Directory,
        });
        for (name, &ino) in entries {
            let kind = inner.node(ino).map_or(FileType::Regular, Node::kind);
            out.push(DirEntry {
                ino,
                name: name.clone(),
                kind,
            });
        }
        Ok(out)
    }

    fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let now = self.clock.now();
        let mut inner = self.inner.lock();
        let n = inner.node_mut(ino)?;
        let Content::File(data) = &n.content else {
            return Err(if n.kind() == FileType::Directory {
                Errno::EISDIR
            } else {
                Errno::EINVAL
            });
        };
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= data.len() {
            return Ok(0);
        }
        let len = buf.len().min(data.len() - start);
        buf[..len].copy_from_slice(&data[start..start + len]);
        n.atime = now;
        Ok(len)
    }

    fn readlink(&self, ino: Ino) -> Result<Vec<u8>> {
        match &self.inner.lock().node(ino)?.content {
            Content::Symlink(t) => Ok(t.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    fn statfs(&self) -> FsStat {
        let inner = self.inner.lock();
        FsStat {
            bsize: 4096,
            blocks: self.limit / 4096,
            bfree: self.limit.saturating_sub(inner.bytes) / 4096,
            files: u64::from(u32::MAX),
            ffree: u64::from(u32::MAX) - inner.nodes.len() as u64,
            namelen: NAME_MAX as u64,
        }
    }

    fn read_only(&self) -> bool {
        false
    }

    fn write(&self, ino: Ino, offset: u64, data: &[u8]) -> Result<usize> {
        let now = self.clock.now();
        let mut inner = self.inner.lock();
        let used = inner.bytes;
        let n = inner.node_mut(ino)?;
        let Content::File(bytes) = &mut n.content else {
            return Err(if n.kind() == FileType::Directory {
                Errno::EISDIR
            } else {
                Errno::EINVAL
            });
        };
        let end = offset.checked_add(data.len() as u64).ok_or(Errno::EFBIG)?;
        let grow = end.saturating_sub(bytes.len() as u64);
        if used.saturating_add(grow) > self.limit {
            return Err(if grow > self.limit {
                Errno::EFBIG
            } else {
                Errno::ENOSPC
            });
        }
        let (start, end) = (offset as usize, end as usize);
        if end > bytes.len() {
            bytes
                .try_reserve(end - bytes.len())
                .map_err(|_| Errno::ENOSPC)?;
            bytes.resize(end, 0);
        }
        bytes[start..end].copy_from_slice(data);
        n.mtime = now;
        n.ctime = now;
        inner.bytes = used + grow;
        Ok(data.len())
    }

    fn truncate(&self, ino: Ino, size: u64) -> Result<()> {
        let now = self.clock.now();
        let mut inner = self.inner.lock();
        let used = inner.bytes;
        let n = inner.node_mut(ino)?;
        let Content::File(bytes) = &mut n.content else {
            return Err(if n.kind() == FileType::Directory {
                Errno::EISDIR
            } else {
                Errno::EINVAL
            });
        };
        let old = bytes.len() as u64;
        if size > old && used.saturating_add(size - old) > self.limit {
            return Err(Errno::EFBIG);
        }
        let size = usize::try_from(size).map_err(|_| Errno::EFBIG)?;
        if size > bytes.len() {
            bytes
                .try_reserve(size - bytes.len())
                .map_err(|_| Errno::ENOSPC)?;
        }
        bytes.resize(size, 0);
        n.mtime = now;
        n.ctime = now;
        inner.bytes = used - old + size as u64;
        Ok(())
    }

    fn create(&self, dir: Ino, name: &[u8], node: NewNode, owner: Owner) -> Result<Ino> {
        check_name(name)?;
        let now = self.clock.now();
        let mut inner = self.inner.lock();
        if inner.entries(dir)?.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let ino = inner.next;
        inner.next += 1;
        let (content, nlink, bytes) = match node {
            NewNode::File => (Content::File(Vec::new()), 1, 0),
            NewNode::Directory => (
                Content::Dir {
                    entries: BTreeMap::new(),
                    parent: dir,
                },
                2,
                0,
            ),
            NewNode::Symlink(target) => {
                let len = target.len() as u64;
                (Content::Symlink(target), 1, len)
            }
            NewNode::Device { char, rdev } => (Content::Device { char, rdev }, 1, 0),
            NewNode::Fifo => (Content::Fifo, 1, 0),
        };
        if inner.bytes + bytes > self.limit {
            return Err(Errno::ENOSPC);
        }
        let is_dir = matches!(content, Content::Dir { .. });
        inner.nodes.insert(
            ino,
            Node {
                content,
                perm: owner.perm & 0o7777,
                uid: owner.uid,
                gid: owner.gid,
                nlink,
                atime: now,
                mtime: now,
                ctime: now,
            },
        );
        inner.bytes += bytes;
        inner.entries_mut(dir)?.insert(name.to_vec(), ino);
        let parent = inner.node_mut(dir)?;
        parent.mtime = now;
        parent.ctime = now;
        if is_dir {
            parent.nlink += 1;
        }
        Ok(ino)
    }

    fn link(&self, dir: Ino, name: &[u8], ino: Ino) -> Result<()> {
        check_name(name)?;
        let now = self.clock.now();
        let mut inner = self.inner.lock();
        if inner.node(ino)?.kind() == FileType::Directory {
            return Err(Errno::EPERM);
        }
        if inner.entries(dir)?.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let n = inner.node_mut(ino)?;
        if n.nlink >= u32::from(u16::MAX) {
            return Err(Errno::EMLINK);
        }
        n.nlink += 1;
        n.ctime = now;
        inner.entries_mut(dir)?.insert(name.to_vec(), ino);
        Ok(())
    }

    fn unlink(&self, dir: Ino, name: &[u8]) -> Result<()> {
        let now = self.clock.now();
        let mut inner = self.inner.lock();
        let ino = *inner.entries(dir)?.get(name).ok_or(Errno::ENOENT)?;
        if inner.node(ino)?.kind() == FileType::Directory {
            return Err(Errno::EISDIR);
        }
        inner.entries_mut(dir)?.remove(name);
        inner.drop_link(ino, now);
        let parent = inner.node_mut(dir)?;
        parent.mtime = now;
        parent.ctime = now;
        Ok(())
    }

    fn rmdir(&self, dir: Ino, name: &[u8]) -> Result<()> {
        let now = self.clock.now();
        let mut inner = self.inner.lock();
        let ino = *inner.entries(dir)?.get(name).ok_or(Errno::ENOENT)?;
        if !inner.entries(ino)?.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        inner.entries_mut(dir)?.remove(name);
        inner.nodes.remove(&ino);
        let parent = inner.node_mut(dir)?;
        parent.nlink = parent.nlink.saturating_sub(1);
        parent.mtime = now;
        parent.ctime = now;
        Ok(())
    }

    fn rename(&self, from_dir: Ino, from: &[u8], to_dir: Ino, to: &[u8]) -> Result<()> {
        check_name(to)?;
        let now = self.clock.now();
        let mut inner = self.inner.lock();
        let ino = *inner.entries(from_dir)?.get(from).ok_or(Errno::ENOENT)?;
        inner.entries(to_dir)?;
        let moving_dir = inner.node(ino)?.kind() == FileType::Directory;
        if let Some(&existing) = inner.entries(to_dir)?.get(to) {
            if existing == ino {
                return Ok(());
            }
            let existing_dir = inner.node(existing)?.kind() == FileType::Directory;
            match (moving_dir, existing_dir) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !inner.entries(existing)?.is_empty() => {
                    return Err(Errno::ENOTEMPTY);
                }
                _ => {}
            }
            inner.entries_mut(to_dir)?.remove(to);
            if existing_dir {
                inner.nodes.remove(&existing);
                let p = inner.node_mut(to_dir)?;
                p.nlink = p.nlink.saturating_sub(1);
            } else {
                inner.drop_link(existing, now);
            }
        }
        inner.entries_mut(from_dir)?.remove(from);
        inner.entries_mut(to_dir)?.insert(to.to_vec(), ino);
        if moving_dir && from_dir != to_dir {
            if let Content::Dir { parent, .. } = &mut inner.node_mut(ino)?.content {
                *parent = to_dir;
            }
            let f = inner.node_mut(from_dir)?;
            f.nlink = f.nlink.saturating_sub(1);
            inner.node_mut(to_dir)?.nlink += 1;
        }
        for d in [from_dir, to_dir] {
            let n = inner.node_mut(d)?;
            n.mtime = now;
            n.ctime = now;
        }
        inner.node_mut(ino)?.ctime = now;
        Ok(())
    }

    fn setattr(&self, ino: Ino, attr: SetAttr) -> Result<()> {
        let now = self.clock.now();
        let mut inner = self.inner.lock();
        let n = inner.node_mut(ino)?;
        if let Some(p) = attr.perm {
            n.perm = p & 0o7777;
        }
        if let Some(u) = attr.uid {
            n.uid = u;
        }
        if let Some(g) = attr.gid {
            n.gid = g;
        }
        if let Some(t) = attr.atime {
            n.atime = t;
        }
        if let Some(t) = attr.mtime {
            n.mtime = t;
        }
        n.ctime = now;
        Ok(())
    }
}

//! The virtual filesystem: a mount table over [`Fs`] implementations, path
//! resolution, permission checks, a dentry cache, and the namespace
//! operations processes and personalities call.
//!
//! Paths are bytes. Resolution walks one component at a time from the root
//! or a starting directory: `.` stays, `..` climbs (crossing back out of a
//! mount at its root, never above `/`), a mount point is crossed into the
//! filesystem mounted there, and symbolic links are expanded in place, at
//! most [`SYMLINK_MAX`] times per resolution (`ELOOP`). Every directory
//! walked through needs search permission. Paths longer than [`PATH_MAX`]
//! and components longer than [`NAME_MAX`] are refused with
//! `ENAMETOOLONG`.

pub mod file;
pub mod node;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::{Mutex, RwLock};

use crate::errno::{Errno, Result};
use file::{Backing, OpenFile, OpenFlags};
use node::{DirEntry, FileType, Fs, FsStat, Ino, NewNode, Owner, SetAttr, Stat, Timespec};

/// Longest path accepted (bytes, including the terminating NUL in C).
pub const PATH_MAX: usize = 4096;
/// Longest path component.
pub const NAME_MAX: usize = 255;
/// Symbolic links followed in one resolution.
pub const SYMLINK_MAX: usize = 40;
/// Entries the dentry cache keeps before it starts over.
pub const DCACHE_MAX: usize = 4096;

/// Identifies a mount.
pub type MountId = usize;

/// A node of the VFS: a mount and an inode number in its filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Node {
    /// The mount.
    pub mount: MountId,
    /// The inode in that mount's filesystem.
    pub ino: Ino,
}

/// Who is asking: the credentials permission checks use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cred {
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

impl Cred {
    /// The superuser.
    #[must_use]
    pub fn root() -> Self {
        Self {
            uid: 0,
            gid: 0,
            groups: Vec::new(),
        }
    }

    /// An ordinary user.
    #[must_use]
    pub fn user(uid: u32, gid: u32) -> Self {
        Self {
            uid,
            gid,
            groups: Vec::new(),
        }
    }

    fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// Access being checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read (`r`).
    Read,
    /// Write (`w`).
    Write,
    /// Execute, or search a directory (`x`).
    Exec,
}

/// POSIX permission check of `cred` against `stat` for `access`.
#[must_use]
pub fn permits(cred: &Cred, stat: &Stat, access: Access) -> bool {
    let bit = match access {
        Access::Read => 4,
        Access::Write => 2,
        Access::Exec => 1,
    };
    if cred.uid == 0 {
        // Root may read and write anything, and execute anything some
        // class may execute (directories are always searchable).
        return access != Access::Exec
            || stat.kind == FileType::Directory
            || stat.perm & 0o111 != 0;
    }
    let class = if cred.uid == stat.uid {
        stat.perm >> 6
    } else if cred.in_group(stat.gid) {
        stat.perm >> 3
    } else {
        stat.perm
    };
    class & bit != 0
}

struct Mount {
    fs: Arc<dyn Fs>,
    /// Where it is mounted (`None` for the root mount).
    on: Option<Node>,
    source: String,
    read_only: bool,
    /// Open files and working directories inside it.
    busy: usize,
}

/// One row of the mount table (`/proc/mounts`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    /// Id.
    pub id: MountId,
    /// What was mounted (`tmpfs`, `/dev/vda`, …).
    pub source: String,
    /// Absolute path of the mount point.
    pub target: Vec<u8>,
    /// Filesystem type.
    pub fs_type: &'static str,
    /// Mounted read-only.
    pub read_only: bool,
}

/// The virtual filesystem.
pub struct Vfs {
    mounts: RwLock<BTreeMap<MountId, Mount>>,
    /// Mount point → the mount on top of it.
    covered: RwLock<BTreeMap<Node, MountId>>,
    next_mount: Mutex<MountId>,
    dcache: Mutex<BTreeMap<(Node, Vec<u8>), Ino>>,
    dcache_hits: core::sync::atomic::AtomicU64,
    /// Files created get `perm & !umask`.
    umask: core::sync::atomic::AtomicU32,
}

impl core::fmt::Debug for Vfs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Vfs")
            .field("mounts", &self.mounts.read().len())
            .finish_non_exhaustive()
    }
}

/// Mount id of `/`.
pub const ROOT_MOUNT: MountId = 0;

impl Vfs {
    /// A VFS whose root is `root`.
    #[must_use]
    pub fn new(root: Arc<dyn Fs>, source: &str) -> Arc<Self> {
        let mut mounts = BTreeMap::new();
        let read_only = root.read_only();
        mounts.insert(
            ROOT_MOUNT,
            Mount {
                fs: root,
                on: None,
                source: source.into(),
                read_only,
                busy: 0,
            },
        );
        Arc::new(Self {
            mounts: RwLock::new(mounts),
            covered: RwLock::new(BTreeMap::new()),
            next_mount: Mutex::new(ROOT_MOUNT + 1),
            dcache: Mutex::new(BTreeMap::new()),
            dcache_hits: core::sync::atomic::AtomicU64::new(0),
            umask: core::sync::atomic::AtomicU32::new(0o022),
        })
    }

    /// The root directory.
    #[must_use]
    pub fn root(&self) -> Node {
        let ino = self
            .mounts
            .read()
            .get(&ROOT_MOUNT)
            .map_or(1, |m| m.fs.root());
        Node {
            mount: ROOT_MOUNT,
            ino,
        }
    }

    /// Dentry-cache hits so far (for tests and `/proc`).
    #[must_use]
    pub fn dcache_hits(&self) -> u64 {
        self.dcache_hits.load(core::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn fs_of(&self, node: Node) -> Result<Arc<dyn Fs>> {
        self.mounts
            .read()
            .get(&node.mount)
            .map(|m| Arc::clone(&m.fs))
            .ok_or(Errno::ENOENT)
    }

    pub(crate) fn read_only(&self, node: Node) -> bool {
        self.mounts
            .read()
            .get(&node.mount)
            .is_none_or(|m| m.read_only || m.fs.read_only())
    }

    fn writable(&self, node: Node) -> Result<()> {
        if self.read_only(node) {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    /// Marks `node`'s mount busy (an open file or working directory).
    pub fn hold(&self, node: Node) {
        if let Some(m) = self.mounts.write().get_mut(&node.mount) {
            m.busy += 1;
        }
    }

    /// Undoes [`hold`](Self::hold).
    pub fn release(&self, node: Node) {
        if let Some(m) = self.mounts.write().get_mut(&node.mount) {
            m.busy = m.busy.saturating_sub(1);
        }
    }

    /// Attributes of `node`.
    ///
    /// # Errors
    /// The filesystem's error.
    pub fn stat_node(&self, node: Node) -> Result<Stat> {
        self.fs_of(node)?.stat(node.ino)
    }

    pub(crate) fn readdir_node(&self, node: Node) -> Result<Vec<DirEntry>> {
        let fs = self.fs_of(node)?;
        let mut entries = fs.readdir(node.ino)?;
        // `..` of a mount's root is the parent of its mount point.
        if node.ino == fs.root()
            && let Some(parent) = self.parent(node)?
        {
            for e in &mut entries {
                if e.name == b".." {
                    e.ino = parent.ino;
                }
            }
        }
        Ok(entries)
    }

    /// The parent directory of directory `node` (itself for `/`).
    fn parent(&self, node: Node) -> Result<Option<Node>> {
        let mounts = self.mounts.read();
        let m = mounts.get(&node.mount).ok_or(Errno::ENOENT)?;
        if node.ino == m.fs.root() {
            return match m.on {
                None => Ok(None),
                Some(on) => {
                    drop(mounts);
                    let fs = self.fs_of(on)?;
                    Ok(Some(Node {
                        mount: on.mount,
                        ino: fs.lookup(on.ino, b"..")?,
                    }))
                }
            };
        }
        let fs = Arc::clone(&m.fs);
        drop(mounts);
        Ok(Some(Node {
            mount: node.mount,
            ino: fs.lookup(node.ino, b"..")?,
        }))
    }

    /// `name` in directory `dir`, through the dentry cache, crossing into
    /// whatever is mounted on the result.
    fn child(&self, dir: Node, name: &[u8]) -> Result<Node> {
        let key = (dir, name.to_vec());
        let cached = self.dcache.lock().get(&key).copied();
        let ino = match cached {
            Some(ino) => {
                self.dcache_hits
                    .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                ino
            }
            None => {
                let fs = self.fs_of(dir)?;
                let ino = fs.lookup(dir.ino, name)?;
                if !fs.cacheable() {
                    return Ok(self.cross(Node {
                        mount: dir.mount,
                        ino,
                    }));
                }
                let mut cache = self.dcache.lock();
                if cache.len() >= DCACHE_MAX {
                    cache.clear();
                }
                cache.insert(key, ino);
                ino
            }
        };
        Ok(self.cross(Node {
            mount: dir.mount,
            ino,
        }))
    }

    /// Follows mounts stacked on `node` to the topmost root.
    fn cross(&self, mut node: Node) -> Node {
        loop {
            let top = self.covered.read().get(&node).copied();
            match top.and_then(|m| self.mounts.read().get(&m).map(|mt| (m, mt.fs.root()))) {
                Some((mount, ino)) => node = Node { mount, ino },
                None => return node,
            }
        }
    }

    /// Forgets cached entries of `dir` (after a namespace change).
    fn forget(&self, dir: Node, name: &[u8]) {
        self.dcache.lock().remove(&(dir, name.to_vec()));
    }

    /// Resolves `path` from `cwd` (relative paths) or the root; the final
    /// symlink is followed when `follow` is true.
    ///
    /// # Errors
    /// `ENOENT`, `ENOTDIR`, `EACCES`, `ELOOP`, `ENAMETOOLONG`.
    pub fn resolve(&self, cred: &Cred, cwd: Node, path: &[u8], follow: bool) -> Result<Node> {
        let (dir, last) = self.walk(cred, cwd, path)?;
        match last {
            None => Ok(dir),
            Some(name) => self.finish(cred, dir, &name, follow, 0),
        }
    }

    /// Resolves the directory that would contain `path` and the final
    /// name (for create, unlink, rename). `path` must not end in `.`/`..`.
    ///
    /// # Errors
    /// As [`resolve`](Self::resolve), plus `EINVAL`/`EEXIST` for a final
    /// `.`, `..` or `/`.
    pub fn resolve_parent(&self, cred: &Cred, cwd: Node, path: &[u8]) -> Result<(Node, Vec<u8>)> {
        match self.walk(cred, cwd, path)? {
            (dir, Some(name)) => Ok((dir, name)),
            (_, None) => Err(Errno::EEXIST),
        }
    }

    /// The final component's node, following a symlink when `follow`.
    fn finish(
        &self,
        cred: &Cred,
        dir: Node,
        name: &[u8],
        follow: bool,
        links: usize,
    ) -> Result<Node> {
        let node = self.child(dir, name)?;
        if !follow {
            return Ok(node);
        }
        let stat = self.stat_node(node)?;
        if stat.kind != FileType::Symlink {
            return Ok(node);
        }
        if links >= SYMLINK_MAX {
            return Err(Errno::ELOOP);
        }
        let target = self.fs_of(node)?.readlink(node.ino)?;
        let (d, last) = self.walk_from(cred, dir, &target, links + 1)?;
        match last {
            None => Ok(d),
            Some(n) => self.finish(cred, d, &n, true, links + 1),
        }
    }

    fn walk(&self, cred: &Cred, cwd: Node, path: &[u8]) -> Result<(Node, Option<Vec<u8>>)> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if path.contains(&0) {
            return Err(Errno::EINVAL);
        }
        self.walk_from(cred, cwd, path, 0)
    }

    /// Walks every component but the last of `path` from `start` (or the
    /// root, for an absolute path), expanding symlinks on the way; returns
    /// the directory reached and the last component (`None` when the path
    /// ends in `/`, `.` or `..`, meaning the directory itself).
    fn walk_from(
        &self,
        cred: &Cred,
        start: Node,
        path: &[u8],
        mut links: usize,
    ) -> Result<(Node, Option<Vec<u8>>)> {
        let mut cur = if path.first() == Some(&b'/') {
            self.root()
        } else {
            start
        };
        let mut todo: VecDeque<Vec<u8>> = components(path)?;
        let trailing_dir = path.ends_with(b"/");
        loop {
            let Some(name) = todo.pop_front() else {
                // The path named `cur` itself (`dir/`, `.`, `..`): it must
                // be a directory.
                if self.stat_node(cur)?.kind != FileType::Directory {
                    return Err(Errno::ENOTDIR);
                }
                return Ok((cur, None));
            };
            let stat = self.stat_node(cur)?;
            if stat.kind != FileType::Directory {
                return Err(Errno::ENOTDIR);
            }
            if !permits(cred, &stat, Access::Exec) {
                return Err(Errno::EACCES);
            }
            if name == b".." {
                cur = self.parent(cur)?.unwrap_or(cur);
                continue;
            }
            if todo.is_empty() && !trailing_dir {
                return Ok((cur, Some(name)));
            }
            let next = self.child(cur, &name)?;
            let st = self.stat_node(next)?;
            if st.kind == FileType::Symlink {
                links += 1;
                if links > SYMLINK_MAX {
                    return Err(Errno::ELOOP);
                }
                let target = self.fs_of(next)?.readlink(next.ino)?;
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                if target.first() == Some(&b'/') {
                    cur = self.root();
                }
                for c in components(&target)?.into_iter().rev() {
                    todo.push_front(c);
                }
                if todo.len() > PATH_MAX {
                    return Err(Errno::ENAMETOOLONG);
                }
                continue;
            }
            cur = next;
        }
    }

    /// Mounts `fs` on directory `target` (read-only if `read_only` or the
    /// filesystem is).
    ///
    /// # Errors
    /// Resolution errors, `ENOTDIR`, `EBUSY` if something is mounted there.
    pub fn mount(
        &self,
        cred: &Cred,
        cwd: Node,
        target: &[u8],
        fs: Arc<dyn Fs>,
        source: &str,
        read_only: bool,
    ) -> Result<MountId> {
        if cred.uid != 0 {
            return Err(Errno::EPERM);
        }
        let on = self.resolve(cred, cwd, target, true)?;
        if self.stat_node(on)?.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let mut next = self.next_mount.lock();
        let id = *next;
        *next += 1;
        let read_only = read_only || fs.read_only();
        self.mounts.write().insert(
            id,
            Mount {
                fs,
                on: Some(on),
                source: source.into(),
                read_only,
                busy: 0,
            },
        );
        self.covered.write().insert(on, id);
        self.dcache.lock().clear();
        Ok(id)
    }

    /// Unmounts whatever is mounted at `target`.
    ///
    /// # Errors
    /// `EINVAL` if nothing is, `EBUSY` if it has open files, working
    /// directories or mounts of its own.
    pub fn umount(&self, cred: &Cred, cwd: Node, target: &[u8]) -> Result<()> {
        if cred.uid != 0 {
            return Err(Errno::EPERM);
        }
        let node = self.resolve(cred, cwd, target, true)?;
        let root = self.fs_of(node)?.root();
        if node.ino != root || node.mount == ROOT_MOUNT {
            return Err(Errno::EINVAL);
        }
        let mut mounts = self.mounts.write();
        let busy = mounts.get(&node.mount).is_some_and(|m| m.busy > 0)
            || mounts
                .values()
                .any(|m| m.on.is_some_and(|on| on.mount == node.mount));
        if busy {
            return Err(Errno::EBUSY);
        }
        if let Some(m) = mounts.remove(&node.mount)
            && let Some(on) = m.on
        {
            self.covered.write().remove(&on);
        }
        drop(mounts);
        self.dcache.lock().clear();
        Ok(())
    }

    /// The mount table.
    #[must_use]
    pub fn mounts(&self) -> Vec<MountInfo> {
        let ids: Vec<MountId> = self.mounts.read().keys().copied().collect();
        ids.into_iter()
            .filter_map(|id| {
                let (source, fs_type, read_only, root) = {
                    let mounts = self.mounts.read();
                    let m = mounts.get(&id)?;
                    (m.source.clone(), m.fs.fs_type(), m.read_only, m.fs.root())
                };
                let target = self
                    .path_of(Node {
                        mount: id,
                        ino: root,
                    })
                    .ok()?;
                Some(MountInfo {
                    id,
                    source,
                    target,
                    fs_type,
                    read_only,
                })
            })
            .collect()
    }

    /// The absolute path of directory `node` (for `getcwd`, `/proc`).
    ///
    /// # Errors
    /// `ENOENT` if it is no longer reachable.
    pub fn path_of(&self, node: Node) -> Result<Vec<u8>> {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut cur = node;
        for _ in 0..PATH_MAX {
            let Some(parent) = self.parent(cur)? else {
                break;
            };
            // The name of `cur` in `parent`: at a mount root, the mount
            // point's name.
            let child = {
                let mounts = self.mounts.read();
                let m = mounts.get(&cur.mount).ok_or(Errno::ENOENT)?;
                if cur.ino == m.fs.root() {
                    m.on.ok_or(Errno::ENOENT)?
                } else {
                    cur
                }
            };
            let name = self
                .fs_of(parent)?
                .readdir(parent.ino)?
                .into_iter()
                .find(|e| e.ino == child.ino && e.name != b"." && e.name != b"..")
                .map(|e| e.name)
                .ok_or(Errno::ENOENT)?;
            parts.push(name);
            cur = parent;
        }
        let mut path = Vec::new();
        for p in parts.iter().rev() {
            path.push(b'/');
            path.extend_from_slice(p);
        }
        if path.is_empty() {
            path.push(b'/');
        }
        Ok(path)
    }

    fn owner(&self, cred: &Cred, perm: u32) -> Owner {
        let umask = self.umask.load(core::sync::atomic::Ordering::Relaxed);
        Owner {
            uid: cred.uid,
            gid: cred.gid,
            perm: perm & !umask & 0o7777,
        }
    }

    /// Sets the umask; returns the old one.
    pub fn set_umask(&self, mask: u32) -> u32 {
        self.umask
            .swap(mask & 0o777, core::sync::atomic::Ordering::Relaxed)
    }

    fn check_dir_write(&self, cred: &Cred, dir: Node) -> Result<()> {
        self.writable(dir)?;
        let st = self.stat_node(dir)?;
        if st.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        if !permits(cred, &st, Access::Write) || !permits(cred, &st, Access::Exec) {
            return Err(Errno::EACCES);
        }
        Ok(())
    }

    /// Sticky directories: only the owner of the entry or the directory
    /// (or root) may remove or rename it.
    fn check_sticky(&self, cred: &Cred, dir: Node, victim: Node) -> Result<()> {
        let d = self.stat_node(dir)?;
        if d.perm & 0o1000 == 0 || cred.uid == 0 {
            return Ok(());
        }
        let v = self.stat_node(victim)?;
        if cred.uid == d.uid || cred.uid == v.uid {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }

    /// Opens `path`.
    ///
    /// # Errors
    /// Resolution errors, `EEXIST` (`O_CREAT|O_EXCL`), `EISDIR` (writing a
    /// directory), `ENOTDIR` (`O_DIRECTORY`), `ELOOP` (`O_NOFOLLOW` on a
    /// symlink), `EACCES`, `EROFS`.
    pub fn open(
        self: &Arc<Self>,
        cred: &Cred,
        cwd: Node,
        path: &[u8],
        flags: OpenFlags,
        perm: u32,
    ) -> Result<Arc<OpenFile>> {
        let node = if flags.create {
            let (dir, name) = self.resolve_parent(cred, cwd, path)?;
            match self.finish(cred, dir, &name, !flags.nofollow, 0) {
                Ok(_) if flags.excl => return Err(Errno::EEXIST),
                Ok(node) => node,
                Err(Errno::ENOENT) => {
                    self.check_dir_write(cred, dir)?;
                    let ino = self.fs_of(dir)?.create(
                        dir.ino,
                        &name,
                        NewNode::File,
                        self.owner(cred, perm),
                    )?;
                    self.forget(dir, &name);
                    Node {
                        mount: dir.mount,
                        ino,
                    }
                }
                Err(e) => return Err(e),
            }
        } else {
            self.resolve(cred, cwd, path, !flags.nofollow)?
        };
        let file = self.open_node(cred, node, flags)?;
        if let Some(p) = self.display_path(cred, cwd, path, node) {
            file.set_path(p);
        }
        Ok(file)
    }

    /// The absolute path to show for `node`, opened as `path` from `cwd`.
    fn display_path(&self, cred: &Cred, cwd: Node, path: &[u8], node: Node) -> Option<Vec<u8>> {
        if self.stat_node(node).ok()?.kind == FileType::Directory {
            return self.path_of(node).ok();
        }
        let (dir, name) = self.resolve_parent(cred, cwd, path).ok()?;
        let mut p = self.path_of(dir).ok()?;
        if p != b"/" {
            p.push(b'/');
        }
        p.extend_from_slice(&name);
        Some(p)
    }

    /// Opens a resolved node.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_node(
        self: &Arc<Self>,
        cred: &Cred,
        node: Node,
        flags: OpenFlags,
    ) -> Result<Arc<OpenFile>> {
        let st = self.stat_node(node)?;
        if st.kind == FileType::Symlink {
            return Err(Errno::ELOOP);
        }
        if flags.directory && st.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        if st.kind == FileType::Directory && (flags.write || flags.trunc) {
            return Err(Errno::EISDIR);
        }
        if (flags.read && !permits(cred, &st, Access::Read))
            || (flags.write && !permits(cred, &st, Access::Write))
        {
            return Err(Errno::EACCES);
        }
        if flags.write && st.kind == FileType::Regular {
            self.writable(node)?;
        }
        let fs = self.fs_of(node)?;
        if flags.trunc && flags.write && st.kind == FileType::Regular {
            fs.truncate(node.ino, 0)?;
        }
        let backing = match fs.special(node.ino) {
            Some(special) => Backing::Special(special, Some(node)),
            None => Backing::Node(node),
        };
        self.hold(node);
        Ok(Arc::new(OpenFile::new(
            Arc::clone(self),
            backing,
            flags,
            st.kind,
        )))
    }

    /// `stat` (`follow`) or `lstat`.
    ///
    /// # Errors
    /// Resolution errors.
    pub fn stat(&self, cred: &Cred, cwd: Node, path: &[u8], follow: bool) -> Result<Stat> {
        let node = self.resolve(cred, cwd, path, follow)?;
        self.stat_node(node)
    }

    /// Creates a directory.
    ///
    /// # Errors
    /// `EEXIST`, resolution and permission errors, `EROFS`.
    pub fn mkdir(&self, cred: &Cred, cwd: Node, path: &[u8], perm: u32) -> Result<()> {
        let (dir, name) = self.resolve_parent(cred, cwd, path)?;
        self.create_in(cred, dir, &name, NewNode::Directory, perm)
    }

    /// Creates a symbolic link at `path` pointing to `target`.
    ///
    /// # Errors
    /// As [`mkdir`](Self::mkdir), `ENAMETOOLONG` for a huge target.
    pub fn symlink(&self, cred: &Cred, cwd: Node, target: &[u8], path: &[u8]) -> Result<()> {
        if target.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        let (dir, name) = self.resolve_parent(cred, cwd, path)?;
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        self.check_dir_write(cred, dir)?;
        if self.child(dir, &name).is_ok() {
            return Err(Errno::EEXIST);
        }
        // Symlink permissions are always 0777 (the umask does not apply).
        let owner = Owner {
            uid: cred.uid,
            gid: cred.gid,
            perm: 0o777,
        };
        self.fs_of(dir)?
            .create(dir.ino, &name, NewNode::Symlink(target.to_vec()), owner)?;
        self.forget(dir, &name);
        Ok(())
    }

    /// Creates a device node or FIFO.
    ///
    /// # Errors
    /// As [`mkdir`](Self::mkdir), `EPERM` for devices unless root.
    pub fn mknod(
        &self,
        cred: &Cred,
        cwd: Node,
        path: &[u8],
        node: NewNode,
        perm: u32,
    ) -> Result<()> {
        if matches!(node, NewNode::Device { .. }) && cred.uid != 0 {
            return Err(Errno::EPERM);
        }
        let (dir, name) = self.resolve_parent(cred, cwd, path)?;
        self.create_in(cred, dir, &name, node, perm)
    }

    fn create_in(
        &self,
        cred: &Cred,
        dir: Node,
        name: &[u8],
        node: NewNode,
        perm: u32,
    ) -> Result<()> {
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        self.check_dir_write(cred, dir)?;
        if self.child(dir, name).is_ok() {
            return Err(Errno::EEXIST);
        }
        self.fs_of(dir)?
            .create(dir.ino, name, node, self.owner(cred, perm))?;
        self.forget(dir, name);
        Ok(())
    }

    /// Removes a non-directory.
    ///
    /// # Errors
    /// `ENOENT`, `EISDIR`, `EBUSY` (a mount point), `EACCES`, `EPERM`
    /// (sticky), `EROFS`.
    pub fn unlink(&self, cred: &Cred, cwd: Node, path: &[u8]) -> Result<()> {
        let (dir, name) = self.resolve_parent(cred, cwd, path)?;
        let victim = self.finish(cred, dir, &name, false, 0)?;
        if victim.mount != dir.mount {
            return Err(Errno::EBUSY);
        }
        self.check_dir_write(cred, dir)?;
        self.check_sticky(cred, dir, victim)?;
        self.fs_of(dir)?.unlink(dir.ino, &name)?;
        self.forget(dir, &name);
        Ok(())
    }

    /// Removes an empty directory.
    ///
    /// # Errors
    /// `ENOTEMPTY`, `ENOTDIR`, `EBUSY` (a mount point or `/`), `EINVAL`
    /// (`.`), `EACCES`, `EROFS`.
    pub fn rmdir(&self, cred: &Cred, cwd: Node, path: &[u8]) -> Result<()> {
        let (dir, name) = match self.resolve_parent(cred, cwd, path) {
            Err(Errno::EEXIST) => return Err(Errno::EBUSY),
            other => other?,
        };
        let victim = self.child(dir, &name)?;
        if victim.mount != dir.mount {
            return Err(Errno::EBUSY);
        }
        if self.stat_node(victim)?.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        self.check_dir_write(cred, dir)?;
        self.check_sticky(cred, dir, victim)?;
        self.fs_of(dir)?.rmdir(dir.ino, &name)?;
        self.forget(dir, &name);
        Ok(())
    }

    /// Creates hard link `new` to `old`.
    ///
    /// # Errors
    /// `EXDEV` across mounts, `EPERM` for directories, `EEXIST`, `EROFS`.
    pub fn link(&self, cred: &Cred, cwd: Node, old: &[u8], new: &[u8]) -> Result<()> {
        let target = self.resolve(cred, cwd, old, false)?;
        let (dir, name) = self.resolve_parent(cred, cwd, new)?;
        if target.mount != dir.mount {
            return Err(Errno::EXDEV);
        }
        if self.stat_node(target)?.kind == FileType::Directory {
            return Err(Errno::EPERM);
        }
        self.check_dir_write(cred, dir)?;
        if self.child(dir, &name).is_ok() {
            return Err(Errno::EEXIST);
        }
        self.fs_of(dir)?.link(dir.ino, &name, target.ino)?;
        self.forget(dir, &name);
        Ok(())
    }

    /// Renames `old` to `new`.
    ///
    /// # Errors
    /// `EXDEV` across mounts, `EINVAL` (a directory into itself or its
    /// descendant), `EBUSY` (mount points), `ENOTEMPTY`, `EISDIR`,
    /// `ENOTDIR`, `EACCES`, `EROFS`.
    pub fn rename(&self, cred: &Cred, cwd: Node, old: &[u8], new: &[u8]) -> Result<()> {
        let (from_dir, from) = self
            .resolve_parent(cred, cwd, old)
            .map_err(|e| if e == Errno::EEXIST { Errno::EBUSY } else { e })?;
        let (to_dir, to) = self
            .resolve_parent(cred, cwd, new)
            .map_err(|e| if e == Errno::EEXIST { Errno::EBUSY } else { e })?;
        let moving = self.finish(cred, from_dir, &from, false, 0)?;
        if moving.mount != from_dir.mount {
            return Err(Errno::EBUSY);
        }
        if from_dir.mount != to_dir.mount {
            return Err(Errno::EXDEV);
        }
        if let Ok(existing) = self.finish(cred, to_dir, &to, false, 0)
            && existing.mount != to_dir.mount
        {
            return Err(Errno::EBUSY);
        }
        if self.stat_node(moving)?.kind == FileType::Directory {
            // Refuse moving a directory under itself.
            let mut cur = to_dir;
            for _ in 0..PATH_MAX {
                if cur == moving {
                    return Err(Errno::EINVAL);
                }
                match self.parent(cur)? {
                    Some(p) if p != cur => cur = p,
                    _ => break,
                }
            }
        }
        self.check_dir_write(cred, from_dir)?;
        self.check_dir_write(cred, to_dir)?;
        self.check_sticky(cred, from_dir, moving)?;
        self.fs_of(from_dir)?
            .rename(from_dir.ino, &from, to_dir.ino, &to)?;
        self.forget(from_dir, &from);
        self.forget(to_dir, &to);
        Ok(())
    }

    /// The target of symlink `path`.
    ///
    /// # Errors
    /// `EINVAL` if it is not a symlink.
    pub fn readlink(&self, cred: &Cred, cwd: Node, path: &[u8]) -> Result<Vec<u8>> {
        let node = self.resolve(cred, cwd, path, false)?;
        if self.stat_node(node)?.kind != FileType::Symlink {
            return Err(Errno::EINVAL);
        }
        self.fs_of(node)?.readlink(node.ino)
    }

    /// Sets the size of a file by path.
    ///
    /// # Errors
    /// `EISDIR`, `EACCES`, `EROFS`, `EFBIG`.
    pub fn truncate(&self, cred: &Cred, cwd: Node, path: &[u8], size: u64) -> Result<()> {
        let node = self.resolve(cred, cwd, path, true)?;
        let st = self.stat_node(node)?;
        if st.kind == FileType::Directory {
            return Err(Errno::EISDIR);
        }
        if !permits(cred, &st, Access::Write) {
            return Err(Errno::EACCES);
        }
        self.writable(node)?;
        self.fs_of(node)?.truncate(node.ino, size)
    }

    /// `chmod`.
    ///
    /// # Errors
    /// `EPERM` unless owner or root, `EROFS`.
    pub fn chmod(&self, cred: &Cred, cwd: Node, path: &[u8], perm: u32) -> Result<()> {
        let node = self.resolve(cred, cwd, path, true)?;
        let st = self.stat_node(node)?;
        if cred.uid != 0 && cred.uid != st.uid {
            return Err(Errno::EPERM);
        }
        self.writable(node)?;
        self.fs_of(node)?.setattr(
            node.ino,
            SetAttr {
                perm: Some(perm & 0o7777),
                ..SetAttr::default()
            },
        )
    }

    /// `chown` (root only, or the owner changing the group to one of its
    /// own).
    ///
    /// # Errors
    /// `EPERM`, `EROFS`.
    pub fn chown(
        &self,
        cred: &Cred,
        cwd: Node,
        path: &[u8],
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<()> {
        let node = self.resolve(cred, cwd, path, true)?;
        let st = self.stat_node(node)?;
        let allowed = cred.uid == 0
            || (cred.uid == st.uid
                && uid.is_none_or(|u| u == st.uid)
                && gid.is_none_or(|g| cred.in_group(g)));
        if !allowed {
            return Err(Errno::EPERM);
        }
        self.writable(node)?;
        self.fs_of(node)?.setattr(
            node.ino,
            SetAttr {
                uid,
                gid,
                ..SetAttr::default()
            },
        )
    }

    /// `utimensat`.
    ///
    /// # Errors
    /// `EPERM`/`EACCES`, `EROFS`.
    pub fn utimes(
        &self,
        cred: &Cred,
        cwd: Node,
        path: &[u8],
        atime: Option<Timespec>,
        mtime: Option<Timespec>,
    ) -> Result<()> {
        let node = self.resolve(cred, cwd, path, true)?;
        let st = self.stat_node(node)?;
        if cred.uid != 0 && cred.uid != st.uid {
            return Err(Errno::EPERM);
        }
        self.writable(node)?;
        self.fs_of(node)?.setattr(
            node.ino,
            SetAttr {
                atime,
                mtime,
                ..SetAttr::default()
            },
        )
    }

    /// `statfs` of the filesystem holding `path`.
    ///
    /// # Errors
    /// Resolution errors.
    pub fn statfs(&self, cred: &Cred, cwd: Node, path: &[u8]) -> Result<FsStat> {
        let node = self.resolve(cred, cwd, path, true)?;
        Ok(self.fs_of(node)?.statfs())
    }

    /// Checks that `path` is a directory `cred` may enter (`chdir`).
    ///
    /// # Errors
    /// `ENOTDIR`, `EACCES`, resolution errors.
    pub fn chdir(&self, cred: &Cred, cwd: Node, path: &[u8]) -> Result<Node> {
        let node = self.resolve(cred, cwd, path, true)?;
        let st = self.stat_node(node)?;
        if st.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        if !permits(cred, &st, Access::Exec) {
            return Err(Errno::EACCES);
        }
        Ok(node)
    }
}

/// Splits `path` into its non-empty, non-`.` components.
fn components(path: &[u8]) -> Result<VecDeque<Vec<u8>>> {
    let mut out = VecDeque::new();
    for c in path.split(|&b| b == b'/') {
        if c.is_empty() || c == b"." {
            continue;
        }
        if c.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        out.push_back(c.to_vec());
    }
    Ok(out)
}

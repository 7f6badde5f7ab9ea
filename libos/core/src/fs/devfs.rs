//! devfs: `/dev/null`, `/dev/zero`, `/dev/full`, `/dev/random`,
//! `/dev/urandom` (the kernel's generator), `/dev/console` and `/dev/tty`.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::errno::{Errno, Result};
use crate::vfs::node::{DirEntry, FileType, Fs, Ino, Special, Stat, Timespec};

/// Where entropy comes from (the kernel's `RANDOM_GET`).
pub trait Entropy: Send + Sync {
    /// Fills `buf`.
    ///
    /// # Errors
    /// `EIO` if the source fails.
    fn fill(&self, buf: &mut [u8]) -> Result<()>;
}

impl<T: exo_sys::Exo + Send + Sync> Entropy for T {
    fn fill(&self, buf: &mut [u8]) -> Result<()> {
        self.random(buf).map_err(|_| Errno::EIO)
    }
}

/// The terminal behind `/dev/console` and `/dev/tty`.
pub trait Terminal: Send + Sync {
    /// Shows `bytes`.
    fn write(&self, bytes: &[u8]);
    /// Input, if any: bytes read, 0 at end of input.
    fn read(&self, buf: &mut [u8]) -> usize;
}

/// A terminal that writes to the kernel console and has no input.
#[derive(Debug)]
pub struct KernelConsole<E>(pub Arc<E>);

impl<E: exo_sys::Exo + Send + Sync> Terminal for KernelConsole<E> {
    fn write(&self, bytes: &[u8]) {
        for chunk in bytes.chunks(1024) {
            let _ = self.0.debug_write(chunk);
        }
    }
    fn read(&self, _buf: &mut [u8]) -> usize {
        0
    }
}

const ROOT: Ino = 1;
const NODES: [(&[u8], Ino, u64); 7] = [
    (b"null", 2, dev(1, 3)),
    (b"zero", 3, dev(1, 5)),
    (b"full", 4, dev(1, 7)),
    (b"random", 5, dev(1, 8)),
    (b"urandom", 6, dev(1, 9)),
    (b"tty", 7, dev(5, 0)),
    (b"console", 8, dev(5, 1)),
];

/// Linux's `makedev`.
const fn dev(major: u64, minor: u64) -> u64 {
    (major << 8) | minor
}

/// The device filesystem.
pub struct Devfs {
    dev: u64,
    entropy: Arc<dyn Entropy>,
    terminal: Arc<dyn Terminal>,
    created: Timespec,
}

impl core::fmt::Debug for Devfs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Devfs")
            .field("dev", &self.dev)
            .finish_non_exhaustive()
    }
}

impl Devfs {
    /// A devfs with device id `dev`.
    #[must_use]
    pub fn new(
        dev: u64,
        entropy: Arc<dyn Entropy>,
        terminal: Arc<dyn Terminal>,
        now: Timespec,
    ) -> Self {
        Self {
            dev,
            entropy,
            terminal,
            created: now,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Null,
    Zero,
    Full,
    Random,
    Tty,
}

struct Device {
    kind: Kind,
    entropy: Arc<dyn Entropy>,
    terminal: Arc<dyn Terminal>,
}

impl Special for Device {
    fn read(&self, _offset: u64, buf: &mut [u8], _nonblock: bool) -> Result<usize> {
        match self.kind {
            Kind::Null => Ok(0),
            Kind::Zero | Kind::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            Kind::Random => {
                self.entropy.fill(buf)?;
                Ok(buf.len())
            }
            Kind::Tty => Ok(self.terminal.read(buf)),
        }
    }

    fn write(&self, _offset: u64, data: &[u8], _nonblock: bool) -> Result<usize> {
        match self.kind {
            Kind::Null | Kind::Zero | Kind::Random => Ok(data.len()),
            Kind::Full => Err(Errno::ENOSPC),
            Kind::Tty => {
                self.terminal.write(data);
                Ok(data.len())
            }
        }
    }

    fn is_tty(&self) -> bool {
        self.kind == Kind::Tty
    }
}

impl Fs for Devfs {
    fn fs_type(&self) -> &'static str {
        "devtmpfs"
    }

    fn root(&self) -> Ino {
        ROOT
    }

    /// Mounted read-write as on Linux: the files refuse writes themselves
    /// and the namespace refuses changes (`EROFS` from the defaults).
    fn read_only(&self) -> bool {
        false
    }

    fn stat(&self, ino: Ino) -> Result<Stat> {
        let (kind, perm, rdev) = if ino == ROOT {
            (FileType::Directory, 0o755, 0)
        } else {
            let &(_, _, rdev) = NODES.iter().find(|n| n.1 == ino).ok_or(Errno::ENOENT)?;
            let perm = if ino == 8 { 0o600 } else { 0o666 };
            (FileType::CharDevice, perm, rdev)
        };
        Ok(Stat {
            dev: self.dev,
            ino,
            kind,
            perm,
            nlink: if ino == ROOT { 2 } else { 1 },
            uid: 0,
            gid: 0,
            rdev,
            size: 0,
            blksize: 4096,
            blocks: 0,
            atime: self.created,
            mtime: self.created,
            ctime: self.created,
        })
    }

    fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Ino> {
        if dir != ROOT {
            return Err(if NODES.iter().any(|n| n.1 == dir) {
                Errno::ENOTDIR
            } else {
                Errno::ENOENT
            });
        }
        match name {
            b"." | b".." => Ok(ROOT),
            _ => NODES
                .iter()
                .find(|n| n.0 == name)
                .map(|n| n.1)
                .ok_or(Errno::ENOENT),
        }
    }

    fn readdir(&self, dir: Ino) -> Result<Vec<DirEntry>> {
        if dir != ROOT {
            return Err(Errno::ENOTDIR);
        }
        let mut out = alloc::vec![
            DirEntry {
                ino: ROOT,
                name: b".".to_vec(),
                kind: FileType::Directory
            },
            DirEntry {
                ino: ROOT,
                name: b"..".to_vec(),
                kind: FileType::Directory
            },
        ];
        out.extend(NODES.iter().map(|n| DirEntry {
            ino: n.1,
            name: n.0.to_vec(),
            kind: FileType::CharDevice,
        }));
        Ok(out)
    }

    fn read(&self, _ino: Ino, _offset: u64, _buf: &mut [u8]) -> Result<usize> {
        Err(Errno::EINVAL)
    }

    fn readlink(&self, _ino: Ino) -> Result<Vec<u8>> {
        Err(Errno::EINVAL)
    }

    fn special(&self, ino: Ino) -> Option<Arc<dyn Special>> {
        let kind = match ino {
            2 => Kind::Null,
            3 => Kind::Zero,
            4 => Kind::Full,
            5 | 6 => Kind::Random,
            7 | 8 => Kind::Tty,
            _ => return None,
        };
        Some(Arc::new(Device {
            kind,
            entropy: Arc::clone(&self.entropy),
            terminal: Arc::clone(&self.terminal),
        }))
    }
}

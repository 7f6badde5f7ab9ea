//! procfs: process and system information as files, in Linux's formats
//! where a Linux tool would parse them.
//!
//! ```text
//! /proc/self -> <pid>          /proc/meminfo  /proc/uptime  /proc/cpuinfo
//! /proc/<pid>/status maps      /proc/mounts   /proc/bootlog /proc/version
//!            cmdline comm personality fd/<n> -> <path>
//! ```
//!
//! Contents are generated when a file is opened (a snapshot per open), so
//! a reader sees one consistent state across several `read` calls.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::errno::{Errno, Result};
use crate::process::{Pid, ProcState, Processes};
use crate::signal::{Disposition, SigSet, Signal};
use crate::vfs::node::{DirEntry, FileType, Fs, Ino, Special, Stat, Timespec};

/// Memory figures for `/proc/meminfo`, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// Total.
    pub total_kib: u64,
    /// Free.
    pub free_kib: u64,
    /// Available to new allocations.
    pub available_kib: u64,
}

/// One CPU for `/proc/cpuinfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuInfo {
    /// Vendor id.
    pub vendor: String,
    /// Model name.
    pub model: String,
    /// Clock in MHz.
    pub mhz: u64,
    /// Feature flags.
    pub flags: Vec<String>,
}

/// A device of the platform inventory (from ACPI or the device tree), for
/// `/sys/devices`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Path under `/sys/devices`, e.g. `platform/hpet`.
    pub path: String,
    /// Attributes (file name, contents).
    pub attributes: Vec<(String, String)>,
}

/// What procfs and sysfs report about the machine; the embedder supplies
/// it (from the kernel's boot information on bare metal, from the host
/// when hosted).
pub trait SystemInfo: Send + Sync {
    /// Memory.
    fn meminfo(&self) -> MemInfo;
    /// CPUs.
    fn cpus(&self) -> Vec<CpuInfo>;
    /// The kernel's boot log ring.
    fn bootlog(&self) -> Vec<u8>;
    /// Kernel name and version line.
    fn version(&self) -> String;
    /// Nanoseconds since boot.
    fn uptime_ns(&self) -> u64;
    /// The device inventory.
    fn devices(&self) -> Vec<DeviceInfo> {
        Vec::new()
    }
}

/// The pid of the caller, for `/proc/self`.
pub type CurrentPid = Arc<dyn Fn() -> Pid + Send + Sync>;

/// The procfs.
pub struct Procfs {
    dev: u64,
    procs: Arc<Processes>,
    info: Arc<dyn SystemInfo>,
    current: CurrentPid,
}

impl core::fmt::Debug for Procfs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Procfs")
            .field("dev", &self.dev)
            .finish_non_exhaustive()
    }
}

const ROOT: Ino = 1;
const SELF: Ino = 2;
const SYSTEM: [(&[u8], Ino); 6] = [
    (b"meminfo", 3),
    (b"uptime", 4),
    (b"cpuinfo", 5),
    (b"mounts", 6),
    (b"bootlog", 7),
    (b"version", 8),
];
const PID_FILES: [(&[u8], u64, FileType); 6] = [
    (b"status", 2, FileType::Regular),
    (b"maps", 3, FileType::Regular),
    (b"cmdline", 4, FileType::Regular),
    (b"comm", 5, FileType::Regular),
    (b"personality", 6, FileType::Regular),
    (b"fd", 7, FileType::Directory),
];
const FD_BIT: u64 = 1 << 62;

fn pid_ino(pid: Pid, file: u64) -> Ino {
    (u64::from(pid) << 8) | file
}

/// What an inode number names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum What {
    Root,
    SelfLink,
    System(Ino),
    PidDir(Pid),
    PidFile(Pid, u64),
    FdDir(Pid),
    Fd(Pid, u32),
}

fn what(ino: Ino) -> Option<What> {
    if ino & FD_BIT != 0 {
        let pid = u32::try_from((ino & !FD_BIT) >> 20).ok()?;
        return Some(What::Fd(pid, (ino & 0xf_ffff) as u32));
    }
    match ino {
        ROOT => Some(What::Root),
        SELF => Some(What::SelfLink),
        3..=8 => Some(What::System(ino)),
        _ => {
            let pid = u32::try_from(ino >> 8).ok().filter(|&p| p > 0)?;
            match ino & 0xff {
                1 => Some(What::PidDir(pid)),
                7 => Some(What::FdDir(pid)),
                f @ 2..=6 => Some(What::PidFile(pid, f)),
                _ => None,
            }
        }
    }
}

/// A generated file: the bytes of one open.
struct Snapshot(Vec<u8>);

impl Special for Snapshot {
    fn read(&self, offset: u64, buf: &mut [u8], _nonblock: bool) -> Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.0.len());
        let n = buf.len().min(self.0.len() - start);
        buf[..n].copy_from_slice(&self.0[start..start + n]);
        Ok(n)
    }
    fn write(&self, _offset: u64, _data: &[u8], _nonblock: bool) -> Result<usize> {
        Err(Errno::EACCES)
    }
    fn is_stream(&self) -> bool {
        false
    }
}

impl Procfs {
    /// A procfs over `procs`.
    #[must_use]
    pub fn new(
        dev: u64,
        procs: Arc<Processes>,
        info: Arc<dyn SystemInfo>,
        current: CurrentPid,
    ) -> Self {
        Self {
            dev,
            procs,
            info,
            current,
        }
    }

    /// Process `pid`, or `ENOENT` (its directory has vanished).
    fn process(&self, pid: Pid) -> Result<crate::process::Process> {
        self.procs.get(pid).map_err(|_| Errno::ENOENT)
    }

    fn alive(&self, pid: Pid) -> Result<()> {
        self.procs.get(pid).map(|_| ()).map_err(|_| Errno::ENOENT)
    }

    fn content(&self, w: What) -> Result<Vec<u8>> {
        let mut s = String::new();
        match w {
            What::System(3) => {
                let m = self.info.meminfo();
                for (k, v) in [
                    ("MemTotal:", m.total_kib),
                    ("MemFree:", m.free_kib),
                    ("MemAvailable:", m.available_kib),
                ] {
                    let _ = writeln!(s, "{k:<16}{v:>8} kB");
                }
            }
            What::System(4) => {
                let ns = self.info.uptime_ns();
                let _ = writeln!(
                    s,
                    "{}.{:02} 0.00",
                    ns / 1_000_000_000,
                    ns % 1_000_000_000 / 10_000_000
                );
            }
            What::System(5) => {
                for (i, c) in self.info.cpus().iter().enumerate() {
                    let _ = write!(
                        s,
                        "processor\t: {i}\nvendor_id\t: {}\nmodel name\t: {}\ncpu MHz\t\t: {}.000\nflags\t\t: {}\n\n",
                        c.vendor,
                        c.model,
                        c.mhz,
                        c.flags.join(" ")
                    );
                }
            }
            What::System(6) => {
                for m in self.procs.vfs().mounts() {
                    let target = String::from_utf8_lossy(&m.target);
                    let _ = writeln!(
                        s,
                        "{} {target} {} {} 0 0",
                        m.source,
                        m.fs_type,
                        if m.read_only { "ro" } else { "rw" }
                    );
                }
            }
            What::System(7) => return Ok(self.info.bootlog()),
            What::System(8) => {
                let _ = writeln!(s, "{}", self.info.version());
            }
            What::PidFile(pid, f) => return self.pid_file(pid, f),
            _ => return Err(Errno::EISDIR),
        }
        Ok(s.into_bytes())
    }

    fn pid_file(&self, pid: Pid, f: u64) -> Result<Vec<u8>> {
        let p = self.process(pid)?;
        let mut s = String::new();
        match f {
            2 => {
                let (state, name) = match p.state {
                    ProcState::Running => ("R", "running"),
                    ProcState::Stopped(_) => ("T", "stopped"),
                    ProcState::Zombie(_) => ("Z", "zombie"),
                };
                let set = |f: &dyn Fn(Signal, Disposition) -> bool| {
                    let mut m = SigSet::EMPTY;
                    for n in 1..=Signal::MAX {
                        if let Ok(sig) = Signal::new(u32::from(n))
                            && f(sig, p.signals.actions[usize::from(n - 1)])
                        {
                            m.insert(sig);
                        }
                    }
                    m.0
                };
                let ign = set(&|_, a| a == Disposition::Ignore);
                let cgt = set(&|_, a| matches!(a, Disposition::Handler { .. }));
                let groups: Vec<String> = p.cred.groups.iter().map(|g| format!("{g}")).collect();
                let _ = write!(
                    s,
                    "Name:\t{}\nUmask:\t{:04o}\nState:\t{state} ({name})\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\nPPid:\t{}\nTracerPid:\t0\n\
                     Uid:\t{u}\t{u}\t{u}\t{u}\nGid:\t{g}\t{g}\t{g}\t{g}\nFDSize:\t{}\nGroups:\t{}\nThreads:\t{}\n\
                     SigQ:\t0/0\nSigPnd:\t{:016x}\nShdPnd:\t{:016x}\nSigBlk:\t{:016x}\nSigIgn:\t{ign:016x}\nSigCgt:\t{cgt:016x}\n\
                     Personality:\t{}\n",
                    p.name,
                    p.umask,
                    p.ppid,
                    crate::vfs::file::MAX_FDS,
                    groups.join(" "),
                    p.threads.len(),
                    p.signals.pending.0,
                    p.signals.pending.0,
                    p.signals.mask.0,
                    p.personality,
                    u = p.cred.uid,
                    g = p.cred.gid,
                );
            }
            3 => {
                for r in &p.mm.regions() {
                    let perms = core::str::from_utf8(&r.perms).unwrap_or("----");
                    let line = format!(
                        "{:08x}-{:08x} {perms} {:08x} 00:00 0",
                        r.start, r.end, r.offset
                    );
                    if r.name.is_empty() {
                        let _ = writeln!(s, "{line}");
                    } else {
                        let _ = writeln!(s, "{line:<73}{}", r.name);
                    }
                }
            }
            4 => {
                let mut out = Vec::new();
                for a in &p.argv {
                    out.extend_from_slice(a);
                    out.push(0);
                }
                return Ok(out);
            }
            5 => {
                let _ = writeln!(s, "{}", p.name);
            }
            6 => {
                let _ = writeln!(s, "{}", p.personality);
            }
            _ => return Err(Errno::ENOENT),
        }
        Ok(s.into_bytes())
    }
}

impl Fs for Procfs {
    fn fs_type(&self) -> &'static str {
        "proc"
    }

    fn root(&self) -> Ino {
        ROOT
    }

    fn cacheable(&self) -> bool {
        false
    }

    /// Mounted read-write as on Linux: the files refuse writes themselves
    /// and the namespace refuses changes (`EROFS` from the defaults).
    fn read_only(&self) -> bool {
        false
    }

    fn stat(&self, ino: Ino) -> Result<Stat> {
        let w = what(ino).ok_or(Errno::ENOENT)?;
        let (kind, perm, uid) = match w {
            What::Root => (FileType::Directory, 0o555, 0),
            What::SelfLink => (FileType::Symlink, 0o777, 0),
            What::System(_) => (FileType::Regular, 0o444, 0),
            What::PidDir(pid) | What::FdDir(pid) => {
                (FileType::Directory, 0o555, self.process(pid)?.cred.uid)
            }
            What::PidFile(pid, _) => (FileType::Regular, 0o444, self.process(pid)?.cred.uid),
            What::Fd(pid, fd) => {
                let p = self.process(pid)?;
                p.fds.get(i64::from(fd))?;
                (FileType::Symlink, 0o700, p.cred.uid)
            }
        };
        Ok(Stat {
            dev: self.dev,
            ino,
            kind,
            perm,
            nlink: if kind == FileType::Directory { 2 } else { 1 },
            uid,
            gid: uid,
            rdev: 0,
            size: 0,
            blksize: 1024,
            blocks: 0,
            atime: Timespec::default(),
            mtime: Timespec::default(),
            ctime: Timespec::default(),
        })
    }

    fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Ino> {
        match what(dir).ok_or(Errno::ENOENT)? {
            What::Root => match name {
                b"." | b".." => Ok(ROOT),
                b"self" => Ok(SELF),
                _ => {
                    if let Some(&(_, ino)) = SYSTEM.iter().find(|(n, _)| *n == name) {
                        return Ok(ino);
                    }
                    let pid: Pid = core::str::from_utf8(name)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or(Errno::ENOENT)?;
                    self.alive(pid)?;
                    Ok(pid_ino(pid, 1))
                }
            },
            What::PidDir(pid) => {
                self.alive(pid)?;
                match name {
                    b"." => Ok(pid_ino(pid, 1)),
                    b".." => Ok(ROOT),
                    _ => PID_FILES
                        .iter()
                        .find(|(n, ..)| *n == name)
                        .map(|&(_, f, _)| pid_ino(pid, f))
                        .ok_or(Errno::ENOENT),
                }
            }
            What::FdDir(pid) => match name {
                b"." => Ok(pid_ino(pid, 7)),
                b".." => Ok(pid_ino(pid, 1)),
                _ => {
                    let fd: u32 = core::str::from_utf8(name)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or(Errno::ENOENT)?;
                    self.process(pid)?
                        .fds
                        .get(i64::from(fd))
                        .map_err(|_| Errno::ENOENT)?;
                    Ok(FD_BIT | (u64::from(pid) << 20) | u64::from(fd))
                }
            },
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn readdir(&self, dir: Ino) -> Result<Vec<DirEntry>> {
        let entry = |ino, name: &[u8], kind| DirEntry {
            ino,
            name: name.to_vec(),
            kind,
        };
        match what(dir).ok_or(Errno::ENOENT)? {
            What::Root => {
                let mut out = alloc::vec![
                    entry(ROOT, b".", FileType::Directory),
                    entry(ROOT, b"..", FileType::Directory),
                    entry(SELF, b"self", FileType::Symlink),
                ];
                out.extend(
                    SYSTEM
                        .iter()
                        .map(|&(n, ino)| entry(ino, n, FileType::Regular)),
                );
                out.extend(self.procs.pids().into_iter().map(|pid| {
                    entry(
                        pid_ino(pid, 1),
                        format!("{pid}").as_bytes(),
                        FileType::Directory,
                    )
                }));
                Ok(out)
            }
            What::PidDir(pid) => {
                self.alive(pid)?;
                let mut out = alloc::vec![
                    entry(dir, b".", FileType::Directory),
                    entry(ROOT, b"..", FileType::Directory)
                ];
                out.extend(
                    PID_FILES
                        .iter()
                        .map(|&(n, f, k)| entry(pid_ino(pid, f), n, k)),
                );
                Ok(out)
            }
            What::FdDir(pid) => {
                let p = self.process(pid)?;
                let mut out = alloc::vec![
                    entry(dir, b".", FileType::Directory),
                    entry(pid_ino(pid, 1), b"..", FileType::Directory)
                ];
                out.extend(p.fds.iter().map(|(fd, _)| {
                    entry(
                        FD_BIT | (u64::from(pid) << 20) | fd as u64,
                        format!("{fd}").as_bytes(),
                        FileType::Symlink,
                    )
                }));
                Ok(out)
            }
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let bytes = self.content(what(ino).ok_or(Errno::ENOENT)?)?;
        Snapshot(bytes).read(offset, buf, false)
    }

    fn readlink(&self, ino: Ino) -> Result<Vec<u8>> {
        match what(ino).ok_or(Errno::ENOENT)? {
            What::SelfLink => Ok(format!("{}", (self.current)()).into_bytes()),
            What::Fd(pid, fd) => {
                let file = self.process(pid)?.fds.file(i64::from(fd))?;
                match (file.path(), file.node()) {
                    (Some(path), _) => Ok(path),
                    (None, Some(node)) => Ok(format!("anon_inode:[{}]", node.ino).into_bytes()),
                    (None, None) => Ok(format!("pipe:[{fd}]").into_bytes()),
                }
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn special(&self, ino: Ino) -> Option<Arc<dyn Special>> {
        match what(ino)? {
            w @ (What::System(_) | What::PidFile(..)) => self
                .content(w)
                .ok()
                .map(|b| Arc::new(Snapshot(b)) as Arc<dyn Special>),
            _ => None,
        }
    }
}

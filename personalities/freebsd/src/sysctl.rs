//! The sysctl tree: `__sysctl` by numeric MIB and `__sysctlbyname`.
//!
//! Nodes (`sys/sys/sysctl.h` numbers): `kern.ostype` {1,1},
//! `kern.osrelease` {1,2}, `kern.osrevision` {1,3}, `kern.version` {1,4},
//! `kern.maxproc` {1,6} and `kern.maxfilesperproc` {1,27} (the libOS's
//! limits), `kern.argmax` {1,8}, `kern.hostname` {1,10} (from
//! `/sys/kernel/hostname`, writable by root), `kern.boottime` {1,21} (a
//! `struct timeval`), `kern.osreldate` {1,24};
//! `hw.machine` {6,1}, `hw.ncpu` {6,3}, `hw.physmem` {6,5} (from
//! `/proc/meminfo`), `hw.pagesize` {6,7}, `hw.machine_arch` {6,11}. The
//! meta-nodes of `sys/kern/kern_sysctl.c` that libc and `sysctl(8)` use
//! are there too: `sysctl.name` {0,1,…}, `sysctl.name2oid` {0,3} and
//! `sysctl.oidfmt` {0,4,…}.
//!
//! Sizes follow FreeBSD's `oldlenp` rules: with `oldp` NULL, `*oldlenp`
//! gets the size needed; with a buffer too small, as much as fits is
//! copied, `*oldlenp` says how much, and the call fails with `ENOMEM`.

use alloc::string::String;
use alloc::vec::Vec;

use exo_personality::Ctx;
use libos::vfs::Cred;
use libos::vfs::file::OpenFlags;
use libos::{Errno, Result};

use crate::calls::cred;

/// `CTL_MAXNAME`.
pub const CTL_MAXNAME: u64 = 24;

/// `CTLTYPE_NODE`.
const CTLTYPE_NODE: u32 = 1;
/// `CTLTYPE_INT`.
const CTLTYPE_INT: u32 = 2;
/// `CTLTYPE_STRING`.
const CTLTYPE_STRING: u32 = 3;
/// `CTLTYPE_OPAQUE`.
const CTLTYPE_OPAQUE: u32 = 5;
/// `CTLTYPE_ULONG`.
const CTLTYPE_ULONG: u32 = 8;
/// `CTLFLAG_RD`.
const CTLFLAG_RD: u32 = 0x8000_0000;
/// `CTLFLAG_WR`.
const CTLFLAG_WR: u32 = 0x4000_0000;

/// `kern.osrelease`.
pub const OSRELEASE: &str = "13.2-RELEASE";
/// `kern.osreldate` (`__FreeBSD_version` of 13.2).
pub const OSRELDATE: i32 = 1_302_001;
/// `kern.osrevision` (`BSD`, fixed since 4.4BSD-Lite2).
pub const OSREVISION: i32 = 199_506;
/// `kern.argmax` (`ARG_MAX` of 64-bit FreeBSD: 2 × 256 KiB).
pub const ARGMAX: i32 = 524_288;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Node,
    Int,
    Str,
    ULong,
    /// A struct, with its `oidfmt` format.
    Opaque(&'static str),
}

/// `(name, mib, kind, writable)`.
const NODES: &[(&str, &[i32], Kind, bool)] = &[
    ("kern", &[1], Kind::Node, false),
    ("kern.ostype", &[1, 1], Kind::Str, false),
    ("kern.osrelease", &[1, 2], Kind::Str, false),
    ("kern.osrevision", &[1, 3], Kind::Int, false),
    ("kern.version", &[1, 4], Kind::Str, false),
    ("kern.maxproc", &[1, 6], Kind::Int, false),
    ("kern.argmax", &[1, 8], Kind::Int, false),
    ("kern.hostname", &[1, 10], Kind::Str, true),
    ("kern.boottime", &[1, 21], Kind::Opaque("S,timeval"), false),
    ("kern.osreldate", &[1, 24], Kind::Int, false),
    ("kern.maxfilesperproc", &[1, 27], Kind::Int, false),
    ("hw", &[6], Kind::Node, false),
    ("hw.machine", &[6, 1], Kind::Str, false),
    ("hw.ncpu", &[6, 3], Kind::Int, false),
    ("hw.physmem", &[6, 5], Kind::ULong, false),
    ("hw.pagesize", &[6, 7], Kind::Int, false),
    ("hw.machine_arch", &[6, 11], Kind::Str, false),
];

fn node_by_mib(mib: &[i32]) -> Option<&'static (&'static str, &'static [i32], Kind, bool)> {
    NODES.iter().find(|n| n.1 == mib)
}

/// A libOS file's text (root's view).
fn read_text(ctx: &Ctx<'_>, path: &[u8]) -> Result<String> {
    let c = Cred::root();
    let f = ctx
        .sys
        .vfs
        .open(&c, ctx.sys.vfs.root(), path, OpenFlags::READ, 0)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 || out.len() > 64 * 1024 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn hostname(ctx: &Ctx<'_>) -> String {
    read_text(ctx, b"/sys/kernel/hostname")
        .map(|s| s.lines().next().unwrap_or("").into())
        .unwrap_or_else(|_| "exo".into())
}

fn physmem(ctx: &Ctx<'_>) -> u64 {
    read_text(ctx, b"/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

fn ncpu(ctx: &Ctx<'_>) -> i32 {
    let n = read_text(ctx, b"/proc/cpuinfo")
        .map(|t| t.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    i32::try_from(n.max(1)).unwrap_or(i32::MAX)
}

fn cstring(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// The value bytes of a leaf.
fn value(ctx: &Ctx<'_>, mib: &[i32]) -> Result<Vec<u8>> {
    Ok(match mib {
        [1, 1] => cstring("FreeBSD"),
        [1, 2] => cstring(OSRELEASE),
        [1, 3] => OSREVISION.to_le_bytes().to_vec(),
        [1, 4] => cstring("FreeBSD 13.2-RELEASE exo-libos EXO\n"),
        [1, 6] => (libos::process::MAX_PROCESSES as i32)
            .to_le_bytes()
            .to_vec(),
        [1, 8] => ARGMAX.to_le_bytes().to_vec(),
        [1, 21] => {
            // Boot = now − uptime, in microseconds.
            let now = ctx.sys.clock.now();
            let boot = now
                .sec
                .saturating_mul(1_000_000)
                .saturating_add(i64::from(now.nsec / 1000))
                .saturating_sub((ctx.sys.clock.uptime_ns() / 1000) as i64);
            let mut tv = boot.div_euclid(1_000_000).to_le_bytes().to_vec();
            tv.extend_from_slice(&boot.rem_euclid(1_000_000).to_le_bytes());
            tv
        }
        [1, 27] => (libos::vfs::file::MAX_FDS as i32).to_le_bytes().to_vec(),
        [1, 10] => cstring(&hostname(ctx)),
        [1, 24] => OSRELDATE.to_le_bytes().to_vec(),
        [6, 1] | [6, 11] => cstring("amd64"),
        [6, 3] => ncpu(ctx).to_le_bytes().to_vec(),
        [6, 5] => physmem(ctx).to_le_bytes().to_vec(),
        [6, 7] => 4096i32.to_le_bytes().to_vec(),
        _ => return Err(Errno::ENOENT),
    })
}

/// Sets `kern.hostname` (root only).
fn set_hostname(ctx: &Ctx<'_>, new: &[u8]) -> Result<()> {
    if cred(ctx)?.uid != 0 {
        return Err(Errno::EPERM);
    }
    let name: Vec<u8> = new.iter().copied().take_while(|&b| b != 0).collect();
    if name.len() > 255 {
        return Err(Errno::EINVAL);
    }
    let c = Cred::root();
    let f = ctx.sys.vfs.open(
        &c,
        ctx.sys.vfs.root(),
        b"/sys/kernel/hostname",
        OpenFlags {
            trunc: true,
            ..OpenFlags::WRITE
        },
        0,
    )?;
    let mut line = name;
    line.push(b'\n');
    f.write(&line)?;
    Ok(())
}

/// The `oidfmt` answer: kind word and format string.
fn oidfmt(kind: Kind, writable: bool) -> Vec<u8> {
    let (t, fmt) = match kind {
        Kind::Node => (CTLTYPE_NODE, "N"),
        Kind::Int => (CTLTYPE_INT, "I"),
        Kind::Str => (CTLTYPE_STRING, "A"),
        Kind::ULong => (CTLTYPE_ULONG, "LU"),
        Kind::Opaque(fmt) => (CTLTYPE_OPAQUE, fmt),
    };
    let mut k = t | CTLFLAG_RD;
    if writable {
        k |= CTLFLAG_WR;
    }
    let mut v = k.to_le_bytes().to_vec();
    v.extend_from_slice(&cstring(fmt));
    v
}

/// The MIB of a dotted name.
fn name2oid(name: &[u8]) -> Result<&'static [i32]> {
    let name = name.strip_suffix(b"\0").unwrap_or(name);
    NODES
        .iter()
        .find(|n| n.0.as_bytes() == name)
        .map(|n| n.1)
        .ok_or(Errno::ENOENT)
}

/// Resolves `mib` and applies `new`; returns the old value's bytes.
fn lookup(ctx: &Ctx<'_>, mib: &[i32], new: Option<&[u8]>) -> Result<Vec<u8>> {
    match mib {
        // sysctl.name: the dotted name of an OID.
        [0, 1, rest @ ..] => {
            let n = node_by_mib(rest).ok_or(Errno::ENOENT)?;
            Ok(cstring(n.0))
        }
        // sysctl.name2oid: the new value is the name.
        [0, 3] => {
            let name = new.ok_or(Errno::ENOENT)?;
            Ok(name2oid(name)?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect())
        }
        // sysctl.oidfmt.
        [0, 4, rest @ ..] => {
            let n = node_by_mib(rest).ok_or(Errno::ENOENT)?;
            Ok(oidfmt(n.2, n.3))
        }
        _ => {
            let n = node_by_mib(mib).ok_or(Errno::ENOENT)?;
            if n.2 == Kind::Node {
                // Reading a whole subtree is not supported by FreeBSD
                // either without a handler.
                return Err(Errno::EISDIR);
            }
            let old = value(ctx, mib)?;
            if let Some(new) = new {
                if !n.3 {
                    return Err(Errno::EPERM);
                }
                set_hostname(ctx, new)?;
            }
            Ok(old)
        }
    }
}

/// Copies `old` out under `oldp`/`oldlenp` rules.
fn copy_out(ctx: &mut Ctx<'_>, old: &[u8], oldp: u64, oldlenp: u64) -> Result<u64> {
    if oldlenp == 0 {
        return Ok(0);
    }
    if oldp == 0 {
        ctx.mem.write(oldlenp, &(old.len() as u64).to_le_bytes())?;
        return Ok(0);
    }
    let room = ctx.u64_at(oldlenp)?;
    let n = old.len().min(usize::try_from(room).unwrap_or(usize::MAX));
    ctx.mem.write(oldp, &old[..n])?;
    ctx.mem.write(oldlenp, &(n as u64).to_le_bytes())?;
    if n < old.len() {
        return Err(Errno::ENOMEM);
    }
    Ok(0)
}

/// The new value, if any (at most a page).
fn new_value(ctx: &Ctx<'_>, newp: u64, newlen: u64) -> Result<Option<Vec<u8>>> {
    if newp == 0 {
        return Ok(None);
    }
    ctx.bytes(newp, newlen, 4096).map(Some)
}

/// `__sysctl(name, namelen, oldp, oldlenp, newp, newlen)`.
pub(crate) fn sysctl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let namelen = a[1] & 0xffff_ffff;
    if !(2..=CTL_MAXNAME).contains(&namelen) {
        return Err(Errno::EINVAL);
    }
    let raw = ctx.bytes(a[0], namelen * 4, (CTL_MAXNAME * 4) as usize)?;
    let mib: Vec<i32> = raw
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let new = new_value(ctx, a[4], a[5])?;
    let old = lookup(ctx, &mib, new.as_deref())?;
    copy_out(ctx, &old, a[2], a[3])
}

/// `__sysctlbyname(name, namelen, oldp, oldlenp, newp, newlen)`.
pub(crate) fn sysctlbyname(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[1] == 0 || a[1] > crate::calls::BSD_PATH_MAX as u64 {
        return Err(Errno::EINVAL);
    }
    let name = ctx.bytes(a[0], a[1], crate::calls::BSD_PATH_MAX)?;
    let mib = name2oid(&name)?;
    let new = new_value(ctx, a[4], a[5])?;
    let old = lookup(ctx, mib, new.as_deref())?;
    copy_out(ctx, &old, a[2], a[3])
}

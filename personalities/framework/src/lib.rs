//! The personality framework: what every foreign system-call ABI (Linux,
//! FreeBSD, illumos) needs to sit on the libOS.
//!
//! A personality is a [`Table`] of handlers by call number plus the
//! translations of its ABI (errno numbers, flag words, struct layouts).
//! Handlers see the calling process through a [`Ctx`] — the libOS
//! [`System`](libos::system::System), the pid, and the process's memory as
//! a [`UserMemory`] — and return `Result<u64, Errno>`; the personality
//! turns that into its ABI's result convention. Unknown numbers are
//! `ENOSYS` in that ABI. Every pointer a handler follows goes through
//! [`UserMemory`], which answers `EFAULT` rather than faulting.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod posix;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use libos::mm::Prot;
use libos::system::System;
use libos::{Errno, Result};

/// A process's memory, as a personality reaches it. On bare metal the
/// personality runs in the same address space as the program (through an
/// upcall) and implements this with checked copies and the exokernel's
/// `MAP`/`UNMAP`/`PROTECT`; hosted and in tests it is a [`VecMemory`].
///
/// Copies check the access of every page they touch, as the hardware
/// would for the program. The paging calls take page-aligned ranges that
/// the libOS's [`AddressSpace`](libos::mm::AddressSpace) has already
/// validated and recorded.
pub trait UserMemory {
    /// Copies `buf.len()` bytes from `addr`.
    ///
    /// # Errors
    /// `EFAULT` if any byte is not readable.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<()>;
    /// Copies `data` to `addr`.
    ///
    /// # Errors
    /// `EFAULT` if any byte is not writable.
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<()>;
    /// Backs `[addr, addr + len)` with fresh zeroed pages accessible as
    /// `prot`, replacing what was there.
    ///
    /// # Errors
    /// `ENOMEM` when memory runs out or the memory cannot be changed.
    fn map_pages(&mut self, addr: u64, len: u64, prot: Prot) -> Result<()> {
        let _ = (addr, len, prot);
        Err(Errno::ENOMEM)
    }
    /// Drops the pages of `[addr, addr + len)` (unbacked pages are fine).
    ///
    /// # Errors
    /// `ENOMEM` when the memory cannot be changed.
    fn unmap_pages(&mut self, addr: u64, len: u64) -> Result<()> {
        let _ = (addr, len);
        Err(Errno::ENOMEM)
    }
    /// Changes the access of the (backed) pages of `[addr, addr + len)`.
    ///
    /// # Errors
    /// `ENOMEM` when the memory cannot be changed.
    fn protect_pages(&mut self, addr: u64, len: u64, prot: Prot) -> Result<()> {
        let _ = (addr, len, prot);
        Err(Errno::ENOMEM)
    }
    /// Moves the pages of `[from, from + len)` to `to`, contents and
    /// access intact (`mremap`); the ranges do not overlap.
    ///
    /// # Errors
    /// `ENOMEM` when the memory cannot be changed.
    fn move_pages(&mut self, from: u64, to: u64, len: u64) -> Result<()> {
        let _ = (from, to, len);
        Err(Errno::ENOMEM)
    }
}

const PAGE: u64 = libos::mm::PAGE;

#[derive(Clone, Debug)]
struct Page {
    data: alloc::boxed::Box<[u8; PAGE as usize]>,
    prot: Prot,
}

/// Sparse page-granular memory with per-page access (hosted programs and
/// tests).
#[derive(Clone, Debug, Default)]
pub struct VecMemory {
    pages: BTreeMap<u64, Page>,
}

impl VecMemory {
    /// No memory mapped.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps zeroed read-write pages covering `[addr, addr + len)`.
    pub fn map(&mut self, addr: u64, len: usize) {
        let start = addr / PAGE * PAGE;
        let end = (addr + len as u64).next_multiple_of(PAGE);
        let _ = self.map_pages(start, end - start, Prot::RW);
    }

    /// Pages backed, ascending, with their access (for tests).
    #[must_use]
    pub fn mapped(&self) -> Vec<(u64, Prot)> {
        self.pages.iter().map(|(&a, p)| (a, p.prot)).collect()
    }

    /// Runs `f` over each page piece of `[addr, addr + len)`: the page,
    /// the offset in it, and the piece's length.
    fn pieces(addr: u64, len: usize) -> Result<impl Iterator<Item = (u64, usize, usize)>> {
        let end = addr.checked_add(len as u64).ok_or(Errno::EFAULT)?;
        let mut at = addr;
        Ok(core::iter::from_fn(move || {
            (at < end).then(|| {
                let page = at / PAGE * PAGE;
                let off = (at - page) as usize;
                let n = (page.saturating_add(PAGE).min(end) - at) as usize;
                at += n as u64;
                (page, off, n)
            })
        }))
    }
}

impl UserMemory for VecMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        let mut done = 0;
        for (page, off, n) in Self::pieces(addr, buf.len())? {
            let p = self
                .pages
                .get(&page)
                .filter(|p| p.prot.readable())
                .ok_or(Errno::EFAULT)?;
            buf[done..done + n].copy_from_slice(&p.data[off..off + n]);
            done += n;
        }
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<()> {
        // Check every page first, so a fault writes nothing.
        for (page, _, _) in Self::pieces(addr, data.len())? {
            if !self.pages.get(&page).is_some_and(|p| p.prot.writable()) {
                return Err(Errno::EFAULT);
            }
        }
        let mut done = 0;
        for (page, off, n) in Self::pieces(addr, data.len())? {
            let p = self.pages.get_mut(&page).ok_or(Errno::EFAULT)?;
            p.data[off..off + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        Ok(())
    }

    fn map_pages(&mut self, addr: u64, len: u64, prot: Prot) -> Result<()> {
        for page in (addr..addr.saturating_add(len)).step_by(PAGE as usize) {
            self.pages.insert(
                page,
                Page {
                    data: alloc::boxed::Box::new([0; PAGE as usize]),
                    prot,
                },
            );
        }
        Ok(())
    }

    fn unmap_pages(&mut self, addr: u64, len: u64) -> Result<()> {
        let end = addr.saturating_add(len);
        let gone: Vec<u64> = self.pages.range(addr..end).map(|(&a, _)| a).collect();
        for a in gone {
            self.pages.remove(&a);
        }
        Ok(())
    }

    fn protect_pages(&mut self, addr: u64, len: u64, prot: Prot) -> Result<()> {
        for (_, p) in self.pages.range_mut(addr..addr.saturating_add(len)) {
            p.prot = prot;
        }
        Ok(())
    }

    fn move_pages(&mut self, from: u64, to: u64, len: u64) -> Result<()> {
        let moved: Vec<u64> = self
            .pages
            .range(from..from.saturating_add(len))
            .map(|(&a, _)| a)
            .collect();
        for a in moved {
            if let Some(p) = self.pages.remove(&a) {
                self.pages.insert(a - from + to, p);
            }
        }
        Ok(())
    }
}

/// What a handler works on.
pub struct Ctx<'a> {
    /// The libOS.
    pub sys: &'a System,
    /// The calling process.
    pub pid: libos::process::Pid,
    /// Its memory.
    pub mem: &'a mut dyn UserMemory,
}

impl core::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ctx")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// Longest NUL-terminated string a handler reads (paths).
pub const MAX_CSTR: usize = libos::vfs::PATH_MAX;

impl Ctx<'_> {
    /// A NUL-terminated string at `addr` (without the NUL).
    ///
    /// # Errors
    /// `EFAULT`, or `ENAMETOOLONG` past [`MAX_CSTR`] bytes.
    pub fn cstr(&self, addr: u64) -> Result<Vec<u8>> {
        self.cstr_bounded(addr, MAX_CSTR)
    }

    /// A NUL-terminated string at `addr` (without the NUL) of at most
    /// `max` bytes (program arguments are longer than paths).
    ///
    /// # Errors
    /// `EFAULT`, or `ENAMETOOLONG` past `max` bytes.
    pub fn cstr_bounded(&self, addr: u64, max: usize) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 64];
        loop {
            // Read byte by byte near a region end, in chunks otherwise.
            let at = addr.checked_add(out.len() as u64).ok_or(Errno::EFAULT)?;
            let n = if self.mem.read(at, &mut chunk).is_ok() {
                chunk.len()
            } else {
                self.mem.read(at, &mut chunk[..1])?;
                1
            };
            if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..end]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk[..n]);
            if out.len() >= max {
                return Err(Errno::ENAMETOOLONG);
            }
        }
    }

    /// `len` bytes at `addr` (bounded by `max`).
    ///
    /// # Errors
    /// `EFAULT`, `EINVAL` above `max`.
    pub fn bytes(&self, addr: u64, len: u64, max: usize) -> Result<Vec<u8>> {
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= max)
            .ok_or(Errno::EINVAL)?;
        let mut buf = alloc::vec![0u8; len];
        self.mem.read(addr, &mut buf)?;
        Ok(buf)
    }

    /// A little-endian `u64` at `addr`.
    ///
    /// # Errors
    /// `EFAULT`.
    pub fn u64_at(&self, addr: u64) -> Result<u64> {
        let mut b = [0u8; 8];
        self.mem.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Runs `f` with the process's credentials and working directory.
    ///
    /// # Errors
    /// `ESRCH` if the process is gone, or `f`'s error.
    pub fn in_process<R>(
        &self,
        f: impl FnOnce(&libos::vfs::Cred, libos::vfs::Node) -> Result<R>,
    ) -> Result<R> {
        let (cred, cwd) = self.sys.procs.with(self.pid, |p| (p.cred.clone(), p.cwd))?;
        f(&cred, cwd)
    }
}

/// A handler: the six argument registers in, a value or an errno out.
pub type Handler = fn(&mut Ctx<'_>, [u64; 6]) -> Result<u64>;

/// One ABI's system calls by number.
#[derive(Clone, Copy, Debug)]
pub struct Table {
    /// The personality's name (`linux`, `freebsd`, `illumos`).
    pub name: &'static str,
    /// `(number, name, handler)`, any order.
    pub calls: &'static [(u64, &'static str, Handler)],
}

impl Table {
    /// The handler for `number`.
    #[must_use]
    pub fn lookup(&self, number: u64) -> Option<(&'static str, Handler)> {
        self.calls
            .iter()
            .find(|c| c.0 == number)
            .map(|c| (c.1, c.2))
    }

    /// Runs call `number`: `Err(ENOSYS)` for numbers it does not have.
    ///
    /// # Errors
    /// The handler's errno, or `ENOSYS`.
    pub fn dispatch(&self, ctx: &mut Ctx<'_>, number: u64, args: [u64; 6]) -> Result<u64> {
        match self.lookup(number) {
            Some((_, handler)) => handler(ctx, args),
            None => Err(Errno::ENOSYS),
        }
    }
}

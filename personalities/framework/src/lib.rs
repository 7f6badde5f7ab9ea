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

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use libos::system::System;
use libos::{Errno, Result};

/// A process's memory, as a personality reaches it. On bare metal the
/// personality runs in the same address space as the program (through an
/// upcall) and implements this with checked copies; hosted and in tests it
/// is a [`VecMemory`].
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
}

/// Sparse memory of mapped regions (hosted programs and tests).
#[derive(Clone, Debug, Default)]
pub struct VecMemory {
    regions: BTreeMap<u64, Vec<u8>>,
}

impl VecMemory {
    /// No memory mapped.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `len` zero bytes at `addr`.
    pub fn map(&mut self, addr: u64, len: usize) {
        self.regions.insert(addr, alloc::vec![0; len]);
    }

    fn find(&self, addr: u64, len: usize) -> Option<(u64, usize)> {
        let (&base, region) = self.regions.range(..=addr).next_back()?;
        let off = usize::try_from(addr - base).ok()?;
        (off.checked_add(len)? <= region.len()).then_some((base, off))
    }
}

impl UserMemory for VecMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        let (base, off) = self.find(addr, buf.len()).ok_or(Errno::EFAULT)?;
        buf.copy_from_slice(&self.regions[&base][off..off + buf.len()]);
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<()> {
        let (base, off) = self.find(addr, data.len()).ok_or(Errno::EFAULT)?;
        let region = self.regions.get_mut(&base).ok_or(Errno::EFAULT)?;
        region[off..off + data.len()].copy_from_slice(data);
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
            if out.len() >= MAX_CSTR {
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

//! The virtual address space a program sees, mapped onto Rust slices.
//!
//! A program never holds a host pointer. Every address it computes is a
//! 64-bit *virtual* address whose high 32 bits name a region (a stack
//! frame, the context, the packet, a map's value storage, or a region the
//! embedder registered) and whose low 32 bits are the offset inside it.
//! Each load and store looks the region up (a `match` on the tag) and
//! bounds-checks the offset against the Rust slice behind it, so a wrong
//! address is a [`MemoryFault`], never undefined behaviour, whatever the
//! verifier let through. Addresses below `1 << 32` are never mapped, which
//! makes a null pointer plus any 32-bit offset fault.

use crate::maps::MapSet;

/// Bytes of stack per call frame.
pub const STACK_SIZE: usize = 512;
/// Most call frames (the entry function plus 7 nested BPF-to-BPF calls).
pub const MAX_FRAMES: usize = 8;

const SHIFT: u32 = 32;
const TAG_STACK: u64 = 0x1;
pub(crate) const TAG_CONTEXT: u64 = 0x10;
const TAG_PACKET: u64 = 0x11;
const TAG_REGION: u64 = 0x100;
const MAX_REGIONS: u64 = 0x100;
pub(crate) const TAG_MAP: u64 = 0x1000;
const MAX_MAPS: u64 = 0x1000;
pub(crate) const TAG_MAP_HANDLE: u64 = 0x8000_0000;

/// Virtual address of byte `offset` of the context.
#[must_use]
pub const fn context_address(offset: u32) -> u64 {
    TAG_CONTEXT << SHIFT | offset as u64
}

/// Virtual address of byte `offset` of the packet.
#[must_use]
pub const fn packet_address(offset: u32) -> u64 {
    TAG_PACKET << SHIFT | offset as u64
}

/// Virtual address of the top (one past the last byte) of stack frame
/// `frame`: the value of `r10` in that frame.
#[must_use]
pub const fn frame_pointer(frame: usize) -> u64 {
    (TAG_STACK + frame as u64) << SHIFT | STACK_SIZE as u64
}

/// Virtual address of byte `offset` of embedder region `index` (see
/// [`Region`]).
#[must_use]
pub const fn region_address(index: usize, offset: u32) -> u64 {
    (TAG_REGION + index as u64) << SHIFT | offset as u64
}

/// Virtual address of byte `offset` of the value storage of map `index`.
#[must_use]
pub const fn map_value_address(index: u32, offset: u32) -> u64 {
    (TAG_MAP + index as u64) << SHIFT | offset as u64
}

/// The map index and value-storage offset a map value address names, if
/// it is one.
#[must_use]
pub const fn map_from_value_address(addr: u64) -> Option<(u32, u32)> {
    let tag = addr >> SHIFT;
    if tag >= TAG_MAP && tag < TAG_MAP + MAX_MAPS {
        Some(((tag - TAG_MAP) as u32, addr as u32))
    } else {
        None
    }
}

/// The value `lddw rX, map` puts in a register: an opaque handle, not an
/// address (loads through it fault).
#[must_use]
pub const fn map_handle(index: u32) -> u64 {
    TAG_MAP_HANDLE << SHIFT | index as u64
}

/// Whether `k` (an `lddw` value) is a map handle or a map value address.
#[cfg(feature = "jit")]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
#[must_use]
pub(crate) const fn names_map(k: u64) -> bool {
    map_from_handle(k).is_some() || map_from_value_address(k).is_some()
}

/// The map index behind a handle from [`map_handle`], if it is one.
#[must_use]
pub const fn map_from_handle(handle: u64) -> Option<u32> {
    if handle >> SHIFT == TAG_MAP_HANDLE {
        Some(handle as u32)
    } else {
        None
    }
}

/// A load or store outside every region the program may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} of {len} bytes at {addr:#x} is outside the program's memory", if *write { "write" } else { "read" })]
pub struct MemoryFault {
    /// The virtual address.
    pub addr: u64,
    /// Bytes accessed.
    pub len: usize,
    /// Whether it was a store.
    pub write: bool,
}

/// Memory an embedder lends a program run, beyond context, stack, packet
/// and maps; region `i` starts at [`region_address`]`(i, 0)`.
#[derive(Debug)]
pub enum Region<'r> {
    /// Loads only.
    ReadOnly(&'r [u8]),
    /// Loads and stores.
    ReadWrite(&'r mut [u8]),
}

/// Everything a program run may address, and the checked accessors to it;
/// also what helpers get to read and write the program's memory.
#[derive(Debug)]
pub struct Memory<'a, 'r> {
    pub(crate) stack: &'a mut [u8],
    pub(crate) context: &'a mut [u8],
    pub(crate) context_writable: bool,
    pub(crate) packet: &'a mut [u8],
    pub(crate) regions: &'a mut [Region<'r>],
    pub(crate) maps: Option<&'a mut MapSet>,
    pub(crate) cpu: u32,
}

fn window(slice: &[u8], offset: usize, len: usize) -> Option<&[u8]> {
    slice.get(offset..offset.checked_add(len)?)
}

fn window_mut(slice: &mut [u8], offset: usize, len: usize) -> Option<&mut [u8]> {
    slice.get_mut(offset..offset.checked_add(len)?)
}

impl<'a, 'r> Memory<'a, 'r> {
    fn slice(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let tag = addr >> SHIFT;
        let offset = (addr as u32) as usize;
        let frames = (self.stack.len() / STACK_SIZE) as u64;
        if tag.wrapping_sub(TAG_STACK) < frames {
            let frame = (tag - TAG_STACK) as usize * STACK_SIZE;
            if offset.checked_add(len)? > STACK_SIZE {
                return None;
            }
            return window(self.stack, frame + offset, len);
        }
        match tag {
            TAG_CONTEXT => window(self.context, offset, len),
            TAG_PACKET => window(self.packet, offset, len),
            t if t.wrapping_sub(TAG_REGION) < MAX_REGIONS => {
                match self.regions.get((t - TAG_REGION) as usize)? {
                    Region::ReadOnly(r) => window(r, offset, len),
                    Region::ReadWrite(r) => window(r, offset, len),
                }
            }
            t if t.wrapping_sub(TAG_MAP) < MAX_MAPS => {
                let map = self.maps.as_ref()?.get((t - TAG_MAP) as u32)?;
                window(map.values(), offset, len)
            }
            _ => None,
        }
    }

    fn slice_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        let tag = addr >> SHIFT;
        let offset = (addr as u32) as usize;
        let frames = (self.stack.len() / STACK_SIZE) as u64;
        if tag.wrapping_sub(TAG_STACK) < frames {
            let frame = (tag - TAG_STACK) as usize * STACK_SIZE;
            if offset.checked_add(len)? > STACK_SIZE {
                return None;
            }
            return window_mut(self.stack, frame + offset, len);
        }
        match tag {
            TAG_CONTEXT if self.context_writable => window_mut(self.context, offset, len),
            TAG_PACKET => window_mut(self.packet, offset, len),
            t if t.wrapping_sub(TAG_REGION) < MAX_REGIONS => {
                match self.regions.get_mut((t - TAG_REGION) as usize)? {
                    Region::ReadOnly(_) => None,
                    Region::ReadWrite(r) => window_mut(r, offset, len),
                }
            }
            t if t.wrapping_sub(TAG_MAP) < MAX_MAPS => {
                let map = self.maps.as_mut()?.get_mut((t - TAG_MAP) as u32)?;
                window_mut(map.values_mut(), offset, len)
            }
            _ => None,
        }
    }

    /// The `len` bytes at `addr`.
    ///
    /// # Errors
    /// [`MemoryFault`] if any of them is outside the program's memory.
    pub fn read(&self, addr: u64, len: usize) -> Result<&[u8], MemoryFault> {
        self.slice(addr, len).ok_or(MemoryFault {
            addr,
            len,
            write: false,
        })
    }

    /// The `len` bytes at `addr`, for writing.
    ///
    /// # Errors
    /// [`MemoryFault`] if any of them is outside the program's writable
    /// memory.
    pub fn read_mut(&mut self, addr: u64, len: usize) -> Result<&mut [u8], MemoryFault> {
        self.slice_mut(addr, len).ok_or(MemoryFault {
            addr,
            len,
            write: true,
        })
    }

    /// Copies `data` to `addr`.
    ///
    /// # Errors
    /// [`MemoryFault`] if the destination is outside the program's writable
    /// memory.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MemoryFault> {
        self.read_mut(addr, data.len())?.copy_from_slice(data);
        Ok(())
    }

    /// Copies `len` bytes from `src` to `dst` (forwards, in chunks, so the
    /// two may lie in different regions).
    ///
    /// # Errors
    /// [`MemoryFault`] if either range is outside the program's memory;
    /// both are checked before anything is written.
    pub fn copy(&mut self, dst: u64, src: u64, len: usize) -> Result<(), MemoryFault> {
        self.read(src, len)?;
        self.read_mut(dst, len)?;
        let mut buf = [0u8; 64];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(buf.len());
            buf[..n].copy_from_slice(self.read(src + done as u64, n)?);
            self.write(dst + done as u64, &buf[..n])?;
            done += n;
        }
        Ok(())
    }

    /// The maps of this run, if the embedder lent any.
    pub fn maps(&mut self) -> Option<&mut MapSet> {
        self.maps.as_deref_mut()
    }

    /// The CPU this run is on ([`crate::Input::cpu`]).
    #[must_use]
    pub fn cpu(&self) -> u32 {
        self.cpu
    }

    /// The context bytes.
    #[must_use]
    pub fn context(&self) -> &[u8] {
        self.context
    }

    #[inline(always)]
    pub(crate) fn load<const N: usize>(&self, addr: u64) -> Result<[u8; N], MemoryFault> {
        match self.slice(addr, N) {
            Some(s) => {
                let mut out = [0u8; N];
                out.copy_from_slice(s);
                Ok(out)
            }
            None => Err(MemoryFault {
                addr,
                len: N,
                write: false,
            }),
        }
    }

    #[inline(always)]
    pub(crate) fn store<const N: usize>(
        &mut self,
        addr: u64,
        value: [u8; N],
    ) -> Result<(), MemoryFault> {
        match self.slice_mut(addr, N) {
            Some(s) => {
                s.copy_from_slice(&value);
                Ok(())
            }
            None => Err(MemoryFault {
                addr,
                len: N,
                write: true,
            }),
        }
    }
}

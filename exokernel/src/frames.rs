//! Physical frame allocation: a bitmap over the RAM the firmware reported.
//!
//! The exokernel hands physical frames to environments by capability, so it
//! must know exactly which frames are free. A bitmap (one bit per 4 KiB
//! frame, set = in use) costs 32 KiB per GiB, makes double frees detectable,
//! and finds physically contiguous runs for DMA. It is built before the heap
//! exists: [`plan`] picks where the bitmap itself lives, the boot code turns
//! that range into a slice, and [`FrameAllocator::new`] fills it in.

use core::fmt;
use hal::{MemoryKind, MemoryRegion};

/// Size of a physical frame.
pub const FRAME_SIZE: u64 = 4096;

/// Why a frame operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The memory map holds no usable frame below the addressable limit.
    NoUsableMemory,
    /// No free range is large enough to hold the bitmap.
    NoRoomForBitmap {
        /// Bytes the bitmap needs.
        bytes: u64,
    },
    /// The bitmap storage given is smaller than the plan asked for.
    BitmapTooSmall,
    /// The address is not frame-aligned.
    Misaligned(u64),
    /// The address is outside the frames this allocator manages.
    OutOfRange(u64),
    /// The frame is already free.
    DoubleFree(u64),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoUsableMemory => write!(f, "no usable memory"),
            Self::NoRoomForBitmap { bytes } => {
                write!(f, "no free range of {bytes} bytes for the frame bitmap")
            }
            Self::BitmapTooSmall => write!(f, "frame bitmap storage too small"),
            Self::Misaligned(a) => write!(f, "address {a:#x} is not frame-aligned"),
            Self::OutOfRange(a) => write!(f, "frame {a:#x} is not managed memory"),
            Self::DoubleFree(a) => write!(f, "frame {a:#x} is already free"),
        }
    }
}

/// Where the bitmap goes and what it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// First managed physical address (frame-aligned).
    pub base: u64,
    /// Number of frames covered.
    pub frames: u64,
    /// Physical address where the bitmap should live (frame-aligned).
    pub bitmap_address: u64,
    /// Bitmap size in bytes (a whole number of frames).
    pub bitmap_bytes: u64,
}

impl Plan {
    /// Bitmap length in 64-bit words.
    pub fn bitmap_words(&self) -> usize {
        self.frames.div_ceil(64) as usize
    }
}

fn align_up(x: u64) -> u64 {
    x.div_ceil(FRAME_SIZE).saturating_mul(FRAME_SIZE)
}

fn align_down(x: u64) -> u64 {
    x / FRAME_SIZE * FRAME_SIZE
}

/// Usable RAM ranges clipped to whole frames below `limit`.
fn usable(memory: &[MemoryRegion], limit: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
    memory
        .iter()
        .filter(|r| r.kind == MemoryKind::Usable)
        .map(move |r| (align_up(r.start), align_down(r.end().min(limit))))
        .filter(|(s, e)| s < e)
}

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Decides the managed span and where to put the bitmap: the lowest
/// frame-aligned gap in usable RAM, clear of `reserved`, that fits it.
///
/// `limit` is the highest address the kernel can reach (memory above it is
/// not managed yet), and `reserved` lists ranges in use (the kernel image,
/// the boot information, modules, the first MiB).
///
/// # Errors
/// [`FrameError::NoUsableMemory`] or [`FrameError::NoRoomForBitmap`].
pub fn plan(
    memory: &[MemoryRegion],
    reserved: &[(u64, u64)],
    limit: u64,
) -> Result<Plan, FrameError> {
    let base = usable(memory, limit)
        .map(|r| r.0)
        .min()
        .ok_or(FrameError::NoUsableMemory)?;
    let end = usable(memory, limit)
        .map(|r| r.1)
        .max()
        .ok_or(FrameError::NoUsableMemory)?;
    let frames = (end - base) / FRAME_SIZE;
    let bitmap_bytes = align_up(frames.div_ceil(64) * 8);
    for (start, stop) in usable(memory, limit) {
        let mut candidate = start;
        while candidate.saturating_add(bitmap_bytes) <= stop {
            let range = (candidate, candidate + bitmap_bytes);
            match reserved
                .iter()
                .filter(|r| overlaps(range, **r))
                .map(|r| r.1)
                .max()
            {
                None => {
                    return Ok(Plan {
                        base,
                        frames,
                        bitmap_address: candidate,
                        bitmap_bytes,
                    });
                }
                Some(blocker_end) => candidate = align_up(blocker_end),
            }
        }
    }
    Err(FrameError::NoRoomForBitmap {
        bytes: bitmap_bytes,
    })
}

/// The frame allocator.
#[derive(Debug)]
pub struct FrameAllocator<'a> {
    bitmap: &'a mut [u64],
    base: u64,
    frames: u64,
    free: u64,
    /// Where the next single-frame search starts.
    hint: u64,
}

impl<'a> FrameAllocator<'a> {
    /// Builds the allocator for `plan` in `bitmap`: usable RAM is free;
    /// everything else (gaps, non-usable ranges even where they overlap
    /// usable ones, `reserved`, and the bitmap itself) is in use.
    ///
    /// # Errors
    /// [`FrameError::BitmapTooSmall`] if `bitmap` is shorter than the plan.
    pub fn new(
        plan: &Plan,
        bitmap: &'a mut [u64],
        memory: &[MemoryRegion],
        reserved: &[(u64, u64)],
    ) -> Result<Self, FrameError> {
        let words = plan.bitmap_words();
        let bitmap = bitmap.get_mut(..words).ok_or(FrameError::BitmapTooSmall)?;
        bitmap.fill(u64::MAX);
        let mut this = Self {
            bitmap,
            base: plan.base,
            frames: plan.frames,
            free: 0,
            hint: 0,
        };
        let limit = plan.base + plan.frames * FRAME_SIZE;
        for (start, end) in usable(memory, limit) {
            this.set_range(start, end, false);
        }
        // Where the firmware lists a range twice, the non-usable kind wins.
        for r in memory.iter().filter(|r| r.kind != MemoryKind::Usable) {
            this.set_range(align_down(r.start), align_up(r.end()), true);
        }
        for &(start, end) in reserved {
            this.set_range(align_down(start), align_up(end), true);
        }
        this.set_range(
            plan.bitmap_address,
            plan.bitmap_address + plan.bitmap_bytes,
            true,
        );
        Ok(this)
    }

    fn is_used(&self, index: u64) -> bool {
        self.bitmap[(index / 64) as usize] & (1 << (index % 64)) != 0
    }

    fn set(&mut self, index: u64, used: bool) {
        let word = &mut self.bitmap[(index / 64) as usize];
        let bit = 1 << (index % 64);
        match (*word & bit != 0, used) {
            (false, true) => {
                *word |= bit;
                self.free -= 1;
            }
            (true, false) => {
                *word &= !bit;
                self.free += 1;
            }
            _ => {}
        }
    }

    /// Marks the frames of `[start, end)` (clipped to the managed span).
    fn set_range(&mut self, start: u64, end: u64, used: bool) {
        let first = start.max(self.base).saturating_sub(self.base) / FRAME_SIZE;
        let last = (end.saturating_sub(self.base) / FRAME_SIZE).min(self.frames);
        for index in first..last {
            self.set(index, used);
        }
    }

    fn address(&self, index: u64) -> u64 {
        self.base + index * FRAME_SIZE
    }

    /// Free frames.
    pub fn free_frames(&self) -> u64 {
        self.free
    }

    /// Frames in the managed span (free, used, or holes).
    pub fn total_frames(&self) -> u64 {
        self.frames
    }

    /// Allocates one frame, returning its physical address.
    pub fn allocate(&mut self) -> Option<u64> {
        if self.free == 0 {
            return None;
        }
        let words = self.bitmap.len() as u64;
        let start_word = self.hint / 64;
        for offset in 0..words {
            let w = (start_word + offset) % words;
            let word = self.bitmap[w as usize];
            if word != u64::MAX {
                let index = w * 64 + u64::from((!word).trailing_zeros());
                if index < self.frames {
                    self.set(index, true);
                    self.hint = index;
                    return Some(self.address(index));
                }
            }
        }
        None
    }

    /// Allocates `count` physically contiguous frames whose first address is
    /// a multiple of `align` bytes (a power of two, at least a frame) and
    /// whose last byte lies below `below`. For DMA buffers.
    pub fn allocate_contiguous(&mut self, count: u64, align: u64, below: u64) -> Option<u64> {
        if count == 0 || !align.is_power_of_two() || count > self.free {
            return None;
        }
        let align = align.max(FRAME_SIZE);
        let mut address = self.base.next_multiple_of(align);
        loop {
            let start = (address - self.base) / FRAME_SIZE;
            let end = start.checked_add(count)?;
            if end > self.frames || self.address(end) > below {
                return None;
            }
            match (start..end).rev().find(|&i| self.is_used(i)) {
                None => {
                    for i in start..end {
                        self.set(i, true);
                    }
                    return Some(address);
                }
                Some(used) => address = self.address(used + 1).next_multiple_of(align),
            }
        }
    }

    /// Like [`allocate_contiguous`](Self::allocate_contiguous) but takes
    /// the highest such run, so long-lived kernel regions (the heap) leave
    /// low memory to the devices that can only reach it.
    pub fn allocate_contiguous_high(&mut self, count: u64, align: u64, below: u64) -> Option<u64> {
        if count == 0 || !align.is_power_of_two() || count > self.free {
            return None;
        }
        let align = align.max(FRAME_SIZE);
        let bytes = count.checked_mul(FRAME_SIZE)?;
        let top = self.address(self.frames).min(below);
        let mut address = top.checked_sub(bytes)? / align * align;
        loop {
            if address < self.base {
                return None;
            }
            let start = (address - self.base) / FRAME_SIZE;
            let end = start + count;
            // The highest used frame decides: any run holding it is out,
            // so the next candidate must end at or below it.
            match (start..end).rev().find(|&i| self.is_used(i)) {
                None => {
                    for i in start..end {
                        self.set(i, true);
                    }
                    return Some(address);
                }
                Some(used) => {
                    address = self.address(used).checked_sub(bytes)? / align * align;
                }
            }
        }
    }

    /// Returns the frame at `address` to the free pool.
    ///
    /// # Errors
    /// [`FrameError::Misaligned`], [`FrameError::OutOfRange`] or
    /// [`FrameError::DoubleFree`]; the bitmap is unchanged on error.
    pub fn free(&mut self, address: u64) -> Result<(), FrameError> {
        if !address.is_multiple_of(FRAME_SIZE) {
            return Err(FrameError::Misaligned(address));
        }
        let index = address
            .checked_sub(self.base)
            .map(|o| o / FRAME_SIZE)
            .filter(|&i| i < self.frames)
            .ok_or(FrameError::OutOfRange(address))?;
        if !self.is_used(index) {
            return Err(FrameError::DoubleFree(address));
        }
        self.set(index, false);
        Ok(())
    }
}

#[cfg(test)]
mod tests;

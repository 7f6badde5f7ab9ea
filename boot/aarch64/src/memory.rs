//! The physical frame allocator, built from the UEFI memory map.
//!
//! Physical memory is identity-mapped up to the map's limit
//! (`hal::arch::aarch64::tables`), so a frame's address is also where the
//! kernel reads and writes it.

use exokernel::frames::{self, FrameAllocator, FrameError};
use hal::BootInfo;
use log::info;
use spin::Mutex;

/// The allocator; `None` until [`init`].
pub static FRAMES: Mutex<Option<FrameAllocator<'static>>> = Mutex::new(None);

/// Builds the allocator over usable RAM below `limit`, keeping `reserved`
/// ranges (the image, the device-tree copy) out of it.
pub fn init(info: &BootInfo, reserved: &[(u64, u64)], limit: u64) {
    let plan = match frames::plan(&info.memory, reserved, limit) {
        Ok(plan) => plan,
        Err(e) => crate::fail_boot(format_args!("frame allocator: {e}")),
    };
    // SAFETY: `plan` placed the bitmap in usable RAM below `limit`, which is
    // identity-mapped, clear of `reserved`; the allocator then marks those
    // frames used, so nothing else aliases it.
    let bitmap = unsafe {
        core::slice::from_raw_parts_mut(
            plan.bitmap_address as usize as *mut u64,
            plan.bitmap_words(),
        )
    };
    match FrameAllocator::new(&plan, bitmap, &info.memory, reserved) {
        Ok(allocator) => {
            info!(
                "frames: {} free of {} managed ({:#x}..{:#x}), bitmap at {:#x}",
                allocator.free_frames(),
                allocator.total_frames(),
                plan.base,
                plan.base + plan.frames * frames::FRAME_SIZE,
                plan.bitmap_address
            );
            *FRAMES.lock() = Some(allocator);
        }
        Err(e) => crate::fail_boot(format_args!("frame allocator: {e}")),
    }
}

/// Free frames now.
pub fn free_frames() -> u64 {
    FRAMES
        .lock()
        .as_ref()
        .map_or(0, FrameAllocator::free_frames)
}

/// Runs `f` with the allocator.
///
/// # Errors
/// [`FrameError::NoUsableMemory`] before [`init`].
pub fn with<R>(f: impl FnOnce(&mut FrameAllocator<'static>) -> R) -> Result<R, FrameError> {
    FRAMES
        .lock()
        .as_mut()
        .map(f)
        .ok_or(FrameError::NoUsableMemory)
}

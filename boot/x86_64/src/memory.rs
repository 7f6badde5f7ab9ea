//! The kernel's physical frame allocator, built from the boot memory map.

use exokernel::frames::{self, FrameAllocator, FrameError};
use hal::BootInfo;
use hal::arch::x86_64::{IDENTITY_MAP_LIMIT, phys_to_virt};
use log::{info, warn};
use spin::Mutex;

unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// Physical range of the kernel image (text through bss and boot stack).
pub fn kernel_range() -> (u64, u64) {
    (
        (&raw const __kernel_start) as u64,
        (&raw const __kernel_end) as u64,
    )
}

/// The allocator; `None` until [`init`].
pub static FRAMES: Mutex<Option<FrameAllocator<'static>>> = Mutex::new(None);

/// Low memory below 1 MiB holds BIOS data, the EBDA and option ROMs.
const LOW_MEMORY: (u64, u64) = (0, 1 << 20);

/// Builds the frame allocator, keeping the kernel, the boot information and
/// the modules out of it.
pub fn init(info: &BootInfo) {
    let mut reserved = arrayvec::ArrayVec::<(u64, u64), 24>::new();
    reserved.push(LOW_MEMORY);
    reserved.push(kernel_range());
    reserved.push(info.info_range);
    for module in &info.modules {
        let _ = reserved.try_push((module.start, module.end));
    }
    let plan = match frames::plan(&info.memory, &reserved, IDENTITY_MAP_LIMIT) {
        Ok(plan) => plan,
        Err(e) => crate::fail_boot(format_args!("frame allocator: {e}")),
    };
    // SAFETY: `plan` placed the bitmap in usable RAM below the identity-map
    // limit (so in the direct map), clear of the kernel, the boot
    // information and the modules; the allocator then marks those frames
    // used, so nothing else will alias it.
    let bitmap = unsafe {
        core::slice::from_raw_parts_mut(
            phys_to_virt(plan.bitmap_address) as *mut u64,
            plan.bitmap_words(),
        )
    };
    match FrameAllocator::new(&plan, bitmap, &info.memory, &reserved) {
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
    let above: u64 = info
        .memory
        .iter()
        .filter(|r| r.kind == hal::MemoryKind::Usable)
        .map(|r| r.end().saturating_sub(r.start.max(IDENTITY_MAP_LIMIT)))
        .sum();
    if above > 0 {
        warn!("{} MiB of RAM above 4 GiB is not managed yet", above >> 20);
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

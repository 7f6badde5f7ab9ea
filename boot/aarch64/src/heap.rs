//! The kernel heap: a linked-list allocator over contiguous frames.

use exokernel::frames::FRAME_SIZE;
use linked_list_allocator::LockedHeap;
use log::info;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Heap size: 16 MiB, as on x86_64 (the capability space takes ~1.1 MiB).
pub const HEAP_BYTES: u64 = 16 << 20;

/// Carves the heap out of the top of identity-mapped RAM below `limit`.
pub fn init(limit: u64) {
    let frames = HEAP_BYTES / FRAME_SIZE;
    let start = match crate::memory::with(|a| a.allocate_contiguous_high(frames, FRAME_SIZE, limit))
    {
        Ok(Some(start)) => start,
        _ => crate::fail_boot(format_args!(
            "no {HEAP_BYTES} contiguous bytes for the heap"
        )),
    };
    // SAFETY: the frames were just taken from the allocator, so the range
    // is identity-mapped RAM nothing else uses; this runs once.
    unsafe {
        HEAP.lock()
            .init(start as usize as *mut u8, HEAP_BYTES as usize)
    };
    info!("heap: {} KiB at {:#x}", HEAP_BYTES >> 10, start);
}

/// Bytes in use and free.
pub fn usage() -> (usize, usize) {
    let heap = HEAP.lock();
    (heap.used(), heap.free())
}

//! Host tests of the frame allocator, including property tests that no frame
//! is ever handed out twice or from outside usable RAM.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::vec;
use std::vec::Vec;

const MIB: u64 = 1 << 20;

fn region(start: u64, len: u64, kind: MemoryKind) -> MemoryRegion {
    MemoryRegion { start, len, kind }
}

/// A PC-like map: low RAM, a hole, 126 MiB from 1 MiB, ACPI data above.
fn pc_map() -> Vec<MemoryRegion> {
    vec![
        region(0, 0x9fc00, MemoryKind::Usable),
        region(0x9fc00, 0x400, MemoryKind::Reserved),
        region(0xf0000, 0x10000, MemoryKind::Reserved),
        region(MIB, 126 * MIB, MemoryKind::Usable),
        region(127 * MIB, MIB, MemoryKind::AcpiReclaimable),
    ]
}

fn build(memory: &[MemoryRegion], reserved: &[(u64, u64)]) -> (Plan, Vec<u64>) {
    let plan = plan(memory, reserved, 4 << 30).expect("plan");
    (plan, vec![0u64; plan.bitmap_words()])
}

#[test]
fn plan_avoids_reserved_ranges() {
    let kernel = (MIB, 3 * MIB);
    let low = (0, MIB);
    let (plan, _) = build(&pc_map(), &[low, kernel]);
    assert_eq!(plan.base, 0);
    assert_eq!(plan.frames, 127 * MIB / FRAME_SIZE);
    assert_eq!(plan.bitmap_bytes, FRAME_SIZE); // 32512 frames -> 4064 bytes
    assert_eq!(plan.bitmap_address, 3 * MIB);
}

#[test]
fn allocations_stay_in_usable_ram_and_outside_reserved() {
    let reserved = [(0, MIB), (MIB, 3 * MIB)];
    let map = pc_map();
    let (plan, mut bits) = build(&map, &reserved);
    let mut alloc = FrameAllocator::new(&plan, &mut bits, &map, &reserved).expect("new");
    let expected_free = (127 * MIB - 3 * MIB) / FRAME_SIZE - 1; // minus bitmap frame
    assert_eq!(alloc.free_frames(), expected_free);
    let mut seen = BTreeSet::new();
    while let Some(frame) = alloc.allocate() {
        assert!((3 * MIB..127 * MIB).contains(&frame), "{frame:#x}");
        assert_ne!(frame, plan.bitmap_address);
        assert!(seen.insert(frame), "frame {frame:#x} handed out twice");
    }
    assert_eq!(seen.len() as u64, expected_free);
    assert_eq!(alloc.free_frames(), 0);
    let first = *seen.first().expect("some frame");
    alloc.free(first).expect("free");
    assert_eq!(alloc.allocate(), Some(first));
}

#[test]
fn free_rejects_bad_addresses() {
    let map = pc_map();
    let (plan, mut bits) = build(&map, &[]);
    let mut alloc = FrameAllocator::new(&plan, &mut bits, &map, &[]).expect("new");
    let frame = alloc.allocate().expect("frame");
    assert_eq!(
        alloc.free(frame + 1),
        Err(FrameError::Misaligned(frame + 1))
    );
    assert_eq!(
        alloc.free(200 * MIB),
        Err(FrameError::OutOfRange(200 * MIB))
    );
    alloc.free(frame).expect("first free");
    assert_eq!(alloc.free(frame), Err(FrameError::DoubleFree(frame)));
}

#[test]
fn contiguous_allocation_respects_alignment_and_limit() {
    let map = pc_map();
    let reserved = [(0, MIB)];
    let (plan, mut bits) = build(&map, &reserved);
    assert_eq!(plan.bitmap_address, MIB);
    let mut alloc = FrameAllocator::new(&plan, &mut bits, &map, &reserved).expect("new");
    // Fragment the start of RAM.
    let singles: Vec<u64> = (0..5).filter_map(|_| alloc.allocate()).collect();
    alloc.free(singles[2]).expect("free");
    let before = alloc.free_frames();
    let dma = alloc
        .allocate_contiguous(16, 64 * 1024, 16 * MIB)
        .expect("dma");
    assert_eq!(dma % (64 * 1024), 0);
    assert!(dma + 16 * FRAME_SIZE <= 16 * MIB);
    assert!(
        !singles
            .iter()
            .any(|s| (dma..dma + 16 * FRAME_SIZE).contains(s))
    );
    assert_eq!(alloc.free_frames(), before - 16);
    assert_eq!(
        alloc.allocate_contiguous(1 << 20, FRAME_SIZE, u64::MAX),
        None
    );
    assert_eq!(alloc.allocate_contiguous(4, 3, u64::MAX), None);
    assert_eq!(alloc.allocate_contiguous(0, FRAME_SIZE, u64::MAX), None);
    assert_eq!(
        alloc.allocate_contiguous(4, FRAME_SIZE, 2 * MIB + 1),
        Some(MIB + 6 * FRAME_SIZE)
    );
}

#[test]
fn high_contiguous_allocation_takes_the_top() {
    let map = pc_map();
    let reserved = [(0, MIB)];
    let (plan, mut bits) = build(&map, &reserved);
    let mut alloc = FrameAllocator::new(&plan, &mut bits, &map, &reserved).expect("new");
    let before = alloc.free_frames();
    // Usable RAM ends at 127 MiB.
    let heap = alloc
        .allocate_contiguous_high(4 * MIB / FRAME_SIZE, FRAME_SIZE, u64::MAX)
        .expect("heap");
    assert_eq!(heap, 123 * MIB);
    assert_eq!(alloc.free_frames(), before - 1024);
    // A used frame in the way pushes the next run below it.
    let next = alloc
        .allocate_contiguous_high(2, 64 * 1024, 16 * MIB)
        .expect("below 16 MiB");
    assert_eq!(next, 16 * MIB - 64 * 1024);
    let under = alloc
        .allocate_contiguous_high(16, 64 * 1024, u64::MAX)
        .expect("under the heap");
    assert_eq!(under, 123 * MIB - 64 * 1024);
    // Low memory is left alone.
    assert_eq!(
        alloc.allocate(),
        Some(MIB + plan.bitmap_bytes.next_multiple_of(FRAME_SIZE))
    );
    // Bad requests.
    assert_eq!(
        alloc.allocate_contiguous_high(0, FRAME_SIZE, u64::MAX),
        None
    );
    assert_eq!(alloc.allocate_contiguous_high(4, 3, u64::MAX), None);
    assert_eq!(
        alloc.allocate_contiguous_high(1 << 40, FRAME_SIZE, u64::MAX),
        None
    );
    assert_eq!(alloc.allocate_contiguous_high(4, FRAME_SIZE, MIB), None);
    assert_eq!(alloc.allocate_contiguous_high(4, FRAME_SIZE, 0), None);
}

#[test]
fn empty_or_reserved_only_maps_are_errors() {
    assert_eq!(plan(&[], &[], u64::MAX), Err(FrameError::NoUsableMemory));
    let map = [region(0, 16 * MIB, MemoryKind::Reserved)];
    assert_eq!(plan(&map, &[], u64::MAX), Err(FrameError::NoUsableMemory));
    // Usable RAM only above the addressable limit.
    let map = [region(8 << 30, MIB, MemoryKind::Usable)];
    assert_eq!(plan(&map, &[], 4 << 30), Err(FrameError::NoUsableMemory));
}

#[test]
fn no_room_for_bitmap_is_an_error() {
    let map = [region(0, 64 * MIB, MemoryKind::Usable)];
    let all = [(0, 64 * MIB)];
    assert!(matches!(
        plan(&map, &all, u64::MAX),
        Err(FrameError::NoRoomForBitmap { .. })
    ));
}

#[test]
fn short_bitmap_storage_is_rejected() {
    let map = pc_map();
    let (plan, _) = build(&map, &[]);
    let mut short = vec![0u64; plan.bitmap_words() - 1];
    assert_eq!(
        FrameAllocator::new(&plan, &mut short, &map, &[]).unwrap_err(),
        FrameError::BitmapTooSmall
    );
}

proptest! {
    /// Any sequence of allocations and frees over a random map never hands
    /// out a frame twice, never hands out a non-usable frame, and keeps the
    /// free count exact.
    #[test]
    fn allocator_invariants(
        regions in proptest::collection::vec((0u64..512, 1u64..64, any::<bool>()), 1..8),
        ops in proptest::collection::vec(any::<(bool, u8)>(), 0..300),
    ) {
        let map: Vec<MemoryRegion> = regions
            .iter()
            .map(|&(start, len, usable)| region(
                start * FRAME_SIZE * 4 + 123,
                len * FRAME_SIZE,
                if usable { MemoryKind::Usable } else { MemoryKind::Reserved },
            ))
            .collect();
        let Ok(plan) = plan(&map, &[], u64::MAX) else { return Ok(()); };
        let mut bits = vec![0u64; plan.bitmap_words()];
        let mut alloc = FrameAllocator::new(&plan, &mut bits, &map, &[]).expect("new");
        let is_usable = |a: u64| {
            let in_usable = map.iter().any(|r| r.kind == MemoryKind::Usable && r.start <= a && a + FRAME_SIZE <= r.end());
            let in_other = map.iter().any(|r| r.kind != MemoryKind::Usable && r.start < a + FRAME_SIZE && a < r.end());
            in_usable && !in_other
        };
        let mut held: Vec<u64> = Vec::new();
        for (allocate, pick) in ops {
            let free_before = alloc.free_frames();
            if allocate || held.is_empty() {
                if let Some(f) = alloc.allocate() {
                    prop_assert!(!held.contains(&f));
                    prop_assert!(is_usable(f), "frame {:#x} not in usable RAM", f);
                    prop_assert!(!(plan.bitmap_address..plan.bitmap_address + plan.bitmap_bytes).contains(&f));
                    held.push(f);
                    prop_assert_eq!(alloc.free_frames(), free_before - 1);
                } else {
                    prop_assert_eq!(free_before, 0);
                }
            } else {
                let f = held.swap_remove(usize::from(pick) % held.len());
                alloc.free(f).expect("free held frame");
                prop_assert_eq!(alloc.free_frames(), free_before + 1);
            }
        }
    }
}

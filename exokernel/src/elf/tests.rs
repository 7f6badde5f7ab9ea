//! ELF validation: a hand-built image and every refusal.

use super::*;
use alloc::vec;

const EM_X86_64: u16 = 62;
const PAGE: u64 = 4096;
const USER: (u64, u64) = (0x40_0000, 0x8000_0000_0000);

/// (vaddr, memsz, filesz, flags) per segment.
type Seg = (u64, u64, u64, u32);

/// A minimal little-endian ELF64 with the given header fields and
/// segments; file bytes follow the headers.
fn image(class: u8, e_type: u16, machine: u16, entry: u64, segs: &[Seg]) -> Vec<u8> {
    let phoff = 64u64;
    let data_start = phoff + 56 * segs.len() as u64;
    let mut out = vec![0u8; 64];
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = class;
    out[5] = 1; // little-endian
    out[6] = 1; // version
    out[16..18].copy_from_slice(&e_type.to_le_bytes());
    out[18..20].copy_from_slice(&machine.to_le_bytes());
    out[20..24].copy_from_slice(&1u32.to_le_bytes());
    out[24..32].copy_from_slice(&entry.to_le_bytes());
    out[32..40].copy_from_slice(&phoff.to_le_bytes());
    out[52..54].copy_from_slice(&64u16.to_le_bytes());
    out[54..56].copy_from_slice(&56u16.to_le_bytes());
    out[56..58].copy_from_slice(&(segs.len() as u16).to_le_bytes());
    let mut offset = data_start;
    for &(vaddr, memsz, filesz, flags) in segs {
        let mut ph = vec![0u8; 56];
        ph[0..4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        ph[4..8].copy_from_slice(&flags.to_le_bytes());
        ph[8..16].copy_from_slice(&offset.to_le_bytes());
        ph[16..24].copy_from_slice(&vaddr.to_le_bytes());
        ph[24..32].copy_from_slice(&vaddr.to_le_bytes());
        ph[32..40].copy_from_slice(&filesz.to_le_bytes());
        ph[40..48].copy_from_slice(&memsz.to_le_bytes());
        ph[48..56].copy_from_slice(&PAGE.to_le_bytes());
        out.extend_from_slice(&ph);
        offset += filesz;
    }
    for &(_, _, filesz, _) in segs {
        out.extend((0..filesz).map(|i| i as u8));
    }
    out
}

/// A well-formed 32-bit ELF header with no segments.
fn elf32() -> Vec<u8> {
    let mut out = vec![0u8; 52];
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = 1;
    out[5] = 1;
    out[6] = 1;
    out[16..18].copy_from_slice(&2u16.to_le_bytes());
    out[18..20].copy_from_slice(&3u16.to_le_bytes());
    out[20..24].copy_from_slice(&1u32.to_le_bytes());
    out[40..42].copy_from_slice(&52u16.to_le_bytes());
    out[42..44].copy_from_slice(&32u16.to_le_bytes());
    out
}

const RX: u32 = 5;
const RW: u32 = 6;
const RWX: u32 = 7;

fn good() -> Vec<u8> {
    image(
        2,
        2,
        EM_X86_64,
        0x40_1000,
        &[(0x40_1000, 0x100, 0x100, RX), (0x40_2000, 0x2000, 0x10, RW)],
    )
}

fn check(bytes: &[u8]) -> Result<Image, ElfError> {
    parse(bytes, EM_X86_64, USER.0, USER.1, PAGE)
}

#[test]
fn a_static_executable_parses() {
    let img = check(&good()).expect("valid");
    assert_eq!(img.entry, 0x40_1000);
    assert_eq!(img.segments.len(), 2);
    let data = img.segments[1];
    assert!(data.write && !data.execute);
    assert_eq!((data.mem_len, data.file_len), (0x2000, 0x10));
    assert_eq!(data.page_start(PAGE), 0x40_2000);
    assert_eq!(data.page_end(PAGE), 0x40_4000);
}

#[test]
fn every_refusal_is_typed() {
    let seg = |v, f| (v, 0x100, 0x10, f);
    let cases: Vec<(Vec<u8>, ElfError)> = vec![
        (b"not an elf".to_vec(), ElfError::Malformed),
        (vec![], ElfError::Malformed),
        (image(1, 2, EM_X86_64, 0x40_1000, &[]), ElfError::Malformed),
        (elf32(), ElfError::Not64Bit),
        (image(2, 2, 183, 0x40_1000, &[seg(0x40_1000, RX)]), ElfError::WrongMachine(183)),
        (image(2, 3, EM_X86_64, 0x40_1000, &[seg(0x40_1000, RX)]), ElfError::NotExecutable(3)),
        (image(2, 2, EM_X86_64, 0x40_1000, &[]), ElfError::NoSegments),
        (image(2, 2, EM_X86_64, 0x1000, &[seg(0x1000, RX)]), ElfError::OutsideUserSpace(0x1000)),
        (
            image(2, 2, EM_X86_64, 0x40_1000, &[(0x7fff_ffff_f000, 0x2000, 0, RX)]),
            ElfError::OutsideUserSpace(0x7fff_ffff_f000),
        ),
        (
            image(2, 2, EM_X86_64, 0x40_1000, &[(u64::MAX - 10, 0x100, 0, RX)]),
            ElfError::OutsideUserSpace(u64::MAX - 10),
        ),
        (image(2, 2, EM_X86_64, 0x40_1000, &[seg(0x40_1000, RWX)]), ElfError::WritableAndExecutable(0x40_1000)),
        (
            image(2, 2, EM_X86_64, 0x40_1000, &[seg(0x40_1000, RX), seg(0x40_1800, RW)]),
            ElfError::Overlap(0x40_1800),
        ),
        (image(2, 2, EM_X86_64, 0x40_2000, &[seg(0x40_1000, RX), seg(0x40_2000, RW)]), ElfError::BadEntry(0x40_2000)),
        (
            image(2, 2, EM_X86_64, 0x40_1000, &[(0x40_1000, 0x10, 0x100, RX)]),
            ElfError::BadFileRange(0x40_1000),
        ),
        (
            {
                let mut cut = image(2, 2, EM_X86_64, 0x40_1000, &[(0x40_1000, 0x100, 0x100, RX)]);
                cut.truncate(cut.len() - 1);
                cut
            },
            ElfError::BadFileRange(0x40_1000),
        ),
    ];
    for (i, (bytes, expected)) in cases.iter().enumerate() {
        assert_eq!(check(bytes), Err(*expected), "case {i}");
    }
    let many: Vec<Seg> = (0..=MAX_SEGMENTS as u64).map(|i| (0x40_0000 + i * PAGE, 8, 0, RX)).collect();
    assert_eq!(
        check(&image(2, 2, EM_X86_64, 0x40_0000, &many)),
        Err(ElfError::TooManySegments)
    );
}

#[test]
fn truncations_never_panic() {
    let full = good();
    for len in 0..full.len() {
        let _ = check(&full[..len]);
    }
    // A file cut inside the second segment's bytes.
    assert!(check(&full[..full.len() - 1]).is_err());
}

proptest::proptest! {
    /// Arbitrary bytes and arbitrary mutations of a good image give a
    /// result, never a panic; whatever parses obeys the invariants.
    #[test]
    fn mutated_images_uphold_the_invariants(flips in proptest::collection::vec((0usize..400, proptest::prelude::any::<u8>()), 0..16)) {
        let mut bytes = good();
        for (at, value) in flips {
            if let Some(b) = bytes.get_mut(at) {
                *b = value;
            }
        }
        if let Ok(img) = check(&bytes) {
            for s in &img.segments {
                proptest::prop_assert!(!(s.write && s.execute));
                proptest::prop_assert!(s.vaddr >= USER.0 && s.page_end(PAGE) <= USER.1);
                proptest::prop_assert!(s.file_offset + s.file_len <= bytes.len() as u64);
            }
        }
    }
}

//! ELF validation: a hand-built image and every refusal.

mod support;

use exokernel::elf::*;
use support::EM_X86_64;

const PAGE: u64 = 4096;
const USER: (u64, u64) = (0x40_0000, 0x8000_0000_0000);

/// (vaddr, memsz, filesz, flags) per segment.
type Seg = (u64, u64, u64, u32);

/// An image whose segments carry `filesz` bytes of a counting pattern.
fn image(class: u8, e_type: u16, machine: u16, entry: u64, segs: &[Seg]) -> Vec<u8> {
    let data: Vec<Vec<u8>> = segs
        .iter()
        .map(|&(_, _, n, _)| (0..n).map(|i| i as u8).collect())
        .collect();
    let with_bytes: Vec<support::Seg<'_>> = segs
        .iter()
        .zip(&data)
        .map(|(&(v, m, _, f), d)| (v, m, d.as_slice(), f))
        .collect();
    support::elf_image(class, e_type, machine, entry, &with_bytes)
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
        (
            image(2, 2, 183, 0x40_1000, &[seg(0x40_1000, RX)]),
            ElfError::WrongMachine(183),
        ),
        (
            image(2, 3, EM_X86_64, 0x40_1000, &[seg(0x40_1000, RX)]),
            ElfError::NotExecutable(3),
        ),
        (image(2, 2, EM_X86_64, 0x40_1000, &[]), ElfError::NoSegments),
        (
            image(2, 2, EM_X86_64, 0x1000, &[seg(0x1000, RX)]),
            ElfError::OutsideUserSpace(0x1000),
        ),
        (
            image(
                2,
                2,
                EM_X86_64,
                0x40_1000,
                &[(0x7fff_ffff_f000, 0x2000, 0, RX)],
            ),
            ElfError::OutsideUserSpace(0x7fff_ffff_f000),
        ),
        (
            image(2, 2, EM_X86_64, 0x40_1000, &[(u64::MAX - 10, 0x100, 0, RX)]),
            ElfError::OutsideUserSpace(u64::MAX - 10),
        ),
        (
            image(2, 2, EM_X86_64, 0x40_1000, &[seg(0x40_1000, RWX)]),
            ElfError::WritableAndExecutable(0x40_1000),
        ),
        (
            image(
                2,
                2,
                EM_X86_64,
                0x40_1000,
                &[seg(0x40_1000, RX), seg(0x40_1800, RW)],
            ),
            ElfError::Overlap(0x40_1800),
        ),
        (
            image(
                2,
                2,
                EM_X86_64,
                0x40_2000,
                &[seg(0x40_1000, RX), seg(0x40_2000, RW)],
            ),
            ElfError::BadEntry(0x40_2000),
        ),
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
    let many: Vec<Seg> = (0..=MAX_SEGMENTS as u64)
        .map(|i| (0x40_0000 + i * PAGE, 8, 0, RX))
        .collect();
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

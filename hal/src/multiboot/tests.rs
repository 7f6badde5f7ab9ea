//! Host tests of the multiboot2 parser, including every malformation the
//! kernel must survive.

use super::*;
use proptest::prelude::*;
use std::vec::Vec;

/// Builds a multiboot2 information block tag by tag.
#[derive(Default)]
struct Mbi {
    tags: Vec<u8>,
}

impl Mbi {
    fn tag(mut self, typ: u32, payload: &[u8]) -> Self {
        let size = 8 + payload.len() as u32;
        self.tags.extend_from_slice(&typ.to_ne_bytes());
        self.tags.extend_from_slice(&size.to_ne_bytes());
        self.tags.extend_from_slice(payload);
        while !self.tags.len().is_multiple_of(8) {
            self.tags.push(0);
        }
        self
    }

    fn string_tag(self, typ: u32, s: &[u8]) -> Self {
        let mut p = s.to_vec();
        p.push(0);
        self.tag(typ, &p)
    }

    fn cmdline(self, s: &str) -> Self {
        self.string_tag(1, s.as_bytes())
    }

    fn mmap(self, areas: &[(u64, u64, u32)]) -> Self {
        let mut p = Vec::new();
        p.extend_from_slice(&24u32.to_ne_bytes());
        p.extend_from_slice(&0u32.to_ne_bytes());
        for &(base, len, typ) in areas {
            p.extend_from_slice(&base.to_ne_bytes());
            p.extend_from_slice(&len.to_ne_bytes());
            p.extend_from_slice(&typ.to_ne_bytes());
            p.extend_from_slice(&0u32.to_ne_bytes());
        }
        self.tag(6, &p)
    }

    fn module(self, start: u32, end: u32, name: &str) -> Self {
        let mut p = Vec::new();
        p.extend_from_slice(&start.to_ne_bytes());
        p.extend_from_slice(&end.to_ne_bytes());
        p.extend_from_slice(name.as_bytes());
        p.push(0);
        self.tag(3, &p)
    }

    fn rsdp_v1(self, rsdt: u32, good_checksum: bool) -> Self {
        let mut p = Vec::new();
        p.extend_from_slice(b"RSD PTR ");
        p.push(0);
        p.extend_from_slice(b"EXOOEM");
        p.push(0);
        p.extend_from_slice(&rsdt.to_ne_bytes());
        let sum = p.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        p[8] = 0u8.wrapping_sub(sum).wrapping_add(u8::from(!good_checksum));
        self.tag(14, &p)
    }

    /// The finished block with a correct header and end tag.
    fn finish(self) -> Aligned {
        let mut block = Vec::new();
        let total = 8 + self.tags.len() as u32 + 8;
        block.extend_from_slice(&total.to_ne_bytes());
        block.extend_from_slice(&0u32.to_ne_bytes());
        block.extend_from_slice(&self.tags);
        block.extend_from_slice(&0u32.to_ne_bytes());
        block.extend_from_slice(&8u32.to_ne_bytes());
        Aligned::new(&block)
    }
}

/// A byte buffer whose view starts 8-byte aligned, as the loader's does.
struct Aligned {
    storage: Vec<u8>,
    offset: usize,
    len: usize,
}

impl Aligned {
    fn new(bytes: &[u8]) -> Self {
        let mut storage = std::vec![0u8; bytes.len() + 8];
        let offset = storage.as_ptr().align_offset(8);
        storage[offset..offset + bytes.len()].copy_from_slice(bytes);
        Self {
            storage,
            offset,
            len: bytes.len(),
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.storage[self.offset..self.offset + self.len]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.offset..self.offset + self.len]
    }
}

const RAM: &[(u64, u64, u32)] = &[
    (0, 0x9fc00, 1),
    (0xf0000, 0x10000, 2),
    (0x100000, 0x7ee0000, 1),
];

fn parse_block(block: &Aligned) -> Result<BootInfo, MultibootError> {
    parse(BOOTLOADER_MAGIC, block.bytes(), 0x10000)
}

#[test]
fn well_formed_block_parses() {
    let block = Mbi::default()
        .cmdline("test log=debug")
        .string_tag(2, b"GRUB 2.06")
        .mmap(RAM)
        .module(0x200000, 0x201000, "init.elf")
        .rsdp_v1(0xe0000, true)
        .finish();
    let info = parse_block(&block).expect("parses");
    assert_eq!(info.command_line.as_str(), "test log=debug");
    assert_eq!(info.boot_loader.as_str(), "GRUB 2.06");
    assert_eq!(info.memory.len(), 3);
    assert_eq!(info.memory[1].kind, MemoryKind::Reserved);
    assert_eq!(info.usable_bytes(), 0x9fc00 + 0x7ee0000);
    assert_eq!(info.modules.len(), 1);
    assert_eq!(info.modules[0].name.as_str(), "init.elf");
    assert_eq!(
        info.acpi,
        Some(AcpiRoot {
            revision: 0,
            sdt_address: 0xe0000
        })
    );
    assert!(info.warnings.is_empty(), "{:?}", info.warnings);
    assert_eq!(info.info_range, (0x10000, 0x10000 + block.len as u64));
}

#[test]
fn wrong_magic_is_rejected() {
    let block = Mbi::default().mmap(RAM).finish();
    assert_eq!(
        parse(0x2bad_b002, block.bytes(), 0).unwrap_err(),
        MultibootError::BadMagic(0x2bad_b002)
    );
}

#[test]
fn misaligned_block_is_rejected() {
    let block = Mbi::default().mmap(RAM).finish();
    let mut shifted = std::vec![0u8; block.len + 16];
    let off = shifted.as_ptr().align_offset(8) + 1;
    shifted[off..off + block.len].copy_from_slice(block.bytes());
    assert!(matches!(
        parse(BOOTLOADER_MAGIC, &shifted[off..off + block.len], 0),
        Err(MultibootError::Misaligned(_))
    ));
}

#[test]
fn size_larger_than_memory_given_is_rejected() {
    let mut block = Mbi::default().mmap(RAM).finish();
    let claimed = (block.len as u32 + 64).to_ne_bytes();
    block.bytes_mut()[..4].copy_from_slice(&claimed);
    assert_eq!(
        parse_block(&block).unwrap_err(),
        MultibootError::BadSize(block.len as u32 + 64)
    );
}

#[test]
fn tiny_and_huge_sizes_are_rejected() {
    for size in [0u32, 8, 15, MAX_INFO_SIZE as u32 + 8] {
        let mut block = Mbi::default().mmap(RAM).finish();
        block.bytes_mut()[..4].copy_from_slice(&size.to_ne_bytes());
        assert_eq!(
            parse_block(&block).unwrap_err(),
            MultibootError::BadSize(size)
        );
    }
    assert_eq!(
        parse(BOOTLOADER_MAGIC, Aligned::new(&[]).bytes(), 0).unwrap_err(),
        MultibootError::BadSize(0)
    );
}

#[test]
fn missing_end_tag_is_rejected() {
    let mut block = Mbi::default().mmap(RAM).finish();
    // Turn the end tag into an unknown tag of the same size.
    let n = block.len;
    block.bytes_mut()[n - 8..n - 4].copy_from_slice(&77u32.to_ne_bytes());
    assert_eq!(
        parse_block(&block).unwrap_err(),
        MultibootError::MalformedTags
    );
}

#[test]
fn tag_running_past_the_end_is_rejected() {
    let mut block = Mbi::default().cmdline("x").mmap(RAM).finish();
    // The first tag's size field now claims 4 KiB.
    block.bytes_mut()[12..16].copy_from_slice(&4096u32.to_ne_bytes());
    assert_eq!(
        parse_block(&block).unwrap_err(),
        MultibootError::MalformedTags
    );
}

#[test]
fn missing_memory_map_is_an_error() {
    let block = Mbi::default().cmdline("test").finish();
    assert_eq!(
        parse_block(&block).unwrap_err(),
        MultibootError::NoMemoryMap
    );
}

#[test]
fn empty_memory_map_is_an_error() {
    let block = Mbi::default().mmap(&[]).finish();
    assert_eq!(
        parse_block(&block).unwrap_err(),
        MultibootError::NoUsableMemory
    );
    let block = Mbi::default().mmap(&[(0, 0x1000, 2)]).finish();
    assert_eq!(
        parse_block(&block).unwrap_err(),
        MultibootError::NoUsableMemory
    );
}

#[test]
fn bogus_regions_are_dropped_with_warnings() {
    let block = Mbi::default()
        .mmap(&[
            (0x100000, 0, 1),
            (u64::MAX - 10, 100, 1),
            (0x100000, 0x100000, 1),
        ])
        .finish();
    let info = parse_block(&block).expect("one good region");
    assert_eq!(info.memory.len(), 1);
    assert!(
        info.warnings
            .contains(&BootWarning::BogusMemoryRegion { start: 0x100000 })
    );
    assert!(info.warnings.contains(&BootWarning::BogusMemoryRegion {
        start: u64::MAX - 10
    }));
}

#[test]
fn missing_optional_tags_are_warnings() {
    let info = parse_block(&Mbi::default().mmap(RAM).finish()).expect("parses");
    assert!(info.warnings.contains(&BootWarning::NoCommandLine));
    assert!(info.warnings.contains(&BootWarning::NoAcpi));
    assert_eq!(info.acpi, None);
    assert!(info.command_line.is_empty());
}

#[test]
fn non_utf8_command_line_is_ignored_with_warning() {
    let block = Mbi::default()
        .string_tag(1, &[0xff, 0xfe, b'x'])
        .mmap(RAM)
        .finish();
    let info = parse_block(&block).expect("parses");
    assert!(info.command_line.is_empty());
    assert!(info.warnings.contains(&BootWarning::CommandLineNotUtf8));
}

#[test]
fn ten_kilobyte_command_line_is_truncated() {
    let line = "x".repeat(10 * 1024);
    let block = Mbi::default().cmdline(&line).mmap(RAM).finish();
    let info = parse_block(&block).expect("parses");
    assert_eq!(info.command_line.len(), crate::bootinfo::MAX_COMMAND_LINE);
    assert!(info.warnings.contains(&BootWarning::CommandLineTruncated {
        original_len: 10 * 1024
    }));
}

#[test]
fn oversized_memory_map_is_truncated() {
    let areas: Vec<_> = (0..200u64).map(|i| (i * 0x10000, 0x1000, 1)).collect();
    let info = parse_block(&Mbi::default().mmap(&areas).finish()).expect("parses");
    assert_eq!(info.memory.len(), MAX_MEMORY_REGIONS);
    assert!(
        info.warnings
            .contains(&BootWarning::MemoryMapTruncated { entries: 200 })
    );
}

#[test]
fn backwards_module_and_bad_checksum_are_warnings() {
    let block = Mbi::default()
        .mmap(RAM)
        .module(0x300000, 0x200000, "bad")
        .rsdp_v1(0xe0000, false)
        .finish();
    let info = parse_block(&block).expect("parses");
    assert!(info.modules.is_empty());
    assert!(
        info.warnings
            .contains(&BootWarning::BogusModule { start: 0x300000 })
    );
    assert!(info.warnings.contains(&BootWarning::AcpiChecksum));
    assert!(info.acpi.is_some());
}

#[test]
fn too_many_modules_are_capped() {
    let mut mbi = Mbi::default().mmap(RAM);
    for i in 0..20u32 {
        mbi = mbi.module(0x200000 + i * 0x1000, 0x200800 + i * 0x1000, "m");
    }
    let info = parse_block(&mbi.finish()).expect("parses");
    assert_eq!(info.modules.len(), crate::bootinfo::MAX_MODULES);
    assert!(info.warnings.contains(&BootWarning::TooManyModules));
}

#[test]
fn null_and_misaligned_pointers_are_rejected_before_any_read() {
    // SAFETY: a null address is rejected before anything is read.
    let null = unsafe { info_size(0) };
    // SAFETY: a misaligned address is rejected before anything is read.
    let misaligned = unsafe { info_size(0x1003) };
    assert_eq!(null, Err(MultibootError::NullPointer));
    assert_eq!(misaligned, Err(MultibootError::Misaligned(0x1003)));
}

proptest! {
    /// Arbitrary bytes after a plausible header never panic the parser.
    #[test]
    fn arbitrary_blocks_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut raw = Vec::new();
        raw.extend_from_slice(&((body.len() + 8) as u32).to_ne_bytes());
        raw.extend_from_slice(&0u32.to_ne_bytes());
        raw.extend_from_slice(&body);
        let block = Aligned::new(&raw);
        let _ = parse_block(&block);
    }

    /// Flipping any byte of a valid block either still parses or errors.
    #[test]
    fn corrupted_valid_blocks_never_panic(index in 0usize..200, value in any::<u8>()) {
        let mut block = Mbi::default().cmdline("test").mmap(RAM).rsdp_v1(0xe0000, true).finish();
        let i = index % block.len;
        block.bytes_mut()[i] = value;
        let _ = parse_block(&block);
    }
}

//! Arbitrary bytes as a multiboot2 boot information block: the parser must
//! return a `BootInfo` or a typed error, never panic or read out of bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The loader's block is 8-byte aligned; copy into aligned storage.
    let mut aligned = vec![0u8; data.len() + 8];
    let offset = aligned.as_ptr().align_offset(8);
    aligned[offset..offset + data.len()].copy_from_slice(data);
    let block = &aligned[offset..offset + data.len()];
    if let Ok(info) = hal::multiboot::parse(hal::multiboot::BOOTLOADER_MAGIC, block, 0x1000) {
        assert!(info.usable_bytes() > 0);
        assert!(info.command_line.len() <= hal::bootinfo::MAX_COMMAND_LINE);
    }
});

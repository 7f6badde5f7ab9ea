//! The UEFI memory map in boot-protocol-neutral form.
//!
//! The aarch64 kernel is a UEFI application; after `ExitBootServices` the
//! firmware's memory map becomes [`crate::BootInfo::memory`]. This module
//! decides what each UEFI memory type means to the kernel and merges
//! neighbouring entries (firmware maps have 50–150 entries, most of them
//! adjacent boot-services ranges), using the raw numbers of the UEFI
//! specification so it builds and tests on the host without the `uefi`
//! crate.

use crate::bootinfo::{BootInfo, BootWarning, MemoryKind, MemoryRegion};

/// UEFI page size.
pub const PAGE_SIZE: u64 = 4096;

/// `EFI_MEMORY_WB`: the range supports write-back caching (it is RAM).
pub const ATTRIBUTE_WRITE_BACK: u64 = 0x8;

/// UEFI memory types (UEFI 2.10, table 7.10).
#[expect(missing_docs, reason = "the names are the UEFI specification's")]
pub mod memory_type {
    pub const RESERVED: u32 = 0;
    pub const LOADER_CODE: u32 = 1;
    pub const LOADER_DATA: u32 = 2;
    pub const BOOT_SERVICES_CODE: u32 = 3;
    pub const BOOT_SERVICES_DATA: u32 = 4;
    pub const RUNTIME_SERVICES_CODE: u32 = 5;
    pub const RUNTIME_SERVICES_DATA: u32 = 6;
    pub const CONVENTIONAL: u32 = 7;
    pub const UNUSABLE: u32 = 8;
    pub const ACPI_RECLAIM: u32 = 9;
    pub const ACPI_NON_VOLATILE: u32 = 10;
    pub const MMIO: u32 = 11;
    pub const MMIO_PORT_SPACE: u32 = 12;
    pub const PAL_CODE: u32 = 13;
    pub const PERSISTENT_MEMORY: u32 = 14;
    pub const UNACCEPTED: u32 = 15;
}

/// What a UEFI memory type is to the kernel once boot services are gone.
///
/// Boot-services code and data become free RAM (the kernel no longer runs
/// on the firmware's stack or page tables by then). Loader code and data
/// stay reserved: they hold this image, its stack, the copied device tree
/// and the memory map itself. Runtime-services ranges stay reserved so
/// runtime services could still be called.
#[must_use]
pub const fn memory_kind(efi_type: u32) -> MemoryKind {
    use memory_type::*;
    match efi_type {
        CONVENTIONAL | BOOT_SERVICES_CODE | BOOT_SERVICES_DATA => MemoryKind::Usable,
        ACPI_RECLAIM => MemoryKind::AcpiReclaimable,
        ACPI_NON_VOLATILE => MemoryKind::AcpiNvs,
        UNUSABLE => MemoryKind::Defective,
        _ => MemoryKind::Reserved,
    }
}

/// Whether a map entry is RAM the kernel should map cacheable: it has the
/// write-back attribute and is no MMIO range.
#[must_use]
pub const fn is_cacheable_ram(efi_type: u32, attribute: u64) -> bool {
    attribute & ATTRIBUTE_WRITE_BACK != 0
        && !matches!(
            efi_type,
            memory_type::MMIO | memory_type::MMIO_PORT_SPACE | memory_type::RESERVED
        )
}

/// Appends one UEFI map entry to `info.memory`, merging it into the last
/// region when it continues it with the same kind. Empty or wrapping
/// entries are dropped with a warning; a full map is counted.
pub fn push_entry(info: &mut BootInfo, efi_type: u32, start: u64, pages: u64) {
    let Some(len) = pages.checked_mul(PAGE_SIZE).filter(|&l| l > 0) else {
        info.warn(BootWarning::BogusMemoryRegion { start });
        return;
    };
    if start.checked_add(len).is_none() {
        info.warn(BootWarning::BogusMemoryRegion { start });
        return;
    }
    let kind = memory_kind(efi_type);
    if let Some(last) = info.memory.last_mut()
        && last.kind == kind
        && last.end() == start
    {
        last.len += len;
        return;
    }
    if info
        .memory
        .try_push(MemoryRegion { start, len, kind })
        .is_err()
    {
        let entries = info.memory.len() + 1;
        match info.warnings.iter_mut().find_map(|w| match w {
            BootWarning::MemoryMapTruncated { entries } => Some(entries),
            _ => None,
        }) {
            Some(counted) => *counted += 1,
            None => info.warn(BootWarning::MemoryMapTruncated { entries }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory_type::*;
    use super::*;

    #[test]
    fn boot_services_memory_becomes_usable_and_loader_memory_stays_reserved() {
        assert_eq!(memory_kind(CONVENTIONAL), MemoryKind::Usable);
        assert_eq!(memory_kind(BOOT_SERVICES_DATA), MemoryKind::Usable);
        assert_eq!(memory_kind(LOADER_CODE), MemoryKind::Reserved);
        assert_eq!(memory_kind(LOADER_DATA), MemoryKind::Reserved);
        assert_eq!(memory_kind(RUNTIME_SERVICES_DATA), MemoryKind::Reserved);
        assert_eq!(memory_kind(ACPI_RECLAIM), MemoryKind::AcpiReclaimable);
        assert_eq!(memory_kind(UNUSABLE), MemoryKind::Defective);
        assert_eq!(memory_kind(99), MemoryKind::Reserved);
    }

    #[test]
    fn cacheable_ram_needs_write_back_and_no_mmio() {
        assert!(is_cacheable_ram(CONVENTIONAL, 0xf));
        assert!(is_cacheable_ram(LOADER_CODE, ATTRIBUTE_WRITE_BACK));
        assert!(!is_cacheable_ram(MMIO, 0xf));
        assert!(!is_cacheable_ram(CONVENTIONAL, 0x1));
    }

    #[test]
    fn adjacent_entries_of_one_kind_merge() {
        let mut info = BootInfo::default();
        push_entry(&mut info, CONVENTIONAL, 0x4000_0000, 16);
        push_entry(&mut info, BOOT_SERVICES_DATA, 0x4001_0000, 16);
        push_entry(&mut info, LOADER_CODE, 0x4002_0000, 1);
        push_entry(&mut info, CONVENTIONAL, 0x4003_0000, 1);
        assert_eq!(info.memory.len(), 3);
        assert_eq!(info.memory[0].len, 32 * PAGE_SIZE);
        assert_eq!(info.memory[1].kind, MemoryKind::Reserved);
    }

    #[test]
    fn bogus_entries_are_dropped_and_overflow_counted() {
        let mut info = BootInfo::default();
        push_entry(&mut info, CONVENTIONAL, 0x1000, 0);
        push_entry(&mut info, CONVENTIONAL, u64::MAX - 0xfff, 2);
        assert!(info.memory.is_empty());
        assert_eq!(info.warnings.len(), 2);
        for i in 0..crate::bootinfo::MAX_MEMORY_REGIONS as u64 + 5 {
            // Alternate kinds with gaps so nothing merges.
            push_entry(&mut info, CONVENTIONAL, 0x10_0000 + i * 0x2000, 1);
        }
        assert_eq!(info.memory.len(), crate::bootinfo::MAX_MEMORY_REGIONS);
        assert!(info.warnings.iter().any(|w| matches!(
            w,
            BootWarning::MemoryMapTruncated { entries } if *entries == crate::bootinfo::MAX_MEMORY_REGIONS + 5
        )));
    }
}

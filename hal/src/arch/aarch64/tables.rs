//! The kernel's identity map: MAIR, TCR and the translation tables, in one
//! place.
//!
//! After `ExitBootServices` the kernel stops relying on the firmware's page
//! tables (which live in boot-services memory it is about to reuse, and,
//! when the firmware ran at EL2, belong to the wrong exception level). It
//! maps the low 512 GiB of physical address space 1:1 with 4 KiB-granule
//! tables starting at level 1: each 1 GiB block is Normal write-back memory
//! when the firmware map puts RAM in it, Device-nGnRE otherwise, and a
//! gigabyte holding both RAM and a device from the device tree is split
//! into 2 MiB blocks. RAM is not executable at EL0, devices nowhere.
//! (W^X for the kernel's own sections comes with the next phase.)
//!
//! This file is pure computation, so it is tested on the host.

/// Attribute index of Device-nGnRE memory (MMIO).
pub const ATTR_DEVICE: u64 = 0;
/// Attribute index of Normal memory, inner and outer write-back.
pub const ATTR_NORMAL: u64 = 1;
/// Attribute index of Normal non-cacheable memory (for DMA, later).
pub const ATTR_NORMAL_UNCACHED: u64 = 2;

/// MAIR_EL1: index 0 Device-nGnRE (0x04), 1 Normal WB RA WA (0xff),
/// 2 Normal non-cacheable (0x44).
pub const MAIR: u64 = 0x04 | (0xff << 8) | (0x44 << 16);

/// Virtual (and so physical) address bits the identity map covers.
pub const VA_BITS: u32 = 39;
/// One past the highest identity-mapped address (512 GiB).
pub const MAPPED_LIMIT: u64 = 1 << VA_BITS;

const GIB: u64 = 1 << 30;
const BLOCK_2M: u64 = 1 << 21;
/// Level-2 tables available for gigabytes that mix RAM and devices.
pub const SPLIT_TABLES: usize = 4;

const VALID: u64 = 1;
const TABLE: u64 = 0b11;
const BLOCK: u64 = 0b01;
const ACCESS_FLAG: u64 = 1 << 10;
const INNER_SHAREABLE: u64 = 0b11 << 8;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;

/// TCR_EL1 for the identity map: TTBR0 only (EPD1), 4 KiB granule, 39-bit
/// VA, inner-shareable write-back walks, and `ips` (the
/// ID_AA64MMFR0_EL1.PARange field) as the output size.
#[must_use]
pub const fn tcr(ips: u64) -> u64 {
    let t0sz = 64 - VA_BITS as u64;
    let irgn0 = 0b01 << 8;
    let orgn0 = 0b01 << 10;
    let sh0 = 0b11 << 12;
    let epd1 = 1 << 23;
    t0sz | irgn0 | orgn0 | sh0 | epd1 | ((ips & 0b111) << 32)
}

/// Physical address bits for an ID_AA64MMFR0_EL1.PARange value.
#[must_use]
pub const fn pa_bits(pa_range: u64) -> u32 {
    match pa_range {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        5 => 48,
        _ => 52,
    }
}

/// A 4 KiB translation table.
#[derive(Clone, Debug)]
#[repr(C, align(4096))]
pub struct Table(pub [u64; 512]);

/// The level-1 table and the level-2 tables split gigabytes use. Lives in
/// the kernel image (`.bss`), so its address is physical.
#[derive(Clone, Debug)]
#[repr(C, align(4096))]
pub struct IdentityMap {
    /// Level 1: 512 entries of 1 GiB.
    pub level1: Table,
    /// Level 2 tables for split gigabytes.
    pub level2: [Table; SPLIT_TABLES],
}

/// What [`IdentityMap::build`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapReport {
    /// Gigabytes mapped as Normal memory.
    pub normal_gib: u32,
    /// Gigabytes mapped as Device memory.
    pub device_gib: u32,
    /// Gigabytes split into 2 MiB blocks.
    pub split_gib: u32,
    /// Gigabytes that needed a split but found no free table (mapped
    /// Normal, devices in them reached at Normal attributes).
    pub unsplit_gib: u32,
    /// One past the last mapped address.
    pub limit: u64,
}

fn overlaps(ranges: &[(u64, u64)], start: u64, len: u64) -> bool {
    ranges
        .iter()
        .any(|&(s, e)| s < start.saturating_add(len) && start < e)
}

/// A block descriptor for `address` at the given attributes.
#[must_use]
pub const fn block(address: u64, normal: bool) -> u64 {
    if normal {
        address | BLOCK | (ATTR_NORMAL << 2) | INNER_SHAREABLE | ACCESS_FLAG | UXN
    } else {
        address | BLOCK | (ATTR_DEVICE << 2) | ACCESS_FLAG | PXN | UXN
    }
}

/// Whether descriptor `d` maps Normal memory.
#[must_use]
pub const fn is_normal(d: u64) -> bool {
    (d >> 2) & 0b111 == ATTR_NORMAL
}

impl IdentityMap {
    /// An empty map (every entry invalid).
    pub const fn new() -> Self {
        const EMPTY: Table = Table([0; 512]);
        Self {
            level1: EMPTY,
            level2: [EMPTY; SPLIT_TABLES],
        }
    }

    /// Fills the tables: `ram` are `[start, end)` ranges of cacheable RAM
    /// (from the firmware map), `devices` the MMIO ranges the device tree
    /// names, `pa_bits` the CPU's physical address size.
    pub fn build(&mut self, ram: &[(u64, u64)], devices: &[(u64, u64)], pa_bits: u32) -> MapReport {
        let limit = MAPPED_LIMIT.min(1u64 << pa_bits.min(63));
        let mut report = MapReport {
            limit,
            ..MapReport::default()
        };
        let mut next_table = 0;
        for (i, entry) in self.level1.0.iter_mut().enumerate() {
            let base = i as u64 * GIB;
            if base >= limit {
                *entry = 0;
                continue;
            }
            let has_ram = overlaps(ram, base, GIB);
            let has_device = overlaps(devices, base, GIB);
            if has_ram && has_device && next_table < SPLIT_TABLES {
                let table = &mut self.level2[next_table];
                next_table += 1;
                for (j, e) in table.0.iter_mut().enumerate() {
                    let start = base + j as u64 * BLOCK_2M;
                    let normal =
                        overlaps(ram, start, BLOCK_2M) && !overlaps(devices, start, BLOCK_2M);
                    *e = block(start, normal);
                }
                *entry = (table as *const Table as u64) | TABLE;
                report.split_gib += 1;
            } else if has_ram {
                *entry = block(base, true);
                report.normal_gib += 1;
                if has_device {
                    report.unsplit_gib += 1;
                }
            } else {
                *entry = block(base, false);
                report.device_gib += 1;
            }
        }
        report
    }

    /// The descriptor that maps `address` and its level (1 or 2), by
    /// walking the tables as the MMU would (identity-mapped table
    /// addresses); `None` when unmapped.
    pub fn lookup(&self, address: u64) -> Option<(u64, u8)> {
        let entry = *self.level1.0.get((address / GIB) as usize)?;
        if entry & VALID == 0 {
            return None;
        }
        if entry & 0b11 == BLOCK {
            return Some((entry, 1));
        }
        let table_address = entry & 0x0000_ffff_ffff_f000;
        let table = self
            .level2
            .iter()
            .find(|t| *t as *const Table as u64 == table_address)?;
        Some((table.0[((address % GIB) / BLOCK_2M) as usize], 2))
    }
}

impl Default for IdentityMap {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;

    fn output(d: u64, level: u8) -> u64 {
        let mask = if level == 1 {
            !(GIB - 1)
        } else {
            !(BLOCK_2M - 1)
        };
        d & mask & 0x0000_ffff_ffff_ffff
    }

    #[test]
    fn qemu_virt_layout_maps_ram_normal_and_devices_device() {
        let mut map = Box::new(IdentityMap::new());
        let ram = [(0x4000_0000, 0x5000_0000)];
        let devices = [(0x0900_0000, 0x0900_1000), (0x0800_0000, 0x0802_0000)];
        let report = map.build(&ram, &devices, 44);
        assert_eq!(report.limit, MAPPED_LIMIT);
        assert_eq!(report.normal_gib, 1);
        assert_eq!(report.split_gib, 0);
        let (uart, level) = map.lookup(0x0900_0000).expect("UART mapped");
        assert_eq!(level, 1);
        assert!(!is_normal(uart));
        assert_ne!(uart & PXN, 0, "devices are never executable");
        let (ram_d, _) = map.lookup(0x4008_0000).expect("RAM mapped");
        assert!(is_normal(ram_d));
        assert_eq!(ram_d & PXN, 0, "the kernel runs from RAM");
        assert_ne!(ram_d & UXN, 0);
        assert_eq!(output(ram_d, 1), 0x4000_0000);
    }

    #[test]
    fn a_gigabyte_with_ram_and_a_device_is_split_into_2_mib_blocks() {
        let mut map = Box::new(IdentityMap::new());
        let ram = [(0, 0x3fc0_0000)];
        let devices = [(0x3fe0_0000, 0x3fe0_1000)];
        let report = map.build(&ram, &devices, 40);
        assert_eq!(report.split_gib, 1);
        assert_eq!(report.limit, MAPPED_LIMIT);
        let (d, level) = map.lookup(0x3fe0_0000).expect("mapped");
        assert_eq!(level, 2);
        assert!(!is_normal(d));
        assert_eq!(output(d, 2), 0x3fe0_0000);
        let (d, level) = map.lookup(0x1000_0000).expect("mapped");
        assert_eq!(level, 2);
        assert!(is_normal(d));
        assert_eq!(output(d, 2), 0x1000_0000);
    }

    #[test]
    fn addresses_beyond_the_physical_size_are_unmapped() {
        let mut map = Box::new(IdentityMap::new());
        let report = map.build(&[(0x4000_0000, 0x8000_0000)], &[], 32);
        assert_eq!(report.limit, 1 << 32);
        assert!(map.lookup(0x1_0000_0000).is_none());
        assert!(map.lookup(0xffff_f000).is_some());
    }

    #[test]
    fn too_many_mixed_gigabytes_fall_back_to_normal_and_are_counted() {
        let mut map = Box::new(IdentityMap::new());
        let ram: std::vec::Vec<(u64, u64)> =
            (0..6).map(|g| (g * GIB, g * GIB + 0x1000_0000)).collect();
        let devices: std::vec::Vec<(u64, u64)> = (0..6)
            .map(|g| (g * GIB + 0x2000_0000, g * GIB + 0x2000_1000))
            .collect();
        let report = map.build(&ram, &devices, 48);
        assert_eq!(report.split_gib, SPLIT_TABLES as u32);
        assert_eq!(report.unsplit_gib, 6 - SPLIT_TABLES as u32);
    }

    #[test]
    fn tcr_fields() {
        let t = tcr(4);
        assert_eq!(t & 0x3f, 25);
        assert_eq!((t >> 32) & 0b111, 4);
        assert_ne!(t & (1 << 23), 0, "TTBR1 walks disabled");
        assert_eq!((t >> 14) & 0b11, 0, "4 KiB granule");
        assert_eq!(pa_bits(4), 44);
    }
}

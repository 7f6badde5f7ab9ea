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
//! into 2 MiB blocks. Devices are never executable, RAM never at EL0.
//!
//! The walk starts at level 0 (48-bit virtual addresses, T0SZ = 16): the
//! kernel's level-0 table has one entry, slot 0, pointing at the level-1
//! table of the identity map; every environment's level-0 table shares
//! that entry and keeps slots 1–511 (from [`USER_START`], 512 GiB, up to
//! [`USER_END`], 256 TiB) for its own pages, built by the walker at the end
//! of this file ([`map_user`], [`user_leaf`], [`release_user_tables`]).
//! So user addresses never overlap physical ones, and the kernel's map is
//! the same in every address space.
//!
//! W^X: RAM is not executable at EL1 either, except the kernel's code.
//! [`IdentityMap::protect_image`] splits the 2 MiB blocks the kernel image
//! spans into 4 KiB pages and maps each after its PE/COFF section
//! ([`super::image`]): `.text` read-only and executable, `.rdata`,
//! `.reloc` and the headers read-only, `.data`/`.bss` (the kernel stack and
//! these tables) read-write; only `.text` lacks PXN. The heap and frames
//! come from RAM outside the image: read-write, never executable.
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

/// Virtual address bits of TTBR0 (a four-level walk from level 0).
pub const VA_BITS: u32 = 48;
/// Physical address bits the identity map covers (level-0 slot 0).
pub const IDENTITY_BITS: u32 = 39;
/// One past the highest identity-mapped address (512 GiB).
pub const MAPPED_LIMIT: u64 = 1 << IDENTITY_BITS;
/// First user virtual address: level-0 slot 1.
pub const USER_START: u64 = MAPPED_LIMIT;
/// One past the last user virtual address.
pub const USER_END: u64 = 1 << VA_BITS;

use super::image::{Access, ImageLayout};
use crate::mmu::{Access as UserAccess, MapError, Translation};

const GIB: u64 = 1 << 30;
const BLOCK_2M: u64 = 1 << 21;
const PAGE_4K: u64 = 1 << 12;
/// Level-2 tables available for gigabytes that mix RAM and devices (and
/// the one holding the kernel image).
pub const SPLIT_TABLES: usize = 4;
/// Level-3 tables for the 2 MiB blocks the kernel image spans (an image
/// up to 6 MiB).
pub const IMAGE_TABLES: usize = 4;

const VALID: u64 = 1;
const TABLE: u64 = 0b11;
const BLOCK: u64 = 0b01;
/// A level-3 page descriptor has the table encoding.
const PAGE: u64 = 0b11;
const ACCESS_FLAG: u64 = 1 << 10;
const INNER_SHAREABLE: u64 = 0b11 << 8;
/// AP\[2\]: read-only.
pub const READ_ONLY: u64 = 1 << 7;
/// AP\[1\]: accessible from EL0.
pub const EL0_ACCESS: u64 = 1 << 6;
/// Privileged execute-never.
pub const PXN: u64 = 1 << 53;
/// Unprivileged execute-never.
pub const UXN: u64 = 1 << 54;
const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

/// TCR_EL1: TTBR0 only (EPD1), 4 KiB granule, 48-bit VA, inner-shareable write-back walks, and `ips` (the
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

/// The level-0 and level-1 tables, the level-2 tables split gigabytes use
/// and the level-3 tables of the kernel image. Lives in the kernel image
/// (`.bss`), so its address is physical.
#[derive(Clone, Debug)]
#[repr(C, align(4096))]
pub struct IdentityMap {
    /// Level 0: slot 0 points at `level1`, the rest belong to user spaces.
    pub level0: Table,
    /// Level 1: 512 entries of 1 GiB.
    pub level1: Table,
    /// Level 2 tables for split gigabytes.
    pub level2: [Table; SPLIT_TABLES],
    /// Level 3 tables for the 2 MiB blocks holding the kernel image.
    pub level3: [Table; IMAGE_TABLES],
    /// Level-2 tables in use.
    used2: usize,
    /// Level-3 tables in use.
    used3: usize,
}

/// What [`IdentityMap::protect_image`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageReport {
    /// Pages mapped read-only and executable.
    pub execute_pages: u32,
    /// Pages mapped read-only, not executable.
    pub read_only_pages: u32,
    /// Pages mapped read-write, not executable.
    pub read_write_pages: u32,
    /// 2 MiB blocks split into pages.
    pub split_blocks: u32,
}

/// Why [`IdentityMap::protect_image`] failed (the map is then unchanged
/// where it matters: the image stays in executable RAM blocks only if the
/// caller ignores the error, which it must not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtectError {
    /// The image lies beyond the mapped range.
    Unmapped(u64),
    /// The image overlaps a block mapped as device memory.
    NotRam(u64),
    /// No level-2 or level-3 table left.
    NoTable,
}

impl core::fmt::Display for ProtectError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Unmapped(a) => write!(f, "image address {a:#x} is not mapped"),
            Self::NotRam(a) => write!(f, "image address {a:#x} is mapped as device memory"),
            Self::NoTable => write!(f, "no translation table left to split the image's blocks"),
        }
    }
}

/// A level-3 page descriptor of Normal memory at `address` for `access`.
#[must_use]
pub const fn page(address: u64, access: Access) -> u64 {
    let base = address | PAGE | (ATTR_NORMAL << 2) | INNER_SHAREABLE | ACCESS_FLAG | UXN;
    match access {
        Access::Execute => base | READ_ONLY,
        Access::ReadOnly => base | READ_ONLY | PXN,
        Access::ReadWrite => base | PXN,
    }
}

/// What a leaf descriptor allows at EL1: (writable, executable).
#[must_use]
pub const fn el1_permissions(d: u64) -> (bool, bool) {
    (d & READ_ONLY == 0, d & PXN == 0)
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
        address | BLOCK | (ATTR_NORMAL << 2) | INNER_SHAREABLE | ACCESS_FLAG | PXN | UXN
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
            level0: EMPTY,
            level1: EMPTY,
            level2: [EMPTY; SPLIT_TABLES],
            level3: [EMPTY; IMAGE_TABLES],
            used2: 0,
            used3: 0,
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
        self.used3 = 0;
        self.level0.0[0] = (&self.level1 as *const Table as u64) | TABLE;
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
        self.used2 = next_table;
        report
    }

    /// Maps the kernel image page by page after its sections (see the
    /// module documentation); the rest of each 2 MiB block split for it
    /// stays read-write, not executable. Call after [`build`](Self::build).
    ///
    /// # Errors
    /// See [`ProtectError`].
    pub fn protect_image(&mut self, layout: &ImageLayout) -> Result<ImageReport, ProtectError> {
        let mut report = ImageReport::default();
        let mut block_start = layout.base & !(BLOCK_2M - 1);
        while block_start < layout.end {
            let l2 = self.level2_for(block_start)?;
            let j = ((block_start % GIB) / BLOCK_2M) as usize;
            let entry = self.level2[l2].0[j];
            let l3 = if entry & 0b11 == BLOCK {
                if !is_normal(entry) {
                    return Err(ProtectError::NotRam(block_start));
                }
                let l3 = self.used3;
                if l3 >= IMAGE_TABLES {
                    return Err(ProtectError::NoTable);
                }
                self.used3 += 1;
                for (k, e) in self.level3[l3].0.iter_mut().enumerate() {
                    *e = page(block_start + k as u64 * PAGE_4K, Access::ReadWrite);
                }
                self.level2[l2].0[j] = (&self.level3[l3] as *const Table as u64) | TABLE;
                report.split_blocks += 1;
                l3
            } else if entry & 0b11 == TABLE {
                self.level3_index(entry & ADDRESS_MASK)
                    .ok_or(ProtectError::NoTable)?
            } else {
                return Err(ProtectError::Unmapped(block_start));
            };
            for (k, e) in self.level3[l3].0.iter_mut().enumerate() {
                let address = block_start + k as u64 * PAGE_4K;
                if !(layout.base..layout.end).contains(&address) {
                    continue;
                }
                let access = layout.access(address);
                *e = page(address, access);
                match access {
                    Access::Execute => report.execute_pages += 1,
                    Access::ReadOnly => report.read_only_pages += 1,
                    Access::ReadWrite => report.read_write_pages += 1,
                }
            }
            block_start += BLOCK_2M;
        }
        Ok(report)
    }

    /// The level-2 table for the gigabyte of `address`, splitting a RAM
    /// gigabyte block into 2 MiB blocks of the same attributes if needed.
    fn level2_for(&mut self, address: u64) -> Result<usize, ProtectError> {
        let i = (address / GIB) as usize;
        let entry = *self
            .level1
            .0
            .get(i)
            .ok_or(ProtectError::Unmapped(address))?;
        match entry & 0b11 {
            TABLE => self
                .level2_index(entry & ADDRESS_MASK)
                .ok_or(ProtectError::NoTable),
            BLOCK => {
                if !is_normal(entry) {
                    return Err(ProtectError::NotRam(address));
                }
                let t = self.used2;
                if t >= SPLIT_TABLES {
                    return Err(ProtectError::NoTable);
                }
                self.used2 += 1;
                let base = i as u64 * GIB;
                for (j, e) in self.level2[t].0.iter_mut().enumerate() {
                    *e = block(base + j as u64 * BLOCK_2M, true);
                }
                self.level1.0[i] = (&self.level2[t] as *const Table as u64) | TABLE;
                Ok(t)
            }
            _ => Err(ProtectError::Unmapped(address)),
        }
    }

    fn level2_index(&self, table_address: u64) -> Option<usize> {
        self.level2
            .iter()
            .position(|t| t as *const Table as u64 == table_address)
    }

    fn level3_index(&self, table_address: u64) -> Option<usize> {
        self.level3
            .iter()
            .position(|t| t as *const Table as u64 == table_address)
    }

    /// The descriptor that maps `address` and its level (1, 2 or 3), by
    /// walking the tables as the MMU would (identity-mapped table
    /// addresses); `None` when unmapped.
    pub fn lookup(&self, address: u64) -> Option<(u64, u8)> {
        if address >= MAPPED_LIMIT
            || self.level0.0[0] & ADDRESS_MASK != &self.level1 as *const Table as u64
        {
            return None;
        }
        let entry = *self.level1.0.get((address / GIB) as usize)?;
        if entry & VALID == 0 {
            return None;
        }
        if entry & 0b11 == BLOCK {
            return Some((entry, 1));
        }
        let table = &self.level2[self.level2_index(entry & ADDRESS_MASK)?];
        let entry = table.0[((address % GIB) / BLOCK_2M) as usize];
        if entry & VALID == 0 {
            return None;
        }
        if entry & 0b11 == BLOCK {
            return Some((entry, 2));
        }
        let table = &self.level3[self.level3_index(entry & ADDRESS_MASK)?];
        let entry = table.0[((address % BLOCK_2M) / PAGE_4K) as usize];
        (entry & VALID != 0).then_some((entry, 3))
    }
}

impl Default for IdentityMap {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------
// User address spaces.

/// Not global: the TLB tags the entry with the address space (nG).
const NOT_GLOBAL: u64 = 1 << 11;
/// A table descriptor's PXNTable bit: nothing below it executes at EL1.
const PXN_TABLE: u64 = 1 << 59;
/// Output address of a level-3 descriptor.
const PAGE_ADDRESS: u64 = ADDRESS_MASK;

/// The level-3 descriptor of a user page at `phys` with `access`: EL0
/// accessible, not global, never executable at EL1, executable at EL0
/// only when asked (and never for device memory), read-only unless
/// writable.
#[must_use]
pub const fn user_page(phys: u64, access: UserAccess) -> u64 {
    let mut d = (phys & PAGE_ADDRESS) | PAGE | ACCESS_FLAG | NOT_GLOBAL | EL0_ACCESS | PXN;
    if access.device {
        d |= (ATTR_DEVICE << 2) | UXN;
    } else {
        d |= (ATTR_NORMAL << 2) | INNER_SHAREABLE;
        if !access.execute {
            d |= UXN;
        }
    }
    if !access.write {
        d |= READ_ONLY;
    }
    d
}

/// What a user level-3 descriptor maps, or `None` if it is not a valid
/// user page.
#[must_use]
pub const fn user_translation(d: u64) -> Option<Translation> {
    if d & 0b11 != PAGE || d & EL0_ACCESS == 0 {
        return None;
    }
    let device = (d >> 2) & 0b111 == ATTR_DEVICE;
    Some(Translation {
        phys: d & PAGE_ADDRESS,
        access: UserAccess {
            write: d & READ_ONLY == 0,
            execute: d & UXN == 0,
            device,
        },
    })
}

/// Reads and writes translation-table entries by the table's physical
/// address: the kernel's identity map on the target, a model in tests.
pub trait TableMemory {
    /// Entry `index` of the table at `table`.
    fn read(&self, table: u64, index: usize) -> u64;
    /// Sets entry `index` of the table at `table`.
    fn write(&mut self, table: u64, index: usize, value: u64);
}

/// The index of `virt` in its level-`level` table (0–3).
const fn index(virt: u64, level: u32) -> usize {
    ((virt >> (39 - 9 * level)) & 511) as usize
}

/// The level-3 table and index holding `virt`'s descriptor in the space
/// rooted at `root`, allocating missing tables with `allocate` (zeroed
/// frames) when it is `Some`.
///
/// # Errors
/// [`MapError::NotUser`] for an address outside the user range or under a
/// block; [`MapError::NotMapped`] when a table is missing and `allocate`
/// is `None`; [`MapError::OutOfFrames`] when `allocate` fails.
pub fn user_leaf(
    memory: &mut dyn TableMemory,
    root: u64,
    virt: u64,
    mut allocate: Option<&mut dyn FnMut() -> Option<u64>>,
) -> Result<(u64, usize), MapError> {
    if !(USER_START..USER_END).contains(&virt) {
        return Err(MapError::NotUser);
    }
    let mut table = root;
    for level in 0..3 {
        let i = index(virt, level);
        let entry = memory.read(table, i);
        table = match entry & 0b11 {
            TABLE => entry & ADDRESS_MASK,
            BLOCK => return Err(MapError::NotUser),
            _ => {
                let Some(allocate) = allocate.as_mut() else {
                    return Err(MapError::NotMapped);
                };
                let next = allocate().ok_or(MapError::OutOfFrames)?;
                memory.write(table, i, (next & ADDRESS_MASK) | TABLE | PXN_TABLE);
                next & ADDRESS_MASK
            }
        };
    }
    Ok((table, index(virt, 3)))
}

/// Maps user page `virt` to `phys` in the space rooted at `root`.
///
/// # Errors
/// As [`user_leaf`], and [`MapError::AlreadyMapped`].
pub fn map_user(
    memory: &mut dyn TableMemory,
    root: u64,
    virt: u64,
    phys: u64,
    access: UserAccess,
    allocate: &mut dyn FnMut() -> Option<u64>,
) -> Result<(), MapError> {
    let (table, i) = user_leaf(memory, root, virt, Some(allocate))?;
    if memory.read(table, i) & VALID != 0 {
        return Err(MapError::AlreadyMapped);
    }
    memory.write(table, i, user_page(phys, access));
    Ok(())
}

/// Frees every user table of the space rooted at `root` (level-0 slots 1
/// and up; slot 0 is the shared identity map), deepest first, then clears
/// the root's user slots. The pages the tables pointed at are not freed.
pub fn release_user_tables(memory: &mut dyn TableMemory, root: u64, release: &mut dyn FnMut(u64)) {
    for i0 in 1..512 {
        let e0 = memory.read(root, i0);
        if e0 & 0b11 != TABLE {
            continue;
        }
        let l1 = e0 & ADDRESS_MASK;
        for i1 in 0..512 {
            let e1 = memory.read(l1, i1);
            if e1 & 0b11 != TABLE {
                continue;
            }
            let l2 = e1 & ADDRESS_MASK;
            for i2 in 0..512 {
                let e2 = memory.read(l2, i2);
                if e2 & 0b11 == TABLE {
                    release(e2 & ADDRESS_MASK);
                }
            }
            release(l2);
        }
        release(l1);
        memory.write(root, i0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;

    fn output(d: u64, level: u8) -> u64 {
        let mask = match level {
            1 => !(GIB - 1),
            2 => !(BLOCK_2M - 1),
            _ => !(PAGE_4K - 1),
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
        assert_ne!(ram_d & PXN, 0, "RAM outside the kernel text never executes");
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

    fn kernel_layout(base: u64) -> ImageLayout {
        use crate::arch::aarch64::image::tests::{KERNEL_SECTIONS, kernel_like_headers};
        ImageLayout::parse(&kernel_like_headers(KERNEL_SECTIONS), base).expect("layout")
    }

    #[test]
    fn the_kernel_image_is_mapped_w_xor_x() {
        let mut map = Box::new(IdentityMap::new());
        let devices = [(0x0900_0000, 0x0900_1000)];
        map.build(&[(0x4000_0000, 0x5000_0000)], &devices, 40);
        // Straddles a 2 MiB boundary, as a loaded image may.
        let base = 0x4e1c_0000;
        let layout = kernel_layout(base);
        let report = map.protect_image(&layout).expect("protected");
        assert_eq!(report.split_blocks, 2);
        assert_eq!(report.execute_pages, 0x2a);
        assert_eq!(report.read_only_pages, 1 + 7 + 1);
        assert_eq!(report.read_write_pages, 0x4e);
        for (address, writable, executable) in [
            (base, false, false),
            (base + 0x1000, false, true),
            (base + 0x2a000, false, true),
            (base + 0x2b000, false, false),
            (base + 0x32000, true, false),
            (base + 0x7f000, true, false),
            (base + 0x80000, false, false),
        ] {
            let (d, level) = map.lookup(address).expect("mapped");
            assert_eq!(level, 3, "{address:#x}");
            assert_eq!(output(d, 3), address);
            assert!(is_normal(d));
            assert_ne!(d & UXN, 0, "never executable at EL0");
            assert_eq!(d & EL0_ACCESS, 0, "never accessible from EL0");
            assert_eq!(
                el1_permissions(d),
                (writable, executable),
                "{address:#x}: {d:#x}"
            );
        }
        // The rest of the split blocks: RAM, read-write, not executable.
        for address in [0x4e00_0000, base - 0x1000, base + 0x81000, 0x4e3f_f000] {
            let (d, level) = map.lookup(address).expect("mapped");
            assert_eq!(level, 3);
            assert_eq!(el1_permissions(d), (true, false), "{address:#x}");
        }
        // Other blocks of the gigabyte keep 2 MiB RAM blocks, not executable.
        let (d, level) = map.lookup(0x4000_0000).expect("mapped");
        assert_eq!((level, el1_permissions(d)), (2, (true, false)));
        // Devices untouched.
        let (d, _) = map.lookup(0x0900_0000).expect("mapped");
        assert!(!is_normal(d));
    }

    #[test]
    fn an_image_in_device_memory_or_without_tables_is_refused() {
        let mut map = Box::new(IdentityMap::new());
        map.build(&[(0x4000_0000, 0x5000_0000)], &[], 40);
        assert_eq!(
            map.protect_image(&kernel_layout(0x8000_0000)),
            Err(ProtectError::NotRam(0x8000_0000))
        );
        let mut map = Box::new(IdentityMap::new());
        let ram: std::vec::Vec<(u64, u64)> =
            (0..5).map(|g| (g * GIB, g * GIB + 0x1000_0000)).collect();
        let devices: std::vec::Vec<(u64, u64)> = (0..5)
            .map(|g| (g * GIB + 0x2000_0000, g * GIB + 0x2000_1000))
            .collect();
        map.build(&ram, &devices, 40);
        // Every level-2 table went to the mixed gigabytes, but the image's
        // gigabyte is one of them, so only level-3 tables are needed.
        assert!(map.protect_image(&kernel_layout(0x0010_0000)).is_ok());
    }

    #[test]
    fn tcr_fields() {
        let t = tcr(4);
        assert_eq!(t & 0x3f, 16, "48-bit VA: the walk starts at level 0");
        assert_eq!((t >> 32) & 0b111, 4);
        assert_ne!(t & (1 << 23), 0, "TTBR1 walks disabled");
        assert_eq!((t >> 14) & 0b11, 0, "4 KiB granule");
        assert_eq!(pa_bits(4), 44);
    }

    /// Translation tables as a map from a table's physical address to its
    /// entries; a table never written reads as zeroes (a fresh frame).
    #[derive(Default)]
    struct Model(std::collections::BTreeMap<u64, Box<[u64; 512]>>);

    impl TableMemory for Model {
        fn read(&self, table: u64, index: usize) -> u64 {
            self.0.get(&table).map_or(0, |t| t[index])
        }
        fn write(&mut self, table: u64, index: usize, value: u64) {
            self.0.entry(table).or_insert_with(|| Box::new([0; 512]))[index] = value;
        }
    }

    const ROOT: u64 = 0x4000_0000;

    fn frames() -> impl FnMut() -> Option<u64> {
        let mut next = ROOT;
        move || {
            next += PAGE_4K;
            Some(next)
        }
    }

    #[test]
    fn user_pages_are_mapped_through_four_levels_beside_the_identity_map() {
        let mut m = Model::default();
        let kernel_slot = 0x4fff_f000 | TABLE;
        m.write(ROOT, 0, kernel_slot);
        let mut allocate = frames();
        let code = USER_START + 0x1000;
        let data = USER_END - PAGE_4K;
        map_user(
            &mut m,
            ROOT,
            code,
            0x4123_4000,
            UserAccess::READ_EXECUTE,
            &mut allocate,
        )
        .expect("mapped");
        map_user(
            &mut m,
            ROOT,
            data,
            0x4567_8000,
            UserAccess::READ_WRITE,
            &mut allocate,
        )
        .expect("mapped");
        // Two walks, disjoint below level 0: 2 × 3 tables.
        assert_eq!(m.0.len(), 1 + 6);
        assert_eq!(
            m.read(ROOT, 0),
            kernel_slot,
            "the kernel's slot is untouched"
        );
        let (t, i) = user_leaf(&mut m, ROOT, code, None).expect("present");
        let d = m.read(t, i);
        assert_eq!(
            user_translation(d),
            Some(Translation {
                phys: 0x4123_4000,
                access: UserAccess::READ_EXECUTE
            })
        );
        assert_ne!(d & PXN, 0, "user code never runs at EL1");
        assert_eq!(d & UXN, 0);
        assert_ne!(d & READ_ONLY, 0);
        assert_ne!(d & NOT_GLOBAL, 0);
        let (t, i) = user_leaf(&mut m, ROOT, data, None).expect("present");
        let d = m.read(t, i);
        assert_eq!(d & READ_ONLY, 0);
        assert_ne!(d & UXN, 0);
        assert_eq!(
            map_user(
                &mut m,
                ROOT,
                code,
                0x4000_0000,
                UserAccess::READ,
                &mut allocate
            ),
            Err(MapError::AlreadyMapped)
        );
        // Every table entry on the way is PXNTable.
        let e0 = m.read(ROOT, index(code, 0));
        assert_eq!(e0 & (0b11 | PXN_TABLE), TABLE | PXN_TABLE);
    }

    #[test]
    fn the_identity_range_and_beyond_48_bits_are_not_user() {
        let mut m = Model::default();
        let mut allocate = frames();
        for virt in [0, 0x4000_0000, MAPPED_LIMIT - PAGE_4K, USER_END, !0xfff] {
            assert_eq!(
                map_user(
                    &mut m,
                    ROOT,
                    virt,
                    0x4000_0000,
                    UserAccess::READ,
                    &mut allocate
                ),
                Err(MapError::NotUser),
                "{virt:#x}"
            );
        }
        assert!(m.0.is_empty(), "nothing was written");
        assert_eq!(
            user_leaf(&mut m, ROOT, USER_START, None),
            Err(MapError::NotMapped)
        );
    }

    #[test]
    fn device_pages_are_uncached_and_never_executable() {
        let access = UserAccess {
            write: true,
            execute: true,
            device: true,
        };
        let d = user_page(0x0900_0000, access);
        assert!(!is_normal(d));
        assert_eq!((d >> 2) & 0b111, ATTR_DEVICE);
        assert_ne!(d & UXN, 0);
        assert_eq!(
            user_translation(d).map(|t| t.access),
            Some(UserAccess {
                write: true,
                execute: false,
                device: true
            })
        );
        // A kernel page is not a user translation.
        assert_eq!(user_translation(page(0x4000_0000, Access::ReadWrite)), None);
    }

    #[test]
    fn out_of_frames_is_reported_and_tables_are_released() {
        let mut m = Model::default();
        let mut none = || None;
        assert_eq!(
            map_user(
                &mut m,
                ROOT,
                USER_START,
                0x4000_0000,
                UserAccess::READ,
                &mut none
            ),
            Err(MapError::OutOfFrames)
        );
        let mut allocate = frames();
        for k in 0..4u64 {
            let virt = USER_START + k * (1 << 30) + 0x2000;
            map_user(
                &mut m,
                ROOT,
                virt,
                0x4000_0000,
                UserAccess::READ,
                &mut allocate,
            )
            .expect("mapped");
        }
        // One level-1 table, four level-2 and four level-3 tables.
        let mut released = std::vec::Vec::new();
        release_user_tables(&mut m, ROOT, &mut |t| released.push(t));
        assert_eq!(released.len(), 9);
        released.sort_unstable();
        released.dedup();
        assert_eq!(released.len(), 9, "each table once");
        assert_eq!(m.read(ROOT, 1), 0);
    }
}

//! aarch64 translation tables for environment address spaces.
//!
//! Every environment gets its own level-0 table. Slot 0 is copied from the
//! kernel's table ([`super::tables::IdentityMap::level0`]): the identity map
//! of the low 512 GiB, EL1-only, so the kernel's code, data, stacks and all
//! of RAM stay mapped at the same addresses in every space. Slots 1–511
//! ([`tables::USER_START`] to [`tables::USER_END`]) are the environment's,
//! built with 4 KiB pages by the pure walker in [`super::tables`] over the
//! identity map. No ASIDs yet: switching spaces writes TTBR0_EL1 and
//! invalidates the EL1&0 TLB.

use core::sync::atomic::{AtomicU64, Ordering};

use super::tables::{self, TableMemory};
use crate::mmu::{Access, AddressSpaceOps, FrameSource, MapError, PAGE_SIZE, Translation};
use aarch64_cpu::registers::{Readable, TTBR0_EL1};

/// The kernel's level-0 table (physical), recorded by [`init`].
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);

/// Table frames reached through the identity map.
struct Identity;

impl TableMemory for Identity {
    fn read(&self, table: u64, index: usize) -> u64 {
        debug_assert!(index < 512 && table.is_multiple_of(PAGE_SIZE));
        // SAFETY: `table` is a translation-table frame of an address space
        // the caller holds (or the kernel's); frames lie below the
        // identity-map limit, so the physical address is mapped at itself.
        unsafe { (table as *const u64).add(index).read_volatile() }
    }

    fn write(&mut self, table: u64, index: usize, value: u64) {
        debug_assert!(index < 512 && table.is_multiple_of(PAGE_SIZE));
        // SAFETY: as in `read`; the caller has exclusive use of the space
        // (`&mut AddressSpace`), and a single aligned 64-bit store is how
        // the MMU expects descriptors to change.
        unsafe { (table as *mut u64).add(index).write_volatile(value) }
    }
}

/// Records the kernel's tables (the current TTBR0_EL1). Call once, after
/// the identity map is installed.
pub fn init() {
    KERNEL_ROOT.store(TTBR0_EL1.get() & 0x0000_ffff_ffff_f000, Ordering::Relaxed);
}

/// Switches to the kernel's tables.
pub fn activate_boot() {
    let root = KERNEL_ROOT.load(Ordering::Relaxed);
    if root != 0 {
        // SAFETY: the kernel's own tables map everything the kernel uses.
        unsafe { write_ttbr0(root) };
    }
}

/// Loads `root` into TTBR0_EL1 and drops the old space's TLB entries.
///
/// # Safety
/// `root` must be a level-0 table whose slot 0 is the kernel's identity
/// map.
unsafe fn write_ttbr0(root: u64) {
    // SAFETY: the caller guarantees the kernel stays mapped across the
    // switch; the barriers order the table writes before the walk and the
    // invalidation before the next access.
    unsafe {
        core::arch::asm!(
            "dsb ishst",
            "msr ttbr0_el1, {root}",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            root = in(reg) root,
            options(nostack, preserves_flags)
        );
    }
}

/// Drops the TLB entry for user page `virt` after its descriptor changed.
fn invalidate(virt: u64) {
    // SAFETY: TLB maintenance only; the barriers make the descriptor store
    // visible to the walker first and the invalidation complete after.
    unsafe {
        core::arch::asm!(
            "dsb ishst",
            "tlbi vaae1is, {page}",
            "dsb ish",
            "isb",
            page = in(reg) virt >> 12,
            options(nostack, preserves_flags)
        );
    }
}

/// An environment's address space.
#[derive(Debug)]
pub struct AddressSpace {
    root: u64,
}

impl AddressSpace {
    /// A new address space that maps the kernel (identity slot) and no
    /// user memory.
    ///
    /// # Errors
    /// [`MapError::OutOfFrames`].
    pub fn new(tables: &mut dyn FrameSource) -> Result<Self, MapError> {
        let kernel = KERNEL_ROOT.load(Ordering::Relaxed);
        let root = tables.allocate_zeroed().ok_or(MapError::OutOfFrames)?;
        let slot = Identity.read(kernel, 0);
        Identity.write(root, 0, slot);
        Ok(Self { root })
    }

    /// Physical address of the level-0 table (the TTBR0_EL1 value).
    #[must_use]
    pub fn root(&self) -> u64 {
        self.root
    }

    /// Makes this the current address space.
    pub fn activate(&self) {
        // SAFETY: `new` gave this table the kernel's identity slot.
        unsafe { write_ttbr0(self.root) };
    }

    /// Frees every translation table of the user half and the root (not
    /// the frames the pages point at, which belong to whoever holds their
    /// capabilities). The space must not be active.
    pub fn destroy(self, tables: &mut dyn FrameSource) {
        tables::release_user_tables(&mut Identity, self.root, &mut |t| tables.release(t));
        tables.release(self.root);
    }

    /// The level-3 slot of mapped user page `virt`.
    fn leaf(&self, virt: u64) -> Result<(u64, usize, u64), MapError> {
        crate::mmu::check_user_page::<Self>(virt)?;
        let (table, i) = tables::user_leaf(&mut Identity, self.root, virt, None)?;
        let d = Identity.read(table, i);
        if tables::user_translation(d).is_none() {
            return Err(MapError::NotMapped);
        }
        Ok((table, i, d))
    }
}

impl AddressSpaceOps for AddressSpace {
    const USER_START: u64 = tables::USER_START;
    const USER_END: u64 = tables::USER_END;

    fn map(
        &mut self,
        virt: u64,
        phys: u64,
        access: Access,
        frames: &mut dyn FrameSource,
    ) -> Result<(), MapError> {
        crate::mmu::check_user_page::<Self>(virt)?;
        if !phys.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Misaligned);
        }
        if phys >= tables::MAPPED_LIMIT {
            return Err(MapError::BadFrame);
        }
        let mut allocate = || {
            let frame = frames.allocate_zeroed()?;
            if frame < tables::MAPPED_LIMIT {
                Some(frame)
            } else {
                frames.release(frame);
                None
            }
        };
        // An invalid descriptor is never cached in the TLB, so a new
        // mapping needs only the barrier that publishes it.
        tables::map_user(&mut Identity, self.root, virt, phys, access, &mut allocate)?;
        // SAFETY: a barrier only.
        unsafe { core::arch::asm!("dsb ishst", "isb", options(nostack, preserves_flags)) };
        Ok(())
    }

    fn unmap(&mut self, virt: u64) -> Result<u64, MapError> {
        let (table, i, d) = self.leaf(virt)?;
        Identity.write(table, i, 0);
        invalidate(virt);
        Ok(tables::user_translation(d).map_or(0, |t| t.phys))
    }

    fn protect(&mut self, virt: u64, access: Access) -> Result<(), MapError> {
        let (table, i, d) = self.leaf(virt)?;
        let phys = tables::user_translation(d).map_or(0, |t| t.phys);
        // Break before make: the old entry leaves the TLB before the new
        // permissions appear.
        Identity.write(table, i, 0);
        invalidate(virt);
        Identity.write(table, i, tables::user_page(phys, access));
        invalidate(virt);
        Ok(())
    }

    fn translate(&self, virt: u64) -> Option<Translation> {
        let (_, _, d) = self.leaf(virt & !(PAGE_SIZE - 1)).ok()?;
        tables::user_translation(d)
    }
}

//! x86_64 page tables for environment address spaces.
//!
//! Every environment gets its own PML4. Slot 256 (the direct map of
//! physical memory, [`PHYS_OFFSET`]) is shared with the boot address space;
//! slot 0 gets a private PDPT and page directory whose first two entries
//! are the boot tables' 2 MiB supervisor pages over the kernel image
//! (`0..KERNEL_LOW_LIMIT`), so the kernel's code, data and stacks are
//! mapped at their link addresses in every space. Everything else in the
//! lower half is user memory, built with 4 KiB pages through the `x86_64`
//! crate's `OffsetPageTable` over the direct map.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};
use x86_64::structures::paging::mapper::{MapToError, TranslateResult, UnmapError};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame, Size4KiB,
    Translate,
};
use x86_64::{PhysAddr, VirtAddr};

use super::{IDENTITY_MAP_LIMIT, KERNEL_LOW_LIMIT, PHYS_OFFSET, phys_to_virt};
use crate::mmu::{Access, AddressSpaceOps, FrameSource, MapError, Translation, check_user_page};

/// The boot address space's PML4 (physical), recorded by [`init`].
static BOOT_PML4: AtomicU64 = AtomicU64::new(0);
/// Whether EFER.NXE is on (so the no-execute bit may be used).
static NX: AtomicU64 = AtomicU64::new(0);

/// One past the last canonical lower-half address.
const LOWER_HALF_END: u64 = 0x0000_8000_0000_0000;
/// PML4 slot of the direct map.
const DIRECT_MAP_SLOT: usize = 256;

/// Records the boot address space (the current CR3). Call once, early.
pub fn init() {
    let (frame, _) = Cr3::read();
    BOOT_PML4.store(frame.start_address().as_u64(), Ordering::Relaxed);
    let nx = Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE);
    NX.store(u64::from(nx), Ordering::Relaxed);
}

/// Switches to the boot address space.
pub fn activate_boot() {
    let pml4 = BOOT_PML4.load(Ordering::Relaxed);
    if pml4 != 0 {
        // SAFETY: the boot PML4 maps the kernel image, its stacks and the
        // direct map, like every address space.
        unsafe { write_cr3(pml4) };
    }
}

/// Loads `pml4` into CR3.
///
/// # Safety
/// `pml4` must be a PML4 that maps the kernel image and the direct map as
/// the boot tables do.
unsafe fn write_cr3(pml4: u64) {
    let frame = PhysFrame::containing_address(PhysAddr::new(pml4));
    // SAFETY: the caller guarantees the kernel stays mapped.
    unsafe { Cr3::write(frame, Cr3Flags::empty()) };
}

/// The page table at physical `phys`, through the direct map.
///
/// # Safety
/// `phys` must be a page-table frame owned by the caller's address space
/// (or the boot tables, read-only), with no other live reference to it.
unsafe fn table(phys: u64) -> &'static mut PageTable {
    // SAFETY: the caller guarantees exclusivity; the direct map covers every
    // frame the allocator hands out, and frames are page-aligned.
    unsafe { &mut *(phys_to_virt(phys) as *mut PageTable) }
}

/// Adapts a [`FrameSource`] to the `x86_64` crate's allocator trait.
struct Tables<'a>(&'a mut dyn FrameSource);

// SAFETY: `FrameSource::allocate_zeroed` hands out unused, zeroed frames
// that the caller does not use elsewhere.
unsafe impl FrameAllocator<Size4KiB> for Tables<'_> {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let phys = self.0.allocate_zeroed()?;
        (phys < IDENTITY_MAP_LIMIT)
            .then(|| PhysFrame::from_start_address(PhysAddr::new(phys)).ok())
            .flatten()
    }
}

/// An environment's address space.
#[derive(Debug)]
pub struct AddressSpace {
    pml4: u64,
    pdpt: u64,
    pd: u64,
}

impl AddressSpace {
    /// A new address space that maps the kernel (low region and direct map)
    /// and no user memory.
    ///
    /// # Errors
    /// [`MapError::OutOfFrames`].
    pub fn new(tables: &mut dyn FrameSource) -> Result<Self, MapError> {
        let boot = BOOT_PML4.load(Ordering::Relaxed);
        let pml4 = tables.allocate_zeroed().ok_or(MapError::OutOfFrames)?;
        let Some(pdpt) = tables.allocate_zeroed() else {
            tables.release(pml4);
            return Err(MapError::OutOfFrames);
        };
        let Some(pd) = tables.allocate_zeroed() else {
            tables.release(pml4);
            tables.release(pdpt);
            return Err(MapError::OutOfFrames);
        };
        // SAFETY: the three frames were just allocated to this space; the
        // boot tables are only read.
        unsafe {
            let boot_pml4 = table(boot);
            let boot_pdpt_phys = boot_pml4[0].addr().as_u64();
            let boot_pd_phys = table(boot_pdpt_phys)[0].addr().as_u64();
            let boot_pd = table(boot_pd_phys);
            let new_pd = table(pd);
            for i in 0..(KERNEL_LOW_LIMIT >> 21) as usize {
                new_pd[i] = boot_pd[i].clone();
            }
            let user = PageTableFlags::PRESENT
                | PageTableFlags::WRITABLE
                | PageTableFlags::USER_ACCESSIBLE;
            table(pdpt)[0].set_addr(PhysAddr::new(pd), user);
            let new_pml4 = table(pml4);
            new_pml4[0].set_addr(PhysAddr::new(pdpt), user);
            new_pml4[DIRECT_MAP_SLOT] = boot_pml4[DIRECT_MAP_SLOT].clone();
        }
        Ok(Self { pml4, pdpt, pd })
    }

    /// Physical address of the PML4 (the CR3 value).
    #[must_use]
    pub fn root(&self) -> u64 {
        self.pml4
    }

    /// Makes this the current address space.
    pub fn activate(&self) {
        // SAFETY: `new` gave this PML4 the kernel's mappings.
        unsafe { write_cr3(self.pml4) };
    }

    fn mapper(&mut self) -> OffsetPageTable<'static> {
        // SAFETY: the PML4 belongs to this space and `&mut self` makes the
        // mapper the only reference for its lifetime of use.
        unsafe { OffsetPageTable::new(table(self.pml4), VirtAddr::new(PHYS_OFFSET)) }
    }

    fn flags(access: Access) -> PageTableFlags {
        let mut flags = PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE;
        if access.write {
            flags |= PageTableFlags::WRITABLE;
        }
        if (!access.execute || access.device) && NX.load(Ordering::Relaxed) != 0 {
            flags |= PageTableFlags::NO_EXECUTE;
        }
        if access.device {
            flags |= PageTableFlags::NO_CACHE | PageTableFlags::WRITE_THROUGH;
        }
        flags
    }

    /// Frees every page-table frame of the user half (not the frames the
    /// pages point at, which belong to whoever holds their capabilities)
    /// and the space's own tables. The space must not be active.
    pub fn destroy(self, tables: &mut dyn FrameSource) {
        // SAFETY: the space is being destroyed; nothing else references its
        // tables. Only user-half tables below the PD's kernel entries and
        // the PML4 slots other than the shared direct map are walked.
        unsafe {
            let pml4 = table(self.pml4);
            for (slot, entry) in pml4.iter().enumerate().take(DIRECT_MAP_SLOT) {
                if !entry.flags().contains(PageTableFlags::PRESENT) {
                    continue;
                }
                let pdpt_phys = entry.addr().as_u64();
                for pdpt_entry in table(pdpt_phys).iter() {
                    if !pdpt_entry.flags().contains(PageTableFlags::PRESENT) {
                        continue;
                    }
                    let pd_phys = pdpt_entry.addr().as_u64();
                    for (i, pd_entry) in table(pd_phys).iter().enumerate() {
                        let kernel = pd_phys == self.pd && (i as u64) < KERNEL_LOW_LIMIT >> 21;
                        if !kernel && pd_entry.flags().contains(PageTableFlags::PRESENT) {
                            tables.release(pd_entry.addr().as_u64());
                        }
                    }
                    tables.release(pd_phys);
                }
                if slot != 0 || pdpt_phys != self.pdpt {
                    tables.release(pdpt_phys);
                }
            }
            tables.release(self.pdpt);
            tables.release(self.pml4);
        }
    }
}

impl AddressSpaceOps for AddressSpace {
    const USER_START: u64 = KERNEL_LOW_LIMIT;
    const USER_END: u64 = LOWER_HALF_END;

    fn map(
        &mut self,
        virt: u64,
        phys: u64,
        access: Access,
        tables: &mut dyn FrameSource,
    ) -> Result<(), MapError> {
        check_user_page::<Self>(virt)?;
        if !phys.is_multiple_of(crate::mmu::PAGE_SIZE) {
            return Err(MapError::Misaligned);
        }
        if phys >= IDENTITY_MAP_LIMIT {
            return Err(MapError::BadFrame);
        }
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
        let frame = PhysFrame::containing_address(PhysAddr::new(phys));
        let parents =
            PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::USER_ACCESSIBLE;
        let mut allocator = Tables(tables);
        // SAFETY: the page is in the user half, so the mapping cannot alias
        // kernel memory the kernel relies on; the exokernel checked the
        // environment holds the frame.
        let result = unsafe {
            self.mapper().map_to_with_table_flags(
                page,
                frame,
                Self::flags(access),
                parents,
                &mut allocator,
            )
        };
        match result {
            Ok(flush) => {
                flush.flush();
                Ok(())
            }
            Err(MapToError::PageAlreadyMapped(_)) => Err(MapError::AlreadyMapped),
            Err(MapToError::ParentEntryHugePage) => Err(MapError::NotUser),
            Err(MapToError::FrameAllocationFailed) => Err(MapError::OutOfFrames),
        }
    }

    fn unmap(&mut self, virt: u64) -> Result<u64, MapError> {
        check_user_page::<Self>(virt)?;
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
        match self.mapper().unmap(page) {
            Ok((frame, flush)) => {
                flush.flush();
                Ok(frame.start_address().as_u64())
            }
            Err(UnmapError::ParentEntryHugePage) => Err(MapError::NotUser),
            Err(_) => Err(MapError::NotMapped),
        }
    }

    fn protect(&mut self, virt: u64, access: Access) -> Result<(), MapError> {
        check_user_page::<Self>(virt)?;
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
        // SAFETY: a user-half page; only its access bits change.
        match unsafe { self.mapper().update_flags(page, Self::flags(access)) } {
            Ok(flush) => {
                flush.flush();
                Ok(())
            }
            Err(_) => Err(MapError::NotMapped),
        }
    }

    fn translate(&self, virt: u64) -> Option<Translation> {
        check_user_page::<Self>(virt & !(crate::mmu::PAGE_SIZE - 1)).ok()?;
        // SAFETY: read-only walk of this space's tables.
        let mapper = unsafe { OffsetPageTable::new(table(self.pml4), VirtAddr::new(PHYS_OFFSET)) };
        match mapper.translate(VirtAddr::new(virt)) {
            TranslateResult::Mapped { frame, flags, .. } => {
                if !flags.contains(PageTableFlags::USER_ACCESSIBLE) {
                    return None;
                }
                Some(Translation {
                    phys: frame.start_address().as_u64(),
                    access: Access {
                        write: flags.contains(PageTableFlags::WRITABLE),
                        execute: !flags.contains(PageTableFlags::NO_EXECUTE),
                        device: flags.contains(PageTableFlags::NO_CACHE),
                    },
                })
            }
            _ => None,
        }
    }
}

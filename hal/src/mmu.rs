//! Arch-neutral address-space interface: what the exokernel's secure
//! bindings need from an MMU, and nothing more.
//!
//! The exokernel decides *whether* an environment may map a frame (it holds
//! a capability for it, with enough rights, W^X); an implementation of
//! [`AddressSpaceOps`] only performs the mapping. `hal::arch::*::paging`
//! implements it with real page tables; the exokernel's host tests use a
//! model of it.

use core::fmt;

/// Size of the pages environments map.
pub const PAGE_SIZE: u64 = 4096;

/// How a user page may be accessed (it is always readable).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Access {
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
    /// Device memory (MMIO): uncached, never executable.
    pub device: bool,
}

impl Access {
    /// Read-only data.
    pub const READ: Self = Self {
        write: false,
        execute: false,
        device: false,
    };
    /// Read-write data.
    pub const READ_WRITE: Self = Self {
        write: true,
        execute: false,
        device: false,
    };
    /// Read-execute code.
    pub const READ_EXECUTE: Self = Self {
        write: false,
        execute: true,
        device: false,
    };
}

/// What a mapped user page points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Physical address of the page.
    pub phys: u64,
    /// Its access rights.
    pub access: Access,
}

/// Why a mapping operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// An address is not page-aligned.
    Misaligned,
    /// The virtual address is outside the user range (kernel region or
    /// non-canonical).
    NotUser,
    /// The page is already mapped.
    AlreadyMapped,
    /// The page is not mapped.
    NotMapped,
    /// No frame was left for a page table.
    OutOfFrames,
    /// The physical address cannot be mapped (outside managed memory).
    BadFrame,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Misaligned => "address not page-aligned",
            Self::NotUser => "address outside user space",
            Self::AlreadyMapped => "page already mapped",
            Self::NotMapped => "page not mapped",
            Self::OutOfFrames => "out of frames for page tables",
            Self::BadFrame => "physical address not mappable",
        })
    }
}

/// Where page-table frames come from.
pub trait FrameSource {
    /// A zero-filled frame's physical address, or `None` when memory is
    /// exhausted.
    fn allocate_zeroed(&mut self) -> Option<u64>;
    /// Gives back a frame obtained from [`allocate_zeroed`](Self::allocate_zeroed).
    fn release(&mut self, phys: u64);
}

/// One address space's user half.
pub trait AddressSpaceOps {
    /// First user virtual address.
    const USER_START: u64;
    /// One past the last user virtual address.
    const USER_END: u64;

    /// Maps user page `virt` to frame `phys` with `access`.
    ///
    /// # Errors
    /// [`MapError::Misaligned`], [`MapError::NotUser`],
    /// [`MapError::AlreadyMapped`], [`MapError::OutOfFrames`],
    /// [`MapError::BadFrame`].
    fn map(
        &mut self,
        virt: u64,
        phys: u64,
        access: Access,
        tables: &mut dyn FrameSource,
    ) -> Result<(), MapError>;

    /// Unmaps user page `virt`, returning the frame it pointed at.
    ///
    /// # Errors
    /// [`MapError::Misaligned`], [`MapError::NotUser`],
    /// [`MapError::NotMapped`].
    fn unmap(&mut self, virt: u64) -> Result<u64, MapError>;

    /// Changes the access of mapped user page `virt`.
    ///
    /// # Errors
    /// As [`unmap`](Self::unmap).
    fn protect(&mut self, virt: u64, access: Access) -> Result<(), MapError>;

    /// What user page `virt` maps to, if anything.
    fn translate(&self, virt: u64) -> Option<Translation>;
}

/// Checks that `virt` is a page-aligned user address for `S`.
///
/// # Errors
/// [`MapError::Misaligned`] or [`MapError::NotUser`].
pub fn check_user_page<S: AddressSpaceOps>(virt: u64) -> Result<(), MapError> {
    if !virt.is_multiple_of(PAGE_SIZE) {
        return Err(MapError::Misaligned);
    }
    if virt < S::USER_START || virt >= S::USER_END {
        return Err(MapError::NotUser);
    }
    Ok(())
}

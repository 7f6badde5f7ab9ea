//! The only way the kernel touches memory an environment names: copy-in
//! and copy-out through the environment's own page tables.
//!
//! Every user pointer is checked here and nowhere else: the range must not
//! wrap, must lie entirely in the user half, and every page it touches must
//! be mapped user-accessible in the caller's address space (writable for
//! copy-out). Kernel addresses, unmapped pages, read-only pages and
//! overflowing lengths all give [`Error::BadAddress`]. The bytes are then
//! moved through the physical frames the translation names, so the kernel
//! never dereferences a user virtual address.

use exo_abi::Error;
use hal::mmu::{AddressSpaceOps, PAGE_SIZE};

use super::Platform;

/// Calls `each(phys, offset_in_buffer, len)` for every page-sized piece of
/// the user range `[va, va + len)`, after checking all of it.
fn walk<S: AddressSpaceOps>(
    space: &S,
    va: u64,
    len: usize,
    write: bool,
    mut each: impl FnMut(u64, usize, usize),
) -> Result<(), Error> {
    let len64 = u64::try_from(len).map_err(|_| Error::BadAddress)?;
    let end = va.checked_add(len64).ok_or(Error::BadAddress)?;
    if len == 0 {
        return Ok(());
    }
    if va < S::USER_START || end > S::USER_END {
        return Err(Error::BadAddress);
    }
    // Check every page before moving any byte: a failed copy has no effect.
    let first_page = va & !(PAGE_SIZE - 1);
    let mut page = first_page;
    while page < end {
        let t = space.translate(page).ok_or(Error::BadAddress)?;
        if write && !t.access.write {
            return Err(Error::BadAddress);
        }
        page += PAGE_SIZE;
    }
    let mut at = va;
    let mut done = 0usize;
    while at < end {
        let page = at & !(PAGE_SIZE - 1);
        let chunk = (page + PAGE_SIZE).min(end) - at;
        let phys = space.translate(page).ok_or(Error::BadAddress)?.phys + (at - page);
        each(phys, done, chunk as usize);
        done += chunk as usize;
        at += chunk;
    }
    Ok(())
}

/// Copies `buf.len()` bytes from user address `va` of `space` into `buf`.
///
/// # Errors
/// [`Error::BadAddress`] (nothing copied).
pub fn copy_in<P: Platform>(
    platform: &P,
    space: &P::Space,
    va: u64,
    buf: &mut [u8],
) -> Result<(), Error> {
    let len = buf.len();
    walk(space, va, len, false, |phys, offset, n| {
        platform.read_phys(phys, &mut buf[offset..offset + n]);
    })
}

/// Copies `data` to user address `va` of `space`, which must be writable.
///
/// # Errors
/// [`Error::BadAddress`] (nothing copied).
pub fn copy_out<P: Platform>(
    platform: &mut P,
    space: &P::Space,
    va: u64,
    data: &[u8],
) -> Result<(), Error> {
    walk(space, va, data.len(), true, |phys, offset, n| {
        platform.write_phys(phys, &data[offset..offset + n]);
    })
}

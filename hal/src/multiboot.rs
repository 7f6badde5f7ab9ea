//! Multiboot2 boot information → [`BootInfo`], with every malformation caught.
//!
//! GRUB hands the x86_64 kernel a pointer to a tag list. The `multiboot2`
//! crate walks the tags; this module checks what it cannot (magic, pointer
//! sanity, size bounds before the first read of the tag list) and turns the
//! tags into the protocol-neutral [`BootInfo`], recording a
//! [`BootWarning`](crate::BootWarning) for everything odd but survivable.

use crate::bootinfo::{
    AcpiRoot, BootInfo, BootModule, BootWarning, MAX_MEMORY_REGIONS, MemoryKind, MemoryRegion,
    truncated_name,
};
use core::fmt;
use multiboot2::{BootInformation, BootInformationHeader, MemoryAreaType};

/// The value a multiboot2 loader leaves in EAX.
pub const BOOTLOADER_MAGIC: u32 = 0x36d7_6289;

/// Largest boot-information block accepted. GRUB's are a few KiB; anything
/// near this is corrupt, and refusing it bounds what the parser reads.
pub const MAX_INFO_SIZE: usize = 1 << 20;

/// Why the boot information could not be used at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultibootError {
    /// EAX did not hold [`BOOTLOADER_MAGIC`]: not a multiboot2 boot.
    BadMagic(u32),
    /// The information pointer was null.
    NullPointer,
    /// The information pointer was not 8-byte aligned.
    Misaligned(usize),
    /// The header's total size is smaller than a header plus end tag, larger
    /// than [`MAX_INFO_SIZE`], or larger than the memory given.
    BadSize(u32),
    /// The tag list is malformed (a tag runs past the end, or there is no
    /// end tag).
    MalformedTags,
    /// There is no memory-map tag.
    NoMemoryMap,
    /// The memory map holds no usable RAM.
    NoUsableMemory,
}

impl fmt::Display for MultibootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic(m) => write!(
                f,
                "boot loader magic {m:#010x} is not multiboot2's {BOOTLOADER_MAGIC:#010x}"
            ),
            Self::NullPointer => write!(f, "boot information pointer is null"),
            Self::Misaligned(p) => write!(f, "boot information at {p:#x} is not 8-byte aligned"),
            Self::BadSize(s) => write!(f, "boot information size {s} is implausible"),
            Self::MalformedTags => write!(f, "boot information tags are malformed"),
            Self::NoMemoryMap => write!(f, "boot information has no memory map tag"),
            Self::NoUsableMemory => write!(f, "memory map has no usable RAM"),
        }
    }
}

/// Header plus the mandatory end tag.
const MIN_INFO_SIZE: usize = 16;

/// Reads the total size from the fixed header at `address`, after checking
/// the pointer itself.
///
/// # Safety
/// If `address` is non-null and 8-byte aligned, the 8 bytes there must be
/// readable.
pub unsafe fn info_size(address: usize) -> Result<usize, MultibootError> {
    if address == 0 {
        return Err(MultibootError::NullPointer);
    }
    if !address.is_multiple_of(8) {
        return Err(MultibootError::Misaligned(address));
    }
    // SAFETY: the caller guarantees the aligned header is readable.
    let size = unsafe { core::ptr::read_volatile(address as *const u32) };
    check_size(size, usize::MAX)
}

fn check_size(size: u32, available: usize) -> Result<usize, MultibootError> {
    let len = size as usize;
    if !(MIN_INFO_SIZE..=MAX_INFO_SIZE).contains(&len) || len > available {
        return Err(MultibootError::BadSize(size));
    }
    Ok(len)
}

/// Parses the boot information held in `bytes`, which must start on an
/// 8-byte boundary (it is the loader's block, or a test's copy of one).
///
/// `physical_address` is where the block sits in physical memory, recorded
/// so the frame allocator can keep it.
///
/// # Errors
/// A [`MultibootError`] when the block cannot describe a bootable machine.
pub fn parse(magic: u32, bytes: &[u8], physical_address: u64) -> Result<BootInfo, MultibootError> {
    if magic != BOOTLOADER_MAGIC {
        return Err(MultibootError::BadMagic(magic));
    }
    let ptr = bytes.as_ptr();
    if !ptr.addr().is_multiple_of(8) {
        return Err(MultibootError::Misaligned(ptr.addr()));
    }
    let Some(size_bytes) = bytes.first_chunk::<4>() else {
        return Err(MultibootError::BadSize(0));
    };
    let len = check_size(u32::from_ne_bytes(*size_bytes), bytes.len())?;
    check_tags(&bytes[..len])?;
    // SAFETY: `ptr` is 8-byte aligned, and the header says the block is
    // `len` bytes, which we checked lies within `bytes`; the crate reads no
    // further than the header's size.
    let mbi = unsafe { BootInformation::load(ptr.cast::<BootInformationHeader>()) }
        .map_err(|_| MultibootError::MalformedTags)?;
    from_tags(&mbi, physical_address, len as u64)
}

/// Smallest size of each tag the kernel reads, by tag type. The `multiboot2`
/// crate asserts on these (a panic, not an error), so they are checked first.
fn minimum_tag_size(typ: u32) -> usize {
    match typ {
        1 | 2 => 8 + 1, // command line, boot loader name: at least the NUL
        3 => 8 + 8 + 1, // module: start, end, name
        6 => 8 + 8,     // memory map: entry size and version
        14 => 8 + 20,   // RSDP v1 copy
        15 => 8 + 36,   // RSDP v2 copy
        _ => 8,
    }
}

/// Size of a multiboot2 memory-map entry, the only one the crate models.
const MEMORY_AREA_SIZE: usize = 24;

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let chunk = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(chunk.try_into().ok()?))
}

/// Walks the tag list once, checking every tag stays within the block, the
/// tags the kernel reads are big enough, and an end tag closes the list.
fn check_tags(block: &[u8]) -> Result<(), MultibootError> {
    let mut at = 8;
    loop {
        let typ = read_u32(block, at).ok_or(MultibootError::MalformedTags)?;
        let size = read_u32(block, at + 4).ok_or(MultibootError::MalformedTags)? as usize;
        if size < minimum_tag_size(typ) || size > block.len() - at {
            return Err(MultibootError::MalformedTags);
        }
        if typ == 0 {
            return if size == 8 {
                Ok(())
            } else {
                Err(MultibootError::MalformedTags)
            };
        }
        if typ == 6 {
            let entry_size = read_u32(block, at + 8).ok_or(MultibootError::MalformedTags)?;
            if entry_size as usize != MEMORY_AREA_SIZE
                || !(size - 16).is_multiple_of(MEMORY_AREA_SIZE)
            {
                return Err(MultibootError::MalformedTags);
            }
        }
        at += size.next_multiple_of(8);
    }
}

fn from_tags(
    mbi: &BootInformation<'_>,
    physical_address: u64,
    len: u64,
) -> Result<BootInfo, MultibootError> {
    let mut info = BootInfo {
        info_range: (physical_address, physical_address.saturating_add(len)),
        ..BootInfo::default()
    };

    match mbi.command_line_tag().map(|t| t.cmdline()) {
        None => info.warn(BootWarning::NoCommandLine),
        Some(Err(_)) => info.warn(BootWarning::CommandLineNotUtf8),
        Some(Ok(line)) => info.set_command_line(line),
    }
    if let Some(Ok(name)) = mbi.boot_loader_name_tag().map(|t| t.name()) {
        info.boot_loader = truncated_name(name);
    }

    let areas = mbi
        .memory_map_tag()
        .ok_or(MultibootError::NoMemoryMap)?
        .memory_areas();
    if areas.len() > MAX_MEMORY_REGIONS {
        info.warn(BootWarning::MemoryMapTruncated {
            entries: areas.len(),
        });
    }
    for area in areas.iter().take(MAX_MEMORY_REGIONS) {
        let (start, len) = (area.start_address(), area.size());
        if len == 0 || start.checked_add(len).is_none() {
            info.warn(BootWarning::BogusMemoryRegion { start });
            continue;
        }
        let kind = match area.typ() {
            MemoryAreaType::Available => MemoryKind::Usable,
            MemoryAreaType::AcpiAvailable => MemoryKind::AcpiReclaimable,
            MemoryAreaType::ReservedHibernate => MemoryKind::AcpiNvs,
            MemoryAreaType::Defective => MemoryKind::Defective,
            _ => MemoryKind::Reserved,
        };
        // Cannot overflow: at most MAX_MEMORY_REGIONS iterations.
        info.memory.push(MemoryRegion { start, len, kind });
    }
    if info.usable_bytes() == 0 {
        return Err(MultibootError::NoUsableMemory);
    }

    for module in mbi.module_tags() {
        let (start, end) = (
            u64::from(module.start_address()),
            u64::from(module.end_address()),
        );
        if end < start {
            info.warn(BootWarning::BogusModule { start });
            continue;
        }
        let name = truncated_name(module.cmdline().unwrap_or("<non-UTF-8 name>"));
        if info
            .modules
            .try_push(BootModule { start, end, name })
            .is_err()
        {
            info.warn(BootWarning::TooManyModules);
            break;
        }
    }

    info.acpi = if let Some(rsdp) = mbi.rsdp_v2_tag() {
        if !rsdp.checksum_is_valid() {
            info.warn(BootWarning::AcpiChecksum);
        }
        Some(AcpiRoot {
            revision: rsdp.revision(),
            sdt_address: rsdp.xsdt_address() as u64,
        })
    } else if let Some(rsdp) = mbi.rsdp_v1_tag() {
        if !rsdp.checksum_is_valid() {
            info.warn(BootWarning::AcpiChecksum);
        }
        Some(AcpiRoot {
            revision: 0,
            sdt_address: rsdp.rsdt_address() as u64,
        })
    } else {
        info.warn(BootWarning::NoAcpi);
        None
    };
    Ok(info)
}

#[cfg(test)]
mod tests;

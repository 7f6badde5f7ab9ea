//! Everything the kernel asks of UEFI before leaving it: the command line,
//! the device tree, where the image lies, the memory map.

use crate::DeviceTree;
use arrayvec::{ArrayString, ArrayVec};
use core::fmt;
use hal::arch::aarch64::image::{ImageError, ImageLayout};
use hal::bootinfo::{MAX_COMMAND_LINE, MAX_NAME};
use hal::fdt::{self, FdtError};
use uefi::boot::{self, AllocateType, MemoryType};
use uefi::mem::memory_map::MemoryMap;
use uefi::proto::loaded_image::LoadedImage;
use uefi::proto::media::file::{File, FileAttribute, FileMode};
use uefi::{Guid, cstr16, guid};

/// The device tree's configuration-table GUID (`EFI_DTB_TABLE_GUID`).
pub const DTB_GUID: Guid = guid!("b1b621d5-f19c-41a5-830b-d9152c69aae0");

/// Where the command line is read from, on the volume the image was
/// loaded from.
pub const COMMAND_LINE_FILE: &str = "\\EFI\\exo\\cmdline.txt";

/// Most UEFI memory-map entries looked at (firmware maps have 50–150).
pub const MAX_MAP_ENTRIES: usize = 512;

/// Why there is no device tree.
#[derive(Clone, Copy, Debug)]
pub enum DeviceTreeError {
    /// No configuration-table entry with [`DTB_GUID`].
    NotInConfigurationTable,
    /// The blob is malformed.
    Malformed(FdtError),
    /// No pages for the kernel's copy.
    NoMemory,
}

impl fmt::Display for DeviceTreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInConfigurationTable => write!(
                f,
                "no device tree in the EFI configuration table (on QEMU use -M virt,acpi=off; \
                 on a Raspberry Pi set the firmware to Device Tree mode)"
            ),
            Self::Malformed(e) => write!(f, "{e}"),
            Self::NoMemory => write!(f, "no memory for a copy of the device tree"),
        }
    }
}

/// Finds, checks and copies the device tree.
///
/// # Errors
/// See [`DeviceTreeError`].
pub fn device_tree() -> Result<DeviceTree, DeviceTreeError> {
    let address = uefi::system::with_config_table(|entries| {
        entries
            .iter()
            .find(|e| e.guid == DTB_GUID)
            .map(|e| e.address as usize)
    })
    .filter(|&a| a != 0)
    .ok_or(DeviceTreeError::NotInConfigurationTable)?;
    // SAFETY: the firmware published a device tree here; its first 8 bytes
    // (magic, total size) are readable whatever the blob holds.
    let head = unsafe { core::slice::from_raw_parts(address as *const u8, 8) };
    let size = fdt::total_size(head).map_err(DeviceTreeError::Malformed)?;
    // SAFETY: the header says the blob spans `size` bytes (at most
    // fdt::MAX_TOTAL_SIZE), which the firmware keeps mapped and unchanged
    // while boot services run.
    let blob = unsafe { core::slice::from_raw_parts(address as *const u8, size) };
    fdt::header(blob).map_err(DeviceTreeError::Malformed)?;
    let pages = size.div_ceil(4096);
    let copy = boot::allocate_pages(AllocateType::AnyPages, MemoryType::LOADER_DATA, pages)
        .map_err(|_| DeviceTreeError::NoMemory)?;
    // SAFETY: `allocate_pages` gave `pages` fresh pages of loader data,
    // which nothing else uses and which stay reserved after
    // ExitBootServices (hal::efi::memory_kind), so the slice may live
    // forever.
    let out: &'static mut [u8] =
        unsafe { core::slice::from_raw_parts_mut(copy.as_ptr(), pages * 4096) };
    let len = fdt::compact_into(blob, out).map_err(DeviceTreeError::Malformed)?;
    Ok(DeviceTree {
        blob: &out[..len],
        firmware: (address as u64, size),
    })
}

/// The first line of [`COMMAND_LINE_FILE`], or `None` when there is none.
pub fn command_line() -> Option<ArrayString<MAX_COMMAND_LINE>> {
    let mut fs = boot::get_image_file_system(boot::image_handle()).ok()?;
    let mut root = fs.open_volume().ok()?;
    let file = root
        .open(
            cstr16!("\\EFI\\exo\\cmdline.txt"),
            FileMode::Read,
            FileAttribute::empty(),
        )
        .ok()?;
    let mut file = file.into_regular_file()?;
    let mut buf = [0u8; MAX_COMMAND_LINE];
    let n = file.read(&mut buf).ok()?;
    let text = core::str::from_utf8(&buf[..n]).ok()?;
    let line = text.lines().next().unwrap_or("").trim();
    let mut out = ArrayString::new();
    let _ = out.try_push_str(line);
    Some(out)
}

/// The loaded image: (first byte, one past the last).
pub fn image_range() -> (u64, u64) {
    boot::open_protocol_exclusive::<LoadedImage>(boot::image_handle())
        .map(|image| {
            let (base, size) = image.info();
            (base as u64, base as u64 + size)
        })
        .unwrap_or((0, 0))
}

/// The loaded image's sections, from the PE/COFF headers the loader
/// placed at its base.
///
/// # Errors
/// When the headers are not there or do not allow W^X
/// ([`ImageError`]).
pub fn image_layout(image: (u64, u64)) -> Result<ImageLayout, ImageError> {
    let (base, end) = image;
    if base == 0 || end <= base {
        return Err(ImageError::NotPe);
    }
    let len = usize::try_from((end - base).min(4096)).unwrap_or(0);
    // SAFETY: the loader mapped the whole image, headers first, at `base`,
    // and nothing writes them; only the first page (or less) is read.
    let headers = unsafe { core::slice::from_raw_parts(base as usize as *const u8, len) };
    ImageLayout::parse(headers, base)
}

/// `UEFI <vendor> <revision>`.
pub fn firmware_name() -> ArrayString<MAX_NAME> {
    let mut name = ArrayString::new();
    let _ = name.try_push_str("UEFI ");
    for c in uefi::system::firmware_vendor().iter() {
        if name.try_push(char::from(*c)).is_err() {
            break;
        }
    }
    let _ = fmt::write(
        &mut name,
        format_args!(" {:#x}", uefi::system::firmware_revision()),
    );
    name
}

/// One memory-map entry in raw UEFI numbers.
#[derive(Clone, Copy, Debug)]
pub struct MapEntry {
    /// UEFI memory type.
    pub kind: u32,
    /// First byte.
    pub start: u64,
    /// 4 KiB pages.
    pub pages: u64,
    /// Attribute bits.
    pub attribute: u64,
}

/// Leaves boot services; returns the final memory map sorted by address
/// and how many entries it had.
///
/// # Safety
/// Nothing may use boot services, protocols or the UEFI console afterwards.
pub unsafe fn exit_boot_services() -> (ArrayVec<MapEntry, MAX_MAP_ENTRIES>, usize) {
    // SAFETY: the caller's contract.
    let map = unsafe { boot::exit_boot_services(Some(MemoryType::LOADER_DATA)) };
    let mut entries = ArrayVec::new();
    let mut total = 0;
    for d in map.entries() {
        total += 1;
        let _ = entries.try_push(MapEntry {
            kind: d.ty.0,
            start: d.phys_start,
            pages: d.page_count,
            attribute: d.att.bits(),
        });
    }
    entries.sort_unstable_by_key(|e| e.start);
    // The map lives in loader data, reserved: leaking it is fine.
    core::mem::forget(map);
    (entries, total)
}

/// The list of environments to start, on the volume the image was loaded
/// from: one line per module, its program name (a file in
/// [`MODULE_DIRECTORY`]) and then its manifest, as GRUB's `module2` lines
/// are on x86_64.
pub const MODULE_LIST_FILE: &str = "\\EFI\\exo\\modules.txt";
/// Where the programs [`MODULE_LIST_FILE`] names are.
pub const MODULE_DIRECTORY: &str = "\\EFI\\exo\\modules\\";
/// Largest module accepted (the x86_64 GRUB path has no limit, but a
/// program bigger than this is surely a mistake on the ESP).
pub const MAX_MODULE_BYTES: u64 = 64 << 20;

/// Why a module was not loaded.
#[derive(Clone, Copy, Debug)]
pub enum ModuleError {
    /// The name does not fit a UEFI path.
    BadName,
    /// The file is missing or unreadable.
    Unreadable,
    /// Empty or above [`MAX_MODULE_BYTES`].
    BadSize(u64),
    /// No pages for it.
    NoMemory,
    /// More modules than the boot information holds.
    TooMany,
}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadName => write!(f, "name too long or not a plain file name"),
            Self::Unreadable => write!(f, "missing or unreadable in {MODULE_DIRECTORY}"),
            Self::BadSize(n) => write!(f, "size {n} is empty or above {MAX_MODULE_BYTES}"),
            Self::NoMemory => write!(f, "no memory to load it"),
            Self::TooMany => write!(f, "too many modules"),
        }
    }
}

/// Loads every module [`MODULE_LIST_FILE`] names into loader-data pages
/// (reserved after `ExitBootServices`, so the frame allocator leaves them
/// alone) and records them in `info`; `report` hears about each failure.
/// No list file means no modules.
pub fn load_modules(info: &mut hal::BootInfo, mut report: impl FnMut(&str, ModuleError)) {
    let Ok(mut fs) = boot::get_image_file_system(boot::image_handle()) else {
        return;
    };
    let Ok(mut root) = fs.open_volume() else {
        return;
    };
    let mut list = [0u8; 2048];
    let n = root
        .open(
            cstr16!("\\EFI\\exo\\modules.txt"),
            FileMode::Read,
            FileAttribute::empty(),
        )
        .ok()
        .and_then(|f| f.into_regular_file())
        .and_then(|mut f| f.read(&mut list).ok())
        .unwrap_or(0);
    let text = core::str::from_utf8(&list[..n]).unwrap_or("");
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let program = line.split_ascii_whitespace().next().unwrap_or("");
        match load_module(&mut root, program) {
            Ok((start, end)) => {
                let mut name = ArrayString::new();
                let _ = name.try_push_str(line.get(..MAX_NAME).unwrap_or(line));
                if info
                    .modules
                    .try_push(hal::BootModule { start, end, name })
                    .is_err()
                {
                    report(program, ModuleError::TooMany);
                }
            }
            Err(e) => report(program, e),
        }
    }
}

fn load_module(
    root: &mut uefi::proto::media::file::Directory,
    program: &str,
) -> Result<(u64, u64), ModuleError> {
    if program.is_empty() || program.contains(['\\', '/']) || program.starts_with('.') {
        return Err(ModuleError::BadName);
    }
    let mut path = ArrayString::<128>::new();
    path.try_push_str(MODULE_DIRECTORY)
        .and_then(|()| path.try_push_str(program))
        .map_err(|_| ModuleError::BadName)?;
    let mut wide = [0u16; 129];
    let path =
        uefi::CStr16::from_str_with_buf(&path, &mut wide).map_err(|_| ModuleError::BadName)?;
    let mut file = root
        .open(path, FileMode::Read, FileAttribute::empty())
        .ok()
        .and_then(|f| f.into_regular_file())
        .ok_or(ModuleError::Unreadable)?;
    file.set_position(uefi::proto::media::file::RegularFile::END_OF_FILE)
        .map_err(|_| ModuleError::Unreadable)?;
    let size = file.get_position().map_err(|_| ModuleError::Unreadable)?;
    if size == 0 || size > MAX_MODULE_BYTES {
        return Err(ModuleError::BadSize(size));
    }
    file.set_position(0).map_err(|_| ModuleError::Unreadable)?;
    let pages = size.div_ceil(4096) as usize;
    let at = boot::allocate_pages(AllocateType::AnyPages, MemoryType::LOADER_DATA, pages)
        .map_err(|_| ModuleError::NoMemory)?;
    // SAFETY: `allocate_pages` gave `pages` fresh pages that nothing else
    // uses; they stay reserved after ExitBootServices.
    let buf: &mut [u8] = unsafe { core::slice::from_raw_parts_mut(at.as_ptr(), size as usize) };
    let mut done = 0;
    while done < buf.len() {
        match file.read(&mut buf[done..]) {
            Ok(0) | Err(_) => return Err(ModuleError::Unreadable),
            Ok(n) => done += n,
        }
    }
    let start = at.as_ptr() as u64;
    Ok((start, start + size))
}

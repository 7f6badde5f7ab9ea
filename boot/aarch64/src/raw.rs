//! The second way in: the same kernel as a raw arm64 `Image`, for boards
//! and machines that start a kernel directly with a device tree instead of
//! through UEFI — QEMU's `raspi4b` (`-kernel`, `-dtb`) and the Raspberry
//! Pi firmware itself (`kernel=` in `config.txt`).
//!
//! The image starts with the 64-byte header of Linux's arm64 boot protocol
//! (`Documentation/arch/arm64/booting.rst`: a branch, `text_offset`,
//! `image_size`, flags, the `ARM\x64` magic), so loaders place it at RAM
//! base + 0x80000 — where it is linked (`raw.ld`) — and enter it with the
//! MMU off, `x0` = the device tree, at EL2 or EL1.
//!
//! Two stages, because with the MMU off every data access is Device memory
//! and an unaligned one faults, which ordinary Rust code (the device-tree
//! parser, `core::fmt`) cannot promise to avoid:
//! 1. [`raw_start`], straight from the entry code with the MMU off, only
//!    builds an early identity map — the gigabytes holding the image and the
//!    device tree as Normal memory with the image's W^X, everything else as
//!    Device memory — and enters EL1 with it ([`mmu::enter_el1`]).
//! 2. [`raw_main`] then does what `efi_main` does with firmware services:
//!    reads the platform, the command line (`/chosen/bootargs`) and memory
//!    (`/memory` minus `/memreserve/` and `/reserved-memory`) from the
//!    device tree, attaches the console at once, and hands the kernel's own
//!    map to [`crate::map_and_enter`].

use crate::console::BOOT_CONSOLE;
use crate::{BootPath, BootState, DeviceTree, arch_options};
use arrayvec::{ArrayString, ArrayVec};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use exokernel::cmdline;
use exokernel::klog;
use hal::arch::aarch64::image::{Access, ImageLayout};
use hal::arch::aarch64::mmu::{self, EntryLevel};
use hal::arch::aarch64::tables::{self, IdentityMap};
use hal::arch::aarch64::uart::Attached;
use hal::arch::aarch64::{cpu, exit};
use hal::bootinfo::{BootWarning, MAX_COMMAND_LINE, MemoryKind, MemoryRegion};
use hal::fdt;
use hal::platform::Platform;
use hal::{BootInfo, ExitCode};
use log::{info, warn};
use spin::Once;

/// Where loaders put the image: RAM base + this (the header's
/// `text_offset`; `raw.ld` links the image here on a board whose RAM starts
/// at 0, as the Raspberry Pis' does).
pub const TEXT_OFFSET: u64 = 0x8_0000;

/// The stack of both stages (the kernel proper moves to its own).
const RAW_STACK_BYTES: usize = 64 * 1024;

#[repr(C, align(16))]
struct RawStack(UnsafeCell<[u8; RAW_STACK_BYTES]>);

// SAFETY: only the boot CPU uses it, and only as its stack.
unsafe impl Sync for RawStack {}

static RAW_STACK: RawStack = RawStack(UnsafeCell::new([0; RAW_STACK_BYTES]));

struct MapCell(UnsafeCell<IdentityMap>);

// SAFETY: written once by `raw_start` before the MMU uses it, then only
// read by the MMU until `raw_main` leaves it for the kernel's map.
unsafe impl Sync for MapCell {}

static EARLY_MAP: MapCell = MapCell(UnsafeCell::new(IdentityMap::new()));

/// Largest device tree taken (the Raspberry Pis' are 27–40 KiB).
const TREE_BYTES: usize = 256 * 1024;

struct TreeCell(UnsafeCell<[u8; TREE_BYTES]>);

// SAFETY: written once by `raw_main` before anything reads it, then only
// read.
unsafe impl Sync for TreeCell {}

/// The kernel's compacted copy of the loader's device tree (loaders edit
/// trees in place and leave NOP tokens, as QEMU does when it disables the
/// nodes it does not emulate).
static TREE_COPY: TreeCell = TreeCell(UnsafeCell::new([0; TREE_BYTES]));

/// The exception level the loader entered the image at.
static ENTRY_EL: AtomicU64 = AtomicU64::new(0);

/// The console `raw_main` attached, for `kernel_main` to report.
pub static EARLY_CONSOLE: Once<Attached> = Once::new();

// The header, then the entry: keep the device tree in x19, untrap FP/SIMD
// (Rust code uses it) at the level we run at, zero `.bss` with aligned
// stores (the MMU is off: Device memory), take the raw stack and call
// `raw_start(device tree)`. Flags 0xa: little-endian, 4 KiB pages, may be
// placed anywhere in RAM (bit 3).
core::arch::global_asm!(
    ".section .text.head, \"ax\"",
    ".global _start",
    "_start:",
    "b 1f",
    ".word 0",
    ".quad {text_offset}",
    ".quad __image_size",
    ".quad 0xa",
    ".quad 0",
    ".quad 0",
    ".quad 0",
    ".ascii \"ARM\\x64\"",
    ".word 0",
    "1:",
    "mov x19, x0",
    "mrs x9, CurrentEL",
    "lsr x9, x9, #2",
    "cmp x9, #2",
    "b.ne 2f",
    "mov x10, #0x33ff",
    "msr cptr_el2, x10",
    "2:",
    "mov x10, #(3 << 20)",
    "msr cpacr_el1, x10",
    "isb",
    "adrp x9, __bss_start",
    "add x9, x9, :lo12:__bss_start",
    "adrp x10, __bss_end",
    "add x10, x10, :lo12:__bss_end",
    "3:",
    "cmp x9, x10",
    "b.hs 4f",
    "stp xzr, xzr, [x9], #16",
    "b 3b",
    "4:",
    "adrp x9, {stack}",
    "add x9, x9, :lo12:{stack}",
    "mov x10, #{stack_bytes}",
    "add sp, x9, x10",
    "mov x29, xzr",
    "mov x30, xzr",
    "mov x0, x19",
    "bl {start}",
    "5:",
    "wfe",
    "b 5b",
    text_offset = const TEXT_OFFSET,
    stack = sym RAW_STACK,
    stack_bytes = const RAW_STACK_BYTES,
    start = sym raw_start,
);

unsafe extern "C" {
    static __image_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __image_end: u8;
}

/// The image's sections from the linker script's symbols: code, constants,
/// then data and `.bss` (the stacks and page tables), each page-aligned.
fn layout() -> Option<ImageLayout> {
    let address = |s: &u8| core::ptr::from_ref(s) as u64;
    // SAFETY: only the addresses of the linker's symbols are taken.
    let (start, text, rodata, end) = unsafe {
        (
            address(&__image_start),
            address(&__text_end),
            address(&__rodata_end),
            address(&__image_end),
        )
    };
    ImageLayout::from_sections(
        start,
        end,
        &[
            (*b".text\0\0\0", start, text, Access::Execute),
            (*b".rodata\0", text, rodata, Access::ReadOnly),
            (*b".data\0\0\0", rodata, end, Access::ReadWrite),
        ],
    )
    .ok()
}

/// The device tree's extent, when `address` points at one (read with
/// aligned 32-bit loads only: the MMU is still off).
fn tree_size(address: u64) -> Option<usize> {
    if address == 0 || !address.is_multiple_of(8) {
        return None;
    }
    // SAFETY: the boot protocol puts the device tree at x0; its first 8
    // bytes (magic, total size) are readable whatever the blob holds, and
    // the address is 8-byte aligned.
    let head = unsafe { core::slice::from_raw_parts(address as usize as *const u8, 8) };
    fdt::total_size(head).ok()
}

/// Stage 1, with the MMU off; see the module documentation.
extern "C" fn raw_start(tree: u64) -> ! {
    crate::ENTRY_COUNT.store(cpu::counter(), Ordering::Relaxed);
    ENTRY_EL.store(u64::from(cpu::current_el()), Ordering::Relaxed);
    let Some(layout) = layout() else {
        exit::exit(ExitCode::Failure)
    };
    let mut ram = ArrayVec::<(u64, u64), 2>::new();
    ram.push((layout.base, layout.end));
    if let Some(size) = tree_size(tree) {
        ram.push((tree, tree.saturating_add(size as u64)));
    }
    // SAFETY: the map is written only here, before the MMU uses it.
    let map = unsafe { &mut *EARLY_MAP.0.get() };
    map.build(&ram, &[], tables::pa_bits(cpu::pa_range()));
    if map.protect_image(&layout).is_err() {
        exit::exit(ExitCode::Failure)
    }
    let stack_top = RAW_STACK.0.get() as u64 + RAW_STACK_BYTES as u64;
    if mmu::el2_uses_vhe() {
        exit::exit(ExitCode::Failure)
    }
    // SAFETY: the early map covers the image (with this code executable
    // and `raw_main`'s, the raw stack writable) and the device tree as
    // Normal memory; it lives in a static and is not changed again. This
    // stage's frames on the raw stack are abandoned: nothing reads them
    // after the switch. VHE was refused above.
    unsafe { mmu::enter_el1(&*EARLY_MAP.0.get(), stack_top, raw_main, tree) }
}

/// `/chosen/bootargs`, the loader's command line (QEMU's `-append`, the
/// Raspberry Pi firmware's `cmdline.txt`).
fn bootargs(blob: &[u8]) -> Option<ArrayString<MAX_COMMAND_LINE>> {
    let tree = fdt::open(blob).ok()?;
    let line = tree.chosen().bootargs()?;
    let mut out = ArrayString::new();
    let _ = out.try_push_str(line.trim().get(..MAX_COMMAND_LINE).unwrap_or(line.trim()));
    Some(out)
}

/// Stage 2, at EL1 on the early map; see the module documentation.
extern "C" fn raw_main(address: u64) -> ! {
    BOOT_CONSOLE.leave_firmware();
    klog::init(&BOOT_CONSOLE, crate::uptime_us, cmdline::LogLevel::Info);
    let el = u8::try_from(ENTRY_EL.load(Ordering::Relaxed)).unwrap_or(0);
    info!(
        "exo {} (aarch64): {} at EL{el}, device tree at {address:#x}",
        exokernel::VERSION,
        BootPath::RawImage.first_line()
    );
    let Some(size) = tree_size(address) else {
        crate::fail_boot(format_args!(
            "no device tree at {address:#x} (x0 at entry): boot with one (QEMU -dtb)"
        ))
    };
    // SAFETY: the loader left a device tree of `size` bytes here (checked by
    // `compact_into` before anything else reads it) and the early map maps
    // it; it is only read, and only here.
    let loaders: &[u8] =
        unsafe { core::slice::from_raw_parts(address as usize as *const u8, size) };
    // SAFETY: only this call, once, ever writes the copy; it is read-only
    // from here on.
    let copy = unsafe { &mut *TREE_COPY.0.get() };
    let blob: &'static [u8] = match fdt::compact_into(loaders, copy) {
        Ok(len) => &copy[..len],
        Err(e) => crate::fail_boot(format_args!("device tree at {address:#x}: {e}")),
    };
    let platform = match Platform::parse(blob) {
        Ok(platform) => platform,
        Err(e) => crate::fail_boot(format_args!("device tree: {e}")),
    };
    // The early map maps everything but RAM as Device memory, so the
    // console can come up now instead of at `kernel_main`.
    if let Some(attached) = crate::bringup::attach_console(&platform) {
        EARLY_CONSOLE.call_once(|| attached);
    }

    let mut info = BootInfo::default();
    let _ = info
        .boot_loader
        .try_push_str("device tree (raw arm64 Image)");
    match bootargs(blob) {
        Some(line) => info.set_command_line(&line),
        None => info.warn(BootWarning::NoCommandLine),
    }
    let (kernel_line, arch) = arch_options(&info.command_line);
    let options = crate::parse_options(&kernel_line);
    info!(
        "command line '{}' (from /chosen/bootargs)",
        info.command_line.get(..80).unwrap_or(&info.command_line)
    );
    platform.summary(|line| info!("DT: {line}"));
    for w in &platform.warnings {
        warn!("DT: {w}");
    }
    if platform.dropped_warnings > 0 {
        warn!("DT: {} more warnings", platform.dropped_warnings);
    }
    exit::configure(platform.psci.as_ref(), arch.semihosting);

    // Memory: `/memory`, less what the tree reserves.
    let mut ram = ArrayVec::<(u64, u64), { hal::platform::MAX_MEMORY_RANGES }>::new();
    for r in &platform.memory {
        let _ = ram.try_push((r.base, r.end()));
        let _ = info.memory.try_push(MemoryRegion {
            start: r.base,
            len: r.size,
            kind: MemoryKind::Usable,
        });
    }
    let mut reserved = ArrayVec::new();
    for r in &platform.reserved {
        info!(
            "memory reserved by the device tree: {:#x}..{:#x}",
            r.base,
            r.end()
        );
        let _ = reserved.try_push((r.base, r.end()));
    }
    // The copy lies in the image; the loader's blob is left alone too (it
    // is the loader's, and may be what a later stage hands on).
    info.info_range = (address, address + size as u64);
    let Some(layout) = layout() else {
        crate::fail_boot(format_args!(
            "the linker script's section symbols are not page-aligned"
        ))
    };
    let image = (layout.base, layout.end);
    info!(
        "image {:#x}..{:#x}; {} MiB of RAM in /memory",
        image.0,
        image.1,
        info.usable_bytes() >> 20
    );
    let entered_at = if el == 2 {
        EntryLevel::El2
    } else {
        EntryLevel::El1
    };
    let state = BootState {
        path: BootPath::RawImage,
        info,
        options,
        semihosting: arch.semihosting,
        fault: arch.fault,
        platform,
        device_tree: DeviceTree {
            blob,
            firmware: (address, size),
        },
        image,
        layout,
        protection: Default::default(),
        entered_at,
        map: Default::default(),
        map_entries: 0,
        reserved,
    };
    crate::map_and_enter(state, &ram, el)
}

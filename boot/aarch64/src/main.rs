//! exo's aarch64 kernel image: a UEFI application that becomes the kernel,
//! or (built for `aarch64-unknown-none`) a raw arm64 `Image` that a loader
//! starts directly with a device tree ([`raw`]).
//!
//! One image (`BOOTAA64.EFI`) does both jobs. `efi_main` runs as a UEFI
//! application: it logs through the UEFI console, reads the command line
//! from the ESP, finds the device tree in the EFI configuration table,
//! copies it and reads the platform from it (console, GIC, timer, PSCI,
//! memory), exits boot services, converts the memory map, builds the
//! kernel's identity map (W^X for the image's own sections) and enters
//! [`kernel_main`] at EL1 on the kernel's own stack (dropping from EL2 when
//! the firmware ran there). The kernel then installs its exception
//! vectors, attaches the device tree's UART (replaying what was logged
//! while there was no console), probes and sets up the GIC, starts the
//! generic-timer tick, builds the frame allocator, the heap and the
//! capability space, prints the boot marker and runs the self-tests when
//! the command line says `test`.
#![no_std]
#![no_main]

extern crate alloc;

mod bringup;
mod caps;
mod console;
#[cfg(target_os = "uefi")]
mod efi;
mod envs;
mod heap;
mod memory;
#[cfg(not(target_os = "uefi"))]
mod raw;
mod selftest;

use arrayvec::{ArrayString, ArrayVec};
use console::Writer;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use exokernel::cap::{CapSpace, RootAuthority};
use exokernel::cmdline::{self, Crash, Options};
use exokernel::entropy::Drbg;
use exokernel::klog;
use hal::arch::aarch64::gic::{GicProbe, GicSetup};
use hal::arch::aarch64::image::ImageLayout;
use hal::arch::aarch64::mmu::{self, EntryLevel};
use hal::arch::aarch64::tables::{self, IdentityMap, ImageReport, MapReport};
use hal::arch::aarch64::uart::Attached;
use hal::arch::aarch64::{cpu, exceptions, exit};
use hal::bootinfo::MAX_COMMAND_LINE;
use hal::platform::{self, Gic, MemoryCheck, Platform};
use hal::{BootInfo, ExitCode};
use log::{error, info, warn};
use spin::Once;

/// Command-line warnings printed one by one; the rest are counted.
const MAX_OPTION_WARNINGS: usize = 8;

/// The word that allows semihosting exits; `cargo xtask` passes it exactly
/// when it starts QEMU with `-semihosting`. Taken out before the rest of
/// the line goes to `exokernel::cmdline`.
const SEMIHOSTING_OPTION: &str = "semihosting";

/// Counter value at the first instruction of `efi_main` (or `raw_start`).
static ENTRY_COUNT: AtomicU64 = AtomicU64::new(0);

/// Whether boot services are still there.
#[cfg(target_os = "uefi")]
static IN_FIRMWARE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(true);

/// The kernel's stack from `kernel_main` on (the firmware's lies in
/// boot-services memory, which becomes free RAM).
const STACK_BYTES: usize = 256 * 1024;

#[repr(C, align(16))]
struct Stack(UnsafeCell<[u8; STACK_BYTES]>);

// SAFETY: only the boot CPU uses the stack, and only as its stack.
unsafe impl Sync for Stack {}

static KERNEL_STACK: Stack = Stack(UnsafeCell::new([0; STACK_BYTES]));

struct MapCell(UnsafeCell<IdentityMap>);

// SAFETY: written once by `efi_main` before the MMU uses it, then only read.
unsafe impl Sync for MapCell {}

static IDENTITY_MAP: MapCell = MapCell(UnsafeCell::new(IdentityMap::new()));

/// The kernel's copy of the device tree (NOP tokens and free space removed
/// under UEFI; the loader's blob in place on the raw path), and where the
/// firmware's was.
#[derive(Clone, Copy, Debug)]
pub struct DeviceTree {
    /// The blob the kernel reads, reserved for its lifetime.
    pub blob: &'static [u8],
    /// The firmware's blob: (address, total size).
    pub firmware: (u64, usize),
}

/// How the kernel was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootPath {
    /// As a UEFI application (`BOOTAA64.EFI`).
    Uefi,
    /// As a raw arm64 `Image`, by a loader passing a device tree.
    RawImage,
}

impl BootPath {
    /// The words of the first log line on this path.
    pub const fn first_line(self) -> &'static str {
        match self {
            Self::Uefi => "UEFI application started",
            Self::RawImage => "raw image started",
        }
    }
}

/// Most ranges the device tree may reserve besides the image and itself.
pub const MAX_RESERVED: usize = 16;

/// What the boot phase (UEFI or raw) learned, for the kernel and the
/// self-tests.
#[derive(Debug)]
pub struct BootState {
    /// How the kernel was started.
    pub path: BootPath,
    /// Memory map, command line, firmware name.
    pub info: BootInfo,
    /// The kernel options.
    pub options: Options,
    /// Whether `semihosting` was on the command line.
    pub semihosting: bool,
    /// `fault=`, if given.
    pub fault: Option<WxFault>,
    /// The platform from the device tree.
    pub platform: Platform,
    /// The kernel's copy of the device tree.
    pub device_tree: DeviceTree,
    /// The loaded image.
    pub image: (u64, u64),
    /// Its sections.
    pub layout: ImageLayout,
    /// How W^X mapped them.
    pub protection: ImageReport,
    /// Where the kernel left the firmware.
    pub entered_at: EntryLevel,
    /// The identity map's layout.
    pub map: MapReport,
    /// Entries in the UEFI memory map (0 on the raw path).
    pub map_entries: usize,
    /// RAM the frame allocator must leave alone besides the image and the
    /// device tree (`/memreserve/`, `/reserved-memory` on the raw path; the
    /// UEFI map already says).
    pub reserved: ArrayVec<(u64, u64), MAX_RESERVED>,
}

/// Set just before the switch to EL1.
pub static BOOT: Once<BootState> = Once::new();

/// What the kernel found once at EL1.
#[derive(Debug)]
pub struct KernelState {
    /// The console UART, if attached.
    pub console: Option<Attached>,
    /// The GIC's identification registers.
    pub gic: Option<GicProbe>,
    /// The GIC as set up for interrupts.
    pub irq: Option<GicSetup>,
    /// The tick's interval in counter ticks, when it runs.
    pub tick_interval: Option<u64>,
    /// The firmware's PSCI version.
    pub psci_version: Option<(u16, u16)>,
    /// The UEFI map checked against `/memory`.
    pub memory_check: MemoryCheck,
}

/// Set once the kernel is up.
pub static KERNEL: Once<KernelState> = Once::new();

/// The capability space and the kernel's random-number generator.
pub static CAPS: Once<(CapSpace, RootAuthority, spin::Mutex<Drbg>)> = Once::new();

/// Microseconds since `efi_main` started.
pub(crate) fn uptime_us() -> u64 {
    cpu::counter_delta_us(
        ENTRY_COUNT.load(Ordering::Relaxed),
        cpu::counter(),
        cpu::counter_frequency(),
    )
}

/// Logs `message` and leaves with a failure status: for a boot that cannot
/// go on. In the firmware without another exit path, UEFI shuts down.
fn fail_boot(message: core::fmt::Arguments<'_>) -> ! {
    error!("{message}");
    error!("exo: cannot continue booting");
    #[cfg(target_os = "uefi")]
    if IN_FIRMWARE.load(Ordering::Relaxed)
        && exit::power_off_method().is_none()
        && !exit::semihosting_enabled()
    {
        uefi::runtime::reset(
            uefi::runtime::ResetType::SHUTDOWN,
            uefi::Status::ABORTED,
            None,
        );
    }
    exit::exit(ExitCode::Failure)
}

/// `fault=...`: an aarch64-only deliberate fault that checks W^X in the
/// MMU (a crash dump and exit 37 are the expected outcome).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WxFault {
    /// `fault=write-text`: a store to the kernel's code.
    WriteText,
    /// `fault=exec-data`: a branch to an instruction in `.data`.
    ExecData,
}

/// The arch options taken out of the command line.
#[derive(Clone, Copy, Debug, Default)]
struct ArchOptions {
    semihosting: bool,
    fault: Option<WxFault>,
}

/// Splits the arch options off: (kernel line, arch options).
fn arch_options(line: &str) -> (ArrayString<MAX_COMMAND_LINE>, ArchOptions) {
    let mut rest = ArrayString::new();
    let mut options = ArchOptions::default();
    for word in line.split_ascii_whitespace() {
        if word == SEMIHOSTING_OPTION {
            options.semihosting = true;
        } else if word == "fault=write-text" {
            options.fault = Some(WxFault::WriteText);
        } else if word == "fault=exec-data" {
            options.fault = Some(WxFault::ExecData);
        } else {
            if !rest.is_empty() {
                let _ = rest.try_push(' ');
            }
            let _ = rest.try_push_str(word);
        }
    }
    (rest, options)
}

/// Parses the kernel options, warning about the ones ignored, and sets the
/// log level they ask for.
fn parse_options(line: &str) -> Options {
    let mut ignored = 0;
    let options = cmdline::parse(line, |w| {
        ignored += 1;
        if ignored <= MAX_OPTION_WARNINGS {
            warn!("{w}");
        }
    });
    if ignored > MAX_OPTION_WARNINGS {
        warn!(
            "{} more kernel options ignored",
            ignored - MAX_OPTION_WARNINGS
        );
    }
    log::set_max_level(klog::level_filter(options.log_level));
    options
}

#[cfg(target_os = "uefi")]
#[uefi::entry]
fn efi_main() -> uefi::Status {
    ENTRY_COUNT.store(cpu::counter(), Ordering::Relaxed);
    klog::init(&console::BOOT_CONSOLE, uptime_us, cmdline::LogLevel::Info);
    let el = cpu::current_el();
    info!(
        "exo {} (aarch64): {} at EL{el}",
        exokernel::VERSION,
        BootPath::Uefi.first_line()
    );

    let mut info = BootInfo {
        boot_loader: efi::firmware_name(),
        ..BootInfo::default()
    };
    match efi::command_line() {
        Some(line) => info.set_command_line(&line),
        None => info.warn(hal::bootinfo::BootWarning::NoCommandLine),
    }
    let (kernel_line, arch) = arch_options(&info.command_line);
    let semihosting = arch.semihosting;
    exit::configure(None, semihosting);
    let options = parse_options(&kernel_line);
    for warning in &info.warnings {
        warn!("boot information: {warning}");
    }
    info!(
        "firmware '{}', command line '{}' (from {})",
        info.boot_loader,
        info.command_line.get(..80).unwrap_or(&info.command_line),
        efi::COMMAND_LINE_FILE
    );

    efi::load_modules(&mut info, |program, e| {
        warn!("module '{program}': {e}; not loaded")
    });
    if !info.modules.is_empty() {
        info!(
            "{} modules loaded from {}",
            info.modules.len(),
            efi::MODULE_LIST_FILE
        );
    }

    let tree = match efi::device_tree() {
        Ok(tree) => tree,
        Err(e) => fail_boot(format_args!("device tree: {e}")),
    };
    let platform = match Platform::parse(tree.blob) {
        Ok(platform) => platform,
        Err(e) => fail_boot(format_args!("device tree: {e}")),
    };
    info!(
        "device tree: {} bytes at {:#x}, kernel copy of {} bytes at {:#x}",
        tree.firmware.1,
        tree.firmware.0,
        tree.blob.len(),
        tree.blob.as_ptr() as usize
    );
    platform.summary(|line| info!("DT: {line}"));
    for w in &platform.warnings {
        warn!("DT: {w}");
    }
    if platform.dropped_warnings > 0 {
        warn!("DT: {} more warnings", platform.dropped_warnings);
    }
    exit::configure(platform.psci.as_ref(), semihosting);
    if platform.console.is_none() {
        warn!("no console after ExitBootServices: the log goes on in the boot log ring only");
    }
    let entered_at = if el == 2 {
        if mmu::el2_uses_vhe() {
            fail_boot(format_args!(
                "the firmware runs at EL2 with VHE (HCR_EL2.E2H), which exo cannot drop from yet"
            ));
        }
        EntryLevel::El2
    } else {
        EntryLevel::El1
    };
    let image = efi::image_range();
    let layout = match efi::image_layout(image) {
        Ok(layout) => layout,
        Err(e) => fail_boot(format_args!(
            "kernel image {:#x}..{:#x}: {e}",
            image.0, image.1
        )),
    };
    for section in &layout.sections {
        info!(
            "image section {:<8} {:#x}..{:#x} {:?}",
            section.name(),
            section.start,
            section.end,
            section.access
        );
    }
    info!(
        "image {:#x}..{:#x}; exiting boot services",
        image.0, image.1
    );

    console::BOOT_CONSOLE.leave_firmware();
    // SAFETY: from here on nothing touches boot services: the console no
    // longer writes to UEFI, and the device tree was copied to loader data.
    let (entries, map_entries) = unsafe { efi::exit_boot_services() };
    IN_FIRMWARE.store(false, Ordering::Relaxed);

    let mut ram = ArrayVec::<(u64, u64), { efi::MAX_MAP_ENTRIES }>::new();
    for e in &entries {
        hal::efi::push_entry(&mut info, e.kind, e.start, e.pages);
        if hal::efi::is_cacheable_ram(e.kind, e.attribute) {
            let _ = ram.try_push((e.start, e.start.saturating_add(e.pages * 4096)));
        }
    }
    info.info_range = (
        tree.blob.as_ptr() as u64,
        tree.blob.as_ptr() as u64 + tree.blob.len() as u64,
    );
    info!(
        "memory map: {map_entries} UEFI entries, {} regions, {} MiB usable",
        info.memory.len(),
        info.usable_bytes() >> 20
    );
    let state = BootState {
        path: BootPath::Uefi,
        info,
        options,
        semihosting,
        fault: arch.fault,
        platform,
        device_tree: tree,
        image,
        layout,
        protection: ImageReport::default(),
        entered_at,
        map: MapReport::default(),
        map_entries,
        reserved: ArrayVec::new(),
    };
    map_and_enter(state, &ram, el)
}

/// Builds the kernel's identity map over `ram` (with the device tree's
/// devices as Device memory and W^X for the image), publishes `state` as
/// [`BOOT`] and enters [`kernel_main`] at EL1 on the kernel stack; `el` is
/// the level the firmware or loader ran the image at.
fn map_and_enter(mut state: BootState, ram: &[(u64, u64)], el: u8) -> ! {
    let devices = device_ranges(&state.platform);
    // SAFETY: the map is written only here, before the MMU walks it.
    let map = unsafe { &mut *IDENTITY_MAP.0.get() };
    let report = map.build(ram, &devices, tables::pa_bits(cpu::pa_range()));
    info!(
        "identity map to {:#x}: {} GiB normal, {} GiB device, {} GiB split into 2 MiB blocks",
        report.limit, report.normal_gib, report.device_gib, report.split_gib
    );
    if report.unsplit_gib > 0 {
        warn!(
            "{} GiB hold RAM and devices but no table was left to split them: mapped normal",
            report.unsplit_gib
        );
    }
    let protection = match map.protect_image(&state.layout) {
        Ok(protection) => protection,
        Err(e) => fail_boot(format_args!("W^X for the kernel image: {e}")),
    };
    info!(
        "W^X: image in 4 KiB pages ({} blocks split): {} executable read-only, {} read-only, {} read-write; other RAM not executable",
        protection.split_blocks,
        protection.execute_pages,
        protection.read_only_pages,
        protection.read_write_pages
    );
    state.map = report;
    state.protection = protection;
    BOOT.call_once(|| state);
    let stack_top = KERNEL_STACK.0.get() as u64 + STACK_BYTES as u64;
    // SAFETY: the map covers all RAM (the image with this stack, the boot
    // state, the device-tree copy) as Normal memory and the devices as
    // Device memory; the image's code (this function, `enter_el1`,
    // `kernel_main`) is executable in it and nothing else in RAM needs to
    // be; it lives in a static and is not changed again; the stack is
    // unused; the firmware's tables and vectors are not needed any more
    // (the kernel installs its own vectors first thing); both callers
    // refused the VHE case.
    unsafe {
        mmu::enter_el1(
            &*IDENTITY_MAP.0.get(),
            stack_top,
            kernel_main,
            u64::from(el),
        )
    }
}

/// The MMIO ranges the device tree names, for the identity map.
fn device_ranges(p: &Platform) -> ArrayVec<(u64, u64), 8> {
    let mut out = ArrayVec::new();
    let mut add = |r: platform::Range| {
        let _ = out.try_push((r.base, r.end()));
    };
    if let Some(u) = &p.console {
        add(u.registers);
    }
    if let Some(ic) = &p.interrupt_controller {
        match ic.gic {
            Gic::V2 {
                distributor,
                cpu_interface,
            } => {
                add(distributor);
                add(cpu_interface);
            }
            Gic::V3 {
                distributor,
                redistributors,
                ..
            } => {
                add(distributor);
                add(redistributors);
            }
        }
    }
    if let Some(rng) = &p.rng {
        add(rng.registers);
    }
    out
}

extern "C" fn kernel_main(entered_el: u64) -> ! {
    exceptions::install();
    let Some(state) = BOOT.get() else {
        exit::exit(ExitCode::Panic)
    };
    let stack_low = KERNEL_STACK.0.get() as u64;
    exceptions::set_backtrace_bounds(
        (stack_low, stack_low + STACK_BYTES as u64),
        state.layout.text().unwrap_or(state.image),
    );
    let platform = &state.platform;
    #[cfg(not(target_os = "uefi"))]
    let early = raw::EARLY_CONSOLE.get().copied();
    #[cfg(target_os = "uefi")]
    let early = None;
    let console = early.or_else(|| bringup::attach_console(platform));
    bringup::report_cpu(entered_el, platform);
    let gic = bringup::probe_gic(platform);
    let (irq, tick_interval) = bringup::start_interrupts(platform, state.options.timer_hz);
    let psci_version = bringup::psci_version();
    let memory_check = bringup::check_memory(state);

    let limit = state.map.limit;
    let mut reserved = ArrayVec::<(u64, u64), { MAX_RESERVED + 2 }>::new();
    reserved.push(state.image);
    reserved.push(state.info.info_range);
    reserved.extend(state.reserved.iter().copied());
    memory::init(&state.info, &reserved, limit);
    heap::init(limit);
    let (caps, root, drbg) = caps::init(platform.rng.as_ref());
    let run_modules = !state.info.modules.is_empty() && !state.options.self_test;
    if run_modules {
        envs::init(caps, root, drbg, state.options.exit_when_done);
    } else {
        CAPS.call_once(|| (caps, root, spin::Mutex::new(drbg)));
    }
    KERNEL.call_once(|| KernelState {
        console,
        gic,
        irq,
        tick_interval,
        psci_version,
        memory_check,
    });

    info!(
        "exo {} booted in {} ms ({} MiB usable, {} free frames)",
        exokernel::VERSION,
        uptime_us() / 1000,
        state.info.usable_bytes() >> 20,
        memory::free_frames()
    );

    if let Some(crash) = state.options.crash {
        deliberate_crash(crash);
    }
    if let Some(fault) = state.fault {
        deliberate_wx_fault(fault);
    }
    if state.options.self_test {
        let summary = selftest::run();
        exit::exit(if summary.success() {
            ExitCode::Success
        } else {
            ExitCode::Failure
        });
    }
    let kernel_devices = device_ranges(platform);
    if run_modules
        && envs::spawn_modules(&state.info.modules, &state.info.memory, &kernel_devices) > 0
    {
        envs::run();
    }
    if state.options.exit_when_done {
        info!("no environments to run; exiting as asked");
        exit::exit(ExitCode::Success);
    }
    info!("no environments to run; idling");
    cpu::unmask_irqs();
    loop {
        cpu::wait_for_interrupt();
    }
}

/// `crash=...`: fail on purpose, to test that failures end the run.
fn deliberate_crash(crash: Crash) -> ! {
    warn!("crashing on purpose: {crash:?}");
    match crash {
        Crash::Panic => panic!("deliberate panic (crash=panic)"),
        Crash::PageFault => {
            // Beyond the identity map: a translation fault. The address
            // and the value are in x0 and x1, for the dump to show.
            let address = tables::MAPPED_LIMIT + 0x1000;
            // SAFETY: not safe at all, on purpose: the write faults and the
            // exception handler ends the kernel.
            unsafe {
                core::arch::asm!(
                    "str x1, [x0]",
                    in("x0") address,
                    in("x1") 0x5a5a_u64,
                    options(nostack)
                );
            }
        }
        Crash::InvalidOpcode => {
            // SAFETY: as above: `udf` raises an undefined-instruction
            // exception that ends the kernel.
            unsafe { core::arch::asm!("udf #0") };
        }
    }
    error!("the deliberate crash did not happen");
    exit::exit(ExitCode::Failure)
}

/// An instruction in `.data` (`ret`), for `fault=exec-data`.
static DATA_INSTRUCTION: AtomicU32 = AtomicU32::new(0xd65f_03c0);

/// `fault=...`: break W^X on purpose; the MMU must refuse.
fn deliberate_wx_fault(fault: WxFault) -> ! {
    warn!("breaking W^X on purpose: {fault:?}");
    match fault {
        WxFault::WriteText => {
            let text = deliberate_wx_fault as *const () as usize as u64;
            // SAFETY: not safe, on purpose: the store to read-only code
            // must take a permission fault, which ends the kernel.
            unsafe {
                core::arch::asm!(
                    "str x1, [x0]",
                    in("x0") text,
                    in("x1") 0xdead_u64,
                    options(nostack)
                );
            }
        }
        WxFault::ExecData => {
            let data = DATA_INSTRUCTION.as_ptr() as usize as u64;
            // SAFETY: not safe, on purpose: `.data` is execute-never, so the
            // branch must take an instruction abort, which ends the kernel
            // (were it executable, the `ret` would come back here).
            unsafe {
                core::arch::asm!("blr x0", in("x0") data, clobber_abi("C"));
            }
        }
    }
    error!("W^X did not stop {fault:?}");
    exit::exit(ExitCode::Failure)
}

#[panic_handler]
fn panic(panic: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    cpu::mask_interrupts();
    let mut w = Writer;
    let _ = write!(w, "\n!!! KERNEL PANIC");
    if let Some(location) = panic.location() {
        let _ = write!(w, " at {}:{}", location.file(), location.line());
    }
    let _ = writeln!(w, ": {}", panic.message());
    exceptions::backtrace_here();
    let _ = writeln!(w, "!!! kernel halted: panic");
    exit::exit(ExitCode::Panic)
}

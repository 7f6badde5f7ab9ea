//! exo's x86_64 kernel image.
//!
//! [`entry`] takes the CPU from GRUB's 32-bit protected mode to long mode;
//! `kernel_main` then brings the machine up in the order each step needs:
//! console and logger, descriptor tables and exception handlers, boot
//! information, the frame allocator, the heap, the capability space (keyed
//! from hardware entropy), ACPI, interrupt controllers and the timer. It prints the boot marker, then runs the self-tests when
//! the command line says `test`, or idles.
#![no_std]
#![no_main]

extern crate alloc;

mod caps;
mod crash;
mod entry;
mod envs;
mod heap;
mod memory;
mod selftest;
mod timer;

use core::sync::atomic::{AtomicU64, Ordering};
use exokernel::cmdline::{self, Options};
use exokernel::klog;
use hal::arch::x86_64::{acpi, cpu, exit, gdt, ioapic, lapic, pic, serial::SERIAL, trap};
use hal::multiboot;
use hal::{BootInfo, ExitCode};
use log::{error, info, warn};
use spin::Once;

/// Command-line warnings printed one by one; the rest are counted, so a
/// huge command line cannot flood the console.
const MAX_OPTION_WARNINGS: usize = 8;

/// TSC at the first Rust instruction.
static ENTRY_TSC: AtomicU64 = AtomicU64::new(0);

/// What boot learned, for the self-tests and later the exokernel.
#[derive(Debug)]
pub struct BootState {
    /// The parsed boot information.
    pub info: BootInfo,
    /// The command-line options.
    pub options: Options,
    /// ACPI platform description, if the firmware has ACPI.
    pub platform: Option<acpi::Platform>,
    /// The boot CPU's local APIC.
    pub lapic: lapic::LapicInfo,
}

/// Set once boot has finished.
pub static BOOT: Once<BootState> = Once::new();

/// Microseconds since `kernel_main` started (0 until the TSC is calibrated).
fn uptime_us() -> u64 {
    cpu::tsc_delta_us(ENTRY_TSC.load(Ordering::Relaxed), cpu::rdtsc()).unwrap_or(0)
}

/// Nanoseconds since `kernel_main` started (0 until the TSC is calibrated).
fn uptime_ns() -> u64 {
    let per_ms = cpu::tsc_per_ms();
    if per_ms == 0 {
        return 0;
    }
    let ticks = cpu::rdtsc().saturating_sub(ENTRY_TSC.load(Ordering::Relaxed));
    u64::try_from(u128::from(ticks) * 1_000_000 / u128::from(per_ms)).unwrap_or(u64::MAX)
}

/// Logs `message` and leaves with a failure status: for boot information
/// too broken to go on.
fn fail_boot(message: core::fmt::Arguments<'_>) -> ! {
    error!("{message}");
    error!("exo: cannot continue booting");
    exit::exit(ExitCode::Failure)
}

fn boot_info(magic: u32, address: usize) -> BootInfo {
    // SAFETY: GRUB passes the address of its boot information block in EBX,
    // and the identity map covers it; `info_size` only reads the header of
    // a non-null aligned block.
    let size = match unsafe { multiboot::info_size(address) } {
        Ok(size) => size,
        Err(e) => fail_boot(format_args!("boot information: {e}")),
    };
    // SAFETY: the block header says it spans `size` readable bytes (bounded
    // by MAX_INFO_SIZE); nothing writes to it while it is parsed.
    let bytes = unsafe { core::slice::from_raw_parts(address as *const u8, size) };
    match multiboot::parse(magic, bytes, address as u64) {
        Ok(info) => info,
        Err(e) => fail_boot(format_args!("boot information: {e}")),
    }
}

#[unsafe(no_mangle)]
extern "C" fn kernel_main(magic: u32, info_address: usize) -> ! {
    ENTRY_TSC.store(cpu::rdtsc(), Ordering::Relaxed);
    SERIAL.init();
    klog::init(&SERIAL, uptime_us, cmdline::LogLevel::Info);
    gdt::init();
    trap::init();
    info!("exo {} (x86_64): entered long mode", exokernel::VERSION);

    let info = boot_info(magic, info_address);
    let mut ignored = 0;
    let options = cmdline::parse(&info.command_line, |w| {
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
    for warning in &info.warnings {
        warn!("boot information: {warning}");
    }
    if info.dropped_warnings > 0 {
        warn!("boot information: {} more warnings", info.dropped_warnings);
    }
    info!(
        "boot loader '{}', command line '{}' ({} bytes)",
        info.boot_loader,
        info.command_line.get(..80).unwrap_or(&info.command_line),
        info.command_line.len()
    );

    timer::calibrate_tsc();
    memory::init(&info);
    heap::init();
    let (caps, root, drbg) = caps::init();
    envs::init(caps, root, drbg, options.exit_when_done);

    let platform = info.acpi.and_then(|root| match acpi::discover(root) {
        Ok(platform) => Some(platform),
        Err(e) => {
            warn!("ACPI: {e}; continuing without it");
            None
        }
    });
    if let Some(p) = &platform {
        report_platform(p);
    }

    pic::remap_and_mask();
    let madt = platform.as_ref().and_then(|p| p.madt.as_ref());
    for io in madt.map(|m| m.io_apics.as_slice()).unwrap_or_default() {
        match ioapic::mask_all(u64::from(io.address)) {
            Some(n) => {
                info!("IO-APIC {} at {:#x}: {n} inputs masked", io.id, io.address);
                if io.gsi_base == 0 {
                    ioapic::register(u64::from(io.address), n);
                }
            }
            None => warn!("IO-APIC {} at {:#x} is not addressable", io.id, io.address),
        }
    }
    let lapic = match lapic::init(
        madt.map(|m| m.local_apic_address),
        trap::APIC_SPURIOUS_VECTOR,
    ) {
        Ok(l) => l,
        Err(e) => fail_boot(format_args!("local APIC unusable: {e:?}")),
    };
    info!(
        "local APIC {} at {:#x}, version {:#x}",
        lapic.id, lapic.base, lapic.version
    );
    timer::start(options.timer_hz);
    cpu::enable_interrupts();

    info!(
        "exo {} booted in {} ms ({} MiB usable, {} free frames)",
        exokernel::VERSION,
        uptime_us() / 1000,
        info.usable_bytes() >> 20,
        memory::free_frames()
    );
    let state = BOOT.call_once(|| BootState {
        info,
        options,
        platform,
        lapic,
    });

    if let Some(crash) = state.options.crash {
        crash::crash(crash);
    }
    if state.options.self_test {
        let summary = selftest::run();
        exit::exit(if summary.success() {
            ExitCode::Success
        } else {
            ExitCode::Failure
        });
    }
    let mut kernel_devices = arrayvec::ArrayVec::<(u64, u64), 9>::new();
    kernel_devices.push((state.lapic.base, state.lapic.base + 0x1000));
    for io in madt_io_apics(state) {
        let _ = kernel_devices.try_push((u64::from(io.address), u64::from(io.address) + 0x1000));
    }
    if envs::spawn_modules(&state.info.modules, &state.info.memory, &kernel_devices) > 0 {
        envs::run();
    }
    info!(
        "no boot modules to run as environments; idling (timer at {} Hz)",
        state.options.timer_hz
    );
    loop {
        cpu::halt();
    }
}

/// The IO-APICs the MADT lists (none without ACPI).
fn madt_io_apics(state: &BootState) -> &[hal::acpi::IoApic] {
    state
        .platform
        .as_ref()
        .and_then(|p| p.madt.as_ref())
        .map_or(&[], |m| m.io_apics.as_slice())
}

fn report_platform(p: &acpi::Platform) {
    let mut names = arrayvec::ArrayString::<160>::new();
    for sig in &p.signatures {
        let _ = names.try_push_str(core::str::from_utf8(sig).unwrap_or("????"));
        let _ = names.try_push(' ');
    }
    info!("ACPI tables: {}", names.trim_end());
    match &p.madt {
        Some(m) => info!(
            "MADT: {} CPUs ({} usable), {} IO-APICs, {} ISA overrides, 8259 {}",
            m.cpus.len(),
            m.cpus.iter().filter(|c| c.usable).count(),
            m.io_apics.len(),
            m.overrides,
            if m.has_8259 { "present" } else { "absent" }
        ),
        None => warn!("ACPI: no MADT; using the local APIC from IA32_APIC_BASE"),
    }
    match &p.hpet {
        Some(h) => info!(
            "HPET {} at {:#x}, {} comparators",
            h.number, h.address, h.comparators
        ),
        None => info!("no HPET"),
    }
}

#[panic_handler]
fn panic(panic: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    cpu::disable_interrupts();
    let mut w = hal::arch::x86_64::serial::EmergencyWriter;
    let _ = write!(w, "\n!!! KERNEL PANIC");
    if let Some(location) = panic.location() {
        let _ = write!(w, " at {}:{}", location.file(), location.line());
    }
    let _ = writeln!(w, ": {}", panic.message());
    hal::arch::x86_64::dump::backtrace_here();
    let _ = writeln!(w, "!!! kernel halted: panic");
    exit::exit(ExitCode::Panic)
}

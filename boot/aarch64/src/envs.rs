//! Environments on aarch64: the exokernel's [`Platform`] over this machine,
//! the exception handlers that feed it (`svc`, EL0 faults, the tick, SPIs
//! bound by environments), and the path into EL0.
//!
//! The same design as x86_64 (`boot/x86_64/src/envs.rs`), through the
//! same [`Runner`]: every entry from EL0 runs with IRQs masked on one CPU,
//! and switching environments is rewriting the [`TrapFrame`] the entry
//! saved (and TTBR0_EL1). The frame carries the SIMD registers,
//! so the vector state travels with each environment's saved context.

use exokernel::cap::{CapSpace, Level, RootAuthority};
use exokernel::entropy::Drbg;
use exokernel::env::{BootImage, Cpu, Fault, Kernel, KernelConfig, Platform, Runner};
use exokernel::frames::FRAME_SIZE;
use hal::arch::aarch64::exceptions::{self, TrapFrame};
use hal::arch::aarch64::paging::{self, AddressSpace};
use hal::arch::aarch64::tables::MAPPED_LIMIT;
use hal::arch::aarch64::uart::CONSOLE_UART;
use hal::arch::aarch64::{cpu, esr, exit, gic, timer};
use hal::mmu::{FrameSource, MapError};
use hal::{BootModule, Console, ExitCode, MemoryRegion, UserContext};
use log::{error, warn};

/// `EM_AARCH64`.
const EM_AARCH64: u16 = 183;
/// Environment interrupt line `n` is GIC SPI `n`: INTID `32 + n`.
const SPI_BASE: u32 = 32;

/// Page-table frames from the frame allocator, zeroed through the
/// identity map.
#[derive(Debug)]
pub struct Tables;

impl FrameSource for Tables {
    fn allocate_zeroed(&mut self) -> Option<u64> {
        let phys = crate::memory::with(|a| a.allocate()).ok()??;
        zero(phys, 1);
        Some(phys)
    }

    fn release(&mut self, phys: u64) {
        match crate::memory::with(|a| a.free(phys)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) | Err(e) => error!("freeing frame {phys:#x}: {e}"),
        }
    }
}

fn zero(phys: u64, frames: u64) {
    // SAFETY: the frames were just allocated (so unused) and lie below the
    // identity-map limit, so their physical address is mapped at itself.
    unsafe { core::ptr::write_bytes(phys as usize as *mut u8, 0, (frames * FRAME_SIZE) as usize) };
}

/// EL0's thread register, which user code may also write itself: saved
/// and restored around switches as x86_64 saves its FPU registers.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadRegister(u64);

/// This machine, as the exokernel sees it.
#[derive(Debug)]
pub struct Aarch64 {
    tables: Tables,
}

impl Platform for Aarch64 {
    type Space = AddressSpace;
    type Fpu = ThreadRegister;
    const ELF_MACHINE: u16 = EM_AARCH64;

    fn new_space(&mut self) -> Result<AddressSpace, MapError> {
        AddressSpace::new(&mut self.tables)
    }

    fn destroy_space(&mut self, space: AddressSpace) {
        space.destroy(&mut self.tables);
    }

    fn activate(&mut self, space: &AddressSpace) {
        space.activate();
    }

    fn activate_kernel(&mut self) {
        paging::activate_boot();
    }

    fn page_tables(&mut self) -> &mut dyn FrameSource {
        &mut self.tables
    }

    fn alloc_frames(&mut self, count: u64, limit: u64) -> Option<u64> {
        let below = limit.min(MAPPED_LIMIT);
        let phys =
            crate::memory::with(|a| a.allocate_contiguous(count, FRAME_SIZE, below)).ok()??;
        zero(phys, count);
        Some(phys)
    }

    fn free_frames(&mut self, phys: u64, count: u64) {
        for i in 0..count {
            self.tables.release(phys + i * FRAME_SIZE);
        }
    }

    fn read_phys(&self, phys: u64, buf: &mut [u8]) {
        // SAFETY: the exokernel passes ranges inside one frame it reached
        // through a translation of a user mapping (or owns); every frame is
        // identity-mapped.
        unsafe {
            core::ptr::copy_nonoverlapping(phys as usize as *const u8, buf.as_mut_ptr(), buf.len());
        }
    }

    fn write_phys(&mut self, phys: u64, data: &[u8]) {
        // SAFETY: as in `read_phys`; the frame belongs to an environment
        // the kernel is acting for, and no Rust reference aliases it.
        unsafe {
            core::ptr::copy_nonoverlapping(data.as_ptr(), phys as usize as *mut u8, data.len());
        }
    }

    fn console(&mut self, bytes: &[u8]) {
        CONSOLE_UART.write_bytes(bytes);
    }

    fn now_ns(&self) -> u64 {
        crate::uptime_us().saturating_mul(1000)
    }

    fn read_log(&self, offset: u64, buf: &mut [u8]) -> usize {
        exokernel::klog::BOOT_LOG.lock().read_at(offset, buf)
    }

    fn set_tls(&mut self, base: u64) {
        cpu::set_thread_register(base);
    }

    fn save_fpu(&mut self, state: &mut ThreadRegister) {
        state.0 = cpu::thread_register();
    }

    fn restore_fpu(&mut self, state: &ThreadRegister) {
        cpu::set_thread_register(state.0);
    }

    fn irq_lines(&self) -> u32 {
        gic::lines().saturating_sub(SPI_BASE)
    }

    fn irq_route(&mut self, line: u32, level: bool, active_low: bool) -> bool {
        // The GIC has no polarity control: an active-low line needs an
        // inverter the board does not have. A bound line starts enabled,
        // as the IO-APIC route does on x86_64.
        if active_low || !gic::configure(SPI_BASE + line, level) {
            return false;
        }
        gic::enable(SPI_BASE + line);
        true
    }

    fn irq_mask(&mut self, line: u32, masked: bool) {
        if masked {
            gic::disable(SPI_BASE + line);
        } else {
            gic::enable(SPI_BASE + line);
        }
    }
}

/// What the runner needs from this CPU.
#[derive(Debug)]
pub struct Aarch64Cpu;

impl Cpu for Aarch64Cpu {
    fn wait_for_interrupt() {
        cpu::unmask_irqs();
        cpu::wait_for_interrupt();
        cpu::mask_irqs();
    }

    fn mask_interrupts() {
        cpu::mask_irqs();
    }

    fn activate_kernel_space() {
        paging::activate_boot();
    }

    fn power_off() -> ! {
        exit::exit(ExitCode::Success)
    }

    fn idle_forever() -> ! {
        cpu::unmask_irqs();
        loop {
            cpu::wait_for_interrupt();
        }
    }
}

static RUNNER: Runner<Aarch64, TrapFrame, Aarch64Cpu> = Runner::new();

/// Builds the exokernel over `caps` and installs the handlers.
pub fn init(caps: CapSpace, root: RootAuthority, drbg: Drbg, exit_when_done: bool) {
    paging::init();
    cpu::allow_el0_virtual_counter();
    let config = KernelConfig {
        frame_quota: 4096,
        ticks_per_slice: 1,
        clearance: Level::new(8).unwrap_or(Level::HIGHEST),
    };
    let kernel = Kernel::new(Aarch64 { tables: Tables }, caps, root, drbg, config);
    RUNNER.install(kernel, exit_when_done);
    exceptions::set_syscall_handler(|frame| RUNNER.syscall(frame));
    exceptions::set_user_fault_handler(on_fault);
    gic::set_spi_handler(|intid, frame| {
        RUNNER.irq(intid - SPI_BASE, frame, exceptions::from_user(frame));
    });
    timer::set_hook(|frame| RUNNER.tick(frame, exceptions::from_user(frame)));
}

/// Creates one environment per boot module (see `exokernel::manifest`).
/// Returns how many started.
pub fn spawn_modules(
    modules: &[BootModule],
    memory: &[MemoryRegion],
    reserved: &[(u64, u64)],
) -> usize {
    let images = modules.iter().filter_map(|module| {
        if module.end > MAPPED_LIMIT {
            warn!(
                "module '{}' lies beyond the identity map; skipped",
                module.name
            );
            return None;
        }
        let len = (module.end.saturating_sub(module.start)) as usize;
        // SAFETY: `efi::load_modules` read the module into loader-data
        // pages at [start, end), which stay reserved and identity-mapped;
        // nothing writes them.
        let image = unsafe { core::slice::from_raw_parts(module.start as usize as *const u8, len) };
        Some(BootImage {
            line: &module.name,
            image,
        })
    });
    RUNNER
        .with(|k| k.spawn_boot_modules(images, memory, reserved))
        .unwrap_or_else(|| {
            error!("environments not initialised");
            0
        })
}

/// Leaves the kernel for the first environment. Never returns.
pub fn run() -> ! {
    let mut frame = TrapFrame::new_user(0, 0, 0);
    RUNNER.start(&mut frame);
    exceptions::enter_user(&frame)
}

fn on_fault(frame: &mut TrapFrame) {
    let fault = Fault {
        name: esr::exception_class(frame.esr),
        vector: u64::from(esr::class(frame.esr)),
        ip: frame.elr,
        address: esr::Abort::decode(frame.esr).map(|_| frame.far),
        error: frame.esr,
    };
    RUNNER.fault(frame, fault);
}

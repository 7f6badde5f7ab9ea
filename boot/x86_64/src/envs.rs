//! Environments on x86_64: the exokernel's [`Platform`] over this machine,
//! the trap handlers that feed it, and the path into user mode.
//!
//! The trap handlers' common half — enter the kernel, act on what it says
//! next — is the exokernel's [`Runner`], shared with aarch64; this file
//! holds what is x86_64's own.

use exokernel::cap::{CapSpace, Level, RootAuthority};
use exokernel::entropy::Drbg;
use exokernel::env::{BootImage, Cpu, Fault, Kernel, KernelConfig, Platform, Runner};
use exokernel::frames::FRAME_SIZE;
use hal::arch::x86_64::paging::{self, AddressSpace};
use hal::arch::x86_64::trap::{self, TrapFrame};
use hal::arch::x86_64::{
    IDENTITY_MAP_LIMIT, cpu, dump, exit, ioapic, phys_to_virt, serial::SERIAL,
};
use hal::mmu::{FrameSource, MapError};
use hal::{BootModule, Console, ExitCode, MemoryRegion, UserContext};
use log::{error, warn};

/// `EM_X86_64`.
const EM_X86_64: u16 = 62;

/// The exokernel instance.
pub type X86Kernel = Kernel<X86, TrapFrame>;

/// Page-table frames from the frame allocator, zeroed through the direct
/// map.
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
    // SAFETY: the frames were just allocated (so unused), are below the
    // identity-map limit and thus in the direct map.
    unsafe {
        core::ptr::write_bytes(
            phys_to_virt(phys) as *mut u8,
            0,
            (frames * FRAME_SIZE) as usize,
        )
    };
}

/// This machine, as the exokernel sees it.
#[derive(Debug)]
pub struct X86 {
    tables: Tables,
}

impl Platform for X86 {
    type Space = AddressSpace;
    type Fpu = cpu::FpuState;
    const ELF_MACHINE: u16 = EM_X86_64;

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
        let below = limit.min(IDENTITY_MAP_LIMIT);
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
        // in the direct map.
        unsafe {
            core::ptr::copy_nonoverlapping(
                phys_to_virt(phys) as *const u8,
                buf.as_mut_ptr(),
                buf.len(),
            );
        }
    }

    fn write_phys(&mut self, phys: u64, data: &[u8]) {
        // SAFETY: as in `read_phys`; the frame belongs to an environment
        // the kernel is acting for, and no Rust reference aliases it.
        unsafe {
            core::ptr::copy_nonoverlapping(
                data.as_ptr(),
                phys_to_virt(phys) as *mut u8,
                data.len(),
            );
        }
    }

    fn console(&mut self, bytes: &[u8]) {
        SERIAL.write_bytes(bytes);
    }

    fn now_ns(&self) -> u64 {
        crate::uptime_ns()
    }

    fn read_log(&self, offset: u64, buf: &mut [u8]) -> usize {
        exokernel::klog::BOOT_LOG.lock().read_at(offset, buf)
    }

    fn set_tls(&mut self, base: u64) {
        cpu::set_fs_base(base);
    }

    fn save_fpu(&mut self, fpu: &mut cpu::FpuState) {
        fpu.save();
    }

    fn restore_fpu(&mut self, fpu: &cpu::FpuState) {
        fpu.restore();
    }

    fn irq_lines(&self) -> u32 {
        ioapic::lines()
    }

    fn irq_route(&mut self, line: u32, level: bool, active_low: bool) -> bool {
        ioapic::route(line, ioapic::Trigger { level, active_low })
    }

    fn irq_mask(&mut self, line: u32, masked: bool) {
        ioapic::set_masked(line, masked);
    }
}

/// What the runner needs from this CPU.
#[derive(Debug)]
pub struct X86Cpu;

impl Cpu for X86Cpu {
    fn wait_for_interrupt() {
        cpu::enable_interrupts();
        cpu::halt();
        cpu::disable_interrupts();
    }

    fn mask_interrupts() {
        cpu::disable_interrupts();
    }

    fn activate_kernel_space() {
        paging::activate_boot();
    }

    fn power_off() -> ! {
        exit::exit(ExitCode::Success)
    }

    fn idle_forever() -> ! {
        cpu::enable_interrupts();
        loop {
            cpu::halt();
        }
    }
}

static RUNNER: Runner<X86, TrapFrame, X86Cpu> = Runner::new();

/// Builds the exokernel over `caps` and installs the trap handlers.
pub fn init(caps: CapSpace, root: RootAuthority, drbg: Drbg, exit_when_done: bool) {
    paging::init();
    cpu::enable_user_fpu();
    trap::init_syscall();
    let config = KernelConfig {
        frame_quota: 4096,
        ticks_per_slice: 1,
        clearance: Level::new(8).unwrap_or(Level::HIGHEST),
    };
    let kernel = Kernel::new(X86 { tables: Tables }, caps, root, drbg, config);
    RUNNER.install(kernel, exit_when_done);
    trap::set_syscall_handler(|frame| RUNNER.syscall(frame));
    trap::set_user_fault_handler(on_fault);
    trap::set_irq_handler(on_irq);
}

fn on_irq(frame: &mut TrapFrame) {
    let line = (frame.vector - u64::from(ioapic::IRQ_VECTOR_BASE)) as u32;
    RUNNER.irq(line, frame, trap::from_user(frame));
}

/// Runs `f` on the kernel.
pub fn with<R>(f: impl FnOnce(&mut X86Kernel) -> R) -> Option<R> {
    RUNNER.with(f)
}

/// Creates one environment per boot module, granting the device resources
/// its command line names (see `exokernel::manifest`) when they are not RAM
/// or the kernel's own devices. Returns how many started.
pub fn spawn_modules(
    modules: &[BootModule],
    memory: &[MemoryRegion],
    reserved: &[(u64, u64)],
) -> usize {
    let images = modules.iter().filter_map(|module| {
        if module.end > IDENTITY_MAP_LIMIT {
            warn!("module '{}' lies above 4 GiB; skipped", module.name);
            return None;
        }
        let len = (module.end.saturating_sub(module.start)) as usize;
        // SAFETY: GRUB loaded the module at [start, end), which the frame
        // allocator reserved; it is in the direct map and nothing writes it.
        let image =
            unsafe { core::slice::from_raw_parts(phys_to_virt(module.start) as *const u8, len) };
        Some(BootImage {
            line: &module.name,
            image,
        })
    });
    with(|k| k.spawn_boot_modules(images, memory, reserved)).unwrap_or_else(|| {
        error!("environments not initialised");
        0
    })
}

/// Leaves the kernel for the first environment. Never returns.
pub fn run() -> ! {
    let mut frame = TrapFrame::new_user(0, 0, 0);
    RUNNER.start(&mut frame);
    trap::enter_user(&frame)
}

fn on_fault(frame: &mut TrapFrame) {
    let address = (frame.vector == 14).then(cpu::fault_address);
    let fault = Fault {
        name: dump::exception_name(frame.vector),
        vector: frame.vector,
        ip: frame.rip,
        address,
        error: frame.error_code,
    };
    RUNNER.fault(frame, fault);
}

/// Called by the timer handler for every tick.
pub fn on_tick(frame: &mut TrapFrame) {
    RUNNER.tick(frame, trap::from_user(frame));
}

//! Single instructions: time stamp counter, halting, interrupt flag.

use core::arch::x86_64::_rdtsc;
use core::sync::atomic::{AtomicU64, Ordering};

/// Reads the time stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects and every x86_64 CPU has it.
    unsafe { _rdtsc() }
}

static TSC_PER_MS: AtomicU64 = AtomicU64::new(0);

/// Records how many TSC ticks make a millisecond (from PIT calibration).
pub fn set_tsc_per_ms(ticks: u64) {
    TSC_PER_MS.store(ticks, Ordering::Relaxed);
}

/// TSC ticks per millisecond, or 0 before calibration.
pub fn tsc_per_ms() -> u64 {
    TSC_PER_MS.load(Ordering::Relaxed)
}

/// Microseconds between two TSC readings, or `None` before calibration.
pub fn tsc_delta_us(from: u64, to: u64) -> Option<u64> {
    let per_ms = tsc_per_ms();
    (per_ms != 0).then(|| to.saturating_sub(from).saturating_mul(1000) / per_ms)
}

/// Enables maskable interrupts.
pub fn enable_interrupts() {
    x86_64::instructions::interrupts::enable();
}

/// Disables maskable interrupts.
pub fn disable_interrupts() {
    x86_64::instructions::interrupts::disable();
}

/// Sleeps until the next interrupt.
pub fn halt() {
    x86_64::instructions::hlt();
}

/// Stops this CPU for good: interrupts off, halt forever.
pub fn halt_forever() -> ! {
    loop {
        disable_interrupts();
        halt();
    }
}

/// The current frame pointer, for backtraces from the panic path.
#[inline(always)]
pub fn frame_pointer() -> u64 {
    let rbp: u64;
    // SAFETY: reads a register; no memory or flags touched.
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack, preserves_flags))
    };
    rbp
}

/// CR2: the linear address of the last page fault.
pub fn fault_address() -> u64 {
    x86_64::registers::control::Cr2::read_raw()
}

/// Sets `FS_BASE` (the user thread pointer; the kernel itself never uses
/// FS). Non-canonical values are refused silently: writing one would fault.
pub fn set_fs_base(base: u64) {
    let canonical = !(0x0000_8000_0000_0000..0xffff_8000_0000_0000).contains(&base);
    if canonical {
        x86_64::registers::model_specific::FsBase::write(x86_64::VirtAddr::new(base));
    }
}

/// Lets user code use x87/SSE: CR0.MP set and EM clear, CR4.OSFXSR and
/// OSXMMEXCPT set. The kernel itself is built without SSE, so it never
/// touches these registers; environments' vector state is saved and
/// restored with [`FpuState`] when the CPU switches between them.
pub fn enable_user_fpu() {
    use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
    // SAFETY: setting MP/clearing EM and enabling FXSR/XMM exceptions only
    // changes how x87/SSE instructions behave; the kernel executes none.
    unsafe {
        Cr0::update(|f| {
            f.insert(Cr0Flags::MONITOR_COPROCESSOR);
            f.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
        });
        Cr4::update(|f| f.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE));
    }
}

/// One environment's x87/SSE registers, in `FXSAVE` layout.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub struct FpuState([u8; 512]);

impl Default for FpuState {
    /// The state after `FNINIT` with SSE exceptions masked: FCW 0x37F,
    /// MXCSR 0x1F80, everything else zero.
    fn default() -> Self {
        let mut s = [0u8; 512];
        s[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        s[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        Self(s)
    }
}

impl core::fmt::Debug for FpuState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FpuState { .. }")
    }
}

impl FpuState {
    /// Saves the CPU's x87/SSE registers here.
    pub fn save(&mut self) {
        // SAFETY: FXSAVE writes 512 bytes to a 16-byte-aligned buffer,
        // which `self` is; `enable_user_fpu` made the instruction legal.
        unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) self.0.as_mut_ptr(), options(nostack)) };
    }

    /// Loads the CPU's x87/SSE registers from here.
    pub fn restore(&self) {
        // SAFETY: FXRSTOR reads 512 bytes from a 16-byte-aligned buffer
        // holding a valid image (the default, or one FXSAVE wrote; MXCSR
        // reserved bits are never set by either).
        unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) self.0.as_ptr(), options(nostack)) };
    }
}

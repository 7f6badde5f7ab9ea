//! Exception entry and return: the vector table, the [`TrapFrame`] every
//! exception saves, the Rust dispatcher, and the crash dump.
//!
//! Each of the 16 vectors is a four-instruction stub: it makes room for a
//! [`TrapFrame`] on the current stack (SP_EL1: the kernel runs in EL1h, and
//! an exception from EL0 switches to SP_EL1 too), saves x0/x1, puts its
//! index in x1 and branches to one common path. That path saves x2–x30, the
//! interrupted SP, ELR_EL1, SPSR_EL1, ESR_EL1, FAR_EL1, SP_EL0, all 32
//! SIMD registers with FPCR/FPSR (Rust code uses NEON anywhere, and the
//! handler may run in the middle of any of it), calls
//! `exo_trap_dispatch` with the frame, then restores everything from the
//! frame (ELR and SPSR included, so a handler may change where execution
//! resumes) and `eret`s.
//!
//! The dispatcher handles:
//! * `svc` from EL0: the registered system-call handler
//!   ([`set_syscall_handler`]), which reads and rewrites the frame;
//! * other synchronous exceptions from EL0: the user-fault handler
//!   ([`set_user_fault_handler`]), which ends or upcalls the environment;
//! * IRQs: handed to the GIC ([`super::gic::handle_irq`]), which
//!   acknowledges, calls the registered handler and ends the interrupt;
//! * `brk` with an immediate in [`PROBE_BRK`]: counted, recorded and
//!   resumed after the instruction (the self-tests' probe; the compiler's
//!   own traps, `brk #1` and the `brk #0xf00x` family, stay fatal);
//!
//! and everything else is fatal (an EL0 exception only when no handler
//! is installed): [`fatal`] prints the exception class, the
//! abort syndrome decoded, ELR/FAR/SPSR, all registers and a frame-pointer
//! backtrace on the console without taking a lock, and exits with
//! [`ExitCode::Panic`].

use super::esr::{self, Abort, Spsr};
use super::exit;
pub use super::frame::{FRAME_BYTES, TrapFrame, Vector, from_user, sanitize_user_frame};
use super::uart::CONSOLE_UART;
use crate::{Console, ExitCode};
use aarch64_cpu::registers::{Readable, VBAR_EL1, Writeable};
use core::fmt::Write;
use core::ops::RangeInclusive;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

/// `brk` immediates the dispatcher resumes from (a probe: the handler
/// records it and continues after the instruction).
pub const PROBE_BRK: RangeInclusive<u16> = 0x1000..=0x1fff;

/// Most frames a backtrace prints.
pub const MAX_FRAMES: usize = 24;

core::arch::global_asm!(
    r#"
.macro exo_vector index
    .balign 128
    sub sp, sp, #{frame}
    stp x0, x1, [sp, #0]
    mov x1, #\index
    b exo_trap_common
.endm

.balign 2048
.global exo_exception_vectors
exo_exception_vectors:
    exo_vector 0
    exo_vector 1
    exo_vector 2
    exo_vector 3
    exo_vector 4
    exo_vector 5
    exo_vector 6
    exo_vector 7
    exo_vector 8
    exo_vector 9
    exo_vector 10
    exo_vector 11
    exo_vector 12
    exo_vector 13
    exo_vector 14
    exo_vector 15

exo_trap_common:
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    stp x10, x11, [sp, #80]
    stp x12, x13, [sp, #96]
    stp x14, x15, [sp, #112]
    stp x16, x17, [sp, #128]
    stp x18, x19, [sp, #144]
    stp x20, x21, [sp, #160]
    stp x22, x23, [sp, #176]
    stp x24, x25, [sp, #192]
    stp x26, x27, [sp, #208]
    stp x28, x29, [sp, #224]
    add x2, sp, #{frame}
    stp x30, x2, [sp, #240]
    mrs x2, elr_el1
    mrs x3, spsr_el1
    stp x2, x3, [sp, #256]
    mrs x2, esr_el1
    mrs x3, far_el1
    stp x2, x3, [sp, #272]
    mrs x2, sp_el0
    stp x2, x1, [sp, #288]
    add x2, sp, #304
    stp q0, q1, [x2, #0]
    stp q2, q3, [x2, #32]
    stp q4, q5, [x2, #64]
    stp q6, q7, [x2, #96]
    stp q8, q9, [x2, #128]
    stp q10, q11, [x2, #160]
    stp q12, q13, [x2, #192]
    stp q14, q15, [x2, #224]
    stp q16, q17, [x2, #256]
    stp q18, q19, [x2, #288]
    stp q20, q21, [x2, #320]
    stp q22, q23, [x2, #352]
    stp q24, q25, [x2, #384]
    stp q26, q27, [x2, #416]
    stp q28, q29, [x2, #448]
    stp q30, q31, [x2, #480]
    mrs x3, fpcr
    mrs x4, fpsr
    str x3, [x2, #512]
    str x4, [x2, #520]
    mov x0, sp
    bl exo_trap_dispatch

.global exo_trap_return
exo_trap_return:
    add x2, sp, #304
    ldr x3, [x2, #512]
    ldr x4, [x2, #520]
    msr fpcr, x3
    msr fpsr, x4
    ldp q0, q1, [x2, #0]
    ldp q2, q3, [x2, #32]
    ldp q4, q5, [x2, #64]
    ldp q6, q7, [x2, #96]
    ldp q8, q9, [x2, #128]
    ldp q10, q11, [x2, #160]
    ldp q12, q13, [x2, #192]
    ldp q14, q15, [x2, #224]
    ldp q16, q17, [x2, #256]
    ldp q18, q19, [x2, #288]
    ldp q20, q21, [x2, #320]
    ldp q22, q23, [x2, #352]
    ldp q24, q25, [x2, #384]
    ldp q26, q27, [x2, #416]
    ldp q28, q29, [x2, #448]
    ldp q30, q31, [x2, #480]
    ldp x2, x3, [sp, #256]
    msr elr_el1, x2
    msr spsr_el1, x3
    ldr x2, [sp, #288]
    msr sp_el0, x2
    ldp x0, x1, [sp, #0]
    ldp x2, x3, [sp, #16]
    ldp x4, x5, [sp, #32]
    ldp x6, x7, [sp, #48]
    ldp x8, x9, [sp, #64]
    ldp x10, x11, [sp, #80]
    ldp x12, x13, [sp, #96]
    ldp x14, x15, [sp, #112]
    ldp x16, x17, [sp, #128]
    ldp x18, x19, [sp, #144]
    ldp x20, x21, [sp, #160]
    ldp x22, x23, [sp, #176]
    ldp x24, x25, [sp, #192]
    ldp x26, x27, [sp, #208]
    ldp x28, x29, [sp, #224]
    ldr x30, [sp, #240]
    add sp, sp, #{frame}
    eret
"#,
    frame = const FRAME_BYTES,
);

unsafe extern "C" {
    static exo_exception_vectors: u8;
    /// The restoring half of the common path: SP at a [`TrapFrame`].
    fn exo_trap_return();
}

/// Bytes of the stack exceptions from EL0 run on.
pub const ENTRY_STACK_BYTES: usize = 128 * 1024;

/// The stack exceptions from EL0 run on: [`enter_user`] leaves SP_EL1 at
/// its top, so every entry from user mode saves its frame there (as the
/// TSS stack does on x86_64), apart from the boot stack.
#[repr(C, align(16))]
struct EntryStack(core::cell::UnsafeCell<[u8; ENTRY_STACK_BYTES]>);

// SAFETY: only the CPU uses the memory, as a stack, through SP.
unsafe impl Sync for EntryStack {}

static ENTRY_STACK: EntryStack = EntryStack(core::cell::UnsafeCell::new([0; ENTRY_STACK_BYTES]));

/// `[low, high)` of the entry stack.
#[must_use]
pub fn entry_stack() -> (u64, u64) {
    let low = ENTRY_STACK.0.get() as u64;
    (low, low + ENTRY_STACK_BYTES as u64)
}

/// A handler for exceptions the kernel passes on.
pub type Handler = fn(&mut TrapFrame);

static SYSCALL_HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static USER_FAULT_HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Installs the function called for every `svc` from EL0. It may rewrite
/// the frame (results, or another environment's state).
pub fn set_syscall_handler(handler: Handler) {
    SYSCALL_HANDLER.store(handler as *mut (), Ordering::Release);
}

/// Installs the function called for synchronous exceptions from EL0 other
/// than `svc` (aborts, undefined instructions, `brk`, alignment) instead
/// of the fatal kernel dump.
pub fn set_user_fault_handler(handler: Handler) {
    USER_FAULT_HANDLER.store(handler as *mut (), Ordering::Release);
}

fn handler(slot: &AtomicPtr<()>) -> Option<Handler> {
    let handler = slot.load(Ordering::Acquire);
    // SAFETY: only the `set_*_handler` functions store into these slots,
    // and they store `Handler`s.
    (!handler.is_null()).then(|| unsafe { core::mem::transmute::<*mut (), Handler>(handler) })
}

/// Exception class of `svc` from AArch64.
const EC_SVC64: u8 = 0x15;

/// Leaves the kernel for EL0 with the registers in `frame`, on a fresh
/// entry stack. The address space must already be active.
pub fn enter_user(frame: &TrapFrame) -> ! {
    let mut frame = *frame;
    sanitize_user_frame(&mut frame);
    let (_, top) = entry_stack();
    let slot = (top - FRAME_BYTES as u64) as *mut TrapFrame;
    // SAFETY: the slot is the top of the entry stack, which holds nothing
    // while the kernel runs on its boot stack or unwinds into user mode;
    // `exo_trap_return` restores exactly a `TrapFrame` from SP, leaves SP
    // at the stack's top and `eret`s to the EL0 state sanitised above.
    unsafe {
        slot.write(frame);
        core::arch::asm!(
            "msr daifset, #0xf",
            "mov sp, {slot}",
            "b {ret}",
            slot = in(reg) slot,
            ret = sym exo_trap_return,
            options(noreturn)
        )
    }
}

/// Exceptions taken (all kinds).
static TAKEN: AtomicU64 = AtomicU64::new(0);
/// Probe `brk`s resumed.
static PROBES: AtomicU64 = AtomicU64::new(0);
/// The last probe: its immediate and its ELR.
static LAST_PROBE: AtomicU64 = AtomicU64::new(0);
static LAST_PROBE_ELR: AtomicU64 = AtomicU64::new(0);
/// Set by the first fatal exception.
static IN_FATAL: AtomicBool = AtomicBool::new(false);
/// Bounds for backtraces: the kernel stack and the kernel text.
static STACK_LOW: AtomicU64 = AtomicU64::new(0);
static STACK_HIGH: AtomicU64 = AtomicU64::new(0);
static TEXT_LOW: AtomicU64 = AtomicU64::new(0);
static TEXT_HIGH: AtomicU64 = AtomicU64::new(0);

/// Points VBAR_EL1 at the table.
pub fn install() {
    VBAR_EL1.set((&raw const exo_exception_vectors) as u64);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// VBAR_EL1 now (for checks).
#[must_use]
pub fn installed_table() -> u64 {
    VBAR_EL1.get()
}

/// The vector table's address (for checks).
#[must_use]
pub fn vector_table() -> u64 {
    (&raw const exo_exception_vectors) as u64
}

/// Tells the backtrace where frame records may be (`stack`, the kernel
/// stack's `[low, high)`) and where return addresses may point (`text`).
pub fn set_backtrace_bounds(stack: (u64, u64), text: (u64, u64)) {
    STACK_LOW.store(stack.0, Ordering::Relaxed);
    STACK_HIGH.store(stack.1, Ordering::Relaxed);
    TEXT_LOW.store(text.0, Ordering::Relaxed);
    TEXT_HIGH.store(text.1, Ordering::Relaxed);
}

/// Exceptions taken so far (IRQs included).
pub fn taken() -> u64 {
    TAKEN.load(Ordering::Relaxed)
}

/// Probe `brk`s resumed so far, and the last one's (immediate, ELR).
pub fn probes() -> (u64, u16, u64) {
    (
        PROBES.load(Ordering::Acquire),
        LAST_PROBE.load(Ordering::Relaxed) as u16,
        LAST_PROBE_ELR.load(Ordering::Relaxed),
    )
}

/// The Rust side of every exception; see the module documentation.
#[unsafe(no_mangle)]
extern "C" fn exo_trap_dispatch(frame: &mut TrapFrame) {
    TAKEN.fetch_add(1, Ordering::Relaxed);
    let vector = Vector(frame.vector);
    if vector.is_irq() && vector.0 < 12 {
        super::gic::handle_irq(frame);
        return;
    }
    if vector.0 == 8 {
        let slot = if esr::class(frame.esr) == EC_SVC64 {
            &SYSCALL_HANDLER
        } else {
            &USER_FAULT_HANDLER
        };
        if let Some(h) = handler(slot) {
            h(frame);
            return;
        }
    }
    if vector.is_synchronous()
        && vector.from_el1()
        && let Some(immediate) = esr::brk_immediate(frame.esr)
        && PROBE_BRK.contains(&immediate)
    {
        LAST_PROBE.store(u64::from(immediate), Ordering::Relaxed);
        LAST_PROBE_ELR.store(frame.elr, Ordering::Relaxed);
        PROBES.fetch_add(1, Ordering::Release);
        // `brk` does not advance ELR: resume after it.
        frame.elr += 4;
        return;
    }
    fatal(frame)
}

/// A lock-free writer to the console UART, for dumps.
#[derive(Clone, Copy, Debug, Default)]
pub struct EmergencyWriter;

impl Write for EmergencyWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        CONSOLE_UART.write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Prints the crash dump for `frame` and exits with [`ExitCode::Panic`].
pub fn fatal(frame: &TrapFrame) -> ! {
    let mut w = EmergencyWriter;
    let vector = Vector(frame.vector);
    if IN_FATAL.swap(true, Ordering::Relaxed) {
        // The dump or the exit path faulted (a semihosting exit without
        // QEMU's flag does): one line, then the next exit path.
        let _ = writeln!(
            w,
            "!!! EXCEPTION during the crash dump: {} at ELR {:#x}, ESR {:#x}",
            vector.kind(),
            frame.elr,
            frame.esr
        );
        exit::exit(ExitCode::Panic)
    }
    let _ = writeln!(
        w,
        "\n!!! EXCEPTION: {} from {} at ELR {:#x}: ESR {:#x} ({}), FAR {:#x}",
        vector.kind(),
        vector.source(),
        frame.elr,
        frame.esr,
        if vector.is_synchronous() || vector.kind() == "SError" {
            esr::exception_class(frame.esr)
        } else {
            "interrupt"
        },
        frame.far
    );
    if vector.is_synchronous() {
        let _ = writeln!(
            w,
            "    class: EC {:#04x} {}, ISS {:#09x}",
            esr::class(frame.esr),
            esr::exception_class(frame.esr),
            esr::iss(frame.esr)
        );
        if let Some(abort) = Abort::decode(frame.esr) {
            let _ = writeln!(w, "    abort: {abort}, address FAR={:#018x}", frame.far);
        }
        if let Some(immediate) = esr::brk_immediate(frame.esr) {
            let _ = writeln!(w, "    brk #{immediate:#x}");
        }
    }
    write_registers(&mut w, frame);
    write_backtrace(&mut w, Some(frame.elr), frame.x[29]);
    let _ = writeln!(w, "!!! kernel halted: unrecoverable exception");
    exit::exit(ExitCode::Panic)
}

fn write_registers(w: &mut impl Write, f: &TrapFrame) {
    let _ = writeln!(
        w,
        "    ELR={:#018x} SPSR={:#010x} ({}) FAR={:#018x}",
        f.elr,
        f.spsr,
        Spsr(f.spsr),
        f.far
    );
    let _ = writeln!(
        w,
        "    ESR={:#010x} SP={:#018x} SP_EL0={:#018x}",
        f.esr, f.sp, f.sp_el0
    );
    for row in 0..8 {
        let _ = write!(w, "   ");
        for i in row * 4..(row * 4 + 4).min(31) {
            let _ = write!(w, " x{i:<2}={:#018x}", f.x[i]);
        }
        if row == 7 {
            let _ = write!(w, " sp ={:#018x}", f.sp);
        }
        let _ = writeln!(w);
    }
}

/// Whether `fp` may be a frame record to read: 16-byte aligned and its two
/// words inside the kernel stack.
fn plausible_frame(fp: u64) -> bool {
    let low = STACK_LOW.load(Ordering::Relaxed);
    let high = STACK_HIGH.load(Ordering::Relaxed);
    let (entry_low, entry_high) = entry_stack();
    let inside = |low, high| fp >= low && fp.saturating_add(16) <= high;
    fp.is_multiple_of(16) && (inside(low, high) || inside(entry_low, entry_high))
}

/// Whether `address` lies in the kernel text (any address when no bounds
/// were set).
fn plausible_return(address: u64) -> bool {
    let low = TEXT_LOW.load(Ordering::Relaxed);
    let high = TEXT_HIGH.load(Ordering::Relaxed);
    (low == 0 && high == 0) || (low..high).contains(&address)
}

/// Walks the x29 chain from `fp` (each record: the caller's x29, then the
/// return address) and prints the return addresses, starting with `pc`
/// when known. Stops at a record outside the kernel stack, a return
/// address outside the text, or a non-increasing chain.
///
/// The image is built without forced frame pointers, so functions that
/// keep no frame record are missing from the chain.
pub fn write_backtrace(w: &mut impl Write, pc: Option<u64>, mut fp: u64) {
    let _ = writeln!(w, "    backtrace:");
    if let Some(pc) = pc {
        let _ = writeln!(w, "      #0  {pc:#018x}");
    }
    for depth in 1..MAX_FRAMES {
        if !plausible_frame(fp) {
            break;
        }
        let record = fp as *const u64;
        // SAFETY: `plausible_frame` keeps both words inside the kernel
        // stack, which is mapped readable; a stale record gives wrong
        // numbers, never a fault.
        let (next, ret) = unsafe { (record.read_volatile(), record.add(1).read_volatile()) };
        if ret == 0 || !plausible_return(ret) {
            break;
        }
        let _ = writeln!(w, "      #{depth:<2} {ret:#018x}");
        if next <= fp {
            break;
        }
        fp = next;
    }
}

/// Prints a backtrace of the caller, for the panic handler.
#[inline(always)]
pub fn backtrace_here() {
    let fp: u64;
    // SAFETY: reads x29 only.
    unsafe { core::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack)) };
    write_backtrace(&mut EmergencyWriter, None, fp);
}

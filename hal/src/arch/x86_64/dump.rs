//! Crash dumps: the exception name, error code, every register, CR2/CR3 and
//! a frame-pointer backtrace, written to serial without taking any lock,
//! then a failing exit.

use super::serial::EmergencyWriter;
use super::trap::TrapFrame;
use super::{IDENTITY_MAP_LIMIT, KERNEL_LOW_LIMIT, PHYS_OFFSET};
use crate::ExitCode;
use core::fmt::Write;
use x86_64::registers::control::{Cr2, Cr3};

/// Most frames a backtrace prints.
pub const MAX_FRAMES: usize = 24;

/// The architectural name of exception `vector`.
pub fn exception_name(vector: u64) -> &'static str {
    const NAMES: [&str; 32] = [
        "divide error",
        "debug",
        "non-maskable interrupt",
        "breakpoint",
        "overflow",
        "bound range exceeded",
        "invalid opcode",
        "device not available",
        "double fault",
        "coprocessor segment overrun",
        "invalid TSS",
        "segment not present",
        "stack-segment fault",
        "general protection fault",
        "page fault",
        "reserved",
        "x87 floating-point error",
        "alignment check",
        "machine check",
        "SIMD floating-point error",
        "virtualization exception",
        "control protection exception",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "hypervisor injection",
        "VMM communication",
        "security exception",
        "reserved",
    ];
    NAMES
        .get(vector as usize)
        .copied()
        .unwrap_or("unexpected interrupt")
}

/// Describes a page-fault error code in words.
fn page_fault_cause(code: u64) -> (&'static str, &'static str, &'static str) {
    let access = if code & 0x10 != 0 {
        "instruction fetch"
    } else if code & 0x2 != 0 {
        "write"
    } else {
        "read"
    };
    let present = if code & 0x1 != 0 {
        "protection violation"
    } else {
        "page not present"
    };
    let mode = if code & 0x4 != 0 { "user" } else { "kernel" };
    (access, present, mode)
}

/// Prints the dump for an unrecoverable exception and exits with
/// [`ExitCode::Panic`].
pub fn fatal_exception(frame: &TrapFrame) -> ! {
    let mut w = EmergencyWriter;
    let _ = writeln!(
        w,
        "\n!!! EXCEPTION {} ({}) error_code={:#x}",
        frame.vector,
        exception_name(frame.vector),
        frame.error_code
    );
    if frame.vector == 14 {
        let (access, present, mode) = page_fault_cause(frame.error_code);
        let _ = writeln!(
            w,
            "    page fault: {mode} {access}, {present}, address CR2={:#018x}",
            Cr2::read_raw()
        );
    } else if frame.vector == 13 && frame.error_code != 0 {
        let table = match (frame.error_code >> 1) & 0b11 {
            0 => "GDT",
            2 => "LDT",
            _ => "IDT",
        };
        let _ = writeln!(
            w,
            "    selector error: {table} index {}",
            (frame.error_code >> 3) & 0x1fff
        );
    }
    write_registers(&mut w, frame);
    write_backtrace(&mut w, Some(frame.rip), frame.rbp);
    let _ = writeln!(w, "!!! kernel halted: unrecoverable exception");
    super::exit::exit(ExitCode::Panic)
}

fn write_registers(w: &mut EmergencyWriter, f: &TrapFrame) {
    let (cr3, _) = Cr3::read_raw();
    let _ = writeln!(
        w,
        "    RIP={:#018x} CS={:#06x} RFLAGS={:#010x} RSP={:#018x} SS={:#06x}",
        f.rip, f.cs, f.rflags, f.rsp, f.ss
    );
    let _ = writeln!(
        w,
        "    CR2={:#018x} CR3={:#018x}",
        Cr2::read_raw(),
        cr3.start_address().as_u64()
    );
    let rows = [
        [
            ("RAX", f.rax),
            ("RBX", f.rbx),
            ("RCX", f.rcx),
            ("RDX", f.rdx),
        ],
        [
            ("RSI", f.rsi),
            ("RDI", f.rdi),
            ("RBP", f.rbp),
            ("R8 ", f.r8),
        ],
        [
            ("R9 ", f.r9),
            ("R10", f.r10),
            ("R11", f.r11),
            ("R12", f.r12),
        ],
        [("R13", f.r13), ("R14", f.r14), ("R15", f.r15), ("   ", 0)],
    ];
    for row in rows {
        let _ = write!(w, "   ");
        for (name, value) in row.iter().filter(|(n, _)| !n.trim().is_empty()) {
            let _ = write!(w, " {name}={value:#018x}");
        }
        let _ = writeln!(w);
    }
}

/// Whether `rbp` can be a saved frame pointer we may read: 8-aligned, and
/// inside the low kernel region (kernel stacks) or the direct map, which
/// every address space maps; not in the first page.
fn plausible_frame(rbp: u64) -> bool {
    let low = rbp >= 0x1000 && rbp.saturating_add(16) <= KERNEL_LOW_LIMIT;
    let direct = rbp >= PHYS_OFFSET && rbp.saturating_add(16) <= PHYS_OFFSET + IDENTITY_MAP_LIMIT;
    rbp.is_multiple_of(8) && (low || direct)
}

/// Walks the frame-pointer chain from `rbp` and prints return addresses,
/// starting with `pc` when known. Stops at a null, implausible or non-increasing frame.
pub fn write_backtrace(w: &mut impl Write, pc: Option<u64>, mut rbp: u64) {
    let _ = writeln!(w, "    backtrace:");
    if let Some(pc) = pc {
        let _ = writeln!(w, "      #0  {pc:#018x}");
    }
    for depth in 1..MAX_FRAMES {
        if !plausible_frame(rbp) {
            break;
        }
        let frame = rbp as *const u64;
        // SAFETY: `plausible_frame` keeps both words inside regions every
        // address space maps readable; a garbage frame yields
        // garbage numbers, never a fault.
        let (next, ret) = unsafe { (frame.read_volatile(), frame.add(1).read_volatile()) };
        if ret == 0 {
            break;
        }
        let _ = writeln!(w, "      #{depth:<2} {ret:#018x}");
        if next <= rbp {
            break;
        }
        rbp = next;
    }
}

/// Prints a backtrace of the caller, for the panic handler.
#[inline(always)]
pub fn backtrace_here() {
    let rbp = super::cpu::frame_pointer();
    write_backtrace(&mut EmergencyWriter, None, rbp);
}

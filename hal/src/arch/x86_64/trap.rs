//! Interrupt and exception entry: assembly stubs that save every register
//! into a [`TrapFrame`], the IDT that points at them, and the dispatcher.
//!
//! Stable Rust has no `x86-interrupt` calling convention, and a useful
//! exception dump needs all general-purpose registers anyway, so each vector
//! gets a tiny stub that pushes a dummy error code where the CPU pushes none,
//! then the vector number, and jumps to one common path.

use super::{dump, gdt, lapic};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use spin::Once;
use x86_64::VirtAddr;
use x86_64::structures::idt::InterruptDescriptorTable;

/// Vector of the local APIC timer.
pub const TIMER_VECTOR: u8 = 32;
/// Vectors the remapped 8259 PICs raise spuriously (IRQ 7 and 15).
pub const PIC_SPURIOUS_VECTORS: [u8; 2] = [39, 47];
/// Vector of the local APIC's spurious interrupt.
pub const APIC_SPURIOUS_VECTOR: u8 = 255;

/// Registers saved on entry, lowest address first (the push order reversed).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
#[expect(missing_docs, reason = "register names are their own documentation")]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Which vector fired.
    pub vector: u64,
    /// The CPU's error code, or 0 for vectors without one.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

macro_rules! stubs {
    ($($vec:literal $kind:ident),* $(,)?) => {
        core::arch::global_asm!(
            ".macro EXO_TRAP_NOERR vec",
            ".global exo_trap_\\vec",
            "exo_trap_\\vec:",
            "    push 0",
            "    push \\vec",
            "    jmp exo_trap_common",
            ".endm",
            ".macro EXO_TRAP_ERR vec",
            ".global exo_trap_\\vec",
            "exo_trap_\\vec:",
            "    push \\vec",
            "    jmp exo_trap_common",
            ".endm",
            ".section .text.exo_trap, \"ax\"",
            $(concat!("EXO_TRAP_", stringify!($kind), " ", stringify!($vec)),)*
            "exo_trap_common:",
            "    push rax", "    push rbx", "    push rcx", "    push rdx",
            "    push rsi", "    push rdi", "    push rbp", "    push r8",
            "    push r9", "    push r10", "    push r11", "    push r12",
            "    push r13", "    push r14", "    push r15",
            "    cld",
            // The CPU aligned RSP to 16 before its 5-word frame; with the
            // 2 + 15 words pushed here RSP is 16-aligned again for the call.
            "    mov rdi, rsp",
            "    call {dispatch}",
            "    pop r15", "    pop r14", "    pop r13", "    pop r12",
            "    pop r11", "    pop r10", "    pop r9", "    pop r8",
            "    pop rbp", "    pop rdi", "    pop rsi", "    pop rdx",
            "    pop rcx", "    pop rbx", "    pop rax",
            "    add rsp, 16",
            "    iretq",
            ".section .rodata.exo_trap, \"a\"",
            ".balign 8",
            "exo_trap_vectors:",
            $(concat!(".quad ", stringify!($vec)), concat!(".quad exo_trap_", stringify!($vec)),)*
            ".quad 0xffff",
            ".text",
            dispatch = sym dispatch,
        );
    };
}

// Every architectural exception (the reserved vectors 15, 22-27 and 31 are
// never raised), the timer, and the spurious vectors.
stubs!(
    0 NOERR, 1 NOERR, 2 NOERR, 3 NOERR, 4 NOERR, 5 NOERR, 6 NOERR, 7 NOERR,
    8 ERR, 9 NOERR, 10 ERR, 11 ERR, 12 ERR, 13 ERR, 14 ERR,
    16 NOERR, 17 ERR, 18 NOERR, 19 NOERR, 20 NOERR, 21 ERR,
    28 NOERR, 29 ERR, 30 ERR,
    32 NOERR, 39 NOERR, 47 NOERR, 255 NOERR,
);

unsafe extern "C" {
    /// Pairs of (vector, stub address), ended by vector 0xffff.
    static exo_trap_vectors: [u64; 0];
}

/// A handler for one interrupt vector.
pub type Handler = fn(&mut TrapFrame);

static TIMER_HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);
static SPURIOUS: AtomicU64 = AtomicU64::new(0);
static IDT: Once<InterruptDescriptorTable> = Once::new();

/// Installs the function called on every local APIC timer tick (before EOI).
pub fn set_timer_handler(handler: Handler) {
    TIMER_HANDLER.store(handler as *mut (), Ordering::Release);
}

/// How many breakpoint (`int3`) exceptions were handled and resumed.
pub fn breakpoints() -> u64 {
    BREAKPOINTS.load(Ordering::Relaxed)
}

/// How many spurious interrupts were ignored.
pub fn spurious_interrupts() -> u64 {
    SPURIOUS.load(Ordering::Relaxed)
}

fn stub_table() -> impl Iterator<Item = (u8, u64)> {
    let base = (&raw const exo_trap_vectors).cast::<u64>();
    (0..).map_while(move |i| {
        // SAFETY: the table above is a run of (vector, address) pairs ended
        // by the 0xffff marker, which stops the walk before it overruns.
        let vector = unsafe { base.add(2 * i).read() };
        if vector == 0xffff {
            return None;
        }
        // SAFETY: as above; a non-marker vector is always followed by its
        // stub address.
        let address = unsafe { base.add(2 * i + 1).read() };
        Some((vector as u8, address))
    })
}

/// Builds and loads the IDT: every stubbed vector, with double faults and
/// NMIs/machine checks on their own IST stacks.
pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        for (vector, address) in stub_table() {
            let address = VirtAddr::new(address);
            // Error-code vectors (8, 10-14, 17, 21, 29, 30) use ERR stubs.
            // SAFETY: each address is a stub above: it saves all state,
            // calls `dispatch`, restores and `iretq`s.
            let options = unsafe {
                match vector {
                    8 => idt.double_fault.set_handler_addr(address),
                    10 => idt.invalid_tss.set_handler_addr(address),
                    11 => idt.segment_not_present.set_handler_addr(address),
                    12 => idt.stack_segment_fault.set_handler_addr(address),
                    13 => idt.general_protection_fault.set_handler_addr(address),
                    14 => idt.page_fault.set_handler_addr(address),
                    17 => idt.alignment_check.set_handler_addr(address),
                    18 => idt.machine_check.set_handler_addr(address),
                    21 => idt.cp_protection_exception.set_handler_addr(address),
                    29 => idt.vmm_communication_exception.set_handler_addr(address),
                    30 => idt.security_exception.set_handler_addr(address),
                    v => idt[v].set_handler_addr(address),
                }
            };
            match vector {
                8 => {
                    // SAFETY: the IST slot is set up by `gdt::init` and used
                    // by no other vector.
                    unsafe { options.set_stack_index(gdt::DOUBLE_FAULT_IST) };
                }
                2 | 18 => {
                    // SAFETY: NMIs and machine checks cannot nest with each
                    // other on one CPU in a way that reuses the slot while it
                    // is live, and nothing else uses it.
                    unsafe { options.set_stack_index(gdt::NMI_IST) };
                }
                _ => {}
            }
        }
        idt
    });
    idt.load();
}

extern "C" fn dispatch(frame: &mut TrapFrame) {
    match frame.vector as u8 {
        TIMER_VECTOR => {
            let handler = TIMER_HANDLER.load(Ordering::Acquire);
            if !handler.is_null() {
                // SAFETY: only `set_timer_handler` stores here, and it
                // stores a `Handler`.
                let handler: Handler = unsafe { core::mem::transmute::<*mut (), Handler>(handler) };
                handler(frame);
            }
            lapic::end_of_interrupt();
        }
        3 => {
            BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
        }
        v if v == APIC_SPURIOUS_VECTOR || PIC_SPURIOUS_VECTORS.contains(&v) => {
            SPURIOUS.fetch_add(1, Ordering::Relaxed);
        }
        _ => dump::fatal_exception(frame),
    }
}

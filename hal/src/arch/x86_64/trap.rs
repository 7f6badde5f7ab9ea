//! Interrupt and exception entry: assembly stubs that save every register
//! into a [`TrapFrame`], the IDT that points at them, and the dispatcher.
//!
//! Stable Rust has no `x86-interrupt` calling convention, and a useful
//! exception dump needs all general-purpose registers anyway, so each vector
//! gets a tiny stub that pushes a dummy error code where the CPU pushes none,
//! then the vector number, and jumps to one common path.
//!
//! `syscall` enters through the same path: its stub switches to the kernel
//! stack and builds the same frame an interrupt from user mode would (with
//! vector [`SYSCALL_VECTOR`]), so every entry from user mode leaves the
//! complete user register state in one [`TrapFrame`] at the top of the
//! kernel stack, and every return is an `iretq` from such a frame. Switching
//! environments is therefore rewriting that frame (and CR3).

use super::{dump, gdt, ioapic, lapic};
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
/// Pseudo-vector recorded in frames built by the `syscall` entry.
pub const SYSCALL_VECTOR: u64 = 0x100;

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
            ".global exo_trap_return",
            "exo_trap_return:",
            "    pop r15", "    pop r14", "    pop r13", "    pop r12",
            "    pop r11", "    pop r10", "    pop r9", "    pop r8",
            "    pop rbp", "    pop rdi", "    pop rsi", "    pop rdx",
            "    pop rcx", "    pop rbx", "    pop rax",
            "    add rsp, 16",
            "    iretq",
            // syscall: RCX = user RIP, R11 = user RFLAGS, RSP = user RSP,
            // interrupts off (SFMASK). Build an interrupt-style frame.
            ".global exo_syscall_entry",
            "exo_syscall_entry:",
            "    mov [rip + exo_user_rsp], rsp",
            "    mov rsp, [rip + exo_kernel_rsp]",
            "    push {user_data}",
            "    push qword ptr [rip + exo_user_rsp]",
            "    push r11",
            "    push {user_code}",
            "    push rcx",
            "    push 0",
            "    push {syscall_vector}",
            "    jmp exo_trap_common",
            ".section .bss.exo_trap, \"aw\", @nobits",
            ".balign 8",
            ".global exo_user_rsp",
            "exo_user_rsp: .skip 8",
            ".global exo_kernel_rsp",
            "exo_kernel_rsp: .skip 8",
            ".section .rodata.exo_trap, \"a\"",
            ".balign 8",
            "exo_trap_vectors:",
            $(concat!(".quad ", stringify!($vec)), concat!(".quad exo_trap_", stringify!($vec)),)*
            ".quad 0xffff",
            ".text",
            dispatch = sym dispatch,
            user_data = const gdt::USER_DATA as u64,
            user_code = const gdt::USER_CODE as u64,
            syscall_vector = const SYSCALL_VECTOR,
        );
    };
}

// Every architectural exception (the reserved vectors 15, 22-27 and 31 are
// never raised), the timer, the spurious vectors, and the 24 IO-APIC lines
// (vectors 48-71).
stubs!(
    0 NOERR, 1 NOERR, 2 NOERR, 3 NOERR, 4 NOERR, 5 NOERR, 6 NOERR, 7 NOERR,
    8 ERR, 9 NOERR, 10 ERR, 11 ERR, 12 ERR, 13 ERR, 14 ERR,
    16 NOERR, 17 ERR, 18 NOERR, 19 NOERR, 20 NOERR, 21 ERR,
    28 NOERR, 29 ERR, 30 ERR,
    32 NOERR, 39 NOERR, 47 NOERR,
    48 NOERR, 49 NOERR, 50 NOERR, 51 NOERR, 52 NOERR, 53 NOERR, 54 NOERR, 55 NOERR,
    56 NOERR, 57 NOERR, 58 NOERR, 59 NOERR, 60 NOERR, 61 NOERR, 62 NOERR, 63 NOERR,
    64 NOERR, 65 NOERR, 66 NOERR, 67 NOERR, 68 NOERR, 69 NOERR, 70 NOERR, 71 NOERR,
    255 NOERR,
);

unsafe extern "C" {
    /// Pairs of (vector, stub address), ended by vector 0xffff.
    static exo_trap_vectors: [u64; 0];
    /// The kernel stack pointer the `syscall` entry switches to.
    static mut exo_kernel_rsp: u64;
    /// The `syscall` entry point (for LSTAR).
    fn exo_syscall_entry();
    /// The register-restoring tail of the common trap path.
    fn exo_trap_return();
}

/// A handler for one interrupt vector.
pub type Handler = fn(&mut TrapFrame);

static TIMER_HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static SYSCALL_HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static USER_FAULT_HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static IRQ_HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);
static SPURIOUS: AtomicU64 = AtomicU64::new(0);
static IDT: Once<InterruptDescriptorTable> = Once::new();

/// Installs the function called on every local APIC timer tick (before EOI).
pub fn set_timer_handler(handler: Handler) {
    TIMER_HANDLER.store(handler as *mut (), Ordering::Release);
}

/// Installs the function called for every `syscall` from user mode. It may
/// rewrite the frame (results, or another environment's state).
pub fn set_syscall_handler(handler: Handler) {
    SYSCALL_HANDLER.store(handler as *mut (), Ordering::Release);
}

/// Installs the function called for IO-APIC lines (vectors 48–71) before
/// the EOI; `frame.vector - 48` is the line. The line is masked first, so
/// a level-triggered source cannot storm before its owner acknowledges it.
pub fn set_irq_handler(handler: Handler) {
    IRQ_HANDLER.store(handler as *mut (), Ordering::Release);
}

/// Installs the function called for exceptions raised in user mode (page
/// faults, #GP, #UD, #DE, …) instead of the fatal kernel dump.
pub fn set_user_fault_handler(handler: Handler) {
    USER_FAULT_HANDLER.store(handler as *mut (), Ordering::Release);
}

fn handler(slot: &AtomicPtr<()>) -> Option<Handler> {
    let handler = slot.load(Ordering::Acquire);
    // SAFETY: only the `set_*_handler` functions store into these slots,
    // and they store `Handler`s.
    (!handler.is_null()).then(|| unsafe { core::mem::transmute::<*mut (), Handler>(handler) })
}

/// Whether `frame` was saved while the CPU ran user code.
#[must_use]
pub fn from_user(frame: &TrapFrame) -> bool {
    frame.cs & 3 == 3
}

/// A frame that starts user code at `rip` with stack `rsp`: user
/// selectors, interrupts enabled, every other register zero.
#[must_use]
pub fn user_frame(rip: u64, rsp: u64) -> TrapFrame {
    TrapFrame {
        rip,
        rsp,
        cs: u64::from(gdt::USER_CODE),
        ss: u64::from(gdt::USER_DATA),
        rflags: RFLAGS_USER,
        ..TrapFrame::default()
    }
}

/// RFLAGS for user code: IF set, the reserved bit 1 set, IOPL 0.
pub const RFLAGS_USER: u64 = 0x202;

/// Makes `frame` safe to return to user mode with: user selectors, IF set,
/// IOPL 0, no trap/nested-task/resume/VM flags. Applied to any frame whose
/// registers an environment influenced.
pub fn sanitize_user_frame(frame: &mut TrapFrame) {
    const ALLOWED: u64 = 0xcd5; // CF PF AF ZF SF DF OF
    frame.cs = u64::from(gdt::USER_CODE);
    frame.ss = u64::from(gdt::USER_DATA);
    frame.rflags = (frame.rflags & ALLOWED) | RFLAGS_USER;
}

/// Leaves the kernel for user mode with the registers in `frame`, on a
/// fresh kernel stack. The address space must already be active.
pub fn enter_user(frame: &TrapFrame) -> ! {
    let mut frame = *frame;
    sanitize_user_frame(&mut frame);
    let top = gdt::kernel_stack_top();
    let slot = (top - size_of::<TrapFrame>() as u64) as *mut TrapFrame;
    // SAFETY: the slot is the top of the kernel stack for user entries,
    // which holds nothing while the kernel runs on its boot stack or
    // unwinds into user mode; `exo_trap_return` pops exactly a `TrapFrame`
    // and `iretq`s with user selectors set above.
    unsafe {
        slot.write(frame);
        core::arch::asm!(
            "mov rsp, {slot}",
            "jmp {ret}",
            slot = in(reg) slot,
            ret = sym exo_trap_return,
            options(noreturn)
        )
    }
}

/// Enables `syscall`: EFER.SCE, the entry point, the kernel selectors and
/// the flags cleared on entry (IF, TF, DF, AC, NT).
pub fn init_syscall() {
    use x86_64::PrivilegeLevel;
    use x86_64::registers::model_specific::{Efer, EferFlags, LStar, SFMask, Star};
    use x86_64::registers::rflags::RFlags;
    use x86_64::structures::gdt::SegmentSelector;
    // SAFETY: single CPU, before any user code runs; nothing reads the
    // variable concurrently.
    unsafe { (&raw mut exo_kernel_rsp).write(gdt::kernel_stack_top()) };
    let sel = |index, rpl| SegmentSelector::new(index, rpl);
    let set = Star::write(
        sel(4, PrivilegeLevel::Ring3),
        sel(3, PrivilegeLevel::Ring3),
        sel(1, PrivilegeLevel::Ring0),
        sel(2, PrivilegeLevel::Ring0),
    );
    if let Err(e) = set {
        log::error!("STAR: {e}");
    }
    LStar::write(VirtAddr::new(exo_syscall_entry as *const () as u64));
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK,
    );
    // SAFETY: enabling `syscall` with LSTAR/STAR/SFMASK set above.
    unsafe { Efer::update(|f| f.insert(EferFlags::SYSTEM_CALL_EXTENSIONS)) };
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
    if frame.vector == SYSCALL_VECTOR {
        match handler(&SYSCALL_HANDLER) {
            Some(h) => h(frame),
            None => frame.rax = u64::MAX,
        }
        return;
    }
    match frame.vector as u8 {
        TIMER_VECTOR => {
            // EOI first: the handler may switch to another environment and
            // never come back to this point in the same context.
            lapic::end_of_interrupt();
            if let Some(h) = handler(&TIMER_HANDLER) {
                h(frame);
            }
        }
        3 => {
            BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
        }
        v @ 48..=71 => {
            let line = u32::from(v - ioapic::IRQ_VECTOR_BASE);
            ioapic::set_masked(line, true);
            lapic::end_of_interrupt();
            if let Some(h) = handler(&IRQ_HANDLER) {
                h(frame);
            }
        }
        v if v == APIC_SPURIOUS_VECTOR || PIC_SPURIOUS_VECTORS.contains(&v) => {
            SPURIOUS.fetch_add(1, Ordering::Relaxed);
        }
        _ if from_user(frame) && frame.vector < 32 => match handler(&USER_FAULT_HANDLER) {
            Some(h) => h(frame),
            None => dump::fatal_exception(frame),
        },
        _ => dump::fatal_exception(frame),
    }
}

impl crate::context::UserContext for TrapFrame {
    fn new_user(entry: u64, stack: u64, arg: u64) -> Self {
        TrapFrame {
            rdi: arg,
            ..user_frame(entry, stack)
        }
    }

    /// `syscall` convention: RAX = number.
    fn syscall_number(&self) -> u64 {
        self.rax
    }

    /// RDI, RSI, RDX, R10, R8, R9 (RCX and R11 hold the return RIP and
    /// RFLAGS).
    fn syscall_args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }

    /// RAX, then RDI, RSI, RDX, R10, R8.
    fn set_results(&mut self, values: &[u64]) {
        let slots: [&mut u64; 6] = [
            &mut self.rax,
            &mut self.rdi,
            &mut self.rsi,
            &mut self.rdx,
            &mut self.r10,
            &mut self.r8,
        ];
        for (slot, value) in slots.into_iter().zip(values) {
            *slot = *value;
        }
    }

    fn instruction_pointer(&self) -> u64 {
        self.rip
    }

    /// RAX, RBX, RCX, RDX, RSI, RDI, RBP, R8–R15, RIP, RSP, RFLAGS.
    fn to_words(&self) -> [u64; crate::context::CONTEXT_WORDS] {
        let mut w = [0; crate::context::CONTEXT_WORDS];
        let regs = [
            self.rax,
            self.rbx,
            self.rcx,
            self.rdx,
            self.rsi,
            self.rdi,
            self.rbp,
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
            self.rip,
            self.rsp,
            self.rflags,
        ];
        w[..regs.len()].copy_from_slice(&regs);
        w
    }

    fn from_words(w: &[u64; crate::context::CONTEXT_WORDS]) -> Self {
        let mut frame = TrapFrame {
            rax: w[0],
            rbx: w[1],
            rcx: w[2],
            rdx: w[3],
            rsi: w[4],
            rdi: w[5],
            rbp: w[6],
            r8: w[7],
            r9: w[8],
            r10: w[9],
            r11: w[10],
            r12: w[11],
            r13: w[12],
            r14: w[13],
            r15: w[14],
            rip: w[15],
            rsp: w[16],
            rflags: w[17],
            ..TrapFrame::default()
        };
        sanitize_user_frame(&mut frame);
        frame
    }
}

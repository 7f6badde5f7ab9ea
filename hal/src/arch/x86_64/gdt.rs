//! The GDT and TSS: flat kernel and user segments, the kernel stack that
//! entries from user mode run on, and separate interrupt stacks for the
//! exceptions that must run even when the current stack is unusable.
//!
//! Selector layout (fixed: `syscall`/`sysret` derive selectors from STAR):
//! 0x08 kernel code, 0x10 kernel data, 0x18 user data, 0x20 user code,
//! 0x28 TSS.

use core::cell::UnsafeCell;
use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot for double faults.
pub const DOUBLE_FAULT_IST: u16 = 0;
/// IST slot for NMIs and machine checks.
pub const NMI_IST: u16 = 1;

const IST_STACK_SIZE: usize = 16 * 1024;
/// Size of the kernel stack for entries from user mode.
const KERNEL_STACK_SIZE: usize = 64 * 1024;

/// Memory the CPU uses as a stack: written behind Rust's back, so it lives
/// in an `UnsafeCell` (writable `.bss`, never assumed constant).
#[repr(C, align(16))]
struct Stack<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: Rust code never reads or writes the contents; only the CPU uses
// the memory, as a stack, on one CPU at a time per stack.
unsafe impl<const N: usize> Sync for Stack<N> {}

impl<const N: usize> Stack<N> {
    const fn new() -> Self {
        Self(UnsafeCell::new([0; N]))
    }
}

static DOUBLE_FAULT_STACK: Stack<IST_STACK_SIZE> = Stack::new();
static NMI_STACK: Stack<IST_STACK_SIZE> = Stack::new();
/// The stack every entry from user mode (interrupt, exception, `syscall`)
/// starts on. The kernel keeps no state on it between entries: it is empty
/// whenever user code runs.
static KERNEL_STACK: Stack<KERNEL_STACK_SIZE> = Stack::new();

/// User data selector (RPL 3).
pub const USER_DATA: u16 = 0x18 | 3;
/// User code selector (RPL 3).
pub const USER_CODE: u16 = 0x20 | 3;
/// Kernel code selector.
pub const KERNEL_CODE: u16 = 0x08;
/// Kernel data selector.
pub const KERNEL_DATA: u16 = 0x10;

/// Selectors of the loaded GDT.
#[derive(Clone, Copy, Debug)]
pub struct Selectors {
    /// 64-bit kernel code.
    pub kernel_code: SegmentSelector,
    /// Kernel data.
    pub kernel_data: SegmentSelector,
    /// User data (RPL 3).
    pub user_data: SegmentSelector,
    /// User code (RPL 3).
    pub user_code: SegmentSelector,
    /// The TSS.
    pub tss: SegmentSelector,
}

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

fn stack_top<const N: usize>(stack: &'static Stack<N>) -> VirtAddr {
    // The CPU only ever writes below the top; the stack statics are never
    // read or written by Rust code, so handing their top to the TSS is sound.
    VirtAddr::from_ptr(stack.0.get().cast::<u8>().wrapping_add(N))
}

/// Loads the GDT and TSS and reloads every segment register. Idempotent.
pub fn init() -> Selectors {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST)] = stack_top(&DOUBLE_FAULT_STACK);
        tss.interrupt_stack_table[usize::from(NMI_IST)] = stack_top(&NMI_STACK);
        tss.privilege_stack_table[0] = stack_top(&KERNEL_STACK);
        tss
    });
    let (gdt, selectors) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let kernel_code = gdt.append(Descriptor::kernel_code_segment());
        let kernel_data = gdt.append(Descriptor::kernel_data_segment());
        let user_data = gdt.append(Descriptor::user_data_segment());
        let user_code = gdt.append(Descriptor::user_code_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        (
            gdt,
            Selectors {
                kernel_code,
                kernel_data,
                user_data,
                user_code,
                tss,
            },
        )
    });
    // `syscall`/`sysret` and the trap code rely on this exact layout.
    assert!(
        selectors.kernel_code.0 == KERNEL_CODE
            && selectors.kernel_data.0 == KERNEL_DATA
            && selectors.user_data.0 == USER_DATA
            && selectors.user_code.0 == USER_CODE,
        "GDT layout differs from the selector constants"
    );
    gdt.load();
    // SAFETY: the selectors index the GDT just loaded, whose descriptors are
    // the flat 64-bit kernel segments and a valid 'static TSS.
    unsafe {
        CS::set_reg(selectors.kernel_code);
        DS::set_reg(selectors.kernel_data);
        ES::set_reg(selectors.kernel_data);
        SS::set_reg(selectors.kernel_data);
        load_tss(selectors.tss);
    }
    *selectors
}

/// Top of the kernel stack used for entries from user mode.
#[must_use]
pub fn kernel_stack_top() -> u64 {
    stack_top(&KERNEL_STACK).as_u64()
}

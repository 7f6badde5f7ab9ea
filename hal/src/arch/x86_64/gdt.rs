//! The GDT and TSS: flat kernel segments, and separate interrupt stacks for
//! the exceptions that must run even when the current stack is unusable.

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

#[repr(C, align(16))]
struct Stack([u8; IST_STACK_SIZE]);

static DOUBLE_FAULT_STACK: Stack = Stack([0; IST_STACK_SIZE]);
static NMI_STACK: Stack = Stack([0; IST_STACK_SIZE]);

/// Selectors of the loaded GDT.
#[derive(Clone, Copy, Debug)]
pub struct Selectors {
    /// 64-bit kernel code.
    pub kernel_code: SegmentSelector,
    /// Kernel data.
    pub kernel_data: SegmentSelector,
    /// The TSS.
    pub tss: SegmentSelector,
}

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

fn stack_top(stack: &'static Stack) -> VirtAddr {
    // The CPU only ever writes below the top; the stack statics are never
    // read or written by Rust code, so handing their top to the TSS is sound.
    VirtAddr::from_ptr(stack.0.as_ptr_range().end)
}

/// Loads the GDT and TSS and reloads every segment register. Idempotent.
pub fn init() -> Selectors {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST)] = stack_top(&DOUBLE_FAULT_STACK);
        tss.interrupt_stack_table[usize::from(NMI_IST)] = stack_top(&NMI_STACK);
        tss
    });
    let (gdt, selectors) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let kernel_code = gdt.append(Descriptor::kernel_code_segment());
        let kernel_data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        (
            gdt,
            Selectors {
                kernel_code,
                kernel_data,
                tss,
            },
        )
    });
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

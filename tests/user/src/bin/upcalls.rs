//! A libOS in miniature: registers an upcall handler that emulates an
//! unknown ("foreign") system call, pages in memory on demand, skips an
//! invalid instruction, and counts slice-end upcalls.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};

use exo_sys::{access, println, upcall};

/// Context word indices (x86_64 order, docs/EXO_ABI.md): the result
/// register, the first argument register, the instruction pointer; the
/// fault vectors of a page fault and an invalid instruction, and how long
/// the invalid instruction is.
#[cfg(target_arch = "x86_64")]
mod arch {
    use exo_sys::upcall;
    pub const RESULT: usize = upcall::CONTEXT;
    pub const ARG0: usize = upcall::CONTEXT + 5;
    pub const PC: usize = upcall::CONTEXT + 15;
    pub const PAGE_FAULT: u64 = 14;
    pub const INVALID: u64 = 6;
    pub const INVALID_BYTES: u64 = 2;
    /// Raises the invalid-instruction fault.
    pub fn invalid() {
        // SAFETY: raises #UD, which the handler skips.
        unsafe { core::arch::asm!("ud2") };
    }
}
/// The same for aarch64 (x0 is both result and first argument; the fault
/// vector is the exception class: a data abort from EL0, an unknown
/// instruction).
#[cfg(target_arch = "aarch64")]
mod arch {
    use exo_sys::upcall;
    pub const RESULT: usize = upcall::CONTEXT;
    pub const ARG0: usize = upcall::CONTEXT;
    pub const PC: usize = upcall::CONTEXT + 32;
    pub const PAGE_FAULT: u64 = 0x24;
    pub const INVALID: u64 = 0x00;
    pub const INVALID_BYTES: u64 = 4;
    /// Raises the invalid-instruction fault.
    pub fn invalid() {
        // SAFETY: raises an undefined-instruction exception, which the
        // handler skips.
        unsafe { core::arch::asm!("udf #0") };
    }
}
use arch::{ARG0, PC, RESULT};
/// Where pages appear on demand.
const LAZY: u64 = exo_sys::user_address(0x5000_0000);
/// A made-up foreign system call: returns the sum of its first argument and 1000.
const FOREIGN_CALL: u64 = 0x1234;

#[repr(C, align(16))]
struct Stack([u8; 16 * 1024]);
static mut UPCALL_STACK: Stack = Stack([0; 16 * 1024]);

static SLICE_ENDS: AtomicU64 = AtomicU64::new(0);
static PAGE_FAULTS: AtomicU64 = AtomicU64::new(0);
static EMULATED: AtomicU64 = AtomicU64::new(0);
static SKIPPED: AtomicU64 = AtomicU64::new(0);

fn handler(kind: u64, frame: *mut u64) -> ! {
    // SAFETY: the kernel wrote a frame of FRAME_WORDS words at `frame`, on
    // our upcall stack, and nothing else uses it while we run.
    let words = unsafe { &mut *frame.cast::<[u64; upcall::FRAME_WORDS]>() };
    match kind {
        upcall::SYSCALL if words[1] == FOREIGN_CALL => {
            words[RESULT] = words[ARG0] + 1000;
            EMULATED.fetch_add(1, Ordering::Relaxed);
        }
        upcall::FAULT if words[1] == arch::PAGE_FAULT => {
            let page = words[3] & !0xfff;
            let ok = (LAZY..LAZY + 0x10_0000).contains(&page)
                && exo_sys::frame_alloc(1)
                    .and_then(|f| exo_sys::map(f, 0, page, access::WRITE))
                    .is_ok();
            if !ok {
                println!("upcalls: unexpected page fault at {:#x}", words[3]);
                exo_sys::exit(3);
            }
            PAGE_FAULTS.fetch_add(1, Ordering::Relaxed);
        }
        upcall::FAULT if words[1] == arch::INVALID => {
            words[PC] += arch::INVALID_BYTES;
            SKIPPED.fetch_add(1, Ordering::Relaxed);
        }
        upcall::SLICE_END => {
            SLICE_ENDS.fetch_add(1, Ordering::Relaxed);
            exo_sys::yield_now();
        }
        _ => {
            println!("upcalls: unexpected upcall {kind} {:?}", &words[..5]);
            exo_sys::exit(4);
        }
    }
    exo_sys::upcall_return(frame)
}

#[unsafe(no_mangle)]
fn main(env: u64) -> u64 {
    let top = (&raw const UPCALL_STACK) as u64 + size_of::<Stack>() as u64;
    if exo_sys::upcall_install(handler, top).is_err() {
        return 1;
    }
    // 1. A system call the kernel does not know, answered by our handler.
    let answer = exo_sys::syscall(FOREIGN_CALL, &[7]);
    println!("upcalls {env}: foreign call answered {answer:?}");
    // 2. Demand paging: touch 4 pages nobody mapped.
    let mut sum = 0u64;
    for i in 0..4u64 {
        let p = (LAZY + i * 0x1000) as *mut u64;
        // SAFETY: the handler maps the page on the first touch.
        unsafe {
            p.write_volatile(i + 1);
            sum += p.read_volatile();
        }
    }
    println!("upcalls {env}: demand-paged 4 pages, sum {sum}");
    // 3. An invalid instruction, skipped by the handler.
    arch::invalid();
    // 4. Spin until three slice-end upcalls have arrived.
    while SLICE_ENDS.load(Ordering::Relaxed) < 3 {
        core::hint::spin_loop();
    }
    println!(
        "upcalls {env}: {} emulated, {} page faults, {} skipped, {} slice ends",
        EMULATED.load(Ordering::Relaxed),
        PAGE_FAULTS.load(Ordering::Relaxed),
        SKIPPED.load(Ordering::Relaxed),
        SLICE_ENDS.load(Ordering::Relaxed)
    );
    let ok = answer == Ok(1007) && sum == 10 && PAGE_FAULTS.load(Ordering::Relaxed) == 4;
    u64::from(!ok)
}

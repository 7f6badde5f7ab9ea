//! A user-mode driver for the ARM PL031 real-time clock (QEMU `virt`'s
//! `/pl031@9010000`): finds the MMIO and IRQ capabilities its boot
//! manifest granted, maps the registers, checks the PrimeCell ID, binds
//! the clock's line (a level-triggered GIC SPI), takes two match
//! interrupts through `IRQ_WAIT`/`IRQ_ACK`, then rebinds the line for
//! upcalls and takes one more in its upcall handler while it computes. The
//! kernel never touches the device.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};

use exo_sys::{access, irq_flags, println, upcall};

const REGS: u64 = exo_sys::user_address(0x6000_0000);
/// Data (seconds), match, load, control, interrupt mask, raw status,
/// masked status, clear.
const DR: u64 = 0x00;
const MR: u64 = 0x04;
const CR: u64 = 0x0c;
const IMSC: u64 = 0x10;
const RIS: u64 = 0x14;
const ICR: u64 = 0x1c;
/// PeriphID0/1 and PCellID0–3.
const PERIPH_ID0: u64 = 0xfe0;
const PERIPH_ID1: u64 = 0xfe4;
const PCELL_ID: u64 = 0xff0;
const KIND_IRQ: u64 = 4;
const KIND_MMIO: u64 = 5;

fn read(offset: u64) -> u32 {
    // SAFETY: REGS maps the PL031's register page (device memory,
    // writable); every offset used is a 32-bit register in it.
    unsafe { ((REGS + offset) as *const u32).read_volatile() }
}

fn write(offset: u64, value: u32) {
    // SAFETY: as in `read`.
    unsafe { ((REGS + offset) as *mut u32).write_volatile(value) }
}

/// Asks for an interrupt at the next second.
fn arm() {
    write(ICR, 1);
    write(MR, read(DR).wrapping_add(1));
    write(IMSC, 1);
}

static LINE: AtomicU64 = AtomicU64::new(0);
static UPCALL_IRQS: AtomicU64 = AtomicU64::new(0);

#[repr(C, align(16))]
struct Stack([u8; 16 * 1024]);
static mut UPCALL_STACK: Stack = Stack([0; 16 * 1024]);

fn handler(kind: u64, frame: *mut u64) -> ! {
    // SAFETY: the kernel wrote an upcall frame at `frame` on our stack.
    let lines = unsafe { frame.add(1).read() };
    let line = LINE.load(Ordering::Relaxed);
    if kind == upcall::SLICE_END {
        exo_sys::yield_now();
    } else if kind == upcall::IRQ && lines & (1 << line) != 0 {
        write(IMSC, 0);
        write(ICR, 1);
        UPCALL_IRQS.fetch_add(1, Ordering::Relaxed);
        let _ = exo_sys::irq_ack(line);
    } else {
        println!("rtcdrv: unexpected upcall {kind}");
        exo_sys::exit(9);
    }
    exo_sys::upcall_return(frame)
}

#[unsafe(no_mangle)]
fn main(env: u64) -> u64 {
    let (Some((mmio, regs)), Some((irq, lines))) =
        (exo_sys::cap_find(KIND_MMIO), exo_sys::cap_find(KIND_IRQ))
    else {
        println!("rtcdrv {env}: no MMIO or IRQ capability granted");
        return 1;
    };
    // An MMIO capability always maps as device memory.
    if let Err(e) = exo_sys::map(mmio, 0, REGS, access::WRITE) {
        println!("rtcdrv: mapping the registers: {e}");
        return 2;
    }
    let part = (read(PERIPH_ID0) & 0xff) | ((read(PERIPH_ID1) & 0xf) << 8);
    let cell: [u32; 4] = core::array::from_fn(|i| read(PCELL_ID + 4 * i as u64) & 0xff);
    if part != 0x031 || cell != [0x0d, 0xf0, 0x05, 0xb1] {
        println!("rtcdrv: not a PL031 (part {part:#x}, cell id {cell:x?})");
        return 3;
    }
    let line = lines.first;
    if let Err(e) = exo_sys::irq_bind(irq, line, irq_flags::LEVEL) {
        println!("rtcdrv: binding line {line}: {e}");
        return 4;
    }
    write(CR, 1);
    println!(
        "rtcdrv {env}: PL031 at {:#x}, {} s since the epoch, match interrupt on line {line}",
        regs.first,
        read(DR)
    );
    for shot in 1..=2 {
        arm();
        match exo_sys::irq_wait() {
            Ok(mask) if mask & (1 << line) != 0 && read(RIS) & 1 != 0 => {
                println!(
                    "rtcdrv: interrupt {shot} on line {line} at second {}",
                    read(DR)
                );
            }
            other => {
                println!("rtcdrv: unexpected wait result {other:?}");
                return 5;
            }
        }
        write(IMSC, 0);
        write(ICR, 1);
        if exo_sys::irq_ack(line).is_err() {
            return 6;
        }
    }
    // Phase two: the same line as upcalls, while we busy ourselves.
    LINE.store(line, Ordering::Relaxed);
    let top = (&raw const UPCALL_STACK) as u64 + size_of::<Stack>() as u64;
    if exo_sys::irq_unbind(line).is_err()
        || exo_sys::upcall_install(handler, top).is_err()
        || exo_sys::irq_bind(irq, line, irq_flags::LEVEL | irq_flags::UPCALL).is_err()
    {
        return 7;
    }
    arm();
    let mut spins = 0u64;
    while UPCALL_IRQS.load(Ordering::Relaxed) < 1 {
        spins = spins.wrapping_add(1);
        core::hint::spin_loop();
    }
    println!("rtcdrv: 1 interrupt arrived as an upcall while computing ({spins} spins)");
    let _ = exo_sys::irq_unbind(line);
    println!("rtcdrv: done");
    0
}

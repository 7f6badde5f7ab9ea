//! A user-mode HPET driver: finds the MMIO and IRQ capabilities its boot
//! manifest granted, maps the registers, routes timer 0 to an IO-APIC line
//! the HPET supports and its IRQ capability covers, takes three one-shot
//! interrupts through `IRQ_WAIT`/`IRQ_ACK`, then rebinds the line for
//! upcalls and takes two more in its upcall handler while it computes. The
//! kernel never touches the device.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};

use exo_sys::{access, irq_flags, println, upcall};

const REGS: u64 = 0x6000_0000;
const GCAP_ID: u64 = 0x000;
const GEN_CONF: u64 = 0x010;
const GINTR_STA: u64 = 0x020;
const MAIN_CNT: u64 = 0x0f0;
const T0_CONF: u64 = 0x100;
const T0_CMP: u64 = 0x108;
const KIND_IRQ: u64 = 4;
const KIND_MMIO: u64 = 5;

fn reg(offset: u64) -> *mut u64 {
    (REGS + offset) as *mut u64
}

fn read(offset: u64) -> u64 {
    // SAFETY: REGS maps the HPET's register page (uncached, writable).
    unsafe { reg(offset).read_volatile() }
}

fn write(offset: u64, value: u64) {
    // SAFETY: as in `read`.
    unsafe { reg(offset).write_volatile(value) }
}

static LINE: AtomicU64 = AtomicU64::new(0);
static TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);
static UPCALL_IRQS: AtomicU64 = AtomicU64::new(0);

#[repr(C, align(16))]
struct Stack([u8; 16 * 1024]);
static mut UPCALL_STACK: Stack = Stack([0; 16 * 1024]);

/// Arms timer 0 to fire in 2 ms.
fn arm() {
    let line = LINE.load(Ordering::Relaxed);
    write(
        T0_CMP,
        read(MAIN_CNT).wrapping_add(2 * TICKS_PER_MS.load(Ordering::Relaxed)),
    );
    write(T0_CONF, (line << 9) | (1 << 2));
}

fn handler(kind: u64, frame: *mut u64) -> ! {
    // SAFETY: the kernel wrote an upcall frame at `frame` on our stack.
    let lines = unsafe { frame.add(1).read() };
    let line = LINE.load(Ordering::Relaxed);
    if kind == upcall::SLICE_END {
        // Registering a handler means hearing about slice ends too.
        exo_sys::yield_now();
    } else if kind == upcall::IRQ && lines & (1 << line) != 0 {
        write(GINTR_STA, 1);
        let n = UPCALL_IRQS.fetch_add(1, Ordering::Relaxed) + 1;
        let _ = exo_sys::irq_ack(line);
        if n < 2 {
            arm();
        }
    } else {
        println!("hpetdrv: unexpected upcall {kind}");
        exo_sys::exit(9);
    }
    exo_sys::upcall_return(frame)
}

#[unsafe(no_mangle)]
fn main(env: u64) -> u64 {
    let (Some((mmio, regs)), Some((irq, lines))) =
        (exo_sys::cap_find(KIND_MMIO), exo_sys::cap_find(KIND_IRQ))
    else {
        println!("hpetdrv {env}: no MMIO or IRQ capability granted");
        return 1;
    };
    if exo_sys::map(mmio, 0, REGS, access::WRITE).is_err() {
        return 2;
    }
    let caps = read(GCAP_ID);
    let period_fs = caps >> 32;
    if period_fs == 0 || period_fs > 100_000_000 {
        println!("hpetdrv: implausible HPET period {period_fs} fs");
        return 3;
    }
    let ticks_per_ms = 1_000_000_000_000 / period_fs;
    // Timer 0's routable IO-APIC pins, restricted to the lines we hold.
    let route_cap = read(T0_CONF) >> 32;
    let ours =
        (lines.first..lines.first + lines.count).filter(|&l| l < 32 && route_cap & (1 << l) != 0);
    let Some(line) = ours.max() else {
        println!("hpetdrv: no routable line in {route_cap:#x} among ours");
        return 4;
    };
    if let Err(e) = exo_sys::irq_bind(irq, line, 0) {
        println!("hpetdrv: binding line {line}: {e}");
        return 5;
    }
    println!(
        "hpetdrv {env}: HPET at {:#x}, {} timers, {ticks_per_ms} ticks/ms, timer 0 on line {line}",
        regs.first,
        ((caps >> 8) & 0x1f) + 1
    );
    // Counter running, timer 0 one-shot and edge-triggered to `line`, its
    // interrupt enabled only once the first comparator value is set.
    write(GEN_CONF, 1);
    write(T0_CONF, line << 9);
    for shot in 1..=3 {
        let start = read(MAIN_CNT);
        write(T0_CMP, start.wrapping_add(5 * ticks_per_ms));
        write(T0_CONF, (line << 9) | (1 << 2));
        match exo_sys::irq_wait() {
            Ok(mask) if mask & (1 << line) != 0 => {
                let elapsed = read(MAIN_CNT).wrapping_sub(start);
                println!(
                    "hpetdrv: interrupt {shot} on line {line} after {} us",
                    elapsed * 1000 / ticks_per_ms
                );
            }
            other => {
                println!("hpetdrv: unexpected wait result {other:?}");
                return 6;
            }
        }
        write(GINTR_STA, 1);
        if exo_sys::irq_ack(line).is_err() {
            return 7;
        }
    }
    // Phase two: the same line as upcalls, while we busy ourselves.
    LINE.store(line, Ordering::Relaxed);
    TICKS_PER_MS.store(ticks_per_ms, Ordering::Relaxed);
    let top = (&raw const UPCALL_STACK) as u64 + size_of::<Stack>() as u64;
    if exo_sys::irq_unbind(line).is_err()
        || exo_sys::upcall_install(handler, top).is_err()
        || exo_sys::irq_bind(irq, line, irq_flags::UPCALL).is_err()
    {
        return 8;
    }
    arm();
    let mut spins = 0u64;
    while UPCALL_IRQS.load(Ordering::Relaxed) < 2 {
        spins = spins.wrapping_add(1);
        core::hint::spin_loop();
    }
    println!("hpetdrv: 2 interrupts arrived as upcalls while computing ({spins} spins)");
    write(T0_CONF, 0);
    write(GEN_CONF, 0);
    let _ = exo_sys::irq_unbind(line);
    println!("hpetdrv: done");
    0
}

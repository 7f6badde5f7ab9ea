//! The platform layer on the Raspberry Pi 4 Model B's real device tree
//! (fetched from Debian at test time like the Pi 5's; see
//! `support/debian.rs`), the tree the `raspi4b` QEMU boot runs with.
//!
//! What it encodes, checked by hand with `dtc`: `stdout-path` is
//! `serial1`, the mini UART (`brcm,bcm2835-aux-uart`, a 16550 whose
//! registers are 4 bytes apart) at bus address 0x7e215040, i.e. CPU address
//! 0xfe215040 through `/soc`'s ranges; a GIC-400 at 0xff841000 (0x40041000
//! on the bus); the armv8 timer; no PSCI node (the cores are started from
//! a spin table); an RNG200; and `/memreserve/` 0..0x1000, where the
//! firmware's spin table lives — which a kernel started directly, without
//! UEFI's memory map, must not allocate.

mod support;

use hal::board::Board;
use hal::platform::{ConsoleSource, Gic, Platform, PlatformWarning, Range, UartKind};
use support::debian;

#[test]
fn raspberry_pi_4_tree() {
    let source = debian::TRIXIE_BACKPORTS;
    let (blob, from) = debian::dtb(source, debian::RPI4_DTB).unwrap_or_else(|e| {
        panic!(
            "cannot fetch the Raspberry Pi 4 DTB from Debian {}: {e}\n\
             (the test needs the Debian package mirror; a fetched DTB is cached in target/tmp)",
            source.suite
        )
    });
    let p = Platform::parse(&blob).expect("the Raspberry Pi 4 DTB parses");
    println!("{from} ({} bytes):", blob.len());
    p.summary(|line| println!("  DT: {line}"));
    for w in &p.warnings {
        println!("  warning: {w}");
    }
    assert_eq!(p.profile.board, Board::RaspberryPi4);
    assert_eq!(p.model.as_str(), "Raspberry Pi 4 Model B");
    let console = p.console.as_ref().expect("console");
    assert_eq!(console.source, ConsoleSource::StdoutPath);
    assert_eq!(console.path.as_str(), "/soc/serial@7e215040");
    assert_eq!(
        console.kind,
        UartKind::Ns16550 {
            reg_shift: 2,
            reg_io_width: 4
        },
        "the mini UART's registers are 32 bits apart"
    );
    assert_eq!(console.registers.base, 0xfe21_5040);
    assert_eq!(
        console.baud,
        Some(115_200),
        "stdout-path = serial1:115200n8"
    );
    let ic = p.interrupt_controller.as_ref().expect("GIC");
    assert_eq!(ic.compatible.as_str(), "arm,gic-400");
    assert_eq!(
        ic.gic,
        Gic::V2 {
            distributor: Range {
                base: 0xff84_1000,
                size: 0x1000
            },
            cpu_interface: Range {
                base: 0xff84_2000,
                size: 0x2000
            },
        }
    );
    let timer = p.timer.expect("timer");
    assert_eq!(timer.interrupts[2], 27, "virtual timer: PPI 11");
    assert!(p.psci.is_none());
    assert!(p.warnings.contains(&PlatformWarning::NoPsci));
    let rng = p.rng.as_ref().expect("RNG200");
    assert_eq!(rng.compatible.as_str(), "brcm,bcm2711-rng200");
    assert_eq!(rng.registers.base, 0xfe10_4000);
    assert_eq!(
        p.reserved.first(),
        Some(&Range {
            base: 0,
            size: 0x1000
        }),
        "/memreserve/ of the spin table"
    );
}

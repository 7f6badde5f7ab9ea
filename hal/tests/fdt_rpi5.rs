//! The platform layer on the Raspberry Pi 5's real device tree, fetched
//! from Debian's arm64 kernel packages at test time (see
//! `support/debian.rs`; cached under `target/tmp`, never committed).
//!
//! We have no board, so this is what checks that exo would find the
//! console, interrupt controller and timer the board really has. The
//! assertions are what the DTBs encode, checked by hand with `dtc`: a PL011
//! (`uart10`) at 0x10_7d00_1000 whose `uartclk` is the fixed clock
//! `clk-uart` of 9.216 MHz (0x8ca000) — not the 48 MHz an earlier port
//! assumed; a GIC-400, i.e. GICv2 — not a GICv3; the armv8 timer; PSCI via
//! SMC; and, in the newer tree only, the RNG200 at 0x10_7d20_8000.

mod support;

use hal::board::Board;
use hal::platform::{ConsoleSource, Gic, Platform, PsciMethod, Range, UartKind};
use support::debian::{self, Source};

fn fetch(source: Source) -> Platform {
    let (blob, from) = debian::rpi5_dtb(source).unwrap_or_else(|e| {
        panic!(
            "cannot fetch the Raspberry Pi 5 DTB from Debian {}: {e}\n\
             (the test needs the Debian package mirror; a fetched DTB is cached in target/tmp)",
            source.suite
        )
    });
    let platform = Platform::parse(&blob).expect("the Raspberry Pi 5 DTB parses");
    println!("{from} ({} bytes):", blob.len());
    platform.summary(|line| println!("  DT: {line}"));
    for w in &platform.warnings {
        println!("  warning: {w}");
    }
    platform
}

/// What every Raspberry Pi 5 tree must say.
fn check_common(p: &Platform) {
    assert_eq!(p.profile.board, Board::RaspberryPi5);
    assert_eq!(p.model.as_str(), "Raspberry Pi 5");
    let console = p.console.as_ref().expect("console");
    assert_eq!(console.kind, UartKind::Pl011);
    assert_eq!(console.source, ConsoleSource::StdoutPath);
    assert_eq!(console.path.as_str(), "/soc@107c000000/serial@7d001000");
    // Translated through /soc's ranges: 0x7d001000 + 0x10_0000_0000.
    assert_eq!(console.registers.base, 0x10_7d00_1000);
    assert_eq!(
        console.clock_hz,
        Some(9_216_000),
        "uartclk is clk-uart, 9.216 MHz"
    );
    assert_eq!(
        console.baud,
        Some(115_200),
        "stdout-path = serial10:115200n8"
    );
    let ic = p.interrupt_controller.as_ref().expect("GIC");
    assert_eq!(ic.compatible.as_str(), "arm,gic-400");
    assert_eq!(
        ic.gic,
        Gic::V2 {
            distributor: Range {
                base: 0x10_7fff_9000,
                size: 0x1000
            },
            cpu_interface: Range {
                base: 0x10_7fff_a000,
                size: 0x2000
            },
        }
    );
    let timer = p.timer.expect("timer");
    assert_eq!(timer.interrupts, [29, 30, 27, 26]);
    let psci = p.psci.expect("PSCI");
    assert_eq!(psci.method, PsciMethod::Smc);
    assert_eq!(psci.version, (1, 0));
    assert_eq!(p.cpus, 4);
    assert_eq!(p.memory.first().map(|m| m.base), Some(0));
    assert!(
        !p.warnings
            .iter()
            .any(|w| matches!(w, hal::platform::PlatformWarning::ProfileMismatch { .. })),
        "the tree agrees with the board profile: {:?}",
        p.warnings
    );
}

#[test]
fn bookworm_backports_tree_has_pl011_gic400_timer_and_no_rng_node() {
    let p = fetch(debian::BOOKWORM_BACKPORTS);
    check_common(&p);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    // Linux 6.12's first Raspberry Pi 5 tree predates the RNG200 node.
    assert!(p.rng.is_none(), "{:?}", p.rng);
}

#[test]
fn trixie_backports_tree_also_has_the_rng200() {
    let p = fetch(debian::TRIXIE_BACKPORTS);
    check_common(&p);
    let rng = p.rng.expect("RNG node");
    assert_eq!(rng.compatible.as_str(), "brcm,bcm2711-rng200");
    assert_eq!(
        rng.registers,
        Range {
            base: 0x10_7d20_8000,
            size: 0x28
        }
    );
    assert_eq!(rng.path.as_str(), "/soc@107c000000/rng@7d208000");
}

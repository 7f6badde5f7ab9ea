//! The platform layer on QEMU `virt`'s real device tree (dumped by QEMU at
//! test time), for each machine variant the boot scenarios use.

mod support;

use hal::board::Board;
use hal::platform::{ConsoleSource, Gic, Platform, PsciMethod, UartKind};

fn parse(options: &str) -> Platform {
    let blob = support::qemu_virt_dtb(options, "cortex-a72");
    let platform = Platform::parse(&blob).expect("QEMU's DTB parses");
    println!("QEMU virt{options}:");
    platform.summary(|line| println!("  DT: {line}"));
    platform
}

#[test]
fn default_virt_has_pl011_gicv2_timer_psci_hvc_and_memory() {
    let p = parse("");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(p.profile.board, Board::QemuVirt);
    let console = p.console.expect("console");
    assert_eq!(console.kind, UartKind::Pl011);
    assert_eq!(console.source, ConsoleSource::StdoutPath);
    assert_eq!(console.registers.base, 0x0900_0000);
    assert_eq!(console.clock_hz, Some(24_000_000));
    let ic = p.interrupt_controller.expect("GIC");
    assert_eq!(
        ic.gic,
        Gic::V2 {
            distributor: hal::platform::Range {
                base: 0x0800_0000,
                size: 0x1_0000
            },
            cpu_interface: hal::platform::Range {
                base: 0x0801_0000,
                size: 0x1_0000
            },
        }
    );
    assert_eq!(ic.compatible.as_str(), "arm,cortex-a15-gic");
    let timer = p.timer.expect("timer");
    assert_eq!(timer.interrupts, [29, 30, 27, 26]);
    let psci = p.psci.expect("PSCI");
    assert_eq!(psci.method, PsciMethod::Hvc);
    assert_eq!(psci.version, (1, 0));
    assert!(psci.has_system_off());
    assert_eq!(psci.cpu_on, 0xc400_0003);
    assert_eq!(p.memory.len(), 1);
    assert_eq!(
        (p.memory[0].base, p.memory[0].size),
        (0x4000_0000, 256 << 20)
    );
    assert_eq!(p.cpus, 1);
    assert!(p.rng.is_none());
    assert!(p.rng_seed_bytes >= 32, "QEMU passes a /chosen/rng-seed");
}

#[test]
fn gic_version_3_gives_distributor_and_redistributors() {
    let p = parse(",gic-version=3");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let ic = p.interrupt_controller.expect("GIC");
    match ic.gic {
        Gic::V3 {
            distributor,
            redistributors,
            redistributor_regions,
        } => {
            assert_eq!(distributor.base, 0x0800_0000);
            assert_eq!(redistributors.base, 0x080a_0000);
            assert_eq!(redistributor_regions, 1);
        }
        other => panic!("expected GICv3, got {other:?}"),
    }
    assert_eq!(ic.gic.version(), 3);
}

#[test]
fn virtualization_on_moves_psci_to_smc() {
    let p = parse(",virtualization=on");
    assert_eq!(p.psci.expect("PSCI").method, PsciMethod::Smc);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

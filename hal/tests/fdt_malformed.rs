//! Broken device trees, made by the test generator: each gives a typed
//! error (a broken blob) or a warning with a fallback (a broken node),
//! never a panic or a hang.

mod support;

use hal::fdt::{self, FdtError, StructureProblem};
use hal::platform::{ConsoleSource, Device, Platform, PlatformWarning, RegProblem, UartKind};
use support::dtb::{Dtb, Variant, virt_like};

fn parse(v: Variant) -> Platform {
    Platform::parse(&virt_like(v)).expect("a well-formed blob parses")
}

fn structure_problem(blob: &[u8]) -> StructureProblem {
    match Platform::parse(blob) {
        Err(FdtError::Structure { problem, .. }) => problem,
        other => panic!("expected a structure error, got {other:?}"),
    }
}

#[test]
fn the_generated_tree_is_complete() {
    let p = parse(Variant::default());
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(
        p.console.expect("console").source,
        ConsoleSource::StdoutPath
    );
    assert!(p.interrupt_controller.is_some());
    assert!(p.timer.is_some() && p.psci.is_some());
    assert_eq!(p.memory.len(), 1);
}

#[test]
fn missing_stdout_path_falls_back_to_the_serial0_alias() {
    let p = parse(Variant {
        no_stdout_path: true,
        ..Variant::default()
    });
    assert_eq!(p.warnings.as_slice(), &[PlatformWarning::NoStdoutPath]);
    let console = p.console.expect("fallback console");
    assert_eq!(console.source, ConsoleSource::Serial0Alias);
    assert_eq!(console.registers.base, 0x0900_0000);
}

#[test]
fn missing_stdout_path_and_alias_fall_back_to_the_first_uart() {
    let p = parse(Variant {
        no_stdout_path: true,
        no_serial0_alias: true,
        ..Variant::default()
    });
    assert_eq!(p.console.expect("console").source, ConsoleSource::FirstUart);
}

#[test]
fn unresolvable_stdout_path_is_reported_and_falls_back() {
    let p = parse(Variant {
        stdout_path: Some("serial7:115200n8"),
        ..Variant::default()
    });
    assert!(matches!(
        p.warnings.as_slice(),
        [PlatformWarning::StdoutPathUnresolved(path)] if path.as_str() == "serial7"
    ));
    assert_eq!(
        p.console.expect("console").source,
        ConsoleSource::Serial0Alias
    );
}

#[test]
fn stdout_path_to_a_16550_gives_the_second_backend() {
    let p = parse(Variant {
        stdout_path: Some("/serial@9040000:9600"),
        second_uart: true,
        ..Variant::default()
    });
    let console = p.console.expect("console");
    assert_eq!(
        console.kind,
        UartKind::Ns16550 {
            reg_shift: 2,
            reg_io_width: 4
        }
    );
    assert_eq!(console.baud, Some(9600));
    assert_eq!(console.clock_hz, Some(1_843_200));
    // QEMU virt's profile documents a PL011 console.
    assert!(p.warnings.iter().any(|w| matches!(
        w,
        PlatformWarning::ProfileMismatch {
            device: Device::Console,
            ..
        }
    )));
}

#[test]
fn bad_reg_cells_on_the_console_are_reported_and_there_is_no_console() {
    let p = parse(Variant {
        bad_uart_reg: true,
        ..Variant::default()
    });
    assert!(p.console.is_none());
    assert!(p.warnings.contains(&PlatformWarning::NoConsole));
    let bad = p
        .warnings
        .iter()
        .find_map(|w| match w {
            PlatformWarning::BadReg {
                device: Device::Console,
                problem,
                ..
            } => Some(*problem),
            _ => None,
        })
        .expect("BadReg warning");
    assert_eq!(
        bad,
        RegProblem::BadLength {
            len: 12,
            address_cells: 2,
            size_cells: 2
        }
    );
    let text = p.warnings[0].to_string();
    assert!(text.contains("not a multiple of (2+2) cells"), "{text}");
}

#[test]
fn bad_reg_cells_fall_back_to_another_uart() {
    let p = parse(Variant {
        bad_uart_reg: true,
        second_uart: true,
        ..Variant::default()
    });
    let console = p.console.expect("fallback console");
    assert_eq!(console.source, ConsoleSource::FirstUart);
    assert_eq!(console.registers.base, 0x0904_0000);
}

#[test]
fn no_gic_node_is_reported_and_boot_goes_on() {
    let p = parse(Variant {
        no_gic: true,
        ..Variant::default()
    });
    assert!(p.interrupt_controller.is_none());
    assert_eq!(
        p.warnings.as_slice(),
        &[PlatformWarning::NoInterruptController]
    );
    assert!(p.console.is_some() && p.timer.is_some());
}

#[test]
fn a_gic_with_too_few_reg_entries_is_reported() {
    let p = parse(Variant {
        short_gic_reg: true,
        ..Variant::default()
    });
    assert!(p.interrupt_controller.is_none());
    assert!(p.warnings.iter().any(|w| matches!(
        w,
        PlatformWarning::BadReg {
            device: Device::InterruptController,
            problem: RegProblem::TooFewEntries {
                found: 1,
                needed: 2
            },
            ..
        }
    )));
}

#[test]
fn missing_timer_psci_and_memory_are_each_reported() {
    let p = parse(Variant {
        no_timer: true,
        no_psci: true,
        no_memory: true,
        ..Variant::default()
    });
    for w in [
        PlatformWarning::NoTimer,
        PlatformWarning::NoPsci,
        PlatformWarning::NoMemoryNode,
    ] {
        assert!(
            p.warnings.contains(&w),
            "{w:?} missing from {:?}",
            p.warnings
        );
    }
    let p = parse(Variant {
        psci_method: Some("svc"),
        ..Variant::default()
    });
    assert!(p.psci.is_none());
    assert!(p.warnings.contains(&PlatformWarning::BadPsciMethod));
}

#[test]
fn truncated_blobs_give_typed_errors() {
    let blob = virt_like(Variant::default());
    for len in 0..blob.len() {
        let err = Platform::parse(&blob[..len]).expect_err("a truncated blob is rejected");
        match err {
            FdtError::TooShort { .. } | FdtError::Truncated { .. } => {}
            other => panic!("prefix of {len} bytes gave {other:?}"),
        }
    }
    assert_eq!(
        Platform::parse(&blob[..100]).unwrap_err().to_string(),
        format!(
            "device tree truncated: header says {} bytes, 100 available",
            blob.len()
        )
    );
}

#[test]
fn a_structure_block_cut_short_is_missing_its_end() {
    let mut d = Dtb::new();
    d.begin("").begin("child");
    // No END_NODEs: END arrives inside the child.
    assert_eq!(structure_problem(&d.build()), StructureProblem::MissingEnd);
    // The header claims a structure block shorter than the tokens.
    let mut d = Dtb::new();
    d.begin("").string("model", "x").end();
    let mut blob = d.build();
    blob[36..40].copy_from_slice(&16u32.to_be_bytes());
    assert_eq!(structure_problem(&blob), StructureProblem::MissingEnd);
}

#[test]
fn header_problems_are_typed() {
    let good = virt_like(Variant::default());
    let mut bad = good.clone();
    bad[0] = 0;
    assert!(matches!(
        Platform::parse(&bad),
        Err(FdtError::BadMagic { .. })
    ));
    let mut d = Dtb::new();
    d.begin("").end();
    d.header_overrides.push((5, 16));
    assert!(matches!(
        Platform::parse(&d.build()),
        Err(FdtError::UnsupportedVersion { version: 16, .. })
    ));
    let mut d = Dtb::new();
    d.begin("").end();
    d.header_overrides.push((2, 0x7fff_0000));
    assert_eq!(
        Platform::parse(&d.build()).unwrap_err(),
        FdtError::BadBlock("structure")
    );
    let mut d = Dtb::new();
    d.begin("").end();
    d.header_overrides.push((1, 0xffff_ffff));
    assert!(matches!(
        Platform::parse(&d.build()),
        Err(FdtError::BadTotalSize(_))
    ));
}

#[test]
fn structure_problems_are_typed() {
    let mut d = Dtb::new();
    d.begin("").raw_prop(1000, 0, b"abcd").end();
    assert!(matches!(
        structure_problem(&d.build()),
        StructureProblem::PropertyOverrun { len: 1000 }
    ));
    let mut d = Dtb::new();
    d.begin("").raw_prop(4, 5000, b"abcd").end();
    assert_eq!(
        structure_problem(&d.build()),
        StructureProblem::BadNameOffset(5000)
    );
    let mut d = Dtb::new();
    d.begin("").token(7).end();
    assert_eq!(
        structure_problem(&d.build()),
        StructureProblem::UnknownToken(7)
    );
    let mut d = Dtb::new();
    d.begin("").end().end();
    assert_eq!(
        structure_problem(&d.build()),
        StructureProblem::UnbalancedEnd
    );
    let mut d = Dtb::new();
    d.begin("");
    for _ in 0..fdt::MAX_DEPTH {
        d.begin("n");
    }
    assert_eq!(structure_problem(&d.build()), StructureProblem::TooDeep);
    let mut d = Dtb::new();
    d.begin("root").end();
    assert_eq!(structure_problem(&d.build()), StructureProblem::BadRoot);
    let mut d = Dtb::new();
    d.begin("").begin("child").end().string("late", "x").end();
    assert_eq!(
        structure_problem(&d.build()),
        StructureProblem::MisplacedProperty
    );
    // `#address-cells` of two bytes would make the fdt crate panic.
    let mut d = Dtb::new();
    d.begin("").prop("#address-cells", &[0, 2]).end();
    assert_eq!(
        structure_problem(&d.build()),
        StructureProblem::BadCellCount
    );
    let mut d = Dtb::new();
    d.begin("").prop("name", &[0xff, 0xfe, 0]).end();
    d.begin("").end();
    assert_eq!(structure_problem(&d.build()), StructureProblem::BadRoot);
}

#[test]
fn unsupported_address_cells_are_a_reg_problem() {
    let mut d = Dtb::new();
    d.begin("")
        .cells("#address-cells", &[3])
        .cells("#size-cells", &[2])
        .begin("chosen")
        .string("stdout-path", "/uart@0")
        .end()
        .begin("uart@0")
        .string("compatible", "arm,pl011")
        .cells("reg", &[0, 0, 0x0900_0000, 0, 0x1000])
        .end()
        .end();
    let p = Platform::parse(&d.build()).expect("parses");
    assert!(p.console.is_none());
    assert!(p.warnings.iter().any(|w| matches!(
        w,
        PlatformWarning::BadReg {
            problem: RegProblem::UnsupportedCells {
                address_cells: 3,
                size_cells: 2
            },
            ..
        }
    )));
}

#[test]
fn addresses_are_translated_through_bus_ranges() {
    let mut d = Dtb::new();
    d.begin("")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .begin("chosen")
        .string("stdout-path", "serial0")
        .end()
        .begin("aliases")
        .string("serial0", "/soc@107c000000/serial@7d001000")
        .end()
        .begin("soc@107c000000")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1])
        .cells("ranges", &[0, 0x10, 0, 0x8000_0000])
        .begin("serial@7d001000")
        .string("compatible", "arm,pl011")
        .cells("reg", &[0x7d00_1000, 0x200])
        .end()
        .end()
        .begin("bus-without-ranges")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1])
        .begin("rng@1000")
        .string("compatible", "brcm,bcm2711-rng200")
        .cells("reg", &[0x1000, 0x28])
        .end()
        .end()
        .end();
    let p = Platform::parse(&d.build()).expect("parses");
    assert_eq!(p.console.expect("console").registers.base, 0x10_7d00_1000);
    assert!(p.rng.is_none());
    assert!(p.warnings.iter().any(|w| matches!(
        w,
        PlatformWarning::BadReg {
            device: Device::Rng,
            problem: RegProblem::Untranslatable { address: 0x1000 },
            ..
        }
    )));
}

#[test]
fn nop_tokens_need_compacting_and_then_parse_the_same() {
    let mut d = Dtb::new();
    d.begin("")
        .nop()
        .string("model", "with nops")
        .nop()
        .strings("compatible", &["linux,dummy-virt"])
        .begin("chosen")
        .nop()
        .end()
        .nop()
        .begin("deleted")
        .end()
        .end();
    let blob = d.build();
    assert_eq!(structure_problem(&blob), StructureProblem::Nop);
    let mut out = vec![0u8; blob.len()];
    let len = fdt::compact_into(&blob, &mut out).expect("compacts");
    assert!(len < blob.len());
    let census = fdt::check(&out[..len]).expect("compacted blob is clean");
    assert_eq!(census.nops, 0);
    assert_eq!(census.nodes, 3);
    let p = Platform::parse(&out[..len]).expect("parses");
    assert_eq!(p.model.as_str(), "with nops");
    assert_eq!(
        fdt::compact_into(&blob, &mut [0u8; 64]),
        Err(FdtError::BufferTooSmall { needed: len })
    );
}

#[test]
fn compacting_a_real_tree_keeps_what_it_says() {
    let blob = support::qemu_virt_dtb("", "cortex-a72");
    let mut out = vec![0u8; blob.len()];
    let len = fdt::compact_into(&blob, &mut out).expect("compacts");
    assert!(len < 16 * 1024, "QEMU's 1 MiB blob is mostly free space");
    let a = Platform::parse(&blob).expect("original");
    let b = Platform::parse(&out[..len]).expect("compacted");
    assert_eq!(a.console, b.console);
    assert_eq!(a.interrupt_controller, b.interrupt_controller);
    assert_eq!(a.memory, b.memory);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// Any corruption of a valid blob gives a result, never a panic.
    #[test]
    fn corrupted_blobs_never_panic(
        flips in proptest::collection::vec((0usize..4096, proptest::num::u8::ANY), 1..8),
        cut in 0usize..4096,
    ) {
        let mut blob = virt_like(Variant { second_uart: true, ..Variant::default() });
        let len = blob.len();
        for (at, byte) in flips {
            blob[at % len] = byte;
        }
        let _ = Platform::parse(&blob);
        let _ = Platform::parse(&blob[..cut.min(len)]);
        let mut out = vec![0u8; len];
        if let Ok(n) = fdt::compact_into(&blob, &mut out) {
            proptest::prop_assert!(fdt::check(&out[..n]).is_ok());
            let _ = Platform::parse(&out[..n]);
        }
    }
}

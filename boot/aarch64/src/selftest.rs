//! The in-kernel self-tests on aarch64: what only the booted machine can
//! check.

use crate::console::Writer;
use crate::{BOOT, BootPath, CAPS, KERNEL, heap, memory};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::vec::Vec;
use exokernel::ensure;
use exokernel::frames::{FRAME_SIZE, FrameError};
use exokernel::klog::BOOT_LOG;
use exokernel::ktest::{self, Failure, KernelTest, Summary};
use hal::arch::aarch64::esr::Spsr;
use hal::arch::aarch64::image::Access;
use hal::arch::aarch64::tables::{self, el1_permissions, is_normal};
use hal::arch::aarch64::uart::{Attached, CONSOLE_UART};
use hal::arch::aarch64::{cpu, exceptions, exit, gic, mmu, timer};
use hal::platform::{Gic, PlatformWarning};

const TESTS: &[KernelTest] = &[
    KernelTest {
        name: "boot_info_parsed",
        run: boot_info_parsed,
    },
    KernelTest {
        name: "running_at_el1",
        run: running_at_el1,
    },
    KernelTest {
        name: "identity_map_installed",
        run: identity_map_installed,
    },
    KernelTest {
        name: "generic_timer_counts",
        run: generic_timer_counts,
    },
    KernelTest {
        name: "device_tree_platform",
        run: device_tree_platform,
    },
    KernelTest {
        name: "console_uart_attached",
        run: console_uart_attached,
    },
    KernelTest {
        name: "gic_matches_device_tree",
        run: gic_matches_device_tree,
    },
    KernelTest {
        name: "psci_matches_device_tree",
        run: psci_matches_device_tree,
    },
    KernelTest {
        name: "memory_matches_device_tree",
        run: memory_matches_device_tree,
    },
    KernelTest {
        name: "frames_unique_and_writable",
        run: frames_unique_and_writable,
    },
    KernelTest {
        name: "frames_reject_bad_free",
        run: frames_reject_bad_free,
    },
    KernelTest {
        name: "heap_collections",
        run: heap_collections,
    },
    KernelTest {
        name: "boot_log_captures_boot",
        run: boot_log_captures_boot,
    },
    KernelTest {
        name: "capability_tokens",
        run: capability_tokens,
    },
    KernelTest {
        name: "brk_resumes_after_probe",
        run: brk_resumes_after_probe,
    },
    KernelTest {
        name: "kernel_image_w_xor_x",
        run: kernel_image_w_xor_x,
    },
    KernelTest {
        name: "timer_ticks_through_gic",
        run: timer_ticks_through_gic,
    },
];

/// Runs every self-test, printing results to the console.
pub fn run() -> Summary {
    ktest::run_all(TESTS, &mut Writer)
}

fn state() -> Result<&'static crate::BootState, Failure> {
    BOOT.get()
        .ok_or_else(|| Failure::new(format_args!("boot state missing")))
}

fn kernel() -> Result<&'static crate::KernelState, Failure> {
    KERNEL
        .get()
        .ok_or_else(|| Failure::new(format_args!("kernel state missing")))
}

fn boot_info_parsed() -> Result<(), Failure> {
    let s = state()?;
    ensure!(
        s.info.usable_bytes() >= 64 << 20,
        "only {} bytes usable",
        s.info.usable_bytes()
    );
    ensure!(s.options.self_test, "self_test option not set");
    ensure!(
        s.info
            .command_line
            .split_ascii_whitespace()
            .any(|w| w == "test"),
        "command line '{}' lacks 'test'",
        s.info.command_line
    );
    match s.path {
        BootPath::Uefi => {
            ensure!(
                s.info.boot_loader.starts_with("UEFI "),
                "firmware name '{}'",
                s.info.boot_loader
            );
            ensure!(s.map_entries > 4, "only {} UEFI map entries", s.map_entries);
        }
        BootPath::RawImage => {
            ensure!(
                s.info.boot_loader.starts_with("device tree"),
                "loader name '{}'",
                s.info.boot_loader
            );
            ensure!(s.map_entries == 0, "a UEFI map without UEFI");
        }
    }
    let (start, end) = s.image;
    ensure!(start < end, "no image range");
    let here = boot_info_parsed as *const () as usize as u64;
    ensure!(
        (start..end).contains(&here),
        "code at {here:#x} outside the image {start:#x}..{end:#x}"
    );
    Ok(())
}

fn running_at_el1() -> Result<(), Failure> {
    let el = cpu::current_el();
    ensure!(el == 1, "running at EL{el}");
    ensure!(cpu::irqs_masked(), "IRQs unmasked without a handler");
    Ok(())
}

fn identity_map_installed() -> Result<(), Failure> {
    let s = state()?;
    let (mair, tcr, ttbr, sctlr) = mmu::translation_registers();
    ensure!(mair == tables::MAIR, "MAIR_EL1 {mair:#x}");
    ensure!(
        u64::from(64 - tables::VA_BITS) == tcr & 0x3f,
        "TCR_EL1.T0SZ {}",
        tcr & 0x3f
    );
    ensure!(
        sctlr & 0b101 == 0b101,
        "SCTLR_EL1 {sctlr:#x}: MMU or caches off"
    );
    // SAFETY: read-only look at the static map the MMU is using.
    let map = unsafe { &*crate::IDENTITY_MAP.0.get() };
    ensure!(
        ttbr & 0x0000_ffff_ffff_f000 == core::ptr::from_ref(&map.level0) as u64,
        "TTBR0_EL1 {ttbr:#x} is not the kernel's table"
    );
    let code = identity_map_installed as *const () as usize as u64;
    let (d, _) = map
        .lookup(code)
        .ok_or_else(|| Failure::new(format_args!("code {code:#x} unmapped")))?;
    ensure!(is_normal(d), "kernel code mapped as device memory");
    if let Some(uart) = &s.platform.console {
        let (d, _) = map
            .lookup(uart.registers.base)
            .ok_or_else(|| Failure::new(format_args!("UART unmapped")))?;
        ensure!(!is_normal(d), "UART mapped as normal memory");
    }
    Ok(())
}

fn generic_timer_counts() -> Result<(), Failure> {
    let frequency = cpu::counter_frequency();
    ensure!(
        (1_000_000..=10_000_000_000).contains(&frequency),
        "CNTFRQ_EL0 {frequency} Hz is implausible"
    );
    let start = cpu::counter();
    let mut spins = 0u64;
    while cpu::counter() == start && spins < 10_000_000 {
        spins += 1;
        core::hint::spin_loop();
    }
    ensure!(cpu::counter() > start, "counter stuck at {start}");
    let s = state()?;
    let timer = s
        .platform
        .timer
        .ok_or_else(|| Failure::new(format_args!("no timer node")))?;
    ensure!(
        timer.interrupts[1] == 30 && timer.interrupts[2] == 27,
        "timer PPIs {:?}",
        timer.interrupts
    );
    Ok(())
}

fn device_tree_platform() -> Result<(), Failure> {
    let p = &state()?.platform;
    ensure!(p.console.is_some(), "no console");
    ensure!(p.interrupt_controller.is_some(), "no interrupt controller");
    // A tree without PSCI (the Raspberry Pi 4 starts its cores from a spin
    // table) may say so and nothing else.
    match p.psci {
        Some(psci) => ensure!(psci.has_system_off(), "PSCI without SYSTEM_OFF"),
        None => ensure!(
            p.warnings.contains(&PlatformWarning::NoPsci),
            "no PSCI, and no warning about it"
        ),
    }
    ensure!(!p.memory.is_empty(), "no /memory");
    ensure!(p.cpus >= 1, "no CPU nodes");
    let unexpected = p
        .warnings
        .iter()
        .filter(|w| !(p.psci.is_none() && **w == PlatformWarning::NoPsci))
        .count();
    ensure!(unexpected == 0, "{unexpected} device-tree warnings");
    Ok(())
}

fn console_uart_attached() -> Result<(), Failure> {
    let k = kernel()?;
    ensure!(CONSOLE_UART.is_attached(), "no UART attached");
    if let Some(Attached::Pl011(setup)) = k.console
        && let Some(expected) = setup.expected
    {
        ensure!(
            setup.divisor == expected,
            "PL011 divisor {:?}, device tree implies {:?}",
            setup.divisor,
            expected
        );
    }
    let log = BOOT_LOG.lock();
    let (a, b) = log.contents();
    let text: Vec<u8> = [a, b].concat();
    // The line logged last before there was a console (UEFI's, or none
    // on the raw path) must have reached the ring, to be replayed.
    let needle = match state()?.path {
        BootPath::Uefi => "exiting boot services",
        BootPath::RawImage => BootPath::RawImage.first_line(),
    };
    ensure!(
        text.windows(needle.len()).any(|w| w == needle.as_bytes()),
        "the last line logged without a console ('{needle}') is not in the boot log"
    );
    Ok(())
}

fn gic_matches_device_tree() -> Result<(), Failure> {
    let s = state()?;
    let k = kernel()?;
    let ic = s
        .platform
        .interrupt_controller
        .ok_or_else(|| Failure::new(format_args!("no GIC in the device tree")))?;
    let probe = k
        .gic
        .ok_or_else(|| Failure::new(format_args!("GIC not probed")))?;
    ensure!(
        probe.architecture == ic.gic.version(),
        "device tree GICv{}, hardware v{}",
        ic.gic.version(),
        probe.architecture
    );
    ensure!(probe.lines >= 64, "only {} interrupt IDs", probe.lines);
    if let Gic::V3 { .. } = ic.gic {
        ensure!(
            cpu::has_gic_system_registers(),
            "GICv3 without the system-register interface"
        );
    }
    Ok(())
}

fn psci_matches_device_tree() -> Result<(), Failure> {
    let s = state()?;
    let Some(psci) = s.platform.psci else {
        // Without a PSCI node the kernel must not have called it either:
        // exits go through semihosting, or halt.
        ensure!(
            kernel()?.psci_version.is_none(),
            "PSCI called without a node"
        );
        ensure!(
            exit::power_off_method().is_none(),
            "a PSCI power-off method without a node"
        );
        return Ok(());
    };
    let version = kernel()?
        .psci_version
        .ok_or_else(|| Failure::new(format_args!("PSCI not called")))?;
    ensure!(
        (version.0, version.1) >= (u16::from(psci.version.0), u16::from(psci.version.1)),
        "firmware PSCI {}.{} older than the device tree's {}.{}",
        version.0,
        version.1,
        psci.version.0,
        psci.version.1
    );
    Ok(())
}

fn memory_matches_device_tree() -> Result<(), Failure> {
    let check = kernel()?.memory_check;
    ensure!(
        check.outside.is_none(),
        "usable RAM {:x?} outside /memory",
        check.outside
    );
    ensure!(
        check.usable_bytes <= check.device_tree_bytes,
        "{} usable bytes but /memory has {}",
        check.usable_bytes,
        check.device_tree_bytes
    );
    Ok(())
}

fn frames_unique_and_writable() -> Result<(), Failure> {
    let before = memory::free_frames();
    let frames: Vec<u64> = memory::with(|a| (0..64).filter_map(|_| a.allocate()).collect())
        .map_err(|e| Failure::new(format_args!("{e}")))?;
    ensure!(frames.len() == 64, "got {} of 64 frames", frames.len());
    let (image_start, image_end) = state()?.image;
    for (i, &f) in frames.iter().enumerate() {
        ensure!(f % FRAME_SIZE == 0, "frame {f:#x} misaligned");
        ensure!(
            frames[..i].iter().all(|&g| g != f),
            "frame {f:#x} handed out twice"
        );
        ensure!(
            !(image_start..image_end).contains(&f),
            "frame {f:#x} inside the kernel image"
        );
        // SAFETY: the frame was just allocated to this test, is RAM in the
        // identity map, and no one else holds it.
        unsafe { core::ptr::write_bytes(f as usize as *mut u8, i as u8, FRAME_SIZE as usize) };
    }
    for (i, &f) in frames.iter().enumerate() {
        // SAFETY: as above; still allocated to this test.
        let last = unsafe { core::ptr::read_volatile((f + FRAME_SIZE - 1) as usize as *const u8) };
        ensure!(last == i as u8, "frame {f:#x} lost its contents");
    }
    memory::with(|a| frames.iter().try_for_each(|&f| a.free(f)))
        .map_err(|e| Failure::new(format_args!("{e}")))?
        .map_err(|e| Failure::new(format_args!("free: {e}")))?;
    ensure!(memory::free_frames() == before, "free count not restored");
    Ok(())
}

fn frames_reject_bad_free() -> Result<(), Failure> {
    let (f, double, misaligned) = memory::with(|a| {
        let f = a.allocate().ok_or(FrameError::NoUsableMemory)?;
        a.free(f)?;
        Ok::<_, FrameError>((f, a.free(f), a.free(f + 1)))
    })
    .map_err(|e| Failure::new(format_args!("{e}")))?
    .map_err(|e| Failure::new(format_args!("{e}")))?;
    ensure!(
        double == Err(FrameError::DoubleFree(f)),
        "double free gave {double:?}"
    );
    ensure!(
        misaligned == Err(FrameError::Misaligned(f + 1)),
        "misaligned free gave {misaligned:?}"
    );
    Ok(())
}

fn heap_collections() -> Result<(), Failure> {
    let (used_before, _) = heap::usage();
    {
        let v: Vec<u64> = (0..100_000).collect();
        ensure!(v.iter().sum::<u64>() == 4_999_950_000, "vector sum wrong");
        let b = Box::new([7u8; 4096]);
        ensure!(b.iter().all(|&x| x == 7), "box contents wrong");
        let mut m = BTreeMap::new();
        for i in 0..1000 {
            m.insert(i, format!("value {i}"));
        }
        ensure!(m[&500] == "value 500", "map lookup wrong");
    }
    let (used_after, _) = heap::usage();
    ensure!(
        used_after == used_before,
        "heap leaked {} bytes",
        used_after - used_before
    );
    Ok(())
}

fn boot_log_captures_boot() -> Result<(), Failure> {
    let log = BOOT_LOG.lock();
    let (a, b) = log.contents();
    let text: Vec<u8> = [a, b].concat();
    let first = state()?.path.first_line().as_bytes();
    for needle in [first, b"identity map to", b"booted in"] {
        ensure!(
            text.windows(needle.len()).any(|w| w == needle),
            "boot log ({} bytes) lacks '{}'",
            text.len(),
            core::str::from_utf8(needle).unwrap_or("?")
        );
    }
    Ok(())
}

fn capability_tokens() -> Result<(), Failure> {
    let (caps, root, _) = CAPS
        .get()
        .ok_or_else(|| Failure::new(format_args!("no capability space")))?;
    let env = exokernel::cap::EnvId(crate::caps::MAX_ENVS - 1);
    let (mint, verify) = ktest::capability_tokens(caps, root, env, cpu::counter)?;
    let frequency = cpu::counter_frequency();
    log::info!(
        "capability mint {} us, verify {} us (generic timer, TCG)",
        cpu::counter_delta_us(0, mint, frequency),
        cpu::counter_delta_us(0, verify, frequency)
    );
    Ok(())
}

fn brk_resumes_after_probe() -> Result<(), Failure> {
    let vbar = exceptions::installed_table();
    ensure!(
        vbar == exceptions::vector_table() && vbar.is_multiple_of(2048),
        "VBAR_EL1 {vbar:#x}, vector table at {:#x}",
        exceptions::vector_table()
    );
    let (probes_before, _, _) = exceptions::probes();
    let taken_before = exceptions::taken();
    let at: u64;
    let after: u64;
    let (mut a, mut b) = (0x0123_4567_89ab_cdef_u64, 0xfedc_ba98_7654_3210_u64);
    let v_in: u128 = 0x1111_2222_3333_4444_5555_6666_7777_8888;
    let mut v_out: u128 = 0;
    // SAFETY: `brk #0x1234` is a probe immediate: the dispatcher records it
    // and resumes at the next instruction with every register restored
    // from the trap frame. x10, x11 are in/out, q16 is loaded from `v_in`
    // before and stored to `v_out` after (both live 16-byte locals) and
    // declared clobbered; `at` and `after` are outputs.
    unsafe {
        core::arch::asm!(
            "ldr q16, [{vin}]",
            "adr {at}, 1f",
            "1:",
            "brk #0x1234",
            "adr {after}, .",
            "str q16, [{vout}]",
            vin = in(reg) &raw const v_in,
            vout = in(reg) &raw mut v_out,
            at = out(reg) at,
            after = out(reg) after,
            inout("x10") a,
            inout("x11") b,
            out("v16") _,
            options(nostack)
        );
    }
    let (probes, immediate, elr) = exceptions::probes();
    ensure!(
        probes == probes_before + 1,
        "{} probes taken, expected 1",
        probes - probes_before
    );
    ensure!(
        exceptions::taken() == taken_before + 1,
        "{} exceptions taken around one brk",
        exceptions::taken() - taken_before
    );
    ensure!(
        immediate == 0x1234,
        "brk immediate decoded as {immediate:#x}"
    );
    ensure!(elr == at, "ELR {elr:#x}, the brk is at {at:#x}");
    ensure!(
        after == at + 4,
        "resumed at {after:#x}, expected ELR + 4 = {:#x}",
        at + 4
    );
    ensure!(
        a == 0x0123_4567_89ab_cdef && b == 0xfedc_ba98_7654_3210,
        "x10/x11 changed across the trap: {a:#x} {b:#x}"
    );
    ensure!(v_out == v_in, "q16 changed across the trap: {v_out:#x}");
    Ok(())
}

fn kernel_image_w_xor_x() -> Result<(), Failure> {
    let s = state()?;
    // SAFETY: read-only look at the static map the MMU is using.
    let map = unsafe { &*crate::IDENTITY_MAP.0.get() };
    let text = kernel_image_w_xor_x as *const () as usize as u64;
    let rodata = TESTS.as_ptr() as u64;
    static DATA: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);
    let data = core::ptr::from_ref(&DATA) as u64;
    let stack_probe = 0u64;
    let stack = core::ptr::from_ref(&stack_probe) as u64;
    let heap = Box::new(0u64);
    let heap_address = core::ptr::from_ref(&*heap) as u64;
    for (what, address, access, writable, executable) in [
        ("text", text, Access::Execute, false, true),
        ("rodata", rodata, Access::ReadOnly, false, false),
        ("data", data, Access::ReadWrite, true, false),
        ("stack", stack, Access::ReadWrite, true, false),
        match s.path {
            // The PE headers the loader left, before the first section.
            BootPath::Uefi => ("headers", s.layout.base, Access::ReadOnly, false, false),
            // The arm64 Image header, which is the first code.
            BootPath::RawImage => ("header", s.layout.base, Access::Execute, false, true),
        },
    ] {
        ensure!(
            s.layout.access(address) == access,
            "{what} {address:#x} is in a section mapped {:?}",
            s.layout.access(address)
        );
        let (d, level) = map
            .lookup(address)
            .ok_or_else(|| Failure::new(format_args!("{what} {address:#x} unmapped")))?;
        ensure!(
            level == 3,
            "{what} {address:#x} mapped at level {level}, not a 4 KiB page"
        );
        ensure!(
            el1_permissions(d) == (writable, executable),
            "{what} {address:#x}: descriptor {d:#x} allows (write, execute) {:?}",
            el1_permissions(d)
        );
        ensure!(
            d & tables::UXN != 0,
            "{what} {address:#x} executable at EL0"
        );
        ensure!(
            mmu::el1_write_translates(address) == writable,
            "{what} {address:#x}: the MMU {} a write",
            if writable { "refuses" } else { "allows" }
        );
    }
    let (d, _) = map
        .lookup(heap_address)
        .ok_or_else(|| Failure::new(format_args!("heap {heap_address:#x} unmapped")))?;
    ensure!(
        el1_permissions(d) == (true, false),
        "heap {heap_address:#x}: descriptor {d:#x}"
    );
    let p = s.protection;
    ensure!(
        p.execute_pages > 0 && p.read_only_pages > 0 && p.read_write_pages > 0,
        "protection report {p:?}"
    );
    Ok(())
}

fn timer_ticks_through_gic() -> Result<(), Failure> {
    const WANTED: u64 = 10;
    let k = kernel()?;
    let setup = k
        .irq
        .ok_or_else(|| Failure::new(format_args!("GIC not set up")))?;
    let interval = k
        .tick_interval
        .ok_or_else(|| Failure::new(format_args!("tick not started")))?;
    let s = state()?;
    let intid = s.platform.timer.map_or(0, |t| t.interrupts[2]);
    let gic_version = s
        .platform
        .interrupt_controller
        .map_or(0, |ic| ic.gic.version());
    ensure!(
        setup.version == gic_version,
        "GIC set up as v{}",
        setup.version
    );
    ensure!(timer::running(), "virtual timer off or masked");
    let frequency = cpu::counter_frequency();
    ensure!(
        interval == frequency / u64::from(s.options.timer_hz),
        "interval {interval} for {} Hz at {frequency} Hz",
        s.options.timer_hz
    );
    ensure!(cpu::irqs_masked(), "IRQs already unmasked");
    let irq_before = gic::stats();
    let taken_before = exceptions::taken();
    // The next tick one interval from here, so every tick of the test
    // comes after `start`; one left pending since boot is handled first.
    cpu::unmask_irqs();
    cpu::mask_irqs();
    let start = timer::rearm();
    let before = timer::stats();
    // Generous (TCG on a loaded host is slow): 500 intervals (5 s at
    // 100 Hz) of counter time.
    let deadline = start + 500 * interval;
    cpu::unmask_irqs();
    let mut waits = 0u64;
    while timer::stats().ticks < before.ticks + WANTED && cpu::counter() < deadline {
        cpu::wait_for_interrupt();
        waits += 1;
    }
    cpu::mask_irqs();
    let end = cpu::counter();
    let after = timer::stats();
    let irq_after = gic::stats();
    let ticks = after.ticks - before.ticks;
    log::info!(
        "tick: {ticks} ticks in {} us of counter time ({waits} wfi, {} late, INTID {})",
        cpu::counter_delta_us(start, end, frequency),
        after.late - before.late,
        irq_after.last
    );
    ensure!(
        ticks >= WANTED,
        "{ticks} ticks before the deadline, wanted {WANTED}"
    );
    ensure!(
        after.intid == intid && irq_after.last == intid,
        "ticks on INTID {}, /timer says {intid}",
        irq_after.last
    );
    // The trap frame of the last tick: taken from this loop, at EL1h,
    // with IRQs unmasked in the interrupted PSTATE.
    let spsr = Spsr(irq_after.last_spsr);
    ensure!(
        spsr.mode() == "EL1h" && !spsr.irqs_masked(),
        "interrupted PSTATE {:#x} ({spsr})",
        irq_after.last_spsr
    );
    let text = s.layout.text().unwrap_or(s.image);
    ensure!(
        (text.0..text.1).contains(&irq_after.last_elr),
        "interrupted ELR {:#x} outside the kernel text",
        irq_after.last_elr
    );
    ensure!(
        irq_after.handled - irq_before.handled >= ticks,
        "GIC handled {} interrupts for {ticks} ticks",
        irq_after.handled - irq_before.handled
    );
    ensure!(
        irq_after.unhandled == irq_before.unhandled,
        "{} interrupts without a handler",
        irq_after.unhandled - irq_before.unhandled
    );
    ensure!(
        exceptions::taken() - taken_before >= ticks,
        "{} exceptions for {ticks} ticks",
        exceptions::taken() - taken_before
    );
    // Ticks never come early: the n-th after the restart comes at least n
    // intervals after `start` (one fewer is allowed, for a tick left
    // pending at the GIC from before the restart), and within the wait.
    ensure!(
        after.last >= start + (ticks - 1) * interval,
        "{ticks} ticks in {} counter ticks, less than {} intervals of {interval}",
        after.last.saturating_sub(start),
        ticks - 1
    );
    ensure!(
        after.last <= end,
        "last tick at {} after the wait ended at {end}",
        after.last
    );
    ensure!(cpu::irqs_masked(), "IRQs left unmasked");
    Ok(())
}

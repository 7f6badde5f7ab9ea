//! The in-kernel self-tests on aarch64: what only the booted machine can
//! check.

use crate::console::Writer;
use crate::{BOOT, CAPS, KERNEL, heap, memory};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::vec::Vec;
use exokernel::ensure;
use exokernel::frames::{FRAME_SIZE, FrameError};
use exokernel::klog::BOOT_LOG;
use exokernel::ktest::{self, Failure, KernelTest, Summary};
use hal::arch::aarch64::tables::{self, is_normal};
use hal::arch::aarch64::uart::{Attached, CONSOLE_UART};
use hal::arch::aarch64::{cpu, mmu};
use hal::platform::Gic;

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
    ensure!(
        s.info.boot_loader.starts_with("UEFI "),
        "firmware name '{}'",
        s.info.boot_loader
    );
    ensure!(s.map_entries > 4, "only {} UEFI map entries", s.map_entries);
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
    ensure!(tcr & 0x3f == 25, "TCR_EL1.T0SZ {}", tcr & 0x3f);
    ensure!(
        sctlr & 0b101 == 0b101,
        "SCTLR_EL1 {sctlr:#x}: MMU or caches off"
    );
    // SAFETY: read-only look at the static map the MMU is using.
    let map = unsafe { &*crate::IDENTITY_MAP.0.get() };
    ensure!(
        ttbr & 0x0000_ffff_ffff_f000 == core::ptr::from_ref(&map.level1) as u64,
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
    ensure!(
        p.psci.is_some_and(|p| p.has_system_off()),
        "no PSCI SYSTEM_OFF"
    );
    ensure!(!p.memory.is_empty(), "no /memory");
    ensure!(p.cpus >= 1, "no CPU nodes");
    ensure!(
        p.warnings.is_empty(),
        "{} device-tree warnings",
        p.warnings.len()
    );
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
    let needle = b"exiting boot services";
    ensure!(
        text.windows(needle.len()).any(|w| w == needle),
        "the last line before ExitBootServices is not in the boot log"
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
    let psci = s
        .platform
        .psci
        .ok_or_else(|| Failure::new(format_args!("no PSCI node")))?;
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
    for needle in [
        &b"UEFI application started"[..],
        b"identity map to",
        b"booted in",
    ] {
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
    use exokernel::cap::{CapError, Capability, EnvId, Level, Resource, Rights};
    let (caps, root, _) = CAPS
        .get()
        .ok_or_else(|| Failure::new(format_args!("no capability space")))?;
    let fail = |e: CapError| Failure::new(format_args!("{e}"));
    let env = EnvId(crate::caps::MAX_ENVS - 1);
    caps.register_env(root, env, Level::HIGHEST).map_err(fail)?;
    let all = Capability::new(
        Resource::Frames {
            first: 0x100,
            count: 64,
        },
        Rights::all(),
        Level::HIGHEST,
    );
    let parent = caps.create(root, env, all).map_err(fail)?;
    let window = all
        .with_resource(Resource::Frames {
            first: 0x110,
            count: 4,
        })
        .with_rights(Rights::READ | Rights::MAP);
    let child = caps.derive(env, parent, window).map_err(fail)?;
    let t0 = cpu::counter();
    let token = caps.mint(env, child).map_err(fail)?;
    let t1 = cpu::counter();
    let verified = caps.verify(env, token.as_bytes()).map_err(fail)?;
    let t2 = cpu::counter();
    ensure!(verified.cap == window, "verified {:?}", verified.cap);
    ensure!(verified.handle == child, "verified the wrong handle");
    let frequency = cpu::counter_frequency();
    log::info!(
        "capability mint {} us, verify {} us (generic timer, TCG)",
        cpu::counter_delta_us(t0, t1, frequency),
        cpu::counter_delta_us(t1, t2, frequency)
    );
    let mut bytes = [0u8; exokernel::cap::TOKEN_LEN];
    bytes.copy_from_slice(token.as_bytes());
    for bit in 0..bytes.len() * 8 {
        bytes[bit / 8] ^= 1 << (bit % 8);
        ensure!(
            caps.verify(env, &bytes).is_err(),
            "token with bit {bit} flipped verified"
        );
        bytes[bit / 8] ^= 1 << (bit % 8);
    }
    ensure!(
        caps.derive(env, child, all) == Err(CapError::MissingRight(Rights::DERIVE)),
        "derived from a capability without DERIVE"
    );
    ensure!(
        caps.revoke(env, parent) == Ok(2),
        "revoke did not take the tree"
    );
    ensure!(
        caps.verify(env, token.as_bytes()) == Err(CapError::Revoked),
        "token survived revocation"
    );
    caps.unregister_env(root, env).map_err(fail)?;
    Ok(())
}

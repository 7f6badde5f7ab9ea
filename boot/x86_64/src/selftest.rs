//! The in-kernel self-tests: what only a booted machine can check.

use crate::{BOOT, heap, memory, timer};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::vec::Vec;
use exokernel::ensure;
use exokernel::frames::{FRAME_SIZE, FrameError};
use exokernel::klog::BOOT_LOG;
use exokernel::ktest::{self, Failure, KernelTest, Summary};
use hal::BootWarning;
use hal::arch::x86_64::{cpu, serial::SERIAL, trap};

const TESTS: &[KernelTest] = &[
    KernelTest {
        name: "boot_info_parsed",
        run: boot_info_parsed,
    },
    KernelTest {
        name: "tsc_calibrated",
        run: tsc_calibrated,
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
        name: "frames_contiguous_dma",
        run: frames_contiguous_dma,
    },
    KernelTest {
        name: "heap_collections",
        run: heap_collections,
    },
    KernelTest {
        name: "breakpoint_resumes",
        run: breakpoint_resumes,
    },
    KernelTest {
        name: "timer_ticks",
        run: timer_ticks,
    },
    KernelTest {
        name: "acpi_or_warning",
        run: acpi_or_warning,
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
    struct Out;
    impl core::fmt::Write for Out {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            use hal::Console;
            SERIAL.write_bytes(s.as_bytes());
            Ok(())
        }
    }
    ktest::run_all(TESTS, &mut Out)
}

fn state() -> Result<&'static crate::BootState, Failure> {
    BOOT.get()
        .ok_or_else(|| Failure::new(format_args!("boot state missing")))
}

fn boot_info_parsed() -> Result<(), Failure> {
    let s = state()?;
    ensure!(
        s.info.usable_bytes() >= 16 << 20,
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
    ensure!(!s.info.boot_loader.is_empty(), "no boot loader name");
    Ok(())
}

fn tsc_calibrated() -> Result<(), Failure> {
    let per_ms = cpu::tsc_per_ms();
    ensure!(per_ms > 1000, "TSC rate {per_ms}/ms is implausible");
    Ok(())
}

fn frames_unique_and_writable() -> Result<(), Failure> {
    let before = memory::free_frames();
    let frames: Vec<u64> = memory::with(|a| (0..64).filter_map(|_| a.allocate()).collect())
        .map_err(|e| Failure::new(format_args!("{e}")))?;
    ensure!(frames.len() == 64, "got {} of 64 frames", frames.len());
    for (i, &f) in frames.iter().enumerate() {
        ensure!(f % FRAME_SIZE == 0, "frame {f:#x} misaligned");
        ensure!(
            frames[..i].iter().all(|&g| g != f),
            "frame {f:#x} handed out twice"
        );
        let (kernel_start, kernel_end) = memory::kernel_range();
        ensure!(
            !(kernel_start..kernel_end).contains(&f),
            "frame {f:#x} inside the kernel"
        );
        // SAFETY: the frame was just allocated to this test, is RAM in the
        // direct map, and no one else holds it.
        unsafe {
            core::ptr::write_bytes(
                hal::arch::x86_64::phys_to_virt(f) as *mut u8,
                i as u8,
                FRAME_SIZE as usize,
            )
        };
    }
    for (i, &f) in frames.iter().enumerate() {
        // SAFETY: as above; still allocated to this test.
        let last = unsafe {
            core::ptr::read_volatile(
                hal::arch::x86_64::phys_to_virt(f + FRAME_SIZE - 1) as *const u8
            )
        };
        ensure!(last == i as u8, "frame {f:#x} lost its contents");
    }
    memory::with(|a| frames.iter().try_for_each(|&f| a.free(f)))
        .map_err(|e| Failure::new(format_args!("{e}")))?
        .map_err(|e| Failure::new(format_args!("free: {e}")))?;
    ensure!(memory::free_frames() == before, "free count not restored");
    Ok(())
}

fn frames_reject_bad_free() -> Result<(), Failure> {
    let result = memory::with(|a| {
        let f = a.allocate().ok_or(FrameError::NoUsableMemory)?;
        a.free(f)?;
        Ok::<_, FrameError>((f, a.free(f), a.free(f + 1)))
    })
    .map_err(|e| Failure::new(format_args!("{e}")))?
    .map_err(|e| Failure::new(format_args!("{e}")))?;
    let (f, double, misaligned) = result;
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

fn frames_contiguous_dma() -> Result<(), Failure> {
    const LIMIT: u64 = 16 << 20;
    let dma = memory::with(|a| a.allocate_contiguous(16, 64 * 1024, LIMIT))
        .map_err(|e| Failure::new(format_args!("{e}")))?;
    let Some(start) = dma else {
        return Err(Failure::new(format_args!("no 64 KiB below 16 MiB")));
    };
    ensure!(start % (64 * 1024) == 0, "DMA run at {start:#x} misaligned");
    ensure!(
        start + 16 * FRAME_SIZE <= LIMIT,
        "DMA run at {start:#x} above limit"
    );
    memory::with(|a| (0..16).try_for_each(|i| a.free(start + i * FRAME_SIZE)))
        .map_err(|e| Failure::new(format_args!("{e}")))?
        .map_err(|e| Failure::new(format_args!("{e}")))?;
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

fn breakpoint_resumes() -> Result<(), Failure> {
    let before = trap::breakpoints();
    // SAFETY: `int3` traps to the breakpoint handler, which counts it and
    // returns to the next instruction with every register restored.
    unsafe { core::arch::asm!("int3") };
    ensure!(trap::breakpoints() == before + 1, "breakpoint not counted");
    Ok(())
}

fn timer_ticks() -> Result<(), Failure> {
    let start = timer::ticks();
    let deadline = cpu::rdtsc() + cpu::tsc_per_ms() * 2000;
    while timer::ticks() < start + 3 && cpu::rdtsc() < deadline {
        cpu::halt();
    }
    let seen = timer::ticks() - start;
    ensure!(seen >= 3, "only {seen} timer ticks in 2 s");
    Ok(())
}

fn acpi_or_warning() -> Result<(), Failure> {
    let s = state()?;
    match (&s.info.acpi, &s.platform) {
        (Some(_), Some(p)) => {
            let madt = p
                .madt
                .as_ref()
                .ok_or_else(|| Failure::new(format_args!("no MADT")))?;
            ensure!(!madt.cpus.is_empty(), "MADT lists no CPUs");
            ensure!(!madt.io_apics.is_empty(), "MADT lists no IO-APIC");
            ensure!(
                madt.cpus.iter().any(|c| u32::from(c.apic_id) == s.lapic.id),
                "boot CPU's APIC id {} not in the MADT",
                s.lapic.id
            );
        }
        (None, None) => ensure!(
            s.info.warnings.contains(&BootWarning::NoAcpi),
            "no ACPI and no warning recorded"
        ),
        (Some(_), None) => {
            return Err(Failure::new(format_args!(
                "RSDP present but tables unusable"
            )));
        }
        (None, Some(_)) => return Err(Failure::new(format_args!("tables without an RSDP"))),
    }
    Ok(())
}

fn boot_log_captures_boot() -> Result<(), Failure> {
    let log = BOOT_LOG.lock();
    let (a, b) = log.contents();
    let text: Vec<u8> = [a, b].concat();
    let needle = b"entered long mode";
    ensure!(
        text.windows(needle.len()).any(|w| w == needle),
        "boot log ({} bytes) lacks the first boot line",
        text.len()
    );
    ensure!(
        log.total_written() as usize >= text.len(),
        "ring accounting wrong"
    );
    Ok(())
}

fn capability_tokens() -> Result<(), Failure> {
    crate::envs::with(capability_tokens_in)
        .ok_or_else(|| Failure::new(format_args!("kernel not initialised")))?
}

fn capability_tokens_in(kernel: &mut crate::envs::X86Kernel) -> Result<(), Failure> {
    // The last environment id, unused by anything else at boot.
    let env = exokernel::cap::EnvId(crate::caps::MAX_ENVS - 1);
    let (mint, verify) = ktest::capability_tokens(kernel.caps(), kernel.root(), env, cpu::rdtsc)?;
    log::info!("capability mint {mint} cycles, verify {verify} cycles (TSC, TCG)");
    Ok(())
}

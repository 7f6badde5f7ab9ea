//! The kernel's first look at the hardware the device tree described, at
//! EL1: attach the console, report the exception level and the counter,
//! probe and set up the GIC, start the tick, ask PSCI its version, check
//! memory against `/memory`.

use crate::console::BOOT_CONSOLE;
use crate::{BootState, STACK_BYTES};
use hal::arch::aarch64::gic::{self, GicProbe, GicSetup};
use hal::arch::aarch64::uart::{Attached, CONSOLE_UART};
use hal::arch::aarch64::{cpu, exit, psci, timer};
use hal::platform::{self, MemoryCheck, Platform};
use log::{info, warn};

/// Attaches the device tree's UART, replays what was logged while there
/// was no console, and reports the PL011's divisor against the tree.
pub fn attach_console(platform: &Platform) -> Option<Attached> {
    let uart = platform.console.as_ref()?;
    // SAFETY: the device tree names this UART, the identity map maps its
    // registers as Device memory, and the firmware no longer drives it.
    let attached = unsafe { CONSOLE_UART.attach(uart) }?;
    let replayed = BOOT_CONSOLE.use_uart();
    info!(
        "console {} attached at {:#x}; replayed {replayed} bytes logged while there was no console",
        uart.path, uart.registers.base
    );
    if let Attached::Pl011(setup) = attached {
        let (integer, fraction) = setup.divisor;
        match setup.expected {
            Some(expected) if expected != setup.divisor => warn!(
                "PL011 divisor {integer}+{fraction}/64 differs from the {}+{}/64 the device tree's clock implies",
                expected.0, expected.1
            ),
            Some(_) => {
                info!("PL011 divisor {integer}+{fraction}/64 matches the device tree's clock")
            }
            None => info!(
                "PL011 divisor {integer}+{fraction}/64 (no clock or baud rate in the device tree to check it)"
            ),
        }
        if !setup.kept_firmware_setup {
            info!("PL011 was disabled; programmed 8N1");
        }
    }
    Some(attached)
}

/// Logs the exception level, how it was reached, and the counter.
pub fn report_cpu(entered_el: u64, platform: &Platform) {
    info!(
        "running at EL{} ({}), MMU on with the kernel's identity map, {} KiB kernel stack",
        cpu::current_el(),
        if entered_el == 2 {
            "entered at EL2, dropped to EL1"
        } else {
            "entered at EL1"
        },
        STACK_BYTES / 1024
    );
    let frequency = cpu::counter_frequency();
    info!(
        "generic timer: CNTFRQ_EL0 = {frequency} Hz{}",
        match platform.timer.and_then(|t| t.clock_frequency) {
            Some(dt) if u64::from(dt) != frequency =>
                " (the device tree's clock-frequency differs)",
            _ => "",
        }
    );
}

/// Reads the GIC's ID registers and compares them with the tree.
pub fn probe_gic(platform: &Platform) -> Option<GicProbe> {
    let ic = platform.interrupt_controller.as_ref()?;
    // SAFETY: the device tree names these frames and the identity map maps
    // them as Device memory; only ID registers are read.
    let probe = unsafe { gic::probe(&ic.gic) };
    info!(
        "GIC: hardware reports architecture v{}, {} interrupt IDs, GICD_IIDR {:#010x}",
        probe.architecture, probe.lines, probe.distributor_iidr
    );
    if probe.architecture != 0 && probe.architecture != ic.gic.version() {
        warn!(
            "GIC: device tree says GICv{}, hardware says v{}",
            ic.gic.version(),
            probe.architecture
        );
    }
    Some(probe)
}

/// Sets the GIC up and starts the generic timer's tick at `hz` on the
/// virtual timer's PPI from `/timer`: (the GIC setup, the tick interval in
/// counter ticks). IRQs stay masked at the CPU.
pub fn start_interrupts(platform: &Platform, hz: u32) -> (Option<GicSetup>, Option<u64>) {
    let Some(ic) = platform.interrupt_controller.as_ref() else {
        warn!("no GIC: no interrupts, no tick");
        return (None, None);
    };
    // SAFETY: the device tree names these frames, the identity map maps
    // them as Device memory, nothing else drives the GIC after
    // ExitBootServices, and IRQs are masked (since `enter_el1`).
    let setup = match unsafe { gic::init(&ic.gic) } {
        Ok(setup) => setup,
        Err(e) => {
            warn!("GIC: {e}; no interrupts, no tick");
            return (None, None);
        }
    };
    info!(
        "GIC: v{} set up, {} interrupt IDs, all lines off; {} {:#x}",
        setup.version,
        setup.lines,
        if setup.version == 3 {
            "redistributor"
        } else {
            "CPU interface"
        },
        setup.cpu_side
    );
    let Some(intid) = platform.timer.map(|t| t.interrupts[2]) else {
        warn!("no /timer node: no tick");
        return (Some(setup), None);
    };
    match timer::start(hz, intid) {
        Ok(interval) => {
            info!(
                "tick: {hz} Hz on the EL1 virtual timer, INTID {intid}, every {interval} counter ticks"
            );
            (Some(setup), Some(interval))
        }
        Err(e) => {
            warn!("tick: {e}");
            (Some(setup), None)
        }
    }
}

/// Asks the firmware its PSCI version (when there is a conduit).
pub fn psci_version() -> Option<(u16, u16)> {
    let method = exit::power_off_method()?;
    let v = psci::version(method);
    info!("PSCI: firmware implements version {}.{}", v.0, v.1);
    Some(v)
}

/// Checks the UEFI memory map against `/memory`.
pub fn check_memory(state: &BootState) -> MemoryCheck {
    let check = platform::cross_check_memory(&state.info.memory, &state.platform.memory);
    match check.outside {
        None => info!(
            "memory: {} MiB usable in the boot memory map, all inside /memory ({} MiB)",
            check.usable_bytes >> 20,
            check.device_tree_bytes >> 20
        ),
        Some((start, end)) => {
            warn!(
                "memory: usable {start:#x}..{end:#x} from the boot memory map is outside /memory"
            );
        }
    }
    check
}

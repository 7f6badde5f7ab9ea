//! The boot log's one-line-per-node summary of a [`Platform`].

use super::{ConsoleSource, Gic, InterruptController, Platform, PsciMethod, UartKind};
use core::fmt;

impl Platform {
    /// Calls `line` with one summary line per important node, for the boot
    /// log (`DT: ...`).
    pub fn summary(&self, mut line: impl FnMut(fmt::Arguments<'_>)) {
        line(format_args!(
            "model '{}', compatible '{}': {}, {} nodes, {} CPUs",
            self.model, self.compatible, self.profile, self.nodes, self.cpus
        ));
        match &self.console {
            Some(u) => line(format_args!(
                "console {} ({}): {} at {:#x}, clock {}, {}",
                u.path,
                match u.source {
                    ConsoleSource::StdoutPath => "stdout-path",
                    ConsoleSource::Serial0Alias => "fallback: serial0 alias",
                    ConsoleSource::FirstUart => "fallback: first UART",
                },
                match u.kind {
                    UartKind::Pl011 => "PL011",
                    UartKind::Ns16550 { .. } => "16550",
                },
                u.registers.base,
                Hz(u.clock_hz),
                Baud(u.baud),
            )),
            None => line(format_args!("console: none")),
        }
        match &self.interrupt_controller {
            Some(InterruptController {
                gic:
                    Gic::V2 {
                        distributor,
                        cpu_interface,
                    },
                compatible,
                path,
            }) => line(format_args!(
                "interrupt controller {path}: GICv2 ({compatible}), distributor {:#x}, CPU interface {:#x}",
                distributor.base, cpu_interface.base
            )),
            Some(InterruptController {
                gic:
                    Gic::V3 {
                        distributor,
                        redistributors,
                        redistributor_regions,
                    },
                compatible,
                path,
            }) => line(format_args!(
                "interrupt controller {path}: GICv3 ({compatible}), distributor {:#x}, redistributors {:#x} (+{:#x}, {} region(s))",
                distributor.base, redistributors.base, redistributors.size, redistributor_regions
            )),
            None => line(format_args!("interrupt controller: none")),
        }
        match &self.timer {
            Some(t) => line(format_args!(
                "timer: arm,armv8-timer, PPIs secure {} non-secure {} virtual {} hypervisor {}{}",
                t.interrupts[0],
                t.interrupts[1],
                t.interrupts[2],
                t.interrupts[3],
                if t.always_on { ", always-on" } else { "" }
            )),
            None => line(format_args!("timer: none")),
        }
        match &self.psci {
            Some(p) => line(format_args!(
                "PSCI {}.{} via {}",
                p.version.0,
                p.version.1,
                match p.method {
                    PsciMethod::Smc => "smc",
                    PsciMethod::Hvc => "hvc",
                }
            )),
            None => line(format_args!("PSCI: none")),
        }
        let total: u64 = self.memory.iter().map(|r| r.size).sum();
        match self.memory.first() {
            Some(first) => line(format_args!(
                "memory: {} MiB in {} range(s), first {:#x}..{:#x}",
                total >> 20,
                self.memory.len(),
                first.base,
                first.end()
            )),
            None => line(format_args!("memory: none")),
        }
        if !self.reserved.is_empty() {
            let reserved: u64 = self.reserved.iter().map(|r| r.size).sum();
            line(format_args!(
                "reserved memory: {} range(s), {} KiB (/memreserve/, /reserved-memory)",
                self.reserved.len(),
                reserved >> 10
            ));
        }
        match &self.rng {
            Some(r) => line(format_args!(
                "RNG {} ({}) at {:#x}; /chosen/rng-seed {} bytes",
                r.path, r.compatible, r.registers.base, self.rng_seed_bytes
            )),
            None => line(format_args!(
                "RNG: none; /chosen/rng-seed {} bytes",
                self.rng_seed_bytes
            )),
        }
    }
}

/// Formats an optional frequency.
struct Hz(Option<u32>);

impl fmt::Display for Hz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(hz) if hz % 1000 == 0 => {
                write!(f, "{}.{:03} MHz", hz / 1_000_000, hz / 1000 % 1000)
            }
            Some(hz) => write!(f, "{hz} Hz"),
            None => write!(f, "unknown"),
        }
    }
}

/// Formats an optional baud rate.
struct Baud(Option<u32>);

impl fmt::Display for Baud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(b) => write!(f, "{b} baud"),
            None => write!(f, "baud rate as the firmware set it"),
        }
    }
}

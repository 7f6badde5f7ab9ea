//! The platform a device tree describes: console, interrupt controller,
//! timer, PSCI, memory, RNG, board profile.
//!
//! [`Platform::parse`] reads a blob checked by [`crate::fdt`] into plain
//! fixed-size data that outlives the blob (boot parses it before leaving
//! UEFI and keeps only this). Device addresses are translated through every
//! ancestor's `ranges`, so they are CPU physical addresses. A broken or
//! missing node never fails the whole parse: it becomes a typed
//! [`PlatformWarning`] and, where one exists, a fallback (a console from the
//! `serial0` alias or the first enabled UART when `stdout-path` is unusable;
//! no interrupt controller, reported, when no GIC node is found). Only a
//! blob that is not a well-formed device tree at all is an error.

use crate::board::BoardProfile;
use arrayvec::{ArrayString, ArrayVec};
use core::fmt;

mod parse;
mod summary;

/// Longest node path kept; longer ones are cut (and then match nothing).
pub const MAX_PATH: usize = 128;
/// Most `/memory` ranges kept.
pub const MAX_MEMORY_RANGES: usize = 16;
/// Most warnings kept; later ones are counted.
pub const MAX_PLATFORM_WARNINGS: usize = 16;

/// A node path such as `/soc@107c000000/serial@7d001000`.
pub type NodePath = ArrayString<MAX_PATH>;

/// A physical address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl Range {
    /// One past the last byte (saturating).
    #[must_use]
    pub const fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
}

/// Which UART register interface a console has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartKind {
    /// Arm PrimeCell PL011 (`arm,pl011`).
    Pl011,
    /// A 16550-compatible UART (`ns16550a`, `snps,dw-apb-uart`, ...).
    Ns16550 {
        /// Registers are `1 << reg_shift` bytes apart.
        reg_shift: u32,
        /// Access width in bytes (1 or 4).
        reg_io_width: u32,
    },
}

/// How the console was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleSource {
    /// `/chosen/stdout-path`.
    StdoutPath,
    /// The `serial0` alias (fallback).
    Serial0Alias,
    /// The first enabled UART in the tree (fallback).
    FirstUart,
}

/// The console UART.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uart {
    /// Register interface.
    pub kind: UartKind,
    /// Registers.
    pub registers: Range,
    /// Reference clock in Hz, from `clock-frequency` or the first
    /// `clocks` phandle's fixed clock.
    pub clock_hz: Option<u32>,
    /// Baud rate from `stdout-path`'s options or `current-speed`.
    pub baud: Option<u32>,
    /// The node.
    pub path: NodePath,
    /// How it was chosen.
    pub source: ConsoleSource,
}

/// The GIC and its register frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gic {
    /// GICv2 (`arm,gic-400`, `arm,cortex-a15-gic`, ...).
    V2 {
        /// Distributor (GICD).
        distributor: Range,
        /// CPU interface (GICC).
        cpu_interface: Range,
    },
    /// GICv3 (`arm,gic-v3`).
    V3 {
        /// Distributor (GICD).
        distributor: Range,
        /// The first redistributor region (GICR).
        redistributors: Range,
        /// `#redistributor-regions` (1 when absent).
        redistributor_regions: u32,
    },
}

impl Gic {
    /// 2 or 3.
    #[must_use]
    pub const fn version(&self) -> u8 {
        match self {
            Self::V2 { .. } => 2,
            Self::V3 { .. } => 3,
        }
    }

    /// The distributor's registers.
    #[must_use]
    pub const fn distributor(&self) -> Range {
        match self {
            Self::V2 { distributor, .. } | Self::V3 { distributor, .. } => *distributor,
        }
    }
}

/// The interrupt controller node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterruptController {
    /// The GIC.
    pub gic: Gic,
    /// The `compatible` string that identified it.
    pub compatible: ArrayString<32>,
    /// The node.
    pub path: NodePath,
}

/// The Arm generic timer node (`arm,armv8-timer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    /// GIC interrupt IDs (PPIs, 16..32) in binding order: secure physical,
    /// non-secure physical, virtual, hypervisor (0 when not given).
    pub interrupts: [u32; 4],
    /// `clock-frequency`, which overrides CNTFRQ_EL0 on broken firmware.
    pub clock_frequency: Option<u32>,
    /// `always-on`.
    pub always_on: bool,
}

/// How PSCI calls reach the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    /// `smc`: to EL3 firmware.
    Smc,
    /// `hvc`: to the hypervisor (QEMU emulates PSCI there without EL2).
    Hvc,
}

/// The PSCI node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Psci {
    /// Conduit.
    pub method: PsciMethod,
    /// Highest version in `compatible`, as (major, minor); (0, 1) for plain
    /// `arm,psci`, which has no SYSTEM_OFF.
    pub version: (u8, u8),
    /// CPU_ON function id (from `cpu_on`, else the PSCI 0.2 standard id).
    pub cpu_on: u32,
}

impl Psci {
    /// Whether SYSTEM_OFF and SYSTEM_RESET exist (PSCI 0.2 or later).
    #[must_use]
    pub fn has_system_off(&self) -> bool {
        self.version >= (0, 2)
    }
}

/// A hardware random-number generator node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rng {
    /// The `compatible` string that identified it.
    pub compatible: ArrayString<32>,
    /// Registers.
    pub registers: Range,
    /// The node.
    pub path: NodePath,
}

/// The device a warning is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The console UART.
    Console,
    /// The interrupt controller.
    InterruptController,
    /// The generic timer.
    Timer,
    /// PSCI.
    Psci,
    /// A `/memory` node.
    Memory,
    /// The RNG.
    Rng,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Console => "console",
            Self::InterruptController => "interrupt controller",
            Self::Timer => "timer",
            Self::Psci => "PSCI",
            Self::Memory => "memory",
            Self::Rng => "RNG",
        })
    }
}

/// What is wrong with a node's `reg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegProblem {
    /// No `reg` property.
    Missing,
    /// Its length is not a whole number of (address, size) entries.
    BadLength {
        /// Bytes in the property.
        len: usize,
        /// Parent's `#address-cells`.
        address_cells: u32,
        /// Parent's `#size-cells`.
        size_cells: u32,
    },
    /// Cell counts exo cannot hold in 64 bits (more than 2), or zero
    /// address cells.
    UnsupportedCells {
        /// Parent's `#address-cells`.
        address_cells: u32,
        /// Parent's `#size-cells`.
        size_cells: u32,
    },
    /// Fewer entries than the binding requires.
    TooFewEntries {
        /// Entries present.
        found: usize,
        /// Entries required.
        needed: usize,
    },
    /// An ancestor bus has no (or a malformed) `ranges`, or no range covers
    /// the address.
    Untranslatable {
        /// The address in the bus's space.
        address: u64,
    },
}

impl fmt::Display for RegProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => write!(f, "no 'reg' property"),
            Self::BadLength {
                len,
                address_cells,
                size_cells,
            } => write!(
                f,
                "'reg' of {len} bytes is not a multiple of ({address_cells}+{size_cells}) cells"
            ),
            Self::UnsupportedCells {
                address_cells,
                size_cells,
            } => write!(
                f,
                "unsupported #address-cells {address_cells} / #size-cells {size_cells}"
            ),
            Self::TooFewEntries { found, needed } => {
                write!(f, "'reg' has {found} entries, {needed} needed")
            }
            Self::Untranslatable { address } => {
                write!(f, "address {address:#x} not translatable through 'ranges'")
            }
        }
    }
}

/// Something the device tree got wrong or left out; boot goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformWarning {
    /// No `/chosen/stdout-path` (console taken from a fallback, if any).
    NoStdoutPath,
    /// `stdout-path` names no node.
    StdoutPathUnresolved(NodePath),
    /// `stdout-path` names a node that is no supported UART.
    StdoutNotUart(NodePath),
    /// No usable UART anywhere: no console after leaving UEFI.
    NoConsole,
    /// A device's `reg` is unusable.
    BadReg {
        /// Which device.
        device: Device,
        /// The node.
        path: NodePath,
        /// What is wrong.
        problem: RegProblem,
    },
    /// No GIC node: no interrupts.
    NoInterruptController,
    /// The root `interrupt-parent` is no GIC exo knows; the GIC used is
    /// another node.
    InterruptParentNotGic,
    /// No `arm,armv8-timer` node.
    NoTimer,
    /// The timer's `interrupts` is not a list of 3-cell GIC PPIs.
    BadTimerInterrupts,
    /// No PSCI node.
    NoPsci,
    /// The PSCI `method` is neither `smc` nor `hvc`.
    BadPsciMethod,
    /// No `/memory` node.
    NoMemoryNode,
    /// More than [`MAX_MEMORY_RANGES`] memory ranges.
    TooManyMemoryRanges,
    /// The tree contradicts the board profile.
    ProfileMismatch {
        /// The device.
        device: Device,
        /// What the profile expected.
        expected: &'static str,
    },
}

impl fmt::Display for PlatformWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoStdoutPath => write!(f, "no /chosen/stdout-path"),
            Self::StdoutPathUnresolved(p) => write!(f, "stdout-path '{p}' names no node"),
            Self::StdoutNotUart(p) => write!(f, "stdout-path node {p} is not a supported UART"),
            Self::NoConsole => write!(f, "no usable UART: no console after leaving UEFI"),
            Self::BadReg {
                device,
                path,
                problem,
            } => write!(f, "{device} {path}: {problem}"),
            Self::NoInterruptController => {
                write!(f, "no GICv2/GICv3 node: interrupts unavailable")
            }
            Self::InterruptParentNotGic => {
                write!(f, "root interrupt-parent is not a known GIC")
            }
            Self::NoTimer => write!(f, "no arm,armv8-timer node"),
            Self::BadTimerInterrupts => write!(f, "timer 'interrupts' is not a list of GIC PPIs"),
            Self::NoPsci => write!(f, "no PSCI node: no power-off or CPU_ON"),
            Self::BadPsciMethod => write!(f, "PSCI method is neither smc nor hvc"),
            Self::NoMemoryNode => write!(f, "no /memory node"),
            Self::TooManyMemoryRanges => {
                write!(
                    f,
                    "more than {MAX_MEMORY_RANGES} memory ranges; rest ignored"
                )
            }
            Self::ProfileMismatch { device, expected } => {
                write!(
                    f,
                    "{device} contradicts the board profile (expected {expected})"
                )
            }
        }
    }
}

/// Everything boot needs from the device tree.
#[derive(Clone, Debug)]
pub struct Platform {
    /// Root `model`.
    pub model: ArrayString<64>,
    /// First root `compatible` string.
    pub compatible: ArrayString<64>,
    /// The board profile the root `compatible` selected.
    pub profile: BoardProfile,
    /// The console UART.
    pub console: Option<Uart>,
    /// The GIC.
    pub interrupt_controller: Option<InterruptController>,
    /// The generic timer.
    pub timer: Option<Timer>,
    /// PSCI.
    pub psci: Option<Psci>,
    /// `/memory` ranges, in tree order.
    pub memory: ArrayVec<Range, MAX_MEMORY_RANGES>,
    /// RAM the tree reserves: `/memreserve/` entries, then the fixed
    /// `/reserved-memory` regions (those with `reg`). UEFI firmware folds
    /// these into its memory map; a kernel started directly must avoid them
    /// itself.
    pub reserved: ArrayVec<Range, MAX_MEMORY_RANGES>,
    /// A hardware RNG.
    pub rng: Option<Rng>,
    /// Bytes of `/chosen/rng-seed` (firmware-provided randomness).
    pub rng_seed_bytes: usize,
    /// CPU nodes under `/cpus`.
    pub cpus: usize,
    /// Nodes in the tree.
    pub nodes: usize,
    /// Problems found, each with its fallback already applied.
    pub warnings: ArrayVec<PlatformWarning, MAX_PLATFORM_WARNINGS>,
    /// Warnings that did not fit.
    pub dropped_warnings: usize,
}

/// The standard 64-bit PSCI CPU_ON function id.
pub const PSCI_CPU_ON_64: u32 = 0xc400_0003;

/// Summary of the cross-check between the UEFI memory map and `/memory`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryCheck {
    /// Usable bytes in the firmware map.
    pub usable_bytes: u64,
    /// Bytes in `/memory`.
    pub device_tree_bytes: u64,
    /// The first usable firmware range not inside any `/memory` range.
    pub outside: Option<(u64, u64)>,
}

/// Checks that every usable range of the firmware map lies inside the
/// device tree's `/memory`.
pub fn cross_check_memory(firmware: &[crate::MemoryRegion], device_tree: &[Range]) -> MemoryCheck {
    let usable = firmware
        .iter()
        .filter(|r| r.kind == crate::MemoryKind::Usable);
    MemoryCheck {
        usable_bytes: usable.clone().map(|r| r.len).sum(),
        device_tree_bytes: device_tree.iter().map(|r| r.size).sum(),
        outside: usable
            .filter(|r| {
                !device_tree
                    .iter()
                    .any(|d| d.base <= r.start && r.end() <= d.end())
            })
            .map(|r| (r.start, r.end()))
            .next(),
    }
}

//! Reading a [`Platform`] out of a checked device tree.
//!
//! One depth-first walk visits every node with its ancestors at hand, so
//! `reg` addresses are translated through each bus's `ranges` on the spot;
//! the fallbacks (console from the `serial0` alias or the first UART, the
//! first GIC when the root's `interrupt-parent` is none) are chosen after
//! the walk.

use super::{
    ConsoleSource, Device, Gic, InterruptController, MAX_MEMORY_RANGES, NodePath, PSCI_CPU_ON_64,
    Platform, PlatformWarning, Psci, PsciMethod, Range, RegProblem, Rng, Timer, Uart, UartKind,
};
use crate::board::{self, ExpectedGic};
use crate::fdt::{self, FdtError};
use ::fdt::node::FdtNode;
use arrayvec::{ArrayString, ArrayVec};

const PL011: &[&str] = &["arm,pl011"];
const NS16550: &[&str] = &[
    "ns16550a",
    "ns16550",
    "ns16750",
    "snps,dw-apb-uart",
    "brcm,bcm2835-aux-uart",
];
const GIC_V2: &[&str] = &[
    "arm,gic-400",
    "arm,cortex-a15-gic",
    "arm,cortex-a9-gic",
    "arm,cortex-a7-gic",
];
const GIC_V3: &[&str] = &["arm,gic-v3"];
const TIMER: &[&str] = &["arm,armv8-timer"];
const PSCI: &[&str] = &["arm,psci-1.0", "arm,psci-0.2", "arm,psci"];
const RNG: &[&str] = &[
    "brcm,bcm2711-rng200",
    "brcm,iproc-rng200",
    "brcm,bcm7211-rng200",
    "brcm,bcm2835-rng",
    "arm,cctrng",
];

/// A node with everything above it, as the walk sees it.
struct Visit<'n, 'b, 'a> {
    tree: &'b ::fdt::Fdt<'a>,
    node: FdtNode<'b, 'a>,
    ancestors: &'n [FdtNode<'b, 'a>],
    path: &'n str,
}

fn prop_u32(node: FdtNode<'_, '_>, name: &str) -> Option<u32> {
    let v = node.property(name)?.value;
    (v.len() == 4).then(|| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
}

fn prop_str<'a>(node: FdtNode<'_, 'a>, name: &str) -> Option<&'a str> {
    let v = node.property(name)?.value;
    let v = v.split(|&b| b == 0).next()?;
    core::str::from_utf8(v).ok()
}

fn compatibles<'a>(node: FdtNode<'_, 'a>) -> impl Iterator<Item = &'a str> + Clone {
    node.property("compatible")
        .map_or(&[][..], |p| p.value)
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .filter_map(|s| core::str::from_utf8(s).ok())
}

fn matching(node: FdtNode<'_, '_>, list: &[&'static str]) -> Option<&'static str> {
    compatibles(node).find_map(|c| list.iter().find(|l| **l == c).copied())
}

fn enabled(node: FdtNode<'_, '_>) -> bool {
    prop_str(node, "status").is_none_or(|s| s == "okay" || s == "ok")
}

/// Reads a big-endian number of `cells` (1 or 2) cells.
fn cells_value(bytes: &[u8], cells: u32) -> Option<u64> {
    match cells {
        0 => Some(0),
        1 => Some(u64::from(u32::from_be_bytes(
            bytes.get(..4)?.try_into().ok()?,
        ))),
        2 => Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?)),
        _ => None,
    }
}

/// `#address-cells` and `#size-cells` a node gives its children.
fn child_cells(node: Option<FdtNode<'_, '_>>) -> (u32, u32) {
    node.map_or((2, 1), |n| {
        (
            prop_u32(n, "#address-cells").unwrap_or(2),
            prop_u32(n, "#size-cells").unwrap_or(1),
        )
    })
}

/// Translates `address` from the child space of `ancestors.last()` up to
/// the CPU's, through each bus's `ranges`.
fn translate(mut address: u64, ancestors: &[FdtNode<'_, '_>]) -> Result<u64, RegProblem> {
    for i in (1..ancestors.len()).rev() {
        let bus = ancestors[i];
        let Some(ranges) = bus.property("ranges") else {
            return Err(RegProblem::Untranslatable { address });
        };
        if ranges.value.is_empty() {
            continue;
        }
        let (child_cells, size_cells) = child_cells(Some(bus));
        let (parent_cells, _) = child_cells_of_parent(ancestors, i);
        let entry = (child_cells + parent_cells + size_cells) as usize * 4;
        if entry == 0 || !ranges.value.len().is_multiple_of(entry) {
            return Err(RegProblem::Untranslatable { address });
        }
        let mut translated = None;
        for chunk in ranges.value.chunks_exact(entry) {
            let child = cells_value(chunk, child_cells);
            let parent = cells_value(&chunk[child_cells as usize * 4..], parent_cells);
            let size = cells_value(
                &chunk[(child_cells + parent_cells) as usize * 4..],
                size_cells,
            );
            let (Some(child), Some(parent), Some(size)) = (child, parent, size) else {
                return Err(RegProblem::Untranslatable { address });
            };
            if address >= child && address - child < size {
                translated = Some(parent.wrapping_add(address - child));
                break;
            }
        }
        address = translated.ok_or(RegProblem::Untranslatable { address })?;
    }
    Ok(address)
}

fn child_cells_of_parent(ancestors: &[FdtNode<'_, '_>], i: usize) -> (u32, u32) {
    child_cells(i.checked_sub(1).map(|p| ancestors[p]))
}

/// The node's `reg` entries as CPU physical ranges.
fn reg<const N: usize>(v: &Visit<'_, '_, '_>) -> Result<ArrayVec<Range, N>, RegProblem> {
    let (address_cells, size_cells) = child_cells(v.ancestors.last().copied());
    let Some(prop) = v.node.property("reg") else {
        return Err(RegProblem::Missing);
    };
    if address_cells == 0 || address_cells > 2 || size_cells > 2 {
        return Err(RegProblem::UnsupportedCells {
            address_cells,
            size_cells,
        });
    }
    let entry = (address_cells + size_cells) as usize * 4;
    if prop.value.is_empty() || !prop.value.len().is_multiple_of(entry) {
        return Err(RegProblem::BadLength {
            len: prop.value.len(),
            address_cells,
            size_cells,
        });
    }
    let mut out = ArrayVec::new();
    for chunk in prop.value.chunks_exact(entry).take(N) {
        let address = cells_value(chunk, address_cells).unwrap_or(0);
        let size = cells_value(&chunk[address_cells as usize * 4..], size_cells).unwrap_or(0);
        out.push(Range {
            base: translate(address, v.ancestors)?,
            size,
        });
    }
    Ok(out)
}

/// Whether `target` (from `stdout-path` or an alias) names `path`; a
/// target component without a unit address matches any unit address.
fn path_matches(target: &str, path: &str) -> bool {
    if target == path {
        return true;
    }
    let mut t = target.split('/').filter(|s| !s.is_empty());
    let mut p = path.split('/').filter(|s| !s.is_empty());
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) => {
                let same = a == b || (!a.contains('@') && b.split('@').next() == Some(a));
                if !same {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

fn truncated<const N: usize>(s: &str) -> ArrayString<N> {
    crate::bootinfo::truncated_name(s)
}

/// The console target from `/chosen/stdout-path`: (path, baud).
fn stdout_target<'a>(tree: &::fdt::Fdt<'a>) -> Option<(&'a str, Option<u32>)> {
    let chosen = tree.find_node("/chosen")?;
    let value =
        prop_str(chosen, "stdout-path").or_else(|| prop_str(chosen, "linux,stdout-path"))?;
    let (name, options) = value.split_once(':').unwrap_or((value, ""));
    let baud = options
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|d| d.parse().ok());
    // An alias that does not resolve stays as given and then matches no
    // node, which is reported as an unresolved stdout-path.
    let path = if name.starts_with('/') {
        name
    } else {
        tree.find_node("/aliases")
            .and_then(|a| prop_str(a, name))
            .unwrap_or(name)
    };
    Some((path, baud))
}

/// Walks the tree depth-first, calling `f` on every node.
fn walk<'b, 'a>(
    tree: &'b ::fdt::Fdt<'a>,
    node: FdtNode<'b, 'a>,
    ancestors: &mut ArrayVec<FdtNode<'b, 'a>, { fdt::MAX_DEPTH }>,
    path: &mut NodePath,
    f: &mut dyn FnMut(&Visit<'_, 'b, 'a>),
) {
    f(&Visit {
        tree,
        node,
        ancestors,
        path,
    });
    if ancestors.try_push(node).is_err() {
        return;
    }
    for child in node.children() {
        let len = path.len();
        if len > 1 || path.is_empty() {
            let _ = path.try_push('/');
        }
        let _ = path.try_push_str(child.name);
        walk(tree, child, ancestors, path, f);
        path.truncate(len);
    }
    ancestors.pop();
}

impl Platform {
    /// Reads the platform from a device-tree blob.
    ///
    /// # Errors
    /// When the blob is not a well-formed device tree ([`fdt::check`]);
    /// problems with single nodes are [`Platform::warnings`] instead.
    pub fn parse(blob: &[u8]) -> Result<Self, FdtError> {
        let census = fdt::check(blob)?;
        let tree = fdt::open(blob)?;
        let root = tree.find_node("/").ok_or(FdtError::Structure {
            offset: 0,
            problem: fdt::StructureProblem::NoRoot,
        })?;
        let mut p = Self {
            model: truncated(prop_str(root, "model").unwrap_or("")),
            compatible: truncated(compatibles(root).next().unwrap_or("")),
            profile: board::select(compatibles(root)),
            console: None,
            interrupt_controller: None,
            timer: None,
            psci: None,
            memory: ArrayVec::new(),
            reserved: tree
                .memory_reservations()
                .map(|m| Range {
                    base: m.address() as usize as u64,
                    size: m.size() as u64,
                })
                .filter(|r| r.size > 0)
                .take(MAX_MEMORY_RANGES)
                .collect(),
            rng: None,
            rng_seed_bytes: tree
                .find_node("/chosen")
                .and_then(|c| c.property("rng-seed"))
                .map_or(0, |s| s.value.len()),
            cpus: 0,
            nodes: census.nodes,
            warnings: ArrayVec::new(),
            dropped_warnings: 0,
        };
        let stdout = stdout_target(&tree);
        let serial0 = tree
            .find_node("/aliases")
            .and_then(|a| prop_str(a, "serial0"));
        let root_irq_parent = prop_u32(root, "interrupt-parent");

        let mut found = Found::default();
        let mut ancestors = ArrayVec::new();
        let mut path = NodePath::new();
        let _ = path.try_push('/');
        walk(&tree, root, &mut ancestors, &mut path, &mut |v| {
            p.visit(v, stdout, serial0, root_irq_parent, &mut found);
        });

        if stdout.is_none() {
            p.warn(PlatformWarning::NoStdoutPath);
        } else if let Some((target, _)) = stdout
            && !found.stdout_seen
        {
            p.warn(PlatformWarning::StdoutPathUnresolved(truncated(target)));
        }
        p.console = found.stdout.or(found.serial0).or(found.first_uart);
        if p.console.is_none() {
            p.warn(PlatformWarning::NoConsole);
        }
        p.interrupt_controller = found.parent_gic.or(found.any_gic);
        match (&p.interrupt_controller, found.parent_gic) {
            (None, _) => p.warn(PlatformWarning::NoInterruptController),
            (Some(_), None) if root_irq_parent.is_some() => {
                p.warn(PlatformWarning::InterruptParentNotGic);
            }
            _ => {}
        }
        if p.timer.is_none() && !found.timer_seen {
            p.warn(PlatformWarning::NoTimer);
        }
        if p.psci.is_none() && !found.psci_seen {
            p.warn(PlatformWarning::NoPsci);
        }
        if !found.memory_seen {
            p.warn(PlatformWarning::NoMemoryNode);
        }
        p.check_profile();
        Ok(p)
    }

    fn warn(&mut self, warning: PlatformWarning) {
        if self.warnings.try_push(warning).is_err() {
            self.dropped_warnings += 1;
        }
    }

    fn visit(
        &mut self,
        v: &Visit<'_, '_, '_>,
        stdout: Option<(&str, Option<u32>)>,
        serial0: Option<&str>,
        root_irq_parent: Option<u32>,
        found: &mut Found,
    ) {
        let node = v.node;
        let is_stdout = stdout.is_some_and(|(t, _)| path_matches(t, v.path));
        if is_stdout {
            found.stdout_seen = true;
        }
        let is_serial0 = serial0.is_some_and(|t| path_matches(t, v.path));
        let uart_kind = if matching(node, PL011).is_some() {
            Some(UartKind::Pl011)
        } else if let Some(compatible) = matching(node, NS16550) {
            // The Raspberry Pis' mini UART is a 16550 whose registers are
            // 32 bits apart; its binding leaves that implied (Linux's
            // 8250_bcm2835aux driver supplies it).
            let (shift, width) = if compatible == "brcm,bcm2835-aux-uart" {
                (2, 4)
            } else {
                (0, 1)
            };
            Some(UartKind::Ns16550 {
                reg_shift: prop_u32(node, "reg-shift").unwrap_or(shift),
                reg_io_width: prop_u32(node, "reg-io-width").unwrap_or(width),
            })
        } else {
            None
        };
        match uart_kind {
            Some(kind) => match reg::<1>(v) {
                Ok(r) if !r.is_empty() => {
                    let baud = stdout
                        .filter(|_| is_stdout)
                        .and_then(|(_, b)| b)
                        .or_else(|| prop_u32(node, "current-speed"));
                    let uart = |source| Uart {
                        kind,
                        registers: r[0],
                        clock_hz: uart_clock(v),
                        baud,
                        path: truncated(v.path),
                        source,
                    };
                    if is_stdout {
                        found.stdout = Some(uart(ConsoleSource::StdoutPath));
                    }
                    if is_serial0 {
                        found.serial0 = Some(uart(ConsoleSource::Serial0Alias));
                    }
                    if found.first_uart.is_none() && enabled(node) {
                        found.first_uart = Some(uart(ConsoleSource::FirstUart));
                    }
                }
                Ok(_) => {}
                Err(problem) => {
                    if is_stdout || is_serial0 {
                        self.warn(PlatformWarning::BadReg {
                            device: Device::Console,
                            path: truncated(v.path),
                            problem,
                        });
                    }
                }
            },
            None if is_stdout => self.warn(PlatformWarning::StdoutNotUart(truncated(v.path))),
            None => {}
        }

        if node.property("interrupt-controller").is_some() && enabled(node) {
            self.visit_gic(v, root_irq_parent, found);
        }
        if matching(node, TIMER).is_some() && !found.timer_seen {
            found.timer_seen = true;
            self.timer = self.parse_timer(node);
        }
        if matching(node, PSCI).is_some() && !found.psci_seen {
            found.psci_seen = true;
            self.psci = self.parse_psci(node);
        }
        if prop_str(node, "device_type") == Some("memory") && v.ancestors.len() == 1 {
            found.memory_seen = true;
            match reg::<MAX_MEMORY_RANGES>(v) {
                Ok(ranges) => {
                    for r in ranges.into_iter().filter(|r| r.size > 0) {
                        if self.memory.try_push(r).is_err() {
                            self.warn(PlatformWarning::TooManyMemoryRanges);
                            break;
                        }
                    }
                }
                Err(problem) => self.warn(PlatformWarning::BadReg {
                    device: Device::Memory,
                    path: truncated(v.path),
                    problem,
                }),
            }
        }
        let parent_is_reserved = v.ancestors.len() == 2
            && v.ancestors[1].name.split('@').next() == Some("reserved-memory");
        if parent_is_reserved && let Ok(ranges) = reg::<4>(v) {
            for r in ranges.into_iter().filter(|r| r.size > 0) {
                if self.reserved.try_push(r).is_err() {
                    self.warn(PlatformWarning::TooManyMemoryRanges);
                    break;
                }
            }
        }
        if prop_str(node, "device_type") == Some("cpu") {
            self.cpus += 1;
        }
        if let Some(compatible) = matching(node, RNG)
            && self.rng.is_none()
            && enabled(node)
        {
            match reg::<1>(v) {
                Ok(r) if !r.is_empty() => {
                    self.rng = Some(Rng {
                        compatible: truncated(compatible),
                        registers: r[0],
                        path: truncated(v.path),
                    });
                }
                Ok(_) => {}
                Err(problem) => self.warn(PlatformWarning::BadReg {
                    device: Device::Rng,
                    path: truncated(v.path),
                    problem,
                }),
            }
        }
    }

    fn visit_gic(
        &mut self,
        v: &Visit<'_, '_, '_>,
        root_irq_parent: Option<u32>,
        found: &mut Found,
    ) {
        let node = v.node;
        let (compatible, v3) = match (matching(node, GIC_V2), matching(node, GIC_V3)) {
            (Some(c), _) => (c, false),
            (None, Some(c)) => (c, true),
            (None, None) => return,
        };
        let is_parent = root_irq_parent.is_some() && prop_u32(node, "phandle") == root_irq_parent;
        if found.any_gic.is_some() && !is_parent {
            return;
        }
        let regions = prop_u32(node, "#redistributor-regions").unwrap_or(1).max(1);
        let needed = if v3 { 1 + regions as usize } else { 2 };
        let gic = match reg::<8>(v) {
            Ok(r) if r.len() >= needed => {
                if v3 {
                    Gic::V3 {
                        distributor: r[0],
                        redistributors: r[1],
                        redistributor_regions: regions,
                    }
                } else {
                    Gic::V2 {
                        distributor: r[0],
                        cpu_interface: r[1],
                    }
                }
            }
            Ok(r) => {
                self.warn(PlatformWarning::BadReg {
                    device: Device::InterruptController,
                    path: truncated(v.path),
                    problem: RegProblem::TooFewEntries {
                        found: r.len(),
                        needed,
                    },
                });
                return;
            }
            Err(problem) => {
                self.warn(PlatformWarning::BadReg {
                    device: Device::InterruptController,
                    path: truncated(v.path),
                    problem,
                });
                return;
            }
        };
        let controller = InterruptController {
            gic,
            compatible: truncated(compatible),
            path: truncated(v.path),
        };
        if is_parent {
            found.parent_gic = Some(controller);
        }
        found.any_gic.get_or_insert(controller);
    }

    fn parse_timer(&mut self, node: FdtNode<'_, '_>) -> Option<Timer> {
        let mut timer = Timer {
            interrupts: [0; 4],
            clock_frequency: prop_u32(node, "clock-frequency"),
            always_on: node.property("always-on").is_some(),
        };
        let value = node.property("interrupts").map_or(&[][..], |p| p.value);
        if value.is_empty() || !value.len().is_multiple_of(12) {
            self.warn(PlatformWarning::BadTimerInterrupts);
            return Some(timer);
        }
        for (slot, cell) in timer.interrupts.iter_mut().zip(value.chunks_exact(12)) {
            let kind = cells_value(cell, 1).unwrap_or(u64::MAX);
            let number = cells_value(&cell[4..], 1).unwrap_or(u64::MAX);
            // Type 1 is a PPI; its INTID is 16 + number.
            if kind != 1 || number >= 16 {
                self.warn(PlatformWarning::BadTimerInterrupts);
                timer.interrupts = [0; 4];
                return Some(timer);
            }
            *slot = 16 + number as u32;
        }
        Some(timer)
    }

    fn parse_psci(&mut self, node: FdtNode<'_, '_>) -> Option<Psci> {
        let method = match prop_str(node, "method") {
            Some("smc") => PsciMethod::Smc,
            Some("hvc") => PsciMethod::Hvc,
            _ => {
                self.warn(PlatformWarning::BadPsciMethod);
                return None;
            }
        };
        let version = compatibles(node)
            .filter_map(|c| match c {
                "arm,psci-1.0" => Some((1, 0)),
                "arm,psci-0.2" => Some((0, 2)),
                "arm,psci" => Some((0, 1)),
                _ => None,
            })
            .max()
            .unwrap_or((0, 1));
        Some(Psci {
            method,
            version,
            cpu_on: prop_u32(node, "cpu_on").unwrap_or(PSCI_CPU_ON_64),
        })
    }

    fn check_profile(&mut self) {
        let profile = self.profile;
        if let Some(ic) = &self.interrupt_controller {
            let mismatch = match (profile.gic, ic.gic.version()) {
                (ExpectedGic::V2, 3) => Some("GICv2"),
                (ExpectedGic::V3, 2) => Some("GICv3"),
                _ => None,
            };
            if let Some(expected) = mismatch {
                self.warn(PlatformWarning::ProfileMismatch {
                    device: Device::InterruptController,
                    expected,
                });
            }
        }
        if profile.pl011_console
            && let Some(console) = &self.console
            && console.kind != UartKind::Pl011
        {
            self.warn(PlatformWarning::ProfileMismatch {
                device: Device::Console,
                expected: "a PL011",
            });
        }
    }
}

/// What the walk collected, before the fallbacks are chosen.
#[derive(Default)]
struct Found {
    stdout: Option<Uart>,
    stdout_seen: bool,
    serial0: Option<Uart>,
    first_uart: Option<Uart>,
    parent_gic: Option<InterruptController>,
    any_gic: Option<InterruptController>,
    timer_seen: bool,
    psci_seen: bool,
    memory_seen: bool,
}

/// The UART's reference clock: `clock-frequency`, else the first `clocks`
/// phandle's `clock-frequency` (a `fixed-clock`).
fn uart_clock(v: &Visit<'_, '_, '_>) -> Option<u32> {
    if let Some(hz) = prop_u32(v.node, "clock-frequency") {
        return Some(hz);
    }
    let clocks = v.node.property("clocks")?.value;
    let phandle = u32::from_be_bytes(clocks.get(..4)?.try_into().ok()?);
    prop_u32(v.tree.find_phandle(phandle)?, "clock-frequency")
}

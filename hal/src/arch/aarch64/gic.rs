//! The GIC: the read-only probe of what the hardware reports, and the
//! interrupt path — configure the distributor and this CPU's interface,
//! enable lines, and acknowledge, dispatch and end interrupts.
//!
//! GICv2 is driven through its memory-mapped CPU interface (GICC_IAR /
//! GICC_EOIR), GICv3 through the system registers (ICC_IAR1_EL1 /
//! ICC_EOIR1_EL1) with SGIs and PPIs configured in this CPU's
//! redistributor, found by its affinity. Everything runs on the boot CPU
//! with IRQs masked while it is configured; handlers are plain functions
//! registered per interrupt ID (or one for every SPI routed to an
//! environment) and run with IRQs masked, after the interrupt has ended:
//! a handler may switch the interrupted frame to another environment or
//! idle waiting for the next interrupt, so nothing may be left to do after
//! it returns. An SPI for an environment is disabled before it ends, so a
//! level-triggered source cannot storm before its owner acknowledges it.

use super::cpu;
use super::exceptions::TrapFrame;
use crate::platform::Gic;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

const GICD_CTLR: u64 = 0x000;
const GICD_TYPER: u64 = 0x004;
const GICD_IIDR: u64 = 0x008;
const GICD_ISENABLER: u64 = 0x100;
const GICD_ICENABLER: u64 = 0x180;
const GICD_ICPENDR: u64 = 0x280;
const GICD_IPRIORITYR: u64 = 0x400;
const GICD_ICFGR: u64 = 0xc00;
const GICD_ITARGETSR: u64 = 0x800;
const GICD_IROUTER: u64 = 0x6000;
/// Peripheral ID 2 of a GICv2 distributor (4 KiB frame).
const GICD_PIDR2_V2: u64 = 0xfe8;
/// Peripheral ID 2 of a GICv3 distributor or redistributor (64 KiB frame).
const GICD_PIDR2_V3: u64 = 0xffe8;
/// GICD_CTLR.RWP (GICv3): a register write is still in progress.
const GICD_CTLR_RWP: u32 = 1 << 31;

const GICC_CTLR: u64 = 0x0000;
const GICC_PMR: u64 = 0x0004;
const GICC_BPR: u64 = 0x0008;
const GICC_IAR: u64 = 0x000c;
const GICC_EOIR: u64 = 0x0010;
const GICC_IIDR: u64 = 0x00fc;

const GICR_TYPER: u64 = 0x008;
const GICR_WAKER: u64 = 0x014;
/// The SGI/PPI frame follows the redistributor's control frame.
const GICR_SGI: u64 = 0x1_0000;
const GICR_IGROUPR0: u64 = GICR_SGI + 0x080;
const GICR_ISENABLER0: u64 = GICR_SGI + 0x100;
const GICR_ICENABLER0: u64 = GICR_SGI + 0x180;
const GICR_ICPENDR0: u64 = GICR_SGI + 0x280;
const GICR_IPRIORITYR: u64 = GICR_SGI + 0x400;
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;

/// Interrupt IDs 1020–1023 are special (1023: spurious).
pub const SPURIOUS_FIRST: u32 = 1020;
/// Interrupt IDs with a handler slot (SGIs, PPIs and the first SPIs).
pub const MAX_HANDLED: usize = 256;
/// The priority [`enable`] gives a line (lower is more urgent).
pub const DEFAULT_PRIORITY: u8 = 0x80;
/// The CPU interface's priority mask: everything above the lowest level.
pub const PRIORITY_MASK: u8 = 0xff;
/// Loop bound when waiting for the GIC (RWP, the redistributor waking).
const WAIT_SPINS: u32 = 1_000_000;

/// What the hardware says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GicProbe {
    /// ArchRev from the distributor's PIDR2 (2 or 3; 0 when unreadable).
    pub architecture: u8,
    /// Interrupt IDs the distributor implements (32 × (ITLinesNumber + 1)).
    pub lines: u32,
    /// GICD_IIDR (implementer and revision; 0x0200143b is Arm's GIC-400).
    pub distributor_iidr: u32,
    /// GICC_IIDR (GICv2) or the first redistributor's affinity (GICv3).
    pub cpu_side: u64,
}

fn read32(address: u64) -> u32 {
    // SAFETY: every caller passes an address inside a GIC frame the device
    // tree named, identity-mapped as device memory (the contracts of
    // `probe` and `init`); 32-bit reads of GIC registers are always
    // allowed; reads with side effects (IAR) are only made on purpose.
    unsafe { read_volatile(address as usize as *const u32) }
}

fn write32(address: u64, value: u32) {
    // SAFETY: as `read32`: a GIC register the driver means to write.
    unsafe { write_volatile(address as usize as *mut u32, value) }
}

fn write8(address: u64, value: u8) {
    // SAFETY: as `read32`; the priority and target registers are
    // byte-accessible.
    unsafe { write_volatile(address as usize as *mut u8, value) }
}

fn write64(address: u64, value: u64) {
    // SAFETY: as `read32`; GICD_IROUTER is 64 bits wide.
    unsafe { write_volatile(address as usize as *mut u64, value) }
}

/// Reads the distributor's (and CPU interface's or first
/// redistributor's) identification registers.
///
/// # Safety
/// The frames in `gic` must be the GIC's, identity-mapped as device memory.
pub unsafe fn probe(gic: &Gic) -> GicProbe {
    let distributor = gic.distributor().base;
    let typer = read32(distributor + GICD_TYPER);
    let (pidr2, cpu_side) = match gic {
        Gic::V2 { cpu_interface, .. } => (
            read32(distributor + GICD_PIDR2_V2),
            u64::from(read32(cpu_interface.base + GICC_IIDR)),
        ),
        Gic::V3 { redistributors, .. } => {
            let low = read32(redistributors.base + GICR_TYPER);
            let high = read32(redistributors.base + GICR_TYPER + 4);
            (
                read32(distributor + GICD_PIDR2_V3),
                (u64::from(high) << 32) | u64::from(low),
            )
        }
    };
    GicProbe {
        architecture: ((pidr2 >> 4) & 0xf) as u8,
        lines: 32 * ((typer & 0x1f) + 1),
        distributor_iidr: read32(distributor + GICD_IIDR),
        cpu_side,
    }
}

/// The GIC in use: 0 none, 2 or 3.
static VERSION: AtomicU8 = AtomicU8::new(0);
static DISTRIBUTOR: AtomicU64 = AtomicU64::new(0);
/// GICv2: the CPU interface. GICv3: this CPU's redistributor.
static CPU_SIDE: AtomicU64 = AtomicU64::new(0);
static LINES: AtomicU32 = AtomicU32::new(0);
/// What a handler gets: the interrupt ID and the interrupted frame.
pub type Handler = fn(u32, &mut TrapFrame);

/// The handler for SPIs without their own, as a [`Handler`] (0: none).
static SPI_HANDLER: AtomicUsize = AtomicUsize::new(0);
/// Handlers, as [`Handler`] pointers (0: none).
static HANDLERS: [AtomicUsize; MAX_HANDLED] = [const { AtomicUsize::new(0) }; MAX_HANDLED];
static HANDLED: AtomicU64 = AtomicU64::new(0);
static SPURIOUS: AtomicU64 = AtomicU64::new(0);
static UNHANDLED: AtomicU64 = AtomicU64::new(0);
static LAST_INTID: AtomicU32 = AtomicU32::new(SPURIOUS_FIRST + 3);
/// ELR and SPSR of the last interrupted context.
static LAST_ELR: AtomicU64 = AtomicU64::new(0);
static LAST_SPSR: AtomicU64 = AtomicU64::new(0);

/// Why [`init`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicError {
    /// A GICv3 without the system-register CPU interface.
    NoSystemRegisters,
    /// No redistributor in the region has this CPU's affinity.
    NoRedistributor {
        /// MPIDR_EL1's affinity.
        affinity: u64,
    },
    /// The redistributor did not wake up.
    RedistributorAsleep,
}

impl core::fmt::Display for GicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoSystemRegisters => {
                write!(f, "GICv3 without the system-register CPU interface")
            }
            Self::NoRedistributor { affinity } => {
                write!(f, "no redistributor for affinity {affinity:#x}")
            }
            Self::RedistributorAsleep => write!(f, "the redistributor did not wake up"),
        }
    }
}

/// What [`init`] set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GicSetup {
    /// 2 or 3.
    pub version: u8,
    /// Interrupt IDs the distributor implements.
    pub lines: u32,
    /// GICv3: this CPU's redistributor (GICv2: the CPU interface).
    pub cpu_side: u64,
}

/// Interrupt counters since [`init`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqStats {
    /// Interrupts acknowledged and given to a handler.
    pub handled: u64,
    /// Spurious acknowledgements (ID 1020–1023).
    pub spurious: u64,
    /// Interrupts without a handler (each disabled on the spot).
    pub unhandled: u64,
    /// The last interrupt ID acknowledged.
    pub last: u32,
    /// ELR_EL1 of the context the last interrupt interrupted.
    pub last_elr: u64,
    /// SPSR_EL1 of that context.
    pub last_spsr: u64,
}

/// Counters since [`init`].
pub fn stats() -> IrqStats {
    IrqStats {
        handled: HANDLED.load(Ordering::Relaxed),
        spurious: SPURIOUS.load(Ordering::Relaxed),
        unhandled: UNHANDLED.load(Ordering::Relaxed),
        last: LAST_INTID.load(Ordering::Relaxed),
        last_elr: LAST_ELR.load(Ordering::Relaxed),
        last_spsr: LAST_SPSR.load(Ordering::Relaxed),
    }
}

/// The GIC version [`init`] set up (0 before).
pub fn version() -> u8 {
    VERSION.load(Ordering::Relaxed)
}

fn wait_rwp(distributor: u64) {
    for _ in 0..WAIT_SPINS {
        if read32(distributor + GICD_CTLR) & GICD_CTLR_RWP == 0 {
            return;
        }
        core::hint::spin_loop();
    }
}

/// Writes a GICv3 CPU-interface system register.
macro_rules! icc_write {
    ($name:literal, $value:expr) => {{
        let value: u64 = $value;
        // SAFETY: a GICv3 CPU-interface register the crate has no type for,
        // written on purpose during setup or to end an interrupt; the
        // system-register interface is enabled (ICC_SRE_EL1.SRE).
        unsafe {
            core::arch::asm!(concat!("msr ", $name, ", {}"), in(reg) value, options(nomem, nostack))
        }
    }};
}

/// Reads a GICv3 CPU-interface system register.
macro_rules! icc_read {
    ($name:literal) => {{
        let value: u64;
        // SAFETY: as `icc_write!`; reading IAR acknowledges an interrupt,
        // which only `handle_irq` does.
        unsafe {
            core::arch::asm!(concat!("mrs {}, ", $name), out(reg) value, options(nomem, nostack))
        };
        value
    }};
}

// The ICC_* registers the crate lacks go by their encodings
// (s<op0>_<op1>_c<CRn>_c<CRm>_<op2>): PMR s3_0_c4_c6_0, IAR1
// s3_0_c12_c12_0, EOIR1 s3_0_c12_c12_1, BPR1 s3_0_c12_c12_3, SRE
// s3_0_c12_c12_5, IGRPEN1 s3_0_c12_c12_7.

/// Configures the GIC for the boot CPU: every line disabled and cleared,
/// distributor and CPU interface enabled, priority mask open. IRQs stay
/// masked at the CPU (DAIF.I) until the caller unmasks them.
///
/// # Safety
/// The frames in `gic` must be the GIC's, identity-mapped as device
/// memory, nothing else may drive the GIC, and IRQs must be masked.
pub unsafe fn init(gic: &Gic) -> Result<GicSetup, GicError> {
    let distributor = gic.distributor().base;
    let lines = (32 * ((read32(distributor + GICD_TYPER) & 0x1f) + 1)).min(SPURIOUS_FIRST);
    let cpu_side = match gic {
        Gic::V2 { cpu_interface, .. } => {
            let gicc = cpu_interface.base;
            write32(distributor + GICD_CTLR, 0);
            for n in 0..lines.div_ceil(32) {
                write32(distributor + GICD_ICENABLER + 4 * u64::from(n), u32::MAX);
                write32(distributor + GICD_ICPENDR + 4 * u64::from(n), u32::MAX);
            }
            // EnableGrp0 | EnableGrp1 (as seen from either security state).
            write32(distributor + GICD_CTLR, 0b11);
            write32(gicc + GICC_PMR, u32::from(PRIORITY_MASK));
            write32(gicc + GICC_BPR, 0);
            // EnableGrp0 | EnableGrp1, FIQEn = 0: both groups signal IRQ.
            write32(gicc + GICC_CTLR, 0b11);
            gicc
        }
        Gic::V3 { redistributors, .. } => {
            if !cpu::has_gic_system_registers() {
                return Err(GicError::NoSystemRegisters);
            }
            let affinity = cpu::mpidr_affinity();
            let rd = find_redistributor(redistributors.base, redistributors.size, affinity)
                .ok_or(GicError::NoRedistributor { affinity })?;
            write32(distributor + GICD_CTLR, 0);
            wait_rwp(distributor);
            for n in 1..lines.div_ceil(32) {
                write32(distributor + GICD_ICENABLER + 4 * u64::from(n), u32::MAX);
                write32(distributor + GICD_ICPENDR + 4 * u64::from(n), u32::MAX);
            }
            wait_rwp(distributor);
            // ARE | EnableGrp1 | EnableGrp0 (single security state), which
            // reads as ARE_NS | EnableGrp1A | EnableGrp1 to a non-secure
            // kernel on a GIC with two security states.
            write32(distributor + GICD_CTLR, (1 << 4) | 0b11);
            wait_rwp(distributor);
            let waker = read32(rd + GICR_WAKER);
            write32(rd + GICR_WAKER, waker & !WAKER_PROCESSOR_SLEEP);
            let mut awake = false;
            for _ in 0..WAIT_SPINS {
                if read32(rd + GICR_WAKER) & WAKER_CHILDREN_ASLEEP == 0 {
                    awake = true;
                    break;
                }
                core::hint::spin_loop();
            }
            if !awake {
                return Err(GicError::RedistributorAsleep);
            }
            write32(rd + GICR_ICENABLER0, u32::MAX);
            write32(rd + GICR_ICPENDR0, u32::MAX);
            // SGIs and PPIs in non-secure group 1, the group IAR1 reads.
            write32(rd + GICR_IGROUPR0, u32::MAX);
            // ICC_SRE_EL1.SRE: the system-register interface (set already
            // when the kernel came from EL2, which enabled it for EL1).
            let sre = icc_read!("s3_0_c12_c12_5");
            icc_write!("s3_0_c12_c12_5", sre | 1);
            aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
            icc_write!("s3_0_c4_c6_0", u64::from(PRIORITY_MASK));
            icc_write!("s3_0_c12_c12_3", 0);
            icc_write!("s3_0_c12_c12_7", 1);
            aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
            rd
        }
    };
    DISTRIBUTOR.store(distributor, Ordering::Relaxed);
    CPU_SIDE.store(cpu_side, Ordering::Relaxed);
    LINES.store(lines, Ordering::Relaxed);
    VERSION.store(gic.version(), Ordering::Release);
    Ok(GicSetup {
        version: gic.version(),
        lines,
        cpu_side,
    })
}

/// The redistributor in `[base, base + len)` whose GICR_TYPER affinity is
/// `affinity`.
fn find_redistributor(base: u64, len: u64, affinity: u64) -> Option<u64> {
    // Aff3.Aff2.Aff1.Aff0 as GICR_TYPER[63:32] holds them.
    let wanted = (affinity & 0xff_ffff) | (((affinity >> 32) & 0xff) << 24);
    let mut frame = base;
    while frame + 0x2_0000 <= base + len {
        let low = read32(frame + GICR_TYPER);
        let high = read32(frame + GICR_TYPER + 4);
        if u64::from(high) == wanted {
            return Some(frame);
        }
        if low & (1 << 4) != 0 {
            break;
        }
        // GICv4 redistributors (VLPIS) have two more 64 KiB frames.
        frame += if low & (1 << 1) != 0 {
            0x4_0000
        } else {
            0x2_0000
        };
    }
    None
}

/// Interrupt IDs the distributor implements (0 before [`init`]).
pub fn lines() -> u32 {
    LINES.load(Ordering::Relaxed)
}

/// Registers `handler` for `intid` (replacing any other). Call with IRQs
/// masked or before enabling the line.
///
/// # Panics
/// If `intid` is not below [`MAX_HANDLED`].
pub fn register(intid: u32, handler: Handler) {
    HANDLERS[intid as usize].store(handler as usize, Ordering::Release);
}

/// Registers the handler for every SPI (INTID 32 and up) without a
/// handler of its own: the lines environments bind. The line is disabled
/// before the handler runs; its owner re-enables it.
pub fn set_spi_handler(handler: Handler) {
    SPI_HANDLER.store(handler as usize, Ordering::Release);
}

/// Sets SPI `intid` level-triggered or edge-triggered (GICD_ICFGR).
/// Returns false for an SGI/PPI, a line the GIC lacks, or no GIC.
pub fn configure(intid: u32, level: bool) -> bool {
    if intid < 32 || intid >= LINES.load(Ordering::Relaxed).min(SPURIOUS_FIRST) {
        return false;
    }
    let distributor = DISTRIBUTOR.load(Ordering::Relaxed);
    if VERSION.load(Ordering::Acquire) == 0 {
        return false;
    }
    let register = distributor + GICD_ICFGR + 4 * u64::from(intid / 16);
    let edge_bit = 1u32 << (2 * (intid % 16) + 1);
    let value = read32(register);
    write32(
        register,
        if level {
            value & !edge_bit
        } else {
            value | edge_bit
        },
    );
    true
}

/// Enables `intid` at [`DEFAULT_PRIORITY`], routed to this CPU.
pub fn enable(intid: u32) {
    let distributor = DISTRIBUTOR.load(Ordering::Relaxed);
    let cpu_side = CPU_SIDE.load(Ordering::Relaxed);
    let bit = 1u32 << (intid % 32);
    let word = 4 * u64::from(intid / 32);
    match VERSION.load(Ordering::Acquire) {
        2 => {
            write8(
                distributor + GICD_IPRIORITYR + u64::from(intid),
                DEFAULT_PRIORITY,
            );
            if intid >= 32 {
                // ITARGETSR0..7 are banked and read as this CPU's bit.
                let me = read32(distributor + GICD_ITARGETSR) as u8;
                write8(distributor + GICD_ITARGETSR + u64::from(intid), me);
            }
            write32(distributor + GICD_ISENABLER + word, bit);
        }
        3 if intid < 32 => {
            write8(
                cpu_side + GICR_IPRIORITYR + u64::from(intid),
                DEFAULT_PRIORITY,
            );
            write32(cpu_side + GICR_ISENABLER0, bit);
        }
        3 => {
            write8(
                distributor + GICD_IPRIORITYR + u64::from(intid),
                DEFAULT_PRIORITY,
            );
            let affinity = cpu::mpidr_affinity();
            write64(distributor + GICD_IROUTER + 8 * u64::from(intid), affinity);
            write32(distributor + GICD_ISENABLER + word, bit);
        }
        _ => {}
    }
}

/// Disables `intid`.
pub fn disable(intid: u32) {
    let distributor = DISTRIBUTOR.load(Ordering::Relaxed);
    let cpu_side = CPU_SIDE.load(Ordering::Relaxed);
    let bit = 1u32 << (intid % 32);
    match VERSION.load(Ordering::Acquire) {
        3 if intid < 32 => write32(cpu_side + GICR_ICENABLER0, bit),
        2 | 3 => write32(
            distributor + GICD_ICENABLER + 4 * u64::from(intid / 32),
            bit,
        ),
        _ => {}
    }
}

/// Acknowledges the highest-priority pending interrupt: (the value to give
/// [`end_of_interrupt`], the interrupt ID).
fn acknowledge() -> (u64, u32) {
    match VERSION.load(Ordering::Acquire) {
        2 => {
            let iar = read32(CPU_SIDE.load(Ordering::Relaxed) + GICC_IAR);
            (u64::from(iar), iar & 0x3ff)
        }
        3 => {
            let iar = icc_read!("s3_0_c12_c12_0");
            (iar, (iar & 0xff_ffff) as u32)
        }
        _ => (u64::from(SPURIOUS_FIRST + 3), SPURIOUS_FIRST + 3),
    }
}

/// Ends an acknowledged interrupt (priority drop and deactivation).
fn end_of_interrupt(iar: u64) {
    match VERSION.load(Ordering::Acquire) {
        2 => write32(CPU_SIDE.load(Ordering::Relaxed) + GICC_EOIR, iar as u32),
        3 => icc_write!("s3_0_c12_c12_1", iar),
        _ => {}
    }
}

/// The IRQ path, called by the exception dispatcher: acknowledge, call the
/// handler, end the interrupt. A line without a handler is disabled (and
/// counted) so it cannot storm.
pub fn handle_irq(frame: &mut TrapFrame) {
    let (iar, intid) = acknowledge();
    if intid >= SPURIOUS_FIRST {
        SPURIOUS.fetch_add(1, Ordering::Relaxed);
        return;
    }
    LAST_INTID.store(intid, Ordering::Relaxed);
    LAST_ELR.store(frame.elr, Ordering::Relaxed);
    LAST_SPSR.store(frame.spsr, Ordering::Relaxed);
    let mut handler = HANDLERS
        .get(intid as usize)
        .map_or(0, |h| h.load(Ordering::Acquire));
    if handler == 0 && intid >= 32 {
        handler = SPI_HANDLER.load(Ordering::Acquire);
        disable(intid);
    }
    if handler == 0 {
        UNHANDLED.fetch_add(1, Ordering::Relaxed);
        disable(intid);
        end_of_interrupt(iar);
        return;
    }
    end_of_interrupt(iar);
    HANDLED.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the slots hold 0 or a value `register`/`set_spi_handler`
    // stored from a `Handler`, and this one is not 0.
    let handler: Handler = unsafe { core::mem::transmute::<usize, Handler>(handler) };
    handler(intid, frame);
}

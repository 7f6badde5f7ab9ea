//! The GIC, probed read-only: which architecture the hardware reports and
//! how many interrupt lines it has, to check against the device tree.
//!
//! Programming the GIC (priorities, routing, enabling) comes with
//! interrupts on aarch64 in the next phase.

use crate::platform::Gic;
use core::ptr::read_volatile;

const GICD_TYPER: usize = 0x004;
const GICD_IIDR: usize = 0x008;
/// Peripheral ID 2 of a GICv2 distributor (4 KiB frame).
const GICD_PIDR2_V2: usize = 0xfe8;
/// Peripheral ID 2 of a GICv3 distributor or redistributor (64 KiB frame).
const GICD_PIDR2_V3: usize = 0xffe8;
const GICC_IIDR: usize = 0x00fc;
const GICR_TYPER: usize = 0x008;

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
    // SAFETY: `probe`'s contract: the address lies in a GIC frame the
    // device tree named, identity-mapped as device memory; these ID and
    // type registers have no read side effects.
    unsafe { read_volatile(address as usize as *const u32) }
}

/// Reads the distributor's (and CPU interface's or first
/// redistributor's) identification registers.
///
/// # Safety
/// The frames in `gic` must be the GIC's, identity-mapped as device memory.
pub unsafe fn probe(gic: &Gic) -> GicProbe {
    let distributor = gic.distributor().base;
    let typer = read32(distributor + GICD_TYPER as u64);
    let (pidr2, cpu_side) = match gic {
        Gic::V2 { cpu_interface, .. } => (
            read32(distributor + GICD_PIDR2_V2 as u64),
            u64::from(read32(cpu_interface.base + GICC_IIDR as u64)),
        ),
        Gic::V3 { redistributors, .. } => {
            let low = read32(redistributors.base + GICR_TYPER as u64);
            let high = read32(redistributors.base + GICR_TYPER as u64 + 4);
            (
                read32(distributor + GICD_PIDR2_V3 as u64),
                (u64::from(high) << 32) | u64::from(low),
            )
        }
    };
    GicProbe {
        architecture: ((pidr2 >> 4) & 0xf) as u8,
        lines: 32 * ((typer & 0x1f) + 1),
        distributor_iidr: read32(distributor + GICD_IIDR as u64),
        cpu_side,
    }
}

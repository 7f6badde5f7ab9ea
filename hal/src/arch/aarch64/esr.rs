//! Decoding the exception syndrome (ESR_EL1) and the saved PSTATE
//! (SPSR_EL1) for crash dumps and handlers.
//!
//! Pure computation, so it is tested on the host.

use core::fmt;

/// ESR_EL1.EC of an undefined instruction.
pub const EC_UNKNOWN: u8 = 0x00;
/// ESR_EL1.EC of an `svc` from AArch64.
pub const EC_SVC64: u8 = 0x15;
/// ESR_EL1.EC of an instruction abort from EL0.
pub const EC_INSTRUCTION_ABORT_LOWER: u8 = 0x20;
/// ESR_EL1.EC of an instruction abort taken without a change of level.
pub const EC_INSTRUCTION_ABORT: u8 = 0x21;
/// ESR_EL1.EC of a data abort from EL0.
pub const EC_DATA_ABORT_LOWER: u8 = 0x24;
/// ESR_EL1.EC of a data abort taken without a change of level.
pub const EC_DATA_ABORT: u8 = 0x25;
/// ESR_EL1.EC of a `brk` from AArch64.
pub const EC_BRK64: u8 = 0x3c;

/// ESR_EL1.EC, the exception class.
#[must_use]
pub const fn class(esr: u64) -> u8 {
    ((esr >> 26) & 0x3f) as u8
}

/// ESR_EL1.ISS, the class-specific syndrome.
#[must_use]
pub const fn iss(esr: u64) -> u32 {
    (esr & 0x01ff_ffff) as u32
}

/// The exception class in words.
#[must_use]
pub const fn class_name(ec: u8) -> &'static str {
    match ec {
        0x00 => "unknown reason (undefined instruction)",
        0x01 => "WFI/WFE",
        0x07 => "FP/SIMD access",
        0x0e => "illegal execution state",
        0x11 => "SVC (AArch32)",
        0x15 => "SVC",
        0x16 => "HVC",
        0x17 => "SMC",
        0x18 => "system register access",
        0x19 => "SVE access",
        0x20 => "instruction abort from EL0",
        0x21 => "instruction abort",
        0x22 => "PC alignment fault",
        0x24 => "data abort from EL0",
        0x25 => "data abort",
        0x26 => "SP alignment fault",
        0x2c => "floating-point exception",
        0x2f => "SError",
        0x30 => "breakpoint from EL0",
        0x31 => "breakpoint",
        0x32 => "software step from EL0",
        0x33 => "software step",
        0x34 => "watchpoint from EL0",
        0x35 => "watchpoint",
        0x3c => "BRK",
        _ => "other",
    }
}

/// ESR_EL1.EC of `esr` in words.
#[must_use]
pub const fn exception_class(esr: u64) -> &'static str {
    class_name(class(esr))
}

/// The immediate of a `brk` (ISS bits 15:0), or `None` for other classes.
#[must_use]
pub const fn brk_immediate(esr: u64) -> Option<u16> {
    if class(esr) == EC_BRK64 {
        Some((esr & 0xffff) as u16)
    } else {
        None
    }
}

/// A data or instruction abort's fault status code (DFSC/IFSC) decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultStatus {
    /// Output address wider than the configured size, at a level.
    AddressSize(i8),
    /// No valid descriptor, at a level.
    Translation(i8),
    /// Access flag clear, at a level.
    AccessFlag(i8),
    /// The descriptor forbids the access, at a level.
    Permission(i8),
    /// Synchronous external abort (not on a table walk).
    External,
    /// Synchronous external abort on a table walk, at a level.
    ExternalOnWalk(i8),
    /// Unaligned access.
    Alignment,
    /// TLB conflict.
    TlbConflict,
    /// Any other code.
    Other(u8),
}

impl FaultStatus {
    /// Decodes a 6-bit DFSC/IFSC.
    #[must_use]
    pub const fn decode(code: u8) -> Self {
        let code = code & 0x3f;
        let level = (code & 0b11) as i8;
        match code {
            0b00_0000..=0b00_0011 => Self::AddressSize(level),
            0b00_0100..=0b00_0111 => Self::Translation(level),
            0b00_1000..=0b00_1011 => Self::AccessFlag(level),
            0b00_1100..=0b00_1111 => Self::Permission(level),
            0b01_0000 => Self::External,
            0b01_0100..=0b01_0111 => Self::ExternalOnWalk(level),
            0b10_0001 => Self::Alignment,
            0b11_0000 => Self::TlbConflict,
            _ => Self::Other(code),
        }
    }
}

impl fmt::Display for FaultStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AddressSize(l) => write!(f, "address size fault, level {l}"),
            Self::Translation(l) => write!(f, "translation fault, level {l}"),
            Self::AccessFlag(l) => write!(f, "access flag fault, level {l}"),
            Self::Permission(l) => write!(f, "permission fault, level {l}"),
            Self::External => write!(f, "synchronous external abort"),
            Self::ExternalOnWalk(l) => {
                write!(f, "synchronous external abort on a table walk, level {l}")
            }
            Self::Alignment => write!(f, "alignment fault"),
            Self::TlbConflict => write!(f, "TLB conflict"),
            Self::Other(c) => write!(f, "fault status {c:#04x}"),
        }
    }
}

/// The syndrome of a data or instruction abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Abort {
    /// Whether it was an instruction fetch (else a data access).
    pub instruction: bool,
    /// Whether it came from EL0.
    pub from_el0: bool,
    /// DFSC/IFSC, decoded.
    pub status: FaultStatus,
    /// The raw DFSC/IFSC.
    pub status_code: u8,
    /// WnR: the access was a write (data aborts only).
    pub write: bool,
    /// S1PTW: the fault happened on a stage-2 walk of a stage-1 table.
    pub on_table_walk: bool,
    /// FnV: FAR_EL1 is not valid.
    pub far_not_valid: bool,
    /// EA: external abort type.
    pub external: bool,
    /// CM: a cache maintenance instruction faulted (data aborts only).
    pub cache_maintenance: bool,
}

impl Abort {
    /// Decodes `esr`, or `None` when it is not an abort.
    #[must_use]
    pub const fn decode(esr: u64) -> Option<Self> {
        let ec = class(esr);
        let (instruction, from_el0) = match ec {
            EC_INSTRUCTION_ABORT_LOWER => (true, true),
            EC_INSTRUCTION_ABORT => (true, false),
            EC_DATA_ABORT_LOWER => (false, true),
            EC_DATA_ABORT => (false, false),
            _ => return None,
        };
        let iss = iss(esr);
        let code = (iss & 0x3f) as u8;
        Some(Self {
            instruction,
            from_el0,
            status: FaultStatus::decode(code),
            status_code: code,
            write: !instruction && iss & (1 << 6) != 0,
            on_table_walk: iss & (1 << 7) != 0,
            far_not_valid: iss & (1 << 10) != 0,
            external: iss & (1 << 9) != 0,
            cache_maintenance: !instruction && iss & (1 << 8) != 0,
        })
    }
}

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, code_name) = if self.instruction {
            ("instruction fetch", "IFSC")
        } else if self.write {
            ("write", "DFSC")
        } else {
            ("read", "DFSC")
        };
        write!(
            f,
            "{} {kind}, {} ({code_name} {:#04x}, WnR {})",
            if self.from_el0 { "EL0" } else { "EL1" },
            self.status,
            self.status_code,
            u8::from(self.write)
        )?;
        if self.on_table_walk {
            write!(f, ", on a stage-1 table walk")?;
        }
        if self.cache_maintenance {
            write!(f, ", cache maintenance")?;
        }
        if self.external {
            write!(f, ", external")?;
        }
        if self.far_not_valid {
            write!(f, ", FAR not valid")?;
        }
        Ok(())
    }
}

/// SPSR_EL1 decoded: the interrupted PSTATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spsr(pub u64);

impl Spsr {
    /// The interrupted mode's name (`EL1h`, `EL0t`, ...).
    #[must_use]
    pub const fn mode(self) -> &'static str {
        if self.0 & (1 << 4) != 0 {
            return "AArch32";
        }
        match self.0 & 0xf {
            0b0000 => "EL0t",
            0b0100 => "EL1t",
            0b0101 => "EL1h",
            0b1000 => "EL2t",
            0b1001 => "EL2h",
            _ => "illegal mode",
        }
    }

    /// The exception level the exception came from.
    #[must_use]
    pub const fn el(self) -> u8 {
        ((self.0 >> 2) & 0b11) as u8
    }

    /// Whether IRQs were masked (PSTATE.I).
    #[must_use]
    pub const fn irqs_masked(self) -> bool {
        self.0 & (1 << 7) != 0
    }
}

impl fmt::Display for Spsr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bit = |n: u32, c: char| if self.0 & (1 << n) != 0 { c } else { '-' };
        write!(
            f,
            "{} {}{}{}{} DAIF {}{}{}{}",
            self.mode(),
            bit(31, 'N'),
            bit(30, 'Z'),
            bit(29, 'C'),
            bit(28, 'V'),
            bit(9, 'D'),
            bit(8, 'A'),
            bit(7, 'I'),
            bit(6, 'F'),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn write_translation_fault_at_level_0_decodes() {
        // What QEMU reports for `str x1, [x0]` beyond a 39-bit TTBR0 range.
        let esr = 0x9600_0044;
        assert_eq!(class(esr), EC_DATA_ABORT);
        assert_eq!(exception_class(esr), "data abort");
        let abort = Abort::decode(esr).expect("an abort");
        assert!(abort.write && !abort.instruction && !abort.from_el0);
        assert_eq!(abort.status, FaultStatus::Translation(0));
        assert_eq!(
            format!("{abort}"),
            "EL1 write, translation fault, level 0 (DFSC 0x04, WnR 1)"
        );
    }

    #[test]
    fn instruction_permission_fault_has_no_wnr() {
        // EC 0x21, IL, IFSC 0x0f with bit 6 set (which is RES0 there).
        let esr = (0x21 << 26) | (1 << 25) | (1 << 6) | 0x0f;
        let abort = Abort::decode(esr).expect("an abort");
        assert!(abort.instruction && !abort.write);
        assert_eq!(abort.status, FaultStatus::Permission(3));
        assert!(
            format!("{abort}")
                .starts_with("EL1 instruction fetch, permission fault, level 3 (IFSC 0x0f")
        );
    }

    #[test]
    fn fault_status_codes() {
        assert_eq!(FaultStatus::decode(0x21), FaultStatus::Alignment);
        assert_eq!(FaultStatus::decode(0x0b), FaultStatus::AccessFlag(3));
        assert_eq!(FaultStatus::decode(0x10), FaultStatus::External);
        assert_eq!(FaultStatus::decode(0x15), FaultStatus::ExternalOnWalk(1));
        assert_eq!(FaultStatus::decode(0x30), FaultStatus::TlbConflict);
        assert_eq!(FaultStatus::decode(0x3d), FaultStatus::Other(0x3d));
        assert_eq!(FaultStatus::decode(0x02), FaultStatus::AddressSize(2));
    }

    #[test]
    fn brk_immediate_only_for_brk() {
        let esr = (u64::from(EC_BRK64) << 26) | (1 << 25) | 0x1234;
        assert_eq!(brk_immediate(esr), Some(0x1234));
        assert_eq!(exception_class(esr), "BRK");
        assert_eq!(brk_immediate(0x9600_0044), None);
        assert!(Abort::decode(esr).is_none());
    }

    #[test]
    fn spsr_modes_and_flags() {
        let s = Spsr(0x6000_03c5);
        assert_eq!(s.mode(), "EL1h");
        assert_eq!(s.el(), 1);
        assert!(s.irqs_masked());
        assert_eq!(format!("{s}"), "EL1h -ZC- DAIF DAIF");
        let s = Spsr(0x0000_0340);
        assert_eq!(s.mode(), "EL0t");
        assert_eq!(s.el(), 0);
        assert!(!s.irqs_masked());
        assert_eq!(format!("{s}"), "EL0t ---- DAIF DA-F");
    }
}

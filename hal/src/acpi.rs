//! Bounds-checked readers for the ACPI tables the kernel needs (MADT, HPET).
//!
//! The `acpi` crate finds and checksums the tables; its MADT iterator loops
//! forever on a zero-length entry and its HPET reader asserts, so the bodies
//! are read here instead, from a byte slice, where every malformation is a
//! typed error and every path is tested on the host.

use arrayvec::ArrayVec;
use core::fmt;

/// Size of the common ACPI system description table header.
pub const SDT_HEADER_LEN: usize = 36;
/// Most CPUs and IO-APICs recorded.
pub const MAX_CPUS: usize = 64;
/// Most IO-APICs recorded.
pub const MAX_IO_APICS: usize = 8;

/// Why a table body could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiTableError {
    /// The table is shorter than its fixed fields.
    TooShort {
        /// The table's signature.
        signature: [u8; 4],
        /// Its length.
        len: usize,
    },
    /// A MADT entry has a length below 2 or runs past the table end.
    BadMadtEntry {
        /// Byte offset of the entry in the table.
        offset: usize,
    },
    /// The HPET's registers are not in system memory.
    HpetNotInMemory {
        /// The generic address structure's address-space id.
        address_space: u8,
    },
}

impl fmt::Display for AcpiTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { signature, len } => write!(
                f,
                "{} table of {len} bytes is too short",
                signature.escape_ascii()
            ),
            Self::BadMadtEntry { offset } => {
                write!(f, "MADT entry at offset {offset} is malformed")
            }
            Self::HpetNotInMemory { address_space } => {
                write!(
                    f,
                    "HPET registers in address space {address_space}, not memory"
                )
            }
        }
    }
}

/// A processor's local APIC, from a MADT type-0 entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalApic {
    /// ACPI processor UID.
    pub processor_id: u8,
    /// The local APIC's id.
    pub apic_id: u8,
    /// Whether the processor is enabled (or may be onlined).
    pub usable: bool,
}

/// An IO-APIC, from a MADT type-1 entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApic {
    /// The IO-APIC's id.
    pub id: u8,
    /// Physical address of its registers.
    pub address: u32,
    /// First global system interrupt it routes.
    pub gsi_base: u32,
}

/// The parts of the MADT the kernel uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Madt {
    /// Physical address of the local APIC registers (after any override).
    pub local_apic_address: u64,
    /// Whether legacy 8259 PICs are present and must be masked.
    pub has_8259: bool,
    /// Local APICs, in table order.
    pub cpus: ArrayVec<LocalApic, MAX_CPUS>,
    /// IO-APICs, in table order.
    pub io_apics: ArrayVec<IoApic, MAX_IO_APICS>,
    /// Interrupt source overrides seen (ISA IRQ remappings).
    pub overrides: usize,
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn signature(table: &[u8]) -> [u8; 4] {
    let mut s = [0; 4];
    for (d, b) in s.iter_mut().zip(table) {
        *d = *b;
    }
    s
}

/// Length from the table header, clamped to the bytes actually given.
fn body(table: &[u8], fixed: usize) -> Result<&[u8], AcpiTableError> {
    let declared = u32_at(table, 4).map_or(0, |l| l as usize);
    let len = declared.min(table.len());
    if len < fixed {
        return Err(AcpiTableError::TooShort {
            signature: signature(table),
            len,
        });
    }
    Ok(&table[..len])
}

/// Reads a whole MADT (`APIC` table, header included).
///
/// # Errors
/// [`AcpiTableError`] when the table is truncated or an entry is malformed.
pub fn parse_madt(table: &[u8]) -> Result<Madt, AcpiTableError> {
    const FIXED: usize = SDT_HEADER_LEN + 8;
    let table = body(table, FIXED)?;
    let mut madt = Madt {
        local_apic_address: u64::from(u32_at(table, SDT_HEADER_LEN).unwrap_or(0)),
        has_8259: u32_at(table, SDT_HEADER_LEN + 4).unwrap_or(0) & 1 != 0,
        ..Madt::default()
    };
    let mut at = FIXED;
    while at < table.len() {
        let entry_len = table.get(at + 1).map_or(0, |l| usize::from(*l));
        if entry_len < 2 || at + entry_len > table.len() {
            return Err(AcpiTableError::BadMadtEntry { offset: at });
        }
        let entry = &table[at..at + entry_len];
        let too_short = |need: usize| {
            if entry_len < need {
                Err(AcpiTableError::BadMadtEntry { offset: at })
            } else {
                Ok(())
            }
        };
        match entry[0] {
            0 => {
                too_short(8)?;
                let flags = u32_at(entry, 4).unwrap_or(0);
                // Bit 0: enabled; bit 1: online-capable.
                let cpu = LocalApic {
                    processor_id: entry[2],
                    apic_id: entry[3],
                    usable: flags & 0b11 != 0,
                };
                let _ = madt.cpus.try_push(cpu);
            }
            1 => {
                too_short(12)?;
                let io = IoApic {
                    id: entry[2],
                    address: u32_at(entry, 4).unwrap_or(0),
                    gsi_base: u32_at(entry, 8).unwrap_or(0),
                };
                let _ = madt.io_apics.try_push(io);
            }
            2 => madt.overrides += 1,
            5 => {
                too_short(12)?;
                madt.local_apic_address = u64_at(entry, 4).unwrap_or(madt.local_apic_address);
            }
            _ => {}
        }
        at += entry_len;
    }
    Ok(madt)
}

/// The parts of the HPET table the kernel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hpet {
    /// Physical address of the HPET registers.
    pub address: u64,
    /// Number of comparators in the first timer block.
    pub comparators: u8,
    /// HPET sequence number.
    pub number: u8,
}

/// Reads a whole HPET table (header included).
///
/// # Errors
/// [`AcpiTableError`] when the table is truncated or its registers are not
/// memory-mapped.
pub fn parse_hpet(table: &[u8]) -> Result<Hpet, AcpiTableError> {
    const FIXED: usize = SDT_HEADER_LEN + 20;
    let table = body(table, FIXED)?;
    let block_id = u32_at(table, SDT_HEADER_LEN).unwrap_or(0);
    let address_space = table[SDT_HEADER_LEN + 4];
    if address_space != 0 {
        return Err(AcpiTableError::HpetNotInMemory { address_space });
    }
    Ok(Hpet {
        address: u64_at(table, SDT_HEADER_LEN + 8).unwrap_or(0),
        comparators: ((block_id >> 8) & 0x1f) as u8 + 1,
        number: table[SDT_HEADER_LEN + 16],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn table(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(sig);
        t.extend_from_slice(&((SDT_HEADER_LEN + body.len()) as u32).to_le_bytes());
        t.resize(SDT_HEADER_LEN, 0);
        t.extend_from_slice(body);
        t
    }

    fn madt_body(entries: &[&[u8]]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0xfee0_0000u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        for e in entries {
            b.extend_from_slice(e);
        }
        b
    }

    #[test]
    fn qemu_like_madt_parses() {
        let lapic0 = [0u8, 8, 0, 0, 1, 0, 0, 0];
        let lapic1 = [0u8, 8, 1, 1, 0, 0, 0, 0];
        let ioapic = [1u8, 12, 0, 0, 0x00, 0x00, 0xc0, 0xfe, 0, 0, 0, 0];
        let iso = [2u8, 10, 0, 0, 2, 0, 0, 0, 0, 0];
        let t = table(b"APIC", &madt_body(&[&lapic0, &lapic1, &ioapic, &iso]));
        let madt = parse_madt(&t).expect("parses");
        assert_eq!(madt.local_apic_address, 0xfee0_0000);
        assert!(madt.has_8259);
        assert_eq!(madt.cpus.len(), 2);
        assert!(madt.cpus[0].usable);
        assert!(!madt.cpus[1].usable);
        assert_eq!(
            madt.io_apics.as_slice(),
            &[IoApic {
                id: 0,
                address: 0xfec0_0000,
                gsi_base: 0
            }]
        );
        assert_eq!(madt.overrides, 1);
    }

    #[test]
    fn zero_length_entry_is_an_error_not_a_hang() {
        let t = table(b"APIC", &madt_body(&[&[0u8, 0, 0, 0]]));
        assert_eq!(
            parse_madt(&t),
            Err(AcpiTableError::BadMadtEntry {
                offset: SDT_HEADER_LEN + 8
            })
        );
    }

    #[test]
    fn entry_past_the_end_and_short_entries_are_errors() {
        let t = table(b"APIC", &madt_body(&[&[0u8, 40, 0, 0]]));
        assert!(matches!(
            parse_madt(&t),
            Err(AcpiTableError::BadMadtEntry { .. })
        ));
        let t = table(b"APIC", &madt_body(&[&[1u8, 4, 0, 0]]));
        assert!(matches!(
            parse_madt(&t),
            Err(AcpiTableError::BadMadtEntry { .. })
        ));
    }

    #[test]
    fn truncated_tables_are_errors() {
        assert!(matches!(
            parse_madt(&table(b"APIC", &[1, 2, 3])),
            Err(AcpiTableError::TooShort { .. })
        ));
        assert!(matches!(
            parse_madt(&[]),
            Err(AcpiTableError::TooShort { .. })
        ));
        assert!(matches!(
            parse_hpet(&table(b"HPET", &[0; 10])),
            Err(AcpiTableError::TooShort { .. })
        ));
    }

    #[test]
    fn hpet_parses_and_rejects_io_space() {
        let mut body = [0u8; 20];
        body[..4].copy_from_slice(&0x8086_a201u32.to_le_bytes());
        body[8..16].copy_from_slice(&0xfed0_0000u64.to_le_bytes());
        let hpet = parse_hpet(&table(b"HPET", &body)).expect("parses");
        assert_eq!(hpet.address, 0xfed0_0000);
        assert_eq!(hpet.comparators, 3);
        body[4] = 1;
        assert_eq!(
            parse_hpet(&table(b"HPET", &body)),
            Err(AcpiTableError::HpetNotInMemory { address_space: 1 })
        );
    }

    proptest! {
        #[test]
        fn arbitrary_madt_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_madt(&table(b"APIC", &body));
            let _ = parse_hpet(&table(b"HPET", &body));
        }
    }
}
